// Type declarations for herald-client (hand-written; checked with tsc by test/types).

/** Why a token is being requested. */
export type TokenReason =
  | "initial"
  | "network"
  | "disconnected"
  | "unauthorized"
  | "forbidden"
  | "token-expired"
  | "unauthenticated"
  | "token-error"
  | (string & {});

export interface TokenRequest {
  /** true when the previous token was refused (401, stream-error forbidden/token-expired): do not return a cached one. */
  refresh: boolean;
  reason: TokenReason;
}

/** Returns the JWT sent as `?access_token=`. */
export type TokenGetter = (request: TokenRequest) => string | Promise<string>;

/** Called with the parsed JSON `data` of an event (the raw text if it is not JSON) and the event itself. */
export type EventHandler<T = any> = (data: T, event: MessageEvent) => void;

export interface Backoff {
  /** First reconnect's ceiling, in ms (default 1000). */
  initialMs?: number;
  /** Cap of every ceiling, in ms (default 30000). */
  maxMs?: number;
  /** Growth of the ceiling per attempt (default 2). */
  factor?: number;
}

export type StreamState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export interface StateInfo {
  /** Reconnect attempt since the last stream-open (0 for the first connect). */
  attempt?: number;
  /** "reconnecting": the delay before the next connect, in ms. */
  delayMs?: number;
  /** Why this (re)connect happens. */
  reason?: TokenReason | string;
  /** "open": whether a stream was open before (a reconnect). */
  reconnect?: boolean;
  /** "closed": the close information. */
  event?: string;
  error?: HeraldStreamError;
}

export interface RefetchInfo {
  /** false on the first stream-open, true after any reconnect. */
  reconnect: boolean;
}

export interface CloseInfo {
  /** "end": a closing event (`*.end` by default) arrived; "client": close() was called; "error": a fatal error. */
  reason: "end" | "client" | "error";
  /** The event type that ended the stream (reason "end"). */
  event?: string;
  /** The fatal error (reason "error"). */
  error?: HeraldStreamError;
}

/** The subset of EventSource this client uses. */
export interface EventSourceLike {
  readonly url: string;
  readonly readyState: number;
  onerror: ((this: any, ev: any) => any) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export type EventSourceConstructor = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

export interface StreamOptions {
  /** The stream endpoint, e.g. `https://sse.example.com/api/v1/scans/<id>/event-stream` (relative URLs resolve against `location`). */
  url: string | URL;
  getToken: TokenGetter;
  /** Handlers by event type (`<resource>.<verb>`); more with `stream.on()`. */
  handlers?: Record<string, EventHandler>;
  /** After every stream-open: fetch the authoritative state now (Herald keeps no replay). */
  onRefetch?: (info: RefetchInfo) => void;
  onStateChange?: (state: StreamState, info: StateInfo) => void;
  /** Every error: stream-errors, token getter failures (fatal: false), and the fatal one that closes the stream. */
  onError?: (error: HeraldStreamError) => void;
  /**
   * Which events end the stream: a list of types (listened to even without a handler), a predicate,
   * or false for none. Default: any handled type ending in `.end`.
   */
  closeOn?: string[] | ((type: string) => boolean) | false;
  backoff?: Backoff;
  /** Consecutive refused credentials tolerated before giving up (default 3). */
  maxAuthRetries?: number;
  /** EventSource's withCredentials (cookies on cross-origin streams); default false. */
  withCredentials?: boolean;
  /** Query parameter for the token (default "access_token"). */
  tokenParam?: string;
  /** The EventSource class (default globalThis.EventSource; in Node, the `eventsource` package's). */
  EventSource?: EventSourceConstructor;
  /** fetch, used once to learn the HTTP status after a browser EventSource fails (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Random source for the jitter (tests). */
  random?: () => number;
}

export declare const DEFAULT_BACKOFF: Readonly<Required<Backoff>>;
export declare const TOKEN_CONDITIONS: readonly string[];

/** Delay before reconnect attempt `attempt` (1, 2, ...): uniform in [ceiling/2, ceiling], ceiling = min(maxMs, initialMs * factor^(attempt-1)). */
export declare function backoffDelay(attempt: number, backoff?: Backoff, random?: () => number): number;

/** `url` with the token query parameter set. */
export declare function withAccessToken(url: string | URL, token: string, param?: string): string;

export declare class HeraldStreamError extends Error {
  constructor(
    message: string,
    init?: { code?: string; status?: number; condition?: string; fatal?: boolean; cause?: unknown },
  );
  readonly name: "HeraldStreamError";
  /** "unauthorized" | "forbidden" | "not-found" | "http-error" | "token-error" | "stream-error" */
  code?: string;
  /** HTTP status on connect, when known. */
  status?: number;
  /** Herald's stream-error condition, when it sent one. */
  condition?: string;
  /** true when the stream gave up and is closed. */
  fatal: boolean;
}

export declare class HeraldStream {
  constructor(options: StreamOptions);
  readonly state: StreamState;
  /** Resolves once the stream is closed for good. */
  readonly closed: Promise<CloseInfo>;
  on<T = any>(type: string, handler: EventHandler<T>): this;
  open(): this;
  close(): void;
}

/** new HeraldStream(options).open() */
export declare function openStream(options: StreamOptions): HeraldStream;

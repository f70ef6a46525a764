// A Herald stream client for browsers and Node 18+: EventSource with a token getter, reconnects
// with capped, jittered backoff, a refetch callback after every (re)connect, and a clean close on
// `*.end`. No dependency: it uses the platform's EventSource (in Node, pass the `eventsource`
// package's, or import "herald-client/node").
//
// Why EventSource needs help (docs/reconnects.md, docs/authentication.md):
// - it cannot send headers, so the JWT goes in `?access_token=`, and the token in the URL is fixed:
//   its own automatic reconnect would reuse an expired token;
// - on a 401 it gives up for good (readyState CLOSED), and a browser's EventSource does not tell
//   which status it got;
// - after `stream-error` (sent with `id: error`) its own reconnect sends `Last-Event-ID: error`,
//   which Herald refuses with 400;
// - Herald keeps no replay, so the application must refetch its state after every reconnect.
// So every disconnect closes the EventSource and this client opens a new one, with a fresh token
// when the old one was refused.

/** Backoff defaults: ceilings 1 s, 2 s, 4 s, ... capped at 30 s. */
export const DEFAULT_BACKOFF = Object.freeze({ initialMs: 1000, maxMs: 30000, factor: 2 });

/** stream-error conditions after which a fresh token is fetched before reconnecting. */
export const TOKEN_CONDITIONS = Object.freeze(["forbidden", "token-expired", "unauthenticated", "unauthorized"]);

const CLOSED = 2; // EventSource.CLOSED: it will not reconnect by itself

/**
 * The delay before reconnect attempt `attempt` (1, 2, ...): "equal jitter", uniformly random in
 * [ceiling/2, ceiling] where ceiling = min(maxMs, initialMs * factor^(attempt-1)). Never above
 * maxMs, never below half the ceiling (so clients do not hammer a server that is down), and spread
 * so a restart's reconnect storm is not synchronised.
 */
export function backoffDelay(attempt, backoff = DEFAULT_BACKOFF, random = Math.random) {
  const { initialMs, maxMs, factor } = { ...DEFAULT_BACKOFF, ...backoff };
  const n = Math.max(1, Math.floor(attempt));
  const ceiling = Math.min(maxMs, initialMs * Math.pow(factor, n - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** `url` with `access_token=<token>` set (replacing any), other parameters kept. */
export function withAccessToken(url, token, param = "access_token") {
  const base = typeof location !== "undefined" && location.href ? location.href : undefined;
  const u = new URL(String(url), base);
  u.searchParams.set(param, token);
  return u.toString();
}

/** An error the stream reports; `fatal` when the stream gave up (it is then closed). */
export class HeraldStreamError extends Error {
  constructor(message, { code, status, condition, fatal = false, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "HeraldStreamError";
    this.code = code; // "unauthorized" | "forbidden" | "not-found" | "http-error" | "token-error" | "stream-error" | "handler-error"
    this.status = status; // HTTP status on connect, when known
    this.condition = condition; // stream-error condition, when Herald sent one
    this.fatal = fatal;
  }
}

function parseData(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function defaultIsEnd(type) {
  return type.endsWith(".end");
}

/**
 * One logical stream: survives disconnects until it ends (`*.end`), is closed, or fails for good.
 * See index.d.ts for the options. Not shared across threads; every callback runs on the caller's
 * event loop.
 */
export class HeraldStream {
  #opts;
  #EventSource;
  #fetch;
  #random;
  #handlers = new Map();
  #isEnd;
  #endTypes;
  #es = null;
  #timer = null;
  #state = "idle";
  #attempt = 0; // reconnect attempts since the last stream-open
  #authFailures = 0; // consecutive refused credentials
  #freshToken = false; // the next connect asks getToken for a fresh token
  #reason = "initial";
  #opened = false; // a stream-open was seen at least once
  #resolveClosed;

  /** Resolves once the stream is closed for good: {reason: "end" | "client" | "error", event?, error?}. */
  closed;

  constructor(options) {
    if (!options || typeof options !== "object") throw new TypeError("HeraldStream: options are required");
    const { url, getToken } = options;
    if (!url) throw new TypeError("HeraldStream: `url` is required");
    if (typeof getToken !== "function") throw new TypeError("HeraldStream: `getToken` must be a function returning a JWT");
    this.#opts = {
      tokenParam: "access_token",
      withCredentials: false,
      maxAuthRetries: 3,
      ...options,
      backoff: { ...DEFAULT_BACKOFF, ...(options.backoff ?? {}) },
    };
    const b = this.#opts.backoff;
    if (!(b.initialMs > 0 && b.maxMs >= b.initialMs && b.factor >= 1))
      throw new RangeError("HeraldStream: backoff needs initialMs > 0, maxMs >= initialMs, factor >= 1");
    this.#EventSource = options.EventSource ?? globalThis.EventSource;
    if (typeof this.#EventSource !== "function")
      throw new TypeError(
        "HeraldStream: no EventSource: in Node, pass `EventSource` from the 'eventsource' package " +
          "(or import 'herald-client/node')",
      );
    this.#fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this.#random = options.random ?? Math.random;
    const closeOn = options.closeOn;
    if (typeof closeOn === "function") this.#isEnd = closeOn;
    else if (Array.isArray(closeOn)) this.#isEnd = (t) => closeOn.includes(t);
    else if (closeOn === false) this.#isEnd = () => false;
    else this.#isEnd = defaultIsEnd;
    this.#endTypes = Array.isArray(closeOn) ? [...closeOn] : [];
    for (const [type, fn] of Object.entries(options.handlers ?? {})) this.on(type, fn);
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** "idle" | "connecting" | "open" | "reconnecting" | "closed" */
  get state() {
    return this.#state;
  }

  /**
   * Handle events of `type` (`<resource>.<verb>`): fn(data, event), data being the parsed JSON.
   * EventSource delivers named events only to listeners of that name, so register every type
   * before open() (or the next reconnect picks it up).
   */
  on(type, fn) {
    if (typeof fn !== "function") throw new TypeError(`handler for '${type}' must be a function`);
    const known = this.#handlers.has(type) || this.#endTypes.includes(type);
    if (!this.#handlers.has(type)) this.#handlers.set(type, []);
    this.#handlers.get(type).push(fn);
    if (this.#es && !known) this.#es.addEventListener(type, this.#eventListener(this.#es, type));
    return this;
  }

  /** Start connecting (openStream() calls it). */
  open() {
    if (this.#state !== "idle") return this;
    this.#connect();
    return this;
  }

  /** Close for good; no reconnect follows. */
  close() {
    this.#finish({ reason: "client" });
  }

  // ---------------------------------------------------------------------------------------------

  #setState(state, info = {}) {
    this.#state = state;
    this.#opts.onStateChange?.(state, info);
  }

  #finish(result) {
    if (this.#state === "closed") return;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#dropEventSource();
    this.#state = "closed"; // before the callbacks, so they see the final state
    if (result.error) this.#opts.onError?.(result.error);
    this.#setState("closed", result);
    this.#resolveClosed(result);
  }

  #fail(error) {
    this.#finish({ reason: "error", error });
  }

  #dropEventSource() {
    const es = this.#es;
    this.#es = null;
    if (es) es.close();
  }

  async #connect() {
    this.#setState("connecting", { attempt: this.#attempt, reason: this.#reason });
    let token;
    try {
      token = await this.#opts.getToken({ refresh: this.#freshToken, reason: this.#reason });
      if (typeof token !== "string" || !token) throw new TypeError("getToken() did not return a token string");
    } catch (e) {
      if (this.#state === "closed") return;
      this.#opts.onError?.(new HeraldStreamError(`getToken() failed: ${e?.message ?? e}`, { code: "token-error", cause: e }));
      this.#authFailure("token-error", undefined);
      return;
    }
    if (this.#state === "closed") return;
    this.#freshToken = false;
    const es = new this.#EventSource(withAccessToken(this.#opts.url, token, this.#opts.tokenParam), {
      withCredentials: this.#opts.withCredentials,
    });
    this.#es = es;
    es.addEventListener("stream-open", () => this.#onOpen(es));
    es.addEventListener("stream-error", (ev) => this.#onStreamError(es, ev));
    const types = new Set([...this.#handlers.keys(), ...this.#endTypes]);
    for (const type of types) es.addEventListener(type, this.#eventListener(es, type));
    es.onerror = (ev) => this.#onTransportError(es, ev);
  }

  #eventListener(es, type) {
    return (ev) => {
      if (es !== this.#es) return; // a replaced EventSource
      try {
        for (const fn of this.#handlers.get(type) ?? []) fn(parseData(ev.data), ev);
      } finally {
        if (this.#isEnd(type)) this.#finish({ reason: "end", event: type });
      }
    };
  }

  #onOpen(es) {
    if (es !== this.#es) return;
    const reconnect = this.#opened;
    this.#opened = true;
    this.#attempt = 0;
    this.#authFailures = 0;
    this.#setState("open", { reconnect });
    // Herald sends stream-open only once the stream is subscribed, so state fetched now cannot miss
    // an event published afterwards (docs/reconnects.md).
    this.#opts.onRefetch?.({ reconnect });
  }

  #onStreamError(es, ev) {
    if (es !== this.#es) return;
    this.#dropEventSource(); // its own reconnect would send Last-Event-ID: error (400)
    const body = parseData(ev.data);
    const condition = body && typeof body === "object" ? body.condition : undefined;
    const text = body && typeof body === "object" ? body.text : String(ev.data);
    this.#opts.onError?.(new HeraldStreamError(`stream-error ${condition}: ${text}`, { code: "stream-error", condition }));
    if (TOKEN_CONDITIONS.includes(condition)) this.#authFailure(condition, undefined);
    else this.#scheduleReconnect(condition ?? "stream-error");
  }

  async #onTransportError(es, ev) {
    if (es !== this.#es) return;
    const readyState = es.readyState;
    this.#dropEventSource();
    if (readyState !== CLOSED) {
      // The stream ended or the network failed; EventSource would retry with the same token.
      this.#scheduleReconnect(this.#opened ? "disconnected" : "network");
      return;
    }
    // CLOSED: the response was not a stream (an HTTP error). The `eventsource` package says which
    // status; a browser does not, so ask the server once more with fetch.
    const status = typeof ev?.code === "number" ? ev.code : await this.#probe(es.url);
    if (this.#state === "closed") return;
    if (status === 401) this.#authFailure("unauthorized", status);
    else if (status === 403 || status === 404 || status === 400 || status === 405)
      this.#fail(
        new HeraldStreamError(`Herald refused the stream with HTTP ${status}`, {
          code: status === 403 ? "forbidden" : status === 404 ? "not-found" : "http-error",
          status,
          fatal: true,
        }),
      );
    else this.#scheduleReconnect(status ? `http-${status}` : "network");
  }

  // The status Herald gives the stream URL now (undefined on a network error). A 200 opens a
  // stream for a moment; the probe aborts it at once.
  async #probe(url) {
    if (!this.#fetch || !url) return undefined;
    const controller = new AbortController();
    try {
      const res = await this.#fetch(url, {
        headers: { Accept: "text/event-stream" },
        credentials: this.#opts.withCredentials ? "include" : "same-origin",
        cache: "no-store",
        signal: controller.signal,
      });
      return res.status;
    } catch {
      return undefined;
    } finally {
      controller.abort();
    }
  }

  #authFailure(reason, status) {
    this.#authFailures += 1;
    if (this.#authFailures > this.#opts.maxAuthRetries) {
      this.#fail(
        new HeraldStreamError(`credentials refused ${this.#authFailures} times in a row (${reason})`, {
          code: reason === "forbidden" || reason === "token-error" ? reason : "unauthorized",
          status,
          condition: reason,
          fatal: true,
        }),
      );
      return;
    }
    this.#freshToken = true;
    this.#scheduleReconnect(reason);
  }

  #scheduleReconnect(reason) {
    if (this.#state === "closed") return;
    this.#attempt += 1;
    this.#reason = reason;
    const delayMs = backoffDelay(this.#attempt, this.#opts.backoff, this.#random);
    this.#setState("reconnecting", { attempt: this.#attempt, delayMs, reason });
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#state !== "closed") this.#connect();
    }, delayMs);
  }
}

/** Create a HeraldStream and start connecting. */
export function openStream(options) {
  return new HeraldStream(options).open();
}

// herald-client's decisions, driven by a scripted EventSource (no server): which token is asked for,
// when a new EventSource is opened, what ends the stream. The same paths against a real Herald are
// in herald.test.mjs and browser.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";

import { backoffDelay, DEFAULT_BACKOFF, HeraldStream, HeraldStreamError, openStream, withAccessToken } from "../src/index.js";

/** A scripted EventSource: the test makes it open, deliver events and fail. */
class FakeEventSource {
  static instances = [];
  static waiters = [];
  constructor(url, init) {
    this.url = url;
    this.init = init;
    this.readyState = 0;
    this.listeners = new Map();
    this.onerror = null;
    this.closedByClient = false;
    FakeEventSource.instances.push(this);
    for (const w of FakeEventSource.waiters.splice(0)) w(this);
  }
  static reset() {
    FakeEventSource.instances = [];
    FakeEventSource.waiters = [];
  }
  /** The next EventSource created (or the one created already as instance `index`). */
  static next(index) {
    if (FakeEventSource.instances[index]) return Promise.resolve(FakeEventSource.instances[index]);
    return new Promise((resolve) => FakeEventSource.waiters.push(resolve));
  }
  get token() {
    return new URL(this.url).searchParams.get("access_token");
  }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }
  close() {
    this.readyState = 2;
    this.closedByClient = true;
  }
  emit(type, data = "") {
    if (type === "stream-open") this.readyState = 1;
    for (const fn of this.listeners.get(type) ?? []) fn({ type, data, lastEventId: "" });
  }
  /** readyState 0: the network failed / the stream ended (EventSource would retry); 2: an HTTP error. */
  fail({ readyState, code }) {
    this.readyState = readyState;
    this.onerror?.(code === undefined ? { type: "error" } : { type: "error", code });
  }
}

function harness(extra = {}) {
  FakeEventSource.reset();
  const log = [];
  const tokens = [];
  let n = 0;
  const stream = openStream({
    url: "http://herald.test/api/v1/scans/s1/event-stream?x=1",
    EventSource: FakeEventSource,
    getToken: async (req) => {
      tokens.push(req);
      return `tok${++n}`;
    },
    onRefetch: (info) => log.push(`refetch ${info.reconnect}`),
    onStateChange: (state, info) => log.push(`state ${state}${info.reason ? " " + info.reason : ""}`),
    onError: (e) => log.push(`error ${e.code}${e.fatal ? " fatal" : ""}`),
    backoff: { initialMs: 1, maxMs: 4 },
    ...extra,
  });
  return { stream, log, tokens };
}

test("backoffDelay: equal jitter within [ceiling/2, ceiling], the ceiling doubling up to maxMs", () => {
  const ceilings = [1000, 2000, 4000, 8000, 16000, 30000, 30000];
  ceilings.forEach((c, i) => {
    assert.equal(backoffDelay(i + 1, DEFAULT_BACKOFF, () => 0), c / 2);
    assert.equal(backoffDelay(i + 1, DEFAULT_BACKOFF, () => 0.999999), c);
    assert.equal(backoffDelay(i + 1, DEFAULT_BACKOFF, () => 0.5), (3 * c) / 4);
  });
  assert.equal(backoffDelay(0, DEFAULT_BACKOFF, () => 0), 500); // attempts below 1 count as the first
  for (let a = 1; a < 60; ++a) {
    const d = backoffDelay(a, { initialMs: 50, maxMs: 300, factor: 3 });
    assert.ok(d >= 25 && d <= 300, `attempt ${a}: ${d}`);
  }
});

test("withAccessToken sets the token parameter, keeping and encoding the rest", () => {
  assert.equal(withAccessToken("http://h/s?x=1", "a.b.c"), "http://h/s?x=1&access_token=a.b.c");
  assert.equal(withAccessToken("http://h/s?access_token=old&x=1", "new"), "http://h/s?access_token=new&x=1");
  assert.equal(withAccessToken(new URL("http://h/s"), "a+b/c=", "t"), "http://h/s?t=a%2Bb%2Fc%3D");
});

test("options are checked", () => {
  assert.throws(() => new HeraldStream({ getToken: () => "t", EventSource: FakeEventSource }), /url/);
  assert.throws(() => new HeraldStream({ url: "http://h/", EventSource: FakeEventSource }), /getToken/);
  assert.throws(() => new HeraldStream({ url: "http://h/", getToken: () => "t" }), /eventsource/);
  assert.throws(
    () => new HeraldStream({ url: "http://h/", getToken: () => "t", EventSource: FakeEventSource, backoff: { initialMs: 0 } }),
    RangeError,
  );
});

test("first connect: token in the URL, refetch on stream-open, handlers get parsed data, *.end closes", async () => {
  const got = [];
  const { stream, log, tokens } = harness({
    handlers: { "scan.progress": (d, e) => got.push([d, e.type]), "scan.end": (d) => got.push(["end", d.scan_id]) },
  });
  const es = await FakeEventSource.next(0);
  assert.equal(es.url, "http://herald.test/api/v1/scans/s1/event-stream?x=1&access_token=tok1");
  assert.deepEqual(tokens, [{ refresh: false, reason: "initial" }]);
  es.emit("stream-open");
  es.emit("scan.progress", '{"checked":1,"total":2}');
  es.emit("keep-alive");
  es.emit("scan.end", '{"scan_id":"s1"}');
  assert.deepEqual(await stream.closed, { reason: "end", event: "scan.end" });
  assert.deepEqual(got, [[{ checked: 1, total: 2 }, "scan.progress"], ["end", "s1"]]);
  assert.equal(es.closedByClient, true);
  assert.equal(stream.state, "closed");
  assert.deepEqual(log, ["state connecting initial", "state open", "refetch false", "state closed end"]);
  assert.equal(FakeEventSource.instances.length, 1);
});

test("a 401 on connect (eventsource package: error.code) gets a fresh token and reconnects", async () => {
  const { stream, log, tokens } = harness();
  (await FakeEventSource.next(0)).fail({ readyState: 2, code: 401 });
  const es2 = await FakeEventSource.next(1);
  assert.equal(es2.token, "tok2");
  assert.deepEqual(tokens, [
    { refresh: false, reason: "initial" },
    { refresh: true, reason: "unauthorized" },
  ]);
  es2.emit("stream-open");
  assert.deepEqual(log.slice(-2), ["state open", "refetch false"]);
  stream.close();
  assert.deepEqual(await stream.closed, { reason: "client" });
});

test("a browser EventSource failing without a status: one fetch learns it (401 -> refresh, 403 -> stop)", async () => {
  const probes = [];
  const statuses = [401, 403];
  const { stream, log, tokens } = harness({
    fetch: async (url, init) => {
      probes.push([new URL(url).searchParams.get("access_token"), init.headers.Accept, init.credentials]);
      return { status: statuses.shift() };
    },
  });
  (await FakeEventSource.next(0)).fail({ readyState: 2 });
  (await FakeEventSource.next(1)).fail({ readyState: 2 });
  const closed = await stream.closed;
  assert.equal(closed.reason, "error");
  assert.ok(closed.error instanceof HeraldStreamError);
  assert.deepEqual([closed.error.code, closed.error.status, closed.error.fatal], ["forbidden", 403, true]);
  assert.deepEqual(probes, [
    ["tok1", "text/event-stream", "same-origin"],
    ["tok2", "text/event-stream", "same-origin"],
  ]);
  assert.deepEqual(tokens.map((t) => t.refresh), [false, true]);
  assert.deepEqual(log.slice(-2), ["error forbidden fatal", "state closed error"]);
  assert.equal(FakeEventSource.instances.length, 2);
});

test("stream-error: closed at once; forbidden/token-expired refresh the token, slow-consumer does not", async () => {
  const { stream, tokens } = harness();
  const es1 = await FakeEventSource.next(0);
  es1.emit("stream-open");
  es1.emit("stream-error", '{"condition": "slow-consumer", "text": "too slow"}');
  assert.equal(es1.closedByClient, true); // before EventSource could resume with Last-Event-ID: error
  const es2 = await FakeEventSource.next(1);
  es2.emit("stream-open");
  es2.emit("stream-error", '{"condition": "token-expired", "text": "expired"}');
  const es3 = await FakeEventSource.next(2);
  es3.emit("stream-open");
  es3.emit("stream-error", '{"condition": "forbidden", "text": "revoked"}');
  const es4 = await FakeEventSource.next(3);
  assert.deepEqual(tokens, [
    { refresh: false, reason: "initial" },
    { refresh: false, reason: "slow-consumer" },
    { refresh: true, reason: "token-expired" },
    { refresh: true, reason: "forbidden" },
  ]);
  assert.equal(es4.token, "tok4");
  stream.close();
});

test("a dropped stream reconnects with the same token policy and refetches with reconnect: true", async () => {
  const { stream, log, tokens } = harness();
  const es1 = await FakeEventSource.next(0);
  es1.emit("stream-open");
  es1.fail({ readyState: 0 }); // the server went away; EventSource itself would retry
  assert.equal(es1.closedByClient, true);
  const es2 = await FakeEventSource.next(1);
  es2.emit("stream-open");
  assert.deepEqual(tokens[1], { refresh: false, reason: "disconnected" });
  assert.deepEqual(log.filter((l) => l.startsWith("refetch")), ["refetch false", "refetch true"]);
  stream.close();
});

test("credentials refused more than maxAuthRetries times in a row: a fatal error", async () => {
  const { stream, tokens } = harness({ maxAuthRetries: 2 });
  for (let i = 0; i < 3; ++i) (await FakeEventSource.next(i)).fail({ readyState: 2, code: 401 });
  const closed = await stream.closed;
  assert.deepEqual([closed.reason, closed.error.code, closed.error.status], ["error", "unauthorized", 401]);
  assert.equal(tokens.length, 3);
  assert.equal(FakeEventSource.instances.length, 3);
});

test("503 and network failures retry without a fresh token; a 404 stops", async () => {
  const { stream, tokens } = harness();
  (await FakeEventSource.next(0)).fail({ readyState: 2, code: 503 });
  (await FakeEventSource.next(1)).fail({ readyState: 0 });
  (await FakeEventSource.next(2)).fail({ readyState: 2, code: 404 });
  const closed = await stream.closed;
  assert.deepEqual([closed.error.code, closed.error.status], ["not-found", 404]);
  assert.deepEqual(tokens, [
    { refresh: false, reason: "initial" },
    { refresh: false, reason: "http-503" },
    { refresh: false, reason: "network" },
  ]);
});

test("a failing token getter is retried, then fatal; close() during getToken opens nothing", async () => {
  FakeEventSource.reset();
  const errors = [];
  const s1 = openStream({
    url: "http://h/s",
    EventSource: FakeEventSource,
    getToken: async () => {
      throw new Error("logged out");
    },
    onError: (e) => errors.push(`${e.code} ${e.fatal}`),
    backoff: { initialMs: 1, maxMs: 2 },
    maxAuthRetries: 1,
  });
  const closed = await s1.closed;
  assert.deepEqual([closed.reason, closed.error.code], ["error", "token-error"]);
  assert.deepEqual(errors, ["token-error false", "token-error false", "token-error true"]);

  let release;
  const gate = new Promise((r) => (release = r));
  const s2 = openStream({ url: "http://h/s", EventSource: FakeEventSource, getToken: () => gate });
  s2.close();
  release("late-token");
  await gate;
  await new Promise((r) => setImmediate(r)); // let the pending connect run to its end
  assert.equal(FakeEventSource.instances.length, 0);
  assert.deepEqual(await s2.closed, { reason: "client" });
});

test("closeOn: a listed type ends the stream even without a handler; false never closes", async () => {
  const a = harness({ closeOn: ["scan.error"] });
  const es = await FakeEventSource.next(0);
  es.emit("stream-open");
  es.emit("scan.end", "{}"); // not listed, not listened to
  assert.equal(a.stream.state, "open");
  es.emit("scan.error", '{"code":"x"}');
  assert.deepEqual(await a.stream.closed, { reason: "end", event: "scan.error" });

  const b = harness({ closeOn: false, handlers: { "llm.end": () => {} } });
  const es2 = await FakeEventSource.next(0);
  es2.emit("stream-open");
  es2.emit("llm.end", "{}");
  assert.equal(b.stream.state, "open");
  b.stream.close();
});

// A real third-party SSE client against Herald: the npm `eventsource` package (a WHATWG EventSource
// for Node) receives named events, reconnects after a server restart, and fails cleanly on 401/403/404.
//
//   HERALD_BIN=build/e2e/herald node --test test/e2e/eventsource.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";

import { EventSource, eventsourceVersion } from "./lib/deps.mjs";
import {
  DEMO_SCANS,
  DEMO_USER,
  FOREIGN_SCAN,
  OTHER_TENANT,
  defer,
  envFor,
  prepareDemoDir,
  publishOk,
  rawGet,
  runHerald,
  startDemo,
  startServe,
  waitFor,
  withTimeout,
  writeConfig,
} from "./lib/herald.mjs";

const NAMED = ["stream-open", "keep-alive", "stream-error", "scan.start", "scan.progress", "scan.end"];

/**
 * Open an EventSource and record everything it dispatches:
 * {es, events: [{type, data, lastEventId}], errors: [{code, message, readyState}], opens}.
 * Closed when the test ends.
 */
function openEventSource(t, url, init) {
  const es = new EventSource(url, init);
  const rec = { es, events: [], errors: [], opens: 0 };
  for (const type of NAMED) {
    es.addEventListener(type, (e) => rec.events.push({ type, data: e.data, lastEventId: e.lastEventId }));
  }
  es.addEventListener("message", (e) => rec.events.push({ type: "message", data: e.data, lastEventId: e.lastEventId }));
  es.addEventListener("open", () => ++rec.opens);
  es.addEventListener("error", (e) => rec.errors.push({ code: e.code, message: e.message, readyState: es.readyState }));
  rec.ofType = (...types) => rec.events.filter((e) => types.includes(e.type));
  rec.waitCount = (type, n, timeoutMs = 10000) =>
    waitFor(
      () => rec.ofType(type).length >= n,
      timeoutMs,
      () =>
        `${n} '${type}' event(s); got ${JSON.stringify(rec.events.slice(-10))}, ` +
        `${rec.errors.length} error(s), last ${JSON.stringify(rec.errors.slice(-3))}`,
    );
  defer(t, () => es.close());
  return rec;
}

/** A fetch that adds Authorization: Bearer <jwt>, counting the requests it made. */
function bearerFetch(jwt) {
  const f = (input, init = {}) => {
    ++f.calls;
    return fetch(input, { ...init, headers: { ...(init.headers ?? {}), Authorization: `Bearer ${jwt}` } });
  };
  f.calls = 0;
  return f;
}

const progress = (scan, checked, total) => ({ scan_id: scan, checked, total });

test(`eventsource@${eventsourceVersion}: Authorization: Bearer (custom fetch) receives stream-open and named events with exact data`, async (t) => {
  const env = await startDemo(t); // the demo's simulated publisher stays quiet (huge --step-ms)
  const scan = DEMO_SCANS.aws;
  const f = bearerFetch(env.token);
  const rec = openEventSource(t, env.streamUrl(scan), { fetch: f });

  await rec.waitCount("stream-open", 1);
  assert.equal(rec.es.readyState, EventSource.OPEN);
  assert.equal(rec.opens, 1);
  assert.equal(f.calls, 1, "the custom fetch made the request");
  assert.deepEqual(rec.events, [{ type: "stream-open", data: "", lastEventId: "" }]);

  // Another tenant's channel with the same resource id must not reach this stream.
  await publishOk(env, { channel: env.channel(scan, OTHER_TENANT), event: "scan.progress", data: progress(scan, 99, 100) });
  // Another scan of the same tenant neither.
  await publishOk(env, { channel: env.channel(DEMO_SCANS.gcp), event: "scan.progress", data: progress(DEMO_SCANS.gcp, 1, 80) });
  await publishOk(env, { channel: env.channel(scan), event: "scan.progress", data: progress(scan, 42, 100) });
  await publishOk(env, {
    events: [
      { channel: env.channel(scan), event: "scan.progress", data: progress(scan, 100, 100), id: "p-100" },
      { channel: env.channel(scan), event: "scan.end", data: { scan_id: scan, state: "completed" } },
    ],
  });
  await rec.waitCount("scan.end", 1);

  assert.deepEqual(rec.events, [
    { type: "stream-open", data: "", lastEventId: "" },
    { type: "scan.progress", data: `{"scan_id":"${scan}","checked":42,"total":100}`, lastEventId: "" },
    { type: "scan.progress", data: `{"scan_id":"${scan}","checked":100,"total":100}`, lastEventId: "p-100" },
    // (This client reports each event's own id as lastEventId, "" when the event has none.)
    { type: "scan.end", data: `{"scan_id":"${scan}","state":"completed"}`, lastEventId: "" },
  ]);
  assert.deepEqual(rec.errors, []);
  assert.equal(JSON.parse(rec.ofType("scan.end")[0].data).scan_id, scan, "scan.end carries the scan id");
});

test("eventsource: ?access_token= (no Authorization header) receives named events", async (t) => {
  const env = await startDemo(t);
  const scan = DEMO_SCANS.azure;
  const rec = openEventSource(t, `${env.streamUrl(scan)}?access_token=${encodeURIComponent(env.token)}`);
  await rec.waitCount("stream-open", 1);

  // Through the command line publisher this time.
  const r = await runHerald([
    "publish", "--config", env.config, "--channel", env.channel(scan), "--event", "scan.progress",
    "--data", JSON.stringify(progress(scan, 7, 50)),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '{"published":1}\n');
  await publishOk(env, { channel: env.channel(scan), event: "scan.end", data: { scan_id: scan, state: "completed" } });
  await rec.waitCount("scan.end", 1);

  assert.deepEqual(
    rec.events.map((e) => [e.type, e.data]),
    [
      ["stream-open", ""],
      ["scan.progress", `{"scan_id":"${scan}","checked":7,"total":50}`],
      ["scan.end", `{"scan_id":"${scan}","state":"completed"}`],
    ],
  );
});

test("eventsource: the same EventSource reconnects after a server restart (SIGTERM, retry hint) and gets new events", async (t) => {
  const { dir, token } = await prepareDemoDir(t);
  const retryBase = 300;
  const retryJitter = 200;
  const { config, port, internalPort } = await writeConfig(dir, {
    server: { retry_base_ms: retryBase, retry_jitter_ms: retryJitter, shutdown_deadline_ms: 3000 },
  });
  const env = envFor(dir, config, port, internalPort, token, null);
  const scan = DEMO_SCANS.gcp;
  const url = `${env.streamUrl(scan)}?access_token=${encodeURIComponent(token)}`;

  let server = await startServe(t, config, port, internalPort);
  const rec = openEventSource(t, url);
  // A raw observer on the same stream, to see the bytes Herald sends before closing.
  const raw = rawGet(port, new URL(url).pathname + new URL(url).search);
  defer(t, () => raw.destroy());
  await rec.waitCount("stream-open", 1);
  await waitFor(() => raw.body.includes("event: stream-open\n"), 5000, "the raw observer's stream-open");

  // With an id, the client's reconnect carries `Last-Event-ID: r-1` (Herald has no replay and accepts it).
  await publishOk(env, { channel: env.channel(scan), event: "scan.progress", data: progress(scan, 1, 80), id: "r-1" });
  await rec.waitCount("scan.progress", 1);
  assert.equal(rec.ofType("scan.progress")[0].lastEventId, "r-1");

  // Graceful stop: each stream gets `retry: <base + jitter>` and is closed; the process exits 0.
  const exit = await server.stop("SIGTERM", 10000);
  assert.deepEqual(exit, { code: 0, signal: null }, server.describe());
  await withTimeout(raw.closed, 5000, "Herald to close the raw stream");
  const tail = raw.body.match(/retry: (\d+)\n\n$/);
  assert.ok(tail, `the stream ended with a retry hint; last bytes: ${JSON.stringify(raw.body.slice(-80))}`);
  const retry = Number(tail[1]);
  assert.ok(retry >= retryBase && retry < retryBase + retryJitter, `retry ${retry} in [${retryBase}, ${retryBase + retryJitter})`);

  // The client noticed and is reconnecting (not given up).
  await waitFor(() => rec.errors.length >= 1, 5000, "an error event after the server closed the stream");
  assert.equal(rec.errors[0].readyState, EventSource.CONNECTING, "the EventSource reconnects instead of closing");

  // Same port, new process.
  server = await startServe(t, config, port, internalPort);
  await rec.waitCount("stream-open", 2, 15000);
  assert.equal(rec.es.readyState, EventSource.OPEN);

  await publishOk(env, { channel: env.channel(scan), event: "scan.progress", data: progress(scan, 2, 80) });
  await publishOk(env, { channel: env.channel(scan), event: "scan.end", data: { scan_id: scan, state: "completed" } });
  await rec.waitCount("scan.end", 1);
  assert.deepEqual(
    rec.events.filter((e) => e.type !== "keep-alive").map((e) => [e.type, e.data]),
    [
      ["stream-open", ""],
      ["scan.progress", `{"scan_id":"${scan}","checked":1,"total":80}`],
      ["stream-open", ""],
      ["scan.progress", `{"scan_id":"${scan}","checked":2,"total":80}`],
      ["scan.end", `{"scan_id":"${scan}","state":"completed"}`],
    ],
  );
  assert.ok(rec.errors.every((e) => e.readyState === EventSource.CONNECTING), JSON.stringify(rec.errors));
});

test("eventsource: a revoked membership ends the stream with stream-error (id: error) and the client does not resume", async (t) => {
  const { dir, token } = await prepareDemoDir(t);
  const { config, port, internalPort } = await writeConfig(dir, {
    server: { retry_base_ms: 200, retry_jitter_ms: 100 },
    extra: "\n[tenancy]\nrecheck_interval_seconds = 1\n",
  });
  const env = envFor(dir, config, port, internalPort, token, null);
  const scan = DEMO_SCANS.aws;
  await startServe(t, config, port, internalPort);
  const rec = openEventSource(t, `${env.streamUrl(scan)}?access_token=${encodeURIComponent(token)}`);
  await rec.waitCount("stream-open", 1);
  await publishOk(env, { channel: env.channel(scan), event: "scan.progress", data: progress(scan, 1, 120) });
  await rec.waitCount("scan.progress", 1);

  const removed = await runHerald(["member", "remove", "--config", config, "--user", DEMO_USER, "--tenant", env.channel(scan).split(":")[1]]);
  assert.equal(removed.code, 0, removed.stderr);

  await rec.waitCount("stream-error", 1, 10000);
  const se = rec.ofType("stream-error")[0];
  assert.equal(se.lastEventId, "error");
  assert.equal(JSON.parse(se.data).condition, "forbidden");
  // The client reconnects with Last-Event-ID: error, which Herald refuses (400, like django-eventstream),
  // so the EventSource stops for good.
  await waitFor(() => rec.es.readyState === EventSource.CLOSED, 10000, () => `the EventSource to close; errors ${JSON.stringify(rec.errors)}`);
  assert.equal(rec.errors.at(-1).code, 400);
  assert.equal(rec.ofType("stream-open").length, 1, "never re-opened");
});

/** Wait for the EventSource to fail for good; returns the error. */
async function waitFailed(rec) {
  await waitFor(() => rec.errors.length >= 1, 10000, () => `an error event; events ${JSON.stringify(rec.events)}`);
  assert.equal(rec.es.readyState, EventSource.CLOSED, "a non-200 answer fails the EventSource (no reconnect)");
  assert.equal(rec.opens, 0, "no open event");
  assert.deepEqual(rec.events, [], "nothing was streamed");
  return rec.errors[0];
}

async function errorBody(url, headers = {}) {
  const res = await fetch(url, { headers });
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  return { status: res.status, body: JSON.parse(await res.text()) };
}

test("eventsource: no credentials is a 401 and the EventSource fails without streaming", async (t) => {
  const env = await startDemo(t);
  const url = env.streamUrl(DEMO_SCANS.aws);
  const err = await waitFailed(openEventSource(t, url));
  assert.equal(err.code, 401);

  const r = await errorBody(url);
  assert.equal(r.status, 401);
  assert.equal(r.body.error.code, "unauthenticated");

  // An invalid query token is a 401 too, never anonymous.
  const bad = await waitFailed(openEventSource(t, `${url}?access_token=not.a.jwt`));
  assert.equal(bad.code, 401);
  // A token in a bearer header that is garbage: 401.
  const garbage = await waitFailed(openEventSource(t, url, { fetch: bearerFetch("garbage") }));
  assert.equal(garbage.code, 401);
});

test("eventsource: another tenant's scan id is a 404; a token for a tenant the user is not a member of is a 403", async (t) => {
  const env = await startDemo(t);
  const url = env.streamUrl(FOREIGN_SCAN);
  const err = await waitFailed(openEventSource(t, url, { fetch: bearerFetch(env.token) }));
  assert.equal(err.code, 404);
  const r = await errorBody(url, { Authorization: `Bearer ${env.token}` });
  assert.equal(r.status, 404);
  assert.equal(r.body.error.code, "not_found");

  // A validly signed token claiming the other tenant: the scan is found (it is that tenant's), but the
  // user is not a member of it, so the tenant gate refuses.
  const minted = await runHerald(["token", "--config", env.config, "--sub", DEMO_USER, "--tenant", OTHER_TENANT]);
  assert.equal(minted.code, 0, minted.stderr);
  const otherToken = minted.stdout.trim();
  const forbidden = await waitFailed(openEventSource(t, `${url}?access_token=${otherToken}`));
  assert.equal(forbidden.code, 403);
  const f = await errorBody(`${url}?access_token=${otherToken}`);
  assert.equal(f.status, 403);
  assert.equal(f.body.error.code, "forbidden");
});

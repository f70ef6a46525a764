// herald-client under Node, with the npm `eventsource` package, against a real `herald serve`
// (demo keys and store, in-process bus). Tokens are RS256 JWTs minted with the demo's key so their
// expiry is chosen by the test.
//
//   HERALD_BIN=$PWD/build/default/herald node --test clients/js/test/herald.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";

import { openStream as openNodeStream } from "../src/node.js";
import { backoffDelay, openStream } from "../src/index.js";
import {
  DEMO_SCANS,
  DEMO_TENANT,
  DEMO_USER,
  EventSource,
  Log,
  freePorts,
  mintToken,
  openStreams,
  publishOk,
  runHerald,
  serve,
  statusOf,
  startServe,
  waitFor,
  writeConfig,
  prepareDemoDir,
  envFor,
} from "./lib.mjs";

const scan = DEMO_SCANS.aws;

/** Callbacks that write to `log`; getToken answers from `tokens(req)`. */
function callbacks(log, tokens) {
  return {
    getToken: async (req) => {
      log.push(`token ${req.reason} ${req.refresh}`);
      return tokens(req);
    },
    handlers: {
      "scan.progress": (d) => log.push(`progress ${d.checked}/${d.total}`),
      "scan.end": (d) => log.push(`end ${d.scan_id}`),
    },
    onRefetch: ({ reconnect }) => log.push(`refetch ${reconnect}`),
    onStateChange: (state, info) => {
      if (state === "reconnecting") log.push(`reconnecting ${info.reason}`);
      if (state === "closed") log.push(`closed ${info.reason}`);
    },
    onError: (e) => log.push(`error ${e.code} ${e.condition ?? e.status ?? ""}`.trim()),
  };
}

test("a 401 on connect gets a new token; events reach their handlers; scan.end closes the stream", async (t) => {
  const env = await serve(t);
  const log = new Log();
  const expired = mintToken(env.dir, { ttl: -60 });
  const fresh = mintToken(env.dir);
  // The Node entry: EventSource defaults to the `eventsource` package's.
  const stream = openNodeStream({
    url: env.streamUrl(scan),
    ...callbacks(log, (req) => (req.refresh ? fresh : expired)),
    backoff: { initialMs: 20, maxMs: 200 },
  });
  t.after(() => stream.close());
  await log.has("refetch false");
  assert.deepEqual(log.lines, ["token initial false", "reconnecting unauthorized", "token unauthorized true", "refetch false"]);
  assert.equal(await openStreams(env), 1);

  await publishOk(env, { channel: env.channel(scan), event: "scan.progress", data: { checked: 3, total: 9 } });
  await log.has("progress 3/9");
  await publishOk(env, { channel: env.channel(scan), event: "scan.end", data: { scan_id: scan } });
  assert.deepEqual(await stream.closed, { reason: "end", event: "scan.end" });
  assert.deepEqual(log.lines.slice(-3), ["progress 3/9", `end ${scan}`, "closed end"]);
  // The client really hung up: the server's stream count drops to zero.
  await waitFor(async () => (await openStreams(env)) === 0, 10000, "herald_connections to drop to 0");
});

test("token expiry: after Herald restarts, the expired token is refused, a fresh one is fetched, the client reconnects and refetches", async (t) => {
  const { dir } = await prepareDemoDir(t);
  const { config, port, internalPort } = await writeConfig(dir);
  let proc = await startServe(t, config, port, internalPort);
  const env = envFor(dir, config, port, internalPort, null, proc);

  const log = new Log();
  let current = mintToken(dir, { ttl: 3 }); // short-lived: expires while the stream is open
  const issued = [current];
  const stream = openStream({
    url: env.streamUrl(scan),
    EventSource,
    ...callbacks(log, (req) => {
      if (req.refresh) issued.push((current = mintToken(dir)));
      return current; // a cached token unless it was refused
    }),
    backoff: { initialMs: 50, maxMs: 400 },
  });
  t.after(() => stream.close());
  await log.has("refetch false");

  // Herald keeps an open stream whose token expires (it checks tokens at connect); wait until it
  // refuses the first token for new connections.
  await waitFor(
    async () => (await statusOf(`${env.streamUrl(scan)}?access_token=${issued[0]}`)) === 401,
    20000,
    "Herald to refuse the short-lived token",
  );
  // Restart Herald: the stream ends and the client reconnects with the token it has.
  await proc.stop("SIGTERM");
  await log.until((ls) => ls.includes("reconnecting disconnected"), "the client to notice the restart");
  proc = await startServe(t, config, port, internalPort);

  await log.has("refetch true");
  const after = log.lines.slice(log.lines.indexOf("reconnecting disconnected"));
  assert.ok(after.includes("token unauthorized true"), `a fresh token after the 401: ${after.join(" | ")}`);
  assert.equal(after.filter((l) => l === "token unauthorized true").length, 1);
  assert.equal(issued.length, 2);
  await publishOk(env, { channel: env.channel(scan), event: "scan.progress", data: { checked: 5, total: 9 } });
  await log.has("progress 5/9");
  stream.close();
  assert.deepEqual(await stream.closed, { reason: "client" });
  await waitFor(async () => (await openStreams(env)) === 0, 10000, "herald_connections to drop to 0");
});

test("stream-error forbidden (membership revoked): a fresh token is tried, Herald answers 403, the client stops", async (t) => {
  const env = await serve(t, { extra: "\n[tenancy]\nrecheck_interval_seconds = 1\nconnect_cache_seconds = 0\n" });
  const log = new Log();
  const stream = openStream({
    url: env.streamUrl(scan),
    EventSource,
    ...callbacks(log, () => mintToken(env.dir)),
    backoff: { initialMs: 20, maxMs: 200 },
  });
  t.after(() => stream.close());
  await log.has("refetch false");
  const removed = await runHerald(["member", "remove", "--config", env.config, "--user", DEMO_USER, "--tenant", DEMO_TENANT]);
  assert.equal(removed.code, 0, removed.stderr);

  const closed = await stream.closed;
  assert.equal(closed.reason, "error");
  assert.deepEqual([closed.error.code, closed.error.status, closed.error.fatal], ["forbidden", 403, true]);
  assert.deepEqual(log.lines, [
    "token initial false",
    "refetch false",
    "error stream-error forbidden",
    "reconnecting forbidden",
    "token forbidden true",
    "error forbidden 403",
    "closed error",
  ]);
});

test("backoff is bounded while Herald is down; the client connects once it is up; close() ends it", async (t) => {
  const { dir } = await prepareDemoDir(t);
  const ports = await freePorts(2);
  const { config, port, internalPort } = await writeConfig(dir, { ports });
  const env = envFor(dir, config, port, internalPort, null, null);
  const backoff = { initialMs: 20, maxMs: 160, factor: 2 };
  const delays = [];
  const log = new Log();
  const stream = openStream({
    url: env.streamUrl(scan),
    EventSource,
    getToken: () => mintToken(dir),
    backoff,
    onRefetch: ({ reconnect }) => log.push(`refetch ${reconnect}`),
    onStateChange: (state, info) => {
      if (state === "reconnecting") {
        delays.push(info);
        log.push(`reconnecting ${info.attempt}`);
      }
    },
  });
  t.after(() => stream.close());
  await log.has("reconnecting 8"); // nothing listens yet: eight refused connects in a row

  for (const { attempt, delayMs, reason } of delays.slice(0, 8)) {
    const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (attempt - 1));
    assert.equal(reason, "network");
    assert.ok(delayMs >= ceiling / 2 && delayMs <= ceiling, `attempt ${attempt}: ${delayMs} ms, ceiling ${ceiling}`);
    assert.ok(delayMs <= backoff.maxMs);
  }
  assert.deepEqual(delays.slice(0, 8).map((d) => d.attempt), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(backoffDelay(8, backoff, () => 1), 160); // the cap is reached by attempt 4 and stays

  await startServe(t, config, port, internalPort);
  await log.has("refetch false"); // the first successful open is not a reconnect
  assert.equal(await openStreams(env), 1);
  stream.close();
  assert.deepEqual(await stream.closed, { reason: "client" });
  assert.equal(stream.state, "closed");
  await waitFor(async () => (await openStreams(env)) === 0, 10000, "herald_connections to drop to 0");
});

// Reliable channels with a real third-party client: the npm `eventsource` package reconnects on its
// own (with Last-Event-ID) after a cutting proxy drops its connection at random points, many times,
// while 1,000 events are published; it must see every event exactly once, in order.
//
//   HERALD_BIN=build/default/herald node --test test/e2e/replay.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";

import { EventSource, eventsourceVersion } from "./lib/deps.mjs";
import { DEMO_SCANS, defer, envFor, freePorts, prepareDemoDir, startServe, waitFor, writeConfig } from "./lib/herald.mjs";

/**
 * A TCP proxy to `target` that cuts each connection after a random number of response bytes (past
 * the 2 KiB padding, often in the middle of an event), and adds `retry: 10` right after the
 * response head so the client reconnects at once. Test scaffolding only: the head is found by its
 * blank line, the body is SSE (no chunked encoding: Herald's streams end with the connection).
 * Resolves to {port, connections: () => n, close()}.
 */
async function cuttingProxy(target, { minBytes = 2200, maxBytes = 4000 } = {}) {
  let connections = 0;
  const sockets = new Set();
  const server = net.createServer((client) => {
    ++connections;
    const upstream = net.connect(target, "127.0.0.1");
    sockets.add(client).add(upstream);
    const budget = minBytes + Math.floor(Math.random() * (maxBytes - minBytes));
    let sent = 0;
    let head = "";
    let inBody = false;
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => {
      let out = d;
      if (!inBody) {
        head += d.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        inBody = true;
        const body = Buffer.from(head.slice(end + 4), "latin1");
        client.write(head.slice(0, end + 4), "latin1");
        client.write("retry: 10\n\n");
        out = body;
      }
      if (sent + out.length >= budget) {
        client.write(out.subarray(0, budget - sent), cut);
        return;
      }
      sent += out.length;
      client.write(out);
    });
    for (const s of [client, upstream]) {
      s.on("error", cut);
      s.on("close", () => {
        sockets.delete(s);
        cut();
      });
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(resolve);
      }),
  };
}

test(`eventsource@${eventsourceVersion}: 1,000 events on a reliable channel through random disconnects arrive exactly once, in order`, async (t) => {
  const { dir, token } = await prepareDemoDir(t);
  const { config, port, internalPort } = await writeConfig(dir, {
    extra: "reliable = true\n\n[replay]\nmax_events = 2000\n",
  });
  const proc = await startServe(t, config, port, internalPort);
  const env = envFor(dir, config, port, internalPort, token, proc);
  const proxy = await cuttingProxy(port);
  defer(t, () => proxy.close());

  const scan = DEMO_SCANS.aws;
  const quoted = encodeURIComponent(env.channel(scan));
  const got = [];
  const opens = [];
  const errors = [];
  const es = new EventSource(`http://127.0.0.1:${proxy.port}/api/v1/scans/${scan}/event-stream`, {
    fetch: (input, init = {}) =>
      fetch(input, { ...init, headers: { ...(init.headers ?? {}), Authorization: `Bearer ${token}` } }),
  });
  defer(t, () => es.close());
  es.addEventListener("stream-open", (e) => opens.push(e.lastEventId));
  es.addEventListener("scan.progress", (e) => got.push({ n: JSON.parse(e.data).n, id: e.lastEventId }));
  es.addEventListener("stream-reset", (e) => errors.push(`stream-reset ${e.data}`));
  es.addEventListener("stream-error", (e) => errors.push(`stream-error ${e.data}`));
  await waitFor(() => opens.length >= 1, 10000, "the first stream-open");

  // Published one at a time (each acknowledged with its id) while the proxy keeps cutting.
  const total = 1000;
  const acked = [];
  for (let n = 0; n < total; ++n) {
    const r = await env.publish({ channel: env.channel(scan), event: "scan.progress", data: { n } });
    assert.equal(r.status, 200, r.body);
    const body = JSON.parse(r.body);
    assert.equal(body.published, 1);
    acked.push(body.ids[0]);
  }
  await waitFor(
    () => got.length >= total,
    60000,
    () => `${total} events; got ${got.length} over ${proxy.connections()} connections, errors ${JSON.stringify(errors)}`,
  );
  // One more event: anything extra (a duplicate) would have arrived before it.
  const last = await env.publish({ channel: env.channel(scan), event: "scan.progress", data: { n: total } });
  assert.equal(last.status, 200, last.body);
  await waitFor(() => got.length > total, 20000, "the last event");

  assert.deepEqual(errors, []);
  assert.deepEqual(
    got.map((e) => e.n),
    Array.from({ length: total + 1 }, (_, i) => i),
  );
  got.pop();
  // Each event's id is the one its publish was acknowledged with: `<quoted channel>:<position>`.
  assert.deepEqual(
    got.map((e) => e.id),
    acked,
  );
  assert.ok(acked.every((id) => id.startsWith(`${quoted}:`)), acked[0]);
  const first = BigInt(acked[0].split(":").pop());
  assert.ok(acked.every((id, i) => BigInt(id.split(":").pop()) === first + BigInt(i)));
  // The reconnects resumed (stream-open repeats the position the client came back with).
  assert.ok(opens.length >= 10, `only ${opens.length} connections: the proxy did not cut often enough`);
  assert.ok(opens.slice(1).every((id) => id.startsWith(`${quoted}:`)), JSON.stringify(opens.slice(0, 5)));
  t.diagnostic(`${opens.length} connections for ${total} events`);
});

test("curl --http2-prior-knowledge resumes over HTTP/2 with the exact bytes: replay, then live", async (t) => {
  const { dir, token } = await prepareDemoDir(t);
  const { config, port, internalPort } = await writeConfig(dir, { extra: "reliable = true\n" });
  const proc = await startServe(t, config, port, internalPort);
  const env = envFor(dir, config, port, internalPort, token, proc);
  const scan = DEMO_SCANS.gcp;
  const publishN = async (n) => {
    const r = await env.publish({ channel: env.channel(scan), event: "scan.progress", data: { n } });
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body).ids[0];
  };
  const ids = [];
  for (let n = 0; n < 3; ++n) ids.push(await publishN(n));
  const child = spawn(
    process.env.CURL_BIN || "/usr/bin/curl",
    ["-sS", "-N", "--max-time", "60", "--http2-prior-knowledge", "-D", "-", "-H", `Authorization: Bearer ${token}`,
      "-H", `Last-Event-ID: ${ids[0]}`, `${env.baseUrl}/api/v1/scans/${scan}/event-stream`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d) => (out += d));
  defer(t, () => child.kill("SIGKILL"));
  const event = (n, id) => `event: scan.progress\nid: ${id}\ndata: {"n":${n}}\n\n`;
  const replayed =
    ":" + " ".repeat(2048) + "\n\n" + `event: stream-open\nid: ${ids[0]}\ndata:\n\n` + event(1, ids[1]) + event(2, ids[2]);
  await waitFor(() => out.endsWith(replayed), 15000, () => `the replay; got ${JSON.stringify(out.slice(-300))}`);
  const live = await publishN(3);
  await waitFor(() => out.endsWith(replayed + event(3, live)), 15000, () => `the live event; got ${JSON.stringify(out.slice(-300))}`);
  const [head] = out.split("\r\n\r\n");
  assert.match(head, /^HTTP\/2 200 ?\r\n/);
  assert.equal(out.slice(head.length + 4), replayed + event(3, live));
});

test("an unparseable lastEventId gets django-eventstream's stream-error", async (t) => {
  const { dir, token } = await prepareDemoDir(t);
  const [port, internalPort] = await freePorts(2);
  const { config } = await writeConfig(dir, { ports: [port, internalPort], extra: "reliable = true\n" });
  await startServe(t, config, port, internalPort);
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/scans/${DEMO_SCANS.aws}/event-stream?lastEventId=x`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  assert.equal(
    await res.text(),
    'event: stream-error\nid: error\ndata: {"condition": "bad-request", "text": "Invalid request: Failed to parse Last-Event-ID or lastEventId."}\n\n',
  );
});

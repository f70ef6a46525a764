// HTTP/2 against the real `herald serve`: curl with --http2-prior-knowledge (h2c), --http2 (the h2c
// Upgrade, and ALPN "h2" over TLS) receives the exact SSE bytes; headless Debian Chromium opens 20
// EventSources to one origin over TLS (a certificate this test makes, trusted by its SPKI hash) and
// all of them receive events over one HTTP/2 connection, where HTTP/1.1's six connections per origin
// hold 14 of them back.
//
//   HERALD_BIN=build/default/herald node --test test/e2e/http2.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";

import { playwright } from "./lib/deps.mjs";
import {
  DEMO_SCANS,
  PREAMBLE,
  defer,
  envFor,
  freePorts,
  metrics,
  prepareDemoDir,
  publishOk,
  startServe,
  waitFor,
  writeConfig,
} from "./lib/herald.mjs";

const CURL = process.env.CURL_BIN || "/usr/bin/curl";
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const SCAN = DEMO_SCANS.gcp;
const STREAM = `/api/v1/scans/${SCAN}/event-stream`;

/** A self-signed certificate for 127.0.0.1 in dir: {cert, key, spki} (spki: base64 SHA-256). */
function certificate(dir) {
  const cert = path.join(dir, "h2.pem");
  const key = path.join(dir, "h2.key");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", "/CN=herald-h2", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: ["ignore", "ignore", "pipe"] });
  const der = new X509Certificate(readFileSync(cert)).publicKey.export({ type: "spki", format: "der" });
  return { cert, key, spki: createHash("sha256").update(der).digest("base64") };
}

/** curl in the background: {out (stdout so far), err, exited}. Killed when the test ends. */
function curl(t, args) {
  const child = spawn(CURL, ["-sS", "-N", "--max-time", "60", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const c = { out: "", err: "", exit: null };
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (d) => (c.out += d));
  child.stderr.on("data", (d) => (c.err += d));
  c.exited = new Promise((resolve) => child.on("close", (code) => resolve((c.exit = code))));
  defer(t, async () => {
    if (c.exit === null) {
      child.kill("SIGKILL");
      await c.exited;
    }
  });
  return c;
}

async function serveWith(t, server) {
  const { dir, token } = await prepareDemoDir(t);
  const { config, port, internalPort } = await writeConfig(dir, { server });
  const env = envFor(dir, config, port, internalPort, token, null);
  await startServe(t, config, port, internalPort);
  return { env };
}

const progress = (checked) => ({ scan_id: SCAN, checked, total: 80 });
const progressBytes = (checked) => `event: scan.progress\ndata: {"scan_id":"${SCAN}","checked":${checked},"total":80}\n\n`;

test("curl --http2-prior-knowledge and --http2 (h2c Upgrade) receive the exact SSE bytes from herald serve", async (t) => {
  const { env } = await serveWith(t, {});
  const url = `${env.baseUrl}${STREAM}`;
  const auth = ["-H", `Authorization: Bearer ${env.token}`];
  const prior = curl(t, ["--http2-prior-knowledge", "-D", "-", ...auth, url]);
  const upgrade = curl(t, ["--http2", "-D", "-", ...auth, url]);
  const m0 = await waitFor(async () => {
    const m = await metrics(env.internalPort);
    return m.herald_connections === 2 && m;
  }, 15000, () => `both streams to open; curl: ${prior.err} ${upgrade.err}`);
  assert.equal(m0.herald_http2_connections, 2);
  await waitFor(() => prior.out.endsWith(PREAMBLE) && upgrade.out.endsWith(PREAMBLE), 15000, "stream-open on both");
  await publishOk(env, { channel: env.channel(SCAN), event: "scan.progress", data: progress(4) });
  const body = PREAMBLE + progressBytes(4);
  await waitFor(() => prior.out.endsWith(body) && upgrade.out.endsWith(body), 15000, () => `the event: ${JSON.stringify(prior.out.slice(-200))}`);

  // Prior knowledge: only the HTTP/2 response head, then exactly the SSE bytes.
  const [priorHead] = prior.out.split("\r\n\r\n");
  assert.match(priorHead, /^HTTP\/2 200 ?\r\n/);
  assert.match(priorHead, /\r\ncontent-type: text\/event-stream\r\n/);
  assert.match(priorHead, /\r\ncache-control: no-cache\r\n/);
  assert.match(priorHead, /\r\nx-accel-buffering: no\r\n/);
  assert.equal(prior.out.slice(priorHead.length + 4), body);
  // Upgrade: the 101, then the HTTP/2 response to the same request.
  assert.match(upgrade.out, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  const h2 = upgrade.out.search(/HTTP\/2 200 ?\r\n/);
  assert.ok(h2 > 0, upgrade.out.slice(0, 300));
  assert.equal(upgrade.out.slice(upgrade.out.indexOf("\r\n\r\n", h2) + 4), body);
});

test("curl --http2 over TLS negotiates h2 (ALPN) and receives the exact SSE bytes", async (t) => {
  const { dir, token } = await prepareDemoDir(t);
  const c = certificate(dir);
  const { config, port, internalPort } = await writeConfig(dir, { server: { tls_certificate_file: c.cert, tls_private_key_file: c.key } });
  const env = envFor(dir, config, port, internalPort, token, null);
  await startServe(t, config, port, internalPort);
  const s = curl(t, ["--http2", "--cacert", c.cert, "-w", "%{http_version}\n", "-H", `Authorization: Bearer ${env.token}`, `https://127.0.0.1:${port}${STREAM}`]);
  await waitFor(() => s.out === PREAMBLE, 15000, () => `stream-open over TLS: ${s.err} ${JSON.stringify(s.out.slice(0, 100))}`);
  await publishOk(env, { channel: env.channel(SCAN), event: "scan.progress", data: progress(7) });
  await waitFor(() => s.out === PREAMBLE + progressBytes(7), 15000, () => JSON.stringify(s.out.slice(-200)));
  assert.equal((await metrics(internalPort)).herald_http2_connections, 1);
});

/** A page on another origin (plain HTTP) that opens `n` EventSources to `streamUrl`. */
async function eventSourcePage(t, streamUrl, n) {
  const html = `<!doctype html><meta charset="utf-8"><title>twenty streams</title><script>
    window.__open = new Set();
    window.__events = [];
    window.__errors = 0;
    for (let i = 0; i < ${n}; ++i) {
      const es = new EventSource(${JSON.stringify(streamUrl)} + "&n=" + i);
      es.addEventListener("stream-open", () => window.__open.add(i));
      es.addEventListener("scan.progress", (e) => window.__events.push(i + " " + e.data));
      es.onerror = () => ++window.__errors;
    }
  </script>`;
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === "/" ? 200 : 404, { "Content-Type": "text/html; charset=utf-8" });
    res.end(req.url === "/" ? html : "");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  defer(t, () => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${server.address().port}`;
}

/** Chromium trusting exactly `spki` (flags as test/e2e/browser.test.mjs, plus the SPKI pin). */
async function browser(t, dir, spki) {
  const { chromium } = playwright();
  const context = await chromium.launchPersistentContext(path.join(dir, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--ignore-certificate-errors-spki-list=${spki}`,
    ],
    timeout: 30000,
  });
  defer(t, () => context.close());
  return context.pages()[0] ?? (await context.newPage());
}

/** herald serve over TLS with CORS for a page origin; Chromium on that page with 20 EventSources. */
async function twentyEventSources(t, http2) {
  const { dir, token } = await prepareDemoDir(t);
  const c = certificate(dir);
  const ports = await freePorts(2);
  const streamUrl = `https://127.0.0.1:${ports[0]}${STREAM}?access_token=${encodeURIComponent(token)}`;
  const origin = await eventSourcePage(t, streamUrl, 20);
  const { config, port, internalPort } = await writeConfig(dir, {
    ports,
    server: { tls_certificate_file: c.cert, tls_private_key_file: c.key, http2 },
    extra: `\n[cors]\nallow_origins = [${JSON.stringify(origin)}]\nallow_credentials = false\n`,
  });
  const env = envFor(dir, config, port, internalPort, token, null);
  await startServe(t, config, port, internalPort);
  const page = await browser(t, dir, c.spki);
  await page.goto(`${origin}/`, { waitUntil: "domcontentloaded", timeout: 15000 });
  const state = () => page.evaluate(() => ({ open: window.__open.size, events: window.__events.slice(), errors: window.__errors }));
  return { env, state };
}

test("chromium: 20 EventSources to one origin over TLS all receive events on one HTTP/2 connection", async (t) => {
  const { env, state } = await twentyEventSources(t, true);
  await waitFor(async () => (await state()).open === 20, 30000, async () => `20 EventSources to open; ${JSON.stringify(await state())}`);
  const m = await metrics(env.internalPort);
  assert.equal(m.herald_connections, 20);
  // Chromium may race a few connections before it learns the origin speaks HTTP/2 (seen: 3 under
  // load); what matters is that 20 streams are open at once, which HTTP/1.1's six per origin forbids,
  // and that every one of them is an HTTP/2 stream.
  assert.ok(m.herald_http2_connections >= 1 && m.herald_http2_connections <= 6,
            `20 streams on a few HTTP/2 connections, got ${m.herald_http2_connections}`);
  await publishOk(env, { channel: env.channel(SCAN), event: "scan.progress", data: progress(11) });
  await waitFor(async () => (await state()).events.length === 20, 15000, async () => `20 events; ${JSON.stringify(await state())}`);
  const { events, errors } = await state();
  assert.deepEqual(events.map((e) => e.replace(/^\d+ /, "")), Array(20).fill(`{"scan_id":"${SCAN}","checked":11,"total":80}`));
  assert.equal(new Set(events.map((e) => e.split(" ")[0])).size, 20);
  assert.equal(errors, 0);
});

test("chromium: with HTTP/2 off the same page gets only six streams (HTTP/1.1's limit per origin)", async (t) => {
  const { env, state } = await twentyEventSources(t, false);
  await waitFor(async () => (await state()).open === 6, 30000, async () => `6 EventSources to open; ${JSON.stringify(await state())}`);
  await publishOk(env, { channel: env.channel(SCAN), event: "scan.progress", data: progress(12) });
  await waitFor(async () => (await state()).events.length === 6, 15000, async () => `6 events; ${JSON.stringify(await state())}`);
  // The browser holds the other 14 back: the server has seen six streams and no HTTP/2.
  const m = await metrics(env.internalPort);
  assert.equal(m.herald_connections, 6);
  assert.equal(m.herald_http2_connections, 0);
  assert.equal((await state()).open, 6);
});

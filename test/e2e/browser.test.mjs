// A real browser against Herald: headless Debian Chromium (driven by playwright-core, never a
// downloaded browser) loads the demo page: two tenants' streams through the browser's own
// EventSource with ?access_token=, a refused cross-tenant attempt, live counters, and the
// revoke-membership button closing streams through the live re-check.
//
//   HERALD_BIN=build/e2e/herald node --test test/e2e/browser.test.mjs
// Optional: CHROMIUM_BIN (default /usr/bin/chromium); HERALD_DEMO_SCREENSHOTS=<dir> to copy the
// screenshots there (scripts/update-screenshots.sh: docs/demo-*.png).
import { test } from "node:test";
import assert from "node:assert/strict";
import { accessSync, constants, copyFileSync } from "node:fs";
import path from "node:path";

import { playwright } from "./lib/deps.mjs";
import http from "node:http";

import {
  DEMO_SCANS,
  defer,
  envFor,
  freePorts,
  prepareDemoDir,
  publishOk,
  startDemo,
  startServe,
  tempDir,
  waitFor,
  writeConfig,
} from "./lib/herald.mjs";

const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Runs in the page before its own script: samples every bar every 10 ms and records each change, so
// a short-lived state (e.g. "live" just before "completed") is never missed.
function installSampler() {
  window.__samples = [];
  const last = new Map();
  const sample = () => {
    document.querySelectorAll(".scan").forEach((el) => {
      const bar = el.querySelector("progress");
      const s = {
        id: el.dataset.scanId,
        value: bar.value,
        max: bar.max,
        state: el.querySelector(".state").textContent,
        count: el.querySelector(".count").textContent,
        t: Date.now(),
      };
      const key = `${s.value}|${s.max}|${s.state}`;
      if (last.get(s.id) !== key) {
        last.set(s.id, key);
        window.__samples.push(s);
      }
    });
  };
  setInterval(sample, 10);
}

/** Headless Chromium with a fresh profile in `dir`, closed when the test ends; returns its first page. */
async function launch(t, dir) {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_BIN)`);
  }
  const { chromium } = playwright();
  const context = await chromium.launchPersistentContext(path.join(dir, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 900, height: 400 },
    timeout: 30000,
  });
  defer(t, () => context.close());
  return context.pages()[0] ?? (await context.newPage());
}

test("chromium: the demo shows two tenants' live streams, a refused cross-tenant attempt, counters, and a revoked membership closing streams", async (t) => {
  const dir = tempDir(t);
  const env = await startDemo(t, { stepMs: 50, dir: path.join(dir, "data") });
  const page = await launch(t, dir);
  await page.setViewportSize({ width: 1280, height: 860 });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  const badResponses = [];
  page.on("response", (r) => {
    // Expected refusals: the cross-tenant attempts (404, 403); Chromium's /favicon.ico (404).
    const p = new URL(r.url()).pathname;
    if (r.status() >= 400 && p !== "/favicon.ico" && !p.startsWith("/api/v1/scans/")) badResponses.push(`${r.status()} ${r.url()}`);
  });
  await page.addInitScript(installSampler);

  const resp = await page.goto(`${env.baseUrl}/`, { waitUntil: "domcontentloaded", timeout: 15000 });
  assert.equal(resp.status(), 200);
  assert.equal(await page.title(), "Herald demo: two tenants, live streams");
  // Five streams: browsers allow six HTTP/1.1 connections per host, the sixth serves the fetches.
  assert.equal(await page.locator("#tenant-0 .scan progress").count(), 2);
  assert.equal(await page.locator("#tenant-1 .scan progress").count(), 1);

  const samples = () => page.evaluate(() => window.__samples);
  const of = (all, scan) => all.filter((s) => s.id === scan);
  const describe = async () => JSON.stringify((await samples()).slice(-30));
  const text = (sel) => page.locator(sel).textContent();

  // 1. Every scan stream of the first tenant opened: each bar's state text reached "live".
  const shown = [DEMO_SCANS.gcp, DEMO_SCANS.azure];
  await waitFor(
    async () => {
      const all = await samples();
      return shown.every((id) => of(all, id).some((s) => s.state === "live"));
    },
    15000,
    async () => `every bar to be "live"; samples ${await describe()}`,
  );

  // 2. A bar's value increases over time while live (at least two advances).
  let advancing;
  await waitFor(
    async () => {
      const all = await samples();
      for (const id of shown) {
        const values = of(all, id).filter((s) => s.state === "live").map((s) => s.value);
        let advances = 0;
        for (let i = 1; i < values.length; ++i) if (values[i] > values[i - 1]) ++advances;
        if (advances >= 2) return (advancing = { id, values });
      }
      return false;
    },
    15000,
    async () => `a progress bar to advance twice; samples ${await describe()}`,
  );
  t.diagnostic(`bar ${advancing.id} advanced: ${advancing.values.slice(0, 12).join(", ")}...`);

  // 3. The assistants' answers arrive token by token (message.delta), each tenant its own.
  await waitFor(async () => (await text("#tenant-0 .answer")).split(" ").length >= 6 && (await text("#tenant-1 .answer")).split(" ").length >= 6,
    15000, async () => `both answers to stream; got ${await text("#tenant-0 .answer")} | ${await text("#tenant-1 .answer")}`);
  assert.match(await text("#tenant-0 .answer"), /^Your AWS production account/);
  assert.match(await text("#tenant-1 .answer"), /^Globex's GCP project/);

  // 4. The second tenant's user is refused the first tenant's scan: 404 with its own token, 403
  //    with a token claiming the first tenant.
  await waitFor(async () => !(await text("#refused-403")).includes("..."), 10000, "the cross-tenant attempts");
  assert.equal(await text("#refused-404"), "Acme Security's scan with its own token: 404 not_found");
  assert.equal(await text("#refused-403"), "a token claiming Acme Security's tenant: 403 forbidden");

  // 5. Live counters from /demo/metrics (the public listener; the internal one is never asked).
  await waitFor(async () => Number(await text("#c-published")) > 10 && Number(await text("#c-streams")) >= 5,
    10000, async () => `counters; got ${await text("#counters")}`);
  assert.match(await text("#c-endpoints"), /3 scans, 2 conversations/);

  // 6. The smallest scan (azure-sandbox, 50 checks) completes: scan.end with its id fills the bar.
  const azure = DEMO_SCANS.azure;
  await waitFor(
    async () => of(await samples(), azure).some((s) => s.state.startsWith("completed")),
    30000,
    async () => `azure-sandbox to complete; samples ${await describe()}`,
  );
  const done = of(await samples(), azure).find((s) => s.state.startsWith("completed"));
  assert.equal(done.state, `completed (${azure.slice(0, 8)})`);
  assert.equal(done.max, 50);
  assert.equal(done.value, 50);
  await screenshot(t, page, dir, "demo-tenants.png");

  // 7. Revoke the second tenant's membership: the live re-check closes its streams with
  //    stream-error forbidden; the first tenant's streams go on.
  await page.click("#revoke");
  await waitFor(async () => {
    const states = await page.locator("#tenant-1 .state").allTextContents();
    return states.length === 2 && states.every((s) => s === "closed by the live check: forbidden");
  }, 15000, async () => `tenant 2's streams to close; states ${JSON.stringify(await page.locator("#tenant-1 .state").allTextContents())}`);
  assert.equal(await text("#revoke"), "Restore Globex's membership");
  const first = await page.locator("#tenant-0 .state").allTextContents();
  assert.ok(first.every((s) => !s.startsWith("closed")), JSON.stringify(first));
  await screenshot(t, page, dir, "demo-revoked.png");
  // Its close lines in the log say why.
  await env.proc.waitForOutput(/stream closed .*reason=revoked/, 10000);

  // The first tenant's streams never failed: no "reconnecting"/"error" state, no script errors.
  const states = new Set(
    (await samples()).filter((s) => shown.includes(s.id)).map((s) => s.state.replace(/ \(.*\)$/, "")),
  );
  for (const s of states) assert.ok(["connecting", "live", "completed"].includes(s), `unexpected state '${s}'`);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(badResponses, []);
});

/**
 * A screenshot in the test's temp dir; with HERALD_DEMO_SCREENSHOTS=<dir> (scripts/update-screenshots.sh
 * gives docs/) also copied there: the README's pictures are these.
 */
async function screenshot(t, page, dir, name) {
  const shot = path.join(dir, name);
  await page.screenshot({ path: shot });
  if (process.env.HERALD_DEMO_SCREENSHOTS) copyFileSync(shot, path.join(process.env.HERALD_DEMO_SCREENSHOTS, name));
  t.diagnostic(`screenshot: ${shot}`);
}

/** A page on another origin (a plain Node server) that opens an EventSource to `streamUrl`. */
async function otherOrigin(t, streamUrl) {
  const html = `<!doctype html><meta charset="utf-8"><title>other origin</title><script>
    window.__log = [];
    const es = new EventSource(${JSON.stringify(streamUrl)}, { withCredentials: true });
    for (const type of ["stream-open", "scan.progress"])
      es.addEventListener(type, (e) => window.__log.push(type + " " + e.data));
    es.onerror = () => window.__log.push("error " + es.readyState);
  </script>`;
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === "/" ? 200 : 404, { "Content-Type": "text/html; charset=utf-8" });
    res.end(req.url === "/" ? html : "");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  defer(t, () => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${server.address().port}`;
}

test("chromium: a cross-origin EventSource (withCredentials) works for a configured origin and is blocked for others", async (t) => {
  const { dir, token } = await prepareDemoDir(t);
  const scan = DEMO_SCANS.gcp;
  // The allowed page's origin must be in the config before Herald starts: pick Herald's ports and
  // start both page servers first.
  const streamPath = `/api/v1/scans/${scan}/event-stream?access_token=${encodeURIComponent(token)}`;
  const ports = await freePorts(2);
  const allowed = await otherOrigin(t, `http://127.0.0.1:${ports[0]}${streamPath}`);
  const denied = await otherOrigin(t, `http://127.0.0.1:${ports[0]}${streamPath}`);
  const { config, port, internalPort } = await writeConfig(dir, {
    ports,
    extra: `\n[cors]\nallow_origins = [${JSON.stringify(allowed)}]\nallow_credentials = true\n`,
  });
  const env = envFor(dir, config, port, internalPort, token, null);
  await startServe(t, config, port, internalPort);

  const page = await launch(t, dir);
  const log = () => page.evaluate(() => window.__log);
  await page.goto(`${allowed}/`, { waitUntil: "domcontentloaded", timeout: 15000 });
  await waitFor(async () => (await log()).includes("stream-open "), 15000, async () => `stream-open on ${allowed}; log ${JSON.stringify(await log())}`);
  await publishOk(env, { channel: env.channel(scan), event: "scan.progress", data: { scan_id: scan, checked: 5, total: 80 } });
  await waitFor(async () => (await log()).length >= 2, 10000, async () => `the event; log ${JSON.stringify(await log())}`);
  assert.deepEqual(await log(), ["stream-open ", `scan.progress {"scan_id":"${scan}","checked":5,"total":80}`]);

  // Same stream, an origin not in allow_origins: the browser refuses the response (CORS), so the
  // EventSource fails (readyState 2 = CLOSED) without any event.
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  await page.goto(`${denied}/`, { waitUntil: "domcontentloaded", timeout: 15000 });
  await waitFor(async () => (await log()).includes("error 2"), 15000, async () => `the EventSource to fail on ${denied}; log ${JSON.stringify(await log())}`);
  assert.deepEqual(await log(), ["error 2"]);
  assert.ok(consoleErrors.some((e) => /CORS|Access-Control-Allow-Origin/.test(e)), `a CORS console error; got ${JSON.stringify(consoleErrors)}`);
});

// A real browser against Herald: headless Debian Chromium (driven by playwright-core, never a
// downloaded browser) loads the demo page, whose progress bars fill through the browser's own
// EventSource with ?access_token=.
//
//   HERALD_BIN=build/e2e/herald node --test test/e2e/browser.test.mjs
// Optional: CHROMIUM_BIN (default /usr/bin/chromium); HERALD_E2E_SCREENSHOT=<png path> to keep a copy
// of the screenshot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { accessSync, constants, copyFileSync } from "node:fs";
import path from "node:path";

import { playwright } from "./lib/deps.mjs";
import { DEMO_SCANS, startDemo, tempDir, waitFor } from "./lib/herald.mjs";

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

test("chromium: the demo page's progress bars advance live and a scan completes", async (t) => {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_BIN)`);
  }
  const dir = tempDir(t);
  const env = await startDemo(t, { stepMs: 50, dir: path.join(dir, "data") });

  const { chromium } = playwright();
  const context = await chromium.launchPersistentContext(path.join(dir, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 900, height: 400 },
    timeout: 30000,
  });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  const badResponses = [];
  page.on("response", (r) => {
    // The page has no favicon; Chromium asks for /favicon.ico anyway (a 404 there is fine).
    if (r.status() >= 400 && new URL(r.url()).pathname !== "/favicon.ico") badResponses.push(`${r.status()} ${r.url()}`);
  });
  await page.addInitScript(installSampler);

  const resp = await page.goto(`${env.baseUrl}/`, { waitUntil: "domcontentloaded", timeout: 15000 });
  assert.equal(resp.status(), 200);
  assert.equal(await page.title(), "Herald demo: live scan progress");
  assert.equal(await page.locator(".scan progress").count(), 3);

  const samples = () => page.evaluate(() => window.__samples);
  const of = (all, scan) => all.filter((s) => s.id === scan);
  const describe = async () => JSON.stringify((await samples()).slice(-30));

  // 1. Every stream opened: each bar's state text reached "live".
  await waitFor(
    async () => {
      const all = await samples();
      return Object.values(DEMO_SCANS).every((id) => of(all, id).some((s) => s.state === "live"));
    },
    15000,
    async () => `every bar to be "live"; samples ${await describe()}`,
  );

  // 2. A bar's value increases over time while live (at least two advances).
  let advancing;
  await waitFor(
    async () => {
      const all = await samples();
      for (const id of Object.values(DEMO_SCANS)) {
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

  // 3. The smallest scan (azure-sandbox, 50 checks) completes: scan.end with its id fills the bar.
  const azure = DEMO_SCANS.azure;
  await waitFor(
    async () => of(await samples(), azure).some((s) => s.state.startsWith("completed")),
    30000,
    async () => `azure-sandbox to complete; samples ${await describe()}`,
  );
  // Screenshot now: one bar completed, the larger scans still filling.
  const shot = path.join(dir, "demo.png");
  await page.screenshot({ path: shot });
  if (process.env.HERALD_E2E_SCREENSHOT) copyFileSync(shot, process.env.HERALD_E2E_SCREENSHOT);
  t.diagnostic(`screenshot: ${shot}`);
  const done = of(await samples(), azure).find((s) => s.state.startsWith("completed"));
  assert.equal(done.state, `completed (${azure.slice(0, 8)})`);
  assert.equal(done.max, 50);
  assert.equal(done.value, 50);

  // The streams never failed: no "reconnecting"/"error" state, no script errors.
  const states = new Set((await samples()).map((s) => s.state.replace(/ \(.*\)$/, "")));
  for (const s of states) assert.ok(["connecting", "live", "completed"].includes(s), `unexpected state '${s}'`);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(badResponses, []);
});

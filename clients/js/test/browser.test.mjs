// herald-client in headless Debian Chromium (driven by playwright-core; no browser is downloaded):
// a page on its own origin imports the package as an ES module and streams from `herald serve`
// (cross-origin, [cors] allow_origins). Its first token is expired: the browser's EventSource fails
// without telling the status, the client learns the 401 with one fetch, gets a fresh token from the
// page's token endpoint, and streams; scan.end closes it.
//
//   HERALD_BIN=$PWD/build/default/herald node --test clients/js/test/browser.test.mjs
// Optional: CHROMIUM_BIN (default /usr/bin/chromium).
import { test } from "node:test";
import assert from "node:assert/strict";
import { accessSync, constants, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import {
  DEMO_SCANS,
  defer,
  envFor,
  freePorts,
  mintToken,
  openStreams,
  playwright,
  prepareDemoDir,
  publishOk,
  startServe,
  waitFor,
  writeConfig,
} from "./lib.mjs";

const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
// As in test/e2e/browser.test.mjs.
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "src");

// The application page: everything the client reports goes to window.__log.
function page(streamUrl) {
  return `<!doctype html><meta charset="utf-8"><title>herald-client</title>
<script type="module">
  import { openStream } from "/herald-client/index.js";
  const log = (window.__log = []);
  const stream = openStream({
    url: ${JSON.stringify(streamUrl)},
    getToken: async ({ refresh, reason }) => {
      log.push("token " + reason + " " + refresh);
      return (await fetch("/token?refresh=" + refresh)).text();
    },
    handlers: {
      "scan.progress": (d) => log.push("progress " + d.checked + "/" + d.total),
      "scan.end": (d) => log.push("end " + d.scan_id),
    },
    onRefetch: ({ reconnect }) => log.push("refetch " + reconnect),
    onError: (e) => log.push("error " + e.code + " " + (e.status ?? "")),
    backoff: { initialMs: 50, maxMs: 500 },
  });
  stream.closed.then((c) => log.push("closed " + c.reason));
  window.__stream = stream;
</script>`;
}

/** The page's origin: the page, the package's files, and a token endpoint. */
async function appServer(t, dir) {
  const state = { streamUrl: null, tokens: [] };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      return res.end(page(state.streamUrl));
    }
    if (url.pathname.startsWith("/herald-client/")) {
      const file = path.join(SRC, path.basename(url.pathname));
      res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" });
      return res.end(readFileSync(file));
    }
    if (url.pathname === "/token") {
      // The application's token endpoint: a cached (here: already expired) token unless asked to refresh.
      const refresh = url.searchParams.get("refresh") === "true";
      state.tokens.push(refresh);
      res.writeHead(200, { "Content-Type": "text/plain" });
      return res.end(mintToken(dir, { ttl: refresh ? 3600 : -60 }));
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  defer(t, () => new Promise((r) => server.close(r)));
  state.origin = `http://127.0.0.1:${server.address().port}`;
  return state;
}

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
    timeout: 30000,
  });
  defer(t, () => context.close());
  return context.pages()[0] ?? (await context.newPage());
}

test("chromium: an expired token is replaced after the 401, events reach the handlers, scan.end closes", async (t) => {
  const { dir } = await prepareDemoDir(t);
  const app = await appServer(t, dir);
  const ports = await freePorts(2);
  const { config, port, internalPort } = await writeConfig(dir, {
    ports,
    extra: `\n[cors]\nallow_origins = [${JSON.stringify(app.origin)}]\n`,
  });
  const env = envFor(dir, config, port, internalPort, null, null);
  await startServe(t, config, port, internalPort);
  const scan = DEMO_SCANS.gcp;
  app.streamUrl = env.streamUrl(scan);

  const browser = await launch(t, dir);
  const pageErrors = [];
  browser.on("pageerror", (e) => pageErrors.push(String(e)));
  await browser.goto(`${app.origin}/`, { waitUntil: "domcontentloaded", timeout: 15000 });
  const log = () => browser.evaluate(() => window.__log ?? []);
  const until = (line) =>
    waitFor(async () => (await log()).includes(line), 20000, async () => `'${line}' in the page log ${JSON.stringify(await log())}`);

  await until("refetch false");
  assert.deepEqual(await log(), ["token initial false", "token unauthorized true", "refetch false"]);
  assert.deepEqual(app.tokens, [false, true]);
  await publishOk(env, { channel: env.channel(scan), event: "scan.progress", data: { checked: 1, total: 2 } });
  await until("progress 1/2");
  await publishOk(env, { channel: env.channel(scan), event: "scan.end", data: { scan_id: scan } });
  await until("closed end");
  assert.deepEqual(await log(), [
    "token initial false",
    "token unauthorized true",
    "refetch false",
    "progress 1/2",
    `end ${scan}`,
    "closed end",
  ]);
  assert.equal(await browser.evaluate(() => window.__stream.state), "closed");
  await waitFor(async () => (await openStreams(env)) === 0, 10000, "herald_connections to drop to 0");
  assert.deepEqual(pageErrors, []);
});

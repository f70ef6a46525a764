// The `herald` command line end to end: publish's exit codes and messages, subscribe's exact SSE
// bytes, check-config, and that an access_token never reaches Herald's logs.
//
//   HERALD_BIN=build/e2e/herald node --test test/e2e/cli.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import {
  DEMO_SCANS,
  DEMO_TENANT,
  DEMO_USER,
  defer,
  FOREIGN_SCAN,
  PREAMBLE,
  envFor,
  metrics,
  prepareDemoDir,
  publishOk,
  rawGet,
  runHerald,
  startDemo,
  startHerald,
  startServe,
  waitFor,
  writeConfig,
} from "./lib/herald.mjs";

const SCAN = DEMO_SCANS.aws;

test("herald publish: exit codes and messages", async (t) => {
  const env = await startDemo(t);
  const channel = env.channel(SCAN);
  const pub = (...args) => runHerald(["publish", "--config", env.config, ...args]);

  await t.test("a valid event is published (exit 0)", async () => {
    const r = await pub("--channel", channel, "--event", "scan.progress", "--data", '{"checked":1,"total":2}');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '{"published":1}\n');
  });

  await t.test("an unknown verb: exit 2, the message names it", async () => {
    const r = await pub("--channel", channel, "--event", "scan.progressed", "--data", "{}");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "herald: event: event verb 'progressed' is not in the vocabulary\n");
  });

  await t.test("an event name that is not <resource>.<verb>: exit 2, the message names it", async () => {
    const r = await pub("--channel", channel, "--event", "scanprogress", "--data", "{}");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^herald: event: event type 'scanprogress' must be <resource>\.<verb>\n$/);
    const upper = await pub("--channel", channel, "--event", "Scan.progress", "--data", "{}");
    assert.equal(upper.code, 2);
    assert.match(upper.stderr, /'Scan'/);
  });

  await t.test("a malformed channel: exit 2, the message names it", async () => {
    for (const bad of ["scan-progress:not-a-uuid:x", `scan-progress:${env.channel(SCAN).split(":")[1]}`, `a:${channel}`]) {
      const r = await pub("--channel", bad, "--event", "scan.progress", "--data", "{}");
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.equal(r.stderr, `herald: channel: '${bad}' is not <prefix>:<tenant_uuid>:<resource_id>\n`);
    }
  });

  await t.test("data that is not a JSON object: exit 2", async () => {
    const arr = await pub("--channel", channel, "--event", "scan.progress", "--data", "[1,2]");
    assert.equal(arr.code, 2);
    assert.match(arr.stderr, /data: must be a JSON object/);
    const junk = await pub("--channel", channel, "--event", "scan.progress", "--data", "{nope");
    assert.equal(junk.code, 2);
    assert.match(junk.stderr, /data is not valid JSON/);
  });

  await t.test("a wrong publisher key: the server refuses (exit 2, HTTP 401)", async () => {
    const r = await pub("--key", "x".repeat(32), "--channel", channel, "--event", "scan.progress", "--data", "{}");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^herald: publish refused \(HTTP 401\): \{"error":\{"code":"unauthenticated"/);
  });

  await t.test("the server is down: exit 1, 'cannot connect'", async () => {
    const exit = await env.proc.stop("SIGTERM");
    assert.equal(exit.code, 0, env.proc.describe());
    const r = await pub("--channel", channel, "--event", "scan.progress", "--data", "{}");
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^herald: cannot connect to 127\\.0\\.0\\.1:${env.internalPort}: `));
  });
});

// Regression guard: `herald subscribe` must hand over each chunk as it arrives (it once read into a
// 64 KiB buffer and printed nothing while the stream was open).
test("herald subscribe --count 2 prints the exact SSE bytes of two published events", async (t) => {
  const env = await startDemo(t);
  const sub = startHerald(t, ["subscribe", "--url", env.streamUrl(SCAN), "--token", env.token, "--count", "2"], {
    name: "herald subscribe",
  });
  // The stream is open (server side) once the connection gauge shows it; no replay, so wait for that.
  await waitFor(async () => (await metrics(env.internalPort)).herald_connections === 1, 10000, () => `the subscribe stream to open\n${sub.describe()}`);

  await publishOk(env, {
    channel: env.channel(SCAN),
    event: "scan.progress",
    data: { scan_id: SCAN, checked: 3, total: 120 },
  });
  await publishOk(env, {
    channel: env.channel(SCAN),
    event: "scan.end",
    id: "end-1",
    data: { scan_id: SCAN, state: "completed", note: "line1\nline2" },
  });
  const exit = await sub.waitExit(8000);
  assert.deepEqual(exit, { code: 0, signal: null }, sub.describe());
  assert.equal(
    sub.stdout,
    PREAMBLE +
      `event: scan.progress\ndata: {"scan_id":"${SCAN}","checked":3,"total":120}\n\n` +
      `event: scan.end\nid: end-1\ndata: {"scan_id":"${SCAN}","state":"completed","note":"line1\\nline2"}\n\n`,
  );
  assert.equal(sub.stderr, "");
});

test("herald subscribe: a refused stream exits 2 with the HTTP status and the JSON error", async (t) => {
  const env = await startDemo(t);
  const noAuth = await runHerald(["subscribe", "--url", env.streamUrl(SCAN), "--count", "1"]);
  assert.equal(noAuth.code, 2);
  assert.match(noAuth.stderr, /^herald: HTTP 401: \{"error":\{"code":"unauthenticated"/);
  assert.equal(noAuth.stdout, "");
  const foreign = await runHerald(["subscribe", "--url", env.streamUrl(FOREIGN_SCAN), "--token", env.token]);
  assert.equal(foreign.code, 2);
  assert.match(foreign.stderr, /^herald: HTTP 404: \{"error":\{"code":"not_found"/);
  const down = await runHerald(["subscribe", "--url", "http://127.0.0.1:1/x", "--token", env.token]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^herald: cannot connect to 127\.0\.0\.1:1: /);
});

test("herald check-config: OK on the demo config, non-zero on a broken one", async (t) => {
  const { dir } = await prepareDemoDir(t);
  const demoConfig = path.join(dir, "herald.toml");
  const publisherKey = readFileSync(path.join(dir, "publisher.key"), "utf8").trim();

  const ok = await runHerald(["check-config", "--config", demoConfig]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /configuration OK\n$/);
  assert.ok(!ok.stdout.includes(publisherKey), "check-config does not print the publisher key");

  // A lookup that does not bind the caller's tenant is refused (by check-config and by serve).
  const noTenant = await writeConfig(dir, { name: "no-tenant.toml", lookup: "SELECT 1 FROM scans WHERE id = :scan_pk" });
  const bad = await runHerald(["check-config", "--config", noTenant.config]);
  assert.equal(bad.code, 2, bad.stdout + bad.stderr);
  assert.match(bad.stderr, /^herald: .*tenant_id/);
  assert.equal(bad.stdout, "");
  const serve = await runHerald(["serve", "--config", noTenant.config], { timeoutMs: 10000 });
  assert.equal(serve.code, 2, serve.stdout + serve.stderr);
  assert.match(serve.stderr, /tenant_id/);

  // An unknown key is an error naming it, not a silent default.
  const typo = path.join(dir, "typo.toml");
  writeFileSync(typo, readFileSync(demoConfig, "utf8").replace("keepalive_seconds", "keepalive_secs"));
  const t2 = await runHerald(["check-config", "--config", typo]);
  assert.equal(t2.code, 2);
  assert.match(t2.stderr, /keepalive_secs/);

  // A lookup referencing a table that does not exist is caught against the database.
  const noTable = await writeConfig(dir, {
    name: "no-table.toml",
    lookup: "SELECT 1 FROM scanz WHERE id = :scan_pk AND tenant_id = :tenant_id",
  });
  const t3 = await runHerald(["check-config", "--config", noTable.config]);
  assert.equal(t3.code, 2);
  assert.match(t3.stderr, /scanz/);
});

test("herald check-config: the shipped example validates with its documented variables, without side effects", async (t) => {
  const { dir } = await prepareDemoDir(t);
  // The example as shipped (same bytes), in a directory of its own: its store path is relative to it.
  const here = path.join(dir, "example");
  mkdirSync(here);
  const example = path.join(here, "herald.example.toml");
  copyFileSync(new URL("../../config/herald.example.toml", import.meta.url), example);
  const env = {
    HERALD_PUBLISHER_KEY: "example-publisher-key-0123456789",
    HERALD_JWT_VERIFY_KEY: readFileSync(path.join(dir, "keys", "public.pem"), "utf8"),
  };
  const ok = await runHerald(["check-config", "--config", example], { env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /publisher_key = "\[set\]"  # from env HERALD_PUBLISHER_KEY\n/);
  assert.match(ok.stdout, /verify_key = "\[set\]"  # from env HERALD_JWT_VERIFY_KEY\n/);
  assert.match(ok.stdout, /configuration OK\n$/);
  assert.ok(!ok.stdout.includes(env.HERALD_PUBLISHER_KEY));
  // No side effects: the database file serve would create does not appear.
  assert.deepEqual(readdirSync(here), ["herald.example.toml"]);

  // Without the variables: exit 2 and a message naming the missing one and what it holds.
  const missing = await runHerald(["check-config", "--config", example], {
    env: { HERALD_PUBLISHER_KEY: "", HERALD_JWT_VERIFY_KEY: "" },
  });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /publisher_key_env: environment variable HERALD_PUBLISHER_KEY is not set \(or is empty\); set it to the key publishers send/);
  assert.deepEqual(readdirSync(here), ["herald.example.toml"]);
});

/** Start `herald serve` at debug level on a demo data dir, returning {env, server}. */
async function debugServer(t) {
  const { dir, token } = await prepareDemoDir(t);
  const { config, port, internalPort } = await writeConfig(dir, { log: "debug" });
  const env = envFor(dir, config, port, internalPort, token, null);
  const server = await startServe(t, config, port, internalPort);
  return { env, server, token };
}

/** Open a stream with a raw client and wait for stream-open; returns the raw state. */
async function openRaw(t, port, target, headers = {}) {
  const raw = rawGet(port, target, headers);
  defer(t, () => raw.destroy());
  await waitFor(() => raw.body.includes("event: stream-open\n") || raw.error, 10000, `stream-open on ${target}`);
  assert.equal(raw.error, null);
  assert.equal(raw.status, 200);
  assert.equal(raw.headers["referrer-policy"], "no-referrer");
  return raw;
}

test("the access_token value never appears in Herald's logs (debug level)", async (t) => {
  const { env, server, token } = await debugServer(t);
  const signature = token.split(".")[2];
  const target = new URL(env.streamUrl(SCAN)).pathname;

  await openRaw(t, env.port, `${target}?access_token=${token}`);
  await openRaw(t, env.port, `${target}?x=1&access_token=${encodeURIComponent(token)}&y=2`);
  // Refused ones too: a tampered token (401), and a valid token for another tenant's scan (404).
  const tampered = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
  const r401 = await fetch(`${env.baseUrl}${target}?access_token=${tampered}`);
  assert.equal(r401.status, 401);
  await r401.text();
  const r404 = await fetch(`${env.baseUrl}/api/v1/scans/0191e3a1-6c1e-7a3b-9f00-0000000000ff/event-stream?access_token=${token}`);
  assert.equal(r404.status, 404);
  await r404.text();

  // The access lines of the opened streams are there (so this test would see a leak)...
  await waitFor(() => (server.output.match(/stream opened .*access_token=\[redacted\]/g) ?? []).length >= 2, 5000, () => `two redacted 'stream opened' lines\n${server.describe()}`);
  // ...and of the refused requests, with their statuses and (for the 404) the caller.
  await waitFor(() => /info request .*access_token=\[redacted\]" status=401 /.test(server.output) && new RegExp(`info request .*access_token=\\[redacted\\]" status=404 duration_ms=\\d+ tenant=${DEMO_TENANT} user=${DEMO_USER} `).test(server.output), 5000, () => `the refusals' lines\n${server.describe()}`);
  const exit = await server.stop("SIGTERM");
  assert.equal(exit.code, 0, server.describe());
  // ...and no line carries the token, its signature, or the tampered one.
  for (const secret of [token, signature, tampered.split(".")[2]]) {
    assert.ok(!server.output.includes(secret), `a secret leaked into the logs:\n${server.describe()}`);
  }
});

// Regression guard: the gateway decodes query parameter names, so `?access%5Ftoken=<jwt>` is a token
// and must be redacted like `access_token`.
test("the access_token value never appears in the logs when the parameter name is percent-encoded", async (t) => {
  const { env, server, token } = await debugServer(t);
  const target = new URL(env.streamUrl(SCAN)).pathname;
  // `access%5Ftoken` decodes to `access_token`; if Herald accepts it as the token it must redact it too.
  const raw = rawGet(env.port, `${target}?access%5Ftoken=${token}`);
  defer(t, () => raw.destroy());
  await waitFor(() => raw.status !== null || raw.error, 10000, "a response");
  if (raw.status === 200) {
    await waitFor(() => /stream opened .*access%5Ftoken=\[redacted\]/.test(server.output), 5000, () => `the 'stream opened' line\n${server.describe()}`);
  }
  const exit = await server.stop("SIGTERM");
  assert.equal(exit.code, 0, server.describe());
  assert.ok(!server.output.includes(token.split(".")[2]), `the token leaked into the logs:\n${server.describe()}`);
});

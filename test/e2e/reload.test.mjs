// Reload without dropping streams: `herald serve` re-reads its configuration file on SIGHUP and on
// `herald reload` (POST /reload on the internal listener, with the publisher key). Keys, endpoints,
// CORS, limits and the TLS certificate change for new requests; open streams stay open unless the
// new configuration forbids them; a configuration that does not validate is refused with one log
// line and the running one keeps serving.
//
//   HERALD_BIN=build/default/herald node --test test/e2e/reload.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import tls from "node:tls";
import https from "node:https";

import {
  DEMO_SCANS,
  DEMO_TENANT,
  DEMO_USER,
  PREAMBLE,
  envFor,
  prepareDemoDir,
  publishOk,
  rawGet,
  runHerald,
  startServe,
  waitFor,
  writeConfig,
} from "./lib/herald.mjs";

const SCAN = DEMO_SCANS.gcp;
const V1 = `/api/v1/scans/${SCAN}/event-stream`;
const V2 = `/api/v2/scans/${SCAN}/events`;
const V2_ENDPOINT = `
[[endpoints]]
path = "/api/v2/scans/{scan_pk:uuid}/events"
channels = ["scan-progress:{tenant_id}:{scan_pk}"]
lookup = "SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id"
`;

function openssl(dir, ...args) {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** A fresh RSA key pair in dir/keys; returns the paths writeConfig takes. */
function rsaKeys(dir, name) {
  const priv = `keys/${name}-private.pem`;
  const pub = `keys/${name}-public.pem`;
  openssl(dir, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", priv);
  openssl(dir, "pkey", "-in", priv, "-pubout", "-out", pub);
  return { public: pub, private: priv };
}

/** A self-signed certificate for 127.0.0.1 with CN `name`: {cert, key} paths in dir. */
function certificate(dir, name) {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", `/CN=${name}`, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert);
  return { cert, key };
}

/** A JWT for the demo user, signed with the key `config` names. */
async function mint(config) {
  const r = await runHerald(["token", "--config", config, "--sub", DEMO_USER, "--tenant", DEMO_TENANT]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** The status a stream request gets (the connection is dropped once it is known). */
async function statusOf(port, target, token) {
  const s = rawGet(port, target, { Authorization: `Bearer ${token}` });
  try {
    await waitFor(() => s.status !== null || s.error, 15000, `an answer to ${target}`);
    return s.status;
  } finally {
    s.destroy();
  }
}

/** Opens a stream and waits for its preamble (stream-open). */
async function openStream(t, port, target, token) {
  const s = rawGet(port, target, { Authorization: `Bearer ${token}` });
  t.after(() => s.destroy());
  await waitFor(() => s.body === PREAMBLE, 15000, () => `stream-open on ${target}: status ${s.status} ${s.body.slice(0, 200)}`);
  return s;
}

test("reload: 1,000 streams survive a SIGHUP that rotates the JWT key and adds an endpoint; a broken config is refused", async (t) => {
  const { dir, token: oldToken } = await prepareDemoDir(t);
  const ports = undefined;
  const first = await writeConfig(dir, { server: { max_connections: 5000 }, ports });
  const env = envFor(dir, first.config, first.port, first.internalPort, oldToken, null);
  const server = await startServe(t, first.config, first.port, first.internalPort);

  // 1,000 open streams (HTTP/1.1, one connection each), authenticated with the old key.
  const streams = [];
  for (let i = 0; i < 1000; ++i) {
    const s = rawGet(env.port, V1, { Authorization: `Bearer ${oldToken}` });
    t.after(() => s.destroy());
    streams.push(s);
  }
  const opened = () => streams.filter((s) => s.body === PREAMBLE).length;
  await waitFor(() => opened() === 1000, 60000, () => `1,000 streams to open (${opened()} so far)`);

  // Rotate the key and add an endpoint, in place; SIGHUP.
  const newKeys = rsaKeys(dir, "rotated");
  await writeConfig(dir, {
    server: { max_connections: 5000 },
    ports: [env.port, env.internalPort],
    keys: newKeys,
    extra: V2_ENDPOINT,
  });
  server.child.kill("SIGHUP");
  await server.waitForOutput(/configuration reloaded from .*e2e\.toml: 2 endpoint\(s\)/, 20000);

  // Every stream is still open and receives what is published next.
  const event = { channel: env.channel(SCAN), event: "scan.progress", data: { scan_id: SCAN, checked: 1, total: 80 } };
  await publishOk(env, event);
  const expected = PREAMBLE + `event: scan.progress\ndata: {"scan_id":"${SCAN}","checked":1,"total":80}\n\n`;
  const received = () => streams.filter((s) => s.body === expected).length;
  await waitFor(() => received() === 1000, 30000, () => `1,000 streams to receive the event (${received()}; closed: ${streams.filter((s) => s.status === null || s.error).length})`);

  // New connects need the new key: the old one is refused (401), a token signed with the new one
  // opens streams on the old endpoint and on the new one.
  const newToken = await mint(first.config);
  assert.equal(await statusOf(env.port, V1, oldToken), 401);
  assert.equal(await statusOf(env.port, V2, oldToken), 401);
  const onV1 = await openStream(t, env.port, V1, newToken);
  const onV2 = await openStream(t, env.port, V2, newToken);

  // A configuration that does not validate is refused (one log line), and nothing changes.
  writeFileSync(first.config, readFileSync(first.config, "utf8") + "\n[events]\nbogus_key = 1\n");
  server.child.kill("SIGHUP");
  const refused = await server.waitForOutput(/reload refused, the running configuration stays: [^\n]*/, 20000);
  assert.match(refused[0], /e2e\.toml/);
  // `herald reload` says the same, exit 2.
  const cli = await runHerald(["reload", "--url", `http://127.0.0.1:${env.internalPort}/reload`, "--key", env.publisherKey]);
  assert.equal(cli.code, 2, cli.stdout + cli.stderr);
  assert.match(cli.stderr, /reload refused \(HTTP 422\): reload refused, the running configuration stays: .*events\.bogus_key/);
  // Listener addresses cannot change on reload, and the refusal says so.
  await writeConfig(dir, { server: { max_connections: 5000 }, ports: [env.port + 1, env.internalPort], keys: newKeys, extra: V2_ENDPOINT });
  const moved = await runHerald(["reload", "--config", first.config]);
  assert.equal(moved.code, 2);
  assert.match(moved.stderr, /server\.listen: cannot change on reload \(listener addresses and threads/);
  // Still serving with the reloaded configuration: the new key and endpoint, every stream.
  assert.equal(await statusOf(env.port, V1, oldToken), 401);
  await openStream(t, env.port, V2, newToken);
  await publishOk(env, { ...event, data: { scan_id: SCAN, checked: 2, total: 80 } });
  const second = expected + `event: scan.progress\ndata: {"scan_id":"${SCAN}","checked":2,"total":80}\n\n`;
  await waitFor(() => streams.every((s) => s.body === second), 30000, "every stream to receive the second event");
  await waitFor(() => onV2.body.endsWith(`"checked":2,"total":80}\n\n`) && onV1.body.endsWith(`"checked":2,"total":80}\n\n`), 10000, "the new streams to receive it");

  // `herald reload` with a valid configuration (the endpoint removed again): the streams on the
  // removed endpoint end with stream-error, the others stay.
  await writeConfig(dir, { server: { max_connections: 5000 }, ports: [env.port, env.internalPort], keys: newKeys });
  const ok = await runHerald(["reload", "--config", first.config]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /configuration reloaded from .*: 1 endpoint\(s\)/);
  await onV2.closed;
  assert.match(onV2.body, /event: stream-error\nid: error\ndata: \{"condition": "forbidden", "text": "The stream's endpoint or credential type is no longer configured; reconnect\."\}\n\n$/);
  assert.equal(await statusOf(env.port, V2, newToken), 404);
  await publishOk(env, { ...event, data: { scan_id: SCAN, checked: 3, total: 80 } });
  await waitFor(() => streams.every((s) => s.body.endsWith(`"checked":3,"total":80}\n\n`)), 30000, "the 1,000 streams to stay open");
  await waitFor(() => onV1.body.endsWith(`"checked":3,"total":80}\n\n`), 10000, "the v1 stream to stay open");
});

test("reload: a TLS certificate rotated in place is served to new connections; open streams continue", async (t) => {
  const { dir, token } = await prepareDemoDir(t);
  const a = certificate(dir, "herald-a");
  const b = certificate(dir, "herald-b");
  const live = { cert: path.join(dir, "live.pem"), key: path.join(dir, "live.key") };
  copyFileSync(a.cert, live.cert);
  copyFileSync(a.key, live.key);
  const { config, port, internalPort } = await writeConfig(dir, {
    server: { tls_certificate_file: live.cert, tls_private_key_file: live.key },
  });
  const env = envFor(dir, config, port, internalPort, token, null);
  await startServe(t, config, port, internalPort);

  const peer = () =>
    new Promise((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["h2", "http/1.1"] }, () => {
        const out = { cn: s.getPeerCertificate().subject.CN, alpn: s.alpnProtocol };
        s.destroy();
        resolve(out);
      });
      s.once("error", reject);
    });
  assert.deepEqual(await peer(), { cn: "herald-a", alpn: "h2" });

  // A stream over TLS (HTTP/1.1 here), open across the rotation.
  let body = "";
  const req = https.get({ host: "127.0.0.1", port, path: V1, ca: readFileSync(a.cert), headers: { Authorization: `Bearer ${token}` }, agent: false }, (res) => {
    res.setEncoding("utf8");
    res.on("data", (d) => (body += d));
  });
  t.after(() => req.destroy());
  await waitFor(() => body === PREAMBLE, 15000, () => `the TLS stream to open: ${body.slice(0, 100)}`);

  copyFileSync(b.cert, live.cert);
  copyFileSync(b.key, live.key);
  const r = await runHerald(["reload", "--config", config]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await peer(), { cn: "herald-b", alpn: "h2" });

  await publishOk(env, { channel: env.channel(SCAN), event: "scan.progress", data: { scan_id: SCAN, checked: 9, total: 80 } });
  await waitFor(() => body.endsWith(`"checked":9,"total":80}\n\n`), 10000, () => `the TLS stream to receive the event: ${body.slice(-120)}`);

  // A certificate that does not load is refused; the last good one stays.
  writeFileSync(live.cert, "not a certificate");
  const bad = await runHerald(["reload", "--config", config]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /reload refused/);
  assert.equal((await peer()).cn, "herald-b");
});

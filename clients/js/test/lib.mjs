// Test helpers for herald-client: Herald processes come from the repository's e2e helpers
// (test/e2e/lib/herald.mjs); this adds JWT minting with the demo keys and an event log to wait on.
import { createPrivateKey, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import * as herald from "../../../test/e2e/lib/herald.mjs";

export * from "../../../test/e2e/lib/herald.mjs";

const require = createRequire(import.meta.url);
function load(name) {
  try {
    return require(name);
  } catch (e) {
    throw new Error(
      `cannot load the npm package '${name}' from clients/js/node_modules: run ` +
        `'cd clients/js && npm ci --no-audit --no-fund' (or scripts/install-deps.sh --test) first (${e.message})`,
    );
  }
}
export const { EventSource } = load("eventsource");
export const playwright = () => load("playwright-core");

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/**
 * An RS256 JWT for the demo user and tenant, signed with the demo data dir's private key, valid
 * from `nbf` seconds ago for `ttl` seconds from now (a negative ttl gives an expired token).
 */
export function mintToken(dir, { ttl = 3600, sub = herald.DEMO_USER, tenant = herald.DEMO_TENANT, jti } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const key = createPrivateKey(readFileSync(path.join(dir, "keys", "private.pem")));
  const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
  const claims = {
    typ: "access",
    sub,
    tenant_id: tenant,
    iat: now - 120,
    nbf: now - 120,
    exp: now + ttl,
    aud: "herald-demo",
    iss: "herald-demo",
    jti: jti ?? `t${now}-${Math.random().toString(36).slice(2)}`,
  };
  const body = b64url(JSON.stringify(claims));
  const sig = sign("sha256", Buffer.from(`${header}.${body}`), key);
  return `${header}.${body}.${b64url(sig)}`;
}

/**
 * Lines the client's callbacks append; `until(pred)` resolves as soon as pred(lines) holds (checked
 * on every push), with a generous deadline only as a failure guard.
 */
export class Log {
  lines = [];
  #waiters = [];
  push(line) {
    this.lines.push(line);
    for (const w of [...this.#waiters]) {
      if (w.pred(this.lines)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(this.lines);
      }
    }
  }
  until(pred, what, timeoutMs = 30000) {
    if (pred(this.lines)) return Promise.resolve(this.lines);
    const p = new Promise((resolve) => this.#waiters.push({ pred, resolve }));
    return herald.withTimeout(p, timeoutMs, `${what}; log so far:\n  ${this.lines.join("\n  ")}`);
  }
  has(line) {
    return this.until((ls) => ls.includes(line), `'${line}'`);
  }
}

/** A demo data dir and `herald serve` on it with `extra` TOML appended; returns the env (+ proc). */
export async function serve(t, { extra = "", ports } = {}) {
  const { dir, token } = await herald.prepareDemoDir(t);
  const { config, port, internalPort } = await herald.writeConfig(dir, { extra, ports });
  const proc = await herald.startServe(t, config, port, internalPort);
  return herald.envFor(dir, config, port, internalPort, token, proc);
}

/** Open SSE streams on the server, from /metrics. */
export async function openStreams(env) {
  return (await herald.metrics(env.internalPort)).herald_connections;
}

/** The HTTP status a GET of `url` gets now; a stream (200) is aborted at once. */
export async function statusOf(url) {
  const controller = new AbortController();
  try {
    const res = await fetch(url, { signal: controller.signal });
    return res.status;
  } finally {
    controller.abort();
  }
}

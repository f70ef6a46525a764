// Helpers shared by Herald's end-to-end tests (node --test).
//
// Every test gets its own temp directory and its own `herald` processes on free loopback ports; the
// processes are killed when the test ends (t.after), and, as a last resort, when the test process
// exits. Nothing here sleeps for a fixed time as an assertion: waits poll with a bounded timeout.
import { spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import http from "node:http";
import os from "node:os";
import path from "node:path";

/** The `herald` binary under test: env HERALD_BIN (required). */
export function heraldBin() {
  const bin = process.env.HERALD_BIN;
  if (!bin) {
    throw new Error(
      "HERALD_BIN is not set: point it at the herald binary, e.g. " +
        "HERALD_BIN=$PWD/build/e2e/herald node --test test/e2e/",
    );
  }
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(`HERALD_BIN=${bin} is not an executable file`);
  }
  return bin;
}

// Fail at import time, before any test runs, when the binary is missing.
heraldBin();

export const DEMO_TENANT = "12646005-9067-4d2a-a098-8bb378604362";
export const DEMO_USER = "8b38e2eb-6689-4f1e-a4ba-95b275130200";
export const OTHER_TENANT = "0e0f4b3c-63a4-4a8f-9d1e-6f3c2a1b9e77";
export const DEMO_SCANS = {
  aws: "0191e3a1-6c1e-7a3b-9f00-000000000001",
  gcp: "0191e3a1-6c1e-7a3b-9f00-000000000002",
  azure: "0191e3a1-6c1e-7a3b-9f00-000000000003",
};
export const FOREIGN_SCAN = "0191e3a1-6c1e-7a3b-9f00-0000000000ff";

export const PREAMBLE = ":" + " ".repeat(2048) + "\n\n" + "event: stream-open\ndata:\n\n";

// ------------------------------------------------------------------------------------------------
// Cleanup

const stacks = new WeakMap();
/**
 * Run `fn` when test `t` ends (pass or fail), last registered first, like a stack: what was set up
 * later (a browser using a temp dir, a process using a config) is torn down before what it uses.
 */
export function defer(t, fn) {
  let stack = stacks.get(t);
  if (!stack) {
    stack = [];
    stacks.set(t, stack);
    t.after(async () => {
      const errors = [];
      while (stack.length) {
        try {
          await stack.pop()();
        } catch (e) {
          errors.push(e);
        }
      }
      if (errors.length) throw errors[0];
    });
  }
  stack.push(fn);
}

// ------------------------------------------------------------------------------------------------
// Processes

const live = new Set();
process.on("exit", () => {
  for (const p of live) {
    try {
      p.child.kill("SIGKILL");
    } catch {}
  }
});

/**
 * A running child process with its stdout/stderr captured.
 * `exited` resolves to {code, signal}.
 */
export class Proc {
  constructor(args, { cwd, env, name } = {}) {
    this.name = name ?? `herald ${args[0]}`;
    this.args = args;
    this.stdout = "";
    this.stderr = "";
    this.exit = null;
    this.child = spawn(heraldBin(), args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout.setEncoding("utf8");
    this.child.stderr.setEncoding("utf8");
    this.child.stdout.on("data", (d) => (this.stdout += d));
    this.child.stderr.on("data", (d) => (this.stderr += d));
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        live.delete(this);
        this.exit = { code, signal };
        resolve(this.exit);
      });
      this.child.on("error", (err) => {
        live.delete(this);
        this.exit = { code: null, signal: null, error: err };
        resolve(this.exit);
      });
    });
  }

  get output() {
    return this.stdout + this.stderr;
  }

  describe() {
    const tail = (s) => (s.length > 4000 ? "..." + s.slice(-4000) : s);
    return `${this.name} (${this.args.join(" ")})\n--- stdout ---\n${tail(this.stdout)}\n--- stderr ---\n${tail(this.stderr)}`;
  }

  /** Wait until stdout+stderr matches `re` (returns the match), failing if the process exits first. */
  async waitForOutput(re, timeoutMs = 15000) {
    return waitFor(
      () => {
        const m = this.output.match(re);
        if (m) return m;
        if (this.exit) throw new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before printing ${re}\n${this.describe()}`);
        return null;
      },
      timeoutMs,
      () => `${this.name} to print ${re}\n${this.describe()}`,
    );
  }

  /** Wait for exit; fail after timeoutMs. */
  async waitExit(timeoutMs = 15000) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${this.name} to exit\n${this.describe()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Send `signal` and wait for exit (SIGKILL after timeoutMs). */
  async stop(signal = "SIGTERM", timeoutMs = 10000) {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    try {
      return await this.waitExit(timeoutMs);
    } catch (e) {
      this.child.kill("SIGKILL");
      await this.exited;
      throw e;
    }
  }
}

/** Start `herald ...args` and kill it when the test `t` ends. */
export function startHerald(t, args, opts = {}) {
  const p = new Proc(args, opts);
  defer(t, async () => {
    if (!p.exit) {
      p.child.kill("SIGKILL");
      await p.exited;
    }
  });
  return p;
}

/** Run `herald ...args` to completion: {code, signal, stdout, stderr}. */
export async function runHerald(args, { timeoutMs = 20000, ...opts } = {}) {
  const p = new Proc(args, opts);
  try {
    const exit = await p.waitExit(timeoutMs);
    return { ...exit, stdout: p.stdout, stderr: p.stderr };
  } finally {
    if (!p.exit) {
      p.child.kill("SIGKILL");
      await p.exited;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Waiting

/** Poll `fn` (sync or async) until it returns a truthy value; throw after timeoutMs. */
export async function waitFor(fn, timeoutMs, what, intervalMs = 25) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e && /exited/.test(e.message)) throw e;
      lastErr = e;
    }
    if (Date.now() > deadline) {
      let desc;
      try {
        desc = await (typeof what === "function" ? what() : what);
      } catch (e) {
        desc = `(description failed: ${e.message})`;
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${desc}${lastErr ? `\nlast error: ${lastErr.stack ?? lastErr}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `promise`, or a rejection naming `what` after timeoutMs. */
export async function withTimeout(promise, timeoutMs, what) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------------------------------------
// Temp dirs and ports

/** A fresh temp dir, removed after the test unless HERALD_E2E_KEEP=1 (or the test failed). */
export function tempDir(t, prefix = "herald-e2e-") {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  defer(t, () => {
    if (process.env.HERALD_E2E_KEEP) {
      t.diagnostic(`kept ${dir}`);
      return;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** `n` distinct free TCP ports on 127.0.0.1 (bound, then released). */
export async function freePorts(n = 2) {
  const servers = [];
  try {
    for (let i = 0; i < n; ++i) {
      const s = net.createServer();
      await new Promise((resolve, reject) => {
        s.once("error", reject);
        s.listen(0, "127.0.0.1", resolve);
      });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port, timeoutMs = 10000) {
  return waitFor(
    () =>
      new Promise((resolve) => {
        const s = net.connect(port, "127.0.0.1");
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      }),
    timeoutMs,
    `a listener on 127.0.0.1:${port}`,
  );
}

// ------------------------------------------------------------------------------------------------
// Herald environments

/**
 * `herald demo` in a fresh temp dir. Resolves when the demo printed its banner.
 * Returns {dir, config, port, internalPort, token, publisherKey, proc, baseUrl, streamUrl(scan)}.
 * With stepMs very large the simulated publisher stays quiet (it only emits scan.start at start-up).
 */
export async function startDemo(t, { stepMs = 3_600_000, dir } = {}) {
  dir ??= tempDir(t);
  const [port, internalPort] = await freePorts(2);
  const proc = startHerald(
    t,
    ["demo", "--data-dir", dir, "--port", String(port), "--internal-port", String(internalPort), "--step-ms", String(stepMs)],
    { name: "herald demo" },
  );
  await proc.waitForOutput(/Press Ctrl-C to stop\./, 20000);
  const tok = proc.stdout.match(/Authorization: Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)"/);
  if (!tok) throw new Error(`no dev token in the demo banner\n${proc.describe()}`);
  return envFor(dir, path.join(dir, "herald.toml"), port, internalPort, tok[1], proc);
}

/**
 * Prepare a data dir with `herald demo` (keys, publisher.key, seeded herald.db), then stop the demo.
 * Returns {dir, token}: use writeConfig() + `herald serve` on it.
 */
export async function prepareDemoDir(t) {
  const env = await startDemo(t);
  const exit = await env.proc.stop("SIGTERM");
  if (exit.code !== 0) throw new Error(`herald demo exited ${JSON.stringify(exit)}\n${env.proc.describe()}`);
  return { dir: env.dir, token: env.token, publisherKey: env.publisherKey };
}

/**
 * Write `name` (default e2e.toml) into a demo data dir: the demo's keys (or `keys` {public, private},
 * paths relative to the dir), store and endpoint, fresh ports (or `ports`), and the extra [server] /
 * [log] settings given; `extra` is appended verbatim (more tables).
 * Returns {config, port, internalPort}.
 */
export async function writeConfig(
  dir,
  { name = "e2e.toml", server = {}, log = "info", lookup, ports, extra = "", keys = { public: "keys/public.pem", private: "keys/private.pem" } } = {},
) {
  const [port, internalPort] = ports ?? (await freePorts(2));
  const serverExtra = Object.entries(server)
    .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
    .join("\n");
  const toml = `# Written by Herald's e2e tests.
[server]
listen = "127.0.0.1:${port}"
keepalive_seconds = 20
${serverExtra}

[internal]
listen = "127.0.0.1:${internalPort}"
publisher_key_file = "publisher.key"

[auth]
algorithm = "RS256"
verify_key_file = "${keys.public}"
signing_key_file = "${keys.private}"
audience = "herald-demo"
issuer = "herald-demo"

[store]
driver = "sqlite"
path = "herald.db"

[bus]
kind = "local"

[log]
level = "${log}"

[[endpoints]]
path = "/api/v1/scans/{scan_pk:uuid}/event-stream"
channels = ["scan-progress:{tenant_id}:{scan_pk}"]
lookup = ${JSON.stringify(lookup ?? "SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id")}
${extra}`;
  const config = path.join(dir, name);
  writeFileSync(config, toml);
  return { config, port, internalPort };
}

/** `herald serve --config config`, resolved once both listeners accept connections. */
export async function startServe(t, config, port, internalPort) {
  const proc = startHerald(t, ["serve", "--config", config], { name: "herald serve" });
  await waitFor(
    async () => {
      if (proc.exit) throw new Error(`herald serve exited (${JSON.stringify(proc.exit)})\n${proc.describe()}`);
      return (await tcpOpen(port)) && (await tcpOpen(internalPort));
    },
    15000,
    () => `herald serve to listen on ${port} and ${internalPort}\n${proc.describe()}`,
  );
  return proc;
}

function tcpOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export function envFor(dir, config, port, internalPort, token, proc) {
  const publisherKey = readFileSync(path.join(dir, "publisher.key"), "utf8").trim();
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    dir,
    config,
    port,
    internalPort,
    token,
    publisherKey,
    proc,
    baseUrl,
    streamUrl: (scan) => `${baseUrl}/api/v1/scans/${scan}/event-stream`,
    channel: (scan, tenant = DEMO_TENANT) => `scan-progress:${tenant}:${scan}`,
    publish: (body) => publish(internalPort, publisherKey, body),
  };
}

// ------------------------------------------------------------------------------------------------
// HTTP

/** POST /publish on the internal listener. Resolves to {status, body}. */
export async function publish(internalPort, key, body) {
  const res = await fetch(`http://127.0.0.1:${internalPort}/publish`, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.text() };
}

/** Publish and assert 200 {"published": n}. */
export async function publishOk(env, body) {
  const r = await env.publish(body);
  const n = body.events ? body.events.length : 1;
  if (r.status !== 200 || r.body !== `{"published":${n}}`) {
    throw new Error(`publish answered ${r.status} ${r.body}`);
  }
  return r;
}

/**
 * A raw GET over a plain socket that records every byte until the server closes.
 * Returns {chunks, text(), closed (promise), destroy()}.
 */
export function rawGet(port, target, headers = {}) {
  const req = http.request({ host: "127.0.0.1", port, path: target, headers, agent: false });
  const state = { status: null, headers: null, body: "", closed: null, error: null };
  state.closed = new Promise((resolve) => {
    req.on("response", (res) => {
      state.status = res.statusCode;
      state.headers = res.headers;
      res.setEncoding("utf8");
      res.on("data", (d) => (state.body += d));
      res.on("end", () => resolve(state));
      res.on("error", () => resolve(state));
      res.on("aborted", () => resolve(state));
    });
    req.on("error", (e) => {
      state.error = e;
      resolve(state);
    });
  });
  req.end();
  state.destroy = () => req.destroy();
  return state;
}

/** The internal listener's Prometheus metrics as {name: number} (unlabelled series only). */
export async function metrics(internalPort) {
  const res = await fetch(`http://127.0.0.1:${internalPort}/metrics`);
  const out = {};
  for (const line of (await res.text()).split("\n")) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

#!/usr/bin/env python3
"""Herald benchmark driver. Run it through bench/run.sh (which builds the tools first).

Every run: the server pinned to CPU 0, the load (loadgen processes, publisher, Redis) pinned to CPU 1,
loopback only, bounded in time and count. Each run appends one JSON line to
bench/results/<date>/results.jsonl; bench/lib/report.py turns the file into summary.md and PNG plots.

Servers: herald (if a built binary is found), nchan (nginx + libnginx-mod-nchan), floor (herald-floor).
Scenarios: idle, fanout, spread, connect, connect-pg, bus, replay (see bench/README.md).
Python 3 standard library only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "0")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "1")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

PORTS = dict(herald=18080, herald_internal=18081, herald2=18082, herald2_internal=18083,
             nchan=18100, floor=18090, floor_publish=18091, redis=18379)
EVENT = "bench.progress"
EVENT_BYTES = 220          # encoded SSE frame size the publisher pads to
PER_PROC = int(os.environ.get("BENCH_CONNS_PER_PROC", "15000"))  # one process holds < 20,000 fds
H2_STREAMS_PER_CONN = 100  # h2fanout: streams per HTTP/2 connection (Herald's default stream limit)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ /proc
def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all threads), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return 0.0
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_mem_kib(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def core_ticks() -> dict:
    """Per-core /proc/stat fields (ticks)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                p = line.split()
                v = [int(x) for x in p[1:]]
                names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
                out[p[0]] = dict(zip(names, v))
    return out


def busy(t: dict) -> int:
    return t["user"] + t["nice"] + t["system"] + t["irq"] + t["softirq"]


def tcp_mem_pages() -> int:
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    p = line.split()
                    return int(p[p.index("mem") + 1])
    except (OSError, ValueError):
        pass
    return 0


def ksoftirqd_pid(cpu: str) -> int:
    for d in glob.glob("/proc/[0-9]*/comm"):
        try:
            if open(d).read().strip() == f"ksoftirqd/{cpu}":
                return int(d.split("/")[2])
        except OSError:
            pass
    return 0


class Window:
    """CPU accounting over a measurement window.

    server_cpu = the server processes' utime+stime (/proc/PID/stat) + ksoftirqd/<server core>'s. Loopback
    delivery (the receiving half of every TCP segment the server sends) runs in softirq on the sending core:
    in the server's own context it is charged to the server's stime; when the kernel defers it under load it
    runs in ksoftirqd on that core, which is charged to ksoftirqd — work the server caused, so it is counted.
    Whatever else kept each core busy (other processes on a shared machine) is reported as contention."""

    def __init__(self, server_pids: list[int], load_pids: list[int] | None = None):
        self.server_pids = server_pids
        self.load_pids = load_pids or []
        self.ksoft = ksoftirqd_pid(SERVER_CPU)
        self.ksoft_load = ksoftirqd_pid(LOAD_CPU)
        self.restart()

    def _snap(self) -> tuple:
        return (time.monotonic(), sum(proc_cpu_s(p) for p in self.server_pids),
                proc_cpu_s(self.ksoft) if self.ksoft else 0.0,
                proc_cpu_s(self.ksoft_load) if self.ksoft_load else 0.0,
                core_ticks(), sum(proc_cpu_s(p) for p in self.load_pids))

    def restart(self) -> None:
        """(Re)starts the window now, e.g. when the floor actually starts publishing."""
        self.t0, self.cpu0, self.k0, self.kl0, self.cores0, self.load0 = self._snap()
        self.mark_snap = None

    def mark(self) -> None:
        """Remembers 'now' as the window's end (called whenever deliveries progressed), so the idle
        seconds spent confirming that deliveries stopped are left out."""
        self.mark_snap = self._snap()

    def load_cpu_s(self) -> float:
        """CPU of the load processes given to the window, over the window (up to the mark)."""
        end = self.mark_snap[5] if self.mark_snap else sum(proc_cpu_s(p) for p in self.load_pids)
        return end - self.load0

    def close(self, load_cpu_s: float = 0.0) -> dict:
        t1, cpu1, k1, kl1, cores1, _ = self.mark_snap or self._snap()
        wall = t1 - self.t0
        sc, lc = f"cpu{SERVER_CPU}", f"cpu{LOAD_CPU}"
        d = lambda core, k: (cores1[core][k] - self.cores0[core][k]) / CLK_TCK
        server_proc = cpu1 - self.cpu0
        ksoft = k1 - self.k0
        s_busy = (busy(cores1[sc]) - busy(self.cores0[sc])) / CLK_TCK
        l_busy = (busy(cores1[lc]) - busy(self.cores0[lc])) / CLK_TCK
        other0 = max(0.0, s_busy - server_proc - ksoft)
        other1 = max(0.0, l_busy - load_cpu_s - (kl1 - self.kl0))
        r = lambda v: round(v, 3)
        return dict(wall_s=r(wall), server_proc_cpu_s=r(server_proc), server_ksoftirqd_s=r(ksoft),
                    server_cpu_s=r(server_proc + ksoft),
                    server_core_softirq_s=r(d(sc, "softirq")),
                    server_core_busy=r(s_busy / wall) if wall else 0,
                    server_core_other=r(other0 / wall) if wall else 0,
                    server_core_steal=r(d(sc, "steal") / wall) if wall else 0,
                    load_cpu_s=r(load_cpu_s), load_ksoftirqd_s=r(kl1 - self.kl0),
                    load_core_busy=r(l_busy / wall) if wall else 0,
                    load_core_other=r(other1 / wall) if wall else 0)


def contended(w: dict) -> bool:
    """Others took more than 10 % of the server core while it was saturated (others merely using the idle
    time of a rate-limited run are harmless)."""
    return w["server_core_other"] > 0.1 and w["server_core_busy"] > 0.95


def load_bound(w: dict) -> bool:
    """Our load processes (loadgen, publisher, Redis, their softirq) kept the load core more than 85 % busy:
    the load generator may have been the bottleneck."""
    return w["load_core_busy"] - w["load_core_other"] > 0.85


def wait_quiet(max_wait: float, threshold: float = 0.3) -> float:
    """Waits (at most max_wait s) until other work on the machine uses less than `threshold` of a core.
    Returns the last measured load (cores)."""
    deadline = time.monotonic() + max_wait
    warned = False
    while True:
        a = core_ticks()
        time.sleep(1.0)
        b = core_ticks()
        load = sum(busy(b[c]) - busy(a[c]) for c in b) / CLK_TCK
        if load < threshold or time.monotonic() >= deadline:
            if load >= threshold:
                log(f"machine still busy ({load:.2f} cores used by others); measuring anyway (flagged)")
            return round(load, 2)
        if not warned:
            log(f"machine busy ({load:.2f} cores used by others, e.g. a compile); waiting up to {max_wait:.0f}s")
            warned = True


def wait_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


NICE = os.environ.get("BENCH_NICE", "-20")


def pinned(cpu: str, argv: list[str]) -> list[str]:
    """Pins to one core (taskset)."""
    return ["taskset", "-c", cpu] + argv


def spawn(argv: list[str], **kw) -> subprocess.Popen:
    """Starts a bench process in its own session, hence its own scheduler autogroup, and gives that
    autogroup a negative nice (BENCH_NICE, root only): with sched_autogroup on, a plain `nice` only ranks
    processes inside one session, so a compile in another session would still take half of our core.
    Whatever contention remains is measured and flagged per run."""
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    boost(p.pid)
    return p


def boost(pid: int) -> None:
    if not NICE or NICE == "0" or not pid:
        return
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(NICE)
    except OSError:
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, pid, int(NICE))
    except OSError:
        pass


def terminate(p: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


# ------------------------------------------------------------------------------------------- tools
class Tools:
    def __init__(self, bindir: Path):
        self.dir = bindir
        for t in ("loadgen", "publisher", "floor", "jwtmint"):
            p = bindir / f"herald-{t}"
            if not p.exists():
                sys.exit(f"missing {p}: build the bench tools first (bench/run.sh does)")
            setattr(self, t, str(p))


class LoadGroup:
    """N streams spread over several loadgen processes (each below the per-process fd cap), on CPU 1."""

    def __init__(self, tools: Tools, work: Path, name: str, n: int, port: int, path: str, channels: int,
                 duration: float, open_on: str = "event", token: str | None = None,
                 token_files: list[str] | None = None, mode: str = "stream", per_proc: int = PER_PROC,
                 extra: list[str] | None = None):
        self.tools, self.work, self.name = tools, work, name
        self.procs: list[subprocess.Popen] = []
        self.outs, self.readies, self.stats = [], [], []
        if mode == "connect":
            nproc = len(token_files) if token_files else 1
            sizes = [n] * nproc
        else:
            nproc = max(1, -(-n // per_proc))
            sizes = [n // nproc + (1 if i < n % nproc else 0) for i in range(nproc)]
        base = 0
        for i, size in enumerate(sizes):
            out = work / f"{name}.lg{i}.json"
            ready = work / f"{name}.lg{i}.ready"
            stats = work / f"{name}.lg{i}.stats"
            for f in (out, ready, stats):
                f.unlink(missing_ok=True)
            argv = [tools.loadgen, "--port", str(port), "--path", path, "--channels", str(channels),
                    "--connections", str(size), "--index-base", str(base), "--duration", str(duration),
                    "--open-on", open_on, "--mode", mode, "--out", str(out), "--ready-file", str(ready),
                    "--stats-file", str(stats), "--label", f"{name}.{i}",
                    "--src-first", str(2 + (i * 50) % 200)]
            if token:
                argv += ["--token", token]
            if token_files:
                argv += ["--token-file", token_files[i]]
            argv += extra or []
            self.procs.append(spawn(pinned(LOAD_CPU, argv), stderr=open(work / f"{name}.lg{i}.err", "w")))
            self.outs.append(out)
            self.readies.append(ready)
            self.stats.append(stats)
            base += size

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(r.exists() for r in self.readies):
                return True
            if all(p.poll() is not None for p in self.procs):
                return False
            time.sleep(0.05)
        return False

    def ready_opened(self) -> int:
        n = 0
        for r in self.readies:
            try:
                n += json.loads(r.read_text()).get("opened", 0)
            except (OSError, ValueError):
                pass
        return n

    def progress(self) -> dict:
        tot = dict(opened=0, events=0, failed=0)
        for s in self.stats:
            try:
                d = json.loads(s.read_text())
                for k in tot:
                    tot[k] += d.get(k, 0)
            except (OSError, ValueError):
                pass
        return tot

    def wait_settled(self, expected: int | None, quiet_s: float = 1.5, cap_s: float = 30.0,
                     window: "Window | None" = None) -> None:
        """Returns when the received-event count reached `expected` or stopped moving for quiet_s. The
        window (if given) is marked at every progress, so it ends at the last delivery seen."""
        deadline = time.monotonic() + cap_s
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            ev = self.progress()["events"]
            if expected is not None and ev >= expected:
                time.sleep(0.3)   # the stats file lags by up to 250 ms
                if window:
                    window.mark()
                return
            if ev != last:
                last, last_change = ev, time.monotonic()
                if window:
                    window.mark()
            elif time.monotonic() - last_change >= quiet_s:
                return
            time.sleep(0.1)

    def cpu_s(self) -> float:
        return sum(proc_cpu_s(p) for p in self.pids())

    def wait_exit(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass

    def stop(self) -> dict:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        files = [str(o) for o in self.outs if o.exists() and o.stat().st_size > 0]
        if not files:
            return {}
        r = subprocess.run([self.tools.loadgen, "--merge"] + files, capture_output=True, text=True)
        try:
            return json.loads(r.stdout)
        except ValueError:
            log(f"loadgen merge failed: {r.stderr.strip()}")
            return {}


def run_publisher(tools: Tools, work: Path, name: str, argv: list[str]) -> tuple[subprocess.Popen, Path]:
    out = work / f"{name}.pub.json"
    out.unlink(missing_ok=True)
    p = spawn(pinned(LOAD_CPU, [tools.publisher, "--out", str(out), "--label", name] + argv),
              stderr=open(work / f"{name}.pub.err", "w"))
    return p, out


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return {}


# ------------------------------------------------------------------------------------------ servers
class Server:
    name = "?"
    open_on = "event"
    sub_path = "/bench/c{i}"
    publishes = True      # has a publish API (the floor publishes by itself)
    auth = False

    def start(self, **kw) -> None: ...
    def stop(self) -> None: ...
    def pids(self) -> list[int]: return []
    def publisher_args(self) -> list[str]: return []


class NchanServer(Server):
    name = "nchan"
    open_on = "headers"   # nchan sends ": hi" after the headers, no stream-open event
    sub_path = "/bench/c{i}"

    def __init__(self, work: Path):
        self.dir = work / "nchan"
        self.worker = 0
        self.script = BENCH / "nchan" / "nchan.sh"

    @staticmethod
    def available() -> tuple[bool, str]:
        if not shutil.which("nginx"):
            return False, "nginx not installed"
        if not glob.glob("/usr/lib/nginx/modules/ngx_nchan_module.so") and \
           not glob.glob("/usr/share/nginx/modules/ngx_nchan_module.so"):
            return False, "libnginx-mod-nchan not installed"
        return True, ""

    def start(self, redis_url: str = "", **kw) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        r = subprocess.run([str(self.script), "start", str(self.dir), str(PORTS["nchan"]), SERVER_CPU, redis_url],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nchan start failed: {r.stderr.strip()}")
        self.worker = int(r.stdout.strip().splitlines()[-1])
        boost(self.worker)   # nginx daemonized into its own session: boost the worker's autogroup
        if not wait_port(PORTS["nchan"]):
            raise RuntimeError("nchan did not listen")

    def stop(self) -> None:
        subprocess.run([str(self.script), "stop", str(self.dir)], capture_output=True)

    def pids(self) -> list[int]:
        return [self.worker]

    def publisher_args(self) -> list[str]:
        return ["--mode", "nchan", "--port", str(PORTS["nchan"]), "--channel-template", "c{i}"]


class FloorServer(Server):
    name = "floor"
    publishes = False

    def __init__(self, tools: Tools, work: Path, http: bool = False):
        self.tools, self.work = tools, work
        self.proc: subprocess.Popen | None = None
        self.out = work / "floor.json"
        # HTTP floor: events arrive as POSTs from herald-publisher (its `--publish-port` mode), so the
        # floor also pays the request read and the response write that one event per POST costs.
        self.http = http
        self.publishes = http

    def start(self, subscribers: int = 0, channels: int = 1, rate: float = -1, batch: int = 1,
              duration: float = 10, linger: float = 60, flush_ms: float = 50, **kw) -> None:
        self.out.unlink(missing_ok=True)
        argv = [self.tools.floor, "--port", str(PORTS["floor"]), "--subscribers", str(subscribers),
                "--channels", str(channels), "--rate", str(rate), "--batch", str(batch),
                "--duration", str(duration), "--linger", str(linger), "--wait", "60", "--start-delay", "1",
                "--flush-ms", str(flush_ms), "--event-bytes", str(EVENT_BYTES), "--out", str(self.out)]
        if self.http:
            argv += ["--publish-port", str(PORTS["floor_publish"])]
        self.proc = spawn(pinned(SERVER_CPU, argv), stderr=open(self.work / "floor.err", "w"))
        if not wait_port(PORTS["floor"], proc=self.proc):
            raise RuntimeError("floor did not listen")

    def wait_publishing(self, timeout: float) -> bool:
        """True once the floor says it started publishing (its stderr)."""
        deadline = time.monotonic() + timeout
        err = self.work / "floor.err"
        while time.monotonic() < deadline:
            try:
                if "publishing to" in err.read_text():
                    return True
            except OSError:
                pass
            if self.proc and self.proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    def result(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.out.exists() and self.out.stat().st_size > 0:
                return read_json(self.out)
            if self.proc and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        return read_json(self.out)

    def stop(self) -> None:
        terminate(self.proc)

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def publisher_args(self) -> list[str]:
        return ["--mode", "herald", "--port", str(PORTS["floor_publish"]), "--channel-template", "c{i}"]


class HeraldServer(Server):
    name = "herald"
    open_on = "event"
    sub_path = "/bench/c{i}"
    auth = True

    def __init__(self, binary: str, tools: Tools, work: Path, cache: Path, index: int = 1):
        self.bin, self.tools = binary, tools
        # Keys, tenant and users persist in the cache (so pre-minted tokens stay valid across invocations);
        # the database is fresh for every invocation and shared by its Herald runs.
        self.root = cache / "herald-state"
        self.data = work / "herald-data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.dir = work / f"herald{index}"
        self.index = index
        self.port = PORTS["herald"] if index == 1 else PORTS["herald2"]
        self.internal = PORTS["herald_internal"] if index == 1 else PORTS["herald2_internal"]
        self.proc: subprocess.Popen | None = None
        self.tenant = ""
        self.users: list[str] = []
        self.key = ""
        self.token = ""
        self._prepare_state()

    @staticmethod
    def find_binary() -> str | None:
        env = os.environ.get("HERALD_BIN")
        if env and os.access(env, os.X_OK):
            return env
        # Our own Release build first, then the default preset (RelWithDebInfo), then the newest other build.
        cands = [ROOT / "build" / "bench" / "herald", ROOT / "build" / "default" / "herald"]
        cands += [Path(p) for p in sorted(glob.glob(str(ROOT / "build" / "**" / "herald"), recursive=True),
                                              key=lambda p: -os.path.getmtime(p))]
        for c in cands:
            if c.is_file() and os.access(c, os.X_OK):
                return str(c)
        return None

    def _prepare_state(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        meta = self.root / "state.json"
        if meta.exists():
            d = json.loads(meta.read_text())
            self.tenant, self.users, self.key = d["tenant"], d["users"], d["key"]
        else:
            self.tenant = str(uuid.uuid4())
            self.users = [str(uuid.uuid4()) for _ in range(100)]
            self.key = secrets.token_hex(32)
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                            "-out", str(self.root / "private.pem")], check=True, capture_output=True)
            subprocess.run(["openssl", "pkey", "-in", str(self.root / "private.pem"), "-pubout",
                            "-out", str(self.root / "public.pem")], check=True, capture_output=True)
            (self.root / "users.txt").write_text("\n".join(self.users) + "\n")
            meta.write_text(json.dumps(dict(tenant=self.tenant, users=self.users, key=self.key)))
        self.token = self.mint(1)[0]

    def mint(self, count: int, start: int = 0) -> list[str]:
        r = subprocess.run([self.tools.jwtmint, "--key", str(self.root / "private.pem"), "--tenant", self.tenant,
                            "--sub-file", str(self.root / "users.txt"), "--count", str(count), "--ttl", "14400",
                            "--start", str(start), "--threads", "2"], capture_output=True, text=True, check=True)
        return r.stdout.split()

    def config(self, bus: str, redis_port: int) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        tpl = (BENCH / "herald" / "herald.toml.in").read_text()
        bus_conf = 'kind = "local"'
        if bus == "redis":
            bus_conf = f'kind = "redis"\nmode = "native"\nhost = "127.0.0.1"\nport = {redis_port}'
        text = (tpl.replace("@PORT@", str(self.port)).replace("@INTERNAL_PORT@", str(self.internal))
                .replace("@KEY@", self.key).replace("@KEYS@", str(self.root)).replace("@DATA@", str(self.data))
                .replace("@BUS@", bus_conf))
        cfg = self.dir / "herald.toml"
        cfg.write_text(text)
        return cfg

    def seed(self, cfg: Path) -> None:
        """One tenant, 100 users, each a member: `herald member add` (creates user and tenant), or plain
        SQL through sqlite3 if this Herald has no such command."""
        flag = self.data / "seeded"
        if flag.exists():
            return
        ok = True
        for i, u in enumerate(self.users):
            r = subprocess.run([self.bin, "member", "add", "--config", str(cfg), "--user", u, "--tenant",
                                self.tenant, "--email", f"bench{i}@bench.invalid"], capture_output=True, text=True)
            if r.returncode != 0:
                log(f"herald member add failed ({r.stderr.strip()[:200]}); seeding with sqlite3")
                ok = False
                break
        if not ok:
            db = self.data / "herald.db"
            sql = ["PRAGMA busy_timeout = 10000;", "BEGIN;",
                   f"INSERT OR IGNORE INTO tenants (id, name) VALUES ('{self.tenant}', 'bench');"]
            for i, u in enumerate(self.users):
                sql.append(f"INSERT OR IGNORE INTO users (id, email, is_active) "
                           f"VALUES ('{u}', 'bench{i}@bench.invalid', 1);")
                sql.append(f"INSERT OR IGNORE INTO memberships (id, user_id, tenant_id, role) "
                           f"VALUES ('{uuid.uuid4()}', '{u}', '{self.tenant}', 'member');")
            sql.append("COMMIT;")
            r = subprocess.run(["sqlite3", str(db)], input="\n".join(sql), capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"seeding the Herald store failed: {r.stderr.strip()}")
        flag.write_text("ok\n")

    def start(self, bus: str = "local", redis_port: int = PORTS["redis"], **kw) -> None:
        cfg = self.config(bus, redis_port)
        self.seed(cfg)
        self.proc = spawn(pinned(SERVER_CPU, [self.bin, "serve", "--config", str(cfg)]),
                                     stdout=open(self.dir / "herald.out", "a"),
                                     stderr=open(self.dir / "herald.err", "a"))
        if not (wait_port(self.port, proc=self.proc) and wait_port(self.internal, proc=self.proc)):
            err = (self.dir / "herald.err").read_text()[-2000:]
            terminate(self.proc)
            raise RuntimeError(f"herald did not start: {err}")

    def stop(self) -> None:
        terminate(self.proc, 15)

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def publisher_args(self) -> list[str]:
        return ["--mode", "herald", "--port", str(self.internal), "--key", self.key,
                "--channel-template", f"bench:{self.tenant}:c{{i}}"]


# The connect-pg scenario: Herald with the Prowler API's profile on either store, the same tokens, users,
# tenant, scans and lookup, so the stores compare like for like.
BENCH_PASSWORD = "pbkdf2_sha256$870000$heraldbenchsalt$bmVuY2htYXJrLXBhc3N3b3JkLWhhc2g="
SCAN_UUID_PREFIX = "00000000-0000-4000-8000-"
CONNECT_PG_SCANS = 1000


def scan_uuid(i: int) -> str:
    return f"{SCAN_UUID_PREFIX}{i:012d}"


class BenchPostgres:
    """A throwaway PostgreSQL 15 with the Prowler API's schema, row-level security and roles
    (scripts/test-postgres.sh), pinned to the load core like Redis: the database is another machine's
    work in a deployment, so the server core measures Herald alone. Seeded with the bench tenant, its
    100 users (one Django password hash) and members, and 1,000 scans."""

    def __init__(self, work: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="herald-bench-pg-", dir="/tmp"))
        self.port = 0

    def start(self, tenant: str, users: list[str]) -> None:
        r = subprocess.run(["taskset", "-c", LOAD_CPU, str(ROOT / "scripts" / "test-postgres.sh"), "start",
                            str(self.dir)], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {r.stderr.strip()[-1500:]}")
        self.port = int(r.stdout.split("HERALD_PG_PORT=")[1].split()[0])
        provider = str(uuid.uuid4())
        sql = [f"INSERT INTO tenants (id, inserted_at, updated_at, name) VALUES ('{tenant}', now(), now(), 'bench');",
               f"INSERT INTO providers (id, inserted_at, updated_at, is_deleted, provider, uid, alias, connected, "
               f"tenant_id) VALUES ('{provider}', now(), now(), false, 'aws', 'bench', 'bench', true, '{tenant}');"]
        for i, u in enumerate(users):
            sql.append(f"INSERT INTO users (id, name, password, email, company_name, is_active, date_joined) "
                       f"VALUES ('{u}', 'bench', '{BENCH_PASSWORD}', 'bench{i}@bench.invalid', 'bench', true, now());")
            sql.append(f"INSERT INTO memberships (id, role, date_joined, tenant_id, user_id) "
                       f"VALUES ('{uuid.uuid4()}', 'member', now(), '{tenant}', '{u}');")
        sql.append(f"INSERT INTO scans (id, name, trigger, state, unique_resource_count, progress, scanner_args, "
                   f"inserted_at, updated_at, provider_id, tenant_id) SELECT ('{SCAN_UUID_PREFIX}' || "
                   f"lpad(i::text, 12, '0'))::uuid, 'bench', 'manual', 'executing', 0, 0, '{{}}', now(), now(), "
                   f"'{provider}', '{tenant}' FROM generate_series(0, {CONNECT_PG_SCANS - 1}) AS i;")
        sql.append("ANALYZE;")
        env = dict(os.environ, PGPASSWORD="prowler-admin-pw")
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", "prowler_admin", "-d", "prowler_db", "-f", "-"], input="\n".join(sql),
                           capture_output=True, text=True, env=env, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"seeding PostgreSQL failed: {r.stderr.strip()[-1500:]}")

    def stop(self) -> None:
        subprocess.run([str(ROOT / "scripts" / "test-postgres.sh"), "stop", str(self.dir)], capture_output=True,
                       timeout=120)


class StoreHerald(HeraldServer):
    """Herald for connect-pg: `[auth] profile = "prowler"` (RS256 with the API's claims, the user row with
    its password stamp), the membership and an RLS-scoped scans lookup per connect, on `store`
    ("sqlite" or "postgres"), with the connect cache on or off."""

    sub_path = "/bench/c{i}"

    def __init__(self, binary: str, tools: Tools, work: Path, cache: Path, store: str, cache_seconds: int,
                 pg: BenchPostgres | None):
        super().__init__(binary, tools, work, cache)
        self.store, self.cache_seconds, self.pg = store, cache_seconds, pg
        self.dir = work / f"herald-{store}-{cache_seconds}"

    def stamp(self) -> str:
        import hashlib
        return hashlib.md5(BENCH_PASSWORD.encode()).hexdigest().upper()

    def token_extra(self) -> str:
        return ('"typ":"access","hash_password":"' + self.stamp() +
                '","aud":"https://api.prowler.com","iss":"https://api.prowler.com"')

    def mint(self, count: int, start: int = 0) -> list[str]:
        r = subprocess.run([self.tools.jwtmint, "--key", str(self.root / "private.pem"), "--tenant", self.tenant,
                            "--sub-file", str(self.root / "users.txt"), "--count", str(count), "--ttl", "14400",
                            "--start", str(start), "--threads", "2", "--extra", self.token_extra()],
                           capture_output=True, text=True, check=True)
        return r.stdout.split()

    def config(self, bus: str = "local", redis_port: int = 0) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.store == "postgres":
            store = (f'driver = "postgres"\npool_threads = 4\npostgres_host = "127.0.0.1"\n'
                     f'postgres_port = {self.pg.port}\npostgres_database = "prowler_db"\n'
                     f'postgres_user = "prowler"\npostgres_password = "prowler-api-pw"\n'
                     f'postgres_admin_user = "herald_keys"\npostgres_admin_password = "herald-keys-pw"\n'
                     f'postgres_sslmode = "disable"\n')
            lookup = (f"SELECT 1 FROM scans WHERE id = ('{SCAN_UUID_PREFIX}' || "
                      f"lpad(substr(:ch, 2), 12, '0'))::uuid AND tenant_id = :tenant_id")
        else:
            store = f'driver = "sqlite"\npool_threads = 4\npath = "{self.data}/herald-connect.db"\n'
            lookup = (f"SELECT 1 FROM scans WHERE id = '{SCAN_UUID_PREFIX}' || "
                      f"substr('000000000000' || substr(:ch, 2), -12, 12) AND tenant_id = :tenant_id")
        text = (f'[server]\nlisten = "127.0.0.1:{self.port}"\nthreads = 1\nkeepalive_seconds = 20\n\n'
                f'[internal]\nlisten = "127.0.0.1:{self.internal}"\npublisher_key = "{self.key}"\n\n'
                f'[auth]\nprofile = "prowler"\nverify_key_file = "{self.root}/public.pem"\napi_keys = false\n\n'
                f'[store]\n{store}\n'
                f'[tenancy]\nrecheck_interval_seconds = 0\nconnect_cache_seconds = {self.cache_seconds}\n\n'
                f'[log]\nlevel = "warn"\n\n'
                f'[[endpoints]]\npath = "/bench/{{ch}}"\nchannels = ["bench:{{tenant_id}}:{{ch}}"]\n'
                f'lookup = "{lookup}"\n')
        cfg = self.dir / "herald.toml"
        cfg.write_text(text)
        return cfg

    def seed(self, cfg: Path) -> None:
        """SQLite: the same tenant, users (with the password hash), memberships and scans as PostgreSQL's.
        `herald member add` creates the database with Herald's schema; sqlite3 adds the rest."""
        if self.store != "sqlite":
            return
        flag = self.data / "seeded-connect"
        if flag.exists():
            return
        r = subprocess.run([self.bin, "member", "add", "--config", str(cfg), "--user", self.users[0], "--tenant",
                            self.tenant, "--email", "bench0@bench.invalid"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"herald member add failed: {r.stderr.strip()[:300]}")
        sql = ["PRAGMA busy_timeout = 10000;", "BEGIN;"]
        for i, u in enumerate(self.users):
            sql.append(f"INSERT OR IGNORE INTO users (id, email, is_active) VALUES ('{u}', 'bench{i}@bench.invalid', 1);")
            sql.append(f"UPDATE users SET password = '{BENCH_PASSWORD}' WHERE id = '{u}';")
            sql.append(f"INSERT OR IGNORE INTO memberships (id, user_id, tenant_id, role) "
                       f"VALUES ('{uuid.uuid4()}', '{u}', '{self.tenant}', 'member');")
        for i in range(CONNECT_PG_SCANS):
            sql.append(f"INSERT OR IGNORE INTO scans (id, tenant_id, name, state) "
                       f"VALUES ('{scan_uuid(i)}', '{self.tenant}', 'bench', 'executing');")
        sql.append("COMMIT;")
        r = subprocess.run(["sqlite3", str(self.data / "herald-connect.db")], input="\n".join(sql),
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"seeding the SQLite store failed: {r.stderr.strip()}")
        flag.write_text("ok\n")

    def round_trips(self) -> int | None:
        """herald_store_round_trips_total from /metrics (PostgreSQL round trips sent so far)."""
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.internal}/metrics", timeout=5) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith("herald_store_round_trips_total "):
                        return int(float(line.split()[1]))
        except OSError:
            return None
        return None


class Redis:
    def __init__(self, work: Path):
        self.dir = work / "redis"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        exe = shutil.which("valkey-server") or shutil.which("redis-server")
        if not exe:
            raise RuntimeError("redis-server/valkey-server not installed (apt-get install redis-server)")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(pinned(LOAD_CPU, [exe, "--port", str(PORTS["redis"]), "--bind", "127.0.0.1",
                                                        "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                                                        "--protected-mode", "yes"]),
                                     stdout=open(self.dir / "redis.out", "w"), stderr=subprocess.STDOUT)
        if not wait_port(PORTS["redis"], proc=self.proc):
            raise RuntimeError("redis did not start")
        self.exe = exe

    def stop(self) -> None:
        terminate(self.proc)

    def pid(self) -> int:
        return self.proc.pid if self.proc else 0


# ------------------------------------------------------------------------------------------ the bench
class Bench:
    def __init__(self, args):
        self.args = args
        self.tools = Tools(Path(args.bin))
        self.date = dt.date.today().isoformat()
        self.results_dir = Path(args.results) if args.results else BENCH / "results" / self.date
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.results_dir / "results.jsonl"
        self.work = Path(tempfile.mkdtemp(prefix="herald-bench-"))
        self.quick = args.quick
        self.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
        self.herald_bin = HeraldServer.find_binary() if "herald" in self.servers else None
        self.skipped: list[str] = []
        if "herald" in self.servers and not self.herald_bin:
            self.note("herald", "no Herald binary found (build/**/herald); Herald runs skipped")
            self.servers.remove("herald")
        ok, why = NchanServer.available()
        if "nchan" in self.servers and not ok:
            self.note("nchan", why)
            self.servers.remove("nchan")
        self._herald: HeraldServer | None = None
        self.run_id = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
        log(f"work dir {self.work}; results {self.jsonl}; servers {self.servers}")

    def note(self, who: str, msg: str) -> None:
        log(f"{who}: {msg}")
        self.skipped.append(f"{who}: {msg}")

    def herald(self) -> HeraldServer:
        if self._herald is None:
            self._herald = HeraldServer(self.herald_bin, self.tools, self.work, Path(self.args.cache))
        return self._herald

    def server(self, name: str) -> Server:
        if name == "herald":
            return self.herald()
        if name == "nchan":
            return NchanServer(self.work)
        return FloorServer(self.tools, self.work)

    def dur(self, full: float) -> float:
        return min(full, 5.0) if self.quick else full

    def emit(self, rec: dict) -> None:
        rec.setdefault("run_id", self.run_id)
        rec.setdefault("date", self.date)
        rec.setdefault("time", dt.datetime.now().isoformat(timespec="seconds"))
        rec.setdefault("quick", self.quick)
        m = getattr(self, "m", {})
        rec.setdefault("git", m.get("git"))
        if self.herald_bin and rec.get("server") == "herald":
            rec.setdefault("herald_binary", self.herald_bin)
            rec.setdefault("herald_built", dt.datetime.fromtimestamp(os.path.getmtime(self.herald_bin))
                           .isoformat(timespec="seconds"))
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        brief = {k: rec.get(k) for k in ("scenario", "server", "variant", "deliveries_per_s", "publishes_per_s",
                                          "lost", "lat_p99_ms", "lat_steady_p99_ms", "cpu_us_per_delivery", "cpu_us_per_publish",
                                          "rss_kib_per_stream", "connects_per_s", "resumes_per_s", "cpu_us_per_resume",
                                          "failures", "error")
                 if rec.get(k) is not None}
        log(f"result {json.dumps(brief)}")

    # ------------------------------------------------------------------------------------ helpers
    @staticmethod
    def latency(rec: dict, lg: dict) -> None:
        lat = lg.get("latency_ms", {})
        if lat.get("n"):
            rec.update(lat_p50_ms=lat.get("p50"), lat_p90_ms=lat.get("p90"), lat_p99_ms=lat.get("p99"),
                       lat_p999_ms=lat.get("p999"), lat_max_ms=lat.get("max"), lat_n=lat.get("n"))
        # The same without the first second after the first event (cold sockets, first allocations).
        st = lg.get("latency_steady_ms", {})
        if st.get("n"):
            rec.update(lat_steady_p50_ms=st.get("p50"), lat_steady_p99_ms=st.get("p99"),
                       lat_steady_p999_ms=st.get("p999"), lat_steady_n=st.get("n"))
        # Up to the subscriber's socket (the kernel's receive stamp), and the loadgen's own read delay
        # after it: the load core is shared with the publisher, so the two are told apart.
        arr = lg.get("latency_arrival_ms", {})
        if arr.get("n"):
            rec.update(lat_arrival_p50_ms=arr.get("p50"), lat_arrival_p99_ms=arr.get("p99"),
                       lat_arrival_p999_ms=arr.get("p999"), lat_arrival_n=arr.get("n"))
        arr = lg.get("latency_arrival_steady_ms", {})
        if arr.get("n"):
            rec.update(lat_arrival_steady_p99_ms=arr.get("p99"))
        rd = lg.get("read_delay_ms", {})
        if rd.get("n"):
            rec.update(read_delay_p50_ms=rd.get("p50"), read_delay_p99_ms=rd.get("p99"),
                       read_delay_p999_ms=rd.get("p999"))
        est = lg.get("establish_ms", {})
        rec.update(est_p50_ms=est.get("p50"), est_p99_ms=est.get("p99"), est_p999_ms=est.get("p999"),
                   est_max_ms=est.get("max"))

    @staticmethod
    def loadgen_brief(lg: dict) -> dict:
        keep = ("connections", "processes", "opened", "started", "connect_fail", "http_fail", "open_timeout",
                "closed_before_open", "closed_after_open", "still_open", "status", "stream_open_events",
                "keepalives", "stream_errors", "events", "lost", "lost_head", "lost_gap", "lost_tail", "dups",
                "no_seq", "bytes", "reads", "wall_s", "cpu_s", "cpu_share", "stream_cpu_s", "stream_cpu_share",
                "stream_wall_s", "open_phase_s", "opens_per_s", "first_event_ns", "last_event_ns", "latency_ms",
                "establish_ms", "latency_hist_ns", "lat_negative", "late_bins_per_process",
                "latency_steady_ms", "arrival_stamps", "late_arrival_bins_per_process", "latency_arrival_ms", "latency_arrival_steady_ms",
                "read_delay_ms")
        return {k: lg[k] for k in keep if k in lg}

    def failures(self, lg: dict, n: int) -> int:
        return max(0, n - lg.get("opened", 0)) + lg.get("closed_after_open", 0)

    # ---------------------------------------------------------------------------------- scenarios
    def scenario_idle(self) -> None:
        for n in ([2000, 4000] if self.quick else [10000, 18000]):
            for name in self.servers:
                self.run_idle(name, n)

    def run_idle(self, name: str, n: int) -> None:
        rec = dict(scenario="idle", server=name, variant=f"N={n}", n=n)
        quiet = wait_quiet(self.args.quiet_wait)
        srv = self.server(name)
        lg = None
        try:
            srv.start(rate=-1, subscribers=n, linger=120)
            time.sleep(1.0)
            pid = srv.pids()[0]
            before = proc_mem_kib(pid)
            tcp0 = tcp_mem_pages()
            t0 = time.monotonic()
            lg = LoadGroup(self.tools, self.work, f"idle-{name}-{n}", n, self.port_of(srv), srv.sub_path, 1,
                           duration=80, open_on=srv.open_on, token=getattr(srv, "token", None))
            ready = lg.wait_ready(60)
            open_s = time.monotonic() - t0
            time.sleep(2.0)      # let the server settle (release request buffers, etc.)
            after = proc_mem_kib(pid)
            tcp1 = tcp_mem_pages()
            win = Window(srv.pids())
            hold = self.dur(5.0)
            time.sleep(hold)
            w = win.close(lg.cpu_s() * 0)  # nothing else of ours runs
            res = lg.stop()
            opened = res.get("opened", 0)
            rec.update(ready=ready, open_s=round(open_s, 2), opened=opened, failures=self.failures(res, n),
                       rss_before_kib=before.get("VmRSS"), rss_after_kib=after.get("VmRSS"),
                       rss_anon_before_kib=before.get("RssAnon"), rss_anon_after_kib=after.get("RssAnon"),
                       mem_before=before, mem_after=after,
                       rss_kib_per_stream=round((after.get("VmRSS", 0) - before.get("VmRSS", 0)) / opened, 3)
                       if opened else None,
                       kernel_tcp_kib_per_stream=round((tcp1 - tcp0) * PAGE / 1024 / opened, 3) if opened else None,
                       idle_cpu_share=round(w["server_proc_cpu_s"] / w["wall_s"], 4), window=w,
                       connects_per_s=res.get("opens_per_s"), others_load_before=quiet,
                       loadgen=self.loadgen_brief(res))
            self.latency(rec, res)
        except Exception as e:  # a failed run is recorded, not fatal
            rec["error"] = str(e)
            if lg:
                lg.stop()
        finally:
            srv.stop()
        self.emit(rec)

    def port_of(self, srv: Server) -> int:
        return {"herald": PORTS["herald"], "nchan": PORTS["nchan"], "floor": PORTS["floor"]}[srv.name] \
            if not isinstance(srv, HeraldServer) else srv.port

    def rounds(self) -> list[tuple[int, list[str]]]:
        """(round, servers) for the repeated runs: every server in round 1, Herald and the floor in the
        later ones (nchan's figures are in seconds and need no median). On this shared VM one run's p99
        or CPU can be off by 2x; the summary gives the median of the rounds, with each round's value."""
        n = 1 if self.quick else max(1, self.args.rounds)
        return [(i, self.servers if i == 1 else [s for s in self.servers if s != "nchan"]) for i in range(1, n + 1)]

    def scenario_fanout(self) -> None:
        d = self.dur(20.0)
        for rnd, servers in self.rounds():
            for rate in self.args.fanout_rates:
                for name in servers:
                    self.run_delivery("fanout", name, n=5000, channels=1, rate=rate, duration=d, batch=1,
                                      rnd=rnd)
        if "floor" in self.servers and not self.args.no_flat_out:
            # The physical ceilings: flat out, one event per write and 10 events per write.
            for batch in (1, 10):
                self.run_delivery("fanout", "floor", n=5000, channels=1, rate=0, duration=self.dur(10.0),
                                  batch=batch)

    def scenario_h2fanout(self) -> None:
        """The fanout scenario (5,000 subscribers, one channel) over HTTP/2 next to HTTP/1.1, Herald only, in
        the same invocation: the loadgen's --http2 mode puts 100 streams on each h2c connection (50
        connections; Herald's default http2_max_concurrent_streams), the HTTP/1.1 run one connection per
        stream."""
        if "herald" not in self.servers:
            self.note("h2fanout", "needs herald")
            return
        d = self.dur(20.0)
        for rnd, _ in self.rounds():
            for rate in self.args.fanout_rates:
                for h2 in (0, H2_STREAMS_PER_CONN):
                    self.run_delivery("h2fanout", "herald", n=5000, channels=1, rate=rate, duration=d, batch=1,
                                      rnd=rnd, h2=h2)

    def scenario_spread(self) -> None:
        # Flat out: the most publishes/s each server accepts (latency there is queueing, nothing more).
        # At 18,000/s (the target rate): latency under a load the server is meant to carry.
        # The floor runs twice: events generated in-process (the delivery writes alone) and as the HTTP
        # floor, fed by the same publisher as Herald (what one event per POST costs at least).
        # Flat-out runs once, then the fixed-rate runs in rounds.
        runs = [(0, 1, self.servers)] if not self.args.no_flat_out else []
        runs += [(self.args.spread_rate, rnd, servers) for rnd, servers in self.rounds()]
        for rate, rnd, servers in runs:
            for name in servers:
                self.run_delivery("spread", name, n=5000, channels=1000, rate=rate, duration=self.dur(15.0),
                                  batch=1, rnd=rnd)
                if name == "floor":
                    self.run_delivery("spread", name, n=5000, channels=1000, rate=rate, duration=self.dur(15.0),
                                      batch=1, http=True, rnd=rnd)

    def scenario_bus(self) -> None:
        names = [s for s in self.servers if s in ("herald", "nchan")]
        if not names:
            self.note("bus", "needs herald or nchan")
            return
        redis = Redis(self.work)
        try:
            redis.start()
        except RuntimeError as e:
            self.note("bus", str(e))
            return
        try:
            for rate in (20, 200):
                for name in names:
                    self.run_delivery("bus", name, n=5000, channels=1, rate=rate, duration=self.dur(20.0),
                                      bus=True, redis=redis)
        finally:
            redis.stop()

    def scenario_replay(self) -> None:
        """Reliable channels (docs/reconnects.md), Herald only, on the in-process bus and on Valkey
        Streams: publish throughput flat out to reliable channels next to plain ones (no subscribers:
        the cost of numbering and keeping), then resumes per second after a 100-event gap."""
        if "herald" not in self.servers:
            self.note("replay", "needs herald")
            return
        for bus in ("local", "redis"):
            redis = Redis(self.work) if bus == "redis" else None
            if redis:
                try:
                    redis.start()
                except RuntimeError as e:
                    self.note("replay", str(e))
                    continue
            try:
                for variant in ("plain", "reliable"):
                    self.run_reliable_publish(bus, variant)
                self.run_resumes(bus)
            finally:
                if redis:
                    redis.stop()

    def run_reliable_publish(self, bus: str, variant: str) -> None:
        srv = self.herald()
        duration = self.dur(10.0)
        rec = dict(scenario="replay", server="herald", variant=f"publish {variant} ({bus} bus)", bus=bus,
                   duration=duration, event_bytes=EVENT_BYTES)
        rec["others_load_before"] = wait_quiet(self.args.quiet_wait)
        try:
            srv.start(bus=bus)
            time.sleep(0.5)
            win = Window(srv.pids())
            prefix = "rbench" if variant == "reliable" else "bench"
            pargs = ["--mode", "herald", "--port", str(srv.internal), "--key", srv.key,
                     "--channel-template", f"{prefix}:{srv.tenant}:p{{i}}", "--channels", "100",
                     "--rate", "0", "--duration", str(duration), "--event", EVENT,
                     "--event-bytes", str(EVENT_BYTES), "--connections", str(self.args.pub_connections),
                     "--pipeline", str(self.args.pub_pipeline)]
            pub, pub_out = run_publisher(self.tools, self.work, f"replay-{bus}-{variant}", pargs)
            while pub.poll() is None:
                time.sleep(0.1)
            res = read_json(pub_out)
            w = win.close(res.get("cpu_s", 0.0))
            ok = res.get("ok_2xx", 0)
            rec.update(published=ok, failures=res.get("sent", 0) - ok,
                       publishes_per_s=round(res.get("accepted_per_s", 0.0), 1),
                       cpu_us_per_publish=round(w["server_cpu_s"] * 1e6 / ok, 2) if ok else None,
                       window=w, contended=contended(w), load_bound=load_bound(w))
        except Exception as e:
            rec["error"] = str(e)
            log(f"run failed: {e}")
        finally:
            srv.stop()
        self.emit(rec)

    def run_resumes(self, bus: str) -> None:
        srv = self.herald()
        duration = self.dur(10.0)
        rec = dict(scenario="replay", server="herald", variant=f"resumes after a 100-event gap ({bus} bus)",
                   bus=bus, duration=duration)
        rec["others_load_before"] = wait_quiet(self.args.quiet_wait)
        try:
            srv.start(bus=bus)
            time.sleep(0.5)
            out = self.work / f"replay-resumes-{bus}.json"
            argv = [sys.executable, str(BENCH / "lib" / "replay_client.py"), "--port", str(srv.port),
                    "--internal", str(srv.internal), "--key", srv.key, "--token", srv.token,
                    "--tenant", srv.tenant, "--workers", "32", "--gap", "100",
                    "--duration", str(duration), "--out", str(out)]
            win = Window(srv.pids())
            p = spawn(pinned(LOAD_CPU, argv), stderr=open(self.work / f"replay-resumes-{bus}.err", "w"))
            p.wait(timeout=duration + 120)
            res = read_json(out)
            if not res:
                raise RuntimeError((self.work / f"replay-resumes-{bus}.err").read_text()[-500:])
            w = win.close(res.get("client_cpu_s", 0.0))
            rec.update(resumes=res["resumes"], resumes_per_s=res["resumes_per_s"], replayed=res["events"],
                       cpu_us_per_resume=round(w["server_cpu_s"] * 1e6 / res["resumes"], 1)
                       if res["resumes"] else None,
                       client_cpu_s=res["client_cpu_s"], window=w, contended=contended(w),
                       load_bound=load_bound(w))
        except Exception as e:
            rec["error"] = str(e)
            log(f"run failed: {e}")
        finally:
            srv.stop()
        self.emit(rec)

    def run_delivery(self, scenario: str, name: str, n: int, channels: int, rate: float, duration: float,
                     batch: int = 1, bus: bool = False, redis: Redis | None = None, http: bool = False,
                     rnd: int = 1, h2: int = 0) -> None:
        variant = f"{'flat-out' if rate == 0 else f'{rate:g}/s'}"
        if scenario == "h2fanout":
            variant = (f"HTTP/2 ({h2} streams/connection) " if h2 else "HTTP/1.1 ") + variant
        if name == "floor":
            variant += " HTTP" if http else f" {batch}/write"
        # Fixed-rate runs publish for a warm-up first, then for `duration`; latency "after warm-up" leaves
        # the warm-up out (see "Warm-up" in bench/README.md: fresh connections quick-ACK every segment).
        warmup = self.args.latency_warmup if rate > 0 else 0.0
        rec = dict(scenario=scenario, server=name, variant=variant, n=n, channels=channels, rate=rate,
                   duration=duration, warmup_s=warmup, event_bytes=EVENT_BYTES, round=rnd)
        if name == "floor":
            rec["batch"] = batch
        if h2:
            rec["http2_streams_per_connection"] = h2
        if bus:
            rec["bus"] = "redis"
        quiet = wait_quiet(self.args.quiet_wait)
        rec["others_load_before"] = quiet
        srv = FloorServer(self.tools, self.work, http=True) if http else self.server(name)
        lg = None
        pub = None
        try:
            kw = dict(subscribers=n, channels=channels, rate=rate, batch=batch, duration=warmup + duration, linger=90,
                      flush_ms=1000 if batch > 1 else 50)
            if bus and name == "herald":
                kw["bus"] = "redis"
            if bus and name == "nchan":
                kw["redis_url"] = f"redis://127.0.0.1:{PORTS['redis']}"
            srv.start(**kw)
            time.sleep(0.5)
            pid = srv.pids()[0]
            mem0 = proc_mem_kib(pid)
            tag = f"{scenario}-{name}-{variant}".replace(" ", "_").replace("/", "per")
            lg = LoadGroup(self.tools, self.work, tag,
                           n, self.port_of(srv), srv.sub_path, channels, duration=warmup + duration + 70,
                           open_on=srv.open_on, token=getattr(srv, "token", None),
                           extra=(["--warmup", f"{warmup:g}"] if warmup > 0 else []) +
                                 (["--http2", str(h2)] if h2 else []))
            if not lg.wait_ready(60):
                raise RuntimeError(f"streams not ready: {lg.progress()}")
            rec["opened"] = lg.ready_opened()
            mem1 = proc_mem_kib(pid)
            extra_pids = [redis.pid()] if redis else []
            win = Window(srv.pids(), lg.pids() + extra_pids)
            if not srv.publishes:
                if srv.wait_publishing(15):
                    win.restart()
                fl = srv.result(warmup + duration + 20)
                expected = fl.get("deliveries")
                lg.wait_settled(expected, cap_s=30, window=win)
                pubres = {}
            else:
                pargs = srv.publisher_args() + ["--channels", str(channels), "--rate", str(rate), "--duration",
                                                str(warmup + duration), "--event", EVENT, "--event-bytes",
                                                str(EVENT_BYTES)]
                if rate == 0:
                    pargs += ["--connections", str(self.args.pub_connections), "--pipeline",
                              str(self.args.pub_pipeline)]
                else:
                    pargs += ["--connections", str(self.args.rate_connections), "--pipeline",
                              str(self.args.rate_pipeline)]
                pub, pub_out = run_publisher(self.tools, self.work, tag, pargs)
                while pub.poll() is None:
                    time.sleep(0.1)
                pubres = read_json(pub_out)
                per_channel = n / channels
                expected = int(pubres.get("ok_2xx", 0) * per_channel)
                lg.wait_settled(expected, cap_s=30, window=win)
                fl = {}
            load_cpu = win.load_cpu_s() + pubres.get("cpu_s", 0.0)
            w = win.close(load_cpu)
            mem2 = proc_mem_kib(pid)
            res = lg.stop()
            received = res.get("events", 0)
            span = (res.get("last_event_ns", 0) - res.get("first_event_ns", 0)) / 1e9
            if not srv.publishes:
                send_s = fl.get("publish_s", duration)
                events_published = fl.get("events", 0)
            else:
                send_s = pubres.get("send_s", duration)
                events_published = pubres.get("ok_2xx", 0)
            # Deliveries/s over the delivery span (first to last event received): a server that falls behind
            # keeps delivering after the publisher stops, and is measured over that longer time.
            eff = max(span, send_s) if span > 0 else send_s
            cpu = w["server_cpu_s"]
            rec.update(
                expected=expected, deliveries=received, lost=max(0, (expected or 0) - received) if expected else None,
                lost_seq=res.get("lost"), dups=res.get("dups"),
                deliveries_per_s=round(received / eff, 1) if eff else None,
                offered_deliveries_per_s=round(rate * n / channels, 1) if rate else None,
                delivery_span_s=round(span, 3), send_s=send_s,
                publishes=events_published, publishes_per_s=round(events_published / send_s, 1) if send_s else None,
                cpu_us_per_delivery=round(cpu * 1e6 / received, 3) if received else None,
                cpu_us_per_delivery_proc=round(w["server_proc_cpu_s"] * 1e6 / received, 3) if received else None,
                cpu_us_per_publish=round(cpu * 1e6 / events_published, 3) if events_published else None,
                window=w, server_mem_kib=dict(start=mem0, streams_open=mem1, end=mem2),
                loadgen_cpu_share=res.get("stream_cpu_share"),
                publisher_cpu_share=pubres.get("cpu_share"),
                failures=self.failures(res, n),
                contended=contended(w), load_bound=load_bound(w),
                loadgen=self.loadgen_brief(res), publisher=pubres or None, floor=fl or None)
            self.latency(rec, res)
        except Exception as e:
            rec["error"] = str(e)
            log(f"run failed: {e}")
            if lg:
                lg.stop()
        finally:
            terminate(pub)
            srv.stop()
        if isinstance(srv, FloorServer) and srv.http:
            rec["floor"] = srv.result(5) or None  # written on SIGTERM: its counts (bad_posts, partial writes)
        self.emit(rec)

    def scenario_connect(self) -> None:
        count = 20000 if self.quick else self.args.connect_tokens
        for rnd, servers in self.rounds():
            for name in servers:
                self.run_connect(name, count, rnd)

    def token_files(self, count: int, nproc: int) -> list[str]:
        """Pre-minted RS256 tokens, cached in the build tree (valid 4 h; re-minted after 3 h)."""
        h = self.herald()
        cache = Path(self.args.cache) / f"tokens-{h.tenant[:8]}-{count}.txt"
        cache.parent.mkdir(parents=True, exist_ok=True)
        if not cache.exists() or time.time() - cache.stat().st_mtime > 3 * 3600:
            log(f"minting {count} RS256 tokens (about {count / 4500:.0f} s on 2 cores)")
            t0 = time.monotonic()
            toks = h.mint(count)
            cache.write_text("\n".join(toks) + "\n")
            log(f"minted in {time.monotonic() - t0:.1f}s")
        toks = cache.read_text().split()
        files = []
        for i in range(nproc):
            f = self.work / f"tokens.{i}.txt"
            f.write_text("\n".join(toks[i::nproc]) + "\n")
            files.append(str(f))
        return files

    def run_connect(self, name: str, count: int, rnd: int = 1) -> None:
        rec = dict(scenario="connect", server=name, variant="RS256 JWT + membership" if name == "herald" else "no auth",
                   count=count, concurrency=self.args.connect_concurrency, round=rnd)
        srv = self.server(name)
        lg = None
        try:
            files = self.token_files(count, 1) if name == "herald" else None
            quiet = wait_quiet(self.args.quiet_wait)
            rec["others_load_before"] = quiet
            srv.start(rate=-1, subscribers=0, linger=120)
            time.sleep(0.5)
            win = Window(srv.pids())
            extra = [] if files else ["--count", str(count)]
            lg = LoadGroup(self.tools, self.work, f"connect-{name}", self.args.connect_concurrency,
                           self.port_of(srv), srv.sub_path, 1000, duration=self.dur(15.0), open_on=srv.open_on,
                           token_files=files, mode="connect", extra=extra + ["--max-pending",
                                                                              str(self.args.connect_concurrency)])
            lg.wait_exit(self.dur(15.0) + 10)
            load_cpu = lg.cpu_s()
            res = lg.stop()
            w = win.close(res.get("cpu_s", load_cpu))
            opened = res.get("opened", 0)
            fails = res.get("started", 0) - opened
            rec.update(opened=opened, failures=fails, status=res.get("status"),
                       connects_per_s=res.get("opens_per_s"),
                       cpu_us_per_connect=round(w["server_cpu_s"] * 1e6 / opened, 2) if opened else None,
                       window=w, loadgen_cpu_share=res.get("cpu_share"),
                       contended=contended(w), load_bound=load_bound(w),
                       loadgen=self.loadgen_brief(res))
            self.latency(rec, res)
        except Exception as e:
            rec["error"] = str(e)
            log(f"run failed: {e}")
            if lg:
                lg.stop()
        finally:
            srv.stop()
        self.emit(rec)

    def scenario_connect_pg(self) -> None:
        """Authenticated connects per second with the Prowler API's profile: RS256 + the user row (and
        its password stamp) + the membership + a scans lookup under row-level security, on PostgreSQL
        with the connect cache off and on, next to SQLite; and PostgreSQL round trips per connect."""
        if "herald" not in self.servers:
            return
        if not shutil.which("psql") or not glob.glob("/usr/lib/postgresql/*/bin/postgres"):
            self.note("connect-pg", "PostgreSQL is not installed (apt-get install postgresql); skipped")
            return
        count = 20000 if self.quick else self.args.connect_tokens
        base = self.herald()
        pg = BenchPostgres(self.work)
        try:
            pg.start(base.tenant, base.users)
            variants = [("sqlite", 0), ("postgres", 0), ("postgres", self.args.connect_cache_seconds),
                        ("sqlite", self.args.connect_cache_seconds)]
            for rnd, servers in self.rounds():
                if "herald" not in servers:
                    continue
                for store, cache in variants:
                    self.run_connect_store(store, cache, pg, count, rnd)
        except Exception as e:
            self.emit(dict(scenario="connect-pg", server="herald", variant="setup", error=str(e)))
            log(f"connect-pg failed: {e}")
        finally:
            pg.stop()

    def connect_pg_tokens(self, srv: StoreHerald, count: int) -> list[str]:
        """Pre-minted tokens with the Prowler API's claims, cached like the connect scenario's."""
        cache = Path(self.args.cache) / f"tokens-prowler-{srv.tenant[:8]}-{count}.txt"
        cache.parent.mkdir(parents=True, exist_ok=True)
        if not cache.exists() or time.time() - cache.stat().st_mtime > 3 * 3600:
            log(f"minting {count} RS256 tokens with the Prowler API's claims")
            cache.write_text("\n".join(srv.mint(count)) + "\n")
        f = self.work / "tokens-prowler.txt"
        f.write_text(cache.read_text())
        return [str(f)]

    def run_connect_store(self, store: str, cache: int, pg: BenchPostgres, count: int, rnd: int) -> None:
        variant = f"{store}, connect cache {'on (' + str(cache) + ' s)' if cache else 'off'}"
        rec = dict(scenario="connect-pg", server="herald", variant=variant, store=store, connect_cache_s=cache,
                   count=count, concurrency=self.args.connect_concurrency, round=rnd,
                   auth="prowler profile: RS256 + user row + password stamp + membership + scans lookup")
        srv = StoreHerald(self.herald_bin, self.tools, self.work, Path(self.args.cache), store, cache,
                          pg if store == "postgres" else None)
        lg = None
        try:
            files = self.connect_pg_tokens(srv, count)
            rec["others_load_before"] = wait_quiet(self.args.quiet_wait)
            srv.start()
            time.sleep(0.5)
            trips0 = srv.round_trips()
            win = Window(srv.pids())
            lg = LoadGroup(self.tools, self.work, f"connect-pg-{store}-{cache}", self.args.connect_concurrency,
                           srv.port, srv.sub_path, CONNECT_PG_SCANS, duration=self.dur(15.0), open_on=srv.open_on,
                           token_files=files, mode="connect",
                           extra=["--max-pending", str(self.args.connect_concurrency)])
            lg.wait_exit(self.dur(15.0) + 10)
            load_cpu = lg.cpu_s()
            res = lg.stop()
            w = win.close(res.get("cpu_s", load_cpu))
            trips1 = srv.round_trips()
            opened = res.get("opened", 0)
            rec.update(opened=opened, failures=res.get("started", 0) - opened, status=res.get("status"),
                       connects_per_s=res.get("opens_per_s"),
                       cpu_us_per_connect=round(w["server_cpu_s"] * 1e6 / opened, 2) if opened else None,
                       window=w, loadgen_cpu_share=res.get("cpu_share"),
                       contended=contended(w), load_bound=load_bound(w), loadgen=self.loadgen_brief(res))
            if store == "postgres" and trips0 is not None and trips1 is not None and opened:
                # Every connect's round trips (refused ones included) over the opened streams.
                rec["pg_round_trips"] = trips1 - trips0
                rec["pg_round_trips_per_connect"] = round((trips1 - trips0) / max(1, res.get("started", opened)), 3)
            self.latency(rec, res)
        except Exception as e:
            rec["error"] = str(e)
            log(f"run failed: {e}")
            if lg:
                lg.stop()
        finally:
            srv.stop()
        self.emit(rec)

    # --------------------------------------------------------------------------------------- main
    def machine(self) -> dict:
        def sh(cmd: str) -> str:
            try:
                return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
            except Exception:
                return ""
        cpu_model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
        mem_kib = int(sh("awk '/MemTotal/{print $2}' /proc/meminfo") or 0)
        return dict(
            date=dt.datetime.now().isoformat(timespec="seconds"), nproc=os.cpu_count(), cpu_model=cpu_model,
            kernel=sh("uname -sr"), mem_gib=round(mem_kib / 1048576, 1),
            hypervisor=sh("lscpu | awk -F: '/Hypervisor vendor/{print $2}'").strip(),
            nofile_hard=sh("ulimit -Hn"), clk_tck=CLK_TCK,
            gxx=sh("g++ --version | head -1"), nginx=sh("nginx -v 2>&1"),
            nchan=sh("dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null"),
            redis=sh("redis-server --version 2>/dev/null | cut -d' ' -f3"),
            herald_binary=self.herald_bin, herald_build_type=self.build_type(self.herald_bin), git=sh(f"git -C {ROOT} rev-parse --short HEAD"),
            git_dirty=bool(sh(f"git -C {ROOT} status --porcelain -- src")),
            server_cpu=SERVER_CPU, load_cpu=LOAD_CPU,
            cpu_accounting=self.cpu_accounting(sh))

    @staticmethod
    def build_type(binary: str | None) -> str | None:
        """CMAKE_BUILD_TYPE of the build tree a binary comes from (Release is what the bench wants)."""
        if not binary:
            return None
        d = Path(binary).resolve().parent
        for _ in range(4):
            c = d / "CMakeCache.txt"
            if c.exists():
                for line in c.read_text(errors="replace").splitlines():
                    if line.startswith("CMAKE_BUILD_TYPE:"):
                        return line.split("=", 1)[1] or "(none)"
            d = d.parent
        return None

    @staticmethod
    def cpu_accounting(sh) -> str:
        cfg = sh("(cat /boot/config-$(uname -r) 2>/dev/null || zcat /proc/config.gz 2>/dev/null) | "
                 "grep -E '^CONFIG_(TICK_CPU_ACCOUNTING|VIRT_CPU_ACCOUNTING_GEN|IRQ_TIME_ACCOUNTING)='")
        if "TICK_CPU_ACCOUNTING=y" in cfg:
            kind = "tick-sampled"
        elif "VIRT_CPU_ACCOUNTING_GEN=y" in cfg:
            kind = "precise (VIRT_CPU_ACCOUNTING_GEN)"
        else:
            kind = "unknown"
        if "IRQ_TIME_ACCOUNTING=y" in cfg:
            kind += ", IRQ time accounted apart"
        return kind

    def run(self, scenarios: list[str]) -> None:
        m = self.m = self.machine()
        (self.results_dir / "machine.json").write_text(json.dumps(m, indent=2) + "\n")
        for s in scenarios:
            log(f"=== scenario {s} ===")
            t0 = time.monotonic()
            getattr(self, f"scenario_{s.replace('-', '_')}")()
            log(f"=== {s} done in {time.monotonic() - t0:.0f}s ===")
        for n in self.skipped:
            self.emit(dict(scenario="note", server="-", note=n))
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        sys.dont_write_bytecode = True
        import report
        report.plots(self.results_dir)
        (self.results_dir / "summary.md").write_text(report.summary(self.results_dir))
        report.update_readme(self.results_dir)
        log(f"summary: {self.results_dir / 'summary.md'}")
        if not self.args.keep_work:
            shutil.rmtree(self.work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", default=["idle", "fanout", "h2fanout", "spread", "connect", "connect-pg", "bus"],
                    help="idle fanout h2fanout spread connect connect-pg bus replay (default: all but replay)")
    ap.add_argument("--servers", default="herald,nchan,floor")
    ap.add_argument("--bin", required=True, help="directory with herald-loadgen etc.")
    ap.add_argument("--results", default="", help="results directory (default bench/results/<date>)")
    ap.add_argument("--cache", default=str(ROOT / "build" / "bench-cache"))
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="seconds to wait for other work on the machine to stop before each run")
    ap.add_argument("--pub-connections", type=int, default=8)
    ap.add_argument("--pub-pipeline", type=int, default=4)
    ap.add_argument("--rate-connections", type=int, default=2, help="publisher connections in fixed-rate runs")
    ap.add_argument("--rate-pipeline", type=int, default=64, help="requests in flight per connection, fixed rate")
    ap.add_argument("--fanout-rates", type=lambda v: [int(x) for x in v.split(",")], default=[20, 200],
                    help="the fanout scenario's event rates (default 20,200)")
    ap.add_argument("--latency-warmup", type=float, default=2.0,
                    help="fixed-rate runs publish this many seconds before the measured window (0 = none)")
    ap.add_argument("--spread-rate", type=float, default=18000, help="the spread scenario's fixed-rate run")
    ap.add_argument("--no-flat-out", action="store_true", help="spread and fanout: only the fixed-rate runs")
    ap.add_argument("--rounds", type=int, default=3,
                    help="fixed-rate fanout/spread runs and connect runs of Herald and the floor are repeated this "
                         "many times, interleaved; the summary gives the median (--quick: 1)")
    ap.add_argument("--connect-tokens", type=int, default=60000)
    ap.add_argument("--connect-concurrency", type=int, default=128)
    ap.add_argument("--connect-cache-seconds", type=int, default=5,
                    help="connect-pg: [tenancy] connect_cache_seconds of the cache-on runs")
    ap.add_argument("--keep-work", action="store_true")
    args = ap.parse_args()
    known = {"idle", "fanout", "h2fanout", "spread", "connect", "connect-pg", "bus", "replay"}
    for s in args.scenarios:
        if s not in known:
            sys.exit(f"unknown scenario {s}; choose from {sorted(known)}")
    Bench(args).run(args.scenarios)


if __name__ == "__main__":
    main()

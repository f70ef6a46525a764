#!/usr/bin/env python3
"""Herald scale-out benchmark: several Herald nodes on one Valkey (or a 3-shard Cluster), end to end.

    bench/run.sh scaleout [--configs ...] [--scenarios ...] [--quick] [--streams-per-node N] ...

It starts its own Valkey-protocol servers and Herald nodes on loopback, holds 15,000 streams per node
(45,000 with three nodes), and runs the single-node bench's scenarios through the bus:

  idle      every stream on its own channel (the per-resource shape, e.g. scan progress), held 5 s:
            RSS per stream per node, Valkey memory per subscription, establishment (stream-open waits
            for the bus subscription)
  resource  the same streams, then events published straight into Valkey (PUBLISH / SPUBLISH, as the
            Prowler API's django-eventstream send_event() does), one delivery per event: the cost of
            the node's bus read loop per message
  fanout    one hot channel, every stream on it, fixed rate
  spread    1,000 channels, flat out (capacity) and at a fixed rate (latency); POST /publish

Configurations (--configs): inproc-1 (one node, in-process bus: the single-node figure of the same
run), classic-1 / classic-3 (one Valkey, PUBLISH/SUBSCRIBE; classic-1-own: classic-1 with the bus on
a thread of its own), sharded-1 / sharded-3 (a 3-master Cluster, SPUBLISH/SSUBSCRIBE), broadcast-3 (classic PUBLISH on the 3-master Cluster: every master
receives every message over the cluster bus; the case sharded pub/sub exists for).

Valkey is not packaged in Debian 12; redis-server 7 speaks the same protocol (RESP2, sharded pub/sub
since 7.0) and is what runs here. Every server is started with --save "" --appendonly no on 127.0.0.1.

Pinning, as in the single-node bench: every Herald node on CPU 0 (BENCH_SERVER_CPU), all load
(loadgen processes, publisher, Valkey) on CPU 1. With three nodes on one core, three nodes cannot
deliver more than one can: the summary gives the per-core figures that carry to machines with a core
per node. Results: bench/results/<date>/scaleout/ (results.jsonl, summary.md, command.txt,
machine.json); bench/lib/scaleout_report.py regenerates the summary, bench/lib/capacity_model.py the
tables of docs/scaling.md. Python 3 standard library only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True
import driver as D  # noqa: E402  (the single-node bench's building blocks)

PORTS = dict(public=18200, internal=18210, valkey=18479, cluster=[18481, 18482, 18483])
FULL_STREAMS = 15000          # per node: 3 nodes = 45,000 streams (each process below 20,000 files)
CONFIGS = {
    "inproc-1": dict(bus="local", nodes=1),
    "classic-1": dict(bus="classic", nodes=1),
    # classic-1 with the bus on a thread of its own ([bus] thread = "own"), the layout before the bus
    # moved onto the event loop: for before/after comparisons (not in the default set).
    "classic-1-own": dict(bus="classic", nodes=1, thread="own"),
    "sharded-1": dict(bus="sharded", nodes=1),
    "classic-3": dict(bus="classic", nodes=3),
    "sharded-3": dict(bus="sharded", nodes=3),
    "broadcast-3": dict(bus="broadcast", nodes=3),
}
DEFAULT_CONFIGS = ["inproc-1", "classic-1", "sharded-1", "classic-3", "sharded-3", "broadcast-3"]
SCENARIOS = ["idle", "fanout", "spread"]   # idle includes the resource phase
# broadcast-3 only runs what tells it apart (Valkey's cost of a classic PUBLISH in a cluster).
LIMITED = {"broadcast-3": {"spread": ["fixed"], "idle": [], "fanout": []}}
PREFIX = "herald:"


def log(msg: str) -> None:
    D.log(msg)


# ------------------------------------------------------------------------------------------- RESP
def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    t, rest = line[:1], line[1:].rstrip(b"\r\n")
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RuntimeError(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode(errors="replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError(f"unexpected RESP line {line[:40]!r}")


def valkey(port: int, *args, timeout: float = 5.0):
    """One command to a Valkey/Redis server on loopback (a tiny RESP2 client: no package needed)."""
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        b = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(out)
        return _read_reply(s.makefile("rb"))


def info(port: int, section: str = "all") -> dict:
    d = {}
    for line in (valkey(port, "INFO", section) or "").splitlines():
        k, sep, v = line.partition(":")
        if sep:
            try:
                d[k] = float(v) if any(c in v for c in ".e") else int(v)
            except ValueError:
                d[k] = v
    return d


def link_bytes(ports: list[int]) -> int:
    """TCP payload bytes sent and received on the Cluster bus links (ports + 10000), from tcp_info
    (`ss -ti`): classic PUBLISH in a cluster travels there, sharded pub/sub does not."""
    if not ports or not shutil.which("ss"):
        return 0
    flt = " or ".join(f"sport = :{p + 10000}" for p in ports)
    r = subprocess.run(["ss", "-tinH", "state", "established", f"( {flt} )"], capture_output=True, text=True)
    total = 0
    for tok in r.stdout.split():
        for key in ("bytes_sent:", "bytes_received:"):
            if tok.startswith(key):
                total += int(tok[len(key):])
    return total


class ValkeyServer:
    """One redis-server (Debian 12 has no Valkey package; redis-server 7 speaks the same protocol),
    pinned to the load core, in its own temp dir, no persistence."""

    def __init__(self, work: Path, port: int, cluster: bool = False):
        self.port, self.cluster = port, cluster
        self.dir = work / f"valkey-{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        exe = shutil.which("valkey-server") or shutil.which("redis-server")
        if not exe:
            raise RuntimeError("redis-server/valkey-server not installed (apt-get install redis-server)")
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), "--protected-mode", "yes", "--maxclients", "1000"]
        if self.cluster:
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "5000", "--cluster-require-full-coverage", "yes"]
        self.proc = D.spawn(D.pinned(D.LOAD_CPU, argv), stdout=open(self.dir / "server.log", "w"),
                            stderr=subprocess.STDOUT)
        if not D.wait_port(self.port, proc=self.proc):
            raise RuntimeError(f"redis-server on {self.port} did not start: "
                               f"{(self.dir / 'server.log').read_text()[-500:]}")

    def pid(self) -> int:
        return self.proc.pid if self.proc and self.proc.poll() is None else 0

    def stop(self) -> None:
        D.terminate(self.proc)


class Valkeys:
    """The Valkey side of one configuration: one server (classic) or three masters (sharded, broadcast)."""

    def __init__(self, servers: list[ValkeyServer], cluster: bool):
        self.servers, self.cluster = servers, cluster

    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def pids(self) -> list[int]:
        return [p for p in (s.pid() for s in self.servers) if p]

    def snapshot(self) -> dict:
        out = dict(cpu_s=sum(D.proc_cpu_s(p) for p in self.pids()), net_in=0, net_out=0, used_memory=0,
                   cmds=0, link_bytes=link_bytes(self.ports()) if self.cluster else 0, per_server=[])
        for s in self.servers:
            st, mem = info(s.port, "stats"), info(s.port, "memory")
            cs = info(s.port, "commandstats")
            calls = {k[len("cmdstat_"):]: int(str(v).split("calls=")[1].split(",")[0])
                     for k, v in cs.items() if k.startswith("cmdstat_") and "calls=" in str(v)}
            out["net_in"] += st.get("total_net_input_bytes", 0)
            out["net_out"] += st.get("total_net_output_bytes", 0)
            out["used_memory"] += mem.get("used_memory", 0)
            out["per_server"].append(dict(port=s.port, cpu_s=D.proc_cpu_s(s.pid()),
                                          net_in=st.get("total_net_input_bytes", 0),
                                          net_out=st.get("total_net_output_bytes", 0),
                                          used_memory=mem.get("used_memory", 0), calls=calls))
        return out

    @staticmethod
    def delta(a: dict, b: dict) -> dict:
        d = {k: round(b[k] - a[k], 3) for k in ("cpu_s", "net_in", "net_out", "used_memory", "link_bytes")}
        d["per_server"] = []
        for x, y in zip(a["per_server"], b["per_server"]):
            calls = {k: v - x["calls"].get(k, 0) for k, v in y["calls"].items() if v - x["calls"].get(k, 0)}
            d["per_server"].append(dict(port=y["port"], cpu_s=round(y["cpu_s"] - x["cpu_s"], 3),
                                        net_in=y["net_in"] - x["net_in"], net_out=y["net_out"] - x["net_out"],
                                        used_memory=y["used_memory"] - x["used_memory"], calls=calls))
        return d

    def slot_map(self) -> str:
        """lo-hi:port,... from CLUSTER SLOTS (the publisher's --slot-ports)."""
        parts = []
        for r in valkey(self.servers[0].port, "CLUSTER", "SLOTS"):
            parts.append(f"{r[0]}-{r[1]}:{r[2][1]}")
        return ",".join(parts)

    def stop(self) -> None:
        for s in self.servers:
            s.stop()


def start_single(work: Path) -> Valkeys:
    s = ValkeyServer(work, PORTS["valkey"])
    s.start()
    return Valkeys([s], cluster=False)


def start_cluster(work: Path) -> Valkeys:
    servers = [ValkeyServer(work, p, cluster=True) for p in PORTS["cluster"]]
    for s in servers:
        s.start()
    cli = shutil.which("valkey-cli") or shutil.which("redis-cli")
    if not cli:
        raise RuntimeError("redis-cli not installed")
    r = subprocess.run([cli, "--cluster", "create"] + [f"127.0.0.1:{s.port}" for s in servers] +
                       ["--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        for s in servers:
            s.stop()
        raise RuntimeError(f"redis-cli --cluster create failed: {r.stdout[-400:]} {r.stderr[-400:]}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if all("cluster_state:ok" in valkey(s.port, "CLUSTER", "INFO") for s in servers):
                return Valkeys(servers, cluster=True)
        except (OSError, RuntimeError):
            pass
        time.sleep(0.2)
    for s in servers:
        s.stop()
    raise RuntimeError("the 3-master cluster did not reach cluster_state:ok within 30 s")


# ------------------------------------------------------------------------------------------ nodes
def get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return 0, str(e)


def parse_metrics(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, v = line.rpartition(" ")
        try:
            out[name] = float(v)
        except ValueError:
            pass
    return out


class Node:
    """One `herald serve` process: threads = 1, pinned to the server core, on the shared public port
    (reuse_port) with its own internal port; keys, tenant, users and the SQLite store are the
    single-node bench's (bench/lib/driver.py HeraldServer), shared by every node."""

    def __init__(self, proto: D.HeraldServer, work: Path, index: int, reuse_port: bool):
        self.proto, self.index = proto, index
        self.dir = work / f"node{index}"
        self.port = PORTS["public"]
        self.internal = PORTS["internal"] + index
        self.reuse_port = reuse_port
        self.proc: subprocess.Popen | None = None

    def config(self, bus_conf: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        p = self.proto
        tpl = (D.BENCH / "herald" / "herald.toml.in").read_text()
        text = (tpl.replace("@PORT@", str(self.port)).replace("@INTERNAL_PORT@", str(self.internal))
                .replace("@KEY@", p.key).replace("@KEYS@", str(p.root)).replace("@DATA@", str(p.data))
                .replace("@BUS@", bus_conf))
        if self.reuse_port:
            text = text.replace("threads = 1\n", "threads = 1\nreuse_port = true\n", 1)
        cfg = self.dir / "herald.toml"
        cfg.write_text(text)
        return cfg

    def start(self, bus_conf: str, wrapper: list[str] | None = None, timeout: float = 15.0) -> None:
        """`wrapper` runs the node under another program (bench/lib/bus_profile.py: valgrind)."""
        cfg = self.config(bus_conf)
        self.proto.seed(cfg)
        argv = (wrapper or []) + [self.proto.bin, "serve", "--config", str(cfg)]
        self.proc = D.spawn(D.pinned(D.SERVER_CPU, argv), stdout=open(self.dir / "herald.out", "a"),
                            stderr=open(self.dir / "herald.err", "a"))
        if not D.wait_port(self.internal, timeout=timeout, proc=self.proc):
            err = (self.dir / "herald.err").read_text()[-2000:]
            D.terminate(self.proc)
            raise RuntimeError(f"node {self.index} did not start: {err}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        body = ""
        while time.monotonic() < deadline:
            code, body = get(f"http://127.0.0.1:{self.internal}/readyz")
            if code == 200:
                return
            if self.proc and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"node {self.index} not ready: {body[:300]} "
                           f"{(self.dir / 'herald.err').read_text()[-500:]}")

    def metrics(self) -> dict:
        code, text = get(f"http://127.0.0.1:{self.internal}/metrics")
        return parse_metrics(text) if code == 200 else {}

    def pid(self) -> int:
        return self.proc.pid if self.proc and self.proc.poll() is None else 0

    def stop(self) -> None:
        D.terminate(self.proc, 15)


def bus_conf(kind: str, vk: Valkeys | None) -> str:
    if kind == "local":
        return 'kind = "local"'
    base = f'kind = "redis"\nmode = "native"\nprefix = "{PREFIX}"\nhost = "127.0.0.1"\n'
    if kind == "classic":
        return base + f"port = {vk.ports()[0]}"
    if kind == "broadcast":   # classic pub/sub on a cluster node: Herald sees one plain server
        return base + f"port = {vk.ports()[0]}"
    nodes = ", ".join(f'"127.0.0.1:{p}"' for p in vk.ports()[:1])
    return base + f"port = {vk.ports()[0]}\ncluster = true\ncluster_nodes = [{nodes}]"


BUS_KEYS = ("herald_bus_messages_received_total", "herald_bus_read_batches_total", "herald_bus_bytes_read_total",
            "herald_bus_publish_bytes_total", "herald_bus_publish_fences_total", "herald_bus_publishes_total",
            "herald_bus_publish_failures_total", "herald_bus_invalid_messages_total", "herald_bus_reconnects_total",
            "herald_events_delivered_total", "herald_events_published_total", "herald_errors_total",
            "herald_slow_consumer_drops_total")
GAUGES = ("herald_connections", "herald_bus_subscribed_channels", "herald_bus_subscriber_connections",
          "herald_bus_publisher_connections")


def slab_kib() -> int:
    """Kernel slab memory (/proc/meminfo Slab): where socket structures live. Machine-wide, so noisy
    on a shared machine; both ends of each loopback stream are counted."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("Slab:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def thread_cpu(pid: int) -> dict:
    """CPU seconds per thread name (/proc/PID/task/*/stat), summed over threads of the same name."""
    out: dict = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            s = open(f"/proc/{pid}/task/{tid}/stat").read()
        except OSError:
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        out[name] = out.get(name, 0.0) + (int(f[11]) + int(f[12])) / D.CLK_TCK
    return out


class NodeWindow(D.Window):
    """The single-node bench's CPU window (server core incl. ksoftirqd, load core, contention), plus
    per node: process CPU, per-thread CPU (by thread name) and its metrics, at the same instants."""

    def __init__(self, nodes: list[Node], load_pids: list[int], vk: Valkeys | None):
        self.nodes, self.vk = nodes, vk
        super().__init__([n.pid() for n in nodes], load_pids + (vk.pids() if vk else []))

    def _extra(self) -> dict:
        return dict(cpu=[D.proc_cpu_s(n.pid()) for n in self.nodes], threads=[thread_cpu(n.pid()) for n in self.nodes],
                    metrics=[n.metrics() for n in self.nodes], valkey=self.vk.snapshot() if self.vk else None)

    def restart(self) -> None:
        super().restart()
        self.x0 = self._extra()
        self.x1 = None

    def mark(self) -> None:
        super().mark()
        self.x1 = self._extra()

    def close_all(self, load_cpu_s: float) -> tuple[dict, list[dict], dict | None]:
        w = self.close(load_cpu_s)
        x1 = self.x1 or self._extra()
        per = []
        for i, n in enumerate(self.nodes):
            m0, m1 = self.x0["metrics"][i], x1["metrics"][i]
            d = {k.replace("herald_", "").replace("_total", ""): m1.get(k, 0) - m0.get(k, 0) for k in BUS_KEYS}
            d.update({k.replace("herald_", ""): m1.get(k) for k in GAUGES})
            t0, t1 = self.x0["threads"][i], x1["threads"][i]
            d["cpu_s"] = round(x1["cpu"][i] - self.x0["cpu"][i], 3)
            d["threads_cpu_s"] = {k: round(v - t0.get(k, 0.0), 3) for k, v in t1.items() if v - t0.get(k, 0.0) > 0}
            d["node"] = n.index
            per.append(d)
        vk = Valkeys.delta(self.x0["valkey"], x1["valkey"]) if self.vk else None
        return w, per, vk


# ------------------------------------------------------------------------------------------ bench
class ScaleBench:
    def __init__(self, args):
        self.args = args
        self.tools = D.Tools(Path(args.bin))
        self.date = dt.date.today().isoformat()
        # A smoke run (--quick) is not a published figure: it goes with the exploratory runs.
        default = (D.BENCH / "results" / "archive" / self.date / "scaleout-smoke" if args.quick
                   else D.BENCH / "results" / self.date / "scaleout")
        self.results_dir = Path(args.results) if args.results else default
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.results_dir / "results.jsonl"
        self.work = Path(tempfile.mkdtemp(prefix="herald-scaleout-"))
        self.run_id = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
        self.herald_bin = D.HeraldServer.find_binary()
        if not self.herald_bin:
            sys.exit("no Herald binary found (build/**/herald); build it first (bench/run.sh does)")
        self.proto = D.HeraldServer(self.herald_bin, self.tools, self.work, Path(args.cache))
        self.per_node = args.streams_per_node
        self.scale = self.per_node / FULL_STREAMS
        self.single: Valkeys | None = None
        self.cluster: Valkeys | None = None
        log(f"work dir {self.work}; results {self.results_dir}; {self.per_node} streams per node")

    def dur(self, full: float) -> float:
        return min(full, 4.0) if self.args.quick else full

    def emit(self, rec: dict) -> None:
        rec.setdefault("run_id", self.run_id)
        rec.setdefault("date", self.date)
        rec.setdefault("time", dt.datetime.now().isoformat(timespec="seconds"))
        rec.setdefault("quick", bool(self.args.quick))
        rec.setdefault("server", "herald")
        rec.setdefault("git", self.m.get("git"))
        rec.setdefault("herald_binary", self.herald_bin)
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        keys = ("scenario", "variant", "config", "deliveries_per_s", "publishes_per_s", "lost",
                "lat_arrival_steady_p99_ms", "cpu_us_per_delivery", "valkey_cpu_us_per_publish", "rss_kib_per_stream",
                "failures", "error")
        brief = {k: rec.get(k) for k in keys if rec.get(k) is not None}
        log(f"result {json.dumps(brief)}")

    # --------------------------------------------------------------------------------- valkey
    def valkeys(self, kind: str) -> Valkeys | None:
        if kind == "local":
            return None
        if kind == "classic":
            if self.single is None:
                self.single = start_single(self.work)
            return self.single
        if self.cluster is None:
            log("starting a 3-master redis-server cluster")
            self.cluster = start_cluster(self.work)
        return self.cluster

    # ------------------------------------------------------------------------------------ runs
    def start_nodes(self, config: str, vk: Valkeys | None) -> list[Node]:
        c = CONFIGS[config]
        nodes = [Node(self.proto, self.work, i, reuse_port=c["nodes"] > 1) for i in range(c["nodes"])]
        started = []
        try:
            for n in nodes:
                n.start(bus_conf(c["bus"], vk) + (f'\nthread = "{c["thread"]}"' if "thread" in c else ""))
                started.append(n)
            for n in nodes:
                n.wait_ready()
        except Exception:
            for n in started:
                n.stop()
            raise
        return nodes

    def run(self, config: str, scenario: str, variant: str, rnd: int = 1) -> None:
        c = CONFIGS[config]
        nn = c["nodes"]
        n = self.per_node * nn
        offered = {"fanout": self.args.fanout_deliveries, "spread": self.args.spread_deliveries,
                   "resource": self.args.resource_deliveries}
        if scenario == "idle":
            channels = n
        elif scenario == "fanout":
            channels = 1
        else:
            channels = min(self.args.spread_channels, self.per_node)
        per_channel = n / channels
        flat = variant == "flat-out"
        rate = 0.0 if flat or scenario == "idle" else round(offered[scenario] * self.scale / per_channel, 3)
        warmup = self.args.latency_warmup if rate > 0 else 0.0
        duration = self.dur({"fanout": 15.0, "spread": 10.0 if flat else 15.0}.get(scenario, 5.0))
        rec = dict(scenario=scenario, variant=f"{config} {variant}".strip(), config=config, bus=c["bus"], nodes=nn,
                   n=n, streams_per_node=self.per_node, channels=channels, rate=rate, duration=duration,
                   warmup_s=warmup, event_bytes=D.EVENT_BYTES, publish_via=self.args.publish_via, round=rnd)
        rec["others_load_before"] = D.wait_quiet(self.args.quiet_wait)
        vk = None
        nodes: list[Node] = []
        lg = None
        idle_rec = None
        try:
            vk = self.valkeys(c["bus"])
            nodes = self.start_nodes(config, vk)
            time.sleep(0.5)
            mem0 = [D.proc_mem_kib(x.pid()) for x in nodes]
            vk0 = vk.snapshot() if vk else None
            tcp0, slab0 = D.tcp_mem_pages(), slab_kib()
            t0 = time.monotonic()
            hold = duration + warmup + (self.dur(12.0) + 60 if scenario == "idle" else 0)
            lg = D.LoadGroup(self.tools, self.work, f"{scenario}-{config}-{variant}".strip().replace(" ", "_"), n,
                             PORTS["public"], "/bench/c{i}", channels, duration=hold + 90, open_on="event",
                             token=self.proto.token, extra=["--warmup", f"{self.args.latency_warmup:g}"])
            if not lg.wait_ready(120):
                raise RuntimeError(f"streams not ready: {lg.progress()}")
            rec["open_s"] = round(time.monotonic() - t0, 2)
            rec["opened"] = lg.ready_opened()
            if scenario == "idle":
                self.idle_phase(rec, nodes, vk, lg, mem0, vk0, tcp0, slab0)
                idle_rec = rec   # emitted after the resource phase, which stops the loadgen (establishment)
                rec = dict(rec, scenario="resource", variant=f"{config}", rate=round(
                    offered["resource"] * self.scale, 3), duration=self.dur(10.0), warmup_s=self.args.latency_warmup,
                    channels=channels)
                for k in ("rss_kib_per_stream", "valkey_idle", "nodes_idle", "idle_window",
                          "kernel_tcp_kib_per_stream", "slab_kib_per_stream", "events_during_idle"):
                    rec.pop(k, None)
                rec["publish_via"] = "valkey" if vk else "http"
            self.delivery_phase(rec, nodes, vk, lg, channels, per_channel)
            lg = None  # stopped by delivery_phase
            if idle_rec is not None:
                for k in ("est_p50_ms", "est_p99_ms", "est_p999_ms", "est_max_ms"):
                    idle_rec[k] = rec.get(k)
                idle_rec["opens_per_s"] = (rec.get("loadgen") or {}).get("opens_per_s")
        except Exception as e:
            rec["error"] = str(e)[:2000]
            log(f"run failed: {e}")
        finally:
            if lg:
                try:
                    lg.stop()
                except Exception:
                    pass
            for x in nodes:
                x.stop()
        if idle_rec is not None:
            self.emit(idle_rec)
        self.emit(rec)

    def idle_phase(self, rec, nodes, vk, lg, mem0, vk0, tcp0, slab0) -> None:
        time.sleep(2.0)   # let the nodes settle (request buffers released, subscriptions confirmed)
        mem1 = [D.proc_mem_kib(x.pid()) for x in nodes]
        tcp1, slab1 = D.tcp_mem_pages(), slab_kib()
        win = NodeWindow(nodes, [], vk)
        time.sleep(self.dur(5.0))
        w, per, vkd = win.close_all(0.0)
        res_est = lg.progress()
        per_node = []
        for i, x in enumerate(nodes):
            streams = per[i].get("connections") or 0
            d_rss = mem1[i].get("VmRSS", 0) - mem0[i].get("VmRSS", 0)
            per_node.append(dict(node=x.index, streams=streams, rss_before_kib=mem0[i].get("VmRSS"),
                                 rss_after_kib=mem1[i].get("VmRSS"), rss_kib_per_stream=round(d_rss / streams, 3)
                                 if streams else None, subscribed_channels=per[i].get("bus_subscribed_channels"),
                                 idle_cpu_share=round(per[i]["cpu_s"] / w["wall_s"], 4) if w["wall_s"] else None,
                                 threads_cpu_s=per[i]["threads_cpu_s"]))
        opened = rec["opened"]
        total_rss = sum((mem1[i].get("VmRSS", 0) - mem0[i].get("VmRSS", 0)) for i in range(len(nodes)))
        rec.update(nodes_idle=per_node, failures=max(0, rec["n"] - opened),
                   rss_kib_per_stream=round(total_rss / opened, 3) if opened else None,
                   kernel_tcp_kib_per_stream=round((tcp1 - tcp0) * D.PAGE / 1024 / opened, 3) if opened else None,
                   slab_kib_per_stream=round((slab1 - slab0) / opened, 3) if opened else None,
                   idle_window=w, events_during_idle=res_est.get("events"))
        if vk and vk0:
            v1 = vk.snapshot()
            subs = sum(p.get("subscribed_channels") or 0 for p in per_node)
            rec["valkey_idle"] = dict(used_memory_delta=v1["used_memory"] - vk0["used_memory"], subscriptions=subs,
                                      bytes_per_subscription=round((v1["used_memory"] - vk0["used_memory"]) / subs, 1)
                                      if subs else None, cpu_s_open=round(v1["cpu_s"] - vk0["cpu_s"], 3),
                                      idle_cpu_s=vkd["cpu_s"] if vkd else None)

    def publisher_args(self, rec, nodes, vk, channels) -> list[str]:
        tpl = f"bench:{self.proto.tenant}:c{{i}}"
        if rec.get("publish_via") == "valkey":
            a = ["--mode", "redis", "--redis-format", "native", "--redis-prefix", PREFIX, "--channel-template", tpl]
            if rec["bus"] == "sharded":
                a += ["--slot-ports", vk.slot_map()]
            else:
                a += ["--port", str(vk.ports()[0])]
            return a
        ports = [nodes[0].internal] if self.args.publish_via == "first" else [x.internal for x in nodes]
        return ["--mode", "herald", "--ports", ",".join(map(str, ports)), "--port", str(ports[0]),
                "--key", self.proto.key, "--channel-template", tpl]

    def delivery_phase(self, rec, nodes, vk, lg, channels, per_channel) -> None:
        rate, warmup, duration = rec["rate"], rec["warmup_s"], rec["duration"]
        flat = rate == 0
        tag = f"{rec['scenario']}-{rec['variant']}".replace(" ", "_")
        pargs = self.publisher_args(rec, nodes, vk, channels) + [
            "--channels", str(channels), "--rate", str(rate), "--duration", str(warmup + duration),
            "--event", D.EVENT, "--event-bytes", str(D.EVENT_BYTES)]
        if flat:
            pargs += ["--connections", str(self.args.pub_connections), "--pipeline", str(self.args.pub_pipeline)]
        else:
            pargs += ["--connections", str(self.args.rate_connections), "--pipeline", str(self.args.rate_pipeline)]
        events0 = lg.progress()["events"]
        win = NodeWindow(nodes, lg.pids(), vk)
        pub, pub_out = D.run_publisher(self.tools, self.work, tag, pargs)
        while pub.poll() is None:
            time.sleep(0.1)
        pubres = D.read_json(pub_out)
        expected = int(pubres.get("ok_2xx", 0) * per_channel)
        lg.wait_settled(expected + events0, cap_s=30, window=win)
        load_cpu = win.load_cpu_s() + pubres.get("cpu_s", 0.0)
        w, per, vkd = win.close_all(load_cpu)
        res = lg.stop()
        received = res.get("events", 0) - events0
        span = (res.get("last_event_ns", 0) - res.get("first_event_ns", 0)) / 1e9
        send_s = pubres.get("send_s", duration) or duration
        published = pubres.get("ok_2xx", 0)
        eff = max(span, send_s) if span > 0 else send_s
        cpu = w["server_cpu_s"]
        for p in per:
            p["cpu_us_per_delivery"] = round(p["cpu_s"] * 1e6 / p["events_delivered"], 3) \
                if p["events_delivered"] else None
            p["cpu_us_per_message"] = round(p["cpu_s"] * 1e6 / p["bus_messages_received"], 3) \
                if p["bus_messages_received"] else None
            p["messages_per_read"] = round(p["bus_messages_received"] / p["bus_read_batches"], 2) \
                if p["bus_read_batches"] else None
            p["bus_bytes_per_message"] = round(p["bus_bytes_read"] / p["bus_messages_received"], 1) \
                if p["bus_messages_received"] else None
        rec.update(
            expected=expected, deliveries=received, lost=max(0, expected - received),
            lost_seq=res.get("lost"), dups=res.get("dups"),
            deliveries_per_s=round(received / eff, 1) if eff else None,
            offered_deliveries_per_s=round(rate * per_channel, 1) if rate else None,
            delivery_span_s=round(span, 3), send_s=send_s, publishes=published,
            publishes_per_s=round(published / send_s, 1) if send_s else None,
            cpu_us_per_delivery=round(cpu * 1e6 / received, 3) if received else None,
            cpu_us_per_delivery_proc=round(w["server_proc_cpu_s"] * 1e6 / received, 3) if received else None,
            cpu_us_per_publish=round(cpu * 1e6 / published, 3) if published else None,
            server_core_deliveries_per_cpu_s=round(received / cpu, 1) if cpu else None,
            window=w, per_node=per, loadgen_cpu_share=res.get("stream_cpu_share"),
            publisher_cpu_share=pubres.get("cpu_share"), failures=max(0, rec["n"] - res.get("opened", 0)) +
            res.get("closed_after_open", 0), contended=D.contended(w), load_bound=D.load_bound(w),
            loadgen=D.Bench.loadgen_brief(res), publisher=pubres or None)
        msgs = sum(p.get("bus_messages_received") or 0 for p in per)
        rec["bus_messages_out"] = msgs   # messages Valkey wrote to the nodes' subscriber connections
        if vkd is not None:
            rec["valkey"] = vkd
            if msgs:
                rec["valkey_out_bytes_per_message"] = round(vkd["net_out"] / msgs, 1)
                rec["subscriber_messages_per_publish"] = round(msgs / published, 3) if published else None
            if published:
                rec.update(valkey_cpu_us_per_publish=round(vkd["cpu_s"] * 1e6 / published, 3),
                           valkey_in_bytes_per_publish=round(vkd["net_in"] / published, 1),
                           valkey_out_bytes_per_publish=round(vkd["net_out"] / published, 1),
                           valkey_link_bytes_per_publish=round(vkd["link_bytes"] / published, 1))
        D.Bench.latency(rec, res)

    # ------------------------------------------------------------------------------------ main
    def plan(self) -> list[tuple[str, str, str, int]]:
        """Every run once, then the spread runs' further rounds (the targets' figures are their
        medians), round after round across the configurations: a machine whose speed drifts (runs
        minutes apart differ by up to ±20% here) then moves every configuration's median alike."""
        runs, again = [], []
        for config in self.args.configs:
            lim = LIMITED.get(config, {})
            for s in self.args.scenarios:
                variants = {"idle": [""], "fanout": ["fixed"], "spread": ["flat-out", "fixed"]}[s]
                if s in lim:
                    variants = [v for v in variants if v in lim[s]]
                for v in variants:
                    runs.append((config, s, v, 1))
                    if s == "spread":
                        again += [(rnd, config, s, v) for rnd in range(2, self.args.rounds + 1)]
        return runs + [(c, s, v, rnd) for rnd, c, s, v in sorted(again, key=lambda x: x[0])]

    def run_all(self) -> None:
        self.m = self.machine()
        (self.results_dir / "machine.json").write_text(json.dumps(self.m, indent=2) + "\n")
        argv = [a for a in sys.argv[1:] if not a.startswith("--bin") and a != self.args.bin]
        cmd = "bench/run.sh scaleout " + " ".join(shlex.quote(a) for a in argv)
        with open(self.results_dir / "command.txt", "a") as f:
            f.write(f"{dt.datetime.now().isoformat(timespec='seconds')} run {self.run_id} git {self.m.get('git')}"
                    f"{' (src/ modified)' if self.m.get('git_dirty') else ''}: {cmd}\n")
        t0 = time.monotonic()
        plan = self.plan()
        try:
            for i, (config, s, v, rnd) in enumerate(plan):
                log(f"=== {i + 1}/{len(plan)}: {config} {s} {v} (round {rnd}) ===")
                self.run(config, s, v, rnd)
        finally:
            for vk in (self.single, self.cluster):
                if vk:
                    vk.stop()
        log(f"=== scale-out done in {time.monotonic() - t0:.0f}s ===")
        import scaleout_report
        (self.results_dir / "summary.md").write_text(scaleout_report.summary(self.results_dir))
        log(f"summary: {self.results_dir / 'summary.md'}")
        if not self.args.keep_work:
            shutil.rmtree(self.work, ignore_errors=True)

    def machine(self) -> dict:
        b = D.Bench.__new__(D.Bench)
        b.herald_bin = self.herald_bin
        m = D.Bench.machine(b)
        m["redis_cli"] = subprocess.run(["redis-cli", "--version"], capture_output=True, text=True).stdout.strip()
        m["valkey_note"] = ("Valkey is not packaged in Debian 12; redis-server 7 (same protocol, sharded pub/sub "
                            "since 7.0) stands in for it")
        return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="directory with herald-loadgen etc.")
    ap.add_argument("--configs", type=lambda v: v.split(","), default=DEFAULT_CONFIGS,
                    help=f"comma-separated, from {','.join(CONFIGS)} (default: all)")
    ap.add_argument("--scenarios", type=lambda v: v.split(","), default=SCENARIOS,
                    help="idle (with its resource phase), fanout, spread (default: all)")
    ap.add_argument("--streams-per-node", type=int, default=FULL_STREAMS,
                    help="streams each node holds (default 15,000: 45,000 with three nodes); rates scale with it")
    ap.add_argument("--fanout-deliveries", type=float, default=90000,
                    help="fanout: offered deliveries/s at 15,000 streams per node, whatever the node count "
                         "(one node: 6 events/s; three: 2/s)")
    # A rate every configuration sustains (through the bus one node's flat-out figure is 55,000-110,000 here),
    # so the p99 comparison is between nodes doing the same work, not between a saturated one and another.
    ap.add_argument("--spread-deliveries", type=float, default=45000,
                    help="spread fixed rate: offered deliveries/s (one node: 3,000 publishes/s; three: 1,000/s)")
    ap.add_argument("--resource-deliveries", type=float, default=30000,
                    help="resource: events/s, one delivery each, published straight into Valkey")
    ap.add_argument("--spread-channels", type=int, default=1000)
    ap.add_argument("--publish-via", choices=["first", "all"], default="first",
                    help="POST /publish to the first node only (default: the other nodes' CPU is then pure "
                         "receive + deliver) or round-robin over every node's internal port")
    ap.add_argument("--rounds", type=int, default=3,
                    help="spread runs (flat out and fixed rate) repeated this many times, interleaved across "
                         "configurations; their medians are reported")
    ap.add_argument("--latency-warmup", type=float, default=2.0)
    # Flat out through the bus, every POST waits for a Valkey round trip. Before 92a743a a connection's
    # pipelined POSTs waited one after the other, so the publisher's concurrency was its connection
    # count: more of them than the single-node bench's 8, kept so runs compare (bench/README.md,
    # "Scale-out").
    ap.add_argument("--pub-connections", type=int, default=32)
    ap.add_argument("--pub-pipeline", type=int, default=4)
    # Before 92a743a each connection's POSTs waited for their Valkey round trips one after the other:
    # 2 connections could not offer 3,000 publishes/s through the bus, so 8 (kept so runs compare).
    ap.add_argument("--rate-connections", type=int, default=8)
    ap.add_argument("--rate-pipeline", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="4-second runs: a smoke test, not evidence")
    ap.add_argument("--quiet-wait", type=float, default=30.0)
    ap.add_argument("--results", default="")
    ap.add_argument("--cache", default=str(D.ROOT / "build" / "bench-cache"))
    ap.add_argument("--keep-work", action="store_true")
    args = ap.parse_args()
    for c in args.configs:
        if c not in CONFIGS:
            sys.exit(f"unknown config {c}; choose from {', '.join(CONFIGS)}")
    for s in args.scenarios:
        if s not in SCENARIOS:
            sys.exit(f"unknown scenario {s}; choose from {', '.join(SCENARIOS)}")
    if args.streams_per_node * 3 > 3 * 19000:
        sys.exit("--streams-per-node above 19,000 would pass the 20,000 files per process cap")
    ScaleBench(args).run_all()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The soak test's driver (scripts/soak.sh runs it): churn against one `herald serve` on a
redis-server for MINUTES, sampling the process every second into a CSV and a PNG, and reporting the
slope of each sample (least-squares line) so a leak shows as a rate.

Churn, all at once: streams opened and closed by several threads (held 0.2-4 s; some cut before
their head arrives), requests with bad tokens and unknown paths, a publisher posting batches,
clients that never read (the slow-consumer path), the live re-check every few seconds, the stream
caps refusing past their limits, and one redis-server kill -9 and restart at 40 % of the run.

Samples: RSS, open descriptors and threads of the process (/proc), open streams and TCP connections
(/metrics), the bus's publishes awaiting Valkey (herald_bus_pending_publishes) and the bytes waiting
in the kernel send queues of the process's sockets (/proc/net/tcp: the queues a slow client fills),
plus cumulative counters. Standard library, Debian's python3-redis (the test harness) and
python3-matplotlib; run with /usr/bin/python3.
"""
import argparse
import json
import os
import random
import re
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "pylib"))
sys.path.insert(0, os.path.join(HERE, "..", "test", "multinode"))

import herald_harness as h  # noqa: E402
from herald_server import HeraldServer  # noqa: E402

TENANTS = 4
USERS_PER_TENANT = 3
RESOURCES = 8
COLUMNS = [
    "t", "rss_kib", "fds", "threads", "streams", "http_connections", "bus_pending_publishes",
    "kernel_sendq_bytes", "bus_up", "published_total", "delivered_total", "refused_total",
    "slow_consumer_total", "errors_total",
]


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}

    def add(self, key, n=1):
        with self.lock:
            self.values[key] = self.values.get(key, 0) + n


def metrics(port):
    status, _, body = h.http_request(port, "GET", "/metrics", timeout=5)
    if status != 200:
        return {}
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        base = name.split("{")[0]
        try:
            out[base] = out.get(base, 0) + float(value)
        except ValueError:
            pass
    return out


def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    return inodes


def kernel_sendq(pid):
    """Bytes waiting in the send queues of the process's TCP sockets."""
    inodes = socket_inodes(pid)
    total = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if len(cols) > 9 and cols[9] in inodes:
                        total += int(cols[4].split(":")[0], 16)
        except OSError:
            pass
    return total


def proc_status(pid):
    rss = threads = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def open_stream(port, path, token, hold, abrupt=False):
    """Opens a stream, reads its head, keeps reading for `hold` seconds, closes. Returns the status
    (0 when the connection was cut before the head)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer %s\r\n\r\n"
                   % (path, token)).encode())
        if abrupt:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return 0
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                return 0
            head += chunk
        status = int(head[9:12])
        if status == 200:
            until = time.time() + hold
            s.settimeout(0.5)
            while time.time() < until:
                try:
                    if not s.recv(65536):
                        break
                except socket.timeout:
                    pass
        return status
    finally:
        s.close()


class Soak:
    def __init__(self, args):
        self.args = args
        self.end = time.time() + args.minutes * 60
        self.stop = threading.Event()
        self.counters = Counters()
        self.events = []  # (t, label) for the plot
        os.makedirs(args.out, exist_ok=True)
        self.work = os.path.join(args.out, "work")
        os.makedirs(self.work, exist_ok=True)

    # -- setup
    def start(self):
        self.redis = h.RedisServer(self.work).start()
        self.node = HeraldServer(
            self.work,
            bus={"host": "127.0.0.1", "port": self.redis.port},
            extra={
                "server": {
                    "threads": 2,
                    "keepalive_seconds": 5,
                    "max_streams_per_user": 2,  # low enough that the caps refuse some
                    "max_streams_per_tenant": 6,
                    "max_streams": 400,
                    "connect_rate_per_address": 100,
                    "connect_burst_per_address": 100,
                    "queue_max_bytes": 262144,
                    "send_buffer_bytes": 16384,
                },
                "tenancy": {"recheck_interval_seconds": 5, "connect_cache_seconds": 2},
                "log": {"level": "info"},  # HeraldServer waits for "herald listening"
            },
        ).start()
        self.node.wait_ready()
        self.pid = self.node.proc.pid
        self.callers = []
        for t in range(TENANTS):
            tenant = "0191e3a1-6c1e-7a3b-9f00-%012d" % (t + 1)
            for u in range(USERS_PER_TENANT):
                user = "00000000-0000-4000-8000-%012d" % (100 * t + u + 1)  # user ids are UUIDs
                self.node.add_member(user, tenant)
                self.callers.append((user, tenant, self.node.token(user, tenant)))
        other = "0191e3a1-6c1e-7a3b-9f00-000000009999"
        stranger = "00000000-0000-4000-8000-000000009999"
        self.node.add_member(stranger, other)
        self.wrong_tenant = self.node.token(stranger, self.callers[0][1])  # not a member

    # -- churn
    def streams(self, seed):
        rnd = random.Random(seed)
        while not self.stop.is_set():
            user, tenant, token = rnd.choice(self.callers)
            path = "/streams/r%d" % rnd.randrange(RESOURCES)
            try:
                status = open_stream(self.node.public_port, path, token, rnd.uniform(0.2, 4.0),
                                     abrupt=rnd.random() < 0.1)
                self.counters.add("stream_%d" % status)
            except OSError as e:
                self.counters.add("stream_error_" + type(e).__name__)
                time.sleep(0.05)

    def bad_requests(self):
        rnd = random.Random(7)
        tokens = ["garbage", "a.b.c", self.wrong_tenant, "eyJhbGciOiJub25lIn0.e30."]
        while not self.stop.is_set():
            path = rnd.choice(["/streams/r1", "/nope", "/streams/r1?access_token=x"])
            try:
                status = open_stream(self.node.public_port, path, rnd.choice(tokens), 0)
                self.counters.add("bad_%d" % status)
            except OSError as e:
                self.counters.add("bad_error_" + type(e).__name__)
            time.sleep(0.02)

    def publisher(self):
        rnd = random.Random(11)
        seq = 0
        while not self.stop.is_set():
            batch = []
            for _ in range(10):
                seq += 1
                _, tenant, _ = rnd.choice(self.callers)
                batch.append({"channel": "test:%s:r%d" % (tenant, rnd.randrange(RESOURCES)),
                              "event": "scan.progress",
                              "data": {"seq": seq, "ratio": rnd.random(), "pad": "x" * 200},
                              "id": str(seq)})
            try:
                status, _, _ = self.node.request(
                    "POST", "/publish", json.dumps({"events": batch}),
                    {"Authorization": "Bearer " + self.node.publisher_key,
                     "Content-Type": "application/json"})
                self.counters.add("publish_%d" % status)
            except OSError as e:
                self.counters.add("publish_error_" + type(e).__name__)
            time.sleep(0.02)

    def never_readers(self):
        rnd = random.Random(13)
        while not self.stop.is_set():
            user, tenant, token = rnd.choice(self.callers)
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            try:
                s.connect(("127.0.0.1", self.node.public_port))
                s.sendall(("GET /streams/r0 HTTP/1.1\r\nHost: soak\r\n"
                           "Authorization: Bearer %s\r\n\r\n" % token).encode())
                self.stop.wait(rnd.uniform(5, 15))  # never reads: the queue fills, or it is cut
                self.counters.add("never_reader")
            except OSError:
                pass
            finally:
                s.close()

    def redis_restart_step(self):
        """Called by the sampling loop (the main thread) once a second: kill -9 at 40 % of the run,
        start again 3 s later. Not a worker thread: the harness starts processes with
        PR_SET_PDEATHSIG, which kills a child when the *thread* that started it ends."""
        now = time.time() - self.t0
        if self.restart_state == 0 and now >= self.args.minutes * 60 * 0.4:
            self.events.append((now, "redis kill -9"))
            self.redis.kill9()
            self.restart_state, self.restart_at = 1, now + 3
        elif self.restart_state == 1 and now >= self.restart_at:
            self.redis = h.RedisServer(self.work, port=self.redis.port).start()
            self.events.append((time.time() - self.t0, "redis back"))
            self.restart_state = 2

    # -- sampling
    def sample(self, writer):
        m = metrics(self.node.internal_port)
        rss, threads = proc_status(self.pid)
        row = {
            "t": round(time.time() - self.t0, 2),
            "rss_kib": rss,
            "fds": len(os.listdir("/proc/%d/fd" % self.pid)),
            "threads": threads,
            "streams": int(m.get("herald_connections", 0)),
            "http_connections": int(m.get("herald_http_connections", 0)),
            "bus_pending_publishes": int(m.get("herald_bus_pending_publishes", 0)),
            "kernel_sendq_bytes": kernel_sendq(self.pid),
            "bus_up": int(m.get("herald_bus_up", 0)),
            "published_total": int(m.get("herald_events_published_total", 0)),
            "delivered_total": int(m.get("herald_events_delivered_total", 0)),
            "refused_total": int(m.get("herald_streams_refused_total", 0)),
            "slow_consumer_total": int(m.get("herald_slow_consumer_drops_total", 0)),
            "errors_total": int(m.get("herald_errors_total", 0)),
        }
        writer.write(",".join(str(row[c]) for c in COLUMNS) + "\n")
        writer.flush()
        return row

    def run(self):
        self.start()
        self.t0 = time.time()
        workers = [threading.Thread(target=self.streams, args=(i,), daemon=True) for i in range(12)]
        workers += [threading.Thread(target=f, daemon=True)
                    for f in (self.bad_requests, self.publisher, self.never_readers)]
        self.restart_state = 0
        for w in workers:
            w.start()
        rows = []
        csv_path = os.path.join(self.args.out, "samples.csv")
        with open(csv_path, "w") as out:
            out.write(",".join(COLUMNS) + "\n")
            next_at = time.time()
            while time.time() < self.end:
                next_at += 1.0
                rows.append(self.sample(out))
                self.redis_restart_step()
                time.sleep(max(0.0, next_at - time.time()))
            self.stop.set()
            for w in workers:
                w.join(timeout=20)
            # After the churn: every stream should be gone (idle for 10 s, sampled).
            settle = time.time() + 10
            while time.time() < settle:
                rows.append(self.sample(out))
                time.sleep(1)
        self.node.stop()
        self.redis.stop()
        return rows, csv_path


def slope(rows, key, skip):
    """Least-squares slope of `key` over t (per minute), from t >= skip."""
    pts = [(r["t"], r[key]) for r in rows if r["t"] >= skip]
    n = len(pts)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    return 60.0 * sum((t - mt) * (v - mv) for t, v in pts) / var if var else 0.0


def plot(rows, events, path, churn_end):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("rss_kib", "RSS (KiB)"), ("fds", "open descriptors"), ("streams", "open streams"),
              ("bus_pending_publishes", "bus publishes pending"),
              ("kernel_sendq_bytes", "kernel send queues (bytes)"), ("threads", "threads")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.2 * len(panels)), sharex=True)
    t = [r["t"] for r in rows]
    for ax, (key, label) in zip(axes, panels):
        ax.plot(t, [r[key] for r in rows], lw=0.8)
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
        for at, what in events:
            ax.axvline(at, color="red", lw=0.6, ls="--")
        ax.axvline(churn_end, color="grey", lw=0.6, ls=":")
    for at, what in events:
        axes[0].annotate(what, (at, axes[0].get_ylim()[1]), fontsize=7, color="red",
                         rotation=90, va="top")
    axes[-1].set_xlabel("seconds (dotted: churn ends)")
    fig.suptitle("herald soak: churn against one node", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("minutes", type=float)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    args.out = os.path.abspath(args.out)  # the node runs in its own directory
    soak = Soak(args)
    rows, csv_path = soak.run()
    churn_end = args.minutes * 60
    png = os.path.join(args.out, "samples.png")
    plot(rows, soak.events, png, churn_end)
    churn = [r for r in rows if r["t"] <= churn_end]
    warmup = min(60.0, churn_end * 0.2)  # the first minute fills caches and pools: not a leak
    last = rows[-1]
    lines = ["# herald soak: %.1f minutes" % args.minutes, "",
             "Command: `scripts/soak.sh %g`. Samples: `samples.csv` (one a second), plot: "
             "`samples.png`. Slopes are least-squares lines over the churn after the first %.0f s "
             "(warm-up), per minute." % (args.minutes, warmup), "",
             "| sample | first | max | last (after churn) | slope / min |",
             "|---|---|---|---|---|"]
    for key in ("rss_kib", "fds", "threads", "streams", "http_connections",
                "bus_pending_publishes", "kernel_sendq_bytes"):
        lines.append("| %s | %d | %d | %d | %+.2f |" % (
            key, churn[0][key] if churn else 0, max(r[key] for r in rows), last[key],
            slope(churn, key, warmup)))
    lines += ["", "Events: " + "; ".join("%s at %.0f s" % (w, t) for t, w in soak.events), "",
              "Outcomes (client side): " + ", ".join(
                  "%s %d" % (k, v) for k, v in sorted(soak.counters.values.items())),
              "", "Totals (server): published %d, delivered %d, refused (429) %d, slow consumers "
              "%d, 5xx %d" % (last["published_total"], last["delivered_total"],
                              last["refused_total"], last["slow_consumer_total"],
                              last["errors_total"])]
    summary = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(summary)
    print(summary)
    print("soak: wrote %s, %s, summary.md" % (csv_path, png))


if __name__ == "__main__":
    main()

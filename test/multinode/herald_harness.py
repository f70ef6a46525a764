"""Helpers for Herald's multi-node tests: redis-server and `herald serve` processes, SSE and HTTP.

Standard library plus Debian's python3-redis only; run with /usr/bin/python3.

Every process started here is:
  * started with PR_SET_PDEATHSIG=SIGKILL, so it dies with the test interpreter even on SIGKILL;
  * tracked in _LIVE and killed by an atexit hook;
  * stopped by the owning test through addCleanup (see HeraldTestCase).
Nothing here sleeps for a fixed time as an assertion: waits poll with a bounded deadline.
"""
import atexit
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

try:
    import redis
except ImportError as e:  # e.g. run with a python3 other than Debian's
    raise RuntimeError("the multi-node tests need Debian's python3-redis: run them with /usr/bin/python3 "
                       "(apt-get install python3-redis); this is %s (%s)" % (sys.executable, e))

# --------------------------------------------------------------------------------------------------
# The binary under test


def herald_bin():
    b = os.environ.get("HERALD_BIN", "")
    if not b:
        raise RuntimeError(
            "HERALD_BIN is not set: point it at the herald binary, e.g. "
            "HERALD_BIN=$PWD/build/default/herald /usr/bin/python3 -m unittest discover "
            "-s test/multinode -p 'test_*.py' -v")
    if not os.access(b, os.X_OK):
        raise RuntimeError("HERALD_BIN=%s is not an executable file" % b)
    return os.path.abspath(b)


for _tool in ("redis-server", "redis-cli", "openssl"):
    if shutil.which(_tool) is None:
        raise RuntimeError("%s not found on PATH (apt-get install redis-server openssl)" % _tool)

# --------------------------------------------------------------------------------------------------
# Processes

_LIVE = set()
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _kill_all_live():
    for p in list(_LIVE):
        try:
            p.kill()
            p.wait(timeout=5)
        except Exception:
            pass
    _LIVE.clear()


atexit.register(_kill_all_live)


def clean_env():
    """The environment for child processes: VALKEY_* would override the [bus] settings we write."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALKEY_")}
    env.pop("HERALD_PUBLISHER_KEY", None)
    return env


def spawn(argv, log_path, cwd=None):
    log = open(log_path, "ab")
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             cwd=cwd, env=clean_env(), preexec_fn=_die_with_parent)
    finally:
        log.close()
    _LIVE.add(p)
    return p


def stop_process(p, sig=signal.SIGKILL, timeout=10):
    if p is None:
        return
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    _LIVE.discard(p)


def run(argv, timeout=30):
    """Run to completion: (returncode, stdout, stderr) as text."""
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout, env=clean_env(), preexec_fn=_die_with_parent)
    return r.returncode, r.stdout, r.stderr


def read_text(path, tail=6000):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return text if len(text) <= tail else "..." + text[-tail:]


# --------------------------------------------------------------------------------------------------
# Waiting and ports


def wait_for(pred, timeout, what, interval=0.02):
    """Poll pred() until it returns a truthy value (returned); AssertionError after timeout seconds.
    `what` is a string or a callable giving one (evaluated only on failure). An AssertionError from
    pred() fails at once; other exceptions are retried."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except AssertionError:  # fatal (e.g. the process under test exited): fail at once
            raise
        except Exception as e:  # e.g. connection refused: keep polling, report it on timeout
            last_exc = e
        if time.monotonic() > deadline:
            msg = what() if callable(what) else what
            raise AssertionError("timed out after %.1f s waiting for %s%s" % (
                timeout, msg, "" if last_exc is None else " (last error: %r)" % (last_exc,)))
        time.sleep(interval)


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


_USED_PORTS = set()


def free_port(cluster_bus=False):
    """A free loopback port (and port+10000 free too when cluster_bus: Redis Cluster's bus port).
    Random starting points keep parallel test processes apart; bind() checks what is free."""
    rng = random.Random(os.getpid() * 7919 + time.monotonic_ns())
    for _ in range(2000):
        port = rng.randrange(20000, 50000)
        if port in _USED_PORTS:
            continue
        if _port_free(port) and (not cluster_bus or _port_free(port + 10000)):
            _USED_PORTS.add(port)
            return port
    raise RuntimeError("no free port")


# --------------------------------------------------------------------------------------------------
# redis-server


class RedisServer:
    def __init__(self, workdir, name="redis", extra_args=(), port=None, cluster=False):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.cluster = cluster
        self.port = port or free_port(cluster_bus=cluster)
        self.extra_args = list(extra_args)
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None

    def start(self):
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"]
        if self.cluster:
            argv += ["--cluster-enabled", "yes", "--cluster-config-file",
                     os.path.join(self.dir, "nodes.conf"), "--cluster-node-timeout", "5000"]
        argv += self.extra_args
        self.proc = spawn(argv, self.log_path)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited (%s):\n%s" % (
                    self.proc.returncode, read_text(self.log_path)))
            return self.client(timeout=0.5).ping()

        wait_for(up, 15, lambda: "redis-server on port %d to answer PING\n%s" % (
            self.port, read_text(self.log_path)))
        return self

    def kill9(self):
        stop_process(self.proc, signal.SIGKILL)
        self.proc = None

    def stop(self):
        self.kill9()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, timeout=5.0):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout,
                           socket_connect_timeout=timeout)

    def numsub(self, channel):
        return dict(self.client().pubsub_numsub(channel)).get(channel.encode(), 0)

    def shardnumsub(self, channel):
        r = self.client().execute_command("PUBSUB", "SHARDNUMSUB", channel)
        return int(r[1]) if r else 0

    def channels(self):
        return sorted(c.decode() for c in self.client().pubsub_channels())


# --------------------------------------------------------------------------------------------------
# HTTP (internal listener) and SSE (public listener)


def http_request(port, method, path, body=None, headers=None, timeout=10.0):
    """One HTTP/1.1 request with Connection: close: (status, headers dict, body bytes)."""
    h = {"Host": "127.0.0.1:%d" % port, "Connection": "close"}
    h.update(headers or {})
    data = b"" if body is None else (body if isinstance(body, bytes) else body.encode())
    if body is not None:
        h["Content-Length"] = str(len(data))
    req = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in h.items())
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(req.encode() + b"\r\n" + data)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    raw = b"".join(chunks)
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if "content-length" in hdrs:
        rest = rest[:int(hdrs["content-length"])]
    return status, hdrs, rest


PREAMBLE = ":" + " " * 2048 + "\n\n" + "event: stream-open\ndata:\n\n"
KEEP_ALIVE = "event: keep-alive\ndata:\n\n"


def sse_block(event, data, id=None):
    """The exact bytes Herald writes for one event (data without newlines)."""
    return "event: %s\n%sdata: %s\n\n" % (event, "" if id is None else "id: %s\n" % id, data)


class SSEClient:
    """A raw-socket SSE reader that keeps the exact bytes. Keep-alive blocks are skipped (and
    counted); everything else is returned block by block, each with its trailing blank line."""

    def __init__(self, port, path, token, headers=None):
        self.port, self.path = port, path
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n"
               "Authorization: Bearer %s\r\n%s\r\n" % (path, port, token, extra))
        self.sock.sendall(req.encode())
        self.buf = b""
        self.keepalives = 0
        self.closed_by_server = False
        self._read_head(time.monotonic() + 10)
        if self.status != 200:
            body = self.buf
            while self._recv(time.monotonic() + 2):
                pass
            raise AssertionError("stream %s answered %d: %r" % (path, self.status, body + self.buf))
        assert self.headers.get("content-type") == "text/event-stream", self.headers

    def _read_head(self, deadline):
        """Reads the response head: `head` (its text), `status`, `headers` (lower-case names)."""
        while b"\r\n\r\n" not in self.buf:
            if not self._recv(deadline):
                raise AssertionError("stream %s closed before its headers: %r" % (self.path, self.buf))
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")
        lines = self.head.split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def _recv(self, deadline):
        """Read once (until deadline). False on EOF, None on timeout, True on data."""
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        self.sock.settimeout(left)
        try:
            c = self.sock.recv(65536)
        except socket.timeout:
            return None
        except OSError:
            self.closed_by_server = True
            return False
        if not c:
            self.closed_by_server = True
            return False
        self.buf += c
        return True

    def expect_preamble(self, timeout=10):
        want = PREAMBLE.encode()
        deadline = time.monotonic() + timeout
        while len(self.buf) < len(want):
            r = self._recv(deadline)
            if not r:
                raise AssertionError("no complete preamble on %s (got %r)" % (self.path, self.buf[:80]))
        got, self.buf = self.buf[:len(want)], self.buf[len(want):]
        if got != want:
            raise AssertionError("stream %s preamble differs: %r" % (self.path, got[-60:]))

    def next_block(self, timeout):
        """The next complete non-keep-alive block (text incl. its trailing "\\n\\n"), or None if
        nothing complete arrived within timeout (or the server closed the stream)."""
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(b"\n\n")
            if i >= 0:
                block, self.buf = self.buf[:i + 2], self.buf[i + 2:]
                text = block.decode("utf-8")
                if text == KEEP_ALIVE:
                    self.keepalives += 1
                    continue
                return text
            if not self._recv(deadline):
                return None

    def expect_block(self, want, timeout=10, skip=None):
        """Wait for the next block (skipping blocks for which skip(block) is true) and require it to
        equal `want` exactly."""
        while True:
            got = self.next_block(timeout)
            if got is None:
                raise AssertionError("stream %s: no event within %.1f s; wanted %r (server closed: "
                                     "%s, pending bytes %r)" % (self.path, timeout, want,
                                                                self.closed_by_server, self.buf))
            if skip is not None and skip(got):
                continue
            if got != want:
                raise AssertionError("stream %s: got %r, wanted %r" % (self.path, got, want))
            return got

    def expect_silence(self, seconds, skip=None):
        """Nothing but keep-alives (and blocks skip() accepts) for `seconds`; the stream stays open."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = self.next_block(left)
            if got is not None and not (skip is not None and skip(got)):
                raise AssertionError("stream %s: unexpected extra event %r" % (self.path, got))
        if self.closed_by_server:
            raise AssertionError("stream %s was closed by the server" % self.path)
        if self.buf:
            raise AssertionError("stream %s: partial bytes pending %r" % (self.path, self.buf))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------------
# Herald nodes


def make_rsa_keys(directory):
    priv = os.path.join(directory, "private.pem")
    pub = os.path.join(directory, "public.pem")
    rc, out, err = run(["openssl", "genrsa", "-out", priv, "2048"])
    if rc != 0:
        raise RuntimeError("openssl genrsa failed: %s" % err)
    rc, out, err = run(["openssl", "rsa", "-in", priv, "-pubout", "-out", pub])
    if rc != 0:
        raise RuntimeError("openssl rsa -pubout failed: %s" % err)
    return priv, pub


def toml_str(s):
    return json.dumps(s)  # a TOML basic string is compatible with JSON's escaping for our inputs


class HeraldNode:
    """One `herald serve` process with its own config file; the store file may be shared."""

    AUDIENCE = "herald-multinode"
    ISSUER = "herald-multinode-tests"

    def __init__(self, workdir, name, keys, db_path, bus, publisher_key, threads=2):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.public_port = free_port()
        self.internal_port = free_port()
        self.publisher_key = publisher_key
        self.config_path = os.path.join(self.dir, "herald.toml")
        self.log_path = os.path.join(self.dir, "herald.log")
        self.proc = None
        priv, pub = keys
        bus_lines = ['kind = "redis"']
        for k, v in bus.items():
            if isinstance(v, bool):
                bus_lines.append("%s = %s" % (k, "true" if v else "false"))
            elif isinstance(v, int):
                bus_lines.append("%s = %d" % (k, v))
            elif isinstance(v, list):
                bus_lines.append("%s = [%s]" % (k, ", ".join(toml_str(x) for x in v)))
            else:
                bus_lines.append("%s = %s" % (k, toml_str(v)))
        cfg = """# Written by test/multinode (node {name}).
[server]
listen = "127.0.0.1:{pub_port}"
threads = {threads}
keepalive_seconds = 3600
shutdown_deadline_ms = 500

[internal]
listen = "127.0.0.1:{int_port}"
publisher_key = {key}

[auth]
algorithm = "RS256"
verify_key_file = {pub}
signing_key_file = {priv}
audience = {aud}
issuer = {iss}

[store]
path = {db}

[bus]
{bus}

[tenancy]
recheck_interval_seconds = 0

[log]
level = "info"

[[endpoints]]
path = "/api/v1/scans/{{scan_pk:uuid}}/event-stream"
channels = ["scan-progress:{{tenant_id}}:{{scan_pk}}"]
lookup = "SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id"

[[endpoints]]
path = "/streams/{{res}}"
channels = ["test:{{tenant_id}}:{{res}}"]
""".format(name=name, pub_port=self.public_port, int_port=self.internal_port,
           key=toml_str(publisher_key), pub=toml_str(pub), priv=toml_str(priv),
           aud=toml_str(self.AUDIENCE), iss=toml_str(self.ISSUER), db=toml_str(db_path),
           bus="\n".join(bus_lines), threads=threads)
        with open(self.config_path, "w") as f:
            f.write(cfg)

    # -- CLI
    def cli(self, *args, timeout=30):
        return run([herald_bin()] + list(args), timeout=timeout)

    def cli_ok(self, *args):
        rc, out, err = self.cli(*args)
        if rc != 0:
            raise AssertionError("herald %s failed (%d):\n%s%s" % (" ".join(args), rc, out, err))
        return out

    def add_member(self, user, tenant):
        self.cli_ok("member", "add", "--config", self.config_path, "--user", user, "--tenant", tenant)

    def token(self, user, tenant):
        return self.cli_ok("token", "--config", self.config_path, "--sub", user,
                           "--tenant", tenant).strip()

    # -- process
    def start(self):
        self.proc = spawn([herald_bin(), "serve", "--config", self.config_path], self.log_path,
                          cwd=self.dir)
        # Up when the log says so (fail fast with the log if it exits instead).
        wait_for(lambda: self._check_alive() and "herald listening" in read_text(self.log_path),
                 20, lambda: "node %s to listen:\n%s" % (self.name, self.log()))
        return self

    def _check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("herald node %s exited with %s:\n%s" % (
                self.name, self.proc.returncode, self.log()))
        return True

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        # SIGTERM first (graceful path exercised), SIGKILL after 10 s.
        stop_process(self.proc, signal.SIGTERM, timeout=10)

    def log(self):
        return "--- %s log (%s) ---\n%s" % (self.name, self.log_path, read_text(self.log_path))

    # -- internal listener
    def readyz(self):
        status, _, body = http_request(self.internal_port, "GET", "/readyz", timeout=3)
        return status, body

    def wait_ready(self, timeout=20):
        def ok():
            self._check_alive()
            return self.readyz()[0] == 200
        wait_for(ok, timeout, lambda: "node %s /readyz 200 (last: %r)\n%s" % (
            self.name, self._safe_readyz(), self.log()))

    def _safe_readyz(self):
        try:
            return self.readyz()
        except Exception as e:
            return repr(e)

    def publish(self, channel, event, data, id=None):
        """POST /publish: (status, parsed JSON body or raw bytes); headers in self.last_headers."""
        body = {"channel": channel, "event": event, "data": data}
        if id is not None:
            body["id"] = id
        status, hdrs, raw = http_request(
            self.internal_port, "POST", "/publish", json.dumps(body),
            {"Authorization": "Bearer " + self.publisher_key, "Content-Type": "application/json"})
        self.last_headers = hdrs
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def publish_ok(self, channel, event, data, id=None):
        status, body = self.publish(channel, event, data, id)
        if status != 200 or body != {"published": 1}:
            raise AssertionError("publish on %s: HTTP %d %r\n%s" % (self.name, status, body, self.log()))

    def metrics(self):
        status, _, raw = http_request(self.internal_port, "GET", "/metrics")
        assert status == 200, status
        out = {}
        for line in raw.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
        return out

    def metric(self, name):
        """The value of one series (name with labels as rendered). A series Herald does not render
        is an error, never 0: a renamed or unregistered metric must fail the test that reads it."""
        metrics = self.metrics()
        if name not in metrics:
            raise AssertionError("%s: /metrics has no series %s (it has: %s)"
                                 % (self.name, name, ", ".join(sorted(metrics))))
        return metrics[name]

    def stream(self, path, token):
        c = SSEClient(self.public_port, path, token)
        c.expect_preamble()
        return c


# --------------------------------------------------------------------------------------------------
# Test case base


class HeraldTestCase(unittest.TestCase):
    """Per test: a temp dir, RSA keys, a shared SQLite store seeded with one member, and helpers
    that start redis-servers and Herald nodes which are always stopped (addCleanup)."""

    PUBLISHER_KEY = "multinode-publisher-key-" + "0123456789abcdef"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="herald-multinode-")
        self.addCleanup(self._remove_tmp)
        self.keys = make_rsa_keys(self.tmp)
        self.db_path = os.path.join(self.tmp, "herald.db")
        self.tenant = str(uuid.uuid4())
        self.user = str(uuid.uuid4())
        self.nodes = []
        self.redises = []

    def _remove_tmp(self):
        # Keep the logs of a failed test for inspection when HERALD_KEEP_TMP is set.
        if os.environ.get("HERALD_KEEP_TMP"):
            print("kept", self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_redis(self, name="redis", **kw):
        r = RedisServer(self.tmp, name, **kw)
        self.addCleanup(r.stop)
        self.redises.append(r)
        return r.start()

    def make_node(self, name, bus, threads=2):
        n = HeraldNode(self.tmp, name, self.keys, self.db_path, bus, self.PUBLISHER_KEY, threads)
        self.addCleanup(n.stop)
        self.nodes.append(n)
        return n

    def seed(self, node, scans=()):
        """Seed the shared store through `herald member add`, plus scan rows for the lookup."""
        node.add_member(self.user, self.tenant)
        if scans:
            con = sqlite3.connect(self.db_path, timeout=10)
            try:
                with con:
                    for s in scans:
                        con.execute("INSERT INTO scans (id, tenant_id, name, state) "
                                    "VALUES (?, ?, ?, 'executing')", (s, self.tenant, "scan " + s[:8]))
            finally:
                con.close()

    def logs(self):
        return "\n".join(n.log() for n in self.nodes)

    def stream(self, node, path):
        c = node.stream(path, node.token(self.user, self.tenant))
        self.addCleanup(c.close)
        return c

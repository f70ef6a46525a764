"""Herald beside the Prowler API, end to end: the real `herald` binary with `[auth] profile =
"prowler"` and `[store] driver = "postgres"`, configured the way an operator would beside the API,
from the API's own environment variables (DJANGO_*, POSTGRES_*, VALKEY_*), against:

  * a real PostgreSQL 15 (Debian's postgresql) started by the test with the Prowler API's tables,
    row-level security, roles and data (scripts/test-postgres.sh, the script form of
    src/store/test_postgres_server.hpp: src/store/testdata/prowler_schema.sql + herald_roles.sql);
  * credentials made by the libraries the API itself uses: RS256 access tokens by PyJWT with an
    `openssl genrsa` key, `pk_` API keys by cryptography's Fernet
    (src/auth/testdata/prowler_credentials.py, relative to the real clock here);
  * redis-server with --tls-port and certificates made with openssl (the rediss bus).

Run with /usr/bin/python3 (Debian's python3-jwt, python3-cryptography, python3-redis) and
HERALD_BIN set (ctest does both). Every process started here dies with the test interpreter and is
stopped by the owning test's cleanups. Waits poll with a bounded deadline; none is an assertion.
"""
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "test", "multinode"))
sys.path.insert(0, os.path.join(ROOT, "src", "auth", "testdata"))

import herald_harness as h  # noqa: E402  (path set up above)
import prowler_credentials as pc  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from herald_harness import wait_for  # noqa: E402,F401  (re-exported)

PG_SCRIPT = os.path.join(ROOT, "scripts", "test-postgres.sh")
PUBLISHER_KEY = "publisher-key-for-prowler-tests-0123456789"

# The fixture of src/store/testdata/prowler_schema.sql (mirrored in test_postgres_server.hpp).
T1 = "12646005-9067-4d2a-a098-8bb378604362"
T2 = "0412980b-06e3-436a-ab98-3c9b1d0333d3"
T3 = "d2a0f4b6-1c3e-4f59-9b7a-5e6d8c0a2b41"
ALICE = "8b38e2eb-6689-4f1e-a4ba-95b275130200"  # T1 owner, T2 member
BOB = "b6493a3a-c997-489b-8b99-278bf74de9f6"  # T2 owner
SCAN1 = "01890f3a-7c1e-7a2b-8c3d-4e5f60718291"  # in T1
SCAN2 = "01890f3a-7c1e-7a2b-8c3d-4e5f60718292"  # in T2
SCAN3 = "01890f3a-7c1e-7a2b-8c3d-4e5f60718293"  # in T3
PROVIDER = {T1: "a1b2c3d4-0001-4000-8000-000000000001", T2: "a1b2c3d4-0002-4000-8000-000000000002",
            T3: "a1b2c3d4-0003-4000-8000-000000000003"}

STREAM_PATH = "/api/v1/scans/%s/event-stream"
# The Prowler API's guide example: scans/<uuid:scan_pk>/event-stream on scan-progress:<tenant>:<scan>.
# The lookup has NO tenant predicate: row-level security alone keeps other tenants' scans out.
ENDPOINT = """
[[endpoints]]
path = "/api/v1/scans/{scan_pk:uuid}/event-stream"
channels = ["scan-progress:{tenant_id}:{scan_pk}"]
lookup = "SELECT 1 FROM scans WHERE id = :scan_pk"
"""


def sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, dict)):
        return sql_literal(json.dumps(v)) + "::jsonb"
    return "'" + str(v).replace("'", "''") + "'"


def error_body(code, message):
    """Herald's JSON error body, byte for byte (compact, as Boost.JSON serializes it)."""
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":"),
                      ensure_ascii=False).encode()


# --------------------------------------------------------------------------------------------------
# PostgreSQL


class Postgres:
    """A throwaway PostgreSQL 15 with the Prowler API's schema and data (scripts/test-postgres.sh).
    halt()/resume() make an outage: the same data directory and port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="herald-prowler-pg-", dir="/tmp")
        r = subprocess.run([PG_SCRIPT, "start", self.dir], capture_output=True, text=True,
                           timeout=180)
        if r.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("test-postgres.sh start failed:\n%s%s" % (r.stdout, r.stderr))
        self.port = int(re.search(r"HERALD_PG_PORT=(\d+)", r.stdout).group(1))
        self.running = True

    def _psql(self, args, sql=None):
        env = dict(os.environ, PGPASSWORD="prowler-admin-pw", PGCLIENTENCODING="UTF8")
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                            str(self.port), "-U", "prowler_admin", "-d", "prowler_db"] + args,
                           input=sql, capture_output=True, text=True, env=env, timeout=120)
        if r.returncode != 0:
            raise AssertionError("psql failed: %s\n%s" % (r.stderr, (sql or "")[:2000]))
        return r.stdout

    def exec(self, sql):
        """Runs SQL as the bootstrap superuser (the API's own writes: revoke, deactivate, ...)."""
        self._psql(["-f", "-"], sql)

    def value(self, sql):
        return self._psql(["-A", "-t", "-c", sql]).strip()

    def halt(self):
        subprocess.run([PG_SCRIPT, "halt", self.dir], check=True, capture_output=True, timeout=120)
        self.running = False

    def resume(self):
        subprocess.run([PG_SCRIPT, "resume", self.dir], check=True, capture_output=True,
                       timeout=120)
        self.running = True

    def stop(self):
        subprocess.run([PG_SCRIPT, "stop", self.dir], capture_output=True, timeout=120)
        self.running = False

    def env(self):
        """The Prowler API's variables for this database (its .env names). The admin role is the
        documented key reader herald_keys, not the superuser."""
        return {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_DB": "prowler_db",
            "POSTGRES_USER": "prowler",
            "POSTGRES_PASSWORD": "prowler-api-pw",
            "POSTGRES_ADMIN_USER": "herald_keys",
            "POSTGRES_ADMIN_PASSWORD": "herald-keys-pw",
        }


# --------------------------------------------------------------------------------------------------
# The Prowler API's credentials


class Credentials:
    """Made by the API's libraries (see prowler_credentials.py), relative to now. `made` holds the
    script's named variants (tokens, api_keys) and its fixture (users, memberships, key rows)."""

    def __init__(self, workdir):
        self.now = int(time.time())
        d = os.path.join(workdir, "credentials")
        os.makedirs(d, exist_ok=True)
        self.made = pc.make(d, self.now)
        with open(os.path.join(d, "api_private.pem")) as f:
            self.private_pem = f.read()
        self.public_pem = self.made["public_pem"]
        self.fernet_key = self.made["fernet_key"]
        self.fixture = self.made["fixture"]

    def token(self, user, password_hash, tenant, lifetime=1800):
        """An access token exactly as the API's generate_tokens() makes it, `lifetime` seconds."""
        now = int(time.time())
        access, _ = pc.token_pair(user, password_hash, tenant, now)
        access["exp"] = now + lifetime
        return pc.encode(access, self.private_pem)

    def api_key(self, key_id, prefix, exp=None):
        """`pk_XXXXXXXX.<Fernet token>` as drf-simple-apikey makes it."""
        payload = {"_pk": key_id, "_exp": exp if exp is not None else time.time() + 365 * 86400}
        return prefix + "." + Fernet(self.fernet_key).encrypt(json.dumps(payload).encode()).decode()

    def env(self):
        """DJANGO_* as the API's .env carries them (a PEM on one line with literal \\n)."""
        return {
            "DJANGO_TOKEN_VERIFYING_KEY": self.public_pem.replace("\n", "\\n"),
            "DJANGO_SECRETS_ENCRYPTION_KEY": self.fernet_key,
        }


def random_prefix():
    return pc.random_prefix()


def load_fixture(pg, f):
    """The credential script's users, memberships and key rows, into the API's tables (its first
    user and tenant are the schema's alice and T1: her password becomes the script's)."""
    sql = []
    for t in f["tenants"]:
        sql.append("INSERT INTO tenants (id, inserted_at, updated_at, name) VALUES (%s, now(), "
                   "now(), 'tenant') ON CONFLICT (id) DO NOTHING;" % sql_literal(t))
    for u in f["users"]:
        sql.append(insert_user_sql(u["id"], u["email"], u["password"], u["is_active"]))
    for user, tenant in f["memberships"]:
        sql.append(insert_membership_sql(user, tenant))
    for k in f["api_keys"]:
        sql.append(insert_key_sql(k["id"], k["prefix"], k["tenant_id"], k["entity_id"], k["name"],
                                  k["revoked"], k["whitelisted_ips"], k["blacklisted_ips"]))
    pg.exec("\n".join(sql))


def insert_user_sql(user, email, password, active=True):
    return ("INSERT INTO users (id, name, password, email, company_name, is_active, date_joined) "
            "VALUES (%s, 'user', %s, %s, 'Prowler', %s, now()) ON CONFLICT (id) DO UPDATE SET "
            "password = EXCLUDED.password, is_active = EXCLUDED.is_active;"
            % (sql_literal(user), sql_literal(password), sql_literal(email), sql_literal(active)))


def insert_membership_sql(user, tenant, role="member"):
    return ("INSERT INTO memberships (id, role, date_joined, tenant_id, user_id) VALUES "
            "(%s, %s, now(), %s, %s) ON CONFLICT (user_id, tenant_id) DO NOTHING;"
            % (sql_literal(str(uuid.uuid4())), sql_literal(role), sql_literal(tenant),
               sql_literal(user)))


def insert_key_sql(key_id, prefix, tenant, entity, name, revoked=False, whitelisted=None,
                   blacklisted=None):
    return ("INSERT INTO api_keys (name, expiry_date, revoked, created, whitelisted_ips, "
            "blacklisted_ips, id, prefix, last_used_at, entity_id, tenant_id) VALUES (%s, now() + "
            "interval '365 days', %s, now(), %s, %s, %s, %s, NULL, %s, %s);"
            % (sql_literal(name), sql_literal(revoked), sql_literal(whitelisted),
               sql_literal(blacklisted), sql_literal(key_id), sql_literal(prefix),
               sql_literal(entity), sql_literal(tenant)))


def insert_tenant_sql(tenant):
    return ("INSERT INTO tenants (id, inserted_at, updated_at, name) VALUES (%s, now(), now(), "
            "'tenant');" % sql_literal(tenant))


def insert_provider_sql(provider, tenant):
    return ("INSERT INTO providers (id, inserted_at, updated_at, is_deleted, provider, uid, alias, "
            "connected, tenant_id) VALUES (%s, now(), now(), false, 'aws', %s, 'p', true, %s);"
            % (sql_literal(provider), sql_literal(provider[:12]), sql_literal(tenant)))


def insert_scan_sql(scan, provider, tenant):
    return ("INSERT INTO scans (id, name, trigger, state, unique_resource_count, progress, "
            "scanner_args, inserted_at, updated_at, provider_id, tenant_id) VALUES (%s, 'scan', "
            "'manual', 'executing', 0, 0, '{}', now(), now(), %s, %s);"
            % (sql_literal(scan), sql_literal(provider), sql_literal(tenant)))


def django_hash(seed):
    return pc.django_hash(seed)


def md5_upper(password):
    return pc.md5_upper(password)


# --------------------------------------------------------------------------------------------------
# Herald


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[%s]" % ", ".join(toml_value(x) for x in v)
    return json.dumps(v)


class Herald:
    """`herald serve` with the prowler profile and the postgres store, configured from the API's
    environment. `sections` add or override TOML keys ({"tenancy": {...}, "bus": {...}})."""

    def __init__(self, workdir, env, sections=None, name="herald"):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.name = name
        self.public_port = h.free_port()
        self.internal_port = h.free_port()
        self.config_path = os.path.join(self.dir, "herald.toml")
        self.log_path = os.path.join(self.dir, "herald.log")
        self.env = dict(env)
        self.proc = None
        cfg = {
            "server": {"listen": "127.0.0.1:%d" % self.public_port, "threads": 2,
                       "keepalive_seconds": 3600, "shutdown_deadline_ms": 500},
            "internal": {"listen": "127.0.0.1:%d" % self.internal_port,
                         "publisher_key": PUBLISHER_KEY, "max_batch_events": 1000},
            "auth": {"profile": "prowler"},
            "store": {"driver": "postgres", "pool_threads": 2,
                      "postgres_connect_timeout_ms": 1000, "postgres_statement_timeout_ms": 2000,
                      "postgres_health_interval_ms": 200},
            "bus": {"kind": "local"},
            "tenancy": {"recheck_interval_seconds": 1, "connect_cache_seconds": 0},
            "log": {"level": "info"},
        }
        for table, values in (sections or {}).items():
            cfg.setdefault(table, {}).update(values)
        text = "# Written by test/prowler/prowler_harness.py\n"
        for table, values in cfg.items():
            text += "[%s]\n%s\n\n" % (table, "\n".join(
                "%s = %s" % (k, toml_value(v)) for k, v in values.items()))
        text += ENDPOINT
        with open(self.config_path, "w") as f:
            f.write(text)

    def child_env(self):
        # Only the variables the test means: nothing from the developer's shell overrides them.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VALKEY_", "POSTGRES_", "DJANGO_", "HERALD_"))}
        env.update(self.env)
        return env

    def run_cli(self, *args):
        r = subprocess.run([h.herald_bin()] + list(args), capture_output=True, text=True,
                           timeout=60, env=self.child_env(), preexec_fn=h._die_with_parent)
        return r.returncode, r.stdout, r.stderr

    def start(self):
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([h.herald_bin(), "serve", "--config", self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.dir,
                                         env=self.child_env(), preexec_fn=h._die_with_parent)
        finally:
            log.close()
        h._LIVE.add(self.proc)
        wait_for(lambda: self._alive() and "herald listening" in self.log_text(), 30,
                 lambda: "%s to listen:\n%s" % (self.name, self.log()))
        return self

    def _alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (self.name, self.proc.returncode,
                                                             self.log()))
        return True

    def stop(self):
        h.stop_process(self.proc, signal.SIGTERM, timeout=10)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log(self):
        return "--- %s log ---\n%s" % (self.name, h.read_text(self.log_path, tail=12000))

    def internal(self, method, path, body=None, headers=None):
        return h.http_request(self.internal_port, method, path, body, headers)

    def readyz(self):
        status, _, body = self.internal("GET", "/readyz")
        return status, json.loads(body)

    def metric(self, name):
        _, _, body = self.internal("GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        return None

    def publish(self, events):
        """POST /publish of a batch; raises unless 200."""
        body = json.dumps({"events": events})
        status, _, reply = self.internal("POST", "/publish", body,
                                         {"Authorization": "Bearer " + PUBLISHER_KEY,
                                          "Content-Type": "application/json"})
        if status != 200:
            raise AssertionError("publish answered %d: %r" % (status, reply))

    def connect(self, path, headers=None, timeout=10):
        return Connect(self.public_port, path, headers or {}, timeout)


def bearer(token):
    return {"Authorization": "Bearer " + token}


def api_key_header(key):
    return {"Authorization": "Api-Key " + key}


class Connect(h.SSEClient):
    """One GET on the public listener, kept as raw bytes: `status`, `headers` (lower-case names),
    and either `body` (an error answer, read to its end) or an open stream past its preamble."""

    def __init__(self, port, path, headers, timeout=10):
        self.path = path
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n" % (path, port)
        for k, v in headers.items():
            req += "%s: %s\r\n" % (k, v)
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        self.keepalives = 0
        self.closed_by_server = False
        deadline = time.monotonic() + timeout
        self._read_head(deadline)
        self.body = b""
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n and self._recv(deadline):
                pass
            self.body = self.buf[:n]
            self.close()
            return
        self.expect_preamble(timeout=max(0.0, deadline - time.monotonic()))

    def next_block(self, timeout=15):
        return super().next_block(timeout)

    def expect_block(self, want, timeout=15):
        return super().expect_block(want, timeout)

    def expect_end(self, want, timeout=15):
        """The stream's last bytes are `want`, then the server closes it."""
        deadline = time.monotonic() + timeout
        while not self.closed_by_server:
            if self._recv(deadline) is None:
                break
        self.close()
        if not self.closed_by_server:
            raise AssertionError("%s: still open; pending %r" % (self.path, self.buf))
        if self.buf.decode("utf-8") != want:
            raise AssertionError("%s: ended with %r, wanted %r" % (self.path, self.buf, want))


def stream_error(condition, text):
    """django-eventstream's stream-error bytes (json.dumps spacing, as Herald encodes them)."""
    return "event: stream-error\nid: error\ndata: %s\n\n" % json.dumps(
        {"condition": condition, "text": text})


def event_block(event, data):
    return h.sse_block(event, json.dumps(data, separators=(",", ":")))


def wait_all_blocks(streams, want_last, timeout=60):
    """Reads every stream (selectors, one thread) until each has received a block equal to
    want_last[stream]; returns {stream: [blocks before it]}."""
    sel = selectors.DefaultSelector()
    got = {s: [] for s in streams}
    pending = set(streams)
    for s in streams:
        s.sock.setblocking(False)
        sel.register(s.sock, selectors.EVENT_READ, s)

    def drain(s):
        while True:
            i = s.buf.find(b"\n\n")
            if i < 0:
                return
            block, s.buf = s.buf[:i + 2], s.buf[i + 2:]
            text = block.decode("utf-8")
            if text == h.KEEP_ALIVE:
                continue
            if text == want_last[s]:
                pending.discard(s)
                return
            got[s].append(text)

    for s in streams:
        drain(s)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            s = key.data
            try:
                c = s.sock.recv(65536)
            except BlockingIOError:
                continue
            if not c:
                sel.unregister(s.sock)
                raise AssertionError("%s closed before its last event; got %r" % (s.path, got[s]))
            s.buf += c
            drain(s)
    sel.close()
    if pending:
        raise AssertionError("%d stream(s) never got their last event" % len(pending))
    return got


class Workdir:
    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)

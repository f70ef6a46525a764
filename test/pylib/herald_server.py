"""One `herald serve` process for Python tests that need a real Herald (the Python publisher's
integration tests, the OpenAPI conformance test), on the in-process bus or on a redis-server.

Builds on test/multinode/herald_harness.py (processes that die with the test, waits, ports,
redis-server, the raw-socket SSE reader). Standard library plus Debian's python3-redis; run with
/usr/bin/python3. Every process is stopped by the owning test's cleanups.
"""
import json
import os
import sqlite3
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "multinode"))

import herald_harness as h  # noqa: E402  (path set up above)
from herald_harness import wait_for  # noqa: E402,F401  (re-exported for the tests)

PUBLISHER_KEY = "publisher-key-for-tests-0123456789abcdef"
AUDIENCE = "herald-tests"
ISSUER = "herald-tests"


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[%s]" % ", ".join(toml_value(x) for x in v)
    return json.dumps(v)  # a TOML basic string is JSON-compatible for our inputs


def toml_table(name, values):
    return "[%s]\n%s\n" % (
        name,
        "\n".join("%s = %s" % (k, toml_value(v)) for k, v in values.items()),
    )


class HeraldServer:
    """`herald serve` on free loopback ports, with its own keys and SQLite store in `workdir`.

    bus: {} for the in-process bus, or [bus] keys (kind = "redis" is added) for a redis-server.
    Sections given in `extra` ({"events": {...}, "internal": {...}}) are merged into the config.
    Endpoints: /api/v1/scans/{scan_pk:uuid}/event-stream (scan-progress:{tenant_id}:{scan_pk}, with
    the scans lookup) and /streams/{res} (test:{tenant_id}:{res}, no lookup).
    """

    def __init__(self, workdir, name="herald", bus=None, extra=None, publisher_key=PUBLISHER_KEY):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.keys = h.make_rsa_keys(self.dir)
        self.db_path = os.path.join(self.dir, "herald.db")
        self.public_port = h.free_port()
        self.internal_port = h.free_port()
        self.publisher_key = publisher_key
        self.config_path = os.path.join(self.dir, "herald.toml")
        self.log_path = os.path.join(self.dir, "herald.log")
        self.proc = None
        sections = {
            "server": {
                "listen": "127.0.0.1:%d" % self.public_port,
                "threads": 1,
                "keepalive_seconds": 3600,
                "shutdown_deadline_ms": 500,
            },
            "internal": {"listen": "127.0.0.1:%d" % self.internal_port},
            "auth": {
                "algorithm": "RS256",
                "verify_key_file": self.keys[1],
                "signing_key_file": self.keys[0],
                "audience": AUDIENCE,
                "issuer": ISSUER,
            },
            "store": {"path": self.db_path},
            "bus": dict({"kind": "redis"}, **bus) if bus else {"kind": "local"},
            "tenancy": {"recheck_interval_seconds": 0},
            "log": {"level": "info"},
        }
        if publisher_key is not None:
            sections["internal"]["publisher_key"] = publisher_key
        for table, values in (extra or {}).items():
            sections.setdefault(table, {}).update(values)
        text = "# Written by test/pylib/herald_server.py\n" + "\n".join(
            toml_table(k, v) for k, v in sections.items()
        )
        text += """
[[endpoints]]
path = "/api/v1/scans/{scan_pk:uuid}/event-stream"
channels = ["scan-progress:{tenant_id}:{scan_pk}"]
lookup = "SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id"

[[endpoints]]
path = "/streams/{res}"
channels = ["test:{tenant_id}:{res}"]
"""
        with open(self.config_path, "w") as f:
            f.write(text)

    # -- CLI
    def cli_ok(self, *args):
        rc, out, err = h.run([h.herald_bin()] + list(args))
        if rc != 0:
            raise AssertionError("herald %s failed (%d):\n%s%s" % (" ".join(args), rc, out, err))
        return out

    def add_member(self, user, tenant):
        self.cli_ok(
            "member",
            "add",
            "--config",
            self.config_path,
            "--user",
            user,
            "--tenant",
            tenant,
        )

    def add_scan(self, scan, tenant):
        con = sqlite3.connect(self.db_path, timeout=10)
        try:
            with con:
                con.execute(
                    "INSERT INTO scans (id, tenant_id, name, state) VALUES (?, ?, ?, 'executing')",
                    (scan, tenant, "scan " + scan[:8]),
                )
        finally:
            con.close()

    def token(self, user, tenant):
        return self.cli_ok(
            "token", "--config", self.config_path, "--sub", user, "--tenant", tenant
        ).strip()

    # -- process
    def start(self):
        self.proc = h.spawn(
            [h.herald_bin(), "serve", "--config", self.config_path],
            self.log_path,
            cwd=self.dir,
        )
        wait_for(
            lambda: self._check_alive() and "herald listening" in h.read_text(self.log_path),
            20,
            lambda: "%s to listen:\n%s" % (self.name, self.log()),
        )
        return self

    def _check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                "%s exited with %s:\n%s" % (self.name, self.proc.returncode, self.log())
            )
        return True

    def stop(self):
        h.stop_process(self.proc, h.signal.SIGTERM, timeout=10)

    def log(self):
        return "--- %s log (%s) ---\n%s" % (
            self.name,
            self.log_path,
            h.read_text(self.log_path),
        )

    @property
    def publish_url(self):
        return "http://127.0.0.1:%d/publish" % self.internal_port

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body bytes) from the internal listener."""
        return h.http_request(self.internal_port, method, path, body, headers)

    def readyz(self):
        return self.request("GET", "/readyz")[0]

    def wait_ready(self):
        wait_for(
            lambda: self._check_alive() and self.readyz() == 200,
            20,
            lambda: "%s /readyz 200\n%s" % (self.name, self.log()),
        )

    def stream(self, path, token):
        """A raw SSE reader past the preamble (padding + stream-open)."""
        c = h.SSEClient(self.public_port, path, token)
        c.expect_preamble()
        return c

"""Packaging, checked for real where this machine can and statically where it cannot.

- The install tree: `cmake --install` of the build into a temp prefix puts the binary, the systemd
  unit (with the prefix's paths), the example config, the docs, the public headers and the CMake
  package at their FHS places; `systemd-analyze verify` accepts the installed unit; the INSTALLED
  binary reports its version, validates the installed example config, serves a stream, answers the
  Dockerfile's HEALTHCHECK command, and speaks the sd_notify protocol (READY=1 once the listeners
  accept, WATCHDOG=1, STOPPING=1) to a NOTIFY_SOCKET this test listens on.
- The library: examples/embedded-service is configured and built against the installed tree only
  (find_package(herald CONFIG REQUIRED), herald::herald) and streams its own events.
- Docker is not available here (no engine): the Dockerfile is parsed and checked (stages on
  debian:12-slim, a non-root USER, a HEALTHCHECK on /readyz, every COPY source present in the build
  context, the runtime packages cover every library the binary links); the compose example is
  parsed and its config validated with the variables it passes.

Needs HERALD_BUILD_DIR (a configured build with the herald and herald_herald targets built),
HERALD_SOURCE_DIR, /usr/bin/python3 with python3-yaml and python3-jwt, systemd-analyze, cmake.
"""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import jwt
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("HERALD_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
BUILD = os.environ.get("HERALD_BUILD_DIR", os.path.join(SRC, "build", "default"))
sys.path.insert(0, os.path.join(SRC, "test", "pylib"))
sys.path.insert(0, os.path.join(SRC, "test", "multinode"))

import herald_harness as h  # noqa: E402
from herald_server import HeraldServer  # noqa: E402

PUBLISHER_KEY = "publisher-key-for-packaging-0123456789"
TENANT = "12646005-9067-4d2a-a098-8bb378604362"
USER = "8b38e2eb-6689-4f1e-a4ba-95b275130200"


def run(argv, env=None, timeout=120, cwd=None):
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def run_ok(argv, **kw):
    rc, out, err = run(argv, **kw)
    if rc != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(argv), rc, out, err))
    return out


def dockerfile_instructions(path):
    """[(INSTRUCTION, args)] with line continuations joined and comments dropped."""
    out, cur = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (line.strip().startswith("#") or not line.strip()):
                continue
            if line.strip().startswith("#"):
                continue
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            cur += line
            word, _, rest = cur.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            cur = ""
    return out


class InstalledTree(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="herald-pkg-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        run_ok(["cmake", "--install", BUILD, "--prefix", cls.prefix])
        cls.bin = os.path.join(cls.prefix, "bin", "herald")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.prefix, *parts)

    def test_fhs_layout(self):
        for rel in ["bin/herald", "lib/systemd/system/herald.service",
                    "etc/herald/herald.example.toml", "share/doc/herald/README.md",
                    "share/doc/herald/operations.md", "share/doc/herald/metrics.md",
                    "share/doc/herald/grafana-dashboard.json",
                    "include/herald/herald/gateway.hpp",
                    "include/herald/herald/stream_endpoint.hpp",
                    "lib/cmake/herald/heraldConfig.cmake",
                    "lib/cmake/herald/heraldConfigVersion.cmake"]:
            self.assertTrue(os.path.exists(self.path(rel)), rel)
        self.assertTrue(os.access(self.bin, os.X_OK))
        # Internals stay private: no gateway internals, no store, no bus headers.
        for rel in ["include/herald/app/gateway.hpp", "include/herald/store/sqlite_store.hpp",
                    "include/herald/bus/bus.hpp", "include/herald/net/server.hpp"]:
            self.assertFalse(os.path.exists(self.path(rel)), rel)

    def test_unit_names_the_installed_paths_and_verifies(self):
        unit = self.path("lib/systemd/system/herald.service")
        with open(unit) as f:
            text = f.read()
        self.assertIn("ExecStart=%s serve --config %s" % (self.bin, self.path("etc/herald/herald.toml")), text)
        for line in ["Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "DynamicUser=yes",
                     "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                     "CapabilityBoundingSet=", "LimitNOFILE=65536", "WatchdogSec=30s"]:
            self.assertIn("\n" + line + "\n", text)
        self.assertNotIn("@", re.sub(r"@(system-service|privileged)", "", text))  # all filled in
        # systemd-analyze checks the syntax, every directive and that the binary exists.
        rc, out, err = run(["systemd-analyze", "verify", "--man=no", unit])
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(err.strip(), "", err)

    def test_installed_binary_version_and_example_config(self):
        out = run_ok([self.bin, "--version"])
        self.assertRegex(out, r"^herald \d+\.\d+\.\d+ \(commit [0-9a-z]+\)\n$")
        # Bare `herald` prints the help on stdout and exits 0; a usage error exits 2.
        rc, out, err = run([self.bin])
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("Subcommands:", out)
        for cmd in ("serve", "demo", "publish", "subscribe", "check-config", "healthcheck"):
            self.assertIn("\n  " + cmd + " ", out)
        rc, out, err = run([self.bin, "no-such-command"])
        self.assertEqual(rc, 2, out + err)
        rc, out, err = run([self.bin, "publish", "--help"])
        self.assertEqual(rc, 0)
        self.assertIn("(Env:HERALD_PUBLISHER_KEY)", out)
        self.assertIn("--key-file", out)
        env = dict(os.environ, HERALD_PUBLISHER_KEY="k" * 32,
                   HERALD_JWT_VERIFY_KEY=open(h.make_rsa_keys(self.tmp)[1]).read())
        example = self.path("etc/herald/herald.example.toml")
        before = set(os.listdir(os.path.dirname(example)))
        out = run_ok([self.bin, "check-config", "--config", example], env=env)
        self.assertIn("configuration OK", out)
        self.assertEqual(set(os.listdir(os.path.dirname(example))), before)  # no side effects

    def test_installed_binary_serves_a_stream_and_speaks_sd_notify(self):
        os.environ["HERALD_BIN"] = self.bin
        server = HeraldServer(self.tmp, name="installed", publisher_key=PUBLISHER_KEY)
        server.add_member(USER, TENANT)
        token = server.token(USER, TENANT)
        notify_path = os.path.join(self.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify_path)
        sock.settimeout(20)
        self.addCleanup(sock.close)
        env = dict(h.clean_env() if hasattr(h, "clean_env") else os.environ,
                   NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="400000")
        proc = subprocess.Popen([self.bin, "serve", "--config", server.config_path],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                cwd=server.dir)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())

        def next_message(want):
            while True:
                msg = sock.recv(4096).decode()
                if want in msg.split("\n"):
                    return msg

        ready = next_message("READY=1")
        self.assertIn("STATUS=serving", ready)
        # READY=1 means the listeners accept: connect at once, no retry loop.
        stream = h.SSEClient(server.public_port, "/streams/room1", token)
        stream.expect_preamble()
        self.assertTrue(re.fullmatch(r"[0-9a-f]{32}", stream.headers.get("x-request-id", "")),
                        stream.headers)
        status, _, body = h.http_request(
            server.internal_port, "POST", "/publish",
            json.dumps({"channel": "test:%s:room1" % TENANT, "event": "room.updated",
                        "data": {"n": 1}}).encode(),
            {"Authorization": "Bearer " + PUBLISHER_KEY, "Content-Type": "application/json"})
        self.assertEqual((status, body), (200, b'{"published":1}'))
        stream.expect_block(h.sse_block("room.updated", '{"n":1}'))
        # The Dockerfile's HEALTHCHECK command, run against this server's config.
        health = [a for a in DockerfileChecks.healthcheck_argv() if a != "CMD"]
        health = [server.config_path if a == "/etc/herald/herald.toml" else a for a in health]
        self.assertEqual(health[0], "herald")
        rc, out, err = run([self.bin] + health[1:])
        self.assertEqual(rc, 0, out + err)
        self.assertIn('"status":"ready"', out)
        next_message("WATCHDOG=1")  # the event loops answer
        proc.send_signal(signal.SIGTERM)
        next_message("STOPPING=1")
        self.assertEqual(proc.wait(20), 0)
        stream.close()
        # With the gateway gone the health check fails (exit 1, saying why).
        rc, out, err = run([self.bin] + health[1:])
        self.assertEqual(rc, 1, out + err)
        self.assertIn("cannot connect", err)

    def test_embedded_service_builds_against_the_installed_tree_and_streams(self):
        example = os.path.join(SRC, "examples", "embedded-service")
        build = os.path.join(self.tmp, "embedded-build")
        env = dict(os.environ)
        if shutil.which("ccache"):
            env["CMAKE_CXX_COMPILER_LAUNCHER"] = "ccache"
        run_ok(["cmake", "-S", example, "-B", build, "-G", "Ninja",
                "-DCMAKE_PREFIX_PATH=" + self.prefix], env=env)
        run_ok(["cmake", "--build", build], env=env, timeout=900)
        secret = "s" * 40
        port, internal = h.free_port(), h.free_port()
        data = os.path.join(self.tmp, "embedded-data")
        log = os.path.join(self.tmp, "embedded.log")
        os.environ["EMBEDDED_JWT_SECRET"] = secret
        proc = h.spawn([os.path.join(build, "embedded-service"), "--data-dir", data, "--port",
                        str(port), "--internal-port", str(internal), "--step-ms", "50"], log)
        self.addCleanup(h.stop_process, proc, signal.SIGTERM)
        h.wait_for(lambda: "streams on" in h.read_text(log), 30,
                   lambda: "embedded-service to start:\n" + h.read_text(log))
        tenant = "6b1d3c2e-8a4f-4f1e-9c1d-2a3b4c5d6e7f"
        user = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
        job = "11111111-2222-4333-8444-555555555555"
        now = int(time.time())
        token = jwt.encode({"typ": "access", "sub": user, "tenant_id": tenant, "jti": "t1",
                            "iat": now, "exp": now + 300}, secret, algorithm="HS256")
        stream = h.SSEClient(port, "/jobs/%s/events" % job, token)
        self.assertEqual(stream.status, 200)
        stream.expect_preamble()
        seen = []
        while "job.end" not in [b.split("\n")[0][7:] for b in seen]:
            seen.append(stream.next_block(10))
        end = seen[-1]
        self.assertEqual(end, h.sse_block("job.end", '{"job_id":"%s"}' % job))
        progress = [b for b in seen if b.startswith("event: job.progress\n")]
        self.assertTrue(progress, seen)
        self.assertRegex(progress[-1], r'^event: job\.progress\ndata: \{"job_id":"%s","done":\d,"total":5\}\n\n$' % job)
        stream.close()
        # The endpoint's own rule: another tenant's job is not found.
        status, _, body = h.http_request(port, "GET",
                                          "/jobs/99999999-8888-4777-8666-555555555555/events",
                                          None, {"Authorization": "Bearer " + token})
        self.assertEqual((status, body),
                         (404, b'{"error":{"code":"not_found","message":"Not found."}}'))
        h.stop_process(proc, signal.SIGTERM)
        self.assertEqual(proc.returncode, 0, h.read_text(log))


class DockerfileChecks(unittest.TestCase):
    """Docker is not run here (no engine on this machine): the Dockerfile is checked statically."""

    @staticmethod
    def instructions():
        return dockerfile_instructions(os.path.join(SRC, "Dockerfile"))

    @classmethod
    def healthcheck_argv(cls):
        hc = [a for i, a in cls.instructions() if i == "HEALTHCHECK"]
        cmd = hc[0][hc[0].index("CMD") + 3:].strip()
        return ["CMD"] + json.loads(cmd)

    def stages(self):
        stages, cur = [], None
        for ins, args in self.instructions():
            if ins == "FROM":
                cur = {"from": args, "ins": []}
                stages.append(cur)
            elif cur is not None:
                cur["ins"].append((ins, args))
        return stages

    def test_multi_stage_on_debian_12_slim(self):
        stages = self.stages()
        self.assertEqual(len(stages), 2)
        self.assertEqual(stages[0]["from"], "debian:12-slim AS build")
        self.assertEqual(stages[1]["from"], "debian:12-slim")
        copies = [a for i, a in stages[1]["ins"] if i == "COPY"]
        self.assertTrue(copies and all(a.startswith("--from=build ") for a in copies), copies)

    def test_runs_as_a_non_root_user_with_a_readyz_healthcheck(self):
        final = self.stages()[-1]["ins"]
        users = [a for i, a in final if i == "USER"]
        self.assertEqual(len(users), 1)
        self.assertNotIn(users[0].split(":")[0], ("root", "0"))
        created = " ".join(a for i, a in final if i == "RUN")
        self.assertIn("useradd --system --uid 10001", created)
        # The USER comes before the entry point, after every RUN that needs root.
        order = [i for i, _ in final]
        self.assertLess(max(k for k, i in enumerate(order) if i == "RUN"), order.index("USER"))
        argv = self.healthcheck_argv()
        self.assertEqual(argv[:3], ["CMD", "herald", "healthcheck"])
        # herald healthcheck asks /readyz (cli_app.cpp); the installed-tree test runs this command.
        self.assertIn("/readyz", open(os.path.join(SRC, "src", "cli", "cli_app.cpp")).read())

    def test_every_copied_file_is_in_the_build_context(self):
        ignored = [l.strip() for l in open(os.path.join(SRC, ".dockerignore"))
                   if l.strip() and not l.startswith("#")]
        for ins, args in self.stages()[0]["ins"]:
            if ins != "COPY":
                continue
            *sources, _dest = shlex.split(args)
            for s in sources:
                self.assertTrue(os.path.exists(os.path.join(SRC, s)), s)
                top = s.split("/")[0]
                self.assertNotIn(top, ignored, "%s is excluded by .dockerignore" % s)
        # The build stage installs the build dependencies with the repository's own script.
        runs = " ".join(a for i, a in self.stages()[0]["ins"] if i == "RUN")
        self.assertIn("scripts/install-deps.sh", runs)
        self.assertIn("--component server", runs)

    def test_runtime_packages_cover_every_linked_library(self):
        final_runs = " ".join(a for i, a in self.stages()[-1]["ins"] if i == "RUN")
        listed = set(re.findall(r"\b(lib[a-z0-9.+-]+|ca-certificates)\b", final_runs))
        binary = os.path.join(BUILD, "herald")
        needed = set()
        for line in run_ok(["ldd", binary]).splitlines():
            m = re.search(r"=> (/\S+)", line)
            if not m:
                continue
            rc, out, _ = run(["dpkg", "-S", os.path.realpath(m.group(1))])
            if rc != 0:
                rc, out, _ = run(["dpkg", "-S", m.group(1)])
            self.assertEqual(rc, 0, "no package owns %s" % m.group(1))
            needed.add(out.split(":")[0])
        # In every Debian image (Essential or required by apt itself in debian:12-slim).
        base = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libzstd1", "liblzma5", "liblz4-1",
                "libgcrypt20", "libgpg-error0", "libcap2", "libselinux1", "libpcre2-8-0",
                "libsystemd0", "libudev1", "libcrypt1", "libgnutls30", "libidn2-0", "libp11-kit0",
                "libtasn1-6", "libunistring2", "libnettle8", "libhogweed6", "libgmp10", "libffi8",
                "libbz2-1.0", "libxxhash0"}
        # apt installs the listed packages' dependencies too (libpq5 brings Kerberos and LDAP):
        # follow Depends/Pre-Depends of the installed packages (dpkg's database, no apt lists).
        installed, todo = set(), sorted(listed - {"ca-certificates"})
        while todo:
            p = todo.pop()
            if p in installed:
                continue
            rc, out, _ = run(["dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}", p])
            if rc != 0 and p not in listed:
                continue  # a virtual package or an alternative not installed here
            self.assertEqual(rc, 0, "%s is not an installed Debian package here" % p)
            installed.add(p)
            for alt in out.split(","):
                name = alt.split("|")[0].strip().split(" ")[0].split(":")[0]
                if name:
                    todo.append(name)
        self.assertTrue({"libkrb5-3", "libsasl2-2"} <= installed, "Depends parsing")
        missing = sorted(p for p in needed - base if p not in installed)
        self.assertEqual(missing, [], "add these runtime packages to the Dockerfile's final stage")


class ComposeExample(unittest.TestCase):
    def test_compose_file_and_its_config(self):
        d = os.path.join(SRC, "deploy", "compose")
        compose = yaml.safe_load(open(os.path.join(d, "compose.yaml")))
        herald = compose["services"]["herald"]
        self.assertEqual(os.path.normpath(os.path.join(d, herald["build"]["context"])),
                         os.path.normpath(SRC))
        self.assertTrue(os.path.exists(os.path.join(SRC, herald["build"]["dockerfile"])))
        self.assertEqual(herald["depends_on"]["valkey"]["condition"], "service_healthy")
        self.assertIn("valkey-cli", compose["services"]["valkey"]["healthcheck"]["test"])
        # The internal listener is not published to the host.
        self.assertEqual(herald["ports"], ["8080:8080"])
        for v in herald["volumes"]:
            src = v.split(":")[0]
            if src.startswith("./"):
                self.assertTrue(os.path.exists(os.path.join(d, src)), src)
        # The config validates with the variables compose passes plus the env file's keys.
        env_keys = [l.split("=")[0] for l in open(os.path.join(d, "herald.env.example"))
                    if "=" in l and not l.startswith("#")]
        self.assertEqual(sorted(env_keys), ["DJANGO_TOKEN_VERIFYING_KEY", "HERALD_PUBLISHER_KEY"])
        tmp = tempfile.mkdtemp(prefix="herald-compose-")
        self.addCleanup(shutil.rmtree, tmp)
        pem = open(h.make_rsa_keys(tmp)[1]).read().replace("\n", "\\n")  # as the API's .env has it
        env = dict(os.environ, HERALD_PUBLISHER_KEY="p" * 32, DJANGO_TOKEN_VERIFYING_KEY=pem,
                   **herald["environment"])
        out = run_ok([os.path.join(BUILD, "herald"), "check-config", "--config",
                      os.path.join(d, "herald.toml")], env=env)
        self.assertIn("configuration OK", out)
        self.assertIn("valkey", out)


if __name__ == "__main__":
    unittest.main()

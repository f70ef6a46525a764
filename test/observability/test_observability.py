"""Logs and metrics of a real `herald serve` (on a real redis-server bus, so the bus's metrics are
served too):

- /metrics follows Prometheus conventions (HELP and TYPE per family, counters end in _total) and
  serves every metric of docs/metrics.md's table and every metric docs/grafana-dashboard.json
  queries; herald_build_info carries the binary's version and commit; streams are counted by
  endpoint template; the latency histograms count what happened.
- [log] format = "json": every line is one JSON object with time (UTC, with zone), level and
  message; a request id is echoed as X-Request-Id and carried by the stream's open and close
  lines (with tenant, user, endpoint, status); a token given as ?access_token= and the publisher
  key never appear in the log, in the JSON and in the text format; an incoming X-Request-Id is
  ignored unless [log] accept_request_id is set.

/usr/bin/python3 with Debian's python3-redis (through the harness); HERALD_BIN set by CTest.
"""
import json
import os
import socket
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test", "pylib"))
sys.path.insert(0, os.path.join(ROOT, "test", "multinode"))

import herald_harness as h  # noqa: E402
from herald_server import HeraldServer  # noqa: E402

TENANT = "12646005-9067-4d2a-a098-8bb378604362"
USER = "8b38e2eb-6689-4f1e-a4ba-95b275130200"
SCANS_ENDPOINT = "/api/v1/scans/{scan_pk:uuid}/event-stream"


def scrape(server):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.internal_port) as r:
        return r.read().decode()


def families(text):
    """{family: (type, help, [sample lines])}"""
    out, helps = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            helps[name] = help_
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name not in out, "family %s typed twice" % name
            out[name] = (kind, helps.get(name), [])
        elif line:
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            fam = re.sub(r"_(bucket|sum|count)$", "", name) if name not in out else name
            assert fam in out, "sample %s before its TYPE" % line
            out[fam][2].append(line)
    return out


def value(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ")[-1])
    return None


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="herald-obs-")
        cls.redis = h.RedisServer(cls.tmp).start()
        cls.server = HeraldServer(cls.tmp, bus={"host": "127.0.0.1", "port": cls.redis.port})
        cls.server.add_member(USER, TENANT)
        cls.server.start()
        cls.server.wait_ready()
        cls.token = cls.server.token(USER, TENANT)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.redis.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def publish(self, room, n):
        status, _, body = self.server.request(
            "POST", "/publish",
            json.dumps({"channel": "test:%s:%s" % (TENANT, room), "event": "room.updated",
                        "data": {"n": n}}).encode(),
            {"Authorization": "Bearer " + self.server.publisher_key,
             "Content-Type": "application/json"})
        self.assertEqual(status, 200, body)

    def test_conventions_docs_table_dashboard_and_values(self):
        stream = self.server.stream("/streams/room1", self.token)
        self.publish("room1", 1)
        stream.expect_block(h.sse_block("room.updated", '{"n":1}'))
        text = scrape(self.server)
        fams = families(text)
        for name, (kind, help_, samples) in fams.items():
            self.assertTrue(help_, name)
            self.assertIn(kind, ("counter", "gauge", "histogram"), name)
            self.assertEqual(kind == "counter", name.endswith("_total"), name)
            self.assertTrue(samples, name)
        # The one table of docs/metrics.md: every row is served (this node runs the Valkey bus).
        with open(os.path.join(ROOT, "docs", "metrics.md")) as f:
            doc = f.read()
        documented = re.findall(r"^\| `([a-z0-9_]+)` \| (\w+) \|", doc, re.M)
        self.assertGreater(len(documented), 30)
        for name, kind in documented:
            self.assertIn(name, fams, "docs/metrics.md lists %s, /metrics lacks it" % name)
            self.assertEqual(fams[name][0], kind, name)
        for name in fams:  # and nothing served is undocumented
            if name.startswith(("herald_", "process_")):
                self.assertIn(name, dict(documented), "%s is served but not in docs/metrics.md" % name)
        # Every metric the Grafana dashboard queries exists.
        dash = json.load(open(os.path.join(ROOT, "docs", "grafana-dashboard.json")))
        queried = set()
        for panel in dash["panels"]:
            for t in panel["targets"]:
                queried |= set(re.findall(r"\b((?:herald|process)_[a-z0-9_]+)\b", t["expr"]))
        self.assertGreater(len(queried), 15)
        for name in queried:
            fam = re.sub(r"_(bucket|sum|count)$", "", name)
            self.assertIn(fam, fams, "the dashboard queries %s" % name)
            if fam != name:
                self.assertEqual(fams[fam][0], "histogram", name)
        # Values: build info, streams by endpoint template, histograms that counted.
        version = subprocess.run([h.herald_bin(), "--version"], capture_output=True,
                                 text=True).stdout
        v, commit = re.match(r"herald (\S+) \(commit (\S+)\)", version).groups()
        self.assertEqual(value(text, 'herald_build_info{version="%s",commit="%s"}' % (v, commit)), 1)
        self.assertEqual(value(text, 'herald_streams_open{endpoint="/streams/{res}"}'), 1)
        self.assertEqual(value(text, 'herald_streams_open{endpoint="%s"}' % SCANS_ENDPOINT), 0)
        self.assertGreaterEqual(value(text, "herald_connect_seconds_count"), 1)
        self.assertGreaterEqual(value(text, "herald_publish_to_write_seconds_count"), 1)
        self.assertEqual(value(text, 'herald_publish_to_write_seconds_bucket{le="+Inf"}'),
                         value(text, "herald_publish_to_write_seconds_count"))
        self.assertEqual(value(text, "herald_bus_ready"), 1)
        self.assertEqual(value(text, "herald_store_up"), 1)
        self.assertGreater(value(text, "process_open_fds"), 5)
        self.assertGreater(value(text, "process_resident_memory_bytes"), 1e6)
        stream.close()
        h.wait_for(lambda: value(scrape(self.server),
                                 'herald_streams_open{endpoint="/streams/{res}"}') == 0, 10,
                   "the endpoint's gauge to return to 0")


class Logs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="herald-logs-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start(self, log):
        server = HeraldServer(self.tmp, name="logs-" + log.get("format", "text"),
                              extra={"log": log})
        server.add_member(USER, TENANT)
        server.start()
        server.wait_ready()
        self.addCleanup(server.stop)
        return server, server.token(USER, TENANT)

    def exercise(self, server, token, incoming_id=None):
        """A stream by ?access_token= (opened, closed), a refused request, a publish."""
        headers = {"X-Request-Id": incoming_id} if incoming_id else {}
        status, hdrs, _ = h.http_request(server.public_port, "GET",
                                         "/nowhere?access_token=" + token, None, headers)
        self.assertEqual(status, 404)
        refused_id = {k.lower(): v for k, v in hdrs.items()}["x-request-id"]
        # A raw request: the token in the query only (SSEClient would send a header).
        s = socket.create_connection(("127.0.0.1", server.public_port), timeout=10)
        s.sendall(("GET /streams/room2?access_token=%s HTTP/1.1\r\nHost: x\r\n\r\n" % token).encode())
        head = b""
        while b"stream-open" not in head:
            head += s.recv(65536)
        stream_id = re.search(rb"(?i)x-request-id: (\S+)\r\n", head).group(1).decode()
        s.close()
        status, _, _ = server.request(
            "POST", "/publish",
            json.dumps({"channel": "test:%s:room2" % TENANT, "event": "room.updated",
                        "data": {}}).encode(),
            {"Authorization": "Bearer " + server.publisher_key, "Content-Type": "application/json"})
        self.assertEqual(status, 200)
        h.wait_for(lambda: "stream closed" in h.read_text(server.log_path, tail=100000), 10,
                   lambda: "the stream's close line\n" + server.log())
        return refused_id, stream_id

    def assert_no_secrets(self, log, token, server):
        self.assertNotIn(token, log)
        self.assertNotIn(token.split(".")[2], log)  # not even the signature
        self.assertNotIn(server.publisher_key, log)

    def test_json_lines_request_ids_and_redaction(self):
        server, token = self.start({"format": "json", "level": "debug"})
        refused_id, stream_id = self.exercise(server, token, incoming_id="proxy-id-1")
        log = h.read_text(server.log_path, tail=1000000)
        self.assert_no_secrets(log, token, server)
        lines = [json.loads(l) for l in log.splitlines() if l.strip()]
        self.assertGreater(len(lines), 4)
        for l in lines:
            self.assertRegex(l["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
            self.assertIn(l["level"], ("trace", "debug", "info", "warning", "error", "critical"))
            self.assertIn("message", l)
        # Not accepted by default: Herald's own ids.
        self.assertNotEqual(refused_id, "proxy-id-1")
        self.assertRegex(refused_id, r"^[0-9a-f]{32}$")
        refused = [l for l in lines if l.get("request_id") == refused_id]
        self.assertEqual(len(refused), 1)
        self.assertEqual(refused[0]["message"], "request")
        self.assertEqual(refused[0]["status"], 404)
        self.assertEqual(refused[0]["path"], "/nowhere?access_token=[redacted]")
        self.assertIsInstance(refused[0]["duration_ms"], int)
        opened = [l for l in lines if l.get("request_id") == stream_id and l["message"] == "stream opened"]
        closed = [l for l in lines if l.get("request_id") == stream_id and l["message"] == "stream closed"]
        self.assertEqual(len(opened), 1, lines)
        self.assertEqual(len(closed), 1, lines)
        for l in opened + closed:
            self.assertEqual((l["tenant"], l["user"], l["endpoint"], l["level"]),
                             (TENANT, USER, "/streams/{res}", "info"))
        self.assertEqual(opened[0]["status"], 200)
        self.assertEqual(opened[0]["path"], "/streams/room2?access_token=[redacted]")
        self.assertEqual(closed[0]["reason"], "closed")
        self.assertIsInstance(closed[0]["duration_ms"], int)
        publish = [l for l in lines if l.get("path") == "/publish"]
        self.assertEqual(len(publish), 1)  # at debug: the internal listener's successes
        self.assertEqual((publish[0]["level"], publish[0]["status"]), ("debug", 200))

    def test_text_lines_and_an_accepted_request_id(self):
        server, token = self.start({"format": "text", "accept_request_id": True})
        refused_id, _ = self.exercise(server, token, incoming_id="proxy-id-1")
        self.assertEqual(refused_id, "proxy-id-1")
        log = h.read_text(server.log_path, tail=1000000)
        self.assert_no_secrets(log, token, server)
        self.assertRegex(log, r"\d{4}-\d\d-\d\dT[\d:.]+ info request request_id=proxy-id-1 "
                              r'listener=public method=GET path="/nowhere\?access_token=\[redacted\]" '
                              r"status=404 duration_ms=\d+\n")
        self.assertRegex(log, r" info stream opened request_id=[0-9a-f]{32} listener=public "
                              r'method=GET path="/streams/room2\?access_token=\[redacted\]" status=200 '
                              r"tenant=%s user=%s endpoint=/streams/\{res\} channels=1 "
                              r"connect_ms=\d+\n" % (TENANT, USER))
        self.assertNotIn("/publish", log)  # a successful publish is a debug line


if __name__ == "__main__":
    unittest.main()

"""docs/openapi.yaml against a running Herald.

Two `herald serve` processes (one on the in-process bus with small limits, one whose Valkey is
unreachable) are sent requests that should produce every documented status; each answer must be a
documented status of its operation, carry the documented media type and required headers, and have
a body that validates against the documented schema. Finally, the (path, method, status) triples
produced must be exactly the documented ones: a status documented but never produced, or produced
but not documented, fails the test.

Schemas are checked with Debian's python3-jsonschema (Draft 2020-12, the dialect of OpenAPI 3.1);
the document is read with python3-yaml. No OpenAPI-specific validator is packaged in Debian 12, so
the walk from a response to its schema (paths, $ref to components) is done here.
Run with /usr/bin/python3; needs HERALD_BIN.
"""
import json
import os
import socket
import sys
import tempfile
import unittest
import uuid

import jsonschema
import yaml

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.abspath(os.path.join(_HERE, "..", ".."))
sys.path.insert(0, os.path.join(_REPO, "test", "pylib"))

import herald_server as hs  # noqa: E402
from herald_server import h  # noqa: E402

SPEC_PATH = os.path.join(_REPO, "docs", "openapi.yaml")
Validator = jsonschema.Draft202012Validator

h.herald_bin()  # fail at import, with a clear message, when HERALD_BIN is missing


def load_spec():
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def raw_exchange(port, request_bytes):
    """Send bytes as they are; (status, headers, body) of the answer (the server closes after an
    error, and every request here says Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request_bytes)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:  # the server answered and closed while we still sent
                break
            if not c:
                break
            chunks.append(c)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return status, headers, body


def request(port, method, path, body=None, headers=None):
    hdrs = {"Host": "127.0.0.1:%d" % port, "Connection": "close"}
    hdrs.update(headers or {})
    data = b""
    if body is not None:
        data = body if isinstance(body, bytes) else body.encode()
        hdrs["Content-Length"] = str(len(data))
    head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in hdrs.items())
    return raw_exchange(port, head.encode() + b"\r\n" + data)


class SpecDocumentTest(unittest.TestCase):
    def test_document_shape_and_schemas(self):
        spec = load_spec()
        self.assertRegex(spec["openapi"], r"^3\.1\.\d+$")
        for name, schema in spec["components"]["schemas"].items():
            with self.subTest(schema=name):
                Validator.check_schema(schema)
        resolver = jsonschema.RefResolver.from_schema(spec)

        def walk(node, where):  # every $ref in the document resolves
            if isinstance(node, dict):
                if "$ref" in node:
                    resolver.resolve(node["$ref"])
                for k, v in node.items():
                    walk(v, where + "/" + str(k))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, "%s/%d" % (where, i))

        walk(spec, "#")
        # The request examples are valid requests.
        post = spec["paths"]["/publish"]["post"]["requestBody"]["content"]["application/json"]
        for name, ex in post["examples"].items():
            Validator(post["schema"], resolver=resolver).validate(ex["value"])


class ServerConformanceTest(unittest.TestCase):
    def setUp(self):
        self.spec = load_spec()
        self.resolver = jsonschema.RefResolver.from_schema(self.spec)
        self.tmp = tempfile.mkdtemp(prefix="herald-openapi-")
        if not os.environ.get("HERALD_KEEP_TMP"):
            self.addCleanup(h.shutil.rmtree, self.tmp, True)
        self.produced = set()

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolver.resolve(node["$ref"])[1]
        return node

    def check(self, srv, method, path, status=None, body=None, headers=None, raw=None):
        """Send a request, check the answer against the document, record what was produced."""
        if raw is not None:
            got_status, got_headers, got_body = raw_exchange(srv.internal_port, raw)
        else:
            got_status, got_headers, got_body = request(
                srv.internal_port, method, path, body, headers
            )
        what = "%s %s -> %d %r" % (method, path, got_status, got_body[:300])
        if status is not None:
            self.assertEqual(got_status, status, what + "\n" + srv.log())
        op = self.spec["paths"].get(path, {}).get(method.lower())
        self.assertIsNotNone(op, "%s %s is not documented" % (method, path))
        responses = op["responses"]
        if str(got_status) not in responses:
            self.fail("undocumented status: " + what)
        resp = self.deref(responses[str(got_status)])
        for name, hdr in resp.get("headers", {}).items():
            hdr = self.deref(hdr)  # shared headers (X-Request-Id) are components
            value = got_headers.get(name.lower())
            if hdr.get("required"):
                self.assertIsNotNone(value, "missing header %s: %s" % (name, what))
            if value is not None:
                Validator(hdr["schema"], resolver=self.resolver).validate(value)
        content = resp.get("content", {})
        if content:
            ctype = got_headers.get("content-type")
            if ctype not in content:
                self.fail("undocumented media type %r: %s" % (ctype, what))
            schema = content[ctype]["schema"]
            doc = json.loads(got_body) if ctype == "application/json" else got_body.decode()
            try:
                Validator(schema, resolver=self.resolver).validate(doc)
            except jsonschema.ValidationError as e:
                self.fail("body does not match the schema: %s\n%s" % (e.message, what))
        self.produced.add((path, method.lower(), str(got_status)))
        return got_status, got_body

    def publish(self, srv, body, status, key=None):
        headers = {"Authorization": "Bearer " + (key or srv.publisher_key)}
        headers["Content-Type"] = "application/json"
        text = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.check(srv, "POST", "/publish", status, text, headers)

    def documented(self):
        out = set()
        for path, item in self.spec["paths"].items():
            for method, op in item.items():
                for status in op["responses"]:
                    if status != "default":
                        out.add((path, method, status))
        return out

    def test_every_documented_status_is_produced_and_matches(self):
        tenant = str(uuid.uuid4())
        ch = "scan-progress:%s:42" % tenant
        srv = hs.HeraldServer(
            self.tmp,
            "local",
            extra={
                "internal": {"max_body_bytes": 2048, "max_batch_events": 2},
                "events": {"max_data_bytes": 64},
                "replay": {"channels": ["rel"]},
            },
        )
        self.addCleanup(srv.stop)
        srv.start()
        srv.wait_ready()
        event = {"channel": ch, "event": "scan.progress", "data": {"checked": 1}}
        publish_schema = self.spec["paths"]["/publish"]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]
        ok_bodies = [event, dict(event, id="7"), {"events": [event, dict(event, event="scan.end")]}]
        for ok in ok_bodies:  # the documented request schema accepts what the server accepts
            Validator(publish_schema, resolver=self.resolver).validate(ok)
        # 200
        self.assertEqual(self.publish(srv, ok_bodies[0], 200)[1], b'{"published":1}')
        self.publish(srv, ok_bodies[1], 200)
        self.assertEqual(self.publish(srv, ok_bodies[2], 200)[1], b'{"published":2}')
        # A reliable channel's events are acknowledged with their ids (null for a plain one's).
        reliable = dict(event, channel="rel:%s:1" % tenant)
        acked = json.loads(self.publish(srv, {"events": [reliable, event]}, 200)[1])
        self.assertEqual(acked["published"], 2)
        self.assertRegex(acked["ids"][0], r"^rel%%3A%s%%3A1:[0-9]+$" % tenant)
        self.assertIsNone(acked["ids"][1])
        # 400
        for bad in (
            "{not json",
            "[1]",
            dict(event, extra=1),
            {"channel": ch, "event": "scan.end"},
            {"events": []},
            {"events": [event], "x": 1},
            dict(event, id=5),
        ):
            self.publish(srv, bad, 400)
        self.publish(srv, dict(event, channel="rel:%s:1" % tenant, id="7"), 422)
        self.check(
            srv,
            "POST",
            "/publish",
            400,
            raw=b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
        )
        # 401
        self.publish(srv, event, 401, key="wrong")
        self.check(
            srv, "POST", "/publish", 401, json.dumps(event), {"Content-Type": "application/json"}
        )
        # 405
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            self.check(srv, method, "/publish", 405)
        # 413: body over max_body_bytes, batch over max_batch_events, data over max_data_bytes
        self.publish(srv, dict(event, data={"x": "y" * 3000}), 413)
        self.publish(srv, {"events": [event] * 3}, 413)
        self.publish(srv, dict(event, data={"x": "y" * 60}), 413)
        # 422
        for bad in (
            dict(event, channel="scan-progress:not-a-uuid:42"),
            dict(event, event="scan.nope"),
            dict(event, event="Scan.end"),
            dict(event, data=[1]),
            dict(event, id="a\nb"),
            dict(event, id="x" * 257),
        ):
            self.publish(srv, bad, 422)
        # 431
        self.check(
            srv,
            "POST",
            "/publish",
            431,
            json.dumps(event),
            {"Authorization": "Bearer " + srv.publisher_key, "X-Padding": "p" * 9000},
        )
        # reload: 200 (the same file again), 401, 405, 422 (a file that does not validate)
        _, body = self.check(
            srv, "POST", "/reload", 200, "", {"Authorization": "Bearer " + srv.publisher_key}
        )
        self.assertIn("configuration reloaded from", json.loads(body)["message"])
        self.check(srv, "POST", "/reload", 401, "", {"Authorization": "Bearer wrong"})
        self.check(srv, "GET", "/reload", 405)
        with open(srv.config_path) as f:
            good = f.read()
        with open(srv.config_path, "a") as f:
            f.write("\n[events]\nbogus_key = 1\n")
        _, body = self.check(
            srv, "POST", "/reload", 422, "", {"Authorization": "Bearer " + srv.publisher_key}
        )
        self.assertEqual(json.loads(body)["error"]["code"], "invalid_config")
        with open(srv.config_path, "w") as f:
            f.write(good)
        # health and metrics
        self.check(srv, "GET", "/healthz", 200)
        self.check(srv, "GET", "/readyz", 200)
        _, text = self.check(srv, "GET", "/metrics", 200)
        self.assertIn(b"herald_events_published_total", text)

        # 503: a Herald whose Valkey is unreachable is not ready and cannot publish.
        down = hs.HeraldServer(
            self.tmp,
            "valkey-down",
            bus={
                "mode": "native",
                "host": "127.0.0.1",
                "port": h.free_port(),
                "reconnect_min_ms": 50,
                "reconnect_max_ms": 200,
                "connect_timeout_ms": 500,
            },
        )
        self.addCleanup(down.stop)
        down.start()
        self.check(down, "GET", "/readyz", 503)
        _, body = self.publish(down, event, 503)
        self.assertEqual(json.loads(body)["error"]["code"], "unavailable")

        documented = self.documented()
        self.assertEqual(sorted(documented - self.produced), [], "documented but never produced")
        self.assertEqual(sorted(self.produced - documented), [], "produced but not documented")


if __name__ == "__main__":
    unittest.main()

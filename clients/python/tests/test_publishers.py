"""send_event's plumbing without Herald: configuration, a recording publisher, and the HTTP
publisher's connection handling against a tiny local server (the real answers are tested against
Herald in test_integration.py)."""
import http.server
import json
import os
import socket
import tempfile
import threading
import unittest

import herald_publisher as hp
from herald_publisher import (
    ConfigurationError,
    EventRules,
    HttpPublisher,
    InvalidEventType,
    Publisher,
    PublisherUnavailable,
    RedisPublisher,
    ValidationError,
    send_event,
    send_events,
)

TENANT = "12646005-9067-4d2a-a098-8bb378604362"
CHANNEL = "scan-progress:%s:42" % TENANT


class Recorder(Publisher):
    def __init__(self, rules=EventRules()):
        self.rules = rules
        self.sent = []

    def publish_many(self, events):
        self.sent.append(list(events))
        return len(events)


class SendEventTest(unittest.TestCase):
    def setUp(self):
        self.rec = Recorder()
        previous = hp.configure(self.rec)
        self.addCleanup(hp.configure, previous)

    def test_signature_and_semantics(self):
        self.assertIsNone(send_event(CHANNEL, "scan.progress", {"checked": 1}))
        send_event(CHANNEL, "scan.end", {"scan_id": "42"}, "9")
        send_event(
            CHANNEL,
            "scan.end",
            {"scan_id": "42"},
            id="10",
            skip_user_ids=["1"],
            async_publish=False,
        )
        send_event(CHANNEL, "scan.progress", '{"raw":true}', json_encode=False)
        self.assertEqual(
            [b[0] for b in self.rec.sent],
            [
                hp.Event(CHANNEL, "scan.progress", '{"checked": 1}', None),
                hp.Event(CHANNEL, "scan.end", '{"scan_id": "42"}', "9"),
                hp.Event(CHANNEL, "scan.end", '{"scan_id": "42"}', "10"),
                hp.Event(CHANNEL, "scan.progress", '{"raw":true}', None),
            ],
        )

    def test_invalid_events_are_not_sent(self):
        with self.assertRaises(InvalidEventType):
            send_event(CHANNEL, "scan.retried", {})
        with self.assertRaises(ValidationError):
            send_event("not-a-channel", "scan.end", {})
        self.assertEqual(self.rec.sent, [])

    def test_the_publishers_rules_apply(self):
        other = Recorder(EventRules(extra_verbs=["retried"]))
        send_event(CHANNEL, "scan.retried", {}, publisher=other)
        self.assertEqual(len(other.sent), 1)

    def test_send_events_is_all_or_nothing(self):
        ok = {"channel": CHANNEL, "event_type": "scan.progress", "data": {"n": 1}}
        with self.assertRaisesRegex(InvalidEventType, r"^events\[1\]: event verb"):
            send_events([ok, dict(ok, event_type="scan.nope")])
        with self.assertRaisesRegex(ValidationError, r"events\[0\]: missing 'data'"):
            send_events([{"channel": CHANNEL, "event_type": "scan.end"}])
        self.assertEqual(self.rec.sent, [])
        self.assertEqual(send_events([ok, dict(ok, id="2")]), 2)
        self.assertEqual(len(self.rec.sent[0]), 2)


class FromEnvTest(unittest.TestCase):
    def test_http(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("secret-from-file\n")
        self.addCleanup(os.unlink, f.name)
        p = hp.publisher_from_env(
            {
                "HERALD_PUBLISH_URL": "http://127.0.0.1:1/publish",
                "HERALD_PUBLISHER_KEY_FILE": f.name,
                "HERALD_EXTRA_VERBS": "retried, paused",
            }
        )
        self.assertIsInstance(p, HttpPublisher)
        self.assertEqual(p._key, "secret-from-file")
        self.assertNotIn("secret", repr(p))
        self.assertIn("paused", p.rules.verbs)

    def test_bus(self):
        try:
            import redis  # noqa: F401
        except ImportError:
            self.fail("python3-redis is required (run with /usr/bin/python3)")
        p = hp.publisher_from_env(
            {
                "HERALD_BUS_MODE": "native",
                "HERALD_BUS_PREFIX": "x:",
                "VALKEY_HOST": "127.0.0.2",
                "VALKEY_PORT": "6390",
            }
        )
        self.assertIsInstance(p, RedisPublisher)
        self.assertEqual(p.pubsub_channel(CHANNEL), "x:" + CHANNEL)
        kw = p.client.connection_pool.connection_kwargs
        self.assertEqual((kw["host"], kw["port"]), ("127.0.0.2", 6390))
        compat = hp.publisher_from_env(
            {
                "HERALD_BUS_MODE": "compat",
                "HERALD_REDIS_URL": "redis://127.0.0.1:6391/0",
            }
        )
        self.assertEqual(compat.pubsub_channel(CHANNEL), "events_channel")

    def test_errors_are_clear(self):
        with self.assertRaisesRegex(ConfigurationError, "no Herald publisher configured"):
            hp.publisher_from_env({})
        with self.assertRaisesRegex(ConfigurationError, "HERALD_PUBLISHER_KEY"):
            hp.publisher_from_env({"HERALD_PUBLISH_URL": "http://127.0.0.1:1/publish"})
        with self.assertRaisesRegex(ConfigurationError, "HERALD_BUS_MODE"):
            hp.publisher_from_env({"HERALD_BUS_MODE": "fast"})
        with self.assertRaisesRegex(ConfigurationError, "HERALD_EXTRA_VERBS"):
            hp.publisher_from_env(
                {
                    "HERALD_PUBLISH_URL": "http://h/publish",
                    "HERALD_PUBLISHER_KEY": "k",
                    "HERALD_EXTRA_VERBS": "Bad",
                }
            )
        with self.assertRaises(ConfigurationError):
            HttpPublisher("ftp://x/publish", "k")
        with self.assertRaises(ConfigurationError):
            HttpPublisher("http://127.0.0.1:1/publish", "")


class ClosingServer:
    """An HTTP/1.1 server that answers 200 {"published": N} and then closes the connection without
    saying so (no Connection: close), as a server whose idle timeout fired does."""

    def __init__(self):
        self.bodies = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append((self.headers["Authorization"], json.loads(body)))
                n = len(json.loads(body).get("events", [0]))
                out = json.dumps({"published": n}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                self.close_connection = True

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/publish" % self.httpd.server_address[1]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class HttpPublisherConnectionTest(unittest.TestCase):
    def test_a_stale_keep_alive_connection_is_replaced_once(self):
        srv = ClosingServer()
        self.addCleanup(srv.stop)
        pub = HttpPublisher(srv.url, "k3y")
        self.addCleanup(pub.close)
        for i in range(3):
            send_event(CHANNEL, "scan.progress", {"i": i}, publisher=pub)
        self.assertEqual([b[1]["data"]["i"] for b in srv.bodies], [0, 1, 2])  # each exactly once
        self.assertEqual({b[0] for b in srv.bodies}, {"Bearer k3y"})

    def test_batches_are_split_at_max_batch_events(self):
        srv = ClosingServer()
        self.addCleanup(srv.stop)
        pub = HttpPublisher(srv.url, "k", max_batch_events=2)
        self.addCleanup(pub.close)
        events = [
            {"channel": CHANNEL, "event_type": "scan.progress", "data": {"i": i}} for i in range(5)
        ]
        self.assertEqual(send_events(events, publisher=pub), 5)
        shapes = [len(b[1]["events"]) if "events" in b[1] else 1 for b in srv.bodies]
        self.assertEqual(shapes, [2, 2, 1])
        self.assertEqual(
            srv.bodies[2][1],
            {"channel": CHANNEL, "event": "scan.progress", "data": {"i": 4}},
        )

    def test_nothing_listening_is_unavailable(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # bound then released: nothing listens there
        pub = HttpPublisher("http://127.0.0.1:%d/publish" % port, "k")
        with self.assertRaises(PublisherUnavailable) as cm:
            send_event(CHANNEL, "scan.end", {}, publisher=pub)
        self.assertIsNone(cm.exception.status)


if __name__ == "__main__":
    unittest.main()

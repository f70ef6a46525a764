"""herald_publisher against a real `herald serve` started by each test: over the HTTP publish API on
the in-process bus, and over redis-server in compat (django-eventstream) and native mode. What a
stream receives is read as raw SSE bytes.

Needs HERALD_BIN, redis-server and Debian's python3-redis (run with /usr/bin/python3). Fails, never
skips, when one is missing.
"""
import json
import os
import sys
import tempfile
import unittest
import uuid

_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(_REPO, "test", "pylib"))

import herald_server as hs  # noqa: E402
from herald_server import h, wait_for  # noqa: E402

import herald_publisher as hp  # noqa: E402
from herald_publisher import (  # noqa: E402
    EventRules,
    HttpPublisher,
    InvalidEventType,
    PayloadTooLarge,
    PublisherAuthError,
    PublisherUnavailable,
    PublishRejected,
    RedisPublisher,
    make_channel,
    send_event,
    send_events,
)

h.herald_bin()  # fail at import, with a clear message, when HERALD_BIN is missing


def block(event, data, id=None):
    return h.sse_block(event, data, id)


class HeraldCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="herald-pyclient-")
        if not os.environ.get("HERALD_KEEP_TMP"):  # keep configs and herald.log for inspection
            self.addCleanup(h.shutil.rmtree, self.tmp, True)
        self.tenant = str(uuid.uuid4())
        self.user = str(uuid.uuid4())

    def start_herald(self, name="herald", **kw):
        srv = hs.HeraldServer(self.tmp, name, **kw)
        self.addCleanup(srv.stop)
        srv.add_member(self.user, self.tenant)
        srv.start()
        srv.wait_ready()
        return srv

    def start_redis(self):
        r = h.RedisServer(self.tmp)
        self.addCleanup(r.stop)
        return r.start()

    def stream(self, srv, res):
        c = srv.stream("/streams/%s" % res, srv.token(self.user, self.tenant))
        self.addCleanup(c.close)
        return c

    def channel(self, res):
        return make_channel("test", self.tenant, res)


class HttpPublishTest(HeraldCase):
    def setUp(self):
        super().setUp()
        self.srv = self.start_herald(
            extra={
                "events": {"extra_verbs": ["retried"], "max_data_bytes": 200},
                "internal": {"max_batch_events": 3},
            }
        )
        self.pub = HttpPublisher(
            self.srv.publish_url,
            self.srv.publisher_key,
            rules=EventRules(extra_verbs=["retried"]),
        )
        self.addCleanup(self.pub.close)

    def test_send_event_reaches_a_stream_with_exact_bytes(self):
        c = self.stream(self.srv, "r1")
        send_event(
            self.channel("r1"),
            "scan.progress",
            {"checked": 42, "total": 100},
            publisher=self.pub,
        )
        c.expect_block(block("scan.progress", '{"checked":42,"total":100}'))
        # id, a configured extra verb, DjangoJSONEncoder types; Herald re-serialises data compactly
        u = uuid.UUID("0191e3a1-6c1e-7a3b-9f00-000000000001")
        send_event(
            self.channel("r1"),
            "scan.retried",
            {"scan_id": u, "at": hp.events.datetime.date(2024, 1, 2)},
            id="7",
            publisher=self.pub,
        )
        c.expect_block(block("scan.retried", '{"scan_id":"%s","at":"2024-01-02"}' % u, id="7"))

    def test_upper_case_tenant_is_canonicalised_so_the_stream_gets_it(self):
        c = self.stream(self.srv, "r2")
        send_event(
            "test:%s:r2" % self.tenant.upper(),
            "scan.end",
            {"scan_id": "r2"},
            publisher=self.pub,
        )
        c.expect_block(block("scan.end", '{"scan_id":"r2"}'))

    def test_send_events_batches_in_order(self):
        c = self.stream(self.srv, "r3")
        events = [
            {
                "channel": self.channel("r3"),
                "event_type": "job.progress",
                "data": {"i": i},
                "id": str(i),
            }
            for i in range(7)
        ]  # 3 + 3 + 1 with max_batch_events = 3
        pub = HttpPublisher(self.srv.publish_url, self.srv.publisher_key, max_batch_events=3)
        self.addCleanup(pub.close)
        self.assertEqual(send_events(events, publisher=pub), 7)
        for i in range(7):
            c.expect_block(block("job.progress", '{"i":%d}' % i, id=str(i)))

    def test_default_publisher_from_the_environment(self):
        c = self.stream(self.srv, "r4")
        keyfile = os.path.join(self.tmp, "publisher.key")
        with open(keyfile, "w") as f:
            f.write(self.srv.publisher_key + "\n")
        previous = hp.configure(
            hp.publisher_from_env(
                {
                    "HERALD_PUBLISH_URL": self.srv.publish_url,
                    "HERALD_PUBLISHER_KEY_FILE": keyfile,
                }
            )
        )
        self.addCleanup(lambda: hp.configure(previous).close())
        send_event(self.channel("r4"), "scan.end", {"scan_id": "r4"})
        c.expect_block(block("scan.end", '{"scan_id":"r4"}'))

    def test_heralds_refusals_become_exceptions(self):
        ch = self.channel("r5")
        bad_key = HttpPublisher(self.srv.publish_url, "wrong-key")
        self.addCleanup(bad_key.close)
        with self.assertRaises(PublisherAuthError) as cm:
            send_event(ch, "scan.end", {}, publisher=bad_key)
        self.assertEqual((cm.exception.status, cm.exception.code), (401, "unauthenticated"))

        # Client rules looser than the server's: Herald's own 422 and 413 come back as exceptions.
        loose = HttpPublisher(
            self.srv.publish_url,
            self.srv.publisher_key,
            rules=EventRules(extra_verbs=["retried", "paused"]),
        )
        self.addCleanup(loose.close)
        with self.assertRaises(PublishRejected) as cm:
            send_event(ch, "scan.paused", {}, publisher=loose)
        self.assertEqual((cm.exception.status, cm.exception.code), (422, "unprocessable"))
        self.assertIn("event verb 'paused' is not in the vocabulary", str(cm.exception))
        with self.assertRaises(PayloadTooLarge) as cm:
            send_event(ch, "scan.end", {"x": "y" * 300}, publisher=loose)  # server limit 200
        self.assertEqual((cm.exception.status, cm.exception.code), (413, "payload_too_large"))

    def test_a_stopped_herald_is_unavailable(self):
        self.srv.stop()
        with self.assertRaises(PublisherUnavailable):
            send_event(self.channel("r6"), "scan.end", {}, publisher=self.pub)

    def test_client_and_server_agree_on_what_is_valid(self):
        """For each case, the client's validation verdict equals Herald's answer to the raw body."""
        t = self.tenant
        cases = [
            ("test:%s:ok" % t, "scan.progress", {"a": 1}, True),
            ("test:%s:ok" % t.upper(), "scan.progress", {"a": 1}, True),
            ("test:%s:a:b" % t, "scan.progress", {}, False),
            ("test:not-a-uuid:r", "scan.progress", {}, False),
            ("test:%s:" % t, "scan.progress", {}, False),
            (":%s:r" % t, "scan.progress", {}, False),
            ("test:%s:%s" % (t, "r" * 213), "scan.progress", {}, True),  # 255 bytes
            ("test:%s:%s" % (t, "r" * 214), "scan.progress", {}, False),  # 256 bytes
            (
                "test:%s:r" % t,
                "scan.retried",
                {},
                True,
            ),  # extra verb, configured on both sides
            ("test:%s:r" % t, "scan.paused", {}, False),
            ("test:%s:r" % t, "Scan.end", {}, False),
            ("test:%s:r" % t, "scan", {}, False),
            ("test:%s:r" % t, "a.b.c", {}, False),
            ("test:%s:r" % t, "x" * 64 + ".end", {}, True),
            ("test:%s:r" % t, "x" * 65 + ".end", {}, False),
            ("test:%s:r" % t, "lighthouse-session.delta", {}, True),
            ("test:%s:r" % t, "tool_call.start", {}, True),
            ("test:%s:r" % t, "1scan.end", {}, False),
            ("test:%s:r" % t, "scan.end", [1], False),
            ("test:%s:r" % t, "scan.end", "text", False),
            ("test:%s:r" % t, "scan.end", {"x": "y" * 190}, True),  # 198 bytes compact
            ("test:%s:r" % t, "scan.end", {"x": "y" * 193}, False),  # 201 bytes > 200
            ("test:%s:r" % t, "scan.end", {"n": {"nested": [1, 2]}}, False),
            ("test:%s:r" % t, "scan.end", {"n": [1, [2]]}, False),
            ("test:%s:r" % t, "scan.end", {"n": [1, "two", None]}, True),
        ]
        rules = EventRules(extra_verbs=["retried"], max_data_bytes=200)
        for channel, event, data, valid in cases:
            with self.subTest(channel=channel[:60], event=event, data=str(data)[:40]):
                try:
                    hp.make_event(channel, event, data, rules=rules)
                    client_ok = True
                except hp.ValidationError:
                    client_ok = False
                status, _, body = self.srv.request(
                    "POST",
                    "/publish",
                    json.dumps({"channel": channel, "event": event, "data": data}),
                    {
                        "Authorization": "Bearer " + self.srv.publisher_key,
                        "Content-Type": "application/json",
                    },
                )
                self.assertIn(status, (200, 413, 422), body)
                self.assertEqual(client_ok, valid)
                self.assertEqual(status == 200, valid, body)

    def test_upper_case_tenant_publish_over_http_reaches_the_stream(self):
        """POST /publish to a channel whose tenant UUID is upper-case reaches the streams of the
        lower-case channel: Herald canonicalises UUID segments on every publish path (issue 15).
        The raw request bypasses the client's own canonicalisation."""
        c = self.stream(self.srv, "r7")
        status, _, body = self.srv.request(
            "POST",
            "/publish",
            json.dumps(
                {
                    "channel": "test:%s:r7" % self.tenant.upper(),
                    "event": "scan.end",
                    "data": {"upper": True},
                }
            ),
            {"Authorization": "Bearer " + self.srv.publisher_key},
        )
        self.assertEqual(status, 200, body)
        send_event(
            self.channel("r7"), "scan.end", {"upper": False}, publisher=self.pub
        )  # the sentinel: it must come second
        c.expect_block(block("scan.end", '{"upper":true}'))
        c.expect_block(block("scan.end", '{"upper":false}'))


class BusPublishTest(HeraldCase):
    def test_compat_mode_sends_django_eventstreams_message(self):
        r = self.start_redis()
        srv = self.start_herald(
            bus={
                "mode": "compat",
                "host": "127.0.0.1",
                "port": r.port,
                "reconnect_min_ms": 50,
                "reconnect_max_ms": 300,
            }
        )
        wait_for(
            lambda: r.numsub("events_channel") == 1,
            10,
            "Herald to SUBSCRIBE events_channel",
        )
        spy = r.client().pubsub()
        self.addCleanup(spy.close)
        spy.subscribe("events_channel")
        self.assertEqual(spy.get_message(timeout=10)["type"], "subscribe")

        pub = RedisPublisher(host="127.0.0.1", port=r.port, mode="compat")
        self.addCleanup(pub.close)
        c = self.stream(srv, "b1")
        data = {"checked": 42, "total": 100, "note": "é"}
        send_event(self.channel("b1"), "scan.progress", data, id="42", publisher=pub)
        # On the wire: exactly what django-eventstream's send_event publishes (5.3.3+, 4 keys).
        msg = spy.get_message(timeout=10)
        self.assertEqual(msg["channel"], b"events_channel")
        self.assertEqual(
            msg["data"].decode(),
            json.dumps(
                {
                    "channel": self.channel("b1"),
                    "event_type": "scan.progress",
                    "data": json.dumps(data),
                    "pub_id": "42",
                }
            ),
        )
        self.assertEqual(pub.last_receivers, [2])  # Herald and the spy
        # On the stream: the publisher's own JSON text (Python's separators), pub_id as the SSE id.
        c.expect_block(
            block(
                "scan.progress",
                '{"checked": 42, "total": 100, "note": "\\u00e9"}',
                id="42",
            )
        )
        send_event(
            self.channel("b1"), "scan.end", {"scan_id": "b1"}, publisher=pub
        )  # pub_id null: no id
        c.expect_block(block("scan.end", '{"scan_id": "b1"}'))

    def test_native_mode_uses_heralds_format_and_prefix(self):
        r = self.start_redis()
        srv = self.start_herald(
            bus={
                "mode": "native",
                "prefix": "pyt:",
                "host": "127.0.0.1",
                "port": r.port,
                "reconnect_min_ms": 50,
                "reconnect_max_ms": 300,
            }
        )
        pub = RedisPublisher(url="redis://127.0.0.1:%d/0" % r.port, mode="native", prefix="pyt:")
        self.addCleanup(pub.close)
        c = self.stream(srv, "n1")  # stream-open: Herald has subscribed pyt:<channel>
        self.assertEqual(r.numsub("pyt:" + self.channel("n1")), 1)
        send_events(
            [
                {
                    "channel": self.channel("n1"),
                    "event_type": "llm.delta",
                    "data": {"text": "Hel"},
                    "id": "1",
                },
                {
                    "channel": self.channel("n1"),
                    "event_type": "llm.delta",
                    "data": {"text": "lo"},
                },
                {
                    "channel": self.channel("n1"),
                    "event_type": "llm.end",
                    "data": {"id": "n1"},
                },
            ],
            publisher=pub,
        )
        c.expect_block(block("llm.delta", '{"text": "Hel"}', id="1"))
        c.expect_block(block("llm.delta", '{"text": "lo"}'))
        c.expect_block(block("llm.end", '{"id": "n1"}'))
        self.assertEqual(pub.last_receivers, [1, 1, 1])

    def test_invalid_events_never_reach_the_bus_and_a_down_valkey_is_unavailable(self):
        r = self.start_redis()
        pub = RedisPublisher(host="127.0.0.1", port=r.port, mode="compat", socket_timeout=5)
        self.addCleanup(pub.close)
        spy = r.client().pubsub()
        self.addCleanup(spy.close)
        spy.subscribe("events_channel")
        self.assertEqual(spy.get_message(timeout=10)["type"], "subscribe")
        # Herald does not check a bus message's event type: the client is the only guard.
        with self.assertRaises(InvalidEventType):
            send_event(self.channel("x"), "scan.progressed", {}, publisher=pub)
        with self.assertRaises(PayloadTooLarge):
            RedisPublisher(client=r.client(), mode="compat", max_message_bytes=100).publish(
                hp.make_event(self.channel("x"), "scan.end", {"x": "y" * 100})
            )
        send_event(self.channel("x"), "scan.end", {"last": True}, publisher=pub)  # the sentinel
        first = json.loads(spy.get_message(timeout=10)["data"])  # the first thing on the bus
        self.assertEqual(json.loads(first["data"]), {"last": True})
        r.kill9()
        with self.assertRaises(PublisherUnavailable):
            send_event(self.channel("x"), "scan.end", {}, publisher=pub)


if __name__ == "__main__":
    unittest.main()

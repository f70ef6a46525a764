"""Herald's multi-node tests (issue 3): several `herald serve` processes on one Valkey/Redis.

Run (from any directory):
    HERALD_BIN=/path/to/herald /usr/bin/python3 -m unittest discover -s test/multinode -p 'test_*.py' -v
Each test starts its own redis-server(s) and Herald nodes on free loopback ports in a temp dir and
stops them when it ends. See README.md in this directory.
"""
import json
import os
import re
import socket
import time
import unittest
import uuid

import herald_harness as h
from herald_harness import sse_block, wait_for

PREFIX = "mn:"  # native-mode pub/sub prefix used by every test (not the default, on purpose)

# Short timeouts so faults are noticed and repaired quickly.
FAST = {"reconnect_min_ms": 50, "reconnect_max_ms": 300, "connect_timeout_ms": 1000,
        "command_timeout_ms": 3000}

h.herald_bin()  # fail at import, with a clear message, when HERALD_BIN is missing


def native_bus(redis_server):
    return dict(mode="native", host="127.0.0.1", port=redis_server.port, prefix=PREFIX, **FAST)


def compat_bus(redis_server):
    return dict(mode="compat", host="127.0.0.1", port=redis_server.port, **FAST)


class MultiNodeTest(h.HeraldTestCase):

    def native_pair(self, scans=()):
        """One redis-server and two ready nodes "a" and "b" on it in native mode; the store seeded.
        Node a (two event loops) runs its bus on a thread of its own, node b (one event loop) on its
        event loop, as [bus] thread = "auto" chooses: every test on the pair checks both."""
        r = self.start_redis()
        a = self.make_node("a", native_bus(r))
        b = self.make_node("b", native_bus(r), threads=1)
        self.seed(a, scans=scans)
        a.start(), b.start()
        a.wait_ready(), b.wait_ready()
        return r, a, b

    # ---------------------------------------------------------------------------------------------
    def test_1_native_publish_on_b_reaches_stream_on_a_exactly_once(self):
        scan = str(uuid.uuid4())
        r, a, b = self.native_pair(scans=[scan])
        # Which thread runs each node's bus, as its start-up line says.
        self.assertIn('(native, prefix "%s", on the event loop)' % PREFIX, b.log())
        self.assertNotIn("on the event loop", a.log())

        ch = "scan-progress:%s:%s" % (self.tenant, scan)
        path = "/api/v1/scans/%s/event-stream" % scan
        ca = self.stream(a, path)  # the client under test, on node A
        wait_for(lambda: r.numsub(PREFIX + ch) == 1, 10,
                 lambda: "node A to SUBSCRIBE %s (channels %s)" % (PREFIX + ch, r.channels()))
        cb = self.stream(b, path)  # a second client of the same scan, on node B
        wait_for(lambda: r.numsub(PREFIX + ch) == 2, 10, "node B to SUBSCRIBE too")
        received_a = a.metric("herald_bus_messages_received_total")

        # Published over HTTP on node B, then on node A: each reaches both clients exactly once.
        b.publish_ok(ch, "scan.progress", {"checked": 1, "total": 2, "via": "b"}, id="1")
        want_b = sse_block("scan.progress", '{"checked":1,"total":2,"via":"b"}', id="1")
        ca.expect_block(want_b)
        cb.expect_block(want_b)
        a.publish_ok(ch, "scan.progress", {"checked": 2, "total": 2, "via": "a"})
        want_a = sse_block("scan.progress", '{"checked":2,"total":2,"via":"a"}')
        ca.expect_block(want_a)
        cb.expect_block(want_a)
        ca.expect_silence(0.5)  # no duplicate (e.g. a local short-circuit plus the bus copy)
        cb.expect_silence(0.05)
        # Node A took both events from Valkey, once each (its own publish included).
        self.assertEqual(a.metric("herald_bus_messages_received_total"), received_a + 2)

        # A pipelined batch on node B arrives on node A complete and in order.
        batch = [{"channel": ch, "event": "scan.progress", "data": {"seq": i}, "id": "s%d" % i}
                 for i in range(25)]
        status, _, body = h.http_request(
            b.internal_port, "POST", "/publish", json.dumps({"events": batch}),
            {"Authorization": "Bearer " + b.publisher_key, "Content-Type": "application/json"})
        self.assertEqual((status, json.loads(body)), (200, {"published": 25}), body)
        for c in (ca, cb):
            for i in range(25):
                c.expect_block(sse_block("scan.progress", '{"seq":%d}' % i, id="s%d" % i))
        ca.expect_silence(0.2)
        cb.expect_silence(0.02)

        # Thirty separate POSTs pipelined in one write on node B (they wait for Valkey together):
        # answered in order, delivered in order on both nodes. The 11th has no event name: its 400
        # answer is the 11th and leaves the connection open for the rest.
        reqs = b""
        for i in range(30):
            event = {"channel": ch, "event": "scan.progress", "data": {"p": i}}
            if i == 10:
                del event["event"]
            body = json.dumps(event).encode()
            reqs += (b"POST /publish HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                     b.publisher_key.encode() + b"\r\nContent-Type: application/json\r\n" +
                     (b"Connection: close\r\n" if i == 29 else b"") +
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        with socket.create_connection(("127.0.0.1", b.internal_port), timeout=10) as s:
            s.sendall(reqs)
            replies = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                replies += chunk
        statuses = re.findall(rb"HTTP/1\.1 (\d+) ", replies)
        self.assertEqual(statuses, [b"200"] * 10 + [b"400"] + [b"200"] * 19, replies)
        self.assertEqual(replies.count(b'{"published":1}'), 29, replies)
        self.assertEqual(replies.count(b"Connection: close"), 1, replies)  # the last answer's
        for c in (ca, cb):
            for i in range(30):
                if i != 10:
                    c.expect_block(sse_block("scan.progress", '{"p":%d}' % i))
        ca.expect_silence(0.2)
        cb.expect_silence(0.02)

    # ---------------------------------------------------------------------------------------------
    def test_2_compat_django_eventstream_publisher_and_garbage(self):
        r = self.start_redis()
        a = self.make_node("a", compat_bus(r))
        b = self.make_node("b", compat_bus(r))
        scan = str(uuid.uuid4())
        self.seed(a, scans=[scan])
        a.start(), b.start()
        a.wait_ready(), b.wait_ready()
        wait_for(lambda: r.numsub("events_channel") == 2, 10,
                 lambda: "both nodes to SUBSCRIBE events_channel (channels %s)" % r.channels())
        self.assertEqual(r.channels(), ["events_channel"])  # compat: one pub/sub channel, no prefix

        ch = "scan-progress:%s:%s" % (self.tenant, scan)
        ca = self.stream(a, "/api/v1/scans/%s/event-stream" % scan)
        pub = r.client()

        # Compat mode has no per-channel SUBSCRIBE to wait for: prove the stream is wired by sending
        # warm-up events until one arrives. PUBLISH replies come after Valkey queued the message to
        # node A's connection, so every later message arrives after every warm-up.
        def is_warmup(block):
            return block.startswith("event: scan.start\ndata: {\"warmup\": ")

        for k in range(100):
            pub.publish("events_channel", json.dumps(
                {"channel": ch, "event_type": "scan.start", "data": json.dumps({"warmup": k}),
                 "pub_id": None}))
            got = ca.next_block(0.1)
            if got is not None:
                self.assertTrue(is_warmup(got), got)
                break
        else:
            self.fail("no warm-up event reached the stream\n" + self.logs())

        invalid_before = a.metric("herald_bus_invalid_messages_total")
        received_before = a.metric("herald_bus_messages_received_total")
        not_string = 'herald_bus_messages_dropped_total{reason="data_not_string"}'
        not_string_before = a.metric(not_string)

        # 1. Byte for byte what django-eventstream 5.3.3+'s send_event publishes (no storage).
        pub.publish("events_channel", json.dumps(
            {"channel": ch, "event_type": "scan.progress", "data": json.dumps({"checked": 1, "total": 2}),
             "pub_id": None}))
        garbage = [
            "this is not json",
            json.dumps([ch, "scan.progress", "{}", None]),                                  # array
            json.dumps({"channel": ch, "data": "{}", "pub_id": None}),                      # no event_type
            json.dumps({"channel": ch, "event_type": "scan.progress", "pub_id": None}),     # no data
            json.dumps({"event_type": "scan.progress", "data": "{}", "pub_id": None}),      # no channel
            json.dumps({"channel": ch, "event_type": "scan.progress",
                        "data": {"checked": 9}, "pub_id": None}),                           # data not a string
            json.dumps({"channel": ch, "event_type": 7, "data": "{}", "pub_id": None}),     # event_type not a string
            json.dumps({"channel": ch, "event_type": "scan.progress", "data": "{}",
                        "pub_id": 7}),                                                      # pub_id not a string
            json.dumps({"channel": "test", "event_type": "message", "data": "{}",
                        "pub_id": None}),                                                   # not a Herald channel
            json.dumps({"channel": "scan-progress:not-a-uuid:%s" % scan,
                        "event_type": "scan.progress", "data": "{}", "pub_id": None}),     # bad tenant segment
            b"\xff\xfe\x00",                                                                # not UTF-8
        ]
        for g in garbage:
            pub.publish("events_channel", g)
        # 2. The 3-key form of django-eventstream 5.3.0-5.3.2 (no pub_id).
        pub.publish("events_channel", json.dumps(
            {"channel": ch, "event_type": "scan.progress", "data": json.dumps({"checked": 2, "total": 2})}))
        pub.publish("events_channel", garbage[0])
        # 3. With storage: pub_id a decimal string; non-ASCII \u-escaped by json.dumps.
        pub.publish("events_channel", json.dumps(
            {"channel": ch, "event_type": "scan.end", "data": json.dumps({"state": "h\u00e9llo"}),
             "pub_id": "42"}))
        n_garbage = len(garbage) + 1

        ca.expect_block("event: scan.progress\ndata: {\"checked\": 1, \"total\": 2}\n\n", skip=is_warmup)
        ca.expect_block("event: scan.progress\ndata: {\"checked\": 2, \"total\": 2}\n\n")
        ca.expect_block("event: scan.end\nid: 42\ndata: {\"state\": \"h\\u00e9llo\"}\n\n")
        ca.expect_silence(0.3)
        self.assertTrue(a.alive() and b.alive())
        self.assertEqual(a.metric("herald_bus_invalid_messages_total") - invalid_before, n_garbage,
                         a.log())
        self.assertEqual(a.metric("herald_bus_messages_received_total") - received_before, 3)
        # The one message whose `data` is an object (send_event with json_encode=False) is counted
        # under its own reason and logged, not dropped without a trace.
        self.assertEqual(a.metric(not_string) - not_string_before, 1)
        self.assertIn("(data_not_string)", a.log())

        # Herald's own publishes in compat mode: what a raw django-eventstream listener (views.py's
        # RedisListener: json.loads of the message) sees on events_channel, byte for byte.
        listener = r.client().pubsub()
        listener.subscribe("events_channel")
        wait_for(lambda: r.numsub("events_channel") == 3, 10, "the raw listener to subscribe")
        b.publish_ok(ch, "scan.progress", {"checked": 5, "total": 5, "note": "h\u00e9llo \U0001F600"})
        b.publish_ok(ch, "scan.end", {"state": "completed"}, id="77")
        raw = []
        deadline = time.monotonic() + 10
        while len(raw) < 2 and time.monotonic() < deadline:
            m = listener.get_message(timeout=0.5)
            if m and m["type"] == "message":
                raw.append(m["data"])
        listener.close()
        self.assertEqual(len(raw), 2, raw)
        for text, (data, pub_id) in zip(raw, [('{"checked":5,"total":5,"note":"h\u00e9llo \U0001F600"}', None),
                                              ('{"state":"completed"}', "77")]):
            text = text.decode("ascii")  # ensure_ascii: pure ASCII on the wire
            msg = json.loads(text)
            self.assertEqual(list(msg), ["channel", "event_type", "data", "pub_id"], text)
            self.assertEqual(json.dumps(msg), text)  # exactly Python's json.dumps output
            self.assertEqual(msg["channel"], ch)
            self.assertIsInstance(msg["data"], str)
            self.assertEqual(msg["data"], data)
            self.assertEqual(msg["pub_id"], pub_id)
        # ...and node A's client got them too (the SSE data is the UTF-8 text, not \u-escaped).
        ca.expect_block('event: scan.progress\ndata: {"checked":5,"total":5,"note":"h\u00e9llo \U0001F600"}\n\n')
        ca.expect_block('event: scan.end\nid: 77\ndata: {"state":"completed"}\n\n')
        ca.expect_silence(0.2)

    # ---------------------------------------------------------------------------------------------
    def test_3_native_node_subscribes_only_channels_it_has_subscribers_on(self):
        r, a, b = self.native_pair()
        self.assertEqual(r.channels(), [], "nothing is subscribed before a client connects")

        x = "test:%s:iso-x" % self.tenant
        y = "test:%s:iso-y" % self.tenant
        ca = self.stream(a, "/streams/iso-x")
        wait_for(lambda: r.numsub(PREFIX + x) == 1, 10, "node A to SUBSCRIBE X")
        self.assertEqual(r.channels(), [PREFIX + x])
        self.assertEqual(subscription_counts(r, a), 1, "node A: one pub/sub subscription (X)")
        self.assertEqual(subscription_counts(r, b), 0, "node B: no subscription yet")

        cb = self.stream(b, "/streams/iso-y")
        wait_for(lambda: r.numsub(PREFIX + y) == 1, 10, "node B to SUBSCRIBE Y")
        self.assertEqual(r.channels(), sorted([PREFIX + x, PREFIX + y]))
        self.assertEqual(r.numsub(PREFIX + x), 1)
        self.assertEqual(subscription_counts(r, a), 1, "node A: still only X, not Y")
        self.assertEqual(subscription_counts(r, b), 1, "node B: only Y")

        # Traffic on Y, even published through node A, never reaches node A.
        recv_a = a.metric("herald_bus_messages_received_total")
        recv_b = b.metric("herald_bus_messages_received_total")
        a.publish_ok(y, "scan.progress", {"n": 1})
        cb.expect_block(sse_block("scan.progress", '{"n":1}'))
        b.publish_ok(x, "scan.progress", {"n": 2})
        ca.expect_block(sse_block("scan.progress", '{"n":2}'))
        # Valkey delivered Y's message to B before X's to A; A counted only X's.
        self.assertEqual(a.metric("herald_bus_messages_received_total"), recv_a + 1)
        self.assertEqual(b.metric("herald_bus_messages_received_total"), recv_b + 1)

        # A second client of X on node A: still one subscription per node, not per client.
        ca2 = self.stream(a, "/streams/iso-x")
        wait_for(lambda: a.metric("herald_connections") == 2, 10, "node A to count 2 streams")
        b.publish_ok(x, "scan.progress", {"n": 3})
        for c in (ca, ca2):
            c.expect_block(sse_block("scan.progress", '{"n":3}'))
        self.assertEqual(r.numsub(PREFIX + x), 1)
        self.assertEqual(subscription_counts(r, a), 1)

        # One of the two leaves: node A stays subscribed. Barrier: a SUBSCRIBE for a new channel Q
        # on the same connection lands after any (wrong) UNSUBSCRIBE of X would have.
        ca.close()
        wait_for(lambda: a.metric("herald_connections") == 1, 10, "node A to see the client leave")
        q = "test:%s:iso-q" % self.tenant
        cq = self.stream(a, "/streams/iso-q")
        wait_for(lambda: r.numsub(PREFIX + q) == 1, 10, "node A to SUBSCRIBE Q")
        self.assertEqual(r.numsub(PREFIX + x), 1, "X still has a client on node A")
        b.publish_ok(x, "scan.progress", {"n": 4})
        ca2.expect_block(sse_block("scan.progress", '{"n":4}'))

        # The last clients of X and Q leave: node A unsubscribes both.
        ca2.close()
        cq.close()
        wait_for(lambda: r.numsub(PREFIX + x) == 0 and r.numsub(PREFIX + q) == 0, 10,
                 lambda: "node A to UNSUBSCRIBE X and Q (channels %s)\n%s" % (r.channels(), a.log()))
        self.assertEqual(r.channels(), [PREFIX + y])
        self.assertEqual(subscription_counts(r, a), 0)
        b.publish_ok(y, "scan.progress", {"n": 5})
        cb.expect_block(sse_block("scan.progress", '{"n":5}'))
        cb.expect_silence(0.2)

    # ---------------------------------------------------------------------------------------------
    def test_4_redis_killed_and_restarted_mid_stream(self):
        r, a, b = self.native_pair()
        ch = "test:%s:faults" % self.tenant
        ca = self.stream(a, "/streams/faults")
        wait_for(lambda: r.numsub(PREFIX + ch) == 1, 10, "node A to SUBSCRIBE")
        b.publish_ok(ch, "scan.progress", {"phase": "before"})
        ca.expect_block(sse_block("scan.progress", '{"phase":"before"}'))
        reconnects = a.metric("herald_bus_reconnects_total")

        r.kill9()  # SIGKILL: no goodbye on the connections
        for n in (a, b):
            wait_for(lambda: n.readyz()[0] == 503, 10,
                     lambda: "node %s /readyz to answer 503 (last %r)" % (n.name, n._safe_readyz()))
            status, body = n.readyz()
            self.assertEqual(json.loads(body)["bus_ready"], False, body)
            self.assertTrue(n.alive(), n.log())
        self.assertEqual(a.metric("herald_bus_up"), 0)

        status, body = a.publish(ch, "scan.progress", {"phase": "down"})
        self.assertEqual(status, 503, body)
        self.assertTrue(a.last_headers.get("content-type", "").startswith("application/json"),
                        a.last_headers)
        self.assertIsInstance(body, dict, body)
        self.assertEqual(body["error"]["code"], "unavailable", body)
        self.assertIn("bus", body["error"]["message"].lower(), body)

        rc, out, err = a.cli("publish", "--config", a.config_path, "--channel", ch,
                             "--event", "scan.progress", "--data", '{"phase":"cli-down"}')
        self.assertNotEqual(rc, 0, out + err)
        self.assertEqual(rc, 1, "5xx is a runtime failure (exit 1): " + out + err)
        self.assertIn("503", err)
        self.assertIn("unavailable", err)
        self.assertEqual(out, "")

        self.assertTrue(a.alive() and b.alive(), self.logs())
        # Interest that changes while Valkey is down: W gains a client (must be subscribed after the
        # restart), V gains one and loses it again (must not be).
        w = "test:%s:faults-w" % self.tenant
        v = "test:%s:faults-v" % self.tenant
        # Streams opened during the outage get their 200 head at once (a browser's EventSource stays
        # open instead of failing) but stream-open only once the bus is subscribed again.
        token = a.token(self.user, self.tenant)
        cw = h.SSEClient(a.public_port, "/streams/faults-w", token)
        self.addCleanup(cw.close)
        cv = h.SSEClient(a.public_port, "/streams/faults-v", token)
        self.assertEqual(cv.buf, b"", "no stream-open while the bus is down")
        cv.close()
        ca.expect_silence(0.2)  # still open: no stream-error, no close, nothing of the 503'd events

        r.start()  # same port, empty server: Herald must reconnect and SUBSCRIBE again
        for n in (a, b):
            n.wait_ready(timeout=15)
        wait_for(lambda: r.numsub(PREFIX + ch) == 1 and r.numsub(PREFIX + w) == 1, 10,
                 lambda: "node A to re-SUBSCRIBE X and W after the restart (channels %s)\n%s" % (
                     r.channels(), a.log()))
        self.assertEqual(r.channels(), sorted([PREFIX + ch, PREFIX + w]), "V: no client left")
        self.assertEqual(r.numsub(PREFIX + v), 0)
        self.assertGreater(a.metric("herald_bus_reconnects_total"), reconnects)
        self.assertEqual(a.metric("herald_bus_up"), 1)

        b.publish_ok(ch, "scan.progress", {"phase": "after", "via": "b"})
        a.publish_ok(ch, "scan.progress", {"phase": "after", "via": "a"})
        # The SAME connection as before the kill.
        ca.expect_block(sse_block("scan.progress", '{"phase":"after","via":"b"}'))
        ca.expect_block(sse_block("scan.progress", '{"phase":"after","via":"a"}'))
        ca.expect_silence(0.3)
        cw.expect_preamble()  # stream-open arrives once W is subscribed
        b.publish_ok(w, "scan.progress", {"phase": "after", "to": "w"})
        cw.expect_block(sse_block("scan.progress", '{"phase":"after","to":"w"}'))
        rc, out, err = a.cli("publish", "--config", a.config_path, "--channel", ch,
                             "--event", "scan.progress", "--data", '{"phase":"cli-up"}')
        self.assertEqual(rc, 0, out + err)
        ca.expect_block(sse_block("scan.progress", '{"phase":"cli-up"}'))

    # ---------------------------------------------------------------------------------------------
    def test_5_cluster_three_masters_sharded_pubsub(self):
        masters = [self.start_redis("redis-%d" % i, cluster=True) for i in range(3)]
        rc, out, err = h.run(["redis-cli", "--cluster", "create"] +
                             ["127.0.0.1:%d" % m.port for m in masters] +
                             ["--cluster-replicas", "0", "--cluster-yes"], timeout=60)
        self.assertEqual(rc, 0, out + err)
        for m in masters:
            wait_for(lambda: b"cluster_state:ok" in m.client().execute_command("CLUSTER", "INFO"), 20,
                     "cluster_state:ok on port %d" % m.port)
        by_port = {m.port: m for m in masters}

        def owner(slot):
            for start, end, primary, *_ in masters[0].client().execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return by_port[int(primary[1])]
            raise AssertionError("slot %d is not covered" % slot)

        # One channel per master: X (node A), Y (node B), Z (both).
        chosen = {}
        for i in range(500):
            res = "c%d" % i
            slot = masters[0].client().execute_command(
                "CLUSTER", "KEYSLOT", PREFIX + "test:%s:%s" % (self.tenant, res))
            chosen.setdefault(owner(slot).port, res)
            if len(chosen) == 3:
                break
        self.assertEqual(len(chosen), 3, "no channels on three different masters")
        rx, ry, rz = [chosen[m.port] for m in masters]
        x, y, z = ["test:%s:%s" % (self.tenant, res) for res in (rx, ry, rz)]

        bus = dict(cluster=True, cluster_nodes=["127.0.0.1:%d" % masters[0].port],
                   host="127.0.0.1", port=masters[0].port, prefix=PREFIX, **FAST)
        a = self.make_node("a", bus)
        b = self.make_node("b", bus)
        self.seed(a)
        a.start(), b.start()
        a.wait_ready(), b.wait_ready()

        ax = self.stream(a, "/streams/" + rx)
        az = self.stream(a, "/streams/" + rz)
        by = self.stream(b, "/streams/" + ry)
        bz = self.stream(b, "/streams/" + rz)
        for ch, m, n in ((x, masters[0], 1), (y, masters[1], 1), (z, masters[2], 2)):
            wait_for(lambda: m.shardnumsub(PREFIX + ch) == n, 10,
                     lambda: "%d SSUBSCRIBE of %s on its master (port %d)\n%s" % (
                         n, PREFIX + ch, m.port, self.logs()))
            for other in masters:
                if other is not m:  # only the owning shard carries it
                    self.assertEqual(other.shardnumsub(PREFIX + ch), 0)
                self.assertEqual(other.numsub(PREFIX + ch), 0)  # sharded, not classic pub/sub

        b.publish_ok(x, "scan.progress", {"to": "x"})  # master 0 -> node A
        a.publish_ok(y, "scan.progress", {"to": "y"})  # master 1 -> node B
        b.publish_ok(z, "scan.progress", {"to": "z", "via": "b"})  # master 2 -> both
        a.publish_ok(z, "scan.progress", {"to": "z", "via": "a"})
        ax.expect_block(sse_block("scan.progress", '{"to":"x"}'))
        by.expect_block(sse_block("scan.progress", '{"to":"y"}'))
        for c in (az, bz):
            c.expect_block(sse_block("scan.progress", '{"to":"z","via":"b"}'))
            c.expect_block(sse_block("scan.progress", '{"to":"z","via":"a"}'))
        ax.expect_silence(0.3)
        for c in (by, az, bz):
            c.expect_silence(0.02)



    # ---------------------------------------------------------------------------------------------
    def test_6_stream_open_means_subscribed(self):
        """stream-open is sent only after Valkey confirmed the node's subscription: an event
        published straight to Valkey the moment a client sees stream-open is never lost."""
        r = self.start_redis()
        a = self.make_node("a", native_bus(r))
        self.seed(a, scans=[])
        a.start()
        a.wait_ready()
        pub = r.client()
        token = a.token(self.user, self.tenant)
        for i in range(100):
            res = "race-%d" % i
            ch = "test:%s:%s" % (self.tenant, res)
            raw = json.dumps({"channel": ch, "event": "scan.progress", "data": json.dumps({"i": i})})
            c = h.SSEClient(a.public_port, "/streams/" + res, token)
            c.expect_preamble()
            receivers = pub.publish(PREFIX + ch, raw)  # the moment stream-open was read
            self.assertEqual(receivers, 1, "herald was not subscribed when stream-open went out (%d)" % i)
            c.expect_block(sse_block("scan.progress", json.dumps({"i": i})), timeout=5)
            c.close()


# --------------------------------------------------------------------------------------------------
# Which Valkey connections belong to which Herald process (Linux /proc): CLIENT LIST shows each
# client's address and subscription count but not its channels, so we attribute connections to nodes
# by socket inode.

def _local_ports_to(pid, remote_port):
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, remote, inode = f[1], f[2], f[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def subscription_counts(redis_server, node):
    """Total classic pub/sub subscriptions held by node's connections to redis_server."""
    ports = _local_ports_to(node.proc.pid, redis_server.port)
    total = 0
    mine = 0
    for c in redis_server.client().client_list():
        if int(c["addr"].rsplit(":", 1)[1]) in ports:
            mine += 1
            total += int(c.get("sub", 0)) + int(c.get("psub", 0))
    assert mine >= 1, "no connection of node %s found in CLIENT LIST" % node.name
    return total


if __name__ == "__main__":
    unittest.main()

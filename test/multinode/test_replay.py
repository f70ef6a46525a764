"""Reliable channels across nodes (issue 17, docs/reconnects.md): two `herald serve` processes on one
redis-server; events published on node A are numbered and kept in a Valkey Stream, so a client that
resumes on node B (Last-Event-ID or lastEventId) gets what it missed from A's publishes, exactly once
and in order, then live events from either node; a position no longer kept gets stream-reset.

Run with /usr/bin/python3 (python3-redis), HERALD_BIN set; see README.md.
"""
import json
import random
import threading
import time
import unittest
import urllib.parse

import herald_harness as h
from herald_harness import sse_block, wait_for

PREFIX = "rp:"
FAST = {"reconnect_min_ms": 50, "reconnect_max_ms": 300, "connect_timeout_ms": 1000,
        "command_timeout_ms": 3000}

h.herald_bin()


def native_bus(redis_server):
    return dict(mode="native", host="127.0.0.1", port=redis_server.port, prefix=PREFIX, **FAST)


class ReplayTest(h.HeraldTestCase):

    def reliable_pair(self, max_events):
        """redis-server and nodes a and b whose /streams/{res} endpoint is reliable."""
        r = self.start_redis()
        a = self.make_node("a", native_bus(r))
        b = self.make_node("b", native_bus(r))
        for n in (a, b):
            # The file's last table is the /streams/{res} endpoint: this line makes it reliable.
            with open(n.config_path, "a") as f:
                f.write("reliable = true\n\n[replay]\nmax_events = %d\n" % max_events)
        self.seed(a)
        a.start(), b.start()
        a.wait_ready(), b.wait_ready()
        return r, a, b

    def publish_id(self, node, channel, n):
        status, body = node.publish(channel, "scan.progress", {"n": n})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["published"], 1, body)
        return body["ids"][0]

    def resume(self, node, res, last_id, header=True):
        """A raw stream of /streams/<res> resuming from last_id; returns it after the padding."""
        path = "/streams/%s" % res
        token = node.token(self.user, self.tenant)
        if header:
            c = h.SSEClient(node.public_port, path, token, {"Last-Event-ID": last_id})
        else:
            c = h.SSEClient(node.public_port,
                            path + "?lastEventId=" + urllib.parse.quote(last_id, safe=""), token)
        self.addCleanup(c.close)
        self.assertEqual(c.next_block(10), h.PREAMBLE.split("\n\n")[0] + "\n\n")  # the padding
        return c

    def test_1_published_on_a_resumed_on_b_then_live_from_both(self):
        r, a, b = self.reliable_pair(max_events=1000)
        ch = "test:%s:r1" % self.tenant
        ids = [self.publish_id(a, ch, i) for i in range(6)]
        quoted = urllib.parse.quote(ch, safe="/")
        self.assertTrue(all(i.startswith(quoted + ":") for i in ids), ids)
        # Kept in a Valkey Stream (in the pub/sub channel's slot), one entry per event.
        self.assertEqual(r.client().xlen("{%s%s}:log" % (PREFIX, ch)), 6)

        c = self.resume(b, "r1", ids[1], header=False)
        c.expect_block("event: stream-open\nid: %s\ndata:\n\n" % ids[1])
        for i in range(2, 6):
            c.expect_block(sse_block("scan.progress", '{"n":%d}' % i, ids[i]))
        # Live, from either node, with no gap and no duplicate at the seam.
        wait_for(lambda: r.numsub(PREFIX + ch) >= 1, 10, "node B to subscribe")
        live_a = self.publish_id(a, ch, 6)
        live_b = self.publish_id(b, ch, 7)
        c.expect_block(sse_block("scan.progress", '{"n":6}', live_a))
        c.expect_block(sse_block("scan.progress", '{"n":7}', live_b))
        c.expect_silence(0.3)

        # The same resume on A, with the header, from the first event.
        d = self.resume(a, "r1", ids[0])
        d.expect_block("event: stream-open\nid: %s\ndata:\n\n" % ids[0])
        for i in range(1, 6):
            d.expect_block(sse_block("scan.progress", '{"n":%d}' % i, ids[i]))
        d.expect_block(sse_block("scan.progress", '{"n":6}', live_a))
        d.expect_block(sse_block("scan.progress", '{"n":7}', live_b))

    def test_2_a_position_trimmed_from_the_stream_gets_stream_reset(self):
        r, a, b = self.reliable_pair(max_events=10)
        ch = "test:%s:r2" % self.tenant
        ids = [self.publish_id(a, ch, i) for i in range(400)]  # MAXLEN ~ 10 trims whole nodes
        c = self.resume(b, "r2", ids[0])
        c.expect_block("event: stream-open\nid: %s\ndata:\n\n" % ids[0])
        c.expect_block("event: stream-reset\nid: %s\ndata: %s\n\n"
                       % (ids[-1], json.dumps({"channels": [ch]})))
        live = self.publish_id(a, ch, 400)
        c.expect_block(sse_block("scan.progress", '{"n":400}', live))

    def test_3_a_client_hopping_between_nodes_through_many_disconnects_sees_each_event_once(self):
        """1,000 events published on A (while the client reads); the client disconnects after a
        random number of events, many times, and resumes on a random node with the last id it saw
        (what EventSource does), dropping what it received but had not read yet."""
        r, a, b = self.reliable_pair(max_events=2000)
        ch = "test:%s:r3" % self.tenant
        total = 1000
        first = h.SSEClient(a.public_port, "/streams/r3", a.token(self.user, self.tenant))
        self.addCleanup(first.close)
        first.next_block(10)  # padding
        opened = first.next_block(10)
        last_id = opened.split("id: ", 1)[1].split("\n", 1)[0]
        first.close()
        failures = []

        def publisher():
            try:
                for n in range(total):
                    self.publish_id(a, ch, n)
            except Exception as e:  # reported by the main thread
                failures.append(e)

        t = threading.Thread(target=publisher)
        t.start()
        self.addCleanup(t.join)
        rng = random.Random(17)
        got, connects = [], 0
        deadline = time.monotonic() + 90
        while len(got) < total and time.monotonic() < deadline and not failures:
            node = rng.choice((a, b))
            c = h.SSEClient(node.public_port, "/streams/r3", node.token(self.user, self.tenant),
                            {"Last-Event-ID": last_id})
            connects += 1
            try:
                self.assertTrue(c.next_block(10).startswith(":"))
                self.assertEqual(c.next_block(10), "event: stream-open\nid: %s\ndata:\n\n" % last_id)
                for _ in range(rng.randint(1, 40)):
                    block = c.next_block(2)
                    if block is None:
                        break  # nothing more published yet: reconnect anyway
                    fields = dict(line.split(": ", 1) for line in block.rstrip("\n").split("\n"))
                    self.assertEqual(fields["event"], "scan.progress", block)
                    got.append(json.loads(fields["data"])["n"])
                    last_id = fields["id"]
            finally:
                c.close()
        t.join()
        self.assertEqual(failures, [])
        self.assertEqual(got, list(range(total)), "after %d connects" % connects)
        self.assertGreater(connects, 25)


if __name__ == "__main__":
    unittest.main()

"""Several `herald serve` processes on one public port (issue 19, item 1: `[server] reuse_port`).

Three nodes share one public port with SO_REUSEPORT, each with its own process (and so its own file
limit), all on one redis-server bus. The kernel spreads connections over them; a publish on any
node reaches every stream on every node exactly once. A node without reuse_port refuses to start on
that port instead of silently sharing it.

Run (from any directory):
    HERALD_BIN=/path/to/herald /usr/bin/python3 -m unittest discover -s test/multinode -p 'test_*.py' -v
"""
import uuid

import herald_harness as h
from herald_harness import sse_block, wait_for

PREFIX = "rp:"
FAST = {"reconnect_min_ms": 50, "reconnect_max_ms": 300, "connect_timeout_ms": 1000,
        "command_timeout_ms": 3000}

h.herald_bin()  # fail at import, with a clear message, when HERALD_BIN is missing


class SharedPortNode(h.HeraldNode):
    """A node whose public listener is `port`, with `reuse_port = true` when `reuse_port`, and no
    reuse_port key at all (the default) otherwise. Its internal port stays its own."""

    def __init__(self, *args, port, reuse_port, **kw):
        super().__init__(*args, **kw)
        with open(self.config_path) as f:
            cfg = f.read()
        listen = 'listen = "127.0.0.1:%d"' % self.public_port
        assert cfg.count(listen) == 1, cfg
        shared = 'listen = "127.0.0.1:%d"' % port
        if reuse_port:
            shared += "\nreuse_port = true"
        with open(self.config_path, "w") as f:
            f.write(cfg.replace(listen, shared))
        self.public_port = port


class ReusePortTest(h.HeraldTestCase):

    def shared_node(self, name, redis_server, port, reuse_port=True):
        bus = dict(mode="native", host="127.0.0.1", port=redis_server.port, prefix=PREFIX, **FAST)
        # One event loop per process, the layout docs/scaling-and-bus.md describes (the bus then runs
        # on that loop).
        n = SharedPortNode(self.tmp, name, self.keys, self.db_path, bus, self.PUBLISHER_KEY, 1,
                           port=port, reuse_port=reuse_port)
        self.addCleanup(n.stop)
        self.nodes.append(n)
        if reuse_port:
            rc, out, err = n.cli("check-config", "--config", n.config_path)
            if rc != 0 and "reuse_port" in out + err:
                self.fail("this herald does not know [server] reuse_port: the config loader must map "
                          "it onto net::server_options::reuse_port\n" + out + err)
        return n

    def test_three_processes_share_a_port_and_each_stream_gets_a_publish_once(self):
        r = self.start_redis()
        port = h.free_port()
        nodes = [self.shared_node(name, r, port) for name in ("a", "b", "c")]
        self.seed(nodes[0])
        for n in nodes:
            n.start()
        for n in nodes:
            n.wait_ready()

        res = str(uuid.uuid4())
        ch = "test:%s:%s" % (self.tenant, res)
        path = "/streams/%s" % res
        token = nodes[0].token(self.user, self.tenant)

        def streams_per_node():
            return [int(n.metric("herald_connections")) for n in nodes]

        # Connections on the shared port land on whichever process the kernel picks: open streams
        # until every node holds at least one (60 tries: all missing one node is about 1e-10).
        clients = []
        for _ in range(60):
            c = h.SSEClient(port, path, token)
            self.addCleanup(c.close)
            c.expect_preamble()
            clients.append(c)

            def counted():
                v = streams_per_node()
                return v if sum(v) == len(clients) else None
            counts = wait_for(counted, 10, lambda: "every stream counted by one node (%r for %d)" % (
                streams_per_node(), len(clients)))
            if all(counts):
                break
        self.assertTrue(all(streams_per_node()), "some node got no stream: %r" % streams_per_node())
        # Each node subscribed once, whatever the number of its streams.
        wait_for(lambda: r.numsub(PREFIX + ch) == 3, 10,
                 lambda: "three subscriptions to %s (have %d)" % (PREFIX + ch, r.numsub(PREFIX + ch)))
        received = [n.metric("herald_bus_messages_received_total") for n in nodes]

        # One publish, on one node's internal listener: every stream on every node gets it once.
        nodes[1].publish_ok(ch, "scan.progress", {"checked": 1, "total": 3}, id="p1")
        want = sse_block("scan.progress", '{"checked":1,"total":3}', id="p1")
        for c in clients:
            c.expect_block(want)
        clients[0].expect_silence(0.5)  # no duplicate
        for c in clients[1:]:
            c.expect_silence(0.05)
        self.assertEqual([n.metric("herald_bus_messages_received_total") for n in nodes],
                         [x + 1 for x in received])

    def test_a_node_without_reuse_port_refuses_a_port_in_use(self):
        r = self.start_redis()
        port = h.free_port()
        a = self.shared_node("a", r, port)
        self.seed(a)
        a.start()
        a.wait_ready()
        d = self.shared_node("d", r, port, reuse_port=False)
        d.proc = h.spawn([h.herald_bin(), "serve", "--config", d.config_path], d.log_path, cwd=d.dir)
        wait_for(lambda: d.proc.poll() is not None, 20,
                 lambda: "node d to exit on a port in use:\n%s" % d.log())
        self.assertNotEqual(d.proc.returncode, 0)
        self.assertIn("in use by another process", d.log())
        self.assertIn("reuse_port", d.log())
        a.wait_ready()  # the node holding the port is unaffected

"""The gateway on a `rediss` bus, configured as the Prowler API's deployment is (VALKEY_HOST,
VALKEY_PORT, VALKEY_SCHEME=rediss), against redis-server started with --tls-port and certificates
made here with openssl (the server requires a client certificate). Events reach a stream both from
POST /publish and from a django-eventstream publisher that connects the way the API's
EVENTSTREAM_REDIS with ssl=True does (redis-py over TLS, send_event's message on events_channel).
"""
import json
import os
import subprocess
import unittest

import prowler_harness as p
import redis


def make_pki(d):
    """A CA, a server certificate for localhost and 127.0.0.1, a client certificate (EC P-256)."""
    def openssl(*args):
        subprocess.run(("openssl",) + args, check=True, capture_output=True, timeout=60)

    def path(name):
        return os.path.join(d, name)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", "-days", "2", *ec, "-keyout", path("ca.key"), "-out", path("ca.crt"),
            "-subj", "/CN=Herald test CA")
    for name, subject, ext in (
            ("server", "/CN=localhost",
             "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
            ("client", "/CN=herald", "extendedKeyUsage=clientAuth")):
        openssl("req", *ec, "-keyout", path(name + ".key"), "-out", path(name + ".csr"),
                "-subj", subject)
        with open(path(name + ".ext"), "w") as f:
            f.write(ext + "\n")
        openssl("x509", "-req", "-in", path(name + ".csr"), "-CA", path("ca.crt"), "-CAkey",
                path("ca.key"), "-CAcreateserial", "-days", "2", "-out", path(name + ".crt"),
                "-extfile", path(name + ".ext"))
    return path


class ProwlerTlsBusTest(unittest.TestCase):
    def setUp(self):
        self.work = p.Workdir("herald-prowler-tls-")
        self.addCleanup(self.work.remove)
        pki_dir = os.path.join(self.work.path, "pki")
        os.makedirs(pki_dir)
        self.pki = make_pki(pki_dir)
        self.tls_port = p.h.free_port()
        self.redis = p.h.RedisServer(self.work.path, extra_args=[
            "--tls-port", str(self.tls_port), "--tls-cert-file", self.pki("server.crt"),
            "--tls-key-file", self.pki("server.key"), "--tls-ca-cert-file", self.pki("ca.crt"),
            "--tls-auth-clients", "yes"]).start()
        self.addCleanup(self.redis.stop)
        self.pg = p.Postgres()
        self.addCleanup(self.pg.stop)
        self.creds = p.Credentials(self.work.path)
        p.load_fixture(self.pg, self.creds.fixture)

    def test_rediss_bus_from_the_apis_environment(self):
        env = dict(self.pg.env(), **self.creds.env())
        # By name: the certificate's DNS name is checked and sent as SNI.
        env.update({"VALKEY_HOST": "localhost", "VALKEY_PORT": str(self.tls_port),
                    "VALKEY_SCHEME": "rediss"})
        herald = p.Herald(self.work.path, env, {"bus": {
            "kind": "redis", "mode": "compat", "tls_ca_file": self.pki("ca.crt"),
            "tls_cert_file": self.pki("client.crt"), "tls_key_file": self.pki("client.key"),
            "reconnect_min_ms": 50, "reconnect_max_ms": 500}}).start()
        self.addCleanup(herald.stop)
        p.wait_for(lambda: herald.readyz()[0] == 200, 30, lambda: "/readyz\n" + herald.log())
        status, ready = herald.readyz()
        self.assertTrue(ready["bus_ready"])
        self.assertIn("rediss", ready["bus"])

        channel = "scan-progress:%s:%s" % (p.T1, p.SCAN1)
        s = herald.connect(p.STREAM_PATH % p.SCAN1, p.bearer(self.creds.made["tokens"]["valid"]))
        self.assertEqual(s.status, 200, s.body)
        # The gateway subscribed on the TLS connection (stream-open waits for it).
        self.assertGreaterEqual(self.redis.numsub("events_channel"), 1)

        herald.publish([{"channel": channel, "event": "scan.progress", "data": {"checked": 1}}])
        s.expect_block(p.event_block("scan.progress", {"checked": 1}))

        # The Prowler API's side: django-eventstream's send_event over EVENTSTREAM_REDIS ssl=True.
        api = redis.Redis(host="localhost", port=self.tls_port, ssl=True,
                          ssl_ca_certs=self.pki("ca.crt"), ssl_certfile=self.pki("client.crt"),
                          ssl_keyfile=self.pki("client.key"))
        api.publish("events_channel", json.dumps({
            "channel": channel, "event_type": "scan.progress",
            "data": json.dumps({"checked": 2}), "pub_id": None}))
        # django-eventstream's data bytes pass unchanged (json.dumps spacing).
        s.expect_block(p.h.sse_block("scan.progress", json.dumps({"checked": 2})))
        # Another tenant's channel never reaches this stream.
        api.publish("events_channel", json.dumps({
            "channel": "scan-progress:%s:%s" % (p.T2, p.SCAN1), "event_type": "scan.progress",
            "data": json.dumps({"checked": 3}), "pub_id": None}))
        herald.publish([{"channel": channel, "event": "scan.end", "data": {"scan_id": p.SCAN1}}])
        s.expect_block(p.event_block("scan.end", {"scan_id": p.SCAN1}))
        s.close()


if __name__ == "__main__":
    unittest.main()

"""PostgreSQL stopped and restarted under a running `herald` (prowler profile, postgres store):
while it is down new connects get 503 with a JSON error (cached callers too), /readyz is false with
the store named, open streams keep receiving events and are not closed by the failing re-check;
recovery is automatic, and each transition is logged once, not per request.
"""
import unittest

import prowler_harness as p

UNAVAILABLE = p.error_body("unavailable", "The user and tenant store is unavailable; retry shortly.")


class ProwlerOutageTest(unittest.TestCase):
    def setUp(self):
        self.work = p.Workdir("herald-prowler-outage-")
        self.addCleanup(self.work.remove)
        self.pg = p.Postgres()
        self.addCleanup(self.pg.stop)
        self.creds = p.Credentials(self.work.path)
        p.load_fixture(self.pg, self.creds.fixture)
        env = dict(self.pg.env(), **self.creds.env())
        # The connect cache is on: a cached caller must still get 503 while the store is down.
        self.herald = p.Herald(self.work.path, env, {
            "tenancy": {"recheck_interval_seconds": 1, "connect_cache_seconds": 300}}).start()
        self.addCleanup(self.herald.stop)

    def connect(self, auth):
        return self.herald.connect(p.STREAM_PATH % p.SCAN1, auth)

    def test_outage_and_recovery(self):
        token = self.creds.made["tokens"]["valid"]
        key = self.creds.made["api_keys"]["valid"]
        streams = [self.connect(p.bearer(token)), self.connect(p.api_key_header(key))]
        for s in streams:
            self.assertEqual(s.status, 200, s.body)
        status, ready = self.herald.readyz()
        self.assertEqual((status, ready["status"], ready["store"], ready["store_ready"]),
                         (200, "ready", "postgres", True))

        self.pg.halt()
        p.wait_for(lambda: self.herald.readyz()[0] == 503, 30, "/readyz to turn 503")
        status, ready = self.herald.readyz()
        self.assertEqual((ready["status"], ready["store_ready"], ready["bus_ready"]),
                         ("unavailable", False, True))
        self.assertEqual(self.herald.metric("herald_store_up"), 0)
        for _ in range(5):
            for auth in (p.bearer(token), p.api_key_header(key)):  # the JWT caller is cached
                c = self.connect(auth)
                self.assertEqual((c.status, c.body), (503, UNAVAILABLE))
                self.assertEqual(c.headers.get("retry-after"), "2")
        # Refusals that need no store stay 401s.
        c = self.connect(p.bearer(self.creds.made["tokens"]["expired"]))
        self.assertEqual((c.status, c.body),
                         (401, p.error_body("unauthenticated", "Token is expired")))

        # Re-check passes run and fail against the store; they close nothing, and events flow.
        start = self.herald.metric("herald_recheck_passes_total")
        p.wait_for(lambda: self.herald.metric("herald_recheck_passes_total") >= start + 2, 30,
                   "two re-check passes during the outage")
        data = {"checked": 7}
        self.herald.publish([{"channel": "scan-progress:%s:%s" % (p.T1, p.SCAN1),
                              "event": "scan.progress", "data": data}])
        for s in streams:
            s.expect_block(p.event_block("scan.progress", data))

        self.pg.resume()
        p.wait_for(lambda: self.herald.readyz()[0] == 200, 30, "/readyz to recover")
        self.assertEqual(self.herald.metric("herald_store_up"), 1)
        for auth in (p.bearer(token), p.api_key_header(key)):
            c = self.connect(auth)
            self.assertEqual(c.status, 200, c.body)
            c.close()
        start = self.herald.metric("herald_recheck_passes_total")
        p.wait_for(lambda: self.herald.metric("herald_recheck_passes_total") >= start + 2, 30,
                   "two re-check passes after recovery")
        data = {"checked": 8}
        self.herald.publish([{"channel": "scan-progress:%s:%s" % (p.T1, p.SCAN1),
                              "event": "scan.progress", "data": data}])
        for s in streams:
            s.expect_block(p.event_block("scan.progress", data))
            s.close()

        log = self.herald.log_text()
        # Once per transition per role, never per request or per pass.
        # the store's own lines, for the API role and the admin role
        self.assertEqual(log.count("/prowler_db) is unreachable: "), 2, log)
        self.assertEqual(log.count("/prowler_db) is reachable again"), 2, log)
        self.assertEqual(log.count("re-check: the store is unreachable"), 1, log)
        self.assertEqual(log.count("re-check: the store answers again"), 1, log)
        self.assertNotIn("prowler-api-pw", log)
        self.assertNotIn("herald-keys-pw", log)


if __name__ == "__main__":
    unittest.main()

"""Randomized tenant isolation on the Prowler API's PostgreSQL, through the real `herald` binary:
many tenants, users, memberships, scans and API keys; thousands of connects with the API's tokens
and keys (each answer must be what the data says: 200, 403 not a member, or 404 not in the
token's tenant), then thousands of events published to channels of every tenant. Every open
stream must receive exactly the events of its own channel, in order: zero events reach a stream
outside the event's tenant. The connect cache is on, so its keys are under test too.

The seed is printed on failure; HERALD_ISOLATION_SEED=<n> replays a run.
"""
import collections
import os
import random
import unittest
import uuid

import prowler_harness as p

TENANTS = 8
USERS = 40
SCANS = 80
KEYS = 24
CONNECTS = 2000
EVENTS = 3000
NOT_A_MEMBER = p.error_body("forbidden", "Permission denied: not a member of this tenant.")
NOT_FOUND = p.error_body("not_found", "Not found.")


class ProwlerIsolationTest(unittest.TestCase):
    def setUp(self):
        self.seed = int(os.environ.get("HERALD_ISOLATION_SEED", "0")) or random.randrange(1, 2**31)
        self.rng = random.Random(self.seed)
        self.work = p.Workdir("herald-prowler-isolation-")
        self.addCleanup(self.work.remove)
        self.pg = p.Postgres()
        self.addCleanup(self.pg.stop)
        self.creds = p.Credentials(self.work.path)
        env = dict(self.pg.env(), **self.creds.env())
        self.herald = p.Herald(self.work.path, env, {
            "server": {"max_connections": 10000},
            "tenancy": {"recheck_interval_seconds": 0, "connect_cache_seconds": 300}}).start()
        self.addCleanup(self.herald.stop)

    def seed_data(self):
        rng = self.rng
        self.tenants = [str(uuid.uuid4()) for _ in range(TENANTS)]
        self.users = {}  # id -> password hash
        self.member = collections.defaultdict(set)  # user -> tenants
        self.scan_tenant = {}
        self.keys = []  # (header value, user, tenant)
        sql = []
        providers = {}
        for t in self.tenants:
            providers[t] = str(uuid.uuid4())
            sql += [p.insert_tenant_sql(t), p.insert_provider_sql(providers[t], t)]
        for _ in range(USERS):
            u = str(uuid.uuid4())
            self.users[u] = p.django_hash(u)
            sql.append(p.insert_user_sql(u, u[:12] + "@example.com", self.users[u]))
            for t in rng.sample(self.tenants, rng.randint(1, 3)):
                self.member[u].add(t)
                sql.append(p.insert_membership_sql(u, t))
        for _ in range(SCANS):
            s, t = str(uuid.uuid4()), rng.choice(self.tenants)
            self.scan_tenant[s] = t
            sql.append(p.insert_scan_sql(s, providers[t], t))
        user_ids = sorted(self.users)
        for _ in range(KEYS):
            u = rng.choice(user_ids)
            # Mostly a key of one of the owner's tenants; some of a tenant the owner has left.
            t = rng.choice(sorted(self.member[u])) if rng.random() < 0.8 else rng.choice(
                self.tenants)
            key_id, prefix = str(uuid.uuid4()), p.random_prefix()
            sql.append(p.insert_key_sql(key_id, prefix, t, u, "key " + prefix))
            self.keys.append((self.creds.api_key(key_id, prefix), u, t))
        self.pg.exec("\n".join(sql))

    def test_random_connects_and_publishes_never_cross_tenants(self):
        try:
            self.run_trials()
        except AssertionError as e:
            raise AssertionError("seed %d (HERALD_ISOLATION_SEED=%d replays it): %s"
                                 % (self.seed, self.seed, e)) from e

    def run_trials(self):
        rng = self.rng
        self.seed_data()
        user_ids = sorted(self.users)
        scans = sorted(self.scan_tenant)
        by_tenant = collections.defaultdict(list)
        for s, t in self.scan_tenant.items():
            by_tenant[t].append(s)
        tokens = {}
        open_streams = []  # (Connect, channel)
        counts = collections.Counter()
        for trial in range(CONNECTS):
            if rng.random() < 0.8:
                u, t = rng.choice(user_ids), rng.choice(self.tenants)
                if (u, t) not in tokens:
                    tokens[(u, t)] = self.creds.token(u, self.users[u], t)
                headers = p.bearer(tokens[(u, t)])
            else:
                key, u, t = rng.choice(self.keys)
                headers = p.api_key_header(key)
            # Half the time a scan of the credential's own tenant, else any scan.
            if by_tenant[t] and rng.random() < 0.5:
                scan = rng.choice(by_tenant[t])
            else:
                scan = rng.choice(scans)
            c = self.herald.connect(p.STREAM_PATH % scan, headers)
            what = "trial %d: user %s tenant %s scan %s (of %s)" % (
                trial, u, t, scan, self.scan_tenant[scan])
            if t not in self.member[u]:
                self.assertEqual((c.status, c.body), (403, NOT_A_MEMBER), what)
            elif self.scan_tenant[scan] != t:
                self.assertEqual((c.status, c.body), (404, NOT_FOUND), what)
            else:
                self.assertEqual(c.status, 200, "%s: %r" % (what, c.body))
                open_streams.append((c, "scan-progress:%s:%s" % (t, scan)))
            counts[c.status] += 1
        # The random data must exercise every answer, or the test proves little.
        for status in (200, 403, 404):
            self.assertGreater(counts[status], 50, dict(counts))

        # Events to channels of every tenant, including a tenant's channel naming another
        # tenant's scan (well-formed, and subscribed by nobody).
        sent = collections.defaultdict(list)
        batch = []
        for i in range(EVENTS):
            t, s = rng.choice(self.tenants), rng.choice(scans)
            ch = "scan-progress:%s:%s" % (t, s)
            data = {"i": i, "channel": ch}
            sent[ch].append(p.event_block("scan.progress", data))
            batch.append({"channel": ch, "event": "scan.progress", "data": data})
            if len(batch) == 500:
                self.herald.publish(batch)
                batch = []
        # Every open stream's channel gets one last event, so reading knows where to stop.
        channels = sorted({ch for _, ch in open_streams})
        for ch in channels:
            batch.append({"channel": ch, "event": "scan.end", "data": {"last": ch}})
        for i in range(0, len(batch), 500):
            self.herald.publish(batch[i:i + 500])
        want_last = {c: p.event_block("scan.end", {"last": ch}) for c, ch in open_streams}
        got = p.wait_all_blocks([c for c, _ in open_streams], want_last, timeout=120)
        delivered = 0
        for c, ch in open_streams:
            tenant = ch.split(":")[1]
            for block in got[c]:
                # The decisive property, checked on its own before the exact comparison.
                self.assertIn('"channel":"scan-progress:%s:' % tenant, block,
                              "a stream of %s received another tenant's event" % ch)
            self.assertEqual(got[c], sent[ch], "stream %s" % ch)
            delivered += len(got[c])
            c.close()
        self.assertGreater(delivered, 0)


if __name__ == "__main__":
    unittest.main()

"""The live re-check beside the Prowler API's PostgreSQL, through the real `herald` binary: the API's
own writes (a membership row deleted, `is_active = false`, a changed `users.password`, a revoked
key) end exactly the affected streams with `stream-error` at the next pass (every second here), and
a JWT stream past its `exp` ends with "token-expired". Untouched streams stay open and keep
receiving events.
"""
import time
import unittest
import uuid

import prowler_harness as p


class ProwlerLiveCheckTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = p.Workdir("herald-prowler-live-")
        cls.pg = p.Postgres()
        try:
            cls.creds = p.Credentials(cls.work.path)
            env = dict(cls.pg.env(), **cls.creds.env())
            cls.herald = p.Herald(cls.work.path, env, {
                "tenancy": {"recheck_interval_seconds": 1}}).start()
        except Exception:
            cls.pg.stop()
            cls.work.remove()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.herald.stop()
        cls.pg.stop()
        cls.work.remove()

    def new_user(self, tenant=p.T1):
        """A user of `tenant` with a Django-style password hash; returns (id, password hash)."""
        user = str(uuid.uuid4())
        password = p.django_hash(user)
        self.pg.exec(p.insert_user_sql(user, user[:8] + "@example.com", password) +
                     p.insert_membership_sql(user, tenant))
        return user, password

    def new_key(self, user, tenant=p.T1):
        key_id, prefix = str(uuid.uuid4()), p.random_prefix()
        self.pg.exec(p.insert_key_sql(key_id, prefix, tenant, user, "key " + prefix))
        return key_id, self.creds.api_key(key_id, prefix)

    def jwt_stream(self, user, password, tenant=p.T1, scan=p.SCAN1, lifetime=1800):
        c = self.herald.connect(p.STREAM_PATH % scan,
                                p.bearer(self.creds.token(user, password, tenant, lifetime)))
        self.assertEqual(c.status, 200, c.body)
        return c

    def key_stream(self, key, scan=p.SCAN1):
        c = self.herald.connect(p.STREAM_PATH % scan, p.api_key_header(key))
        self.assertEqual(c.status, 200, c.body)
        return c

    def passes(self):
        return self.herald.metric("herald_recheck_passes_total") or 0

    def wait_passes(self, n):
        """Waits until n more re-check passes have completed (each judged every open stream)."""
        start = self.passes()
        p.wait_for(lambda: self.passes() >= start + n, 30, "%d re-check passes" % n)

    def expect_open(self, streams, scan=p.SCAN1, tenant=p.T1):
        """Every stream in `streams` still receives the next event of its channel."""
        marker = {"marker": str(uuid.uuid4())}
        self.herald.publish([{"channel": "scan-progress:%s:%s" % (tenant, scan),
                              "event": "scan.progress", "data": marker}])
        for s in streams:
            s.expect_block(p.event_block("scan.progress", marker))

    def test_each_revocation_ends_exactly_its_streams(self):
        kept_user, kept_pw = self.new_user()
        gone_member, gone_member_pw = self.new_user()
        deactivated, deactivated_pw = self.new_user()
        changed, changed_pw = self.new_user()
        key_owner, key_owner_pw = self.new_user()
        revoked_id, revoked_key = self.new_key(key_owner)
        kept_key_id, kept_key = self.new_key(key_owner)

        kept = [self.jwt_stream(kept_user, kept_pw), self.jwt_stream(kept_user, kept_pw),
                self.key_stream(kept_key), self.jwt_stream(key_owner, key_owner_pw)]
        member_streams = [self.jwt_stream(gone_member, gone_member_pw) for _ in range(2)]
        inactive_streams = [self.jwt_stream(deactivated, deactivated_pw)]
        changed_streams = [self.jwt_stream(changed, changed_pw)]
        revoked_streams = [self.key_stream(revoked_key) for _ in range(2)]
        self.wait_passes(2)  # nothing changed yet: every stream survives whole passes
        self.expect_open(kept + member_streams + inactive_streams + changed_streams +
                         revoked_streams)

        # The Prowler API's own writes, as its views and signals make them.
        self.pg.exec(
            "DELETE FROM memberships WHERE user_id = '%s' AND tenant_id = '%s';" % (
                gone_member, p.T1) +
            "UPDATE users SET is_active = false WHERE id = '%s';" % deactivated +
            "UPDATE users SET password = '%s' WHERE id = '%s';" % (
                p.django_hash("a new password"), changed) +
            "UPDATE api_keys SET revoked = true WHERE id = '%s';" % revoked_id)
        cases = [
            (member_streams, p.stream_error("forbidden",
                                            "User is no longer a member of this tenant")),
            (inactive_streams, p.stream_error("forbidden", "User is inactive")),
            (changed_streams, p.stream_error("forbidden",
                                             "The user's password has been changed.")),
            (revoked_streams, p.stream_error("forbidden", "This API Key has been revoked.")),
        ]
        for streams, last in cases:
            for s in streams:
                s.expect_end(last, timeout=30)
        self.wait_passes(2)
        self.expect_open(kept)
        for s in kept:
            self.assertFalse(s.closed_by_server)
            s.close()

        # New connects see the change at once (the connect cache is off here).
        for user, pw, message in ((deactivated, deactivated_pw, "User is inactive"),
                                  (changed, changed_pw, "The user's password has been changed.")):
            c = self.herald.connect(p.STREAM_PATH % p.SCAN1,
                                    p.bearer(self.creds.token(user, pw, p.T1)))
            self.assertEqual((c.status, c.body), (401, p.error_body("unauthenticated", message)))
        c = self.herald.connect(p.STREAM_PATH % p.SCAN1, p.api_key_header(revoked_key))
        self.assertEqual((c.status, c.body),
                         (401, p.error_body("unauthenticated", "This API Key has been revoked.")))

    def test_a_jwt_stream_past_its_exp_gets_token_expired(self):
        user, pw = self.new_user()
        issued = time.time()
        short = self.jwt_stream(user, pw, lifetime=3)
        long = self.jwt_stream(user, pw)
        # exp passes (a clock condition; the deadline only guards against a hang).
        p.wait_for(lambda: time.time() >= issued + 4, 10, "the token's exp")
        short.expect_end(p.stream_error("token-expired", "Token is expired"), timeout=30)
        self.wait_passes(1)
        self.expect_open([long])
        long.close()


if __name__ == "__main__":
    unittest.main()

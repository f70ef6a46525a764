"""Every accept and every refusal of the Prowler API's credentials, through HTTP on the real
`herald` binary beside the API's PostgreSQL: the status and the exact JSON body. Tokens by PyJWT
(RS256, `openssl genrsa` key), API keys by cryptography's Fernet, the key and the database from the
API's own environment variables. Also: row-level security alone hides another tenant's scan, the
request rules (empty Authorization, keys only in the header, the peer address against a key's IP
lists), Access-Control-Allow-Headers, and check-config with the API's environment.
"""
import unittest

import prowler_harness as p

UNAUTH = "unauthenticated"
INVALID = "Token is invalid"
EXPIRED = "Token is expired"
INVALID_KEY = "Invalid API Key."
NO_ENTITY = "No entity matching this api key."
ALLOW_HEADERS = "Cache-Control, Last-Event-ID"

# The Prowler API's message for each named token of prowler_credentials.py (simplejwt 5.5.1 and the
# API's own checks), as src/auth/prowler_auth_test.cpp asserts them without HTTP.
TOKEN_REFUSALS = {
    "expired": EXPIRED,
    "expired_at_now": EXPIRED,
    "expired_wrong_audience": EXPIRED,
    "not_yet_valid": INVALID,
    "issued_in_the_future": INVALID,
    "wrong_audience": INVALID,
    "no_audience": INVALID,
    "wrong_issuer": INVALID,
    "no_issuer": INVALID,
    "other_key": INVALID,
    "hs256_with_public_key": INVALID,
    "alg_none": INVALID,
    "non_string_jti": INVALID,
    "non_string_sub": INVALID,
    "no_exp": "Token has no 'exp' claim",
    "no_jti": "Token has no id",
    "no_jti_and_refresh": "Token has no id",
    "no_typ": "Token has no type",
    "refresh": "Token has wrong type",
    "refresh_without_tenant": "Token has wrong type",
    "no_tenant": "Tenant ID is not present in token",
    "null_tenant": "Tenant ID is not present in token",
    "no_sub": "Token contained no recognizable user identification",
    "unknown_user": "User not found",
    "inactive_user": "User is inactive",
    "stale_password": "The user's password has been changed.",
    "no_hash_password": "The user's password has been changed.",
}

KEY_REFUSALS = {
    "expired": "API Key has already expired.",
    "revoked_and_expired": "API Key has already expired.",
    "unknown_pk": NO_ENTITY,
    "wrong_prefix_unknown_pk": NO_ENTITY,
    "revoked": "This API Key has been revoked.",
    "revoked_wrong_prefix": "This API Key has been revoked.",
    "orphan": NO_ENTITY,
    "wrong_prefix": INVALID_KEY,
    "no_separator": INVALID_KEY,
    "other_fernet_key": INVALID_KEY,
    "tampered": INVALID_KEY,
    "padding_stripped": INVALID_KEY,
    "pk_not_a_string": INVALID_KEY,
    "pk_not_a_uuid": INVALID_KEY,
    "pk_missing": INVALID_KEY,
    "exp_missing": INVALID_KEY,
    "exp_bool": INVALID_KEY,
    "exp_string": INVALID_KEY,
    "exp_null": INVALID_KEY,
    "exp_nan": INVALID_KEY,
    "exp_infinity": INVALID_KEY,
    "payload_list": INVALID_KEY,
    "payload_not_json": INVALID_KEY,
    "payload_not_utf8": INVALID_KEY,
    # The peer is 127.0.0.1: not on this key's allow-list.
    "whitelisted": "Access restricted to specific IP addresses.",
    # Herald is stricter than the API here: a deactivated user's keys stop working too.
    "inactive_owner": "User is inactive",
}


class ProwlerAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = p.Workdir("herald-prowler-auth-")
        cls.pg = p.Postgres()
        try:
            cls.creds = p.Credentials(cls.work.path)
            p.load_fixture(cls.pg, cls.creds.fixture)
            # Keys whose IP lists name the test's own address (the peer Herald sees).
            cls.blocked_id, cls.allowed_id = "c0ffee00-00aa-4000-8000-0000000000aa", \
                "c0ffee00-00bb-4000-8000-0000000000bb"
            cls.blocked_prefix, cls.allowed_prefix = p.random_prefix(), p.random_prefix()
            cls.pg.exec(p.insert_key_sql(cls.blocked_id, cls.blocked_prefix, p.T1, p.ALICE,
                                         "blocks loopback", blacklisted=["127.0.0.1"]) +
                        p.insert_key_sql(cls.allowed_id, cls.allowed_prefix, p.T1, p.ALICE,
                                         "allows loopback", whitelisted=["127.0.0.1"]))
            env = dict(cls.pg.env(), **cls.creds.env())
            cls.herald = p.Herald(cls.work.path, env, {
                "cors": {"allow_origins": ["https://app.example.com"]}}).start()
        except Exception:
            cls.pg.stop()
            cls.work.remove()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.herald.stop()
        cls.pg.stop()
        cls.work.remove()

    def token(self, name):
        return self.creds.made["tokens"][name]

    def key(self, name):
        return self.creds.made["api_keys"][name]

    def path(self, scan=p.SCAN1):
        return p.STREAM_PATH % scan

    def expect_refused(self, c, status, code, message, what=""):
        self.assertEqual(c.status, status, "%s: %s %r" % (what, c.status, c.body))
        self.assertEqual(c.headers.get("content-type"), "application/json", what)
        self.assertEqual(c.body, p.error_body(code, message), what)

    def expect_stream(self, c, what=""):
        self.assertEqual(c.status, 200, "%s: %r" % (what, c.body))
        self.assertEqual(c.headers.get("content-type"), "text/event-stream", what)
        c.close()

    # ---- JWTs ------------------------------------------------------------------------------------

    def test_access_tokens_from_generate_tokens_are_accepted(self):
        for name in ("valid", "valid_unicode_password"):
            t = self.token(name)
            self.expect_stream(self.herald.connect(self.path(), p.bearer(t)), name + " header")
            self.expect_stream(self.herald.connect(self.path() + "?access_token=" + t), name)
            # An empty Authorization header counts as absent: the query token is used.
            self.expect_stream(self.herald.connect(self.path() + "?access_token=" + t,
                                                   {"Authorization": ""}), name + " empty header")

    def test_every_token_refusal_has_the_apis_message(self):
        for name, message in TOKEN_REFUSALS.items():
            t = self.token(name)
            self.expect_refused(self.herald.connect(self.path(), p.bearer(t)), 401, UNAUTH,
                                message, name)
            self.expect_refused(self.herald.connect(self.path() + "?access_token=" + t), 401,
                                UNAUTH, message, name + " (query)")
            # The header wins over a valid query token, even when it is refused.
            self.expect_refused(self.herald.connect(
                self.path() + "?access_token=" + self.token("valid"), p.bearer(t)), 401, UNAUTH,
                message, name + " (header wins)")

    def test_a_member_of_another_tenant_only_is_forbidden(self):
        # The API checks membership only when it issues a token; Herald checks it at every connect.
        self.expect_refused(self.herald.connect(self.path(), p.bearer(self.token("other_tenant"))),
                            403, "forbidden", "Permission denied: not a member of this tenant.")

    def test_no_credentials(self):
        for headers in ({}, {"Authorization": ""}, {"Authorization": "  "}):
            self.expect_refused(self.herald.connect(self.path(), headers), 401, UNAUTH,
                                "Authentication credentials were not provided.", repr(headers))
        self.expect_refused(self.herald.connect(self.path() + "?access_token="), 401, UNAUTH,
                            "Authentication credentials were not provided.", "empty query")

    # ---- API keys --------------------------------------------------------------------------------

    def test_api_keys_from_drf_simple_apikey_are_accepted(self):
        for name in ("valid", "valid_int_exp", "valid_standard_alphabet_token",
                     # block-list without the peer
                     "blacklisted"):
            self.expect_stream(self.herald.connect(self.path(), p.api_key_header(self.key(name))),
                               name)
        allowed = self.creds.api_key(self.allowed_id, self.allowed_prefix)
        self.expect_stream(self.herald.connect(self.path(), p.api_key_header(allowed)),
                           "allow-list with the peer")

    def test_every_key_refusal_has_the_apis_message(self):
        for name, message in KEY_REFUSALS.items():
            self.expect_refused(self.herald.connect(self.path(), p.api_key_header(self.key(name))),
                                401, UNAUTH, message, name)
        blocked = self.creds.api_key(self.blocked_id, self.blocked_prefix)
        self.expect_refused(self.herald.connect(self.path(), p.api_key_header(blocked)), 401,
                            UNAUTH, "Access denied from blacklisted IP.", "the peer is blocked")

    def test_api_keys_only_in_the_header(self):
        k = self.key("valid")
        self.expect_refused(self.herald.connect(self.path() + "?access_token=" + k), 401, UNAUTH,
                            "API keys are not accepted in access_token", "query")
        self.expect_refused(self.herald.connect(self.path(), p.bearer(k)), 401, UNAUTH, INVALID,
                            "as a bearer token")

    # ---- Row-level security ---------------------------------------------------------------------

    def test_rls_alone_hides_another_tenants_scan(self):
        # The endpoint's lookup has no tenant predicate. Alice is a member of T1 and T2: with a T1
        # token, T2's scan is not found (the API's policies, under api.tenant_id = T1); with a T2
        # token it is.
        alice_pw = next(u["password"] for u in self.creds.fixture["users"] if u["id"] == p.ALICE)
        t1 = self.creds.token(p.ALICE, alice_pw, p.T1)
        t2 = self.creds.token(p.ALICE, alice_pw, p.T2)
        self.expect_stream(self.herald.connect(self.path(p.SCAN1), p.bearer(t1)), "own scan")
        self.expect_refused(self.herald.connect(self.path(p.SCAN2), p.bearer(t1)), 404,
                            "not_found", "Not found.", "T2's scan with a T1 token")
        self.expect_refused(self.herald.connect(self.path(p.SCAN3), p.bearer(t1)), 404,
                            "not_found", "Not found.", "T3's scan")
        self.expect_stream(self.herald.connect(self.path(p.SCAN2), p.bearer(t2)), "T2 token")
        key = self.key("valid")  # a T1 key
        self.expect_refused(self.herald.connect(self.path(p.SCAN2), p.api_key_header(key)), 404,
                            "not_found", "Not found.", "T2's scan with a T1 key")
        self.assertIn("lookup has no :tenant_id predicate", self.herald.log_text())

    # ---- The API's request rules: CORS ----------------------------------------------------------

    def test_allow_headers_on_every_answer_allow_origin_only_for_a_listed_origin(self):
        t = self.token("valid")
        for origin in (None, "https://app.example.com", "https://evil.example.com"):
            extra = {"Origin": origin} if origin else {}
            listed = origin == "https://app.example.com"
            for c in (self.herald.connect(self.path(), dict(p.bearer(t), **extra)),
                      self.herald.connect(self.path(), extra),
                      self.herald.connect(self.path(p.SCAN3), dict(p.bearer(t), **extra))):
                self.assertEqual(c.headers.get("access-control-allow-headers"), ALLOW_HEADERS,
                                 "%s %d" % (origin, c.status))
                self.assertEqual(c.headers.get("access-control-allow-origin"),
                                 origin if listed else None, "%s %d" % (origin, c.status))
                c.close()

    # ---- check-config with the API's environment ------------------------------------------------

    def test_check_config_reads_the_apis_environment_and_prints_no_secret(self):
        rc, out, err = self.herald.run_cli("check-config", "--config", self.herald.config_path)
        self.assertEqual(rc, 0, err)
        self.assertIn('driver = "postgres"', out)
        self.assertIn('profile = "prowler"', out)
        self.assertIn('postgres_password = "[set]"  # from env POSTGRES_PASSWORD', out)
        self.assertIn('postgres_admin_user = "herald_keys"  # from env POSTGRES_ADMIN_USER', out)
        self.assertIn('fernet_key = "[set]"  # from env DJANGO_SECRETS_ENCRYPTION_KEY', out)
        self.assertIn('verify_key = "[set]"  # from env DJANGO_TOKEN_VERIFYING_KEY', out)
        for secret in ("prowler-api-pw", "herald-keys-pw", self.creds.fernet_key,
                       "BEGIN PUBLIC KEY"):
            self.assertNotIn(secret, out + err)
        log = self.herald.log_text()
        for secret in ("prowler-api-pw", "herald-keys-pw", self.creds.fernet_key):
            self.assertNotIn(secret, log)
        # A Fernet key that does not decode is refused by check-config, as serve would.
        bad = dict(self.herald.env, DJANGO_SECRETS_ENCRYPTION_KEY="not-a-fernet-key")
        saved = self.herald.env
        self.herald.env = bad
        try:
            rc, out, err = self.herald.run_cli("check-config", "--config", self.herald.config_path)
        finally:
            self.herald.env = saved
        self.assertEqual(rc, 2, out)
        self.assertIn("auth.fernet_key (DJANGO_SECRETS_ENCRYPTION_KEY)", err)
        self.assertNotIn("not-a-fernet-key", err)


if __name__ == "__main__":
    unittest.main()

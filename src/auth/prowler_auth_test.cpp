// The Prowler API's credentials end to end through Herald's authenticator, with every token and
// key made by independent tools (src/auth/testdata/prowler_credentials.py: PyJWT and
// cryptography's Fernet under Debian's python3, RSA keys from `openssl genrsa`), against the
// in-memory SQLite store seeded with the same fixture. Every accept and every refusal asserts the
// HTTP status and the exact message the Prowler API gives.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "auth/auth_config.hpp"
#include "auth/auth_options.hpp"
#include "auth/authenticator.hpp"
#include "auth/encoding.hpp"
#include "auth/prowler_api_key.hpp"
#include "auth/prowler_test_credentials.hpp"
#include "auth/test_store.hpp"
#include "auth/token_verifier.hpp"

namespace herald::auth {
namespace {

namespace json = boost::json;
using i64 = std::int64_t;
using testing::str;

constexpr i64 kNow = testing::kCredentialsNow;
constexpr std::string_view kInvalid = "Token is invalid";
constexpr std::string_view kExpired = "Token is expired";
constexpr std::string_view kInvalidKey = "Invalid API Key.";
constexpr std::string_view kNoEntity = "No entity matching this api key.";
constexpr std::string_view kClient = "192.0.2.10";

std::string one_line(std::string_view pem) {  // as the API's .env carries it
  std::string out;
  for (char c : pem) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

class prowler_auth : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      made_ = &testing::prowler_credentials();
    } catch (const std::exception& e) {
      GTEST_FAIL() << e.what();
    }
    cfg_.profile = auth_profile::prowler;
    const std::map<std::string, std::string, std::less<>> env{
        {"DJANGO_TOKEN_VERIFYING_KEY", one_line(str(made_->at("public_pem")))},
        {"DJANGO_SECRETS_ENCRYPTION_KEY", str(made_->at("fernet_key"))}};
    apply_prowler_env(cfg_, [&](std::string_view name) -> std::optional<std::string> {
      auto it = env.find(name);
      return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
    const auto ok = check_keys(cfg_);
    ASSERT_TRUE(ok.has_value()) << ok.err().message;

    const json::object& f = made_->at("fixture").as_object();
    user_ = str(f.at("user"));
    tenant_ = str(f.at("tenant"));
    for (const json::value& t : f.at("tenants").as_array())
      ASSERT_TRUE(db_.sqlite().add_tenant(str(t), "tenant").has_value());
    for (const json::value& v : f.at("users").as_array()) {
      const json::object& u = v.as_object();
      db_.add_user(str(u.at("id")), str(u.at("email")), str(u.at("password")),
                   u.at("is_active").as_bool());
      passwords_[str(u.at("id"))] = str(u.at("password"));
    }
    for (const json::value& m : f.at("memberships").as_array())
      ASSERT_TRUE(db_.sqlite().add_membership(str(m.at(0)), str(m.at(1))).has_value());
    for (const json::value& v : f.at("api_keys").as_array()) {
      const json::object& k = v.as_object();
      store::prowler_api_key_record r;
      r.id = str(k.at("id"));
      r.prefix = str(k.at("prefix"));
      r.tenant_id = str(k.at("tenant_id"));
      r.entity_id = k.at("entity_id").is_null() ? "" : str(k.at("entity_id"));
      r.revoked = k.at("revoked").as_bool();
      for (auto [name, list] : {std::pair{"whitelisted_ips", &r.whitelisted_ips},
                                std::pair{"blacklisted_ips", &r.blacklisted_ips}}) {
        if (k.at(name).is_array())
          for (const json::value& ip : k.at(name).as_array()) list->push_back(str(ip));
      }
      key_rows_[str(k.at("name"))] = r;
      db_.prowler_keys[r.id] = r;
    }
    verifier_.emplace(cfg_.jwt);
    authn_.emplace(cfg_, *verifier_, db_);
  }

  std::string token(std::string_view name) const {
    return str(made_->at("tokens").as_object().at(name));
  }
  std::string api_key(std::string_view name) const {
    return str(made_->at("api_keys").as_object().at(name));
  }

  result<principal> bearer(std::string_view name, i64 now = kNow) const {
    const std::string h = "Bearer " + token(name);
    return authn_->authenticate({h, std::nullopt, kClient}, now);
  }
  result<principal> with_key(std::string_view name, std::string_view peer = kClient) const {
    const std::string h = "Api-Key " + api_key(name);
    return authn_->authenticate({h, std::nullopt, peer}, kNow);
  }

  // The connect path app/ runs: verify(), then one store::connect_check for the user row and the
  // membership, then check_user_row() on that row, then the membership (403).
  result<principal> connect(const request_credentials& in, i64 now = kNow) {
    result<principal> p = authn_->verify(in, now);
    if (!p) return p;
    store::store::connect_query q;
    q.user_id = p->user_id;
    q.tenant_id = p->tenant_id;
    auto a = db_.connect_check(q);
    if (!a) return std::move(a).err();
    if (auto ok = check_user_row(cfg_, *p, a->user ? &*a->user : nullptr); !ok)
      return std::move(ok).err();
    if (!a->member) return make_error(errc::forbidden, "not a member");
    return p;
  }

  static void expect_401(const result<principal>& r, std::string_view message,
                         std::string_view what) {
    ASSERT_FALSE(r.has_value()) << what << ": accepted";
    EXPECT_EQ(http_status(r.err().code), 401) << what;
    EXPECT_EQ(r.err().message, message) << what;
  }

  const json::object* made_ = nullptr;
  auth_config cfg_;
  testing::test_store db_;
  std::optional<token_verifier> verifier_;
  std::optional<authenticator> authn_;
  std::string user_, tenant_;
  std::map<std::string, std::string> passwords_;
  std::map<std::string, store::prowler_api_key_record> key_rows_;  // by fixture name
};

// ---- JWTs -------------------------------------------------------------------------------------

TEST_F(prowler_auth, access_token_from_generate_tokens_is_accepted) {
  for (std::string_view name : {"valid", "valid_unicode_password"}) {
    const std::string t = token(name);
    const std::string header = "Bearer " + t;
    for (const request_credentials in :
         {request_credentials{header, std::nullopt, kClient},
          request_credentials{std::nullopt, t, kClient},
          // an empty header counts as absent
          request_credentials{"", t, kClient}, request_credentials{"  ", t, kClient}}) {
      const auto r = authn_->authenticate(in, kNow);
      ASSERT_TRUE(r.has_value()) << name << ": " << r.err().message;
      EXPECT_EQ(r->kind, credential_kind::jwt);
      EXPECT_EQ(r->tenant_id, tenant_);
      EXPECT_EQ(r->expires_at, kNow + 1800);
      EXPECT_EQ(r->password_stamp, md5_upper_hex(passwords_.at(r->user_id)));
      EXPECT_TRUE(connect(in).has_value()) << name;
    }
  }
  EXPECT_EQ(bearer("valid")->user_id, user_);
}

TEST_F(prowler_auth, every_token_refusal_has_the_apis_message) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"expired", kExpired},
      {"expired_at_now", kExpired},
      {"expired_wrong_audience", kExpired},  // PyJWT checks exp before aud
      {"not_yet_valid", kInvalid},
      {"issued_in_the_future", kInvalid},
      {"wrong_audience", kInvalid},
      {"no_audience", kInvalid},
      {"wrong_issuer", kInvalid},
      {"no_issuer", kInvalid},
      {"other_key", kInvalid},
      {"hs256_with_public_key", kInvalid},
      {"alg_none", kInvalid},
      {"non_string_jti", kInvalid},
      {"non_string_sub", kInvalid},
      {"no_exp", "Token has no 'exp' claim"},
      {"no_jti", "Token has no id"},
      {"no_jti_and_refresh", "Token has no id"},
      {"no_typ", "Token has no type"},
      {"refresh", "Token has wrong type"},
      {"refresh_without_tenant", "Token has wrong type"},
      {"no_tenant", "Tenant ID is not present in token"},
      {"null_tenant", "Tenant ID is not present in token"},
      {"no_sub", "Token contained no recognizable user identification"},
      {"unknown_user", "User not found"},
      {"inactive_user", "User is inactive"},
      {"stale_password", "The user's password has been changed."},
      {"no_hash_password", "The user's password has been changed."},
  };
  for (const auto& [name, message] : cases) {
    const std::string t = token(name);
    const std::string header = "Bearer " + t;
    expect_401(authn_->authenticate({header, std::nullopt, kClient}, kNow), message, name);
    expect_401(authn_->authenticate({std::nullopt, t, kClient}, kNow), message, name);
    expect_401(connect({header, std::nullopt, kClient}), message, name);
    // The verified-token cache must not change any answer: ask twice.
    expect_401(authn_->authenticate({header, std::nullopt, kClient}, kNow), message, name);
  }
}

TEST_F(prowler_auth, password_change_refuses_the_old_token_and_its_cached_verification) {
  ASSERT_TRUE(bearer("valid").has_value());  // verified and cached
  db_.set_password(user_, "pbkdf2_sha256$870000$new$changed");
  expect_401(bearer("valid"), "The user's password has been changed.", "after change");
  expect_401(connect({"Bearer " + token("valid"), std::nullopt, kClient}),
             "The user's password has been changed.", "connect after change");
}

TEST_F(prowler_auth, membership_is_the_gates_not_authentications) {
  // The API checks membership only when it issues a token; the gateway's connect path refuses a
  // token for a tenant the user has left (403), after the user-row rules.
  ASSERT_TRUE(bearer("other_tenant").has_value());
  const auto r = connect({"Bearer " + token("other_tenant"), std::nullopt, kClient});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(http_status(r.err().code), 403);
}

TEST_F(prowler_auth, no_credentials_and_empty_header) {
  for (const request_credentials in : {request_credentials{}, request_credentials{"", std::nullopt},
                                       request_credentials{"", ""}}) {
    expect_401(authn_->authenticate(in, kNow), "Authentication credentials were not provided.",
               "nothing");
  }
  // A non-empty header still wins over the query token, even when it is unusable.
  expect_401(authn_->authenticate({"Bearer " + token("expired"), token("valid")}, kNow), kExpired,
             "header wins");
}

// ---- API keys -------------------------------------------------------------------------------

TEST_F(prowler_auth, api_key_from_drf_simple_apikey_is_accepted) {
  const store::prowler_api_key_record& row = key_rows_.at("ci");
  for (std::string_view name : {"valid", "valid_int_exp", "valid_standard_alphabet_token"}) {
    const auto r = with_key(name);
    ASSERT_TRUE(r.has_value()) << name << ": " << r.err().message;
    EXPECT_EQ(r->kind, credential_kind::api_key);
    EXPECT_EQ(r->user_id, user_);
    EXPECT_EQ(r->tenant_id, tenant_);
    EXPECT_EQ(r->api_key_id, row.id);
    EXPECT_EQ(r->expires_at, kNow + i64{365} * 86400 + 1);  // _exp = now + 365 days + 0.25
    const std::string h = "Api-Key " + api_key(name);
    EXPECT_TRUE(connect({h, std::nullopt, kClient}).has_value()) << name;
  }
}

TEST_F(prowler_auth, every_key_refusal_has_the_apis_message_in_its_order) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"expired", "API Key has already expired."},
      {"revoked_and_expired", "API Key has already expired."},  // _exp before the row
      {"unknown_pk", kNoEntity},
      {"wrong_prefix_unknown_pk", kNoEntity},  // the row by _pk before the prefix
      {"revoked", "This API Key has been revoked."},
      {"revoked_wrong_prefix", "This API Key has been revoked."},
      {"orphan", kNoEntity},
      {"wrong_prefix", kInvalidKey},
      {"no_separator", kInvalidKey},
      {"other_fernet_key", kInvalidKey},
      {"tampered", kInvalidKey},
      {"padding_stripped", kInvalidKey},
      {"pk_not_a_string", kInvalidKey},
      {"pk_not_a_uuid", kInvalidKey},
      {"pk_missing", kInvalidKey},
      {"exp_missing", kInvalidKey},
      {"exp_bool", kInvalidKey},
      {"exp_string", kInvalidKey},
      {"exp_null", kInvalidKey},
      {"exp_nan", kInvalidKey},
      {"exp_infinity", kInvalidKey},
      {"payload_list", kInvalidKey},
      {"payload_not_json", kInvalidKey},
      {"payload_not_utf8", kInvalidKey},
      // Herald is stricter than the API here: a deactivated user's keys stop working too.
      {"inactive_owner", "User is inactive"},
  };
  for (const auto& [name, message] : cases) {
    expect_401(with_key(name), message, name);
    const std::string h = "Api-Key " + api_key(name);
    expect_401(connect({h, std::nullopt, kClient}), message, name);
  }
}

TEST_F(prowler_auth, key_ip_lists_match_the_peer_address) {
  constexpr std::string_view blocked = "Access denied from blacklisted IP.";
  constexpr std::string_view restricted = "Access restricted to specific IP addresses.";
  expect_401(with_key("blacklisted", "203.0.113.7"), blocked, "v4");
  expect_401(with_key("blacklisted", "::ffff:203.0.113.7"), blocked, "v4-mapped");
  expect_401(with_key("blacklisted", "2001:db8::7"), blocked, "v6");
  EXPECT_TRUE(with_key("blacklisted", "203.0.113.8").has_value());
  expect_401(with_key("whitelisted", "203.0.113.7"), restricted, "not listed");
  expect_401(with_key("whitelisted", ""), restricted, "unknown peer");
  for (std::string_view ok : {"198.51.100.1", "::ffff:198.51.100.1", "2001:db8::1"})
    EXPECT_TRUE(with_key("whitelisted", ok).has_value()) << ok;
  expect_401(with_key("blacklisted_and_whitelisted", "203.0.113.7"), blocked, "block first");
}

TEST_F(prowler_auth, api_keys_only_in_the_header) {
  for (std::string_view v : {std::string_view("valid")}) {
    const std::string key = api_key(v);
    expect_401(authn_->authenticate({std::nullopt, key, kClient}, kNow),
               "API keys are not accepted in access_token", "query");
    expect_401(authn_->authenticate({"Bearer " + key, std::nullopt, kClient}, kNow), kInvalid,
               "as bearer");
  }
  EXPECT_EQ(db_.prowler_key_reads, 0);
  // Herald's own hk_ keys are not the API's.
  expect_401(
      authn_->authenticate(
          {"Api-Key hk_ABCDEFGH.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", std::nullopt}, kNow),
      kInvalidKey, "hk_ key");
}

TEST_F(prowler_auth, store_failure_is_503_not_401) {
  db_.down = true;
  const auto r = with_key("valid");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(http_status(r.err().code), 503);
  const auto t = bearer("valid");
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(http_status(t.err().code), 503);
  // Refusals that need no store stay 401s.
  expect_401(with_key("tampered"), kInvalidKey, "tampered while down");
  expect_401(bearer("expired"), kExpired, "expired while down");
}

// ---- Live re-check ----------------------------------------------------------------------------

class prowler_recheck : public prowler_auth {
 protected:
  void SetUp() override {
    prowler_auth::SetUp();
    if (HasFatalFailure()) return;
    auto j = bearer("valid");
    auto u = bearer("valid_unicode_password");
    auto k = with_key("valid");
    auto w = with_key("whitelisted", "198.51.100.1");
    ASSERT_TRUE(j && u && k && w);
    jwt_ = *j;
    unicode_ = *u;
    key_ = *k;
    allowed_key_ = *w;
    // Many streams per caller, as the gateway collects them.
    for (int i = 0; i < 50; ++i)
      for (const principal* p : {&jwt_, &unicode_, &key_, &allowed_key_}) streams_.push_back(p);
  }

  // Outcome of the first stream of each caller (the rest must agree).
  std::map<const principal*, recheck_outcome> run(i64 now, const auth_config* cfg = nullptr) {
    std::optional<authenticator> other;
    const authenticator* a = &*authn_;
    if (cfg != nullptr) a = &other.emplace(*cfg, *verifier_, db_);
    db_.recheck_facts_calls = 0;
    db_.prowler_key_reads = 0;
    const auto report = a->recheck_all(streams_, now);
    EXPECT_FALSE(report.store_error.has_value());
    EXPECT_EQ(db_.recheck_facts_calls, 1);  // batched: one call for every stream
    EXPECT_EQ(db_.prowler_key_reads, 2);    // one per distinct key, not per stream
    std::map<const principal*, recheck_outcome> first;
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      auto [it, fresh] = first.try_emplace(streams_[i], report.outcomes[i]);
      if (!fresh) {
        EXPECT_EQ(it->second.verdict, report.outcomes[i].verdict);
        EXPECT_EQ(it->second.reason, report.outcomes[i].reason);
      }
    }
    return first;
  }

  static void expect(const recheck_outcome& o, recheck_verdict v, std::string_view reason = {}) {
    EXPECT_EQ(o.verdict, v) << o.reason;
    EXPECT_EQ(o.reason, reason);
  }

  principal jwt_, unicode_, key_, allowed_key_;
  std::vector<const principal*> streams_;
};

TEST_F(prowler_recheck, untouched_callers_stay) {
  for (const auto& [p, o] : run(kNow + 60)) expect(o, recheck_verdict::ok);
}

TEST_F(prowler_recheck, password_change_ends_that_users_token_streams_only) {
  db_.set_password(user_, "pbkdf2_sha256$870000$new$changed");
  auto o = run(kNow + 60);
  expect(o[&jwt_], recheck_verdict::forbidden, "The user's password has been changed.");
  expect(o[&unicode_], recheck_verdict::ok);
  expect(o[&key_], recheck_verdict::ok);  // keys carry no password stamp
}

TEST_F(prowler_recheck, deactivated_user_ends_token_and_key_streams) {
  db_.set_active(user_, false);
  auto o = run(kNow + 60);
  expect(o[&jwt_], recheck_verdict::forbidden, "User is inactive");
  expect(o[&key_], recheck_verdict::forbidden, "User is inactive");
  expect(o[&unicode_], recheck_verdict::ok);
}

TEST_F(prowler_recheck, removed_membership_ends_the_users_streams) {
  ASSERT_TRUE(db_.sqlite().remove_membership(user_, tenant_).has_value());
  auto o = run(kNow + 60);
  expect(o[&jwt_], recheck_verdict::forbidden, "User is no longer a member of this tenant");
  expect(o[&key_], recheck_verdict::forbidden, "User is no longer a member of this tenant");
  expect(o[&unicode_], recheck_verdict::ok);
}

TEST_F(prowler_recheck, revoked_or_deleted_key_ends_its_streams_only) {
  db_.prowler_keys.at(key_.api_key_id).revoked = true;
  auto o = run(kNow + 60);
  expect(o[&key_], recheck_verdict::forbidden, "This API Key has been revoked.");
  expect(o[&allowed_key_], recheck_verdict::ok);
  expect(o[&jwt_], recheck_verdict::ok);
  db_.prowler_keys.erase(key_.api_key_id);
  expect(run(kNow + 60)[&key_], recheck_verdict::forbidden, kNoEntity);
  db_.prowler_keys[allowed_key_.api_key_id].entity_id.clear();
  expect(run(kNow + 60)[&allowed_key_], recheck_verdict::forbidden, kNoEntity);
}

TEST_F(prowler_recheck, token_expiry_is_its_own_verdict_and_can_be_turned_off) {
  auto o = run(kNow + 1800);  // the tokens' exp
  expect(o[&jwt_], recheck_verdict::token_expired, kExpired);
  expect(o[&unicode_], recheck_verdict::token_expired, kExpired);
  expect(o[&key_], recheck_verdict::ok);
  EXPECT_EQ(to_string(recheck_verdict::token_expired), "token-expired");
  EXPECT_EQ(to_string(recheck_verdict::forbidden), "forbidden");
  expect(run(kNow + 1799)[&jwt_], recheck_verdict::ok);

  auth_config keep = cfg_;
  keep.end_streams_at_token_expiry = false;
  expect(run(kNow + 1800, &keep)[&jwt_], recheck_verdict::ok);

  // Forbidden wins over expired: the client must not simply refresh and come back.
  db_.set_password(user_, "pbkdf2_sha256$870000$new$changed");
  expect(run(kNow + 1800)[&jwt_], recheck_verdict::forbidden,
         "The user's password has been changed.");
}

TEST_F(prowler_recheck, key_expiry_is_forbidden) {
  const i64 key_exp = key_.expires_at;  // first second at which _exp < now
  expect(run(key_exp - 1)[&key_], recheck_verdict::ok);
  auto o = run(key_exp);
  expect(o[&key_], recheck_verdict::forbidden, "API Key has already expired.");
  expect(o[&allowed_key_], recheck_verdict::forbidden, "API Key has already expired.");
}

TEST_F(prowler_recheck, store_outage_closes_nothing_but_expired_tokens) {
  db_.down = true;
  const auto report = authn_->recheck_all(streams_, kNow + 1800);
  ASSERT_TRUE(report.store_error.has_value());
  EXPECT_EQ(report.store_error->code, errc::unavailable);
  ASSERT_EQ(report.outcomes.size(), streams_.size());
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    const bool is_jwt = streams_[i]->kind == credential_kind::jwt;
    EXPECT_EQ(report.outcomes[i].verdict,
              is_jwt ? recheck_verdict::token_expired : recheck_verdict::ok);
  }
  const auto early = authn_->recheck_all(streams_, kNow + 60);
  for (const recheck_outcome& o : early.outcomes) EXPECT_EQ(o.verdict, recheck_verdict::ok);
}

TEST_F(prowler_recheck, single_caller_recheck_agrees) {
  EXPECT_TRUE(authn_->recheck(jwt_, kNow + 60).has_value());
  EXPECT_TRUE(authn_->recheck(key_, kNow + 60).has_value());
  db_.set_password(user_, "changed");
  const auto r = authn_->recheck(jwt_, kNow + 60);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().message, "The user's password has been changed.");
  db_.prowler_keys.at(key_.api_key_id).revoked = true;
  const auto k = authn_->recheck(key_, kNow + 60);
  ASSERT_FALSE(k.has_value());
  EXPECT_EQ(k.err().message, "This API Key has been revoked.");
}

}  // namespace
}  // namespace herald::auth

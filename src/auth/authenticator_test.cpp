// Ports TestSSEAuthentication from the Prowler API (api/tests/test_authentication.py) and covers
// the header schemes, Herald's own API keys and the user checks around it, on the real in-memory
// SQLite store (test_store.hpp wraps it only to inject faults and count calls). The Prowler
// profile's credentials are in prowler_auth_test.cpp.
#include "auth/authenticator.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <vector>

#include "auth/api_key.hpp"
#include "auth/test_keys.hpp"
#include "auth/test_store.hpp"

namespace herald::auth {
namespace {

namespace json = boost::json;
namespace hs = herald::store;
using i64 = std::int64_t;
using testing::test_store;

constexpr i64 kNow = 1767223800;
constexpr std::string_view kUser = "8b38e2eb-6689-4f1e-a4ba-95b275130200";
constexpr std::string_view kOtherUser = "3a0c1d5e-2b4f-4c6a-9d8e-7f6a5b4c3d2e";
constexpr std::string_view kTenant = "12646005-9067-4d2a-a098-8bb378604362";
constexpr std::string_view kKeyId = "0b7c4f0e-5d7a-4d3e-9a51-1f2e3d4c5b6a";
constexpr std::string_view kNotProvided = "Authentication credentials were not provided.";
constexpr std::string_view kBadScheme = "Invalid Authorization header scheme";

auth_config make_config() {
  auth_config cfg;
  cfg.jwt.algorithm = jwt_algorithm::hs256;
  cfg.jwt.verify_key = testing::keys_for(jwt_algorithm::hs256).public_pem;
  cfg.jwt.audience = "https://api.prowler.com";
  cfg.jwt.issuer = "https://api.prowler.com";
  cfg.jwt.required_type = "access";
  return cfg;
}

class authenticator_test : public ::testing::Test {
 protected:
  authenticator_test() {
    EXPECT_TRUE(db_.sqlite().add_tenant(kTenant, "tenant").has_value());
    db_.add_user(kUser, "dev@prowler.com", "pbkdf2_sha256$1$a$b");
    db_.add_user(kOtherUser, "other@prowler.com", "pbkdf2_sha256$1$c$d");
    EXPECT_TRUE(db_.sqlite().add_membership(kUser, kTenant).has_value());
    key_ = generate_api_key();
    hs::api_key_record rec;
    rec.id = kKeyId;
    rec.prefix = key_.prefix;
    rec.key_hash = key_.key_hash;
    rec.tenant_id = kTenant;
    rec.user_id = kUser;
    rec.name = "ci";
    rec.expires_at = kNow + std::int64_t{365} * 86400;
    EXPECT_TRUE(db_.insert_api_key(rec).has_value());
  }

  std::string token(std::string_view user = kUser, i64 exp = kNow + 1800) const {
    json::object c{
        {"typ", "access"},       {"exp", exp},  {"iat", kNow},          {"nbf", kNow},
        {"jti", "abc"},          {"sub", user}, {"tenant_id", kTenant}, {"aud", cfg_.jwt.audience},
        {"iss", cfg_.jwt.issuer}};
    return minter_.mint(json::serialize(c));
  }

  result<principal> auth(std::optional<std::string_view> header,
                         std::optional<std::string_view> query) const {
    return authn_.authenticate(request_credentials{header, query}, kNow);
  }

  static void expect_401(const result<principal>& r, std::string_view message) {
    ASSERT_FALSE(r.has_value()) << "authenticated as " << r->user_id;
    EXPECT_EQ(r.err().code, errc::unauthenticated);
    EXPECT_EQ(r.err().message, message);
  }

  // Changes Herald's key row in the SQLite store.
  void update_key(const std::string& assignment) {
    db_.exec("UPDATE api_keys SET " + assignment +
             " WHERE prefix = " + test_store::quoted(key_.prefix));
  }
  std::string api_key_header() const { return "Api-Key " + key_.full_key; }

  auth_config cfg_ = make_config();
  token_verifier verifier_{cfg_.jwt};
  token_minter minter_{jwt_algorithm::hs256, testing::keys_for(jwt_algorithm::hs256).private_pem};
  test_store db_;
  authenticator authn_{cfg_, verifier_, db_};
  new_api_key key_;
};

// ---- TestSSEAuthentication (the Prowler API's) ------------------------------------------------

TEST_F(authenticator_test, header_present_delegates_to_header_path) {
  const std::string header_token = token(kUser);
  const std::string query_token = token(kOtherUser);
  const std::string header = "Bearer " + header_token;
  const auto sel = select_credential({header, query_token});
  ASSERT_TRUE(sel.has_value());
  EXPECT_EQ(sel->kind, credential_kind::jwt);
  EXPECT_EQ(sel->value, header_token);
  EXPECT_FALSE(sel->from_query);

  const auto r = auth(header, query_token);
  ASSERT_TRUE(r.has_value()) << r.err().message;
  EXPECT_EQ(r->user_id, kUser);  // the header's user, not the query's
}

TEST_F(authenticator_test, header_present_but_invalid_does_not_fall_back_to_query) {
  const std::string query_token = token(kOtherUser);
  expect_401(auth("Bearer header-token", query_token), "Token is invalid");
  expect_401(auth("Basic dXNlcjpwYXNz", query_token), kBadScheme);
}

TEST_F(authenticator_test, no_header_no_query_token_is_not_provided) {
  const auto sel = select_credential({});
  ASSERT_FALSE(sel.has_value());
  EXPECT_EQ(sel.err().code, errc::unauthenticated);
  EXPECT_EQ(sel.err().message, kNotProvided);
  expect_401(auth(std::nullopt, std::nullopt), kNotProvided);
  expect_401(auth(std::nullopt, ""), kNotProvided);  // `if not raw_token` in the Prowler API
}

TEST_F(authenticator_test, query_token_used_only_as_fallback) {
  const std::string query_token = token(kUser);
  const auto sel = select_credential({std::nullopt, query_token});
  ASSERT_TRUE(sel.has_value());
  EXPECT_EQ(sel->kind, credential_kind::jwt);
  EXPECT_EQ(sel->value, query_token);
  EXPECT_TRUE(sel->from_query);

  const auto r = auth(std::nullopt, query_token);
  ASSERT_TRUE(r.has_value()) << r.err().message;
  EXPECT_EQ(r->kind, credential_kind::jwt);
  EXPECT_EQ(r->user_id, kUser);
  EXPECT_EQ(r->tenant_id, kTenant);
}

TEST_F(authenticator_test, query_token_invalid_raises_authentication_error) {
  expect_401(auth(std::nullopt, "bad-token"), "Token is invalid");
  expect_401(auth(std::nullopt, token(kUser, kNow - 1)), "Token is expired");
}

// ---- Authorization header schemes -----------------------------------------------------------

TEST_F(authenticator_test, unknown_or_malformed_scheme_is_401) {
  const std::string jwt = token();
  for (const std::string& h :
       {std::string("Basic dXNlcjpwYXNz"), "Token " + jwt, "bearer " + jwt, "BEARER " + jwt, jwt,
        "Bearer\t" + jwt, "api-key " + key_.full_key, "ApiKey " + key_.full_key}) {
    expect_401(auth(h, std::nullopt), kBadScheme);
  }
}

TEST_F(authenticator_test, empty_header_counts_as_absent) {
  // The API's SSEAuthentication: `if auth_header:` is false for "", so the query token is used.
  const std::string query_token = token(kOtherUser);
  for (std::string_view empty : {"", "   ", "\t"}) {
    const auto sel = select_credential({empty, query_token});
    ASSERT_TRUE(sel.has_value());
    EXPECT_TRUE(sel->from_query);
    const auto r = auth(empty, query_token);
    ASSERT_TRUE(r.has_value()) << r.err().message;
    EXPECT_EQ(r->user_id, kOtherUser);
    expect_401(auth(empty, std::nullopt), kNotProvided);
    expect_401(auth(empty, "garbage"),
               "Token is invalid");  // an invalid query token: never anonymous
  }
}

TEST_F(authenticator_test, scheme_without_a_single_credential_is_401) {
  constexpr std::string_view two = "Authorization header must contain two space-delimited values";
  for (std::string_view h :
       {"Bearer", "Bearer ", "Bearer    ", "Api-Key", "Api-Key ", "Bearer a b"}) {
    expect_401(auth(h, std::nullopt), two);
  }
}

TEST_F(authenticator_test, surrounding_whitespace_is_tolerated) {
  const std::string h = "  Bearer   " + token() + "  ";
  EXPECT_TRUE(auth(h, std::nullopt).has_value());
}

// ---- Herald API keys ----------------------------------------------------------------------

TEST_F(authenticator_test, api_key_in_header_works) {
  const std::string h = api_key_header();
  const auto sel = select_credential({h, std::nullopt});
  ASSERT_TRUE(sel.has_value());
  EXPECT_EQ(sel->kind, credential_kind::api_key);
  EXPECT_EQ(sel->value, key_.full_key);

  const auto r = auth(h, std::nullopt);
  ASSERT_TRUE(r.has_value()) << r.err().message;
  EXPECT_EQ(r->kind, credential_kind::api_key);
  EXPECT_EQ(r->user_id, kUser);
  EXPECT_EQ(r->tenant_id, kTenant);
  EXPECT_EQ(r->api_key_id, key_.prefix);
  EXPECT_EQ(r->expires_at, kNow + std::int64_t{365} * 86400);
  EXPECT_TRUE(r->authenticated());
  EXPECT_EQ(db_.touched, std::vector<std::string>{std::string(kKeyId)});
}

TEST_F(authenticator_test, api_key_header_wins_over_query_token) {
  const auto r = auth(api_key_header(), token(kOtherUser));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, credential_kind::api_key);
}

TEST_F(authenticator_test, api_key_in_query_is_refused) {
  constexpr std::string_view msg = "API keys are not accepted in access_token";
  expect_401(auth(std::nullopt, key_.full_key), msg);
  expect_401(auth(std::nullopt, api_key_header()), msg);
  expect_401(auth(std::nullopt, key_.prefix), msg);
  expect_401(auth(std::nullopt, "pk_ABCDEFGH.gAAAAA=="), msg);  // the Prowler API's format too
  EXPECT_TRUE(db_.touched.empty());
}

TEST_F(authenticator_test, bearer_with_an_api_key_fails) {
  expect_401(auth("Bearer " + key_.full_key, std::nullopt), "Token is invalid");
  EXPECT_TRUE(db_.touched.empty());
}

TEST_F(authenticator_test, api_key_scheme_with_a_jwt_fails) {
  expect_401(auth("Api-Key " + token(), std::nullopt), "Invalid API Key.");
}

TEST_F(authenticator_test, wrong_secret_unknown_prefix_and_malformed_keys_fail) {
  std::string wrong = key_.full_key;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  expect_401(auth("Api-Key " + wrong, std::nullopt), "Invalid API Key.");
  const new_api_key stranger = generate_api_key();
  expect_401(auth("Api-Key " + stranger.full_key, std::nullopt), "Invalid API Key.");
  expect_401(auth("Api-Key not-a-key", std::nullopt), "Invalid API Key.");
  // Right secret, someone else's prefix: the row's hash does not match.
  hs::api_key_record other;
  other.prefix = stranger.prefix;
  other.key_hash = stranger.key_hash;
  other.tenant_id = kTenant;
  other.user_id = kUser;
  ASSERT_TRUE(db_.insert_api_key(other).has_value());
  const std::string swapped = stranger.prefix + key_.full_key.substr(key_.prefix.size());
  expect_401(auth("Api-Key " + swapped, std::nullopt), "Invalid API Key.");
  EXPECT_TRUE(db_.touched.empty());
}

TEST_F(authenticator_test, revoked_key_fails) {
  ASSERT_TRUE(db_.revoke_api_key(key_.prefix).has_value());
  expect_401(auth(api_key_header(), std::nullopt), "This API Key has been revoked.");
  EXPECT_TRUE(db_.touched.empty());
}

TEST_F(authenticator_test, expired_key_fails_and_zero_means_never) {
  update_key("expires_at = " + std::to_string(kNow - 1));
  expect_401(auth(api_key_header(), std::nullopt), "API Key has already expired.");
  update_key("expires_at = " + std::to_string(kNow));
  expect_401(auth(api_key_header(), std::nullopt), "API Key has already expired.");
  update_key("expires_at = 0");
  EXPECT_TRUE(auth(api_key_header(), std::nullopt).has_value());
}

TEST_F(authenticator_test, key_without_owner_fails) {
  update_key("user_id = NULL");
  expect_401(auth(api_key_header(), std::nullopt), "No entity matching this api key.");
}

TEST_F(authenticator_test, api_keys_can_be_disabled) {
  auth_config cfg = cfg_;
  cfg.api_keys_enabled = false;
  authenticator a(cfg, verifier_, db_);
  const std::string h = api_key_header();
  const auto r = a.authenticate({h, std::nullopt}, kNow);
  expect_401(r, "API key authentication is disabled");
}

TEST_F(authenticator_test, touch_failure_is_ignored) {
  db_.touch_fails = true;
  EXPECT_TRUE(auth(api_key_header(), std::nullopt).has_value());
  db_.touch_fails = false;
  db_.touch_throws = true;
  EXPECT_TRUE(auth(api_key_header(), std::nullopt).has_value());
}

// ---- Users ----------------------------------------------------------------------------------

TEST_F(authenticator_test, inactive_or_unknown_user_fails) {
  db_.set_active(kUser, false);
  expect_401(auth("Bearer " + token(), std::nullopt), "User is inactive");
  expect_401(auth(api_key_header(), std::nullopt), "User is inactive");
  expect_401(auth(std::nullopt, token()), "User is inactive");
  expect_401(auth("Bearer " + token("5d1c9e1a-0000-4000-8000-000000000000"), std::nullopt),
             "User not found");
}

TEST_F(authenticator_test, verify_leaves_the_user_row_to_the_caller) {
  db_.set_active(kUser, false);
  db_.user_reads = 0;
  const std::string h = "Bearer " + token();
  const auto p = authn_.verify({h, std::nullopt}, kNow);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(db_.user_reads, 0);
  const auto row = db_.find_user(kUser);
  ASSERT_TRUE(row && row->has_value());
  const auto r = check_user_row(cfg_, *p, &**row);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().message, "User is inactive");
  EXPECT_EQ(check_user_row(cfg_, *p, nullptr).err().message, "User not found");
  // The generic profile has no password stamp: a password change is not a token's concern.
  db_.set_active(kUser, true);
  db_.set_password(kUser, "changed");
  EXPECT_TRUE(auth(h, std::nullopt).has_value());
}

TEST_F(authenticator_test, user_check_can_be_disabled) {
  auth_config cfg = cfg_;
  cfg.check_user_active = false;
  authenticator a(cfg, verifier_, db_);
  db_.exec("DELETE FROM users");
  db_.user_reads = 0;
  const std::string h = "Bearer " + token();
  EXPECT_TRUE(a.authenticate({h, std::nullopt}, kNow).has_value());
  EXPECT_EQ(db_.user_reads, 0);
}

TEST_F(authenticator_test, store_failure_is_unavailable_not_401) {
  db_.down = true;
  const auto r1 = auth("Bearer " + token(), std::nullopt);
  ASSERT_FALSE(r1.has_value());
  EXPECT_EQ(r1.err().code, errc::unavailable);
  const auto r2 = auth(api_key_header(), std::nullopt);
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.err().code, errc::unavailable);
  // A bad token is still a 401: verification needs no store.
  expect_401(auth("Bearer nope", std::nullopt), "Token is invalid");
}

// ---- re-check -------------------------------------------------------------------------------

TEST_F(authenticator_test, recheck_follows_user_and_key_state) {
  const auto jwt_p = auth("Bearer " + token(), std::nullopt);
  const auto key_p = auth(api_key_header(), std::nullopt);
  ASSERT_TRUE(jwt_p.has_value());
  ASSERT_TRUE(key_p.has_value());
  EXPECT_TRUE(authn_.recheck(*jwt_p, kNow + 60).has_value());
  EXPECT_TRUE(authn_.recheck(*key_p, kNow + 60).has_value());
  // recheck() leaves a JWT's own expiry to its caller.
  EXPECT_TRUE(authn_.recheck(*jwt_p, kNow + 7200).has_value());

  ASSERT_TRUE(db_.revoke_api_key(key_.prefix).has_value());
  auto r = authn_.recheck(*key_p, kNow + 60);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().message, "This API Key has been revoked.");

  update_key("revoked = 0, expires_at = " + std::to_string(kNow + 100));
  r = authn_.recheck(*key_p, kNow + 100);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().message, "API Key has already expired.");

  db_.exec("DELETE FROM api_keys");
  r = authn_.recheck(*key_p, kNow + 60);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().code, errc::unauthenticated);

  db_.set_active(kUser, false);
  r = authn_.recheck(*jwt_p, kNow + 60);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().message, "User is inactive");

  db_.down = true;
  r = authn_.recheck(*jwt_p, kNow + 60);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().code, errc::unavailable);

  r = authn_.recheck(principal{}, kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().code, errc::unauthenticated);
}

TEST_F(authenticator_test, recheck_refuses_a_key_reassigned_to_another_user) {
  const auto key_p = auth(api_key_header(), std::nullopt);
  ASSERT_TRUE(key_p.has_value());
  update_key("user_id = " + test_store::quoted(kOtherUser));
  const auto r = authn_.recheck(*key_p, kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().message, "API key no longer belongs to this user and tenant");
}

TEST_F(authenticator_test, recheck_all_batches_and_follows_membership) {
  const auto jwt_p = auth("Bearer " + token(), std::nullopt);
  const auto key_p = auth(api_key_header(), std::nullopt);
  ASSERT_TRUE(jwt_p && key_p);
  std::vector<const principal*> streams;
  for (int i = 0; i < 100; ++i) streams.insert(streams.end(), {&*jwt_p, &*key_p});
  db_.herald_key_reads = 0;
  auto report = authn_.recheck_all(streams, kNow + 60);
  EXPECT_FALSE(report.store_error.has_value());
  EXPECT_EQ(db_.recheck_facts_calls, 1);
  EXPECT_EQ(db_.herald_key_reads, 1);
  for (const auto& o : report.outcomes) EXPECT_EQ(o.verdict, recheck_verdict::ok);

  // Removing the membership also revokes the user's keys in that tenant (the store's trigger, as
  // the API's signal does); both verdicts are forbidden.
  ASSERT_TRUE(db_.sqlite().remove_membership(kUser, kTenant).has_value());
  report = authn_.recheck_all(streams, kNow + 60);
  for (const auto& o : report.outcomes) {
    EXPECT_EQ(o.verdict, recheck_verdict::forbidden);
    EXPECT_EQ(o.reason, "User is no longer a member of this tenant");
  }
  // An empty batch asks nothing.
  db_.recheck_facts_calls = 0;
  EXPECT_TRUE(authn_.recheck_all({}, kNow).outcomes.empty());
  EXPECT_EQ(db_.recheck_facts_calls, 0);
}

TEST(recheck_caller, pure_verdicts) {
  auth_config cfg;
  principal p;
  p.kind = credential_kind::jwt;
  p.user_id = kUser;
  p.tenant_id = kTenant;
  p.expires_at = kNow + 10;
  hs::user_record u{std::string(kUser), "dev@prowler.com", true, "pw"};
  caller_facts f{true, &u, nullptr, nullptr};
  EXPECT_EQ(recheck_caller(cfg, p, f, kNow).verdict, recheck_verdict::ok);
  EXPECT_EQ(recheck_caller(cfg, p, f, kNow + 10).verdict, recheck_verdict::token_expired);
  EXPECT_TRUE(token_expired(cfg, p, kNow + 10));
  cfg.jwt.leeway_seconds = 5;  // the same leeway as at connect
  EXPECT_EQ(recheck_caller(cfg, p, f, kNow + 14).verdict, recheck_verdict::ok);
  EXPECT_EQ(recheck_caller(cfg, p, f, kNow + 15).verdict, recheck_verdict::token_expired);
  f.user = nullptr;
  EXPECT_EQ(recheck_caller(cfg, p, f, kNow).reason, "User not found");
  cfg.check_user_active = false;
  EXPECT_EQ(recheck_caller(cfg, p, f, kNow).verdict, recheck_verdict::ok);
  f.member = false;
  EXPECT_EQ(recheck_caller(cfg, p, f, kNow).verdict, recheck_verdict::forbidden);

  // Herald keys: the row's tenant may be stored in upper case.
  principal k;
  k.kind = credential_kind::api_key;
  k.user_id = kUser;
  k.tenant_id = kTenant;
  k.api_key_id = "hk_ABCDEFGH";
  hs::api_key_record row;
  row.prefix = k.api_key_id;
  row.tenant_id = "12646005-9067-4D2A-A098-8BB378604362";
  row.user_id = kUser;
  caller_facts kf{true, &u, &row, nullptr};
  EXPECT_EQ(recheck_caller(cfg, k, kf, kNow).verdict, recheck_verdict::ok);
  row.tenant_id = "0f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
  EXPECT_EQ(recheck_caller(cfg, k, kf, kNow).reason,
            "API key no longer belongs to this user and tenant");
  kf.herald_key = nullptr;
  EXPECT_EQ(recheck_caller(cfg, k, kf, kNow).verdict, recheck_verdict::forbidden);
  EXPECT_EQ(recheck_caller(cfg, principal{}, kf, kNow).verdict, recheck_verdict::forbidden);
}

}  // namespace
}  // namespace herald::auth

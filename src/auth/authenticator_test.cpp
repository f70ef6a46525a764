// Ports TestSSEAuthentication from the Prowler API (api/tests/test_authentication.py) and covers
// the header schemes, API keys and user checks around it. The store is an in-memory fake.
#include "auth/authenticator.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <stdexcept>
#include <vector>

#include "auth/api_key.hpp"
#include "auth/test_keys.hpp"

namespace herald::auth {
namespace {

namespace json = boost::json;
namespace hs = herald::store;
using i64 = std::int64_t;

constexpr i64 kNow = 1767223800;
constexpr std::string_view kUser = "8b38e2eb-6689-4f1e-a4ba-95b275130200";
constexpr std::string_view kOtherUser = "3a0c1d5e-2b4f-4c6a-9d8e-7f6a5b4c3d2e";
constexpr std::string_view kTenant = "12646005-9067-4d2a-a098-8bb378604362";
constexpr std::string_view kKeyId = "0b7c4f0e-5d7a-4d3e-9a51-1f2e3d4c5b6a";
constexpr std::string_view kNotProvided = "Authentication credentials were not provided.";
constexpr std::string_view kBadScheme = "Invalid Authorization header scheme";

class fake_store final : public hs::store {
 public:
  std::map<std::string, hs::user_record, std::less<>> users;
  std::map<std::string, hs::api_key_record, std::less<>> keys;  // by prefix
  bool down = false;                                            // every lookup fails
  bool touch_fails = false;
  bool touch_throws = false;
  std::vector<std::string> touched;
  int user_lookups = 0;

  result<std::optional<hs::user_record>> find_user(std::string_view id) override {
    ++user_lookups;
    if (down) return make_error(errc::unavailable, "db down");
    auto it = users.find(id);
    if (it == users.end()) return std::optional<hs::user_record>{};
    return std::optional<hs::user_record>{it->second};
  }
  result<bool> is_member(std::string_view, std::string_view) override { return true; }
  result<std::optional<hs::api_key_record>> find_api_key(std::string_view prefix) override {
    if (down) return make_error(errc::unavailable, "db down");
    auto it = keys.find(prefix);
    if (it == keys.end()) return std::optional<hs::api_key_record>{};
    return std::optional<hs::api_key_record>{it->second};
  }
  result<void> touch_api_key(std::string_view id) override {
    if (touch_throws) throw std::runtime_error("disk full");
    if (touch_fails) return make_error(errc::unavailable, "locked");
    touched.emplace_back(id);
    return {};
  }
  result<void> insert_api_key(const hs::api_key_record& k) override {
    keys[k.prefix] = k;
    return {};
  }
  result<void> revoke_api_key(std::string_view prefix) override {
    auto it = keys.find(prefix);
    if (it == keys.end()) return make_error(errc::not_found, "no such key");
    it->second.revoked = true;
    return {};
  }
  result<bool> row_exists(std::string_view, const hs::lookup_params&) override { return true; }
  result<void> check_lookup(std::string_view) override { return {}; }
};

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
    auto user = [](std::string_view id, std::string email) {
      hs::user_record u;  // field by field: the record gains fields (Prowler's password stamp)
      u.id = std::string(id);
      u.email = std::move(email);
      u.is_active = true;
      return u;
    };
    db_.users[std::string(kUser)] = user(kUser, "dev@prowler.com");
    db_.users[std::string(kOtherUser)] = user(kOtherUser, "other@prowler.com");
    key_ = generate_api_key();
    hs::api_key_record rec;
    rec.id = kKeyId;
    rec.prefix = key_.prefix;
    rec.key_hash = key_.key_hash;
    rec.tenant_id = "12646005-9067-4D2A-A098-8BB378604362";  // stored upper-case: normalised on use
    rec.user_id = kUser;
    rec.name = "ci";
    rec.expires_at = kNow + std::int64_t{365} * 86400;
    (void)db_.insert_api_key(rec);
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

  hs::api_key_record& key_row() { return db_.keys.at(key_.prefix); }
  std::string api_key_header() const { return "Api-Key " + key_.full_key; }

  auth_config cfg_ = make_config();
  token_verifier verifier_{cfg_.jwt};
  token_minter minter_{jwt_algorithm::hs256, testing::keys_for(jwt_algorithm::hs256).private_pem};
  fake_store db_;
  authenticator authn_{cfg_, verifier_, db_};
  new_api_key key_;
};

// ---- TestSSEAuthentication (the Prowler API's) ----------------------------------------------

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

TEST_F(authenticator_test, empty_header_is_present_and_invalid) {
  expect_401(auth("", token()), "Authorization header is empty");
  expect_401(auth("   ", std::nullopt), "Authorization header is empty");
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

// ---- API keys -------------------------------------------------------------------------------

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
  const std::string swapped = stranger.prefix + key_.full_key.substr(key_.prefix.size());
  db_.keys[stranger.prefix] = key_row();
  db_.keys[stranger.prefix].prefix = stranger.prefix;
  db_.keys[stranger.prefix].key_hash = stranger.key_hash;
  expect_401(auth("Api-Key " + swapped, std::nullopt), "Invalid API Key.");
  EXPECT_TRUE(db_.touched.empty());
}

TEST_F(authenticator_test, revoked_key_fails) {
  ASSERT_TRUE(db_.revoke_api_key(key_.prefix).has_value());
  expect_401(auth(api_key_header(), std::nullopt), "This API Key has been revoked.");
  EXPECT_TRUE(db_.touched.empty());
}

TEST_F(authenticator_test, expired_key_fails_and_zero_means_never) {
  key_row().expires_at = kNow - 1;
  expect_401(auth(api_key_header(), std::nullopt), "API Key has already expired.");
  key_row().expires_at = kNow;
  expect_401(auth(api_key_header(), std::nullopt), "API Key has already expired.");
  key_row().expires_at = 0;
  EXPECT_TRUE(auth(api_key_header(), std::nullopt).has_value());
}

TEST_F(authenticator_test, key_without_owner_fails) {
  key_row().user_id.clear();
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
  db_.users.at(std::string(kUser)).is_active = false;
  expect_401(auth("Bearer " + token(), std::nullopt), "User is inactive");
  expect_401(auth(api_key_header(), std::nullopt), "User is inactive");
  expect_401(auth(std::nullopt, token()), "User is inactive");
  expect_401(auth("Bearer " + token("5d1c9e1a-0000-4000-8000-000000000000"), std::nullopt),
             "User not found");
}

TEST_F(authenticator_test, user_check_can_be_disabled) {
  auth_config cfg = cfg_;
  cfg.check_user_active = false;
  authenticator a(cfg, verifier_, db_);
  db_.users.clear();
  const std::string h = "Bearer " + token();
  EXPECT_TRUE(a.authenticate({h, std::nullopt}, kNow).has_value());
  EXPECT_EQ(db_.user_lookups, 0);
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

// ---- recheck --------------------------------------------------------------------------------

TEST_F(authenticator_test, recheck_follows_user_and_key_state) {
  const auto jwt_p = auth("Bearer " + token(), std::nullopt);
  const auto key_p = auth(api_key_header(), std::nullopt);
  ASSERT_TRUE(jwt_p.has_value());
  ASSERT_TRUE(key_p.has_value());
  EXPECT_TRUE(authn_.recheck(*jwt_p, kNow + 60).has_value());
  EXPECT_TRUE(authn_.recheck(*key_p, kNow + 60).has_value());

  (void)db_.revoke_api_key(key_.prefix);
  auto r = authn_.recheck(*key_p, kNow + 60);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().message, "This API Key has been revoked.");

  key_row().revoked = false;
  key_row().expires_at = kNow + 100;
  r = authn_.recheck(*key_p, kNow + 100);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().message, "API Key has already expired.");

  db_.keys.erase(key_.prefix);
  r = authn_.recheck(*key_p, kNow + 60);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().code, errc::unauthenticated);

  db_.users.at(std::string(kUser)).is_active = false;
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
  key_row().user_id = kOtherUser;
  EXPECT_FALSE(authn_.recheck(*key_p, kNow).has_value());
}

}  // namespace
}  // namespace herald::auth

#include "auth/token_verifier.hpp"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <atomic>
#include <boost/json.hpp>
#include <thread>
#include <vector>

#include "auth/encoding.hpp"
#include "auth/test_keys.hpp"

namespace herald::auth {
namespace {

namespace json = boost::json;
using i64 = std::int64_t;

constexpr i64 kNow = 1767223800;
constexpr std::string_view kUser = "8b38e2eb-6689-4f1e-a4ba-95b275130200";
constexpr std::string_view kTenant = "12646005-9067-4d2a-a098-8bb378604362";
constexpr std::string_view kAud = "https://api.prowler.com";
constexpr std::string_view kIss = "https://api.prowler.com";
constexpr std::string_view kInvalid = "Token is invalid";
constexpr std::string_view kExpired = "Token is expired";

// The claims Prowler puts in an access token (research notes, section 1).
json::object prowler_claims() {
  return json::object{{"typ", "access"},
                      {"exp", kNow + 1800},
                      {"iat", kNow},
                      {"nbf", kNow},
                      {"jti", "0123456789abcdef0123456789abcdef"},
                      {"sub", kUser},
                      {"hash_password", "D41D8CD98F00B204E9800998ECF8427E"},
                      {"tenant_id", kTenant},
                      {"aud", kAud},
                      {"iss", kIss}};
}

jwt_config config_for(jwt_algorithm alg) {
  jwt_config cfg;
  cfg.algorithm = alg;
  cfg.verify_key = testing::keys_for(alg).public_pem;
  cfg.audience = kAud;
  cfg.issuer = kIss;
  cfg.required_type = "access";
  return cfg;
}

void expect_refused(const result<principal>& r, std::string_view message) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().code, errc::unauthenticated);
  EXPECT_EQ(r.err().message, message);
}

std::string unsigned_token(std::string_view header, const json::object& claims) {
  return base64url_encode(header) + "." + base64url_encode(json::serialize(claims)) + ".";
}

// Replace one segment (0 header, 1 payload, 2 signature) of a compact token.
std::string with_segment(const std::string& token, int index, std::string_view segment) {
  const std::size_t d1 = token.find('.');
  const std::size_t d2 = token.find('.', d1 + 1);
  const std::string parts[3] = {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1),
                                token.substr(d2 + 1)};
  std::string out;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) out += '.';
    out += i == index ? std::string(segment) : parts[i];
  }
  return out;
}

std::string signature_of(const std::string& token) { return token.substr(token.rfind('.') + 1); }

class every_algorithm : public ::testing::TestWithParam<jwt_algorithm> {
 protected:
  jwt_algorithm alg() const { return GetParam(); }
  std::string mint(const json::object& claims) const {
    return minter_.mint(json::serialize(claims));
  }
  result<principal> verify(std::string_view token, i64 now = kNow) const {
    return verifier_.verify(token, now);
  }

  jwt_config cfg_ = config_for(GetParam());
  token_verifier verifier_{cfg_};
  token_minter minter_{GetParam(), testing::keys_for(GetParam()).private_pem};
};

INSTANTIATE_TEST_SUITE_P(auth, every_algorithm,
                         ::testing::Values(jwt_algorithm::rs256, jwt_algorithm::es256,
                                           jwt_algorithm::eddsa, jwt_algorithm::hs256),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST_P(every_algorithm, valid_token_yields_principal) {
  const result<principal> r = verify(mint(prowler_claims()));
  ASSERT_TRUE(r.has_value()) << r.err().message;
  EXPECT_EQ(r->kind, credential_kind::jwt);
  EXPECT_EQ(r->user_id, kUser);
  EXPECT_EQ(r->tenant_id, kTenant);
  EXPECT_EQ(r->expires_at, kNow + 1800);
  EXPECT_TRUE(r->api_key_id.empty());
  EXPECT_TRUE(r->authenticated());
}

TEST_P(every_algorithm, minted_header_names_the_algorithm) {
  const std::string token = mint(prowler_claims());
  const auto header = base64url_decode(token.substr(0, token.find('.')));
  ASSERT_TRUE(header);
  EXPECT_EQ(json::parse(*header),
            (json::object{{"alg", std::string(to_string(alg()))}, {"typ", "JWT"}}));
}

TEST_P(every_algorithm, alg_none_is_refused) {
  expect_refused(verify(unsigned_token(R"({"alg":"none","typ":"JWT"})", prowler_claims())),
                 kInvalid);
  expect_refused(verify(unsigned_token(R"({"alg":"none"})", prowler_claims()) + "AAAA"), kInvalid);
  // Same with a genuine signature pasted on.
  const std::string good = mint(prowler_claims());
  expect_refused(verify(unsigned_token(R"({"alg":"none"})", prowler_claims()) + signature_of(good)),
                 kInvalid);
}

TEST_P(every_algorithm, header_alg_must_equal_the_configured_one_exactly) {
  const json::object c = prowler_claims();
  const std::string claims = json::serialize(c);
  for (std::string_view other :
       {"RS256", "ES256", "EdDSA", "HS256", "rs256", "eddsa", "RS512", ""}) {
    if (other == to_string(alg())) continue;
    const std::string header = R"({"alg":")" + std::string(other) + R"(","typ":"JWT"})";
    expect_refused(verify(minter_.mint_with_header(header, claims)), kInvalid);
  }
  expect_refused(verify(minter_.mint_with_header(R"({"typ":"JWT"})", claims)), kInvalid);
  expect_refused(verify(minter_.mint_with_header(R"({"alg":["RS256"]})", claims)), kInvalid);
}

TEST_P(every_algorithm, bad_signature_is_refused) {
  const std::string token = mint(prowler_claims());
  std::string sig = *base64url_decode(signature_of(token));
  sig[sig.size() / 2] ^= 0x01;
  expect_refused(verify(with_segment(token, 2, base64url_encode(sig))), kInvalid);
  // Claims changed after signing.
  json::object c = prowler_claims();
  c["tenant_id"] = "00000000-0000-4000-8000-000000000000";
  expect_refused(verify(with_segment(token, 1, base64url_encode(json::serialize(c)))), kInvalid);
}

TEST_P(every_algorithm, token_from_another_key_of_the_same_algorithm_is_refused) {
  const testing::key_pair other = testing::generate(alg());
  token_minter stranger(alg(), other.private_pem);
  expect_refused(verify(stranger.mint(json::serialize(prowler_claims()))), kInvalid);
}

TEST_P(every_algorithm, expired_token_is_refused) {
  json::object c = prowler_claims();
  c["exp"] = kNow - 1;
  expect_refused(verify(mint(c)), kExpired);
  c["exp"] = kNow;  // exp is exclusive: a token is dead at its exp second
  expect_refused(verify(mint(c)), kExpired);
}

TEST_P(every_algorithm, not_yet_valid_token_is_refused) {
  json::object c = prowler_claims();
  c["nbf"] = kNow + 60;
  expect_refused(verify(mint(c)), kInvalid);
  c["nbf"] = kNow;
  c["iat"] = kNow + 60;  // issued in the future
  expect_refused(verify(mint(c)), kInvalid);
}

TEST_P(every_algorithm, leeway_accepts_slightly_expired_and_early_tokens) {
  jwt_config cfg = cfg_;
  cfg.leeway_seconds = 30;
  token_verifier lenient(cfg);
  json::object c = prowler_claims();
  c["exp"] = kNow - 10;
  EXPECT_TRUE(lenient.verify(mint(c), kNow).has_value());
  c["exp"] = kNow - 30;
  expect_refused(lenient.verify(mint(c), kNow), kExpired);
  c = prowler_claims();
  c["nbf"] = kNow + 20;
  c["iat"] = kNow + 20;
  EXPECT_TRUE(lenient.verify(mint(c), kNow).has_value());
  c["nbf"] = kNow + 31;
  expect_refused(lenient.verify(mint(c), kNow), kInvalid);
}

TEST_P(every_algorithm, audience_is_checked) {
  json::object c = prowler_claims();
  c["aud"] = "https://evil.example.com";
  expect_refused(verify(mint(c)), kInvalid);
  c["aud"] = json::array{"https://other.example.com", kAud};
  EXPECT_TRUE(verify(mint(c)).has_value());
  c["aud"] = json::array{"https://other.example.com"};
  expect_refused(verify(mint(c)), kInvalid);
  c["aud"] = json::array{kAud, 42};  // malformed member
  expect_refused(verify(mint(c)), kInvalid);
  c["aud"] = json::array{};
  expect_refused(verify(mint(c)), kInvalid);
  c["aud"] = 7;
  expect_refused(verify(mint(c)), kInvalid);
  c.erase("aud");
  expect_refused(verify(mint(c)), kInvalid);
}

TEST_P(every_algorithm, issuer_is_checked) {
  json::object c = prowler_claims();
  c["iss"] = "https://evil.example.com";
  expect_refused(verify(mint(c)), kInvalid);
  c["iss"] = json::array{kIss};
  expect_refused(verify(mint(c)), kInvalid);
  c.erase("iss");
  expect_refused(verify(mint(c)), kInvalid);
}

TEST_P(every_algorithm, aud_and_iss_are_ignored_when_not_configured) {
  jwt_config cfg = cfg_;
  cfg.audience.clear();
  cfg.issuer.clear();
  token_verifier open(cfg);
  json::object c = prowler_claims();
  c["aud"] = "anything";
  c.erase("iss");
  EXPECT_TRUE(open.verify(mint(c), kNow).has_value());
}

TEST_P(every_algorithm, user_claim_is_required) {
  json::object c = prowler_claims();
  c.erase("sub");
  expect_refused(verify(mint(c)), "Token contained no recognizable user identification");
  c["sub"] = "";
  expect_refused(verify(mint(c)), "Token contained no recognizable user identification");
  c["sub"] = 12345;  // PyJWT 2.10+: "Subject must be a string"
  expect_refused(verify(mint(c)), kInvalid);
}

TEST_P(every_algorithm, tenant_claim_is_required_and_must_be_a_uuid) {
  json::object c = prowler_claims();
  c.erase("tenant_id");
  expect_refused(verify(mint(c)), "Tenant ID is not present in token");
  c["tenant_id"] = nullptr;
  expect_refused(verify(mint(c)), "Tenant ID is not present in token");
  for (const json::value& bad : {json::value("not-a-uuid"), json::value(""), json::value(42),
                                 json::value("12646005906742d2aa0988bb378604362"),
                                 json::value("{12646005-9067-4d2a-a098-8bb378604362}")}) {
    c["tenant_id"] = bad;
    expect_refused(verify(mint(c)), "Tenant ID in token is not a valid UUID");
  }
}

TEST_P(every_algorithm, exp_is_required_and_must_be_numeric) {
  json::object c = prowler_claims();
  c.erase("exp");  // simplejwt's check_exp
  expect_refused(verify(mint(c)), "Token has no 'exp' claim");
  c["exp"] = std::to_string(kNow + 1800);
  expect_refused(verify(mint(c)), kInvalid);
  c["exp"] = true;
  expect_refused(verify(mint(c)), kInvalid);
  c["exp"] = static_cast<double>(kNow) + 1800.5;  // fractional NumericDate is legal
  const auto r = verify(mint(c));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->expires_at, kNow + 1800);
}

TEST_P(every_algorithm, malformed_base64_is_refused) {
  const std::string token = mint(prowler_claims());
  const std::string header = token.substr(0, token.find('.'));
  expect_refused(verify(with_segment(token, 0, header + "=")), kInvalid);
  expect_refused(verify(with_segment(token, 0, "!" + header.substr(1))), kInvalid);
  expect_refused(verify(with_segment(token, 2, signature_of(token) + "==")), kInvalid);
  expect_refused(verify(with_segment(token, 2, "*" + signature_of(token).substr(1))), kInvalid);
  std::string payload = token.substr(token.find('.') + 1);
  payload = payload.substr(0, payload.find('.'));
  payload[3] = '+';
  expect_refused(verify(with_segment(token, 1, payload)), kInvalid);
}

TEST_P(every_algorithm, malformed_json_is_refused) {
  const std::string claims = json::serialize(prowler_claims());
  expect_refused(verify(minter_.mint_with_header("{\"alg\":", claims)), kInvalid);
  expect_refused(verify(minter_.mint_with_header("[\"alg\"]", claims)), kInvalid);
  expect_refused(verify(minter_.mint_with_header("", claims)), kInvalid);
  const std::string header = R"({"alg":")" + std::string(to_string(alg())) + R"("})";
  expect_refused(verify(minter_.mint_with_header(header, claims.substr(0, claims.size() - 1))),
                 kInvalid);
  expect_refused(verify(minter_.mint_with_header(header, "[1,2]")), kInvalid);
  expect_refused(verify(minter_.mint_with_header(header, "\"sub\"")), kInvalid);
  expect_refused(verify(minter_.mint_with_header(header, claims + "x")), kInvalid);
}

TEST_P(every_algorithm, wrong_number_of_segments_is_refused) {
  const std::string token = mint(prowler_claims());
  const std::string two = token.substr(0, token.rfind('.'));
  expect_refused(verify(two), kInvalid);
  expect_refused(verify(token + "." + signature_of(token)), kInvalid);
  expect_refused(verify(token + "."), kInvalid);
  expect_refused(verify(token.substr(0, token.find('.'))), kInvalid);
  expect_refused(verify(""), kInvalid);
  expect_refused(verify(".."), kInvalid);
  expect_refused(verify("a.b.c.d.e"), kInvalid);  // JWE compact form
}

TEST_P(every_algorithm, cache_hit_returns_the_same_principal_and_expiry_still_applies) {
  const std::string token = mint(prowler_claims());
  const auto first = verify(token);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(verifier_.cache_size(), 1u);
  const auto second = verify(token, kNow + 60);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(verifier_.cache_size(), 1u);
  EXPECT_EQ(second->user_id, first->user_id);
  EXPECT_EQ(second->tenant_id, first->tenant_id);
  EXPECT_EQ(second->expires_at, first->expires_at);
  EXPECT_EQ(second->kind, credential_kind::jwt);
  // The cached entry is checked against the clock: once exp passes, refused and dropped.
  expect_refused(verify(token, kNow + 1800), kExpired);
  EXPECT_EQ(verifier_.cache_size(), 0u);
  expect_refused(verify(token, kNow + 5000), kExpired);
}

// ---- Single-algorithm cases -----------------------------------------------------------------

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

TEST(token_verifier, hs256_token_keyed_with_the_rs256_public_key_is_refused) {
  // The classic algorithm-confusion attack: the public key is public, so an attacker can HMAC with
  // it.
  const jwt_config cfg = config_for(jwt_algorithm::rs256);
  token_verifier v(cfg);
  const std::string input = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." +
                            base64url_encode(json::serialize(prowler_claims()));
  const std::string forged = input + "." + base64url_encode(hmac_sha256(cfg.verify_key, input));
  expect_refused(v.verify(forged, kNow), kInvalid);
  // Even with the header claiming RS256, an HMAC is not an RSA signature.
  const std::string input2 = base64url_encode(R"({"alg":"RS256","typ":"JWT"})") + "." +
                             base64url_encode(json::serialize(prowler_claims()));
  expect_refused(
      v.verify(input2 + "." + base64url_encode(hmac_sha256(cfg.verify_key, input2)), kNow),
      kInvalid);
}

TEST(token_verifier, required_type_is_checked) {
  const jwt_config cfg = config_for(jwt_algorithm::hs256);
  token_verifier v(cfg);
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  json::object c = prowler_claims();
  c["typ"] = "refresh";
  expect_refused(v.verify(m.mint(json::serialize(c)), kNow), "Token has wrong type");
  c["typ"] = 7;
  expect_refused(v.verify(m.mint(json::serialize(c)), kNow), "Token has wrong type");
  c.erase("typ");  // simplejwt's verify_token_type: KeyError -> "Token has no type"
  expect_refused(v.verify(m.mint(json::serialize(c)), kNow), "Token has no type");
  jwt_config untyped = cfg;
  untyped.required_type.clear();
  EXPECT_TRUE(token_verifier(untyped).verify(m.mint(json::serialize(c)), kNow).has_value());
}

TEST(token_verifier, jti_and_password_stamp_as_the_prowler_profile_sets_them) {
  jwt_config cfg = config_for(jwt_algorithm::hs256);
  cfg.require_jti = true;
  cfg.password_stamp_claim = "hash_password";
  token_verifier v(cfg);
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  json::object c = prowler_claims();
  auto r = v.verify(m.mint(json::serialize(c)), kNow);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->password_stamp, "D41D8CD98F00B204E9800998ECF8427E");
  c["hash_password"] = 42;  // not a string: no stamp, so the user-row check refuses it
  r = v.verify(m.mint(json::serialize(c)), kNow);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->password_stamp, "");
  c.erase("jti");
  expect_refused(v.verify(m.mint(json::serialize(c)), kNow), "Token has no id");
  c["typ"] = "refresh";  // simplejwt checks jti before typ
  expect_refused(v.verify(m.mint(json::serialize(c)), kNow), "Token has no id");
  c["jti"] = 5;  // PyJWT 2.10+: "JWT ID must be a string"
  expect_refused(v.verify(m.mint(json::serialize(c)), kNow), kInvalid);
  // Without the profile's settings a token without jti passes and carries no stamp.
  jwt_config plain = config_for(jwt_algorithm::hs256);
  json::object d = prowler_claims();
  d.erase("jti");
  r = token_verifier(plain).verify(m.mint(json::serialize(d)), kNow);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->password_stamp, "");
}

TEST(token_verifier, checks_run_in_pyjwts_order) {
  const jwt_config cfg = config_for(jwt_algorithm::hs256);
  token_verifier v(cfg);
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  json::object c = prowler_claims();
  c["exp"] = kNow - 1;
  c["aud"] = "https://evil.example.com";  // exp is checked before aud: "expired" wins
  expect_refused(v.verify(m.mint(json::serialize(c)), kNow), kExpired);
  c = prowler_claims();
  c["exp"] = kNow - 1;
  c["nbf"] = kNow + 60;  // nbf is checked before exp: "invalid" wins
  const std::string t = m.mint(json::serialize(c));
  expect_refused(v.verify(t, kNow), kInvalid);
  expect_refused(v.verify(t, kNow), kInvalid);  // failures are not cached
  c = prowler_claims();
  c["exp"] = kNow - 1;
  c.erase("typ");  // expiry comes before simplejwt's own checks
  expect_refused(v.verify(m.mint(json::serialize(c)), kNow), kExpired);
}

TEST(token_verifier, crit_header_is_refused) {
  const jwt_config cfg = config_for(jwt_algorithm::hs256);
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  const std::string t = m.mint_with_header(R"({"alg":"HS256","crit":["b64"],"b64":false})",
                                           json::serialize(prowler_claims()));
  expect_refused(token_verifier(cfg).verify(t, kNow), kInvalid);
}

TEST(token_verifier, tenant_is_normalised_and_claim_names_are_configurable) {
  jwt_config cfg = config_for(jwt_algorithm::hs256);
  cfg.user_claim = "user_id";
  cfg.tenant_claim = "org";
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  json::object c = prowler_claims();
  c.erase("sub");
  c.erase("tenant_id");
  c["user_id"] = "alice";
  c["org"] = "12646005-9067-4D2A-A098-8BB378604362";
  const auto r = token_verifier(cfg).verify(m.mint(json::serialize(c)), kNow);
  ASSERT_TRUE(r.has_value()) << r.err().message;
  EXPECT_EQ(r->user_id, "alice");
  EXPECT_EQ(r->tenant_id, kTenant);
}

TEST(token_verifier, oversized_token_is_refused_before_any_work) {
  const jwt_config cfg = config_for(jwt_algorithm::hs256);
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  json::object c = prowler_claims();
  c["padding"] = std::string(20000, 'x');
  expect_refused(token_verifier(cfg).verify(m.mint(json::serialize(c)), kNow), kInvalid);
}

TEST(token_verifier, messages_never_contain_the_token) {
  const jwt_config cfg = config_for(jwt_algorithm::hs256);
  token_verifier v(cfg);
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  json::object c = prowler_claims();
  c["exp"] = kNow - 1;
  const std::string tok = m.mint(json::serialize(c));
  for (const std::string& t : {tok, tok + "x", std::string("garbage"), tok.substr(0, 40)}) {
    const auto r = v.verify(t, kNow);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.err().message.find(t.substr(0, 10)), std::string::npos);
  }
}

TEST(token_verifier, cached_entry_keeps_not_before) {
  const jwt_config cfg = config_for(jwt_algorithm::hs256);
  token_verifier v(cfg);
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  const std::string t = m.mint(json::serialize(prowler_claims()));
  ASSERT_TRUE(v.verify(t, kNow + 10).has_value());
  // A clock that went backwards does not get a wider window from the cache than from a fresh check.
  expect_refused(v.verify(t, kNow - 10), kInvalid);
}

TEST(token_verifier, failures_are_not_cached_and_cache_can_be_disabled) {
  jwt_config cfg = config_for(jwt_algorithm::hs256);
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  token_verifier v(cfg);
  json::object c = prowler_claims();
  c["aud"] = "nope";
  EXPECT_FALSE(v.verify(m.mint(json::serialize(c)), kNow).has_value());
  EXPECT_EQ(v.cache_size(), 0u);

  cfg.cache_entries = 0;
  token_verifier uncached(cfg);
  const std::string t = m.mint(json::serialize(prowler_claims()));
  EXPECT_TRUE(uncached.verify(t, kNow).has_value());
  EXPECT_TRUE(uncached.verify(t, kNow).has_value());
  EXPECT_EQ(uncached.cache_size(), 0u);
  expect_refused(uncached.verify(t, kNow + 1800), kExpired);
}

TEST(token_verifier, cache_stays_bounded) {
  jwt_config cfg = config_for(jwt_algorithm::hs256);
  cfg.cache_entries = 8;
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  token_verifier v(cfg);
  for (int i = 0; i < 100; ++i) {
    json::object c = prowler_claims();
    c["jti"] = std::to_string(i);
    ASSERT_TRUE(v.verify(m.mint(json::serialize(c)), kNow).has_value());
    EXPECT_LE(v.cache_size(), 8u);
  }
  // Sharded (16 shards at this size): the total bound still holds.
  jwt_config big = cfg;
  big.cache_entries = 4096;
  token_verifier vb(big);
  for (int i = 0; i < 6000; ++i) {
    json::object c = prowler_claims();
    c["jti"] = std::to_string(i);
    ASSERT_TRUE(vb.verify(m.mint(json::serialize(c)), kNow).has_value());
  }
  EXPECT_LE(vb.cache_size(), 4096u);
  EXPECT_GE(vb.cache_size(), 3000u);
}

TEST(token_verifier, cache_evicts_expired_entries_first) {
  jwt_config cfg = config_for(jwt_algorithm::hs256);
  cfg.cache_entries = 8;
  token_minter m(jwt_algorithm::hs256, cfg.verify_key);
  token_verifier v(cfg);
  auto token = [&](int jti, i64 exp) {
    json::object c = prowler_claims();
    c["jti"] = std::to_string(jti);
    c["exp"] = exp;
    return m.mint(json::serialize(c));
  };
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(v.verify(token(i, kNow + 10), kNow).has_value());
  const std::string long_lived = token(100, kNow + 1800);
  ASSERT_TRUE(v.verify(long_lived, kNow).has_value());
  EXPECT_EQ(v.cache_size(), 8u);
  // Full shard at a later time: the seven expired entries make room, the live one stays.
  ASSERT_TRUE(v.verify(token(101, kNow + 1800), kNow + 20).has_value());
  EXPECT_EQ(v.cache_size(), 2u);
  ASSERT_TRUE(v.verify(long_lived, kNow + 20).has_value());
  EXPECT_EQ(v.cache_size(), 2u);
}

TEST(token_verifier, concurrent_verification_is_consistent) {
  const jwt_config cfg = config_for(jwt_algorithm::es256);
  token_verifier v(cfg);
  token_minter m(jwt_algorithm::es256, testing::keys_for(jwt_algorithm::es256).private_pem);
  std::vector<std::string> tokens;
  for (int i = 0; i < 16; ++i) {
    json::object c = prowler_claims();
    c["jti"] = std::to_string(i);
    tokens.push_back(m.mint(json::serialize(c)));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const auto r = v.verify(tokens[(i + t) % tokens.size()], kNow + (i % 2));
        if (!r || r->tenant_id != kTenant) ++failures;
        if (v.verify(tokens[i % tokens.size()] + "A", kNow)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(v.cache_size(), tokens.size());
}

TEST(token_verifier, constructor_refuses_unusable_keys) {
  jwt_config cfg = config_for(jwt_algorithm::rs256);
  cfg.verify_key = "nope";
  EXPECT_THROW(token_verifier{cfg}, std::runtime_error);
  cfg = config_for(jwt_algorithm::es256);
  cfg.verify_key = testing::keys_for(jwt_algorithm::rs256).public_pem;
  EXPECT_THROW(token_verifier{cfg}, std::runtime_error);
  cfg = config_for(jwt_algorithm::hs256);
  cfg.verify_key = "too-short";
  EXPECT_THROW(token_verifier{cfg}, std::runtime_error);
  EXPECT_THROW(token_minter(jwt_algorithm::eddsa, "nope"), std::runtime_error);
}

TEST(jwt_algorithm_names, round_trip_and_refuse_unknown) {
  for (jwt_algorithm a :
       {jwt_algorithm::rs256, jwt_algorithm::es256, jwt_algorithm::eddsa, jwt_algorithm::hs256}) {
    const auto parsed = parse_jwt_algorithm(to_string(a));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, a);
  }
  EXPECT_EQ(to_string(jwt_algorithm::eddsa), "EdDSA");
  EXPECT_EQ(*parse_jwt_algorithm("rs256"), jwt_algorithm::rs256);
  for (std::string_view bad : {"none", "", "RS512", "PS256", "ES256K"}) {
    const auto r = parse_jwt_algorithm(bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.err().code, errc::invalid_config);
  }
}

}  // namespace
}  // namespace herald::auth

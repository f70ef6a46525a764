// The auth options' own rules: the Prowler profile's environment variables and check_keys().
#include "auth/auth_config.hpp"

#include <gtest/gtest.h>

#include <map>

#include "auth/auth_options.hpp"
#include "auth/test_keys.hpp"

namespace herald::auth {
namespace {

constexpr std::string_view kFernetStd =
    "oE/ltOhp/n1TdbHjVmzcjDPLcLA41CVI/4Rk+UB5ESc=";  // API's .env

env_lookup env_of(std::map<std::string, std::string, std::less<>> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string one_line(const std::string& pem) {  // as a .env file carries it
  std::string out;
  for (char c : pem) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

auth_config prowler() {
  auth_config c;
  c.profile = auth_profile::prowler;
  return c;
}

void expect_invalid(const result<void>& r, std::string_view fragment) {
  ASSERT_FALSE(r.has_value()) << "expected a refusal mentioning: " << fragment;
  EXPECT_EQ(r.err().code, errc::invalid_config);
  EXPECT_NE(r.err().message.find(fragment), std::string::npos) << r.err().message;
}

TEST(auth_config, prowler_profile_reads_the_apis_environment) {
  const std::string pem = testing::keys_for(jwt_algorithm::rs256).public_pem;
  auth_config c = prowler();
  apply_prowler_env(c, env_of({{"DJANGO_TOKEN_VERIFYING_KEY", one_line(pem)},
                               {"DJANGO_JWT_AUDIENCE", "https://api.example.com"},
                               {"DJANGO_JWT_ISSUER", "https://issuer.example.com"},
                               {"DJANGO_SECRETS_ENCRYPTION_KEY", std::string(kFernetStd)}}));
  EXPECT_EQ(c.jwt.verify_key, pem);  // literal "\n" made newlines
  EXPECT_EQ(c.jwt.audience, "https://api.example.com");
  EXPECT_EQ(c.jwt.issuer, "https://issuer.example.com");
  EXPECT_EQ(c.fernet_key, kFernetStd);
  EXPECT_EQ(c.jwt.algorithm, jwt_algorithm::rs256);
  EXPECT_EQ(c.jwt.leeway_seconds, 0);
  EXPECT_EQ(c.jwt.required_type, "access");
  EXPECT_TRUE(c.jwt.require_jti);
  EXPECT_EQ(c.jwt.password_stamp_claim, "hash_password");
  EXPECT_EQ(c.jwt.user_claim, "sub");
  EXPECT_EQ(c.jwt.tenant_claim, "tenant_id");
  EXPECT_TRUE(check_keys(c).has_value()) << check_keys(c).err().message;
}

TEST(auth_config, prowler_defaults_audience_and_issuer_and_config_wins_over_env) {
  auth_config c = prowler();
  c.jwt.verify_key = testing::keys_for(jwt_algorithm::rs256).public_pem;
  c.jwt.issuer = "https://configured.example.com";
  c.fernet_key = std::string(kFernetStd);
  apply_prowler_env(c, env_of({{"DJANGO_JWT_AUDIENCE", ""},  // empty counts as unset
                               {"DJANGO_JWT_ISSUER", "https://env.example.com"},
                               {"DJANGO_TOKEN_VERIFYING_KEY", "not used"},
                               {"DJANGO_SECRETS_ENCRYPTION_KEY", "not used either"}}));
  EXPECT_EQ(c.jwt.audience, "https://api.prowler.com");
  EXPECT_EQ(c.jwt.issuer, "https://configured.example.com");
  EXPECT_EQ(c.jwt.verify_key, testing::keys_for(jwt_algorithm::rs256).public_pem);
  EXPECT_EQ(c.fernet_key, kFernetStd);
  EXPECT_TRUE(check_keys(c).has_value());
}

TEST(auth_config, generic_profile_ignores_the_apis_environment) {
  auth_config c;
  c.jwt.verify_key = testing::keys_for(jwt_algorithm::rs256).public_pem;
  apply_prowler_env(c, env_of({{"DJANGO_JWT_AUDIENCE", "https://api.example.com"},
                               {"DJANGO_SECRETS_ENCRYPTION_KEY", std::string(kFernetStd)}}));
  EXPECT_EQ(c.jwt.audience, "");
  EXPECT_EQ(c.fernet_key, "");
  EXPECT_EQ(c.jwt.required_type, "");
  EXPECT_FALSE(c.jwt.require_jti);
  EXPECT_TRUE(check_keys(c).has_value());
}

TEST(auth_config, prowler_refusals_name_what_to_set) {
  const auto ready = [] {
    auth_config c = prowler();
    apply_prowler_env(
        c,
        env_of({{"DJANGO_TOKEN_VERIFYING_KEY", testing::keys_for(jwt_algorithm::rs256).public_pem},
                {"DJANGO_SECRETS_ENCRYPTION_KEY", std::string(kFernetStd)}}));
    return c;
  };
  ASSERT_TRUE(check_keys(ready()).has_value());

  auth_config c = prowler();
  apply_prowler_env(c, env_of({}));
  expect_invalid(check_keys(c), "DJANGO_TOKEN_VERIFYING_KEY");

  c = ready();
  c.fernet_key.clear();
  expect_invalid(check_keys(c), "DJANGO_SECRETS_ENCRYPTION_KEY");
  c.api_keys_enabled = false;  // tokens only: no Fernet key needed
  EXPECT_TRUE(check_keys(c).has_value());

  c = ready();
  c.fernet_key = "too-short";
  expect_invalid(check_keys(c), "32 bytes");
  EXPECT_EQ(check_keys(c).err().message.find("too-short"), std::string::npos);

  c = ready();
  c.jwt.algorithm = jwt_algorithm::es256;
  c.jwt.verify_key = testing::keys_for(jwt_algorithm::es256).public_pem;
  expect_invalid(check_keys(c), "must be RS256");

  c = ready();
  c.jwt.required_type = "refresh";
  expect_invalid(check_keys(c), "auth.required_type to \"access\"");
  c = ready();
  c.jwt.user_claim = "user_id";
  expect_invalid(check_keys(c), "auth.user_claim to \"sub\"");
  c = ready();
  c.jwt.password_stamp_claim = "pw";
  expect_invalid(check_keys(c), "auth.password_stamp_claim");
  c = ready();
  c.jwt.require_jti = false;
  expect_invalid(check_keys(c), "jti");
  c = ready();
  c.check_user_active = false;
  expect_invalid(check_keys(c), "check_user_active");

  c = prowler();  // apply_prowler_env never ran
  c.jwt.verify_key = testing::keys_for(jwt_algorithm::rs256).public_pem;
  c.fernet_key = std::string(kFernetStd);
  expect_invalid(check_keys(c), "audience");
}

TEST(auth_config, generic_rules) {
  auth_config c;
  expect_invalid(check_keys(c), "no JWT verification key");
  c.jwt.verify_key = testing::keys_for(jwt_algorithm::rs256).private_pem;
  expect_invalid(check_keys(c), "PRIVATE key");
  c.jwt.verify_key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
  expect_invalid(check_keys(c), "auth.verify_key");
  c.jwt.verify_key = testing::keys_for(jwt_algorithm::rs256).public_pem;
  EXPECT_TRUE(check_keys(c).has_value());
  c.jwt.leeway_seconds = 86'401;
  expect_invalid(check_keys(c), "leeway_seconds");
  c.jwt.leeway_seconds = 5;
  c.jwt.tenant_claim.clear();
  expect_invalid(check_keys(c), "tenant_claim");
  c.jwt.tenant_claim = "tenant_id";
  c.fernet_key = std::string(kFernetStd);
  expect_invalid(check_keys(c), "only with auth.profile = \"prowler\"");
  c.fernet_key.clear();

  c.jwt.algorithm = jwt_algorithm::hs256;
  c.jwt.verify_key = "short";
  expect_invalid(check_keys(c), "at least 32 bytes");
  c.jwt.verify_key = std::string(48, 'k');
  EXPECT_TRUE(check_keys(c).has_value());
}

TEST(auth_config, profile_names) {
  EXPECT_EQ(*parse_auth_profile("prowler"), auth_profile::prowler);
  EXPECT_EQ(*parse_auth_profile("generic"), auth_profile::generic);
  EXPECT_EQ(to_string(auth_profile::prowler), "prowler");
  EXPECT_EQ(to_string(auth_profile::generic), "generic");
  auto bad = parse_auth_profile("django");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.err().code, errc::invalid_config);
}

}  // namespace
}  // namespace herald::auth

#include "auth/auth_options.hpp"

#include <gtest/gtest.h>

#include <string>

namespace herald::auth {
namespace {

bool says(const result<void>& r, std::string_view text) {
  return !r && r.err().code == errc::invalid_config &&
         r.err().message.find(text) != std::string::npos;
}

TEST(auth_options, algorithm_names_round_trip_and_unknown_ones_are_named) {
  EXPECT_EQ(*parse_jwt_algorithm("eddsa"), jwt_algorithm::eddsa);
  EXPECT_EQ(to_string(*parse_jwt_algorithm("Hs256")), "HS256");
  auto bad = parse_jwt_algorithm("none");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().message, "'none' is not supported (use RS256, ES256, EdDSA or HS256)");
}

TEST(auth_options, a_pem_from_the_environment_gets_its_newlines) {
  EXPECT_EQ(pem_from_env("-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n"),
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  EXPECT_EQ(pem_from_env("a\nb"), "a\nb");  // real newlines stay
  EXPECT_EQ(pem_from_env("trailing\\"), "trailing\\");
}

TEST(auth_options, key_checks) {
  EXPECT_TRUE(check_verify_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
  EXPECT_TRUE(says(check_verify_key("abc"), "is not a PEM key"));
  EXPECT_TRUE(says(check_verify_key("-----BEGIN PRIVATE KEY-----\n"), "holds a PRIVATE key"));
  EXPECT_TRUE(check_signing_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
  EXPECT_TRUE(says(check_signing_key("-----BEGIN PUBLIC KEY-----\n"), "not a PEM private key"));
  EXPECT_TRUE(check_hs256_secret(std::string(kMinHs256SecretBytes, 's')));
  EXPECT_TRUE(
      says(check_hs256_secret(std::string(kMinHs256SecretBytes - 1, 's')), "at least 32 bytes"));
}

TEST(auth_options, a_verification_key_is_required_and_the_hs256_secret_also_signs) {
  auth_config c;
  EXPECT_TRUE(says(validate(c), "no JWT verification key"));
  c.jwt.algorithm = jwt_algorithm::hs256;
  EXPECT_TRUE(says(validate(c), "no secret is configured"));
  c.jwt.verify_key = std::string(40, 's');
  complete(c);
  EXPECT_EQ(c.jwt.signing_key, c.jwt.verify_key);
  EXPECT_TRUE(validate(c));
  c.jwt.tenant_claim.clear();
  EXPECT_TRUE(says(validate(c), "auth.tenant_claim must not be empty"));
}

}  // namespace
}  // namespace herald::auth

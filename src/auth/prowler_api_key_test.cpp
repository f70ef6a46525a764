// The pure halves of the Prowler API's key check. The whole path with keys made by
// python3-cryptography is in prowler_auth_test.cpp.
#include "auth/prowler_api_key.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace herald::auth {
namespace {

constexpr std::int64_t kNow = 1767223800;
constexpr std::string_view kKeyId = "0b7c4f0e-5d7a-4d3e-9a51-1f2e3d4c5b6a";
constexpr std::string_view kTenant = "12646005-9067-4d2a-a098-8bb378604362";
constexpr std::string_view kUser = "8b38e2eb-6689-4f1e-a4ba-95b275130200";

fernet_key test_key() { return *fernet_key::parse("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="); }

std::string key_with(std::string_view payload, std::string_view prefix = "pk_ABCDEFGH") {
  return std::string(prefix) + "." + test_key().encrypt(payload, 1);
}

void expect_401(const auto& r, std::string_view message) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.err().code, errc::unauthenticated);
  EXPECT_EQ(r.err().message, message);
}

store::prowler_api_key_record row() {
  store::prowler_api_key_record r;
  r.id = kKeyId;
  r.prefix = "pk_ABCDEFGH";
  r.tenant_id = "12646005-9067-4D2A-A098-8BB378604362";
  r.entity_id = kUser;
  return r;
}

TEST(prowler_api_key, opens_the_payload) {
  const std::string k =
      key_with(R"({"_pk": "0B7C4F0E-5D7A-4D3E-9A51-1F2E3D4C5B6A", "_exp": 1798759800.25})");
  auto c = open_prowler_api_key(k, test_key(), kNow);
  ASSERT_TRUE(c.has_value()) << c.err().message;
  EXPECT_EQ(c->prefix, "pk_ABCDEFGH");
  EXPECT_EQ(c->key_id, kKeyId);  // canonical lower case
  EXPECT_DOUBLE_EQ(c->expires_at, 1798759800.25);
}

TEST(prowler_api_key, expiry_is_exclusive_like_the_api) {
  // The API: `if payload_exp < timezone.now().timestamp()`: a key is good through its _exp.
  const std::string at_now =
      key_with(R"({"_pk": "0b7c4f0e-5d7a-4d3e-9a51-1f2e3d4c5b6a", "_exp": 1767223800})");
  EXPECT_TRUE(open_prowler_api_key(at_now, test_key(), kNow).has_value());
  expect_401(open_prowler_api_key(at_now, test_key(), kNow + 1), "API Key has already expired.");
  EXPECT_EQ(prowler_key_expiry_second(1767223800.0), kNow + 1);
  EXPECT_EQ(prowler_key_expiry_second(1767223800.5), kNow + 1);
  EXPECT_EQ(prowler_key_expiry_second(1e300), std::numeric_limits<std::int64_t>::max());
}

TEST(prowler_api_key, row_rules_in_the_apis_order) {
  auto claims = open_prowler_api_key(
      key_with(R"({"_pk": "0b7c4f0e-5d7a-4d3e-9a51-1f2e3d4c5b6a", "_exp": 1798759800})"),
      test_key(), kNow);
  ASSERT_TRUE(claims.has_value());
  expect_401(admit_prowler_api_key(*claims, std::nullopt, "203.0.113.7"),
             "No entity matching this api key.");

  auto r = row();
  r.revoked = true;
  r.entity_id.clear();
  r.blacklisted_ips = {"203.0.113.7"};
  r.prefix = "pk_ZZZZZZZZ";
  expect_401(admit_prowler_api_key(*claims, r, "203.0.113.7"), "This API Key has been revoked.");
  r.revoked = false;
  expect_401(admit_prowler_api_key(*claims, r, "203.0.113.7"), "No entity matching this api key.");
  r.entity_id = kUser;
  expect_401(admit_prowler_api_key(*claims, r, "203.0.113.7"),
             "Access denied from blacklisted IP.");
  r.whitelisted_ips = {"198.51.100.1"};
  expect_401(admit_prowler_api_key(*claims, r, "192.0.2.1"),
             "Access restricted to specific IP addresses.");
  expect_401(admit_prowler_api_key(*claims, r, "198.51.100.1"), "Invalid API Key.");  // prefix
  r.prefix = "pk_ABCDEFGH";
  auto p = admit_prowler_api_key(*claims, r, "::ffff:198.51.100.1");
  ASSERT_TRUE(p.has_value()) << p.err().message;
  EXPECT_EQ(p->kind, credential_kind::api_key);
  EXPECT_EQ(p->user_id, kUser);
  EXPECT_EQ(p->tenant_id, kTenant);
  EXPECT_EQ(p->api_key_id, kKeyId);
  EXPECT_EQ(p->expires_at, 1798759801);
}

TEST(prowler_api_key, ip_lists_compare_exact_strings) {
  auto claims = open_prowler_api_key(
      key_with(R"({"_pk": "0b7c4f0e-5d7a-4d3e-9a51-1f2e3d4c5b6a", "_exp": 1798759800})"),
      test_key(), kNow);
  ASSERT_TRUE(claims.has_value());
  auto r = row();
  r.whitelisted_ips = {"2001:db8::1", "198.51.100.0/24"};  // no CIDR in drf-simple-apikey
  {
    auto ok = admit_prowler_api_key(*claims, r, "2001:db8::1");
    EXPECT_TRUE(ok.has_value()) << ok.err().message;
  }
  expect_401(admit_prowler_api_key(*claims, r, "198.51.100.9"),
             "Access restricted to specific IP addresses.");
  expect_401(admit_prowler_api_key(*claims, r, ""), "Access restricted to specific IP addresses.");
}

TEST(prowler_api_key, client_address_unmaps_ipv4) {
  EXPECT_EQ(client_address("::ffff:203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(client_address("::FFFF:203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(client_address("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(client_address("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(client_address("::ffff:cb00:7107"), "::ffff:cb00:7107");
  EXPECT_EQ(client_address(""), "");
}

TEST(prowler_api_key, malformed_payloads_are_invalid) {
  for (std::string_view payload :
       {R"([])", R"("x")", R"({"_pk": "0b7c4f0e-5d7a-4d3e-9a51-1f2e3d4c5b6a"})",
        R"({"_exp": 1798759800})", R"({"_pk": 5, "_exp": 1798759800})",
        R"({"_pk": "0b7c4f0e-5d7a-4d3e-9a51-1f2e3d4c5b6a", "_exp": true})",
        R"({"_pk": "0b7c4f0e-5d7a-4d3e-9a51-1f2e3d4c5b6a", "_exp": "1798759800"})",
        R"({"_pk": "0b7c4f0e-5d7a-4d3e-9a51-1f2e3d4c5b6a", "_exp": null})",
        R"({"_pk": "0b7c4f0e5d7a4d3e9a511f2e3d4c5b6a0", "_exp": 1798759800})", "not json"}) {
    expect_401(open_prowler_api_key(key_with(payload), test_key(), kNow), "Invalid API Key.");
  }
  expect_401(open_prowler_api_key("pk_ABCDEFGH", test_key(), kNow), "Invalid API Key.");
  expect_401(open_prowler_api_key("", test_key(), kNow), "Invalid API Key.");
  // Split at the FIRST '.': a prefix never contains one, so "a.b.c" is prefix "a", token "b.c".
  expect_401(open_prowler_api_key("pk_A.B." + test_key().encrypt("{}", 1), test_key(), kNow),
             "Invalid API Key.");
}

}  // namespace
}  // namespace herald::auth

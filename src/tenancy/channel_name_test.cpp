// Ports every channel case of the Prowler API's api/tests/test_sse.py (TestMakeChannel,
// TestTenantIdFromChannel), plus the stricter rules Herald adds (exactly three segments, no ':').
#include "tenancy/channel_name.hpp"

#include <gtest/gtest.h>

#include "core/uuid.hpp"

namespace herald::tenancy {

TEST(make_channel, round_trips_tenant_id) {
  auto tenant = random_uuid();
  auto ch = make_channel_name("lighthouse-session", tenant, random_uuid());
  ASSERT_TRUE(ch);
  EXPECT_EQ(tenant_id_from_channel(*ch), tenant);
}

TEST(make_channel, accepts_str_arguments) {
  auto tenant = random_uuid();
  auto ch = make_channel_name("lighthouse-session", tenant, "resource-1");
  ASSERT_TRUE(ch);
  EXPECT_EQ(*ch, "lighthouse-session:" + tenant + ":resource-1");
}

TEST(make_channel, prefix_with_hyphen_is_not_split) {
  auto tenant = random_uuid();
  auto ch = make_channel_name("a-long-hyphenated-prefix", tenant, "res");
  ASSERT_TRUE(ch);
  EXPECT_EQ(tenant_id_from_channel(*ch), tenant);
}

TEST(make_channel, refuses_colon_in_any_segment) {
  auto tenant = random_uuid();
  EXPECT_FALSE(make_channel_name("scan:progress", tenant, "r"));
  EXPECT_FALSE(make_channel_name("scan", tenant + ":x", "r"));
  auto bad = make_channel_name("scan", tenant, "a:b");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().code, errc::bad_request);
  EXPECT_NE(bad.err().message.find("resource_id"), std::string::npos);
}

TEST(make_channel, refuses_empty_segment) {
  auto tenant = random_uuid();
  EXPECT_FALSE(make_channel_name("", tenant, "r"));
  EXPECT_FALSE(make_channel_name("p", "", "r"));
  EXPECT_FALSE(make_channel_name("p", tenant, ""));
}

TEST(tenant_id_from_channel, returns_none_for_too_few_segments) {
  EXPECT_EQ(tenant_id_from_channel("prefix:only"), std::nullopt);
  EXPECT_EQ(tenant_id_from_channel("garbage"), std::nullopt);
}

TEST(tenant_id_from_channel, returns_none_for_non_uuid_tenant_segment) {
  EXPECT_EQ(tenant_id_from_channel("prefix:not-a-uuid:resource"), std::nullopt);
}

TEST(tenant_id_from_channel, parses_valid_channel) {
  auto tenant = random_uuid();
  EXPECT_EQ(tenant_id_from_channel("prefix:" + tenant + ":resource"), tenant);
}

TEST(tenant_id_from_channel, returns_none_for_four_segments) {
  // The Prowler API accepts `prefix:<uuid>:a:b` (len >= 3); Herald requires exactly three.
  auto tenant = random_uuid();
  EXPECT_EQ(tenant_id_from_channel("prefix:" + tenant + ":a:b"), std::nullopt);
}

TEST(tenant_id_from_channel, returns_none_for_empty_prefix_or_resource) {
  auto tenant = random_uuid();
  EXPECT_EQ(tenant_id_from_channel(":" + tenant + ":r"), std::nullopt);
  EXPECT_EQ(tenant_id_from_channel("p:" + tenant + ":"), std::nullopt);
}

TEST(tenant_id_from_channel, normalises_upper_case_uuid) {
  EXPECT_EQ(tenant_id_from_channel("p:12646005-9067-4D2A-A098-8BB378604362:r"),
            "12646005-9067-4d2a-a098-8bb378604362");
}

TEST(parse_channel_name, yields_all_parts) {
  auto tenant = random_uuid();
  auto p = parse_channel_name("scan-progress:" + tenant + ":42");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->prefix, "scan-progress");
  EXPECT_EQ(p->tenant_id, tenant);
  EXPECT_EQ(p->resource_id, "42");
}

TEST(is_channel_name, agrees_with_parse_channel_name) {
  const auto t = random_uuid();
  const std::string cases[] = {"scan:" + t + ":42",
                               "p:12646005-9067-4D2A-A098-8BB378604362:r",
                               "prefix:only",
                               "prefix:not-a-uuid:resource",
                               "prefix:" + t + ":a:b",
                               ":" + t + ":r",
                               "p:" + t + ":",
                               "p:" + t.substr(0, 35) + "g:r",
                               "p:" + t + ":" + std::string(300, 'r'),
                               ""};
  for (const auto& c : cases) EXPECT_EQ(is_channel_name(c), parse_channel_name(c).has_value()) << c;
  EXPECT_TRUE(is_channel_name(cases[0]));
  EXPECT_TRUE(is_channel_name(cases[1]));
  EXPECT_FALSE(is_channel_name(cases[8]));  // longer than 255 bytes
}

// Issue 15 item 6: UUIDs are case-insensitive but channels match byte for byte, so every
// channel name has one canonical spelling, and every path that builds or parses one yields it.
TEST(canonical_channel_name, lower_cases_the_tenant_and_a_uuid_resource_only) {
  const std::string upper_tenant = "12646005-9067-4D2A-A098-8BB378604362";
  const std::string lower_tenant = "12646005-9067-4d2a-a098-8bb378604362";
  const std::string upper_scan = "0191E3A1-6C1E-7A3B-9F00-00000000000A";
  const std::string lower_scan = "0191e3a1-6c1e-7a3b-9f00-00000000000a";
  EXPECT_EQ(canonical_channel_name("Scan-Progress:" + upper_tenant + ":" + upper_scan),
            "Scan-Progress:" + lower_tenant + ":" + lower_scan);
  // A resource id that is not a UUID is an opaque string: its case is kept.
  EXPECT_EQ(canonical_channel_name("p:" + upper_tenant + ":Job-ABC"),
            "p:" + lower_tenant + ":Job-ABC");
  EXPECT_EQ(canonical_channel_name("p:" + lower_tenant + ":r"), "p:" + lower_tenant + ":r");
  EXPECT_EQ(canonical_channel_name("p:not-a-uuid:r"), std::nullopt);
  EXPECT_EQ(canonical_channel_name("p:" + upper_tenant + ":a:b"), std::nullopt);
}

TEST(canonical_channel_name, in_place_form_leaves_a_refused_name_unchanged) {
  std::string ok = "p:12646005-9067-4D2A-A098-8BB378604362:r";
  EXPECT_TRUE(canonicalize_channel_name(ok));
  EXPECT_EQ(ok, "p:12646005-9067-4d2a-a098-8bb378604362:r");
  std::string bad = "p:12646005-9067-4D2A-A098-8BB37860436Z:r";
  EXPECT_FALSE(canonicalize_channel_name(bad));
  EXPECT_EQ(bad, "p:12646005-9067-4D2A-A098-8BB37860436Z:r");
}

TEST(canonical_channel_name, make_and_parse_yield_the_canonical_form) {
  const std::string upper_tenant = "12646005-9067-4D2A-A098-8BB378604362";
  const std::string upper_scan = "0191E3A1-6C1E-7A3B-9F00-00000000000A";
  auto made = make_channel_name("scan", upper_tenant, upper_scan);
  ASSERT_TRUE(made);
  EXPECT_EQ(*made, canonical_channel_name(*made));
  EXPECT_EQ(*made,
            "scan:12646005-9067-4d2a-a098-8bb378604362:0191e3a1-6c1e-7a3b-9f00-00000000000a");
  auto parts = parse_channel_name("scan:" + upper_tenant + ":" + upper_scan);
  ASSERT_TRUE(parts);
  auto again = make_channel_name(parts->prefix, parts->tenant_id, parts->resource_id);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *made);
}

}  // namespace herald::tenancy

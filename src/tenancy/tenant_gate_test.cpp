// Ports every case of the Prowler API's TestSSEChannelManager that concerns the gate, plus connect
// rules. (get_channels_for_request / is_channel_reliable have no counterpart: endpoints return
// channels directly, and Herald never replays, see docs/reconnects.md.)
#include "tenancy/tenant_gate.hpp"

#include <gtest/gtest.h>

#include <set>

#include "core/uuid.hpp"
#include "tenancy/channel_name.hpp"

namespace herald::tenancy {
namespace {

struct fixture : ::testing::Test {
  std::string user = random_uuid();
  std::string t1 = random_uuid(), t2 = random_uuid(), t3 = random_uuid();
  std::set<std::pair<std::string, std::string>> memberships{{user, t1}, {user, t2}};
  int lookups = 0;
  tenant_gate gate{[this](std::string_view u, std::string_view t) -> result<bool> {
    ++lookups;
    return memberships.contains({std::string(u), std::string(t)});
  }};
  principal caller(const std::string& tenant) {
    principal p;
    p.kind = credential_kind::jwt;
    p.user_id = user;
    p.tenant_id = tenant;
    return p;
  }
  std::string channel(const std::string& tenant) {
    return *make_channel_name("lighthouse-session", tenant, random_uuid());
  }
};

TEST_F(fixture, member_can_read_own_tenant_channel) {
  auto p = caller(t1);
  EXPECT_TRUE(gate.can_read_channel(&p, channel(t1)));
}

TEST_F(fixture, non_member_cannot_read_other_tenant_channel) {
  // The user is a member of t1 and t2 but not t3.
  auto p = caller(t1);
  EXPECT_FALSE(gate.can_read_channel(&p, channel(t3)));
}

TEST_F(fixture, anonymous_user_is_rejected) {
  EXPECT_FALSE(gate.can_read_channel(nullptr, channel(t1)));
  principal anon;
  EXPECT_FALSE(gate.can_read_channel(&anon, channel(t1)));
}

TEST_F(fixture, malformed_channel_is_rejected) {
  auto p = caller(t1);
  EXPECT_FALSE(gate.can_read_channel(&p, "garbage"));
}

TEST_F(fixture, store_failure_fails_closed) {
  tenant_gate failing{[](std::string_view, std::string_view) -> result<bool> {
    return make_error(errc::unavailable, "db down");
  }};
  auto p = caller(t1);
  EXPECT_FALSE(failing.can_read_channel(&p, channel(t1)));
  auto r = failing.check_connect(&p, {channel(t1)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unavailable);
}

TEST_F(fixture, connect_refuses_cross_tenant_channel_even_for_a_member) {
  // The caller is a member of t2 too, but its token is scoped to t1.
  auto p = caller(t1);
  auto r = gate.check_connect(&p, {channel(t1), channel(t2)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::forbidden);
}

TEST_F(fixture, connect_requires_membership) {
  auto p = caller(t3);  // token claims t3, but there is no membership row
  auto r = gate.check_connect(&p, {channel(t3)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::forbidden);
}

TEST_F(fixture, connect_refuses_anonymous_with_401) {
  auto r = gate.check_connect(nullptr, {channel(t1)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unauthenticated);
}

TEST_F(fixture, connect_refuses_malformed_channel) {
  auto p = caller(t1);
  auto r = gate.check_connect(&p, {"garbage"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::forbidden);
}

TEST_F(fixture, empty_channel_set_is_a_server_error_not_an_empty_stream) {
  auto p = caller(t1);
  auto r = gate.check_connect(&p, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::internal);
}

TEST_F(fixture, connect_accepts_member_and_queries_once_per_tenant) {
  auto p = caller(t1);
  auto r = gate.check_connect(&p, {channel(t1), channel(t1), channel(t1)});
  EXPECT_TRUE(r);
  EXPECT_EQ(lookups, 1);
}

}  // namespace
}  // namespace herald::tenancy

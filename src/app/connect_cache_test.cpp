// The connect cache's keys and bounds: what a confirmation covers, and what it must not.
#include "app/connect_cache.hpp"

#include <gtest/gtest.h>

namespace herald::app {
namespace {

principal caller(std::string user, std::string tenant, std::string stamp = "") {
  principal p;
  p.kind = credential_kind::jwt;
  p.user_id = std::move(user);
  p.tenant_id = std::move(tenant);
  p.password_stamp = std::move(stamp);
  return p;
}

TEST(connect_cache, a_caller_is_fresh_for_the_ttl_only) {
  connect_cache c(5);
  const auto p = caller("u1", "t1");
  EXPECT_FALSE(c.caller_fresh(p, 100));
  c.confirm_caller(p, 100);
  EXPECT_TRUE(c.caller_fresh(p, 100));
  EXPECT_TRUE(c.caller_fresh(p, 104));
  EXPECT_FALSE(c.caller_fresh(p, 105));
  EXPECT_FALSE(c.caller_fresh(caller("u1", "t2"), 100));  // another tenant
  EXPECT_FALSE(c.caller_fresh(caller("u2", "t1"), 100));  // another user
}

TEST(connect_cache, a_token_from_before_a_password_change_does_not_ride_the_cache) {
  connect_cache c(60);
  c.confirm_caller(caller("u1", "t1", "NEWSTAMP"), 100);
  EXPECT_TRUE(c.caller_fresh(caller("u1", "t1", "NEWSTAMP"), 101));
  EXPECT_FALSE(c.caller_fresh(caller("u1", "t1", "OLDSTAMP"), 101));
  EXPECT_FALSE(c.caller_fresh(caller("u1", "t1"), 101));
}

TEST(connect_cache, resources_are_per_endpoint_tenant_and_parameters) {
  connect_cache c(5);
  const path_params scan1{{"scan_pk", "s1"}};
  const path_params scan2{{"scan_pk", "s2"}};
  const auto alice = caller("alice", "t1"), bob = caller("bob", "t1"), eve = caller("eve", "t2");
  c.confirm_resource(1, alice, false, scan1, 100);
  EXPECT_TRUE(c.resource_fresh(1, alice, false, scan1, 101));
  EXPECT_TRUE(c.resource_fresh(1, bob, false, scan1, 101));   // same tenant, user not bound
  EXPECT_FALSE(c.resource_fresh(1, eve, false, scan1, 101));  // another tenant
  EXPECT_FALSE(c.resource_fresh(1, alice, false, scan2, 101));
  EXPECT_FALSE(c.resource_fresh(2, alice, false, scan1, 101));  // another endpoint
  EXPECT_FALSE(c.resource_fresh(1, alice, false, scan1, 105));
  // A lookup that binds :user_id answers per user.
  c.confirm_resource(3, alice, true, scan1, 100);
  EXPECT_TRUE(c.resource_fresh(3, alice, true, scan1, 101));
  EXPECT_FALSE(c.resource_fresh(3, bob, true, scan1, 101));
  // A parameter value cannot pose as another parameter's name.
  c.confirm_resource(4, alice, false, {{"a", "b"}, {"c", "d"}}, 100);
  EXPECT_FALSE(c.resource_fresh(4, alice, false, {{"a", "b=c"}}, 101));
}

TEST(connect_cache, disabled_keeps_nothing) {
  connect_cache c(0);
  EXPECT_FALSE(c.enabled());
  const auto p = caller("u1", "t1");
  c.confirm_caller(p, 100);
  c.confirm_resource(1, p, false, {}, 100);
  EXPECT_FALSE(c.caller_fresh(p, 100));
  EXPECT_FALSE(c.resource_fresh(1, p, false, {}, 100));
}

TEST(connect_cache, bounded_expired_entries_go_first_then_everything) {
  connect_cache c(10, 3);
  c.confirm_caller(caller("a", "t"), 100);  // expires at 110
  c.confirm_caller(caller("b", "t"), 105);
  c.confirm_caller(caller("c", "t"), 105);
  c.confirm_caller(caller("d", "t"), 111);  // full: "a" has expired and makes room
  EXPECT_TRUE(c.caller_fresh(caller("b", "t"), 111));
  EXPECT_TRUE(c.caller_fresh(caller("d", "t"), 111));
  c.confirm_caller(caller("e", "t"), 111);  // full of fresh entries: starts over
  EXPECT_FALSE(c.caller_fresh(caller("b", "t"), 111));
  EXPECT_TRUE(c.caller_fresh(caller("e", "t"), 111));
}

}  // namespace
}  // namespace herald::app

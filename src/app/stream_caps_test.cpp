#include "app/stream_caps.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace herald::app {
namespace {

using slot = stream_caps::slot;

slot take(stream_caps& caps, std::string_view user, std::string_view tenant) {
  auto r = caps.admit(user, tenant);
  return std::holds_alternative<slot>(r) ? std::get<slot>(r) : nullptr;
}

limit_reason refusal(stream_caps& caps, std::string_view user, std::string_view tenant) {
  auto r = caps.admit(user, tenant);
  EXPECT_TRUE(std::holds_alternative<limit_reason>(r));
  return std::holds_alternative<limit_reason>(r) ? std::get<limit_reason>(r)
                                                 : limit_reason::connect_rate;
}

TEST(stream_caps, a_user_at_its_cap_does_not_stop_another_user) {
  stream_caps caps({.max_streams_per_user = 2});
  auto a1 = take(caps, "alice", "t1"), a2 = take(caps, "alice", "t2");
  ASSERT_TRUE(a1 && a2);
  EXPECT_EQ(refusal(caps, "alice", "t1"), limit_reason::per_user);
  EXPECT_TRUE(take(caps, "bob", "t1"));
  a1.reset();  // one of alice's streams ends: she may open one again
  EXPECT_TRUE(take(caps, "alice", "t1"));
}

TEST(stream_caps, a_tenant_at_its_cap_does_not_stop_another_tenant) {
  stream_caps caps({.max_streams_per_tenant = 3});
  std::vector<slot> held;
  for (const char* u : {"u1", "u2", "u3"}) held.push_back(take(caps, u, "t1"));
  EXPECT_EQ(refusal(caps, "u4", "t1"), limit_reason::per_tenant);
  EXPECT_EQ(caps.open_for_tenant("t1"), 3u);
  auto other = take(caps, "u4", "t2");
  EXPECT_TRUE(other);
  EXPECT_EQ(caps.open_for_tenant("t2"), 1u);
}

TEST(stream_caps, the_total_cap_counts_every_tenant_and_a_refusal_holds_nothing) {
  stream_caps caps({.max_streams = 2, .max_streams_per_tenant = 5, .max_streams_per_user = 5});
  auto a = take(caps, "u1", "t1"), b = take(caps, "u2", "t2");
  EXPECT_EQ(refusal(caps, "u3", "t3"), limit_reason::total);
  EXPECT_EQ(caps.open_total(), 2u);
  EXPECT_EQ(caps.open_for_tenant("t3"), 0u);
  EXPECT_EQ(caps.open_for_user("u3"), 0u);
  // A per-user refusal gives back the tenant and total slots it had taken.
  stream_caps per_user(
      {.max_streams = 10, .max_streams_per_tenant = 10, .max_streams_per_user = 1});
  auto c = take(per_user, "u1", "t1");
  EXPECT_EQ(refusal(per_user, "u1", "t1"), limit_reason::per_user);
  EXPECT_EQ(per_user.open_for_tenant("t1"), 1u);
  EXPECT_EQ(per_user.open_total(), 1u);
}

TEST(stream_caps, without_caps_only_the_total_is_counted) {
  stream_caps caps({});
  EXPECT_FALSE(caps.enabled());
  auto a = take(caps, "u", "t");
  EXPECT_TRUE(a);
  EXPECT_EQ(caps.open_total(), 1u);
  EXPECT_EQ(caps.tracked_keys(), 0u);
  a.reset();
  EXPECT_EQ(caps.open_total(), 0u);
}

// Exact across threads: many threads admit and release at once; no count ever passes its cap, and
// when every slot is gone every count is 0 and the tables are empty (nothing leaks).
TEST(stream_caps, counts_are_exact_under_concurrent_churn) {
  stream_caps caps({.max_streams = 40, .max_streams_per_tenant = 12, .max_streams_per_user = 3});
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      std::vector<slot> mine;
      for (int i = 0; i < 4000; ++i) {
        const std::string tenant = "t" + std::to_string((t + i) % 4);
        const std::string user = "u" + std::to_string(i % 7);
        if (auto s = take(caps, user, tenant)) mine.push_back(std::move(s));
        if (caps.open_total() > 40 || caps.open_for_tenant(tenant) > 12 ||
            caps.open_for_user(user) > 3)
          over = true;
        if (mine.size() > 5 || (i % 3 == 0 && !mine.empty())) mine.erase(mine.begin());
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_FALSE(over.load());
  EXPECT_EQ(caps.open_total(), 0u);
  EXPECT_EQ(caps.tracked_keys(), 0u);
}

}  // namespace
}  // namespace herald::app

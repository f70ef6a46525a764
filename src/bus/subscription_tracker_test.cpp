#include "bus/subscription_tracker.hpp"

#include <gtest/gtest.h>

namespace herald::bus {

TEST(subscription_tracker, add_and_remove_are_idempotent) {
  subscription_tracker t;
  EXPECT_TRUE(t.add("a"));
  EXPECT_FALSE(t.add("a"));
  EXPECT_TRUE(t.contains("a"));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.remove("a"));
  EXPECT_FALSE(t.remove("a"));
  EXPECT_FALSE(t.contains("a"));
  EXPECT_EQ(t.size(), 0u);
}

TEST(subscription_tracker, reconcile_after_reconnect_subscribes_everything) {
  subscription_tracker t;
  t.add("c");
  t.add("a");
  t.add("b");
  auto d = subscription_tracker::reconcile(t.channels(), {});
  EXPECT_EQ(d.subscribe, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(d.unsubscribe.empty());
}

TEST(subscription_tracker, reconcile_sends_only_the_difference) {
  channel_set desired{"a", "b", "d"};
  channel_set current{"b", "c", "d", "e"};
  auto d = subscription_tracker::reconcile(desired, current);
  EXPECT_EQ(d.subscribe, (std::vector<std::string>{"a"}));
  EXPECT_EQ(d.unsubscribe, (std::vector<std::string>{"c", "e"}));
}

TEST(subscription_tracker, reconcile_of_equal_sets_is_empty) {
  channel_set s{"x", "y"};
  auto d = subscription_tracker::reconcile(s, s);
  EXPECT_TRUE(d.subscribe.empty());
  EXPECT_TRUE(d.unsubscribe.empty());
}

TEST(subscription_tracker, batches_split_long_lists) {
  std::vector<std::string> chans;
  chans.reserve(7);
  for (int i = 0; i < 7; ++i) chans.push_back("c" + std::to_string(i));
  auto b = subscription_tracker::batches(chans, 3);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].size(), 3u);
  EXPECT_EQ(b[1].size(), 3u);
  EXPECT_EQ(b[2], (std::vector<std::string>{"c6"}));
  EXPECT_TRUE(subscription_tracker::batches({}, 3).empty());
}

}  // namespace herald::bus

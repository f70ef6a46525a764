// The in-process log of reliable channels: positions, the count and age limits, epochs, forgetting.
#include "bus/channel_log.hpp"

#include <gtest/gtest.h>

namespace herald::bus {
namespace {

using namespace std::chrono_literals;
using clock = channel_log::clock;

sse::frame frame_of(std::uint64_t seq) {
  return std::make_shared<const std::string>("f" + std::to_string(seq));
}

struct fixed_epochs {
  std::uint64_t next = 1'000'000;
  channel_log::epoch_source source() {
    return [this] { return next; };
  }
};

TEST(channel_log, positions_are_consecutive_from_the_epoch) {
  fixed_epochs ep;
  channel_log log(10, 1h, ep.source());
  const auto t = clock::now();
  auto head = log.read("a:t:r", std::nullopt, 10, t);
  EXPECT_EQ(head.head, 1'000'000u);
  EXPECT_EQ(head.epoch, 1'000'000u);
  EXPECT_EQ(head.floor, 1'000'000u);
  EXPECT_EQ(log.append("a:t:r", t, frame_of), 1'000'001u);
  EXPECT_EQ(log.append("a:t:r", t, frame_of), 1'000'002u);
  auto r = log.read("a:t:r", 1'000'000u, 10, t);
  EXPECT_FALSE(r.reset);
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].seq, 1'000'001u);
  EXPECT_EQ(*r.entries[1].f, "f1000002");
  EXPECT_TRUE(log.read("a:t:r", 1'000'002u, 10, t).entries.empty());  // up to date
  EXPECT_EQ(log.read("a:t:r", 1'000'001u, 1, t).entries.size(), 1u);  // limit
}

TEST(channel_log, count_limit_moves_the_floor_and_older_positions_reset) {
  fixed_epochs ep;
  channel_log log(3, 1h, ep.source());
  const auto t = clock::now();
  for (int i = 0; i < 5; ++i) log.append("a:t:r", t, frame_of);  // 1000001..1000005, keeps 3..5
  auto r = log.read("a:t:r", 1'000'002u, 10, t);
  EXPECT_EQ(r.floor, 1'000'002u);
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0].seq, 1'000'003u);
  EXPECT_TRUE(log.read("a:t:r", 1'000'001u, 10, t).reset);
  EXPECT_TRUE(log.read("a:t:r", 1'000'006u, 10, t).reset);  // ahead of the head
  EXPECT_TRUE(log.read("a:t:r", 0u, 10, t).reset);          // django-eventstream's "from 0"
}

TEST(channel_log, age_limit_drops_old_events) {
  fixed_epochs ep;
  channel_log log(100, 10s, ep.source());
  const auto t = clock::now();
  log.append("a:t:r", t, frame_of);
  log.append("a:t:r", t + 5s, frame_of);
  auto r = log.read("a:t:r", 1'000'000u, 10, t + 12s);  // the first is 12 s old
  EXPECT_TRUE(r.reset);
  EXPECT_EQ(r.floor, 1'000'001u);
  r = log.read("a:t:r", 1'000'001u, 10, t + 12s);
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].seq, 1'000'002u);
  r = log.read("a:t:r", 1'000'002u, 10, t + 16s);  // all expired: nothing kept, head stays
  EXPECT_FALSE(r.reset);
  EXPECT_EQ(r.floor, r.head);
}

TEST(channel_log, idle_channels_are_forgotten_and_restart_above_every_old_position) {
  fixed_epochs ep;
  channel_log log(100, 10s, ep.source());
  const auto t = clock::now();
  log.append("a:t:old", t, frame_of);
  for (int i = 0; i < 3; ++i) log.append("a:t:busy", t, frame_of);
  EXPECT_EQ(log.channel_count(), 2u);
  log.append("a:t:busy", t + 11s, frame_of);  // "old" idle for 11 s: forgotten
  EXPECT_EQ(log.channel_count(), 1u);
  // The epoch source has not moved (a clock step back): the new epoch still starts above
  // everything handed out.
  auto r = log.read("a:t:old", std::nullopt, 10, t + 11s);
  EXPECT_GT(r.epoch, 1'000'004u);
  EXPECT_TRUE(log.read("a:t:old", 1'000'001u, 10, t + 11s).reset);
  ep.next = 9'000'000;
  EXPECT_EQ(log.read("a:t:new", std::nullopt, 10, t + 11s).epoch, 9'000'000u);
}

TEST(channel_log, wall_clock_epochs_are_microseconds) {
  // 2024-01-01 in microseconds; positions stay below 2^53 (exact in doubles, Lua and JavaScript).
  const auto now = channel_log::wall_clock_micros();
  EXPECT_GT(now, 1'704'067'200'000'000u);
  EXPECT_LT(now, std::uint64_t{1} << 53);
}

}  // namespace
}  // namespace herald::bus

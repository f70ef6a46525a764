#include "app/connect_rate.hpp"

#include <gtest/gtest.h>

namespace herald::app {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::ip::address ip(const char* s) { return asio::ip::make_address(s); }

TEST(connect_rate, a_burst_then_the_rate_and_the_retry_after_until_the_next_token) {
  connect_rate rate(2, 3);  // 2 a second, 3 at once
  const auto t0 = connect_rate::clock::time_point{} + 1000s;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rate.take(ip("198.51.100.1"), t0)) << i;
  std::chrono::seconds wait{};
  EXPECT_FALSE(rate.take(ip("198.51.100.1"), t0, &wait));
  EXPECT_EQ(wait, 1s);
  // Half a second later one token has come back, and only one.
  EXPECT_TRUE(rate.take(ip("198.51.100.1"), t0 + 500ms));
  EXPECT_FALSE(rate.take(ip("198.51.100.1"), t0 + 500ms));
  // Idle for long: the bucket refills to its size, not beyond.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rate.take(ip("198.51.100.1"), t0 + 60s)) << i;
  EXPECT_FALSE(rate.take(ip("198.51.100.1"), t0 + 60s));
}

TEST(connect_rate, one_address_at_its_limit_does_not_stop_another) {
  connect_rate rate(1, 1);
  const auto t0 = connect_rate::clock::time_point{} + 1000s;
  EXPECT_TRUE(rate.take(ip("198.51.100.1"), t0));
  EXPECT_FALSE(rate.take(ip("198.51.100.1"), t0));
  EXPECT_TRUE(rate.take(ip("198.51.100.2"), t0));
  EXPECT_TRUE(rate.take(ip("2001:db8::1"), t0));
  // An IPv4 client over a dual-stack socket is the same client.
  EXPECT_FALSE(rate.take(ip("::ffff:198.51.100.1"), t0));
}

TEST(connect_rate, ipv6_addresses_of_one_slash_64_share_a_bucket) {
  connect_rate rate(1, 2);
  const auto t0 = connect_rate::clock::time_point{} + 1000s;
  EXPECT_TRUE(rate.take(ip("2001:db8:0:1::1"), t0));
  EXPECT_TRUE(rate.take(ip("2001:db8:0:1:ffff::2"), t0));
  EXPECT_FALSE(rate.take(ip("2001:db8:0:1::3"), t0));
  EXPECT_TRUE(rate.take(ip("2001:db8:0:2::1"), t0));  // the next /64
}

TEST(connect_rate, a_slow_wait_is_rounded_up_to_whole_seconds) {
  const auto t0 = connect_rate::clock::time_point{} + 1000s;
  connect_rate slow(1, 1);
  EXPECT_TRUE(slow.take(ip("198.51.100.1"), t0));
  std::chrono::seconds wait{};
  EXPECT_FALSE(slow.take(ip("198.51.100.1"), t0 + 100ms, &wait));
  EXPECT_EQ(wait, 1s);
}

TEST(connect_rate, memory_is_bounded_and_the_least_recently_seen_address_goes_first) {
  connect_rate rate(1, 1, 64);  // 4 addresses per stripe
  const auto t0 = connect_rate::clock::time_point{} + 1000s;
  for (std::uint32_t i = 0; i < 10'000; ++i)
    rate.take(asio::ip::address_v4(0x0a000000u + i), t0 + std::chrono::milliseconds(i));
  EXPECT_LE(rate.tracked_addresses(), 64u);
  // A client seen just now is still remembered (and still limited)...
  EXPECT_FALSE(rate.take(asio::ip::address_v4(0x0a000000u + 9'999), t0 + 9'999ms));
  // ... one pushed out long ago starts afresh (fail open), never locked out.
  EXPECT_TRUE(rate.take(asio::ip::address_v4(0x0a000000u), t0 + 9'999ms));
}

TEST(connect_rate, disabled_takes_everything) {
  connect_rate rate(0, 1);
  EXPECT_FALSE(rate.enabled());
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(rate.take(ip("198.51.100.1"), {}));
  EXPECT_EQ(rate.tracked_addresses(), 0u);
}

}  // namespace
}  // namespace herald::app

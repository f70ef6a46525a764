#include "bus/backoff.hpp"

#include <gtest/gtest.h>

namespace herald::bus {
using std::chrono::milliseconds;

TEST(backoff, first_delay_is_the_minimum) {
  backoff b(milliseconds(100), milliseconds(5000), 1);
  EXPECT_EQ(b.next(), milliseconds(100));
  EXPECT_EQ(b.attempts(), 1u);
}

TEST(backoff, ceiling_doubles_up_to_the_maximum) {
  backoff b(milliseconds(100), milliseconds(1000), 7);
  const long long expected[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (long long e : expected) {
    EXPECT_EQ(b.ceiling().count(), e);
    auto d = b.next();
    EXPECT_GE(d.count(), 100);
    EXPECT_LE(d.count(), e);
  }
}

TEST(backoff, delays_are_jittered_across_the_whole_range) {
  backoff b(milliseconds(10), milliseconds(10000), 42);
  for (int i = 0; i < 20; ++i) (void)b.next();  // reach the cap
  milliseconds::rep lo = 1 << 30, hi = 0;
  for (int i = 0; i < 2000; ++i) {
    auto d = b.next().count();
    ASSERT_GE(d, 10);
    ASSERT_LE(d, 10000);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  // Full jitter: draws cover most of [min, max], not a narrow band around the ceiling.
  EXPECT_LT(lo, 1000);
  EXPECT_GT(hi, 9000);
}

TEST(backoff, reset_starts_over) {
  backoff b(milliseconds(50), milliseconds(800), 3);
  for (int i = 0; i < 10; ++i) (void)b.next();
  EXPECT_EQ(b.ceiling(), milliseconds(800));
  b.reset();
  EXPECT_EQ(b.attempts(), 0u);
  EXPECT_EQ(b.next(), milliseconds(50));
}

TEST(backoff, many_attempts_do_not_overflow) {
  backoff b(milliseconds(100), milliseconds(5000), 9);
  for (int i = 0; i < 1000; ++i) {
    auto d = b.next();
    ASSERT_GE(d.count(), 100);
    ASSERT_LE(d.count(), 5000);
  }
}

TEST(backoff, same_seed_same_sequence) {
  backoff a(milliseconds(100), milliseconds(5000), 11),
      b(milliseconds(100), milliseconds(5000), 11);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.next(), b.next());
}

}  // namespace herald::bus

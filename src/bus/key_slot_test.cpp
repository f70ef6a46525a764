#include "bus/key_slot.hpp"

#include <gtest/gtest.h>

namespace herald::bus {

TEST(crc16, matches_the_xmodem_check_value) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(crc16(""), 0);
}

// Expected values taken from `CLUSTER KEYSLOT` on redis-server 7.0.15.
TEST(key_slot, matches_redis_cluster_keyslot) {
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("hello"), 866);
  EXPECT_EQ(key_slot("somekey"), 11058);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(key_slot, hashes_only_the_first_non_empty_tag) {
  EXPECT_EQ(key_slot("{user1000}.following"), 3443);
  EXPECT_EQ(key_slot("{user1000}.followers"), 3443);
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), 5061);
  EXPECT_EQ(key_slot("foo{{bar}}zap"), 4015);  // tag is "{bar"
  EXPECT_EQ(key_slot("foo{}{bar}"), 8363);     // empty first tag: the whole key is hashed
  EXPECT_EQ(key_slot("{}"), 15257);
  EXPECT_EQ(key_slot("herald:{x}:y"), 16287);
  EXPECT_EQ(key_slot("herald:{x}:y"), key_slot("x"));
}

TEST(key_slot, is_always_below_16384) {
  for (int i = 0; i < 5000; ++i) EXPECT_LT(key_slot("k" + std::to_string(i)), kClusterSlotCount);
}

}  // namespace herald::bus

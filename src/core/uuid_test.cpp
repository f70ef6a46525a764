#include "core/uuid.hpp"

#include <gtest/gtest.h>

namespace herald {
TEST(uuid, canonical_form_is_accepted_and_lowercased) {
  EXPECT_EQ(parse_uuid("12646005-9067-4D2A-A098-8BB378604362"),
            "12646005-9067-4d2a-a098-8bb378604362");
}
TEST(uuid, other_forms_are_refused) {
  EXPECT_FALSE(is_uuid("126460059067-4d2a-a098-8bb378604362-"));
  EXPECT_FALSE(is_uuid("1264600590674d2aa0988bb378604362"));
  EXPECT_FALSE(is_uuid("{12646005-9067-4d2a-a098-8bb378604362}"));
  EXPECT_FALSE(is_uuid("not-a-uuid"));
  EXPECT_FALSE(is_uuid(""));
  EXPECT_FALSE(is_uuid("12646005-9067-4d2a-a098-8bb37860436g"));
}
TEST(uuid, random_is_v4_and_parses) {
  auto u = random_uuid();
  EXPECT_TRUE(is_uuid(u));
  EXPECT_EQ(u[14], '4');
  EXPECT_NE(u, random_uuid());
}
}  // namespace herald

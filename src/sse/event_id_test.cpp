// django-eventstream's composite ids (utils.make_id / parse_last_event_id), with the values
// Python's urllib.parse.quote / unquote give for the same inputs.
#include "sse/event_id.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace herald::sse {

TEST(event_id, quote_is_urllib_quote_with_safe_slash) {
  EXPECT_EQ(quote_channel("scan-progress:12646005-9067-4d2a-a098-8bb378604362:0191e3a1"),
            "scan-progress%3A12646005-9067-4d2a-a098-8bb378604362%3A0191e3a1");
  EXPECT_EQ(quote_channel("a:b"), "a%3Ab");
  EXPECT_EQ(quote_channel("a/b c,d"), "a/b%20c%2Cd");
  EXPECT_EQ(quote_channel("x~y_z.w-1"), "x~y_z.w-1");
  EXPECT_EQ(quote_channel("\xc3\xa9\xe2\x82\xac"), "%C3%A9%E2%82%AC");
  EXPECT_EQ(quote_channel("%41"), "%2541");
  EXPECT_EQ(quote_channel(std::string("a\0b", 3)), "a%00b");
}

TEST(event_id, unquote_is_urllib_unquote) {
  EXPECT_EQ(unquote_channel("a%3Ab"), "a:b");
  EXPECT_EQ(unquote_channel("%41%4a%4A"), "AJJ");
  EXPECT_EQ(unquote_channel("%"), "%");
  EXPECT_EQ(unquote_channel("%4"), "%4");
  EXPECT_EQ(unquote_channel("%zz"), "%zz");
  EXPECT_EQ(unquote_channel("a%2"), "a%2");
  EXPECT_EQ(unquote_channel("%E2%82%AC"), "\xe2\x82\xac");
  EXPECT_EQ(unquote_channel("%25"), "%");
  for (std::string c : {"scan-progress:t:r", "a b,c:d/e", "%%41", "\xff\x01"})
    EXPECT_EQ(unquote_channel(quote_channel(c)), c);
}

TEST(event_id, make_id) {
  EXPECT_EQ(single_event_id("a:b", 1), "a%3Ab:1");
  const channel_position two[] = {{"room-1", 38}, {"alerts", 7}};
  EXPECT_EQ(format_event_id(two), "room-1:38,alerts:7");
  EXPECT_EQ(format_event_id({}), "");
  const channel_position big[] = {{"p:t:r", std::numeric_limits<std::uint64_t>::max()}};
  EXPECT_EQ(format_event_id(big), "p%3At%3Ar:18446744073709551615");
}

TEST(event_id, parse_splits_and_unquotes) {
  auto p = parse_last_event_id("room-1:38,a%3Ab:7");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].channel, "room-1");
  EXPECT_EQ((*p)[0].value, "38");
  EXPECT_EQ((*p)[1].channel, "a:b");
  EXPECT_EQ((*p)[1].value, "7");
}

TEST(event_id, parse_later_part_for_a_channel_wins) {
  auto p = parse_last_event_id("x:1,y:2,x:3");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].channel, "x");
  EXPECT_EQ((*p)[0].value, "3");
  EXPECT_EQ((*p)[1].channel, "y");
  EXPECT_EQ((*p)[1].value, "2");
}

TEST(event_id, parse_keeps_first_appearance_order_over_many_channels) {
  std::string id;
  for (int i = 0; i < 1500; ++i) id += "c" + std::to_string(i) + ":1,";
  id += "c7:9";
  ASSERT_LE(id.size(), kMaxLastEventIdBytes);
  auto p = parse_last_event_id(id);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 1500u);
  EXPECT_EQ((*p)[1499].channel, "c1499");
  EXPECT_EQ((*p)[7].channel, "c7");
  EXPECT_EQ((*p)[7].value, "9");
}

TEST(event_id, parse_refuses_what_python_split_refuses) {
  // part.split(":") must give exactly two pieces.
  for (std::string_view bad : {"", "7", "a:b:c", "a:1,", ",a:1", "a:1,,b:2", "a:b:1,c:2", ":::"})
    EXPECT_FALSE(parse_last_event_id(bad)) << bad;
  EXPECT_EQ(parse_last_event_id("7").err().code, errc::bad_request);
  // Empty pieces still split in two: accepted here; the value is judged by parse_position.
  auto p = parse_last_event_id(":");
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)[0].channel, "");
  EXPECT_EQ((*p)[0].value, "");
  EXPECT_FALSE(parse_last_event_id(std::string(kMaxLastEventIdBytes + 1, 'a')));
}

TEST(event_id, parse_round_trips_make_id) {
  const channel_position ids[] = {{"scan-progress:12646005-9067-4d2a-a098-8bb378604362:r", 5},
                                  {"a,b:c d", 9}};
  auto p = parse_last_event_id(format_event_id(ids));
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].channel, ids[0].channel);
  EXPECT_EQ((*p)[1].channel, ids[1].channel);
  EXPECT_EQ(parse_position((*p)[1].value), 9u);
}

TEST(event_id, position_is_python_int) {
  EXPECT_EQ(parse_position("38"), 38u);
  EXPECT_EQ(parse_position(" +1_000 \t"), 1000u);
  EXPECT_EQ(parse_position("007"), 7u);
  EXPECT_EQ(parse_position("-5"), 0u);  // before any event
  EXPECT_EQ(parse_position("-0"), 0u);
  EXPECT_EQ(parse_position("99999999999999999999999"), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(parse_position("18446744073709551615"), std::numeric_limits<std::uint64_t>::max());
  for (std::string_view bad : {"", " ", "+", "abc", "1a", "1__0", "_1", "1_", "0x10", "1.0", "1e3"})
    EXPECT_FALSE(parse_position(bad)) << bad;
}

}  // namespace herald::sse

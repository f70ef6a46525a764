// The Valkey log of reliable channels without a server: key slots, command bytes, reply parsing.
// (redis_bus_integration_test runs the scripts on a real redis-server.)
#include "bus/stream_log.hpp"

#include <gtest/gtest.h>

#include "bus/key_slot.hpp"
#include "bus/resp.hpp"

namespace herald::bus::stream_log {
namespace {

resp::reply_ptr parse_one(std::string_view bytes) {
  resp::reader r;
  EXPECT_TRUE(r.feed(bytes.data(), bytes.size()));
  auto out = r.next();
  EXPECT_TRUE(out);
  return out ? std::move(*out) : resp::reply_ptr();
}

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

const std::string kChannel = "scan-progress:12646005-9067-4d2a-a098-8bb378604362:r1";

TEST(stream_log, keys_share_the_pubsub_channels_slot) {
  for (const std::string& p :
       {"herald:" + kChannel, std::string("herald:p:t:x{tag}y"), std::string("x")}) {
    auto k = keys_for(p, true);
    ASSERT_TRUE(k) << p;
    EXPECT_EQ(key_slot(k->seq), key_slot(p)) << p;
    EXPECT_EQ(key_slot(k->log), key_slot(p)) << p;
    EXPECT_NE(k->seq, k->log);
  }
  auto k = keys_for("herald:" + kChannel, true);
  EXPECT_EQ(k->seq, "{herald:" + kChannel + "}:seq");
  EXPECT_EQ(k->log, "{herald:" + kChannel + "}:log");
  // A lone '}' (or an empty "{}") leaves no key name in the channel's slot: refused on a cluster
  // only.
  EXPECT_FALSE(keys_for("herald:p:t:a}b", true));
  EXPECT_FALSE(keys_for("herald:p:t:{}", true));
  EXPECT_EQ(keys_for("herald:p:t:a}b", true).err().code, errc::unprocessable);
  EXPECT_TRUE(keys_for("herald:p:t:a}b", false));
}

TEST(stream_log, scripts_have_their_sha1) {
  EXPECT_EQ(publish_sha().size(), 40u);
  EXPECT_EQ(read_sha().size(), 40u);
  EXPECT_NE(publish_sha(), read_sha());
  EXPECT_EQ(publish_sha().find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(stream_log, evalsha_becomes_eval_with_the_script) {
  const keys k{"{c}:seq", "{c}:log"};
  const std::string cmd = read_command(k, 42, 100, limits{10, 5000});
  EXPECT_EQ(cmd, resp::format_command(
                     {"EVALSHA", read_sha(), "2", "{c}:seq", "{c}:log", "42", "100", "5000"}));
  EXPECT_EQ(with_script_text(cmd, read_script()),
            resp::format_command(
                {"EVAL", read_script(), "2", "{c}:seq", "{c}:log", "42", "100", "5000"}));
  EXPECT_EQ(
      read_command(k, std::nullopt, 1, limits{}),
      resp::format_command({"EVALSHA", read_sha(), "2", "{c}:seq", "{c}:log", "", "1", "3600000"}));
  EXPECT_EQ(publish_command(k, "herald:c", "{\"seq\":", "a.b", "{}", limits{7, 9}, true),
            resp::format_command({"EVALSHA", publish_sha(), "2", "{c}:seq", "{c}:log", "herald:c",
                                  "{\"seq\":", "a.b", "{}", "7", "9", "SPUBLISH"}));
}

TEST(stream_log, publish_reply_is_the_position) {
  EXPECT_EQ(*parse_publish_reply(*parse_one(bulk("1717171717171718"))), 1717171717171718u);
  EXPECT_EQ(*parse_publish_reply(*parse_one(":5\r\n")), 5u);
  EXPECT_FALSE(parse_publish_reply(*parse_one(bulk("x"))));
  EXPECT_FALSE(parse_publish_reply(*parse_one("*0\r\n")));
  EXPECT_TRUE(is_noscript(*parse_one("-NOSCRIPT No matching script.\r\n")));
  EXPECT_FALSE(is_noscript(*parse_one("-ERR x\r\n")));
}

TEST(stream_log, read_reply_becomes_frames_with_the_channels_id) {
  const std::string entries =
      "*2\r\n*2\r\n" + bulk("1001-0") + "*6\r\n" + bulk("t") + bulk("1700000000000") + bulk("e") +
      bulk("scan.progress") + bulk("d") + bulk("{\"n\":1}") + "*2\r\n" + bulk("1002-0") + "*6\r\n" +
      bulk("t") + bulk("1700000000001") + bulk("e") + bulk("scan.end") + bulk("d") + bulk("a\nb");
  const std::string reply = "*4\r\n" + bulk("1002") + bulk("1000") + bulk("1000") + entries;
  auto r = parse_read_reply(*parse_one(reply), kChannel, 1000);
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->head, 1002u);
  EXPECT_EQ(r->epoch, 1000u);
  EXPECT_EQ(r->floor, 1000u);
  EXPECT_FALSE(r->reset);
  ASSERT_EQ(r->entries.size(), 2u);
  const std::string id = "scan-progress%3A12646005-9067-4d2a-a098-8bb378604362%3Ar1";
  EXPECT_EQ(r->entries[0].seq, 1001u);
  EXPECT_EQ(*r->entries[0].f, "event: scan.progress\nid: " + id + ":1001\ndata: {\"n\":1}\n\n");
  EXPECT_EQ(*r->entries[1].f, "event: scan.end\nid: " + id + ":1002\ndata: a\ndata: b\n\n");
}

TEST(stream_log, read_reply_outside_floor_and_head_is_a_reset) {
  const std::string reply = "*4\r\n" + bulk("1050") + bulk("1000") + bulk("1040") + "*0\r\n";
  EXPECT_TRUE(parse_read_reply(*parse_one(reply), kChannel, 1020)->reset);
  EXPECT_TRUE(parse_read_reply(*parse_one(reply), kChannel, 1051)->reset);
  EXPECT_FALSE(parse_read_reply(*parse_one(reply), kChannel, 1040)->reset);
  EXPECT_FALSE(parse_read_reply(*parse_one(reply), kChannel, std::nullopt)->reset);
  EXPECT_FALSE(
      parse_read_reply(*parse_one("*3\r\n" + bulk("1") + bulk("1") + bulk("1")), kChannel, 1));
  EXPECT_FALSE(parse_read_reply(*parse_one("*4\r\n" + bulk("x") + bulk("1") + bulk("1") + "*0\r\n"),
                                kChannel, 1));
}

}  // namespace
}  // namespace herald::bus::stream_log

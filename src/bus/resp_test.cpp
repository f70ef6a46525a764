#include "bus/resp.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald::bus::resp {
namespace {

reply_ptr parse_one(std::string_view bytes) {
  reader r;
  EXPECT_TRUE(r.feed(bytes.data(), bytes.size()));
  auto out = r.next();
  EXPECT_TRUE(out);
  return out ? std::move(*out) : reply_ptr();
}

}  // namespace

TEST(resp_format, matches_hiredis_formatter) {
  const std::string binary("a\0b\r\nc", 6);
  std::vector<std::string_view> args = {"PUBLISH", "herald:x", binary, ""};
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* ref = nullptr;
  int n = redisFormatCommandArgv(&ref, static_cast<int>(args.size()), argv.data(), lens.data());
  ASSERT_GT(n, 0);
  EXPECT_EQ(format_command(args), std::string(ref, static_cast<std::size_t>(n)));
  redisFreeCommand(ref);
  EXPECT_EQ(format_command({"PING"}), "*1\r\n$4\r\nPING\r\n");
}

TEST(resp_reader, parses_replies_split_across_reads) {
  reader r;
  const std::string bytes = "+OK\r\n:42\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n";
  std::vector<reply_ptr> got;
  for (char c : bytes) {  // one byte at a time
    ASSERT_TRUE(r.feed(&c, 1));
    for (;;) {
      auto x = r.next();
      ASSERT_TRUE(x);
      if (!*x) break;
      got.push_back(std::move(*x));
    }
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0]->type, REDIS_REPLY_STATUS);
  EXPECT_EQ(text(*got[0]), "OK");
  EXPECT_EQ(got[1]->type, REDIS_REPLY_INTEGER);
  EXPECT_EQ(got[1]->integer, 42);
  EXPECT_EQ(classify_push(*got[2]), push_kind::message);
  EXPECT_EQ(element_text(*got[2], 1), "ch");
  EXPECT_EQ(element_text(*got[2], 2), "hello");
  EXPECT_EQ(element_text(*got[2], 3), std::nullopt);
}

// A subscriber read under load holds hundreds of messages (64 KiB). hiredis would move the unparsed
// rest of its buffer every 1 KiB it consumes; the reader hands it one slice at a time instead, so
// it never holds more than a slice plus the reply it is in the middle of.
TEST(resp_reader, hands_a_large_read_to_hiredis_a_slice_at_a_time) {
  std::string bytes;
  std::vector<std::string> payloads;
  for (int i = 0; bytes.size() < std::size_t{64} * 1024; ++i) {
    std::string p =
        std::to_string(i) + ":" + std::string(static_cast<std::size_t>(300 + i % 7), 'x');
    bytes += "*3\r\n$7\r\nmessage\r\n$4\r\nch:" + std::to_string(i % 10) + "\r\n$" +
             std::to_string(p.size()) + "\r\n" + p + "\r\n";
    payloads.push_back(std::move(p));
  }
  // One reply bigger than a slice, then one more small one behind it.
  const std::string big(3 * reader::kFeedSlice + 17, 'b');
  bytes += "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n:7\r\n";

  reader r;
  ASSERT_TRUE(r.feed(bytes.data(), bytes.size()));
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    auto x = r.next();
    ASSERT_TRUE(x);
    ASSERT_TRUE(*x) << "reply " << i;
    EXPECT_EQ(classify_push(**x), push_kind::message);
    EXPECT_EQ(element_text(**x, 1), "ch:" + std::to_string(i % 10));
    EXPECT_EQ(element_text(**x, 2), payloads[i]);
    EXPECT_LE(r.parser_buffered(), reader::kFeedSlice + 512) << "after reply " << i;
  }
  auto x = r.next();
  ASSERT_TRUE(x && *x);
  EXPECT_EQ(text(**x), big);
  x = r.next();
  ASSERT_TRUE(x && *x);
  EXPECT_EQ((*x)->integer, 7);
  x = r.next();
  ASSERT_TRUE(x);
  EXPECT_FALSE(*x);
  EXPECT_EQ(r.parser_buffered(), 0u);

  // Bytes fed while a reply is incomplete join it.
  const std::string tail = "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
  ASSERT_TRUE(r.feed(tail.data(), 7));
  x = r.next();
  ASSERT_TRUE(x);
  EXPECT_FALSE(*x);
  ASSERT_TRUE(r.feed(tail.data() + 7, tail.size() - 7));
  x = r.next();
  ASSERT_TRUE(x && *x);
  EXPECT_EQ(element_text(**x, 0), "pong");
}

TEST(resp_reader, reports_protocol_errors) {
  reader r;
  const std::string bytes = "?garbage\r\n";
  ASSERT_TRUE(r.feed(bytes.data(), bytes.size()));
  EXPECT_FALSE(r.next());
}

// Found by fuzz/fuzz_resp: hiredis 0.14 allocated an array's element table from its announced count
// (here about 711 MB of pointers) before any element arrived.
TEST(resp_reader, refuses_an_array_announcing_more_elements_than_any_reply_has) {
  reader r;
  const std::string bytes = "*88888888\r\n:1\r\n";
  ASSERT_TRUE(r.feed(bytes.data(), bytes.size()));
  EXPECT_FALSE(r.next());
  reader ok;
  const std::string small = "*2\r\n:1\r\n$3\r\nabc\r\n";
  ASSERT_TRUE(ok.feed(small.data(), small.size()));
  auto reply = ok.next();
  ASSERT_TRUE(reply && *reply);
  EXPECT_EQ((*reply)->elements, 2u);
}

TEST(resp_push, classifies_pubsub_pushes) {
  EXPECT_EQ(classify_push(*parse_one("*3\r\n$8\r\nsmessage\r\n$1\r\nc\r\n$1\r\np\r\n")),
            push_kind::smessage);
  EXPECT_EQ(classify_push(*parse_one("*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n")),
            push_kind::subscribe);
  EXPECT_EQ(classify_push(*parse_one("*3\r\n$12\r\nsunsubscribe\r\n$1\r\nc\r\n:0\r\n")),
            push_kind::sunsubscribe);
  EXPECT_EQ(classify_push(*parse_one("*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nc\r\n$1\r\np\r\n")),
            push_kind::pmessage);
  // PING in subscribed mode answers ["pong", ""]: a reply, not a push.
  EXPECT_EQ(classify_push(*parse_one("*2\r\n$4\r\npong\r\n$0\r\n\r\n")), push_kind::none);
  EXPECT_EQ(classify_push(*parse_one("-MOVED 1 127.0.0.1:7000\r\n")), push_kind::none);
  EXPECT_EQ(classify_push(*parse_one(":1\r\n")), push_kind::none);
  EXPECT_TRUE(is_error(*parse_one("-ERR x\r\n")));
}

TEST(resp_printable, escapes_and_truncates) {
  EXPECT_EQ(printable("ok"), "ok");
  EXPECT_EQ(printable(std::string("a\nb\0", 4)), "a\\x0ab\\x00");
  EXPECT_EQ(printable("abcdef", 3), "abc...");
}

}  // namespace herald::bus::resp

// Byte-exact framing, pinned to django-eventstream 5.3.4 (tests/test_utils.py and views.stream).
#include "sse/encoder.hpp"

#include <gtest/gtest.h>

namespace herald::sse {

TEST(encoder, simple_event) {
  EXPECT_EQ(encode("message", "hello"), "event: message\ndata: hello\n\n");
}

TEST(encoder, django_eventstream_sanitize_case) {
  // sse_encode_event("message\nevent: foo", "hello\rworld", event_id="1\nevent_id: 2")
  EXPECT_EQ(encode("message\nevent: foo", "hello\rworld", "1\nevent_id: 2"),
            "event: messageevent: foo\nid: 1event_id: 2\ndata: hello\ndata: world\n\n");
}

TEST(encoder, data_split_on_crlf_cr_lf) {
  EXPECT_EQ(encode("a.delta", "1\r\n2\r3\n4"),
            "event: a.delta\ndata: 1\ndata: 2\ndata: 3\ndata: 4\n\n");
  EXPECT_EQ(encode("a.delta", "x\n"), "event: a.delta\ndata: x\ndata: \n\n");
  EXPECT_EQ(encode("a.delta", "\r\n\r\n"), "event: a.delta\ndata: \ndata: \ndata: \n\n");
}

TEST(encoder, empty_data_has_space_after_colon) {
  EXPECT_EQ(encode("scan.end", ""), "event: scan.end\ndata: \n\n");
}

TEST(encoder, nul_stripped_from_type_and_id) {
  EXPECT_EQ(encode(std::string("sc\0an.end", 9), "{}",
                   std::string("4\0"
                               "2",
                               3)),
            "event: scan.end\nid: 42\ndata: {}\n\n");
}

TEST(encoder, id_line_only_when_non_empty) {
  EXPECT_EQ(encode("scan.progress", "{\"checked\": 1}", "7"),
            "event: scan.progress\nid: 7\ndata: {\"checked\": 1}\n\n");
  EXPECT_EQ(encode("scan.progress", "{}", "\r\n"), "event: scan.progress\ndata: {}\n\n");
}

TEST(encoder, preamble_is_padding_then_stream_open) {
  std::string expected = ":" + std::string(2048, ' ') + "\n\n" + "event: stream-open\ndata:\n\n";
  EXPECT_EQ(stream_preamble(), expected);
  EXPECT_EQ(padding_comment().size(), 2051u);
}

TEST(encoder, keep_alive_bytes) { EXPECT_EQ(keep_alive(), "event: keep-alive\ndata:\n\n"); }

TEST(encoder, stream_error_matches_python_json) {
  EXPECT_EQ(encode_stream_error("slow-consumer", "Stream fell behind."),
            "event: stream-error\nid: error\ndata: {\"condition\": \"slow-consumer\", \"text\": "
            "\"Stream fell behind.\"}\n\n");
}

TEST(encoder, python_json_string_escapes_like_ensure_ascii) {
  EXPECT_EQ(python_json_string("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
  EXPECT_EQ(python_json_string("caf\xc3\xa9"), "\"caf\\u00e9\"");
  EXPECT_EQ(python_json_string("\x7f~"), "\"\\u007f~\"");
  EXPECT_EQ(python_json_string("\xf0\x9f\x98\x80"), "\"\\ud83d\\ude00\"");
}

TEST(encoder, retry_hint) { EXPECT_EQ(encode_retry(2500), "retry: 2500\n\n"); }

TEST(encoder, encode_to_batches) {
  std::string out;
  encode_to(out, "a.start", "1", "");
  encode_to(out, "a.end", "2", "");
  EXPECT_EQ(out, "event: a.start\ndata: 1\n\nevent: a.end\ndata: 2\n\n");
}

}  // namespace herald::sse

#include "bus/message_codec.hpp"

#include <gtest/gtest.h>

#include "sse/encoder.hpp"

namespace herald::bus {
namespace {

const std::string kChannel = "prowler:8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10:scan-1";

message_codec compat() { return message_codec(bus_mode::compat, "herald:", "events_channel"); }
message_codec native() { return message_codec(bus_mode::native, "herald:", "events_channel"); }

sse::event ev(std::string type, std::string data, std::string id = {}) {
  return sse::event{kChannel, std::move(type), std::move(data), std::move(id)};
}

}  // namespace

// ---- compat: byte-for-byte what django-eventstream's send_event publishes ----

// Expected bytes printed by Python 3.11: json.dumps({"channel": kChannel, "event_type":
// "scan.progress", "data": json.dumps({"checked": 1}), "pub_id": None})
TEST(compat_codec, encodes_exactly_like_python_json_dumps) {
  auto out = compat().encode(ev("scan.progress", "{\"checked\": 1}"));
  ASSERT_TRUE(out);
  EXPECT_EQ(
      *out,
      "{\"channel\": \"prowler:8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10:scan-1\", \"event_type\": "
      "\"scan.progress\", \"data\": \"{\\\"checked\\\": 1}\", \"pub_id\": null}");
}

// Python: data = '{"t": "h\u00e9 \U0001F600 \x7f \x1f \u2028 /"}' (real characters), then
// json.dumps.
TEST(compat_codec, escapes_non_ascii_and_controls_like_ensure_ascii) {
  auto out = compat().encode(
      ev("scan.progress", "{\"t\": \"h\xC3\xA9 \xF0\x9F\x98\x80 \x7f \x1f \xE2\x80\xA8 /\"}"));
  ASSERT_TRUE(out);
  EXPECT_EQ(
      *out,
      "{\"channel\": \"prowler:8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10:scan-1\", \"event_type\": "
      "\"scan.progress\", \"data\": \"{\\\"t\\\": \\\"h\\u00e9 \\ud83d\\ude00 \\u007f \\u001f "
      "\\u2028 /\\\"}\", \"pub_id\": null}");
}

TEST(compat_codec, short_escapes_match_python) {
  // json.dumps("\x08\x0c\r\x00\n\t\\\"") == '"\\b\\f\\r\\u0000\\n\\t\\\\\\""'
  EXPECT_EQ(sse::python_json_string(std::string("\b\f\r\0\n\t\\\"", 8)),
            "\"\\b\\f\\r\\u0000\\n\\t\\\\\\\"\"");
}

TEST(compat_codec, an_event_id_becomes_pub_id) {
  auto out = compat().encode(ev("scan.progress", "{}", "42"));
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->ends_with(", \"pub_id\": \"42\"}")) << *out;
}

TEST(compat_codec, all_pub_channels_are_the_compat_channel) {
  EXPECT_EQ(compat().pubsub_channel(kChannel), "events_channel");
}

TEST(compat_codec, decodes_the_four_key_form) {
  auto e = compat().decode(
      "events_channel",
      R"({"channel": ")" + kChannel +
          R"(", "event_type": "scan.progress", "data": "{\"checked\": 1}", "pub_id": "42"})");
  ASSERT_TRUE(e) << e.err().message;
  EXPECT_EQ(e->channel, kChannel);
  EXPECT_EQ(e->type, "scan.progress");
  EXPECT_EQ(e->data, "{\"checked\": 1}");  // the JSON text, passed through for the data: lines
  EXPECT_EQ(e->id, "42");
}

// The flat payload rule is the publish API's (app/publish_request): a django-eventstream message
// carries whatever its publisher sent, nested or not, and passes through byte for byte.
TEST(compat_codec, passes_nested_data_through_unchanged) {
  const std::string data = R"({\"scan\": {\"id\": \"x\", \"tags\": [{\"k\": 1}]}})";
  auto e = compat().decode("events_channel", R"({"channel": ")" + kChannel +
                                                 R"(", "event_type": "scan.updated", "data": ")" +
                                                 data + R"(", "pub_id": null})");
  ASSERT_TRUE(e) << e.err().message;
  EXPECT_EQ(e->data, R"({"scan": {"id": "x", "tags": [{"k": 1}]}})");
}

TEST(compat_codec, decodes_pub_id_null_and_the_three_key_form) {
  auto a = compat().decode("events_channel",
                           R"({"channel": ")" + kChannel +
                               R"(", "event_type": "message", "data": "{}", "pub_id": null})");
  ASSERT_TRUE(a) << a.err().message;
  EXPECT_EQ(a->id, "");
  auto b = compat().decode("events_channel",
                           R"({"channel": ")" + kChannel +
                               R"(", "event_type": "message", "data": "{\"text\": \"hi\"}"})");
  ASSERT_TRUE(b) << b.err().message;
  EXPECT_EQ(b->data, "{\"text\": \"hi\"}");
  EXPECT_EQ(b->id, "");
}

TEST(compat_codec, round_trips_its_own_encoding) {
  sse::event in = ev("scan.progress", "{\"t\": \"h\xC3\xA9 \xF0\x9F\x98\x80\"}\nline2", "7");
  auto bytes = compat().encode(in);
  ASSERT_TRUE(bytes);
  auto out = compat().decode("events_channel", *bytes);
  ASSERT_TRUE(out) << out.err().message;
  EXPECT_EQ(out->channel, in.channel);
  EXPECT_EQ(out->type, in.type);
  EXPECT_EQ(out->data, in.data);
  EXPECT_EQ(out->id, in.id);
}

// ---- native ----

TEST(native_codec, prefixes_the_pubsub_channel) {
  EXPECT_EQ(native().pubsub_channel(kChannel), "herald:" + kChannel);
}

TEST(native_codec, encodes_compact_json_and_round_trips) {
  auto bytes = native().encode(ev("scan.progress", "{\"checked\":1}", "abc"));
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, R"({"channel":")" + kChannel +
                        R"(","event":"scan.progress","data":"{\"checked\":1}","id":"abc"})");
  auto e = native().decode("herald:" + kChannel, *bytes);
  ASSERT_TRUE(e) << e.err().message;
  EXPECT_EQ(e->data, "{\"checked\":1}");
  EXPECT_EQ(e->id, "abc");
}

TEST(native_codec, omits_an_empty_id) {
  auto bytes = native().encode(ev("scan.progress", "x"));
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->find("\"id\""), std::string::npos);
  auto e = native().decode("herald:" + kChannel, *bytes);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->id, "");
}

TEST(native_codec, refuses_a_payload_for_another_channel) {
  auto bytes = native().encode(ev("scan.progress", "x"));
  ASSERT_TRUE(bytes);
  auto e = native().decode("herald:prowler:8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10:other", *bytes);
  EXPECT_FALSE(e);
}

// Issue 15 item 6: a message whose channel spells a UUID in upper case is delivered under the
// canonical (lower-case) name the streams subscribe to, in both modes; sending one is refused
// (redis_bus::publish canonicalizes first), so the pub/sub channel is always the canonical one.
TEST(codec_decode, upper_case_uuids_in_the_channel_come_out_lower_case) {
  const std::string loud = "prowler:8D2D1C5E-6B0A-4A43-9D2C-8A1E6C1C7A10:scan-1";
  auto c = compat().decode("events_channel",
                           R"({"channel": ")" + loud + R"(", "event_type": "m", "data": "{}"})");
  ASSERT_TRUE(c) << c.err().message;
  EXPECT_EQ(c->channel, kChannel);
  auto n = native().decode("herald:" + kChannel,
                           R"({"channel":")" + loud + R"(","event":"m","data":"{}"})");
  ASSERT_TRUE(n) << n.err().message;
  EXPECT_EQ(n->channel, kChannel);
  for (auto mode : {bus_mode::native, bus_mode::compat}) {
    message_codec codec(mode, "herald:", "events_channel");
    auto r = codec.encode(sse::event{loud, "m", "{}", ""});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::unprocessable);
  }
}

// ---- encode refusals ----

TEST(codec_encode, refuses_invalid_channel_names_and_utf8) {
  for (auto mode : {bus_mode::native, bus_mode::compat}) {
    message_codec c(mode, "herald:", "events_channel");
    sse::event bad_channel{"not-a-channel", "scan.progress", "{}", ""};
    auto r = c.encode(bad_channel);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::unprocessable);
    EXPECT_FALSE(c.encode(ev("scan.progress", "\xff\xfe")));
    EXPECT_FALSE(c.encode(ev("", "{}")));
  }
}

TEST(codec_encode, refuses_oversized_messages) {
  message_codec c(bus_mode::native, "herald:", "events_channel", 1024);
  auto r = c.encode(ev("scan.progress", std::string(2000, 'x')));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::payload_too_large);
}

// ---- garbage on the bus: every case is refused with a reason, none throws ----

struct garbage_case {
  const char* name;
  std::string payload;
};

TEST(compat_codec, refuses_garbage) {
  const std::string good_ch = "\"" + kChannel + "\"";
  const garbage_case cases[] = {
      {"not json", "not json"},
      {"empty", ""},
      {"truncated", R"({"channel": )" + good_ch + R"(, "event_type": "m)"},
      {"array", "[1, 2]"},
      {"string", "\"hello\""},
      {"trailing garbage", R"({"channel": )" + good_ch + R"(, "event_type": "m", "data": "x"} x)"},
      {"missing channel", R"({"event_type": "m", "data": "x", "pub_id": null})"},
      {"missing event_type", R"({"channel": )" + good_ch + R"(, "data": "x", "pub_id": null})"},
      {"missing data", R"({"channel": )" + good_ch + R"(, "event_type": "m", "pub_id": null})"},
      {"data is an object (json_encode=False)",
       R"({"channel": )" + good_ch + R"(, "event_type": "m", "data": {"a": 1}, "pub_id": null})"},
      {"data is a number",
       R"({"channel": )" + good_ch + R"(, "event_type": "m", "data": 1, "pub_id": null})"},
      {"channel is a number", R"({"channel": 5, "event_type": "m", "data": "x", "pub_id": null})"},
      {"event_type is null", R"({"channel": )" + good_ch + R"(, "event_type": null, "data": "x"})"},
      {"pub_id is a number",
       R"({"channel": )" + good_ch + R"(, "event_type": "m", "data": "x", "pub_id": 42})"},
      {"not a Herald channel",
       R"({"channel": "test", "event_type": "m", "data": "x", "pub_id": null})"},
      {"tenant is not a uuid",
       R"({"channel": "prowler:tenant:scan", "event_type": "m", "data": "x"})"},
      {"four segments",
       R"({"channel": "p:8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10:a:b", "event_type": "m", "data": "x"})"},
      {"empty event type", R"({"channel": )" + good_ch + R"(, "event_type": "", "data": "x"})"},
      {"invalid utf-8",
       "{\"channel\": " + good_ch + ", \"event_type\": \"m\", \"data\": \"\xff\"}"},
      {"deeply nested", std::string(10000, '[') + std::string(10000, ']')},
  };
  for (const auto& c : cases) {
    auto r = compat().decode("events_channel", c.payload);
    EXPECT_FALSE(r) << c.name;
    if (!r) {
      EXPECT_EQ(r.err().code, errc::bad_request) << c.name;
      EXPECT_FALSE(r.err().message.empty()) << c.name;
    }
  }
}

TEST(compat_codec, refuses_messages_on_another_pubsub_channel) {
  auto bytes = compat().encode(ev("scan.progress", "{}"));
  ASSERT_TRUE(bytes);
  EXPECT_FALSE(compat().decode("other_channel", *bytes));
}

TEST(native_codec, refuses_garbage) {
  const std::string good_ch = "\"" + kChannel + "\"";
  const garbage_case cases[] = {
      {"not json", "{{{"},
      {"compat format",
       R"({"channel": )" + good_ch + R"(, "event_type": "m", "data": "x", "pub_id": null})"},
      {"data not a string", R"({"channel": )" + good_ch + R"(, "event": "m", "data": {"a": 1}})"},
      {"id not a string", R"({"channel": )" + good_ch + R"(, "event": "m", "data": "x", "id": 3})"},
      {"missing event", R"({"channel": )" + good_ch + R"(, "data": "x"})"},
  };
  for (const auto& c : cases)
    EXPECT_FALSE(native().decode("herald:" + kChannel, c.payload)) << c.name;
}

TEST(codec_decode, refuses_oversized_messages) {
  message_codec c(bus_mode::compat, "herald:", "events_channel", 300);
  std::string big = R"({"channel": ")" + kChannel + R"(", "event_type": "m", "data": ")" +
                    std::string(400, 'x') + "\"}";
  EXPECT_FALSE(c.decode("events_channel", big));
}

TEST(utf8, validation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("h\xC3\xA9 \xF0\x9F\x98\x80 \xE2\x80\xA8"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
}

}  // namespace herald::bus

namespace herald::bus {

// Each refusal carries the reason the bus counts it under (herald_bus_messages_dropped_total).
TEST(codec_decode, reports_why_a_message_is_dropped) {
  const std::string ch = "\"" + kChannel + "\"";
  struct sample {
    bus_mode mode;
    std::string payload;
    drop_reason want;
  };
  const std::vector<sample> samples = {
      {bus_mode::compat, "not json", drop_reason::not_json},
      {bus_mode::compat, "{\"a\": 1} x", drop_reason::not_json},
      {bus_mode::compat, "[1, 2]", drop_reason::not_object},
      {bus_mode::compat, "{\"channel\": " + ch + ", \"data\": \"{}\"}", drop_reason::missing_key},
      {bus_mode::compat,
       "{\"channel\": " + ch + ", \"event_type\": \"t\", \"data\": {\"a\": 1}, \"pub_id\": null}",
       drop_reason::data_not_string},
      {bus_mode::compat,
       "{\"channel\": " + ch + ", \"event_type\": \"t\", \"data\": 5, \"pub_id\": null}",
       drop_reason::data_not_string},
      {bus_mode::compat,
       "{\"channel\": " + ch + ", \"event_type\": 3, \"data\": \"{}\", \"pub_id\": null}",
       drop_reason::wrong_type},
      {bus_mode::compat,
       "{\"channel\": " + ch + ", \"event_type\": \"t\", \"data\": \"{}\", \"pub_id\": 7}",
       drop_reason::wrong_type},
      {bus_mode::compat,
       "{\"channel\": \"test\", \"event_type\": \"t\", \"data\": \"{}\", \"pub_id\": null}",
       drop_reason::bad_channel},
      {bus_mode::compat,
       "{\"channel\": " + ch + ", \"event_type\": \"\", \"data\": \"{}\", \"pub_id\": null}",
       drop_reason::empty_type},
      {bus_mode::native, "{\"channel\":" + ch + ",\"event\":\"t\",\"data\":[]}",
       drop_reason::data_not_string},
      {bus_mode::native, "{\"channel\":" + ch + ",\"event\":\"t\",\"data\":\"{}\",\"id\":1}",
       drop_reason::wrong_type},
  };
  for (const auto& s : samples) {
    message_codec codec(s.mode, "herald:", "events_channel");
    const std::string where =
        s.mode == bus_mode::compat ? "events_channel" : codec.pubsub_channel(kChannel);
    drop_reason why = drop_reason::malformed_push;
    auto r = codec.decode(where, s.payload, &why);
    ASSERT_FALSE(r) << s.payload;
    EXPECT_EQ(why, s.want) << s.payload << ": " << r.err().message;
  }
  // A payload for another channel, and an oversized one.
  drop_reason why{};
  auto r = native().decode("herald:other", *native().encode(ev("t", "{}")), &why);
  ASSERT_FALSE(r);
  EXPECT_EQ(why, drop_reason::channel_mismatch);
  message_codec small(bus_mode::native, "herald:", "events_channel", 256);
  r = small.decode(small.pubsub_channel(kChannel), std::string(300, ' '), &why);
  ASSERT_FALSE(r);
  EXPECT_EQ(why, drop_reason::too_large);
  EXPECT_EQ(drop_reason_name(drop_reason::data_not_string), "data_not_string");
}

}  // namespace herald::bus

namespace herald::bus {

// ---- native: a reliable channel's position ----

TEST(native_codec, a_logged_events_head_takes_its_position_and_decodes_with_it) {
  auto head = native().encode_logged_head(ev("scan.progress", "{\"n\":1}", "ignored"));
  ASSERT_TRUE(head);
  EXPECT_EQ(*head, "{\"channel\":\"" + kChannel +
                       "\",\"event\":\"scan.progress\",\"data\":\"{\\\"n\\\":1}\",\"seq\":");
  // What the publish script sends: the head, the position, '}'.
  auto e = native().decode("herald:" + kChannel, *head + "1717171717171718}");
  ASSERT_TRUE(e) << e.err().message;
  EXPECT_EQ(e->seq, 1717171717171718u);
  EXPECT_TRUE(e->id.empty());
  EXPECT_EQ(e->data, "{\"n\":1}");
  EXPECT_EQ(native().decode("herald:" + kChannel, *head + "18446744073709551615}")->seq,
            18446744073709551615u);
  for (std::string bad : {"0", "-3", "1.5", "\"7\"", "null"}) {
    drop_reason why{};
    EXPECT_FALSE(native().decode("herald:" + kChannel, *head + bad + "}", &why)) << bad;
    EXPECT_EQ(why, drop_reason::wrong_type) << bad;
  }
  EXPECT_FALSE(compat().encode_logged_head(ev("scan.progress", "{}")));
  message_codec small(bus_mode::native, "herald:", "events_channel", 256);
  EXPECT_EQ(small.encode_logged_head(ev("scan.progress", std::string(150, 'x'))).err().code,
            errc::payload_too_large);
}

}  // namespace herald::bus

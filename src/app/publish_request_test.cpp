#include "app/publish_request.hpp"

#include <gtest/gtest.h>

#include "sse/event_type.hpp"

namespace herald::app {
namespace {

const std::string kTenant = "12646005-9067-4d2a-a098-8bb378604362";
const std::string kChannel = "scan-progress:" + kTenant + ":42";

publish_limits limits() {
  publish_limits l;
  l.verbs = &sse::default_verbs();
  l.max_data_bytes = 100;
  l.max_batch_events = 3;
  return l;
}

TEST(publish_request, single_event) {
  auto r =
      parse_publish_body(R"({"channel":")" + kChannel +
                             R"(","event":"scan.progress","data":{"checked": 42, "total": 100}})",
                         limits());
  ASSERT_TRUE(r) << r.err().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].channel, kChannel);
  EXPECT_EQ((*r)[0].type, "scan.progress");
  EXPECT_EQ((*r)[0].data, R"({"checked":42,"total":100})");
  EXPECT_EQ((*r)[0].id, "");
}

// The flat payload rule: fields one level deep; arrays of scalars are fields too.
TEST(publish_request, data_must_be_a_flat_object) {
  auto body = [](const std::string& data) {
    return R"({"channel":")" + kChannel + R"(","event":"scan.progress","data":)" + data + "}";
  };
  for (const char* flat : {R"({})", R"({"a":"x","b":1.5,"c":true,"d":null})",
                           R"({"finding_ids":["f1","f2"],"counts":[1,2,3],"none":[]})"}) {
    auto r = parse_publish_body(body(flat), limits());
    EXPECT_TRUE(r) << flat << ": " << (r ? "" : r.err().message);
  }
  for (const auto& [nested, key] : std::vector<std::pair<std::string, std::string>>{
           {R"({"type":"scan.progress","data":{"checked":1}})", "data"},
           {R"({"ok":1,"scan":{"id":"x"}})", "scan"},
           {R"({"rows":[{"id":1}]})", "rows"},
           {R"({"matrix":[[1,2],[3,4]]})", "matrix"}}) {
    auto r = parse_publish_body(body(nested), limits());
    ASSERT_FALSE(r) << nested;
    EXPECT_EQ(r.err().code, errc::unprocessable);
    EXPECT_NE(r.err().message.find("data." + key + ": a flat payload has no nested objects"),
              std::string::npos)
        << r.err().message;
  }
  auto batch = parse_publish_body(R"({"events":[{"channel":")" + kChannel +
                                      R"(","event":"scan.start","data":{}},{"channel":")" +
                                      kChannel + R"(","event":"scan.end","data":{"x":{}}}]})",
                                  limits());
  ASSERT_FALSE(batch);
  EXPECT_EQ(batch.err().message.rfind("events[1].data.x: a flat payload", 0), 0u);
}

// Found by fuzz/fuzz_publish_body: Boost.JSON reads 0e607 as NaN and 1e400 as infinity, which were
// then streamed as "-nan"/"inf" (not JSON). They are refused, naming the key.
TEST(publish_request, numbers_beyond_a_double_are_refused) {
  for (const std::string number : {"0e607", "1e400", "-1e400"}) {
    for (const std::string& data : {R"({"x": )" + number + "}", R"({"x": [1, )" + number + "]}"}) {
      std::string body = R"({"channel":")";
      body += kChannel;
      body += R"(","event":"scan.progress","data":)";
      body += data;
      body += "}";
      auto r = parse_publish_body(body, limits());
      ASSERT_FALSE(r) << data;
      EXPECT_EQ(r.err().code, errc::unprocessable);
      EXPECT_NE(r.err().message.find("data.x: a number out of range"), std::string::npos)
          << r.err().message;
    }
  }
  auto ok = parse_publish_body(
      R"({"channel":")" + kChannel + R"(","event":"scan.progress","data":{"x": 1e300}})", limits());
  ASSERT_TRUE(ok) << ok.err().message;
  EXPECT_EQ((*ok)[0].data, R"({"x":1e300})");
}

// Found by fuzz/fuzz_publish_body: a duplicate key drops a number from the tree, -0.0 then had no
// recorded text to keep and was written "-0", which a second publish read as the integer 0.
TEST(publish_request, negative_zero_stays_a_double_after_a_duplicate_key) {
  const std::string body =
      R"({"channel":")" + kChannel +
      R"(","event":"scan.progress","data":{"a":0.5,"l":1.50,"h":-0.0,"l":2.50,"b":-1.0}})";
  auto r = parse_publish_body(body, limits());
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ((*r)[0].data, R"({"a":0.5,"l":2.50,"h":-0.0,"b":-1.0})");
  auto again = parse_publish_body(publish_body((*r)[0]), limits());
  ASSERT_TRUE(again) << again.err().message;
  EXPECT_EQ((*again)[0].data, (*r)[0].data);
}

TEST(publish_request, batch_and_id) {
  auto r = parse_publish_body(R"({"events":[{"channel":")" + kChannel +
                                  R"(","event":"scan.start","data":{}},{"channel":")" + kChannel +
                                  R"(","event":"scan.end","data":{"scan_id":"42"},"id":"7"}]})",
                              limits());
  ASSERT_TRUE(r) << r.err().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].id, "7");
}

struct bad_case {
  std::string body;
  errc code;
  std::string mentions;
};

TEST(publish_request, bad_input_names_the_problem) {
  const std::vector<bad_case> cases = {
      {"not json", errc::bad_request, "valid JSON"},
      {"[1]", errc::bad_request, "JSON object"},
      {R"({"event":"scan.end","data":{}})", errc::bad_request, "channel"},
      {R"({"channel":"garbage","event":"scan.end","data":{}})", errc::unprocessable, "channel"},
      {R"({"channel":"a:not-a-uuid:b","event":"scan.end","data":{}})", errc::unprocessable,
       "channel"},
      {R"({"channel":")" + kChannel + R"(","event":"scan.finished","data":{}})",
       errc::unprocessable, "finished"},
      {R"({"channel":")" + kChannel + R"(","event":"scan.end","data":"text"})", errc::unprocessable,
       "JSON object"},
      {R"({"channel":")" + kChannel + R"(","event":"scan.end","data":[1,2]})", errc::unprocessable,
       "JSON object"},
      {R"({"channel":")" + kChannel + R"(","event":"scan.end"})", errc::bad_request, "data"},
      {R"({"channel":")" + kChannel + R"(","event":"scan.end","data":{"x":")" +
           std::string(200, 'a') + R"("}})",
       errc::payload_too_large, "limit"},
      {R"({"channel":")" + kChannel + R"(","event":"scan.end","data":{},"extra":1})",
       errc::bad_request, "extra"},
      {R"({"channel":")" + kChannel + R"(","event":"scan.end","data":{},"id":"a\nb"})",
       errc::unprocessable, "id"},
      {R"({"events":[]})", errc::bad_request, "non-empty"},
      {R"({"events":[{},{},{},{}]})", errc::payload_too_large, "at most 3"},
      {R"({"events":[{"channel":")" + kChannel +
           R"(","event":"scan.end","data":{}},{"channel":"x"}]})",
       errc::unprocessable, "events[1]"},
  };
  for (const auto& c : cases) {
    auto r = parse_publish_body(c.body, limits());
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.err().code, c.code) << c.body << " -> " << r.err().message;
    EXPECT_NE(r.err().message.find(c.mentions), std::string::npos) << r.err().message;
  }
}

TEST(publish_request, cli_event_from_parts) {
  auto e = make_publish_event(kChannel, "scan.end", R"({"scan_id":"42"})", "", limits());
  ASSERT_TRUE(e) << e.err().message;
  EXPECT_EQ(e->data, R"({"scan_id":"42"})");
  EXPECT_FALSE(make_publish_event(kChannel, "scan.end", "{oops", "", limits()));
}

// Issue 15 item 6: the channel comes out canonical, so a publisher that upper-cased a UUID still
// reaches the streams of the channel (the HTTP body and the CLI's parts alike).
TEST(publish_request, upper_case_uuids_in_the_channel_are_lower_cased) {
  const std::string loud =
      "scan-progress:12646005-9067-4D2A-A098-8BB378604362:"
      "0191E3A1-6C1E-7A3B-9F00-00000000000A";
  const std::string quiet =
      "scan-progress:12646005-9067-4d2a-a098-8bb378604362:"
      "0191e3a1-6c1e-7a3b-9f00-00000000000a";
  auto r =
      parse_publish_body(R"({"channel":")" + loud + R"(","event":"scan.end","data":{}})", limits());
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ((*r)[0].channel, quiet);
  auto cli = make_publish_event(loud, "scan.end", "{}", "", limits());
  ASSERT_TRUE(cli) << cli.err().message;
  EXPECT_EQ(cli->channel, quiet);
}

// Issue 15 item 8: numbers as written, in single and batch bodies and from the CLI; everything else
// is Boost.JSON's compact form, as before.
TEST(publish_request, numbers_keep_the_publishers_spelling) {
  auto l = limits();
  l.max_data_bytes = 4096;
  const std::string data =
      R"({"a": 0.5, "b": 12.0, "c": 1e-7, "d": 2.5E+3, "e": -0.0, "f": 123456789012345678901234567890,)"
      R"( "g": 42, "h": [0.10, 1, "x"], "i": "é\/", "j": true, "k": null})";
  const std::string compact =
      R"({"a":0.5,"b":12.0,"c":1e-7,"d":2.5E+3,"e":-0.0,"f":123456789012345678901234567890,)"
      R"("g":42,"h":[0.10,1,"x"],"i":"é/","j":true,"k":null})";
  auto one = parse_publish_body(
      R"({"channel":")" + kChannel + R"(","event":"scan.progress","data":)" + data + "}", l);
  ASSERT_TRUE(one) << one.err().message;
  EXPECT_EQ((*one)[0].data, compact);

  auto batch = parse_publish_body(R"({"events":[{"channel":")" + kChannel +
                                      R"(","event":"scan.progress","data":{"p":0.25}},)"
                                      R"({"channel":")" +
                                      kChannel +
                                      R"(","event":"scan.progress","data":{"p":0.250,"q":7.0}}]})",
                                  l);
  ASSERT_TRUE(batch) << batch.err().message;
  EXPECT_EQ((*batch)[0].data, R"({"p":0.25})");
  EXPECT_EQ((*batch)[1].data, R"({"p":0.250,"q":7.0})");

  auto cli = make_publish_event(kChannel, "scan.progress", data, "", l);
  ASSERT_TRUE(cli) << cli.err().message;
  EXPECT_EQ(cli->data, compact);
  // What the CLI sends reads back as the same event.
  auto sent = parse_publish_body(publish_body(*cli), l);
  ASSERT_TRUE(sent) << sent.err().message;
  EXPECT_EQ((*sent)[0].data, compact);
  EXPECT_EQ((*sent)[0].channel, cli->channel);
}

// A duplicate key keeps its last value (as Boost.JSON, browsers and Python read it); the numbers
// that remain are still written as published, or at worst in their shortest exact form.
TEST(publish_request, duplicate_keys_keep_the_last_value_and_exact_numbers) {
  auto r = parse_publish_body(R"({"channel":")" + kChannel +
                                  R"(","event":"scan.progress","data":{"a":0.5,"a":1.50,"b":2.0}})",
                              limits());
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ((*r)[0].data, R"({"a":1.50,"b":2.0})");
}

// The CLI's data is checked alone first, so it cannot smuggle fields into the body it builds.
TEST(publish_request, cli_data_cannot_add_fields_to_the_body) {
  auto e = make_publish_event(kChannel, "scan.end", R"({"a":1},"id":"forged")", "", limits());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.err().code, errc::bad_request);
}

}  // namespace
}  // namespace herald::app

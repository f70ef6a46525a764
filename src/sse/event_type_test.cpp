#include "sse/event_type.hpp"

#include <gtest/gtest.h>

#include "sse/events_options.hpp"

namespace herald::sse {

TEST(event_type, accepts_every_platform_verb) {
  for (const auto& v : default_verbs())
    EXPECT_TRUE(validate_event_type("scan." + v, default_verbs())) << v;
  EXPECT_TRUE(validate_event_type("lighthouse-session.delta", default_verbs()));
  EXPECT_TRUE(validate_event_type("tool_call.start", default_verbs()));
}

TEST(event_type, refuses_bad_shapes) {
  for (const char* bad :
       {"", "scan", "scan.", ".progress", "scan.progress.x", "Scan.progress", "scan.Progress",
        "scan.finished", "1scan.end", "scan progress.end", "scan:x.end", "message"}) {
    auto r = validate_event_type(bad, default_verbs());
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.err().code, errc::unprocessable);
  }
}

TEST(event_type, extra_verbs_extend_the_vocabulary) {
  auto verbs = default_verbs();
  EXPECT_FALSE(validate_event_type("job.checkpoint", verbs));
  verbs.insert("checkpoint");
  EXPECT_TRUE(validate_event_type("job.checkpoint", verbs));
}

TEST(event_type, error_names_the_problem) {
  auto r = validate_event_type("scan.finished", default_verbs());
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("finished"), std::string::npos);
}

}  // namespace herald::sse

namespace herald::sse {
namespace {

TEST(events_options, default_verbs_and_extra_verb_rules) {
  EXPECT_EQ(events_options{}.verbs, default_verbs());
  EXPECT_EQ(*check_extra_verb("retried"), "retried");
  for (const char* bad : {"", "Retried", "re-tried", "abcdefghijklmnopqrstuvwxyzabcdefg"})
    EXPECT_FALSE(check_extra_verb(bad)) << bad;
  EXPECT_EQ(check_extra_verb("Retried").err().message,
            "'Retried' must be 1-32 lowercase letters [a-z]");
}

}  // namespace
}  // namespace herald::sse

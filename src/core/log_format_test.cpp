// Log lines in both formats, captured from spdlog's real formatter through an ostream sink.
#include "core/log_format.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <regex>
#include <sstream>

namespace herald {
namespace {

class log_format_test : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  }
  void TearDown() override {
    spdlog::set_default_logger(previous_);
    setup_logging("info", log_format::text);
  }
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(log_format_test, json_lines_carry_time_with_zone_level_message_and_fields) {
  setup_logging("info", log_format::json);
  log_with(spdlog::level::info, "stream opened",
           {{"request_id", "abc123"}, {"status", 200}, {"path", "/x?a=\"b\""}});
  spdlog::warn("plain {} line", "spdlog");
  log_with(spdlog::level::debug, "below the level", {{"k", "v"}});
  std::istringstream lines(out_.str());
  std::string first, second, third;
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_FALSE(std::getline(lines, third)) << "a debug line was written at info";
  auto a = boost::json::parse(first).as_object();
  EXPECT_TRUE(std::regex_match(std::string(a["time"].as_string()),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
      << first;
  EXPECT_EQ(a["level"].as_string(), "info");
  EXPECT_EQ(a["message"].as_string(), "stream opened");
  EXPECT_EQ(a["request_id"].as_string(), "abc123");
  EXPECT_EQ(a["status"].as_int64(), 200);
  EXPECT_EQ(a["path"].as_string(), "/x?a=\"b\"");
  auto b = boost::json::parse(second).as_object();
  EXPECT_EQ(b["level"].as_string(), "warning");
  EXPECT_EQ(b["message"].as_string(), "plain spdlog line");
  EXPECT_EQ(b.size(), 3u) << second;  // no fields leak from the previous line
}

TEST_F(log_format_test, text_lines_append_fields_as_key_value) {
  setup_logging("info", log_format::text);
  log_with(spdlog::level::info, "request", {{"status", 404}, {"path", "/a b"}, {"id", "x1"}});
  spdlog::info("plain");
  const auto text = out_.str();
  EXPECT_TRUE(std::regex_search(
      text, std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} info request status=404 )"
                       R"(path="/a b" id=x1\n)")))
      << text;
  EXPECT_NE(text.find(" info plain\n"), std::string::npos) << text;
}

TEST_F(log_format_test, format_names) {
  EXPECT_EQ(*parse_log_format("json"), log_format::json);
  EXPECT_EQ(*parse_log_format("text"), log_format::text);
  auto bad = parse_log_format("xml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().message, "'xml' is not one of text, json");
  EXPECT_EQ(to_string(log_format::json), "json");
}

}  // namespace
}  // namespace herald

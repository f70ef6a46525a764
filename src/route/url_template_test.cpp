#include "route/url_template.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace herald::route {
namespace {

TEST(url_template, matches_and_lower_cases_uuid_parameters) {
  url_template t("/api/v1/scans/{scan_pk:uuid}/event-stream");
  EXPECT_EQ(t.pattern(), "/api/v1/scans/{scan_pk:uuid}/event-stream");
  auto m = t.match("/api/v1/scans/0191E3A1-6C1E-7A3B-9F00-000000000001/event-stream");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].first, "scan_pk");
  EXPECT_EQ((*m)[0].second, "0191e3a1-6c1e-7a3b-9f00-000000000001");
  EXPECT_FALSE(t.match("/api/v1/scans/not-a-uuid/event-stream"));
  EXPECT_FALSE(t.match("/api/v1/scans/0191e3a1-6c1e-7a3b-9f00-000000000001"));
}

TEST(url_template, a_bad_template_is_an_error_value_or_throws_at_start_up) {
  auto bad = url_template::parse("/x/{id:int}");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.err().message.find("unknown type 'int'"), std::string::npos);
  EXPECT_THROW(url_template("no-slash"), std::invalid_argument);
}

}  // namespace
}  // namespace herald::route

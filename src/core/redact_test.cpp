#include "core/redact.hpp"

#include <gtest/gtest.h>

namespace herald {
TEST(redact, access_token_value_is_hidden) {
  EXPECT_EQ(redact_target("/a/b?x=1&access_token=eyJ.secret.sig&y=2"),
            "/a/b?x=1&access_token=[redacted]&y=2");
  EXPECT_EQ(redact_target("/a?ACCESS_TOKEN=s"), "/a?ACCESS_TOKEN=[redacted]");
  EXPECT_EQ(redact_target("/plain"), "/plain");
  // A percent-encoded name is the same parameter to a URL parser.
  EXPECT_EQ(redact_target("/a?access%5Ftoken=eyJ.s.s"), "/a?access%5Ftoken=[redacted]");
  EXPECT_EQ(redact_target("/a?%61ccess_token=eyJ.s.s&b=%zz"), "/a?%61ccess_token=[redacted]&b=%zz");
}
TEST(redact, authorization_header_is_hidden) {
  EXPECT_EQ(redact_header("Authorization", "Bearer x"), "[redacted]");
  EXPECT_EQ(redact_header("Origin", "http://a"), "http://a");
}
}  // namespace herald

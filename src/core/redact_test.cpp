#include "core/redact.hpp"

#include <gtest/gtest.h>

namespace herald {
TEST(redact, access_token_value_is_hidden) {
  EXPECT_EQ(redact_target("/a/b?x=1&access_token=eyJ.secret.sig&y=2"),
            "/a/b?x=1&access_token=[redacted]&y=2");
  EXPECT_EQ(redact_target("/a?ACCESS_TOKEN=s"), "/a?ACCESS_TOKEN=[redacted]");
  EXPECT_EQ(redact_target("/plain"), "/plain");
  // A percent-encoded name is the same parameter to the gateway's URL parser.
  EXPECT_EQ(redact_target("/a?access%5Ftoken=eyJ.s.s"), "/a?access%5Ftoken=[redacted]");
  EXPECT_EQ(redact_target("/a?%61ccess_token=eyJ.s.s&b=1"), "/a?%61ccess_token=[redacted]&b=1");
  // Every occurrence (the gateway takes the last one).
  EXPECT_EQ(redact_target("/a?access_token=one&access_token=two"),
            "/a?access_token=[redacted]&access_token=[redacted]");
  // Other names the gateway never reads as a credential, empty and valueless parameters stay.
  EXPECT_EQ(redact_target("/a?token=t&api_key=k&jwt=j&key=x&keys=y&flag&e="),
            "/a?token=[redacted]&api_key=[redacted]&jwt=[redacted]&key=[redacted]&keys=y&flag&e=");
}

TEST(redact, a_target_the_gateway_cannot_parse_loses_its_whole_query) {
  // The gateway answers 400 to these; what it cannot parse it cannot take a token from, and a log
  // line must not guess where a token ends.
  EXPECT_EQ(redact_target("/a?%61ccess_token=eyJ.s.s&b=%zz"), "/a?[redacted]");
  EXPECT_EQ(redact_target("/a?access_token=x#frag"), "/a?[redacted]");
}

TEST(redact, authorization_header_is_hidden) {
  EXPECT_EQ(redact_header("Authorization", "Bearer x"), "[redacted]");
  EXPECT_EQ(redact_header("Origin", "http://a"), "http://a");
}
}  // namespace herald

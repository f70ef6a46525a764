#include <gtest/gtest.h>

#include "net/cors_options.hpp"
#include "net/listen_address.hpp"

namespace herald::net {
namespace {

TEST(listen_address, parses_ip_literals_and_ports) {
  auto l = parse_listen_address("[::1]:8080");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->address, "::1");
  EXPECT_EQ(l->port, 8080);
  EXPECT_EQ(to_string(*l), "[::1]:8080");
  auto z = parse_listen_address("127.0.0.1:0");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->port, 0);
  for (const char* bad : {"localhost:8080", "127.0.0.1", "127.0.0.1:70000", "127.0.0.1:http",
                          "::1:8080", "[::1]8080", "[nope]:8080", "300.1.1.1:80"})
    EXPECT_FALSE(parse_listen_address(bad)) << bad;
  EXPECT_EQ(parse_listen_address("localhost:8080").err().message.rfind("'localhost:8080' must", 0),
            0u);
}

TEST(listen_address, collisions) {
  EXPECT_TRUE(same_listener({"127.0.0.1", 8080}, {"127.0.0.1", 8080}));
  EXPECT_TRUE(same_listener({"0.0.0.0", 9000}, {"127.0.0.1", 9000}));
  EXPECT_FALSE(same_listener({"127.0.0.1", 9000}, {"127.0.0.2", 9000}));
  EXPECT_FALSE(same_listener({"127.0.0.1", 0}, {"127.0.0.1", 0}));
}

TEST(cors_options, origins_are_normalized_or_refused) {
  EXPECT_EQ(*normalize_origin("https://App.Example.com"), "https://app.example.com");
  EXPECT_EQ(*normalize_origin("http://[::1]:3000"), "http://[::1]:3000");
  EXPECT_EQ(*normalize_origin("*"), "*");
  EXPECT_EQ(normalize_origin("https://a.com/").err().message,
            "'https://a.com/' must not have a path (not even a trailing '/')");
  EXPECT_FALSE(normalize_origin("app.example.com"));
  EXPECT_FALSE(normalize_origin("https://a.com:99999"));
  EXPECT_FALSE(normalize_origin("https://u@a.com"));
}

TEST(cors_options, header_names_and_the_wildcard_with_credentials) {
  EXPECT_EQ(split_header_list("Cache-Control,Last-Event-ID , X-Y"),
            (std::vector<std::string>{"Cache-Control", "Last-Event-ID", "X-Y"}));
  EXPECT_EQ(join_header_list({"A", "B"}), "A, B");
  EXPECT_TRUE(check_header_name("X-Requested-With"));
  EXPECT_FALSE(check_header_name("X-A\r\nSet-Cookie: a=b"));
  cors_options c;
  c.allow_origins = {"*"};
  EXPECT_FALSE(validate(c));
  c.allow_credentials = false;
  EXPECT_TRUE(validate(c));
}

}  // namespace
}  // namespace herald::net

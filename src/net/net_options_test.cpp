#include <gtest/gtest.h>

#include "net/cors_options.hpp"
#include "net/ip_network.hpp"
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

TEST(ip_network, items_are_normalized_or_refused_with_the_value_first) {
  EXPECT_EQ(*normalize_ip_network("10.0.0.0/8"), "10.0.0.0/8");
  EXPECT_EQ(*normalize_ip_network("192.0.2.7"), "192.0.2.7/32");
  EXPECT_EQ(*normalize_ip_network("fd00::/8"), "fd00::/8");
  EXPECT_EQ(*normalize_ip_network("2001:DB8::1"), "2001:db8::1/128");
  EXPECT_EQ(normalize_ip_network("10.0.0.1/8").err().message,
            "'10.0.0.1/8' has host bits set past its prefix (the network is 10.0.0.0/8)");
  for (const char* bad : {"", "proxy.local", "10.0.0.0/", "10.0.0.0/33", "fd00::/129", "10.0.0.0/x",
                          "10.0.0.0/8/8", "/8", "10.0.0.0/-1", "10.0.0.0/0008"}) {
    auto r = normalize_ip_network(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.err().message.rfind("'" + std::string(bad) + "' ", 0), 0u) << r.err().message;
  }
}

TEST(ip_network, membership_with_mapped_addresses_and_whole_ranges) {
  auto n = ip_networks::parse({"10.0.0.0/8", "192.0.2.7", "fd00::/8", "0.0.0.0/0"});
  ASSERT_TRUE(n) << n.err().message;
  auto in = [&](const char* a) { return n->contains(boost::asio::ip::make_address(a)); };
  EXPECT_TRUE(in("10.255.0.1"));
  EXPECT_TRUE(in("::ffff:10.1.2.3"));  // an IPv4 peer on a dual-stack socket
  EXPECT_TRUE(in("203.0.113.1"));      // 0.0.0.0/0
  EXPECT_TRUE(in("fdab::1"));
  EXPECT_FALSE(in("2001:db8::1"));
  auto narrow = ip_networks::parse({"192.0.2.7", "2001:db8::/32"});
  ASSERT_TRUE(narrow);
  EXPECT_TRUE(narrow->contains(boost::asio::ip::make_address("192.0.2.7")));
  EXPECT_FALSE(narrow->contains(boost::asio::ip::make_address("192.0.2.8")));
  EXPECT_TRUE(narrow->contains(boost::asio::ip::make_address("2001:db8:ffff::1")));
  EXPECT_FALSE(narrow->contains(boost::asio::ip::make_address("2001:db9::1")));
  EXPECT_TRUE(ip_networks{}.empty());
  EXPECT_FALSE(ip_networks::parse({"10.0.0.0/8", "bogus"}));
}

}  // namespace
}  // namespace herald::net

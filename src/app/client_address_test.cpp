#include "app/client_address.hpp"

#include <gtest/gtest.h>

namespace herald::app {
namespace {

namespace asio = boost::asio;

net::ip_networks proxies(const std::vector<std::string>& items) {
  auto n = net::ip_networks::parse(items);
  EXPECT_TRUE(n) << n.err().message;
  return n ? *n : net::ip_networks{};
}

std::string from(std::string_view peer, std::string_view xff, const net::ip_networks& trusted) {
  return client_address(asio::ip::make_address(std::string(peer)), xff, trusted).to_string();
}

TEST(client_address, without_trusted_proxies_the_peer_is_the_client_and_the_header_ignored) {
  const net::ip_networks none;
  EXPECT_EQ(from("203.0.113.7", "198.51.100.1", none), "203.0.113.7");
  EXPECT_EQ(from("::ffff:203.0.113.7", "", none), "203.0.113.7");  // dual-stack IPv4 peer
}

TEST(client_address, an_untrusted_peer_is_the_client_whatever_it_claims) {
  auto trusted = proxies({"10.0.0.0/8"});
  EXPECT_EQ(from("203.0.113.7", "10.1.1.1, 198.51.100.1", trusted), "203.0.113.7");
}

TEST(client_address, behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client) {
  auto trusted = proxies({"10.0.0.0/8", "fd00::/8"});
  // The client forged "1.2.3.4"; our proxies appended 198.51.100.9 and 10.0.0.2.
  EXPECT_EQ(from("10.0.0.1", "1.2.3.4, 198.51.100.9, 10.0.0.2", trusted), "198.51.100.9");
  EXPECT_EQ(from("10.0.0.1", "198.51.100.9", trusted), "198.51.100.9");
  EXPECT_EQ(from("fd00::1", "2001:db8::5,fd00::2", trusted), "2001:db8::5");
  // Ports and brackets as some proxies write them; spaces and empty elements.
  EXPECT_EQ(from("10.0.0.1", " 198.51.100.9:4711 ,, ", trusted), "198.51.100.9");
  EXPECT_EQ(from("10.0.0.1", "[2001:db8::5]:4711", trusted), "2001:db8::5");
  EXPECT_EQ(from("10.0.0.1", "::ffff:198.51.100.9", trusted), "198.51.100.9");
}

TEST(client_address, a_header_of_trusted_hops_only_gives_the_left_most) {
  auto trusted = proxies({"10.0.0.0/8"});
  EXPECT_EQ(from("10.0.0.1", "10.9.9.9, 10.0.0.2", trusted), "10.9.9.9");
  EXPECT_EQ(from("10.0.0.1", "", trusted), "10.0.0.1");  // no header: the proxy itself
}

TEST(client_address, an_unreadable_hop_stops_at_the_proxy_that_passed_it_on) {
  auto trusted = proxies({"10.0.0.0/8"});
  EXPECT_EQ(from("10.0.0.1", "198.51.100.9, unknown", trusted), "10.0.0.1");
  EXPECT_EQ(from("10.0.0.1", "198.51.100.9, garbage, 10.0.0.3", trusted), "10.0.0.3");
  for (const char* bad :
       {"[2001:db8::5", "[2001:db8::5]x", "1.2.3.4:", "_", "1.2.3.4.5", "[::1]:", "[::1]:12a"})
    EXPECT_EQ(from("10.0.0.1", bad, trusted), "10.0.0.1") << bad;
}

TEST(client_address, joins_every_x_forwarded_for_header_of_a_request) {
  auto trusted = proxies({"10.0.0.0/8"});
  net::http_request req;
  req.remote = {asio::ip::make_address("10.0.0.1"), 4000};
  req.message.insert("X-Forwarded-For", "1.2.3.4, 198.51.100.9");
  req.message.insert("X-Forwarded-For", "10.0.0.2");
  EXPECT_EQ(client_address(req, trusted).to_string(), "198.51.100.9");
  net::http_request direct;
  direct.remote = {asio::ip::make_address("203.0.113.7"), 4000};
  direct.message.insert("X-Forwarded-For", "198.51.100.9");
  EXPECT_EQ(client_address(direct, trusted).to_string(), "203.0.113.7");
}

}  // namespace
}  // namespace herald::app

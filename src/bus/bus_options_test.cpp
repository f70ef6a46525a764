#include "bus/bus_options.hpp"

#include <gtest/gtest.h>

#include <string>

namespace herald::bus {
namespace {

std::string message(const result<void>& r) { return r ? "" : r.err().message; }

bus_config redis() {
  bus_config c;
  c.kind = bus_kind::redis;
  return c;
}

TEST(bus_options, names_of_kinds_modes_and_schemes) {
  EXPECT_EQ(*parse_kind("redis"), bus_kind::redis);
  EXPECT_EQ(to_string(*parse_kind("local")), "local");
  EXPECT_EQ(*parse_mode("compat"), bus_mode::compat);
  EXPECT_EQ(to_string(bus_mode::native), "native");
  EXPECT_EQ(parse_kind("kafka").err().message,
            "'kafka' is not supported (use \"local\" or \"redis\")");
  EXPECT_FALSE(parse_mode("fast"));
  EXPECT_EQ(*parse_scheme("redis"), "redis");
  EXPECT_EQ(*parse_scheme("rediss"), "rediss");
  EXPECT_EQ(parse_scheme("unix").err().message.rfind("'unix' is not supported", 0), 0u);
  for (auto t : {bus_thread::automatic, bus_thread::own, bus_thread::event_loop})
    EXPECT_EQ(*parse_thread(to_string(t)), t);
  EXPECT_EQ(to_string(bus_thread::event_loop), "event-loop");
  EXPECT_EQ(to_string(bus_config{}.thread), "auto");
  EXPECT_EQ(parse_thread("loop").err().message,
            "'loop' is not supported (use \"auto\", \"own\" or \"event-loop\")");
}

TEST(bus_options, hosts_and_cluster_seeds) {
  EXPECT_TRUE(parse_host("valkey.internal"));
  EXPECT_TRUE(parse_host("fd00::1"));
  EXPECT_EQ(parse_host("a b").err().message, "'a b' is not a host name or IP address");
  EXPECT_FALSE(parse_host(""));
  for (const char* ok : {"valkey-0:6379", "10.0.0.2:6379", "[fd00::1]:6379"})
    EXPECT_TRUE(check_node_address(ok)) << ok;
  for (const char* bad : {"valkey-0", ":6379", "valkey:0", "valkey:65536", "fd00::1:6379", "[]:1"})
    EXPECT_FALSE(check_node_address(bad)) << bad;
}

TEST(bus_options, rediss_is_accepted_and_its_tls_options_checked) {
  bus_config local;
  local.scheme = "rediss";
  local.tls.insecure = true;
  local.tls.ca_file = "/ca.pem";
  EXPECT_TRUE(validate(local));  // the in-process bus ignores the Prowler API's VALKEY_SCHEME
  auto c = redis();
  c.scheme = "rediss";
  EXPECT_TRUE(validate(c));
  c.tls.cert_file = "/client.pem";  // a certificate without its key
  EXPECT_FALSE(validate(c));
}

TEST(bus_options, rules_across_fields) {
  EXPECT_TRUE(validate(bus_config{}));
  EXPECT_TRUE(validate(redis()));
  auto c = redis();
  c.cluster = true;
  c.mode = bus_mode::compat;
  EXPECT_NE(message(validate(c)).find("cluster = false"), std::string::npos);
  bus_config inverted;  // the local bus too: the limits do not depend on the kind
  inverted.reconnect_min_ms = 500;
  inverted.reconnect_max_ms = 100;
  EXPECT_EQ(message(validate(inverted)),
            "bus.reconnect_min_ms (500) must not exceed bus.reconnect_max_ms (100)");
  c = redis();
  c.cluster_nodes = {"valkey-0"};
  EXPECT_NE(message(validate(c)).find("bus.cluster_nodes: 'valkey-0' must be host:port"),
            std::string::npos);
}

TEST(bus_options, cluster_seeds_default_to_host_and_port) {
  auto c = redis();
  c.cluster = true;
  c.host = "valkey";
  complete(c);
  EXPECT_EQ(c.cluster_nodes, (std::vector<std::string>{"valkey:6379"}));
  c.cluster_nodes.clear();
  c.host = "fd00::1";
  complete(c);
  EXPECT_EQ(c.cluster_nodes, (std::vector<std::string>{"[fd00::1]:6379"}));
}

}  // namespace
}  // namespace herald::bus

#include "bus/cluster_topology.hpp"

#include <gtest/gtest.h>

#include "bus/key_slot.hpp"
#include "bus/resp.hpp"

namespace herald::bus {
namespace {

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
std::string num(long long v) { return ":" + std::to_string(v) + "\r\n"; }
std::string node(std::string_view host, int port) {
  return "*3\r\n" + bulk(host) + num(port) + bulk("0123456789abcdef0123456789abcdef01234567");
}
std::string range(int a, int b, const std::string& master, const std::string& replica = {}) {
  return (replica.empty() ? "*3\r\n" : "*4\r\n") + num(a) + num(b) + master + replica;
}

resp::reply_ptr parse(const std::string& bytes) {
  resp::reader r;
  EXPECT_TRUE(r.feed(bytes.data(), bytes.size()));
  auto out = r.next();
  EXPECT_TRUE(out && *out);
  return std::move(*out);
}

const node_address kQueried{"127.0.0.1", 7000};

}  // namespace

TEST(cluster_topology, maps_every_slot_to_its_master) {
  auto reply = parse("*3\r\n" + range(0, 5460, node("127.0.0.1", 7000), node("127.0.0.1", 7003)) +
                     range(5461, 10922, node("127.0.0.1", 7001)) +
                     range(10923, 16383, node("127.0.0.1", 7002)));
  auto t = cluster_topology::from_cluster_slots(*reply, kQueried);
  ASSERT_TRUE(t) << t.err().message;
  EXPECT_TRUE(t->covers_all_slots());
  ASSERT_EQ(t->masters().size(), 3u);  // the replica is not a master
  EXPECT_EQ(t->owner(0)->port, 7000);
  EXPECT_EQ(t->owner(5460)->port, 7000);
  EXPECT_EQ(t->owner(5461)->port, 7001);
  EXPECT_EQ(t->owner(key_slot("foo"))->port, 7002);  // 12182
  EXPECT_EQ(t->owner(16383)->port, 7002);
}

TEST(cluster_topology, several_ranges_per_master_and_gaps) {
  auto reply = parse("*2\r\n" + range(0, 99, node("10.0.0.1", 6379)) +
                     range(200, 16383, node("10.0.0.1", 6379)));
  auto t = cluster_topology::from_cluster_slots(*reply, kQueried);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->masters().size(), 1u);
  EXPECT_FALSE(t->covers_all_slots());
  EXPECT_EQ(t->uncovered_slots(), 100u);
  EXPECT_EQ(t->owner(150), nullptr);
  EXPECT_EQ(t->owner(99)->host, "10.0.0.1");
}

TEST(cluster_topology, empty_host_means_the_queried_node) {
  auto reply = parse("*1\r\n" + range(0, 16383, node("", 7005)));
  auto t = cluster_topology::from_cluster_slots(*reply, kQueried);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t->owner(1), (node_address{"127.0.0.1", 7005}));
}

TEST(cluster_topology, refuses_errors_and_malformed_replies) {
  EXPECT_FALSE(cluster_topology::from_cluster_slots(
      *parse("-ERR This instance has cluster support disabled\r\n"), kQueried));
  EXPECT_FALSE(cluster_topology::from_cluster_slots(*parse(":1\r\n"), kQueried));
  EXPECT_FALSE(cluster_topology::from_cluster_slots(*parse("*1\r\n*2\r\n:0\r\n:5\r\n"), kQueried));
  EXPECT_FALSE(
      cluster_topology::from_cluster_slots(*parse("*1\r\n" + range(5, 2, node("h", 1))), kQueried));
  EXPECT_FALSE(cluster_topology::from_cluster_slots(
      *parse("*1\r\n" + range(0, 16384, node("h", 1))), kQueried));
}

TEST(cluster_topology, default_covers_nothing) {
  cluster_topology t;
  EXPECT_FALSE(t.covers_all_slots());
  EXPECT_EQ(t.owner(0), nullptr);
}

TEST(node_address, parses_host_port_forms) {
  auto a = parse_node_address("valkey-0:6379");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "valkey-0");
  EXPECT_EQ(a->port, 6379);
  auto b = parse_node_address("[::1]:7000");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->str(), "[::1]:7000");
  EXPECT_FALSE(parse_node_address("valkey"));
  EXPECT_FALSE(parse_node_address("valkey:0"));
  EXPECT_FALSE(parse_node_address("valkey:70000"));
  EXPECT_FALSE(parse_node_address(":6379"));
  EXPECT_FALSE(parse_node_address("::1:6379"));
}

TEST(redirect, parses_moved_and_ask) {
  auto m = parse_redirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->ask);
  EXPECT_EQ(m->slot, 3999);
  EXPECT_EQ(m->to, (node_address{"127.0.0.1", 6381}));
  auto a = parse_redirect("ASK 12182 10.0.0.2:7000");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ask);
  EXPECT_FALSE(parse_redirect("ERR unknown command"));
  EXPECT_FALSE(parse_redirect("MOVED x 127.0.0.1:1"));
  EXPECT_FALSE(parse_redirect("MOVED 16384 127.0.0.1:1"));
}

}  // namespace herald::bus

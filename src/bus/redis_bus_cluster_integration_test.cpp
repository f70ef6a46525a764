// redis_bus in cluster mode against a three-master redis-server cluster on loopback, created by the
// test with `redis-cli --cluster create` and killed at the end.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <map>
#include <mutex>

#include "bus/cluster_topology.hpp"
#include "bus/key_slot.hpp"
#include "bus/redis_bus.hpp"
#include "bus/test_redis_server.hpp"

namespace herald::bus {
namespace {
using namespace std::chrono_literals;
using testing::collector;
using testing::publish_sync;
using testing::redis_server;
using testing::sync_client;
using testing::wait_until;

const std::string kTenant = "8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10";

// Three masters, no replicas, all 16384 slots assigned.
class test_cluster {
 public:
  test_cluster() {
    for (int i = 0; i < 3; ++i)
      nodes_.push_back(std::make_unique<redis_server>(
          std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file",
                                   "nodes.conf", "--cluster-node-timeout", "2000",
                                   // The buses log in as the least-privilege user documented in
                                   // docs/scaling-and-bus.md; the default user stays for redis-cli.
                                   "--user", "herald", "on", ">cluster-pw", "resetchannels",
                                   "&herald:*", "-@all", "+ping", "+spublish", "+ssubscribe",
                                   "+sunsubscribe", "+cluster|slots"},
          /*cluster_bus_port=*/true));
    std::vector<std::string> argv = {"redis-cli", "--cluster", "create"};
    for (auto& n : nodes_) argv.push_back("127.0.0.1:" + std::to_string(n->port()));
    argv.insert(argv.end(), {"--cluster-replicas", "0", "--cluster-yes"});
    std::string out;
    if (testing::run(argv, &out) != 0)
      throw std::runtime_error("redis-cli --cluster create failed:\n" + out);
    // Every node must see the whole cluster as ok before the bus reads the topology.
    bool ok = wait_until(
        [&] {
          for (auto& n : nodes_) {
            sync_client c(n->port());
            auto r = c.command({"CLUSTER", "INFO"});
            if (!r ||
                std::string_view(r->str, r->len).find("cluster_state:ok") == std::string_view::npos)
              return false;
            auto t = topology(n->port());
            if (!t || !t->covers_all_slots() || t->masters().size() != 3) return false;
          }
          return true;
        },
        30s);
    if (!ok) throw std::runtime_error("cluster did not become ok");
  }

  std::uint16_t port(int i) const { return nodes_[static_cast<std::size_t>(i)]->port(); }
  std::string seed() const { return "127.0.0.1:" + std::to_string(port(0)); }

  static std::optional<cluster_topology> topology(std::uint16_t port) {
    sync_client c(port);
    auto r = c.command({"CLUSTER", "SLOTS"});
    if (!r) return std::nullopt;
    auto t = cluster_topology::from_cluster_slots(*r, node_address{"127.0.0.1", port});
    if (!t) return std::nullopt;
    return std::move(*t);
  }
  int index_of_owner(std::uint16_t slot) const {
    auto t = topology(port(0));
    const node_address* o = t ? t->owner(slot) : nullptr;
    for (int i = 0; i < 3; ++i)
      if (o && o->port == port(i)) return i;
    return -1;
  }
  std::string node_id(int i) const {
    sync_client c(port(i));
    auto r = c.command({"CLUSTER", "MYID"});
    return r ? std::string(r->str, r->len) : std::string();
  }

 private:
  std::vector<std::unique_ptr<redis_server>> nodes_;
};

bus_config cluster_cfg(const test_cluster& c) {
  bus_config cfg;
  cfg.kind = bus_kind::redis;
  cfg.cluster = true;
  cfg.cluster_nodes = {c.seed()};
  cfg.username = "herald";
  cfg.password = "cluster-pw";
  cfg.reconnect_min_ms = 20;
  cfg.reconnect_max_ms = 300;
  cfg.connect_timeout_ms = 1000;
  return cfg;
}

// One Herald channel per master: their pub/sub names hash to slots served by different nodes.
std::vector<std::string> channels_on_each_master(const test_cluster& c) {
  std::vector<std::string> out(3);
  int found = 0;
  for (int i = 0; found < 3 && i < 1000; ++i) {
    std::string ch = "prowler:" + kTenant + ":scan-" + std::to_string(i);
    int owner = c.index_of_owner(key_slot("herald:" + ch));
    if (owner >= 0 && out[static_cast<std::size_t>(owner)].empty()) {
      out[static_cast<std::size_t>(owner)] = ch;
      ++found;
    }
  }
  return out;
}

}  // namespace

TEST(redis_bus_cluster, key_slot_agrees_with_the_cluster) {
  test_cluster c;
  sync_client cli(c.port(0));
  for (const std::string& k : std::vector<std::string>{
           "foo", "herald:prowler:" + kTenant + ":scan-1", "herald:{t}:a", "x{}y"})
    EXPECT_EQ(cli.integer({"CLUSTER", "KEYSLOT", k}), key_slot(k)) << k;
}

TEST(redis_bus_cluster, events_on_channels_in_different_slots_reach_two_buses) {
  test_cluster c;
  redis_bus a(cluster_cfg(c)), b(cluster_cfg(c));
  EXPECT_EQ(a.describe(),
            "redis-cluster://" + c.seed() + " (native, prefix \"herald:\", sharded pub/sub)");
  collector ca, cb;
  a.start(ca.as_sink());
  b.start(cb.as_sink());
  auto chans = channels_on_each_master(c);
  std::vector<std::future<void>> confirmed;
  for (const auto& ch : chans) {
    ASSERT_FALSE(ch.empty());
    a.add_interest(ch);
    auto p = std::make_shared<std::promise<void>>();
    confirmed.push_back(p->get_future());
    b.add_interest_confirmed(ch, [p] { p->set_value(); });  // SSUBSCRIBE confirmed by its shard
  }
  ASSERT_TRUE(wait_until([&] { return a.ready() && b.ready(); }, 20s)) << a.last_error();
  for (auto& f : confirmed) ASSERT_EQ(f.wait_for(20s), std::future_status::ready);

  // Each channel is SSUBSCRIBEd by both buses on the master that owns its slot, and nowhere else.
  for (int i = 0; i < 3; ++i) {
    const std::string p = "herald:" + chans[static_cast<std::size_t>(i)];
    for (int n = 0; n < 3; ++n) {
      sync_client cli(c.port(n));
      const long long want = n == i ? 2 : 0;
      EXPECT_TRUE(wait_until([&] { return cli.shardnumsub(p) == want; })) << p << " on node " << n;
    }
  }

  for (int i = 0; i < 3; ++i) {
    const auto& ch = chans[static_cast<std::size_t>(i)];
    ASSERT_TRUE(publish_sync(a, {ch, "scan.progress", "{\"shard\": " + std::to_string(i) + "}",
                                 "a" + std::to_string(i)}));
    ASSERT_TRUE(publish_sync(b, {ch, "scan.progress", "{}", "b" + std::to_string(i)}));
  }
  for (collector* col : {&ca, &cb}) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(col->wait_for_id("a" + std::to_string(i)));
      ASSERT_TRUE(col->wait_for_id("b" + std::to_string(i)));
    }
    auto counts = col->id_counts();
    EXPECT_EQ(counts.size(), 6u);
    for (const auto& [id, n] : counts) EXPECT_EQ(n, 1) << id;
  }

  // Interest removed: unsubscribed on the owning shard.
  a.remove_interest(chans[0]);
  sync_client owner0(c.port(0));
  EXPECT_TRUE(wait_until([&] { return owner0.shardnumsub("herald:" + chans[0]) == 1; }));
}

TEST(redis_bus_cluster, resubscribes_where_a_slot_moved) {
  test_cluster c;
  collector ca, cb;
  redis_bus a(cluster_cfg(c)), b(cluster_cfg(c));
  a.start(ca.as_sink());
  b.start(cb.as_sink());
  const std::string ch = channels_on_each_master(c)[0];  // served by node 0
  const std::string p = "herald:" + ch;
  const std::uint16_t slot = key_slot(p);
  a.add_interest(ch);
  b.add_interest(ch);
  ASSERT_TRUE(wait_until([&] { return a.ready() && b.ready(); }, 20s)) << a.last_error();
  sync_client n0(c.port(0)), n1(c.port(1)), n2(c.port(2));
  ASSERT_TRUE(wait_until([&] { return n0.shardnumsub(p) == 2; }));
  ASSERT_TRUE(publish_sync(a, {ch, "scan.progress", "{}", "before"}));
  ASSERT_TRUE(cb.wait_for_id("before"));

  // Move the (key-less) slot from node 0 to node 1, as a resharding would.
  const std::string id0 = c.node_id(0), id1 = c.node_id(1);
  const std::string s = std::to_string(slot);
  auto ok = [](resp::reply_ptr r) { return r && r->type == REDIS_REPLY_STATUS; };
  ASSERT_TRUE(ok(n1.command({"CLUSTER", "SETSLOT", s, "IMPORTING", id0})));
  ASSERT_TRUE(ok(n0.command({"CLUSTER", "SETSLOT", s, "MIGRATING", id1})));
  ASSERT_TRUE(ok(n1.command({"CLUSTER", "SETSLOT", s, "NODE", id1})));
  ASSERT_TRUE(ok(n0.command({"CLUSTER", "SETSLOT", s, "NODE", id1})));
  ASSERT_TRUE(ok(n2.command({"CLUSTER", "SETSLOT", s, "NODE", id1})));

  // Node 0 drops the shard channel (sunsubscribe push); both buses refresh and SSUBSCRIBE on
  // node 1.
  ASSERT_TRUE(wait_until([&] { return n1.shardnumsub(p) == 2; }, 20s))
      << "node1 has " << n1.shardnumsub(p) << ", node0 has " << n0.shardnumsub(p);
  EXPECT_EQ(n0.shardnumsub(p), 0);
  ASSERT_TRUE(wait_until([&] { return a.ready() && b.ready(); }));
  ASSERT_TRUE(publish_sync(a, {ch, "scan.progress", "{}", "after-a"}));
  ASSERT_TRUE(publish_sync(b, {ch, "scan.progress", "{}", "after-b"}));
  for (collector* col : {&ca, &cb}) {
    ASSERT_TRUE(col->wait_for_id("after-a"));
    ASSERT_TRUE(col->wait_for_id("after-b"));
    for (const auto& [id, n] : col->id_counts()) EXPECT_EQ(n, 1) << id;
  }
}

TEST(redis_bus_cluster, a_dead_master_makes_the_bus_not_ready_and_its_shard_unavailable) {
  auto c = std::make_unique<test_cluster>();
  redis_bus a(cluster_cfg(*c));
  a.start([](const sse::event&) {});
  auto chans = channels_on_each_master(*c);
  ASSERT_TRUE(wait_until([&] { return a.ready(); }, 20s)) << a.last_error();
  ASSERT_TRUE(publish_sync(a, {chans[2], "scan.progress", "{}", "x"}));
  c.reset();  // kill -9 every node
  ASSERT_TRUE(wait_until([&] { return !a.ready(); }, 10s));
  auto r = publish_sync(a, {chans[2], "scan.progress", "{}", "y"}, 3s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unavailable) << r.err().message;
  a.stop();  // prompt even while every node is unreachable
}

}  // namespace herald::bus

namespace herald::bus {

// docs/scaling-and-bus.md: compat mode with a cluster = cluster=false pointed at one node, because
// the cluster broadcasts classic PUBLISH (what django-eventstream sends) to every node.
TEST(redis_bus_cluster, compat_mode_on_one_cluster_node_receives_publishes_made_on_another) {
  test_cluster c;
  bus_config cfg;
  cfg.kind = bus_kind::redis;
  cfg.mode = bus_mode::compat;
  cfg.port = c.port(0);
  cfg.reconnect_min_ms = 20;
  cfg.reconnect_max_ms = 300;
  collector ca;
  redis_bus a(cfg);
  a.start(ca.as_sink());
  auto sub = std::make_shared<std::promise<void>>();
  const std::string ch = "prowler:" + kTenant + ":scan-9";
  a.add_interest_confirmed(ch, [sub] { sub->set_value(); });
  ASSERT_EQ(sub->get_future().wait_for(20s), std::future_status::ready) << a.last_error();
  sync_client other(c.port(2));
  other.command(
      {"PUBLISH", "events_channel",
       "{\"channel\": \"" + ch +
           "\", \"event_type\": \"scan.progress\", \"data\": \"{}\", \"pub_id\": \"5\"}"});
  ASSERT_TRUE(ca.wait_for_id("5"));
  ASSERT_TRUE(publish_sync(a, {ch, "scan.progress", "{}", "6"}));  // classic PUBLISH on node 0
  ASSERT_TRUE(ca.wait_for_id("6"));
}

}  // namespace herald::bus

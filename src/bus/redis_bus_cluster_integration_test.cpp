// redis_bus in cluster mode against a three-master redis-server cluster on loopback, created by the
// test with `redis-cli --cluster create` and killed at the end.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>

#include "bus/bus_metrics.hpp"
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
using testing::test_pki;
using testing::wait_until;

using testing::kTenant;

struct cluster_options {
  // TLS between everyone (tls-port, tls-cluster, client certificates required) with these files.
  const test_pki* pki = nullptr;
  // "no": the masters that are up keep serving their slots while another master is down.
  bool require_full_coverage = true;
  // The bus user may also keep reliable channels' logs (docs/scaling-and-bus.md's replay grants).
  bool replay = false;
};

// Three masters, no replicas, all 16384 slots assigned.
class test_cluster {
 public:
  explicit test_cluster(cluster_options o = {}) : opts_(o) {
    for (int i = 0; i < 3; ++i) {
      std::vector<std::string> args = {
          "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
          "--cluster-node-timeout", "2000", "--cluster-require-full-coverage",
          o.require_full_coverage ? "yes" : "no",
          // The buses log in as the least-privilege user documented in docs/scaling-and-bus.md;
          // the default user stays for redis-cli.
          "--user", "herald", "on", ">cluster-pw", "resetchannels", "&herald:*", "-@all", "+ping",
          "+spublish", "+ssubscribe", "+sunsubscribe", "+cluster|slots"};
      if (o.replay)
        args.insert(args.end(),
                    {"~{herald:*", "+evalsha", "+eval", "+script|load", "+hincrby", "+hset",
                     "+hmget", "+del", "+xadd", "+xrange", "+xtrim", "+pexpire", "+time"});
      if (o.pki) {
        auto tls = o.pki->redis_args(/*require_client_cert=*/true);
        args.insert(args.end(), tls.begin(), tls.end());
        args.insert(args.end(), {"--tls-cluster", "yes"});
      }
      nodes_.push_back(std::make_unique<redis_server>(args, /*cluster_bus_port=*/true,
                                                      /*tls_port=*/o.pki != nullptr));
    }
    std::vector<std::string> argv = {"redis-cli"};
    if (o.pki)
      argv.insert(argv.end(), {"--tls", "--cacert", o.pki->ca(), "--cert", o.pki->client_cert(),
                               "--key", o.pki->client_key()});
    argv.insert(argv.end(), {"--cluster", "create"});
    for (int i = 0; i < 3; ++i) argv.push_back("127.0.0.1:" + std::to_string(bus_port(i)));
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

  // The plain port of node i (the test's own clients use it, also in TLS clusters).
  std::uint16_t port(int i) const { return nodes_[static_cast<std::size_t>(i)]->port(); }
  // The port the buses use: the TLS port in a TLS cluster.
  std::uint16_t bus_port(int i) const {
    const auto& n = *nodes_[static_cast<std::size_t>(i)];
    return opts_.pki ? n.tls_port() : n.port();
  }
  std::string seed() const { return "127.0.0.1:" + std::to_string(bus_port(0)); }
  void kill9(int i) { nodes_[static_cast<std::size_t>(i)]->kill9(); }

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
  // Connections node i has from clients other than the asking one (CLIENT LIST).
  long long other_clients(int i) const {
    sync_client c(port(i));
    auto r = c.command({"CLIENT", "LIST"});
    if (!r || r->type != REDIS_REPLY_STRING) return -1;
    long long n = 0;
    for (char ch : std::string_view(r->str, r->len)) n += ch == '\n';
    return n - 1;
  }

 private:
  cluster_options opts_;
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

// Watches every channel in `chans`; the future is ready once every subscription is live.
std::future<void> watch_all(bus& b, const std::vector<std::string>& chans) {
  auto left = std::make_shared<std::atomic<int>>(static_cast<int>(chans.size()));
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  for (const auto& ch : chans)
    b.add_interest_confirmed(ch, [left, p] {
      if (--*left == 0) p->set_value();
    });
  return f;
}

}  // namespace

TEST(redis_bus_cluster, key_slot_agrees_with_the_cluster) {
  test_cluster c;
  sync_client cli(c.port(0));
  for (const std::string& k : std::vector<std::string>{
           "foo", "herald:prowler:" + kTenant + ":scan-1", "herald:{t}:a", "x{}y"})
    EXPECT_EQ(cli.integer({"CLUSTER", "KEYSLOT", k}), key_slot(k)) << k;
}

TEST(redis_bus_cluster, subscriber_connections_only_to_the_shards_a_node_watches) {
  test_cluster c;
  redis_bus a(cluster_cfg(c));
  a.start([](const sse::event&) {});
  ASSERT_TRUE(wait_until([&] { return a.ready(); }, 20s)) << a.last_error();
  // Watching nothing: a publisher connection to each master, no subscriber connection.
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(wait_until([&] { return c.other_clients(i) == 1; })) << "node " << i;
  // Two channels on master 0: one subscriber connection there, and none elsewhere.
  auto chans = channels_on_each_master(c);
  std::string second;
  for (int k = 0; second.empty() && k < 1000; ++k) {
    std::string ch = "prowler:" + kTenant + ":other-" + std::to_string(k);
    if (c.index_of_owner(key_slot("herald:" + ch)) == 0) second = ch;
  }
  ASSERT_EQ(watch_all(a, {chans[0], second}).wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(wait_until([&] { return c.other_clients(0) == 2; }));
  EXPECT_EQ(c.other_clients(1), 1);
  EXPECT_EQ(c.other_clients(2), 1);
  ASSERT_TRUE(wait_until([&] { return a.ready(); })) << a.last_error();
  // A channel on master 2 opens its subscriber connection; master 1 still has none.
  ASSERT_EQ(watch_all(a, {chans[2]}).wait_for(20s), std::future_status::ready);
  EXPECT_TRUE(wait_until([&] { return c.other_clients(2) == 2; }));
  EXPECT_EQ(c.other_clients(1), 1);
  EXPECT_EQ(c.other_clients(0), 2);
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
  // Publishes to the channel wait for the buses to confirm the new subscription (until then they
  // are refused: its streams are open and would miss them).
  for (redis_bus* x : {&a, &b}) {
    auto moved = std::make_shared<std::promise<void>>();
    x->when_subscribed(ch, [moved] { moved->set_value(); });
    ASSERT_EQ(moved->get_future().wait_for(20s), std::future_status::ready);
  }
  ASSERT_TRUE(wait_until([&] { return a.ready() && b.ready(); }));
  ASSERT_TRUE(publish_sync(a, {ch, "scan.progress", "{}", "after-a"}));
  ASSERT_TRUE(publish_sync(b, {ch, "scan.progress", "{}", "after-b"}));
  for (collector* col : {&ca, &cb}) {
    ASSERT_TRUE(col->wait_for_id("after-a"));
    ASSERT_TRUE(col->wait_for_id("after-b"));
    for (const auto& [id, n] : col->id_counts()) EXPECT_EQ(n, 1) << id;
  }
}

TEST(redis_bus_cluster, one_master_down_the_other_shards_keep_delivering) {
  test_cluster c({.require_full_coverage = false});
  collector ca;
  redis_bus a(cluster_cfg(c)), b(cluster_cfg(c));
  a.start(ca.as_sink());
  b.start([](const sse::event&) {});
  auto chans = channels_on_each_master(c);
  ASSERT_EQ(watch_all(a, chans).wait_for(20s), std::future_status::ready) << a.last_error();
  ASSERT_TRUE(wait_until([&] { return a.ready() && b.ready(); }, 20s)) << a.last_error();
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(publish_sync(b, {chans[static_cast<std::size_t>(i)], "scan.progress", "{}",
                                 "before-" + std::to_string(i)}));

  c.kill9(2);  // one master, no replica: its slots stay unserved
  ASSERT_TRUE(wait_until([&] { return !a.ready() && !b.ready(); }));
  // Its shard answers 503, from both the watching and the publishing side...
  for (bus* x : {static_cast<bus*>(&a), static_cast<bus*>(&b)}) {
    auto r = publish_sync(*x, {chans[2], "scan.progress", "{}", "lost"}, 5s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::unavailable) << r.err().message;
  }
  // ...while the two other shards keep taking and delivering events, round after round of failed
  // reconnect attempts to the dead master (each round waits for another one: event-driven).
  for (int round = 0; round < 5; ++round) {
    const auto attempts = bus_metrics::get().reconnects.get();
    for (int i = 0; i < 2; ++i) {
      const std::string id = "r" + std::to_string(round) + "-" + std::to_string(i);
      auto r = publish_sync(b, {chans[static_cast<std::size_t>(i)], "scan.progress", "{}", id});
      ASSERT_TRUE(r) << r.err().message;
      ASSERT_TRUE(ca.wait_for_id(id));
    }
    ASSERT_TRUE(wait_until([&] { return bus_metrics::get().reconnects.get() > attempts; }))
        << "no reconnect attempt to the dead master";
  }
  EXPECT_FALSE(a.ready());
  auto counts = ca.id_counts();
  EXPECT_EQ(counts.count("lost"), 0u);
  for (const auto& [id, n] : counts) EXPECT_EQ(n, 1) << id;
  a.stop();  // prompt even while a master is unreachable
  b.stop();
}

TEST(redis_bus_cluster, sharded_pubsub_over_tls_with_client_certificates) {
  test_pki pki;
  test_cluster c({.pki = &pki});
  auto cfg = cluster_cfg(c);
  cfg.scheme = "rediss";
  cfg.tls.ca_file = pki.ca();
  cfg.tls.cert_file = pki.client_cert();
  cfg.tls.key_file = pki.client_key();
  collector ca;
  redis_bus a(cfg), b(cfg);
  EXPECT_EQ(a.describe(),
            "rediss-cluster://" + c.seed() + " (native, prefix \"herald:\", sharded pub/sub)");
  a.start(ca.as_sink());
  b.start([](const sse::event&) {});
  auto chans = channels_on_each_master(c);
  ASSERT_EQ(watch_all(a, chans).wait_for(20s), std::future_status::ready) << a.last_error();
  ASSERT_TRUE(wait_until([&] { return a.ready() && b.ready(); }, 20s)) << b.last_error();
  for (int i = 0; i < 3; ++i) {
    const std::string p = "herald:" + chans[static_cast<std::size_t>(i)];
    sync_client owner(c.port(i));
    EXPECT_EQ(owner.shardnumsub(p), 1) << p;
    ASSERT_TRUE(publish_sync(b, {chans[static_cast<std::size_t>(i)], "scan.progress", "{}",
                                 "tls-" + std::to_string(i)}));
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ca.wait_for_id("tls-" + std::to_string(i)));
  for (const auto& [id, n] : ca.id_counts()) EXPECT_EQ(n, 1) << id;
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
  ASSERT_TRUE(wait_until([&] { return a.ready(); }, 20s)) << a.last_error();  // publishers too
  ASSERT_TRUE(publish_sync(a, {ch, "scan.progress", "{}", "6"}));  // classic PUBLISH on node 0
  ASSERT_TRUE(ca.wait_for_id("6"));
}

}  // namespace herald::bus

namespace herald::bus {

// Reliable channels on a Cluster: the publish script's keys and its SPUBLISH share the channel's
// slot, on whichever master owns it; another node reads the log back.
TEST(redis_bus_cluster, reliable_channels_log_and_publish_in_their_slot) {
  cluster_options o;
  o.replay = true;
  test_cluster c(o);
  auto cfg = cluster_cfg(c);
  cfg.replay.channels = {"prowler"};
  redis_bus a(cfg), b(cfg);
  collector cb;
  a.start([](const sse::event&) {});
  b.start(cb.as_sink());
  auto chans = channels_on_each_master(c);
  ASSERT_EQ(watch_all(b, chans).wait_for(20s), std::future_status::ready);
  ASSERT_TRUE(wait_until([&] { return a.ready() && b.ready(); }, 20s)) << a.last_error();
  std::map<std::string, std::uint64_t> last;
  for (int round = 0; round < 3; ++round) {
    for (const auto& ch : chans) {
      auto p = std::make_shared<std::promise<result<std::uint64_t>>>();
      auto f = p->get_future();
      a.publish(sse::event{ch, "scan.progress", "{}"},
                [p](result<std::uint64_t> r) { p->set_value(std::move(r)); });
      ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
      auto seq = f.get();
      ASSERT_TRUE(seq) << seq.err().message;
      if (round > 0) {
        EXPECT_EQ(*seq, last[ch] + 1);
      }
      last[ch] = *seq;
    }
  }
  ASSERT_TRUE(cb.wait_for(9));
  for (const auto& e : cb.events()) EXPECT_NE(e.seq, 0u);
  for (const auto& ch : chans) {
    auto p = std::make_shared<std::promise<result<sse::log_read>>>();
    auto f = p->get_future();
    b.read_log(ch, last[ch] - 2, 10, [p](result<sse::log_read> r) { p->set_value(std::move(r)); });
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    auto r = f.get();
    ASSERT_TRUE(r) << r.err().message;
    ASSERT_EQ(r->entries.size(), 2u) << ch;
    EXPECT_EQ(r->entries[1].seq, last[ch]);
  }
}

}  // namespace herald::bus

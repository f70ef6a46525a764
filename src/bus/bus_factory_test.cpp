#include "bus/bus_factory.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace herald::bus {
namespace {

bus_config redis_cfg() {
  bus_config c;
  c.kind = bus_kind::redis;
  return c;
}

// Publishes a test event; the outcome if `done` ran before publish() returned, else nullopt.
std::optional<result<void>> publish_now(bus& b) {
  std::optional<result<void>> got;
  b.publish({"p:8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10:r", "scan.progress", "{}", ""},
            [&](result<void> r) { got = std::move(r); });
  return got;
}

}  // namespace

TEST(check_bus_config, accepts_defaults) {
  EXPECT_TRUE(check_bus_config(bus_config{}));
  EXPECT_TRUE(check_bus_config(redis_cfg()));
}

TEST(check_bus_config, refuses_what_the_bus_cannot_run) {
  auto c = redis_cfg();
  c.scheme = "redis+tls";
  EXPECT_FALSE(check_bus_config(c));
  c = redis_cfg();
  c.cluster = true;
  c.mode = bus_mode::compat;
  auto r = check_bus_config(c);
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("cluster = false"), std::string::npos);
  c = redis_cfg();
  c.cluster_nodes = {"valkey-0"};
  EXPECT_FALSE(check_bus_config(c));
  c = redis_cfg();
  c.reconnect_min_ms = 500;
  c.reconnect_max_ms = 100;
  EXPECT_FALSE(check_bus_config(c));
  c = redis_cfg();
  c.max_pending_publishes = 0;
  EXPECT_FALSE(check_bus_config(c));
  c = redis_cfg();
  c.host.clear();
  EXPECT_FALSE(check_bus_config(c));
}

TEST(make_bus, builds_the_configured_kind) {
  auto local = make_bus(bus_config{});
  ASSERT_TRUE(local);
  EXPECT_EQ(local->describe(), "local");
  auto c = redis_cfg();
  c.port = 6390;
  c.password = "hunter2";
  auto redis = make_bus(c);
  ASSERT_TRUE(redis);
  EXPECT_EQ(redis->describe(), "redis://127.0.0.1:6390 (native, prefix \"herald:\")");
  EXPECT_EQ(redis->describe().find("hunter2"), std::string::npos);
  EXPECT_FALSE(redis->ready());  // never started
  c.scheme = "rediss";
  auto tls = make_bus(c);  // the system trust store
  EXPECT_EQ(tls->describe(), "rediss://127.0.0.1:6390 (native, prefix \"herald:\")");
  // A CA file that cannot be loaded is a start-up error naming the option and the file.
  c.tls.ca_file = "/nonexistent/ca.pem";
  auto r = try_make_bus(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid_config);
  EXPECT_NE(r.err().message.find("bus.tls_ca_file \"/nonexistent/ca.pem\""), std::string::npos)
      << r.err().message;
  EXPECT_THROW(make_bus(c), std::invalid_argument);
}

TEST(check_bus_config, tls_options_are_consistent) {
  auto c = redis_cfg();
  c.scheme = "rediss";
  EXPECT_TRUE(check_bus_config(c));
  c.tls.cert_file = "client.pem";  // without its key
  auto r = check_bus_config(c);
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("bus.tls_key_file"), std::string::npos);
  c.tls.key_file = "client.key";
  EXPECT_TRUE(check_bus_config(c));
  c = redis_cfg();
  c.scheme = "rediss";
  c.tls.insecure = true;
  EXPECT_TRUE(check_bus_config(c));
  c.tls.server_name = "valkey.internal";  // would be ignored: refused
  EXPECT_FALSE(check_bus_config(c));
  // Plain "redis" ignores the TLS options.
  c.scheme = "redis";
  EXPECT_TRUE(check_bus_config(c));
}

TEST(local_bus, delivers_synchronously_and_confirms_interest_at_once) {
  auto b = make_bus(bus_config{});
  std::vector<sse::event> got;
  b->start([&](sse::event e) { got.push_back(std::move(e)); });
  bool confirmed = false;
  b->add_interest_confirmed("p:8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10:r", [&] { confirmed = true; });
  EXPECT_TRUE(confirmed);
  bool ok = false;
  b->publish({"p:8d2d1c5e-6b0a-4a43-9d2c-8a1e6c1c7a10:r", "scan.progress", "{}", ""},
             [&](const result<void>& r) { ok = r.has_value(); });
  EXPECT_TRUE(ok);
  EXPECT_EQ(got.size(), 1u);
}

// The gateway keeps a publish's outcome on its own frame when the bus says it acknowledges inline:
// the in-process bus must then call `done` before publish() returns, with success or an error.
TEST(local_bus, acknowledges_inline_before_publish_returns_even_when_stopped) {
  auto b = make_bus(bus_config{});
  ASSERT_TRUE(b->acknowledges_inline());
  b->start([](const sse::event&) {});
  auto got = publish_now(*b);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(*got);
  b->stop();
  got = publish_now(*b);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->err().code, errc::unavailable);
  // The Valkey bus answers later, from its own thread.
  EXPECT_FALSE(make_bus(redis_cfg())->acknowledges_inline());
}

TEST(redis_bus, refuses_publishes_before_start_and_after_stop) {
  auto c = redis_cfg();
  c.port = 1;  // nothing listens; the bus never connects
  auto b = make_bus(c);
  auto got = publish_now(*b);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->err().code, errc::unavailable);
  b->start([](const sse::event&) {});
  b->stop();
  got = publish_now(*b);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(*got);
}

}  // namespace herald::bus

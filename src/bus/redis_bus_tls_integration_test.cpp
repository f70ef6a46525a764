// redis_bus over TLS ("rediss", issue 14 item 8) against redis-server started with --tls-port and
// certificates the test makes with the openssl command line (test_pki). The server requires a
// client certificate signed by the test CA unless a test says otherwise.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <future>
#include <memory>

#include "bus/bus_factory.hpp"
#include "bus/message_codec.hpp"
#include "bus/redis_bus.hpp"
#include "bus/test_redis_server.hpp"

namespace herald::bus {
namespace {
using namespace std::chrono_literals;
using testing::channel;
using testing::collector;
using testing::publish_sync;
using testing::redis_server;
using testing::sync_client;
using testing::test_pki;
using testing::wait_until;

const std::string kPeerScript = std::string(HERALD_BUS_TESTDATA) + "/django_eventstream_peer.py";

sse::event ev(const std::string& ch, const std::string& id) {
  return sse::event{ch, "scan.progress", "{\"n\": 1}", id};
}

// A TLS bus to `srv`'s TLS port, trusting the test CA and presenting the client certificate.
bus_config tls_cfg(const redis_server& srv, const test_pki& pki, bus_mode mode = bus_mode::native) {
  bus_config c;
  c.kind = bus_kind::redis;
  c.mode = mode;
  c.scheme = "rediss";
  c.host = "127.0.0.1";
  c.port = srv.tls_port();
  c.reconnect_min_ms = 20;
  c.reconnect_max_ms = 300;
  c.connect_timeout_ms = 2000;
  c.tls.ca_file = pki.ca();
  c.tls.cert_file = pki.client_cert();
  c.tls.key_file = pki.client_key();
  return c;
}

// The bus built as the gateway builds it (try_make_bus: the TLS context is read up front).
std::unique_ptr<bus> build(const bus_config& c) {
  auto b = try_make_bus(c);
  if (!b) ADD_FAILURE() << b.err().message;
  return b ? std::move(*b) : nullptr;
}

// Waits until the bus reports a connection error containing `needle`; it must then be not ready
// and answer publishes with errc::unavailable carrying the reason.
void expect_refused(bus& b, const std::string& needle) {
  auto* rb = dynamic_cast<redis_bus*>(&b);
  ASSERT_NE(rb, nullptr);
  EXPECT_TRUE(wait_until([&] { return rb->last_error().find(needle) != std::string::npos; }))
      << "last error: " << rb->last_error();
  EXPECT_FALSE(b.ready());
  auto r = publish_sync(b, ev(channel("refused"), "x"), 5s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unavailable);
  EXPECT_NE(r.err().message.find(needle), std::string::npos) << r.err().message;
}

}  // namespace

TEST(redis_bus_tls, native_mode_publishes_and_receives_over_tls) {
  test_pki pki;
  redis_server srv(pki.redis_args(/*require_client_cert=*/true), false, /*tls_port=*/true);
  collector ca, cb;
  auto a = build(tls_cfg(srv, pki));
  // By host name: SNI is sent and the certificate's DNS name is checked.
  auto by_name = tls_cfg(srv, pki);
  by_name.host = "localhost";
  auto b = build(by_name);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->describe(), "rediss://127.0.0.1:" + std::to_string(srv.tls_port()) +
                               " (native, prefix \"herald:\")");
  a->start(ca.as_sink());
  b->start(cb.as_sink());
  const auto ch = channel("tls-native");
  for (bus* x : {a.get(), b.get()}) {
    auto p = std::make_shared<std::promise<void>>();
    x->add_interest_confirmed(ch, [p] { p->set_value(); });
    ASSERT_EQ(p->get_future().wait_for(10s), std::future_status::ready);
  }
  ASSERT_TRUE(wait_until([&] { return a->ready() && b->ready(); }));
  // The subscriptions are on the server, made through its TLS port (the plain port is only used
  // here to look).
  sync_client cli(srv.port());
  EXPECT_EQ(cli.numsub("herald:" + ch), 2);
  ASSERT_TRUE(publish_sync(*a, ev(ch, "from-a")));
  ASSERT_TRUE(publish_sync(*b, ev(ch, "from-b")));
  for (collector* c : {&ca, &cb}) {
    ASSERT_TRUE(c->wait_for_id("from-a"));
    ASSERT_TRUE(c->wait_for_id("from-b"));
    for (const auto& [id, n] : c->id_counts()) EXPECT_EQ(n, 1) << id;
  }
}

TEST(redis_bus_tls, compat_mode_with_a_django_eventstream_peer_on_tls) {
  test_pki pki;
  redis_server srv(pki.redis_args(/*require_client_cert=*/true), false, /*tls_port=*/true);
  collector ca;
  auto a = build(tls_cfg(srv, pki, bus_mode::compat));
  ASSERT_TRUE(a);
  a->start(ca.as_sink());
  ASSERT_TRUE(wait_until([&] { return a->ready(); }));
  const auto ch = channel("tls-compat");

  // What send_event publishes when the Prowler API sets EVENTSTREAM_REDIS["ssl"] = True.
  std::string out;
  ASSERT_EQ(
      testing::run({"/usr/bin/python3", kPeerScript, "publish", std::to_string(srv.tls_port()), ch,
                    pki.ca(), pki.client_cert(), pki.client_key()},
                   &out),
      0)
      << out;
  ASSERT_TRUE(ca.wait_for_id("42")) << "received " << ca.size();
  EXPECT_EQ(ca.events().front().data, "{\"checked\": 1}");

  // Herald's compat publish over TLS, read by a django-eventstream listener over TLS.
  const std::string cmd = "/usr/bin/python3 " + kPeerScript + " listen " +
                          std::to_string(srv.tls_port()) + " " + pki.ca() + " " +
                          pki.client_cert() + " " + pki.client_key();
  FILE* py = ::popen(cmd.c_str(), "r");
  ASSERT_NE(py, nullptr);
  auto line = [&] {
    char buf[4096];
    if (!std::fgets(buf, sizeof buf, py)) return std::string("<eof>");
    std::string s(buf);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  };
  ASSERT_EQ(line(), "ready");
  sse::event e{ch, "scan.progress", "{\"checked\": 9}", "43"};
  ASSERT_TRUE(publish_sync(*a, e));
  EXPECT_EQ(line(), *message_codec(bus_mode::compat, "herald:", "events_channel").encode(e));
  EXPECT_EQ(line(), "true");
  auto fields = boost::json::parse(line()).as_array();
  EXPECT_EQ(fields[2].as_string(), "{\"checked\": 9}");
  EXPECT_EQ(fields[3].as_string(), "43");
  EXPECT_EQ(::pclose(py), 0);
  ASSERT_TRUE(ca.wait_for_id("43"));  // and Herald received its own publish, once
  EXPECT_EQ(ca.id_counts()["43"], 1);
}

TEST(redis_bus_tls, a_server_signed_by_another_ca_is_refused) {
  test_pki pki;
  redis_server srv(pki.redis_args(/*require_client_cert=*/false), false, /*tls_port=*/true);
  auto c = tls_cfg(srv, pki);
  c.tls.ca_file = pki.other_ca();
  auto a = build(c);
  ASSERT_TRUE(a);
  a->start([](const sse::event&) {});
  // OpenSSL names the chain it could not anchor (redis-server sends its CA along).
  expect_refused(*a, "the server certificate was refused: ");
  auto* rb = dynamic_cast<redis_bus*>(a.get());
  EXPECT_NE(rb->last_error().find("bus.tls_ca_file"), std::string::npos) << rb->last_error();

  // The default, the system trust store, does not know the test CA either.
  c.tls.ca_file.clear();
  auto system = build(c);
  ASSERT_TRUE(system);
  system->start([](const sse::event&) {});
  expect_refused(*system, "the server certificate was refused: ");
  EXPECT_NE(dynamic_cast<redis_bus&>(*system).last_error().find("system trust store"),
            std::string::npos);
}

TEST(redis_bus_tls, a_certificate_for_another_name_is_refused) {
  test_pki pki;
  redis_server srv(pki.redis_args(/*require_client_cert=*/false), false, /*tls_port=*/true);
  auto c = tls_cfg(srv, pki);
  c.tls.server_name = "valkey.example.com";  // the certificate names localhost and 127.0.0.1
  auto a = build(c);
  ASSERT_TRUE(a);
  a->start([](const sse::event&) {});
  expect_refused(*a, "hostname mismatch");
  auto* rb = dynamic_cast<redis_bus*>(a.get());
  EXPECT_NE(rb->last_error().find("does not name \"valkey.example.com\""), std::string::npos)
      << rb->last_error();

  // The expected name set to what the certificate carries: accepted.
  c.tls.server_name = "localhost";
  auto ok = build(c);
  ASSERT_TRUE(ok);
  ok->start([](const sse::event&) {});
  EXPECT_TRUE(wait_until([&] { return ok->ready(); }))
      << dynamic_cast<redis_bus&>(*ok).last_error();

  // An expected address the certificate does not list: refused by the IP check.
  c.tls.server_name = "127.0.0.2";
  auto ip = build(c);
  ASSERT_TRUE(ip);
  ip->start([](const sse::event&) {});
  expect_refused(*ip, "IP address mismatch");
}

TEST(redis_bus_tls, client_certificate_required_and_the_insecure_switch) {
  test_pki pki;
  redis_server srv(pki.redis_args(/*require_client_cert=*/true), false, /*tls_port=*/true);
  // No client certificate: the server refuses the connection.
  auto c = tls_cfg(srv, pki);
  c.tls.cert_file.clear();
  c.tls.key_file.clear();
  auto anonymous = build(c);
  ASSERT_TRUE(anonymous);
  anonymous->start([](const sse::event&) {});
  expect_refused(*anonymous, "certificate required");

  // insecure: no chain or name check (the server's CA is unknown here), the connection works.
  auto insecure = tls_cfg(srv, pki);
  insecure.tls.ca_file.clear();
  insecure.tls.insecure = true;
  collector got;
  auto a = build(insecure);
  ASSERT_TRUE(a);
  a->start(got.as_sink());
  auto p = std::make_shared<std::promise<void>>();
  a->add_interest_confirmed(channel("insecure"), [p] { p->set_value(); });
  ASSERT_EQ(p->get_future().wait_for(10s), std::future_status::ready);
  // The subscription is confirmed on the subscriber connection; the publisher connection may still
  // be in its TLS handshake (a publish then answers "unavailable", as it should).
  ASSERT_TRUE(wait_until([&] { return a->ready(); }));
  ASSERT_TRUE(publish_sync(*a, ev(channel("insecure"), "i")));
  ASSERT_TRUE(got.wait_for_id("i"));

  // Plain RESP to the TLS port: a clear error, not a hang.
  auto plain = tls_cfg(srv, pki);
  plain.scheme = "redis";
  auto p2 = build(plain);
  ASSERT_TRUE(p2);
  p2->start([](const sse::event&) {});
  EXPECT_TRUE(wait_until(
      [&] { return !dynamic_cast<redis_bus&>(*p2).last_error().starts_with("not connected"); }));
  EXPECT_FALSE(p2->ready());
}

TEST(redis_bus_tls, key_that_does_not_match_its_certificate_is_a_start_up_error) {
  test_pki pki;
  bus_config c;
  c.kind = bus_kind::redis;
  c.scheme = "rediss";
  c.tls.cert_file = pki.client_cert();
  c.tls.key_file = pki.server_key();
  auto r = try_make_bus(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid_config);
  EXPECT_NE(r.err().message.find("\" does not match bus.tls_cert_file \""), std::string::npos)
      << r.err().message;
}

}  // namespace herald::bus

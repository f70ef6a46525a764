// net/ over real loopback sockets with a toy handler (no auth, no store): framing on the wire,
// keep-alive, limits, slow consumers, disconnect cleanup and graceful shutdown.
#include "net/server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>

#include "core/metrics.hpp"
#include "net/test_client.hpp"
#include "sse/encoder.hpp"

namespace herald::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// GET /stream/<channel> -> stream on <channel>; GET /hello -> 200 "hi"; anything else 404.
struct toy_handler final : request_handler {
  asio::awaitable<handler_outcome> handle(http_request& req) override {
    std::string target(req.message.target());
    if (target.rfind("/stream/", 0) == 0)
      co_return stream_start{
          {{"X-Test", "1"}}, {target.substr(8)}, std::make_shared<const principal>()};
    if (target == "/hello") co_return http_response{http::status::ok, "text/plain", {}, "hi"};
    co_return http_response{http::status::not_found, "application/json", {}, "{}"};
  }
};

struct harness {
  toy_handler handler;
  std::unique_ptr<http_server> server;
  std::unique_ptr<sse::fanout> fan;
  explicit harness(const server_options& o = {}) {
    server = std::make_unique<http_server>(o, handler);
    fan = std::make_unique<sse::fanout>(server->executors(), nullptr);
    server->set_fanout(fan.get());
    auto r = server->listen("127.0.0.1", 0);
    EXPECT_TRUE(r);
    server->start();
  }
  ~harness() {
    server->shutdown(1s, [] { return std::string(); });
  }
};

using client = testing::test_client;
using testing::eventually;

std::string open_stream(client& c, const std::string& channel) {
  c.send("GET /stream/" + channel + " HTTP/1.1\r\nHost: x\r\n\r\n");
  return c.read_until("event: stream-open\ndata:\n\n");
}

TEST(server, stream_head_preamble_and_event_bytes) {
  harness h;
  client c(h.server->port());
  std::string got = open_stream(c, "ch-1");
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\nX-Test: "
      "1\r\n\r\n";
  EXPECT_EQ(got, head + std::string(sse::stream_preamble()));
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 1; }));
  c.buf.clear();
  h.fan->publish(sse::event{"ch-1", "scan.progress", "{\"checked\": 1, \"total\": 2}", ""});
  h.fan->publish(sse::event{"ch-1", "scan.end", "{\"scan_id\": \"x\"}", ""});
  const std::string expected =
      "event: scan.progress\ndata: {\"checked\": 1, \"total\": 2}\n\n"
      "event: scan.end\ndata: {\"scan_id\": \"x\"}\n\n";
  EXPECT_EQ(c.read_at_least(expected.size()), expected);
}

TEST(server, other_channels_are_not_delivered) {
  harness h;
  client a(h.server->port()), b(h.server->port());
  open_stream(a, "one");
  open_stream(b, "two");
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 2; }));
  a.buf.clear();
  b.buf.clear();
  h.fan->publish(sse::event{"two", "x.created", "{}", ""});
  h.fan->publish(sse::event{"one", "x.deleted", "{}", ""});
  EXPECT_EQ(a.read_until("\n\n"), "event: x.deleted\ndata: {}\n\n");
  EXPECT_EQ(b.read_until("\n\n"), "event: x.created\ndata: {}\n\n");
}

TEST(server, keep_alive_after_idle_interval) {
  server_options o;
  o.keepalive = 300ms;
  o.sweep_interval = 50ms;
  harness h(o);
  client c(h.server->port());
  open_stream(c, "k");
  c.buf.clear();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.read_until("\n\n"), "event: keep-alive\ndata:\n\n");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
}

TEST(server, events_count_as_activity_for_keep_alive) {
  // A stream written to more often than the keep-alive interval never gets one, even though the
  // activity list moves a stream only when it last moved a while ago (keepalive / 4 here).
  server_options o;
  o.keepalive = 400ms;
  o.sweep_interval = 20ms;
  harness h(o);
  client busy(h.server->port()), idle(h.server->port());
  open_stream(busy, "busy");
  open_stream(idle, "idle");
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 2; }));
  busy.buf.clear();
  idle.buf.clear();
  const auto t0 = std::chrono::steady_clock::now();
  const int events = 12;
  for (int i = 0; i < events; ++i) {
    std::this_thread::sleep_for(100ms);
    h.fan->publish(sse::event{"busy", "x.progress", "{}", ""});
  }
  std::string got =
      busy.read_at_least(events * std::string("event: x.progress\ndata: {}\n\n").size());
  EXPECT_EQ(got.find("keep-alive"), std::string::npos);
  // Meanwhile (1.2 s, three intervals) the idle stream got its keep-alives.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1200ms);
  EXPECT_EQ(idle.next_block(), "event: keep-alive\ndata:\n\n");
}

TEST(server, plain_response_and_keep_alive_connection) {
  harness h;
  client c(h.server->port());
  c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  auto got = c.read_until("404 Not Found");
  EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(got.find("\r\n\r\nhi"), std::string::npos);
}

TEST(server, oversized_headers_get_431) {
  server_options o;
  o.max_header_bytes = 1024;
  harness h(o);
  client c(h.server->port());
  c.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  auto got = c.read_to_eof();
  EXPECT_EQ(got.rfind("HTTP/1.1 431", 0), 0u) << got.substr(0, 80);
  EXPECT_NE(got.find("header_too_large"), std::string::npos);
}

TEST(server, slow_header_sender_is_cut_after_the_header_timeout) {
  server_options o;
  o.header_timeout = 200ms;
  o.sweep_interval = 50ms;
  harness h(o);
  client c(h.server->port());
  c.send("GET /hello HTTP/1.1\r\n");  // never finishes the headers
  auto t0 = std::chrono::steady_clock::now();
  c.read_to_eof();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_TRUE(eventually([&] { return h.server->connection_count() == 0; }));
}

TEST(server, disconnect_frees_the_stream) {
  harness h;
  auto gauge_before = core_metrics::get().connections.get();
  {
    client c(h.server->port());
    open_stream(c, "gone");
    ASSERT_TRUE(eventually([&] { return h.server->stream_count() == 1; }));
    EXPECT_EQ(core_metrics::get().connections.get(), gauge_before + 1);
  }
  EXPECT_TRUE(eventually([&] { return h.server->stream_count() == 0; }));
  EXPECT_TRUE(eventually([&] { return h.fan->channel_count() == 0; }));
  EXPECT_EQ(core_metrics::get().connections.get(), gauge_before);
  EXPECT_TRUE(eventually([&] { return h.server->connection_count() == 0; }));
}

TEST(server, slow_consumer_is_closed_while_others_keep_receiving) {
  server_options o;
  o.queue_max_events = 64;
  o.queue_max_bytes = 1u << 20;
  o.close_grace = 60s;  // the slow client reads only after the whole burst
  harness h(o);
  // A small receive buffer so the slow client's kernel queue fills quickly.
  client slow(h.server->port(), 4096), fast(h.server->port());
  open_stream(slow, "busy");
  open_stream(fast, "busy");
  ASSERT_TRUE(eventually([&] { return h.server->stream_count() == 2; }));
  fast.buf.clear();
  auto drops_before = core_metrics::get().slow_consumer_drops.get();
  const std::string payload(8000, 'x');
  std::size_t fast_bytes = 0;
  const int events = 1000;  // 8 MB: more than loopback's socket buffers can hide
  for (int i = 0; i < events; ++i) {
    h.fan->publish(sse::event{"busy", "load.delta", payload, ""});
    // The fast client keeps reading as events arrive.
    fast_bytes = fast.read_at_least((i + 1) * (payload.size() + 26)).size();
  }
  EXPECT_TRUE(
      eventually([&] { return core_metrics::get().slow_consumer_drops.get() > drops_before; }));
  // The fast client got every event.
  EXPECT_EQ(fast_bytes, events * (payload.size() + 26));
  // The slow client, reading at last, finds the stream-error and then EOF.
  auto all = slow.read_to_eof();
  EXPECT_NE(all.find("event: stream-error\nid: error\ndata: {\"condition\": \"slow-consumer\""),
            std::string::npos);
  EXPECT_TRUE(eventually([&] { return h.server->stream_count() == 1; }));
}

TEST(server, graceful_shutdown_sends_retry_and_closes) {
  toy_handler handler;
  auto server = std::make_unique<http_server>(server_options{}, handler);
  sse::fanout fan(server->executors(), nullptr);
  server->set_fanout(&fan);
  ASSERT_TRUE(server->listen("127.0.0.1", 0));
  server->start();
  client c(server->port());
  open_stream(c, "bye");
  ASSERT_TRUE(eventually([&] { return server->stream_count() == 1; }));
  c.buf.clear();
  auto t0 = std::chrono::steady_clock::now();
  server->shutdown(2s, [] { return sse::encode_retry(1234); });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(c.read_to_eof(), "retry: 1234\n\n");
  // New connections are refused.
  boost::system::error_code ec;
  asio::io_context ioc;
  tcp::socket s(ioc);
  s.connect({asio::ip::make_address("127.0.0.1"), server->port()}, ec);
  EXPECT_TRUE(ec);
}

TEST(server, thousand_concurrent_streams_all_receive) {
  server_options o;
  o.threads = 2;
  harness h(o);
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 1000; ++i) {
    clients.push_back(std::make_unique<client>(h.server->port()));
    clients.back()->send("GET /stream/many HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (auto& c : clients) c->read_until("event: stream-open\ndata:\n\n"), c->buf.clear();
  ASSERT_TRUE(eventually([&] { return h.server->stream_count() == 1000; }));
  h.fan->publish(sse::event{"many", "fleet.updated", "{\"n\": 1}", ""});
  for (auto& c : clients)
    EXPECT_EQ(c->read_until("\n\n"), "event: fleet.updated\ndata: {\"n\": 1}\n\n");
  clients.clear();
  EXPECT_TRUE(eventually([&] { return h.server->stream_count() == 0; }));
}

// One event-loop thread and enough streams that a flush pass spans several turns of the loop
// (a turn yields after about 2 ms): events published while a pass is under way must still reach
// every stream complete and in order, whether the stream was written before or after they arrived.
TEST(server, burst_published_during_a_long_flush_pass_arrives_complete_and_in_order) {
  server_options o;
  o.threads = 1;
  harness h(o);
  constexpr int streams = 2000, events = 40;
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < streams; ++i) {
    clients.push_back(std::make_unique<client>(h.server->port()));
    clients.back()->send("GET /stream/burst HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (auto& c : clients) c->read_until("event: stream-open\ndata:\n\n"), c->buf.clear();
  ASSERT_TRUE(eventually([&] { return h.server->stream_count() == streams; }));
  std::string expected;
  for (int n = 0; n < events; ++n) {
    const std::string data = "{\"n\": " + std::to_string(n) + "}";
    h.fan->publish(sse::event{"burst", "job.progress", data, ""});
    expected += "event: job.progress\ndata: " + data + "\n\n";
  }
  for (auto& c : clients) ASSERT_EQ(c->read_at_least(expected.size()), expected);
}

// A client that stops reading: writes come back partial, then would-block, and what is queued
// meanwhile must follow the written prefix: every byte still arrives, in order.
TEST(server, stream_under_back_pressure_gets_every_byte_in_order) {
  server_options o;
  o.queue_max_events = 100000;
  o.queue_max_bytes = 64u << 20;
  harness h(o);
  client c(h.server->port(), 4096);
  open_stream(c, "slow");
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 1; }));
  c.buf.clear();
  std::string expected;
  for (int n = 0; n < 3000; ++n) {  // 9 MB: more than the socket buffers hold
    const std::string data =
        "{\"n\": " + std::to_string(n) + ", \"pad\": \"" + std::string(3000 + n % 7, 'p') + "\"}";
    h.fan->publish(sse::event{"slow", "job.delta", data, ""});
    expected += "event: job.delta\ndata: " + data + "\n\n";
  }
  EXPECT_EQ(c.read_at_least(expected.size()), expected);
}

}  // namespace
}  // namespace herald::net

// net/ over real loopback sockets with a toy handler (no auth, no store): framing on the wire,
// keep-alive, limits, slow consumers, disconnect cleanup and graceful shutdown.
#include "net/server.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <mutex>
#include <thread>

#include "core/metrics.hpp"
#include "net/test_client.hpp"
#include "sse/encoder.hpp"

namespace herald::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// GET /stream/<channel> -> stream on <channel>; GET /hello -> 200 "hi"; POST /hello -> 405;
// /bad -> 400; anything else 404. Counts the requests it sees.
struct toy_handler final : request_handler {
  std::atomic<int> calls{0};
  asio::awaitable<handler_outcome> handle(http_request& req) override {
    ++calls;
    std::string target(req.message.target());
    if (target.rfind("/stream/", 0) == 0)
      co_return stream_start{
          {{"X-Test", "1"}}, {target.substr(8)}, std::make_shared<const principal>()};
    if (target == "/hello" && req.message.method() == http::verb::post)
      co_return http_response{http::status::method_not_allowed, "application/json", {}, "{}"};
    if (target == "/hello") co_return http_response{http::status::ok, "text/plain", {}, "hi"};
    if (target == "/bad")
      co_return http_response{http::status::bad_request, "application/json", {}, "{}"};
    co_return http_response{http::status::not_found, "application/json", {}, "{}"};
  }
};

// Holds back the bus confirmation of channels starting with "held" until release() (the stream
// stays gated: its head goes out, its preamble and events wait in its queue); others confirm at
// once.
struct held_confirmations {
  std::mutex mu;
  std::vector<std::function<void()>> waiting;
  sse::fanout::ready_hook hook() {
    return [this](const std::string& channel, std::function<void()> ready) {
      if (channel.rfind("held", 0) != 0) return ready();
      std::lock_guard lock(mu);
      waiting.push_back(std::move(ready));
    };
  }
  void release() {
    std::vector<std::function<void()>> w;
    {
      std::lock_guard lock(mu);
      w.swap(waiting);
    }
    for (auto& f : w) f();
  }
};

struct harness {
  toy_handler handler;
  toy_handler internal_handler;
  held_confirmations held;
  std::unique_ptr<http_server> server;
  std::unique_ptr<sse::fanout> fan;
  std::uint16_t internal_port = 0;
  explicit harness(const server_options& o = {}) {
    server = std::make_unique<http_server>(o, handler);
    fan = std::make_unique<sse::fanout>(server->executors(), nullptr, held.hook());
    server->set_fanout(fan.get());
    auto r = server->listen("127.0.0.1", 0);
    EXPECT_TRUE(r) << (r ? "" : r.err().message);
    auto in = server->add_listener("127.0.0.1", 0, internal_handler, listener_options{});
    EXPECT_TRUE(in);
    if (in) internal_port = *in;
    server->start();
  }
  ~harness() {
    held.release();
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
  const int events = 12;
  for (int i = 0; i < events; ++i) {
    // The publisher's rhythm (an event every 100 ms, well inside the 400 ms interval), not a wait
    // for the server: nothing is assumed to have happened after it.
    std::this_thread::sleep_for(100ms);
    h.fan->publish(sse::event{"busy", "x.progress", "{}", ""});
  }
  std::string got =
      busy.read_at_least(events * std::string("event: x.progress\ndata: {}\n\n").size());
  EXPECT_EQ(got.find("keep-alive"), std::string::npos);
  // Meanwhile (1.2 s, three intervals) the idle stream got its keep-alives.
  EXPECT_EQ(idle.next_block(), "event: keep-alive\ndata:\n\n");
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
  // The server closes the connection (the client's own read limit is 15 s), with no answer.
  EXPECT_EQ(c.read_to_eof(), "");
  EXPECT_TRUE(c.eof);
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
  // Every stream flushed its retry hint and closed: none was left to cut at the deadline.
  EXPECT_EQ(server->shutdown(30s, [] { return sse::encode_retry(1234); }), 0u);
  EXPECT_EQ(c.read_to_eof(), "retry: 1234\n\n");
  EXPECT_TRUE(c.eof);
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

// ---------------------------------------------------------------------------------------------
// Slow consumers: the byte and count caps, the close grace, and the end of a slow reader's stream.

const std::string& slow_consumer_error() {
  static const std::string e = sse::encode_stream_error(
      "slow-consumer", "The stream fell behind and was closed; reconnect and refetch state.");
  return e;
}

// The blocks of an SSE body: each up to and including its "\n\n"; a trailing partial block last.
std::vector<std::string> blocks_of(const std::string& body) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < body.size()) {
    auto end = body.find("\n\n", at);
    if (end == std::string::npos) {
      out.push_back(body.substr(at));
      break;
    }
    out.push_back(body.substr(at, end + 2 - at));
    at = end + 2;
  }
  return out;
}

std::string numbered_data(int n, std::size_t pad) {
  return "{\"n\": " + std::to_string(n) + ", \"pad\": \"" + std::string(pad, 'p') + "\"}";
}

// A client reading at 160 KB/s while four times as much is published: its queue overflows while a
// large write is under way. The stream must end with its complete stream-error after complete
// events (issue: it was cut mid-event, with no stream-error, when the write in progress could not
// drain within close_grace).
TEST(server, slow_reader_is_ended_at_an_event_boundary_with_stream_error) {
  server_options o;
  o.queue_max_events = 1u << 20;  // only the byte bound applies
  o.queue_max_bytes = 1u << 20;
  o.close_grace = 1000ms;
  o.send_buffer_bytes = 32u << 10;
  harness h(o);
  client c(h.server->port(), 4096);
  open_stream(c, "slow");
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 1; }));
  c.buf.clear();
  const auto drops_before = core_metrics::get().slow_consumer_drops.get();
  int published = 0;
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (!c.eof && std::chrono::steady_clock::now() < give_up) {
    const bool open = h.server->stream_count() == 1;
    if (open)  // 32 KiB per round
      for (int i = 0; i < 32; ++i, ++published)
        h.fan->publish(sse::event{"slow", "job.delta", numbered_data(published, 1000), ""});
    // 8 KiB per round; once the server closed the stream the rest is read at full speed.
    pollfd p{c.sock.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char tmp[8192];
      boost::system::error_code ec;
      c.buf.append(tmp, c.sock.read_some(asio::buffer(tmp), ec));
      if (ec) c.eof = true;
    }
    if (open) std::this_thread::sleep_for(50ms);  // the reader's pace
  }
  ASSERT_TRUE(c.eof);
  EXPECT_EQ(core_metrics::get().slow_consumer_drops.get(), drops_before + 1);
  auto blocks = blocks_of(c.buf);
  ASSERT_GE(blocks.size(), 2u);
  // Complete events, in order, from the first one; then the stream-error; nothing after it.
  EXPECT_EQ(blocks.back(), slow_consumer_error()) << c.buf.substr(c.buf.size() - 200);
  for (std::size_t i = 0; i + 1 < blocks.size(); ++i)
    ASSERT_EQ(blocks[i], sse::encode("job.delta", numbered_data(static_cast<int>(i), 1000)))
        << "block " << i;
}

// The caps, exactly: N events fit, the N+1st closes the stream. The stream's bus confirmation is
// held back, so its events wait in its queue (none reaches the kernel) and the count is exact.
void expect_cap(const server_options& o, const std::string& data, int fits) {
  harness h(o);
  client c(h.server->port()), marker(h.server->port());
  c.send("GET /stream/held-cap HTTP/1.1\r\nHost: x\r\n\r\n");
  c.read_until("\r\n\r\n");  // the head goes out at once; the preamble waits for the bus
  const std::string head = c.buf;
  open_stream(marker, "marker");
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 2; }));
  marker.buf.clear();
  const auto drops_before = core_metrics::get().slow_consumer_drops.get();
  // Deliveries run on the one event loop in publish order: once the marker's event arrived, so
  // had every event published before it.
  auto barrier = [&] {
    h.fan->publish(sse::event{"marker", "x.marker", "{}", ""});
    EXPECT_EQ(marker.next_block(), "event: x.marker\ndata: {}\n\n");
  };
  for (int i = 0; i < fits; ++i) h.fan->publish(sse::event{"held-cap", "x.y", data, ""});
  barrier();
  EXPECT_EQ(core_metrics::get().slow_consumer_drops.get(), drops_before);
  EXPECT_EQ(h.server->stream_count(), 2u);
  h.fan->publish(sse::event{"held-cap", "x.y", data, ""});
  barrier();
  EXPECT_EQ(core_metrics::get().slow_consumer_drops.get(), drops_before + 1);
  // The queued events were dropped: the client gets the stream-error after the head, then EOF.
  EXPECT_EQ(c.read_to_eof(), head + slow_consumer_error());
  EXPECT_TRUE(c.eof);
}

TEST(server, slow_consumer_byte_cap_is_exact) {
  const std::string data(981, 'b');
  const auto frame = sse::encode("x.y", data).size();
  ASSERT_EQ(frame, 1000u);
  server_options o;
  o.threads = 1;
  o.queue_max_events = 100000;
  o.queue_max_bytes = 10 * 1000;  // ten events exactly
  expect_cap(o, data, 10);
}

TEST(server, slow_consumer_count_cap_is_exact) {
  server_options o;
  o.threads = 1;
  o.queue_max_events = 10;
  o.queue_max_bytes = 1u << 20;
  expect_cap(o, "{}", 10);
}

// A closing stream whose client reads nothing is cut after close_grace, not before, and not never.
TEST(server, close_grace_cuts_a_stream_that_cannot_flush) {
  server_options o;
  o.close_grace = 300ms;
  o.queue_max_bytes = 16u << 20;
  o.queue_max_events = 100000;
  o.send_buffer_bytes = 4096;
  harness h(o);
  client stuck(h.server->port(), 4096), reader(h.server->port());
  open_stream(stuck, "stuck");
  open_stream(reader, "reader");
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 2; }));
  // 2 MB the stuck client never reads: most of it stays in the stream's queue.
  for (int i = 0; i < 256; ++i)
    h.fan->publish(sse::event{"stuck", "x.y", std::string(8000, 's'), ""});
  const auto t0 = std::chrono::steady_clock::now();
  h.server->close_streams_if([](const principal*) { return true; }, "retry: 5\n\n");
  // The reader's stream flushes its last bytes and closes at once.
  reader.buf.clear();
  EXPECT_EQ(reader.read_to_eof(), "retry: 5\n\n");
  EXPECT_TRUE(eventually([&] { return h.server->stream_count() == 0; }, 20s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  // The stuck client, reading at last, finds the connection ended without the final bytes.
  auto all = stuck.read_to_eof();
  EXPECT_TRUE(stuck.eof);
  EXPECT_EQ(all.find("retry: 5"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Requests: repeated headers, error responses close the connection, the connection limit.

std::string expected_error(const std::string& status, const std::string& body,
                           const std::string& extra = "") {
  return "HTTP/1.1 " + status + "\r\nServer: herald\r\nContent-Type: application/json\r\n" + extra +
         "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(server, a_repeated_header_herald_reads_gets_400_and_the_connection_closes) {
  harness h;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Authorization", "Authorization: Bearer good\r\nAuthorization: Bearer garbage\r\n"},
      {"Origin", "Origin: https://a.example\r\nOrigin: https://b.example\r\n"},
      {"Host", "Host: y\r\n"},
      {"Last-Event-ID", "Last-Event-ID: 1\r\nlast-event-id: 2\r\n"},
  };
  for (auto port : {h.server->port(), h.internal_port}) {
    for (const auto& [name, lines] : cases) {
      const int calls = h.handler.calls + h.internal_handler.calls;
      client c(port);
      // A pipelined second request is not answered: the connection ends after the 400.
      c.send("GET /stream/dup HTTP/1.1\r\nHost: x\r\n" + lines +
             "\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
      EXPECT_EQ(c.read_to_eof(), expected_error("400 Bad Request",
                                                "{\"error\":{\"code\":\"bad_request\",\"message\":"
                                                "\"Repeated " +
                                                    name + " header.\"}}"))
          << name << " on port " << port;
      EXPECT_TRUE(c.eof);
      EXPECT_EQ(h.handler.calls + h.internal_handler.calls, calls) << "no handler ran";
    }
    // Each of them once is fine.
    client c(port);
    c.send(
        "GET /hello HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nOrigin: https://a.example\r\n"
        "Last-Event-ID: 1\r\n\r\n");
    EXPECT_NE(c.read_until("\r\n\r\nhi").find("HTTP/1.1 200 OK"), std::string::npos);
  }
}

TEST(server, error_responses_close_the_connection) {
  server_options o;
  o.header_timeout = 60s;  // an open connection would outlast the client's read limit
  harness h(o);
  {  // the handler's 405: the pipelined request after it is not answered
    client c(h.server->port());
    c.send(
        "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(c.read_to_eof(), expected_error("405 Method Not Allowed", "{}"));
    EXPECT_TRUE(c.eof);
  }
  {  // the handler's 400
    client c(h.server->port());
    c.send("GET /bad HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(c.read_to_eof(), expected_error("400 Bad Request", "{}"));
    EXPECT_TRUE(c.eof);
  }
  {  // a malformed request, on the internal listener too
    for (auto port : {h.server->port(), h.internal_port}) {
      client c(port);
      c.send("GET /hello HTTP/1.1\r\nHost x\r\n\r\n");
      auto got = c.read_to_eof();
      EXPECT_EQ(got.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << got;
      EXPECT_NE(got.find("\"code\":\"bad_request\""), std::string::npos);
      EXPECT_TRUE(c.eof);
    }
  }
  {  // a 404 keeps the connection for the next request
    client c(h.server->port());
    c.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    c.read_until("\r\n\r\n{}");
    c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(c.read_until("\r\n\r\nhi").find("200 OK"), std::string::npos);
  }
}

TEST(server, a_connection_over_the_limit_gets_503_with_retry_after) {
  server_options o;
  o.max_connections = 1;
  harness h(o);
  client first(h.server->port());
  open_stream(first, "one");
  const int calls = h.handler.calls;
  client second(h.server->port());
  second.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(second.read_to_eof(),
            expected_error("503 Service Unavailable",
                           "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"The server "
                           "is at its connection limit; retry later.\"}}",
                           "Retry-After: 2\r\n"));
  EXPECT_TRUE(second.eof);
  EXPECT_EQ(h.handler.calls, calls);
}

// ---------------------------------------------------------------------------------------------
// Pipelined requests a handler lets overlap (request_handler::overlaps)

// POST /wait/<n>?k=<k> overlaps: it waits until k requests are in the handler at once (up to 2 s,
// then 504: requests handled one after the other never get there), then a further (10 - n) ms, so
// the later requests finish first; 200 "<n>". POST /wait/bad overlaps and answers 400 at once.
// GET /hello does not overlap. Every request's start is logged with how many were in flight.
struct overlap_handler final : request_handler {
  int in_flight = 0;  // the server's one event-loop thread only
  std::mutex mu;      // guards starts (read by the test's thread)
  std::vector<std::string> starts;
  std::vector<std::string> started() {
    std::lock_guard lock(mu);
    return starts;
  }
  asio::awaitable<handler_outcome> handle(http_request& req) override {
    std::string target(req.message.target());
    {
      std::lock_guard lock(mu);
      starts.push_back(target + " in_flight=" + std::to_string(in_flight));
    }
    if (target == "/hello") co_return http_response{http::status::ok, "text/plain", {}, "hi"};
    if (target == "/wait/bad")
      co_return http_response{http::status::bad_request, "application/json", {}, "{}"};
    const auto q = target.find("?k=");
    const int n = std::stoi(target.substr(6, q - 6));
    const int k = std::stoi(target.substr(q + 3));
    ++in_flight;
    asio::steady_timer t(co_await asio::this_coro::executor);
    const auto give_up = std::chrono::steady_clock::now() + 2s;
    while (in_flight < k && std::chrono::steady_clock::now() < give_up) {
      t.expires_after(1ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    const bool met = in_flight >= k;
    t.expires_after(std::chrono::milliseconds(10 - n));
    co_await t.async_wait(asio::use_awaitable);
    --in_flight;
    if (!met) co_return http_response{http::status::gateway_timeout, "text/plain", {}, "alone"};
    co_return http_response{http::status::ok, "text/plain", {}, std::to_string(n)};
  }
  bool overlaps(const http::request<http::string_body>& m) const override {
    return m.method() == http::verb::post && m.target().starts_with("/wait/");
  }
};

struct overlap_harness {
  overlap_handler handler;
  std::unique_ptr<http_server> server;
  std::unique_ptr<sse::fanout> fan;
  overlap_harness() {
    server_options o;
    o.threads = 1;
    o.header_timeout = 60s;  // an open connection outlasts the client's read limit
    server = std::make_unique<http_server>(o, handler);
    fan = std::make_unique<sse::fanout>(server->executors(), nullptr);
    server->set_fanout(fan.get());
    EXPECT_TRUE(server->listen("127.0.0.1", 0));
    server->start();
  }
  ~overlap_harness() {
    server->shutdown(1s, [] { return std::string(); });
  }
};

std::string wait_request(const std::string& what, const std::string& extra = "") {
  return "POST /wait/" + what + " HTTP/1.1\r\nHost: x\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

std::string plain_answer(const std::string& status, const std::string& body,
                         const std::string& type = "text/plain", bool close = false) {
  return "HTTP/1.1 " + status + "\r\nServer: herald\r\nContent-Type: " + type + "\r\n" +
         (close ? "Connection: close\r\n" : "") + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

TEST(server, pipelined_overlapping_requests_wait_together_and_are_answered_in_order) {
  overlap_harness h;
  client c(h.server->port());
  // Five in one write, each finishing before the one ahead of it, then one that does not overlap.
  std::string reqs;
  for (int n = 0; n < 5; ++n) reqs += wait_request(std::to_string(n) + "?k=5");
  c.send(reqs + "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string want;
  for (int n = 0; n < 5; ++n) want += plain_answer("200 OK", std::to_string(n));
  want += plain_answer("200 OK", "hi", "text/plain", true);
  EXPECT_EQ(c.read_to_eof(), want);
  EXPECT_TRUE(c.eof);
  // Started in request order; the one that does not overlap waited for all of them.
  EXPECT_EQ(h.handler.started(),
            (std::vector<std::string>{"/wait/0?k=5 in_flight=0", "/wait/1?k=5 in_flight=1",
                                      "/wait/2?k=5 in_flight=2", "/wait/3?k=5 in_flight=3",
                                      "/wait/4?k=5 in_flight=4", "/hello in_flight=0"}));
}

TEST(server, an_overlapping_error_answer_keeps_the_connection_for_the_rest) {
  overlap_harness h;
  client c(h.server->port());
  c.send(wait_request("0?k=2") + wait_request("bad") + wait_request("1?k=2") +
         "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string want = plain_answer("200 OK", "0") +
                           plain_answer("400 Bad Request", "{}", "application/json") +
                           plain_answer("200 OK", "1") + plain_answer("200 OK", "hi");
  EXPECT_EQ(c.read_at_least(want.size()), want);
  // Alone, too: the connection stays open after it.
  c.buf.clear();
  c.send(wait_request("bad") + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string again =
      plain_answer("400 Bad Request", "{}", "application/json") + plain_answer("200 OK", "hi");
  EXPECT_EQ(c.read_at_least(again.size()), again);
  EXPECT_FALSE(c.eof);
}

TEST(server, a_malformed_request_after_overlapping_ones_is_answered_after_them) {
  overlap_harness h;
  client c(h.server->port());
  c.send(wait_request("0?k=2") + wait_request("1?k=2") + "GET /hello HTTP/1.1\r\nHost x\r\n\r\n");
  const auto got = c.read_to_eof();
  const std::string answered = plain_answer("200 OK", "0") + plain_answer("200 OK", "1");
  EXPECT_EQ(got.substr(0, answered.size()), answered);
  EXPECT_EQ(got.find("HTTP/1.1 400 Bad Request\r\n", answered.size()), answered.size()) << got;
  EXPECT_TRUE(c.eof);
  EXPECT_EQ(h.handler.started().size(), 2u);
}

TEST(server, a_repeated_header_after_overlapping_ones_is_refused_after_them) {
  overlap_harness h;
  client c(h.server->port());
  // The third would overlap, but the check every request gets comes first: it never reaches the
  // handler, and its 400 follows the first two answers.
  c.send(wait_request("0?k=2") + wait_request("1?k=2") +
         wait_request("2?k=1", "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n"));
  const auto got = c.read_to_eof();
  const std::string answered = plain_answer("200 OK", "0") + plain_answer("200 OK", "1");
  EXPECT_EQ(got.substr(0, answered.size()), answered);
  EXPECT_EQ(got.find("HTTP/1.1 400 Bad Request\r\n", answered.size()), answered.size()) << got;
  EXPECT_NE(got.find("Repeated Authorization header.", answered.size()), std::string::npos) << got;
  EXPECT_TRUE(c.eof);
  EXPECT_EQ(h.handler.started().size(), 2u);
}

TEST(server, an_overlapping_request_split_across_reads_joins_the_next_turn) {
  overlap_harness h;
  client c(h.server->port());
  // The second request's head arrives whole, its body later: the first is answered alone (504:
  // k=2 is never met), the second when its body is in.
  const std::string second = "POST /wait/1?k=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n";
  c.send(wait_request("0?k=2", "") + second + "ab");
  EXPECT_EQ(c.read_at_least(plain_answer("504 Gateway Timeout", "alone").size()),
            plain_answer("504 Gateway Timeout", "alone"));
  c.buf.clear();
  c.send("cd");
  EXPECT_EQ(c.read_at_least(plain_answer("200 OK", "1").size()), plain_answer("200 OK", "1"));
}

// ---------------------------------------------------------------------------------------------
// reuse_port

TEST(server, a_port_in_use_is_refused_without_reuse_port) {
  harness h;
  toy_handler other;
  http_server second(server_options{}, other);
  auto r = second.listen("127.0.0.1", h.server->port());
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("in use by another process"), std::string::npos)
      << r.err().message;
  EXPECT_NE(r.err().message.find("reuse_port"), std::string::npos);
}

TEST(server, with_reuse_port_two_servers_share_a_port) {
  server_options o;
  o.reuse_port = true;
  harness a(o);
  toy_handler other;
  http_server b(o, other);
  sse::fanout fan(b.executors(), nullptr);
  b.set_fanout(&fan);
  ASSERT_TRUE(b.listen("127.0.0.1", a.server->port()));
  b.start();
  // The kernel spreads connections over both: among 64, each gets some (all to one: 2^-63).
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 64; ++i) {
    clients.push_back(std::make_unique<client>(a.server->port()));
    clients.back()->send("GET /stream/shared HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (auto& c : clients) c->read_until("event: stream-open\ndata:\n\n");
  EXPECT_EQ(a.server->stream_count() + b.stream_count(), 64u);
  EXPECT_GT(a.server->stream_count(), 0u);
  EXPECT_GT(b.stream_count(), 0u);
  clients.clear();
  b.shutdown(1s, [] { return std::string(); });
}

}  // namespace
}  // namespace herald::net

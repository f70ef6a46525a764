// HTTP/2 through the real http_server, over loopback sockets: curl (prior knowledge, Upgrade, and
// over TLS with ALPN "h2") receives the exact SSE bytes; a C++ nghttp2 client with a tiny window
// shows that a slow stream does not stall the others on its connection, and that its RST_STREAM
// ends and unsubscribes a stream; many streams share one connection, which counts once against
// max_connections; requests of one connection are handled concurrently; shutdown, the live
// re-check's close_streams_if/collect_tags and reload_limits reach HTTP/2 streams; HTTP/2 can be
// turned off.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "core/metrics.hpp"
#include "net/h2_test_client.hpp"
#include "net/server.hpp"
#include "net/test_client.hpp"
#include "sse/encoder.hpp"

namespace herald::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::eventually;
using testing::h2_client;
using testing::h2_socket_client;

// GET /stream/<channel>[,<channel>...] -> a stream; /slow -> "slow" after /release is asked for;
// anything else 200 "hi". Each stream's tag names its first channel (user_id), for the re-check.
struct toy_handler final : request_handler {
  asio::awaitable<handler_outcome> handle(http_request& req) override {
    std::string target(req.message.target());
    if (target.rfind("/stream/", 0) == 0) {
      std::vector<std::string> channels;
      std::stringstream list(target.substr(8));
      for (std::string ch; std::getline(list, ch, ',');) channels.push_back(ch);
      auto tag = std::make_shared<principal>();
      tag->user_id = channels.front();
      co_return stream_start{{{"X-Test", "1"}}, std::move(channels), std::move(tag)};
    }
    if (target == "/slow") {
      // Waits (without blocking the loop) until /release: the connection's other requests must be
      // answered meanwhile.
      asio::steady_timer t(co_await asio::this_coro::executor);
      while (!released) {
        t.expires_after(5ms);
        co_await t.async_wait(asio::use_awaitable);
      }
      co_return http_response{http::status::ok, "text/plain", {}, "slow"};
    }
    if (target == "/release") released = true;
    co_return http_response{http::status::ok, "text/plain", {}, "hi"};
  }
  std::atomic<bool> released{false};
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
    EXPECT_TRUE(r) << (r ? "" : r.err().message);
    server->start();
  }
  ~harness() {
    server->shutdown(1s, [] { return std::string(); });
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
};

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "herald-h2srv-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A command running in the background (curl, nghttp); finish() waits and returns its stdout.
class command {
 public:
  explicit command(const std::string& cmd) : cmd_(cmd), out_(::popen(cmd.c_str(), "r")) {
    if (!out_) throw std::runtime_error("popen failed: " + cmd);
  }
  ~command() {
    if (out_) ::pclose(out_);
  }
  std::string finish(int* status = nullptr) {
    std::string body;
    char tmp[4096];
    for (std::size_t n; (n = std::fread(tmp, 1, sizeof tmp, out_)) > 0;) body.append(tmp, n);
    const int st = ::pclose(out_);
    out_ = nullptr;
    if (status) *status = st;
    return body;
  }

 private:
  std::string cmd_;
  FILE* out_;
};

const std::string kCurl = std::string(CURL_BIN) + " -sS -N --max-time 60 ";

const std::string kScanProgress = "{\"checked\": 1, \"total\": 2}";
std::string two_events_and_retry() {
  return std::string(sse::stream_preamble()) + "event: scan.progress\ndata: " + kScanProgress +
         "\n\n" + "event: scan.end\nid: 7\ndata: {\"scan_id\": \"x\"}\n\n" + "retry: 1000\n\n";
}

// Publishes two events on `channel` and ends every stream with a retry hint: the body curl must
// print, byte for byte, is two_events_and_retry().
void publish_and_close(harness& h, const std::string& channel) {
  h.fan->publish(sse::event{channel, "scan.progress", kScanProgress, ""});
  h.fan->publish(sse::event{channel, "scan.end", "{\"scan_id\": \"x\"}", "7"});
  h.server->close_streams_if([](const principal*) { return true; }, sse::encode_retry(1000));
}

void expect_h2_stream_head(const std::string& head) {
  EXPECT_EQ(head.rfind("HTTP/2 200", 0), 0u) << head;
  EXPECT_NE(head.find("content-type: text/event-stream\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("cache-control: no-cache\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("x-accel-buffering: no\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("referrer-policy: no-referrer\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("x-test: 1\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("connection:"), std::string::npos) << head;  // forbidden in HTTP/2
}

TEST(h2_server, curl_prior_knowledge_receives_the_exact_sse_bytes) {
  harness h;
  temp_dir dir;
  const auto head = dir.path / "head";
  command curl(kCurl + "--http2-prior-knowledge -D " + head.string() + " " + h.base() +
               "/stream/pk");
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 1; }, 20s));
  EXPECT_EQ(h.server->h2_connection_count(), 1u);
  EXPECT_EQ(h.server->stream_count(), 1u);
  publish_and_close(h, "pk");
  int status = -1;
  EXPECT_EQ(curl.finish(&status), two_events_and_retry());
  EXPECT_EQ(status, 0);
  expect_h2_stream_head(slurp(head));
  EXPECT_TRUE(eventually([&] { return h.server->stream_count() == 0; }));
  EXPECT_TRUE(eventually([&] { return h.fan->channel_count() == 0; }));
  // An ordinary request over HTTP/2, and the connection count returns to zero.
  command hello(kCurl + "--http2-prior-knowledge -w ' %{http_version} %{http_code}' " + h.base() +
                "/hello");
  EXPECT_EQ(hello.finish(), "hi 2 200");
  EXPECT_TRUE(eventually([&] { return h.server->connection_count() == 0; }));
}

TEST(h2_server, curl_upgrades_to_h2c_and_receives_the_exact_sse_bytes) {
  harness h;
  temp_dir dir;
  const auto head = dir.path / "head";
  command curl(kCurl + "--http2 -D " + head.string() + " " + h.base() + "/stream/up");
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 1; }, 20s));
  EXPECT_EQ(h.server->h2_connection_count(), 1u);
  publish_and_close(h, "up");
  EXPECT_EQ(curl.finish(), two_events_and_retry());
  const auto heads = slurp(head);
  // The 101 of the HTTP/1.1 request, then the HTTP/2 response to it (stream 1).
  EXPECT_EQ(heads.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << heads;
  const auto h2 = heads.find("HTTP/2 200");
  ASSERT_NE(h2, std::string::npos) << heads;
  expect_h2_stream_head(heads.substr(h2));
}

// A certificate for 127.0.0.1 made with the openssl command.
tls_options make_certificate(const std::filesystem::path& dir) {
  tls_options o{(dir / "cert.pem").string(), (dir / "key.pem").string()};
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=herald-h2 -addext subjectAltName=IP:127.0.0.1 -keyout " +
      o.private_key_file + " -out " + o.certificate_file + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed: " + cmd);
  return o;
}

TEST(h2_server, curl_over_tls_negotiates_h2_with_alpn_and_receives_the_exact_sse_bytes) {
  temp_dir dir;
  server_options o;
  o.tls = make_certificate(dir.path);
  harness h(o);
  const auto head = dir.path / "head";
  const std::string https = "https://127.0.0.1:" + std::to_string(h.server->port());
  command curl(kCurl + "--http2 --cacert " + o.tls.certificate_file + " -D " + head.string() + " " +
               https + "/stream/tls");
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 1; }, 20s));
  EXPECT_EQ(h.server->h2_connection_count(), 1u);
  publish_and_close(h, "tls");
  int status = -1;
  EXPECT_EQ(curl.finish(&status), two_events_and_retry());
  EXPECT_EQ(status, 0);
  expect_h2_stream_head(slurp(head));
  // HTTP/1.1 is still offered: a client that asks only for it gets it.
  command http1(kCurl + "--http1.1 --cacert " + o.tls.certificate_file + " -w ' %{http_version}' " +
                https + "/hello");
  EXPECT_EQ(http1.finish(), "hi 1.1");
}

TEST(h2_server, twenty_streams_share_one_connection_which_counts_once) {
  server_options o;
  o.max_connections = 1;  // the one HTTP/2 connection carries all the streams
  harness h(o);
  h2_socket_client c(h.server->port());
  std::vector<std::int32_t> ids;
  ids.reserve(20);
  for (int i = 0; i < 20; ++i) ids.push_back(c.client.get("/stream/many-" + std::to_string(i)));
  ASSERT_TRUE(c.run_until([&] { return h.fan->channel_count() == 20; }));
  EXPECT_EQ(h.server->stream_count(), 20u);
  EXPECT_EQ(h.server->connection_count(), 1u);
  for (int i = 0; i < 20; ++i)
    h.fan->publish(sse::event{"many-" + std::to_string(i), "n.x", std::to_string(i), ""});
  const std::string open = std::string(sse::stream_preamble());
  ASSERT_TRUE(c.run_until([&] {
    for (int i = 0; i < 20; ++i)
      if (c.client.streams[ids[i]].body != open + "event: n.x\ndata: " + std::to_string(i) + "\n\n")
        return false;
    return true;
  }));
  for (auto id : ids) {
    EXPECT_EQ(c.client.streams[id].status, 200);
    EXPECT_EQ(c.client.streams[id].header("content-type"), "text/event-stream");
  }
  // A second connection is over the limit: its request is answered 503, then GOAWAY.
  h2_socket_client other(h.server->port());
  const auto refused = other.client.get("/stream/refused");
  ASSERT_TRUE(other.run_until([&] { return other.client.streams[refused].closed; }));
  EXPECT_EQ(other.client.streams[refused].status, 503);
  EXPECT_EQ(other.client.streams[refused].header("retry-after"), "2");
  EXPECT_TRUE(other.run_until([&] { return other.eof; }));
  EXPECT_TRUE(other.client.goaway);
  EXPECT_EQ(h.server->stream_count(), 20u);
}

TEST(h2_server, a_slow_stream_does_not_stall_the_others_on_its_connection) {
  server_options o;
  o.queue_max_events = 100000;
  o.queue_max_bytes = 64u << 10;
  o.close_grace = 60s;
  harness h(o);
  // A real HTTP/2 client that never acknowledges the slow stream's data: its 16 KiB window runs
  // out and the server must keep the rest queued for that stream alone.
  h2_client::options co;
  co.initial_window = 16384;
  co.manual_window = true;
  h2_socket_client c(h.server->port(), co);
  const auto slow = c.client.get("/stream/busy");
  const auto fast = c.client.get("/stream/busy");
  c.client.stalled.insert(slow);
  ASSERT_TRUE(c.run_until([&] { return h.server->stream_count() == 2; }));
  const auto drops_before = core_metrics::get().slow_consumer_drops.get();
  const std::string open(sse::stream_preamble());
  std::string expected = open;
  const std::string pad(1000, 'p');
  for (int i = 0; i < 300; ++i) {  // 300 KB: far more than the slow stream's window and queue
    const std::string data = "{\"n\": " + std::to_string(i) + ", \"pad\": \"" + pad + "\"}";
    h.fan->publish(sse::event{"busy", "load.delta", data, ""});
    expected += sse::encode("load.delta", data);
    // The fast stream keeps up, event by event, while the slow one is stuck.
    ASSERT_TRUE(c.run_until([&] { return c.client.streams[fast].body.size() >= expected.size(); }))
        << "event " << i << ": the fast stream got " << c.client.streams[fast].body.size();
  }
  EXPECT_EQ(c.client.streams[fast].body, expected);
  EXPECT_FALSE(c.client.streams[fast].closed);
  // The slow stream overflowed its queue: counted, and ended at an event boundary with the
  // stream-error once its window lets it through.
  EXPECT_TRUE(eventually(
      [&] { return core_metrics::get().slow_consumer_drops.get() == drops_before + 1; }));
  c.client.stalled.erase(slow);
  nghttp2_session_consume_stream(c.client.s, slow, c.client.streams[slow].body.size());
  ASSERT_TRUE(c.run_until([&] { return c.client.streams[slow].closed; }));
  const auto& body = c.client.streams[slow].body;
  const std::string error = sse::encode_stream_error(
      "slow-consumer", "The stream fell behind and was closed; reconnect and refetch state.");
  ASSERT_GT(body.size(), error.size());
  EXPECT_EQ(body.substr(body.size() - error.size()), error);
  const auto events = body.substr(0, body.size() - error.size());
  EXPECT_EQ(events, expected.substr(0, events.size()));
  EXPECT_TRUE(events.ends_with("\"}\n\n"));
  EXPECT_TRUE(c.client.streams[slow].ended);
  EXPECT_TRUE(eventually([&] { return h.server->stream_count() == 1; }));
  // The fast stream is still live.
  h.fan->publish(sse::event{"busy", "x.y", "{}", ""});
  expected += "event: x.y\ndata: {}\n\n";
  ASSERT_TRUE(c.run_until([&] { return c.client.streams[fast].body == expected; }));
}

TEST(h2_server, a_client_reset_ends_the_stream_and_unsubscribes_it) {
  harness h;
  h2_socket_client c(h.server->port());
  const auto gone = c.client.get("/stream/reset-me");
  const auto stays = c.client.get("/stream/stays");
  ASSERT_TRUE(c.run_until([&] {
    return c.client.streams[gone].body == sse::stream_preamble() &&
           c.client.streams[stays].body == sse::stream_preamble();
  }));
  EXPECT_EQ(h.fan->channel_count(), 2u);
  const auto streams_before = core_metrics::get().connections.get();
  c.reset(gone);
  ASSERT_TRUE(c.run_until([&] { return h.fan->channel_count() == 1; }));
  EXPECT_TRUE(eventually([&] { return h.server->stream_count() == 1; }));
  EXPECT_EQ(core_metrics::get().connections.get(), streams_before - 1);
  // Publishing on the reset stream's channel reaches no one; the other stream still receives.
  h.fan->publish(sse::event{"reset-me", "x.y", "{}", ""});
  h.fan->publish(sse::event{"stays", "x.y", "{}", ""});
  ASSERT_TRUE(c.run_until([&] {
    return c.client.streams[stays].body ==
           std::string(sse::stream_preamble()) + "event: x.y\ndata: {}\n\n";
  }));
  EXPECT_EQ(c.client.streams[gone].body, sse::stream_preamble());
  EXPECT_EQ(h.server->connection_count(), 1u);
  // The client goes away: the last stream ends, everything is released.
  c.sock.close();
  EXPECT_TRUE(eventually([&] { return h.server->stream_count() == 0; }));
  EXPECT_TRUE(eventually([&] { return h.server->connection_count() == 0; }));
  EXPECT_EQ(h.fan->channel_count(), 0u);
}

TEST(h2_server, requests_on_one_connection_are_handled_concurrently) {
  harness h;
  h2_socket_client c(h.server->port());
  const auto slow = c.client.get("/slow");
  const auto hello = c.client.get("/hello");
  const auto stream = c.client.get("/stream/while-slow");
  // The store-bound request waits; the others are answered meanwhile.
  ASSERT_TRUE(c.run_until([&] {
    return c.client.streams[hello].closed &&
           c.client.streams[stream].body == sse::stream_preamble();
  }));
  EXPECT_EQ(c.client.streams[hello].body, "hi");
  EXPECT_FALSE(c.client.streams[slow].closed);
  c.client.get("/release");
  ASSERT_TRUE(c.run_until([&] { return c.client.streams[slow].closed; }));
  EXPECT_EQ(c.client.streams[slow].body, "slow");
  EXPECT_EQ(c.client.streams[slow].status, 200);
}

TEST(h2_server, recheck_and_shutdown_reach_http2_streams) {
  harness h;
  h2_socket_client c(h.server->port());
  const auto keep = c.client.get("/stream/keep");
  const auto revoke = c.client.get("/stream/revoke");
  ASSERT_TRUE(c.run_until([&] { return h.server->stream_count() == 2; }));
  std::promise<std::vector<std::string>> tags;
  h.server->collect_tags([&](const std::vector<std::shared_ptr<const principal>>& all) {
    std::vector<std::string> users;
    users.reserve(all.size());
    for (const auto& t : all) users.push_back(t->user_id);
    std::sort(users.begin(), users.end());
    tags.set_value(users);
  });
  EXPECT_EQ(tags.get_future().get(), (std::vector<std::string>{"keep", "revoke"}));
  const auto forbidden = sse::encode_stream_error("forbidden", "revoked");
  h.server->close_streams_if([](const principal* p) { return p->user_id == "revoke"; }, forbidden);
  ASSERT_TRUE(c.run_until([&] { return c.client.streams[revoke].closed; }));
  EXPECT_EQ(c.client.streams[revoke].body, std::string(sse::stream_preamble()) + forbidden);
  EXPECT_TRUE(c.client.streams[revoke].ended);  // END_STREAM, not a reset
  EXPECT_FALSE(c.client.streams[keep].closed);
  // Graceful shutdown: GOAWAY, the final bytes and END_STREAM, then the connection closes.
  std::thread stopper([&] { h.server->shutdown(10s, [] { return sse::encode_retry(2500); }); });
  const bool ended = c.run_until([&] { return c.client.streams[keep].closed && c.eof; });
  stopper.join();
  ASSERT_TRUE(ended);
  EXPECT_EQ(c.client.streams[keep].body, std::string(sse::stream_preamble()) + "retry: 2500\n\n");
  EXPECT_TRUE(c.client.goaway);
  EXPECT_EQ(c.client.goaway_error, 0u);
  EXPECT_EQ(h.server->stream_count(), 0u);
}

TEST(h2_server, an_idle_connection_is_closed_after_keepalive_and_a_silent_one_at_the_deadline) {
  server_options o;
  o.keepalive = 300ms;
  o.header_timeout = 300ms;
  o.sweep_interval = 50ms;
  harness h(o);
  h2_socket_client c(h.server->port());
  const auto id = c.client.get("/hello");
  ASSERT_TRUE(c.run_until([&] { return c.client.streams[id].closed; }));
  ASSERT_TRUE(c.run_until([&] { return c.eof; }));
  EXPECT_TRUE(c.client.goaway);
  // A connection that sends the preface and nothing else is cut at the header deadline.
  testing::test_client silent(h.server->port());
  silent.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  silent.read_to_eof();
  EXPECT_TRUE(silent.eof);
  EXPECT_TRUE(eventually([&] { return h.server->connection_count() == 0; }));
}

TEST(h2_server, http2_off_speaks_only_http1) {
  temp_dir dir;
  server_options o;
  o.http2.enabled = false;
  o.tls = make_certificate(dir.path);
  harness h(o);
  const std::string https = "https://127.0.0.1:" + std::to_string(h.server->port());
  command curl(kCurl + "--http2 --cacert " + o.tls.certificate_file + " -w ' %{http_version}' " +
               https + "/hello");
  EXPECT_EQ(curl.finish(), "hi 1.1");  // ALPN offers only http/1.1
  server_options plain;
  plain.http2.cleartext = false;
  harness p(plain);
  // The preface is read as HTTP/1.1 (and its tail refused): no HTTP/2 frame comes back.
  testing::test_client c(p.server->port());
  c.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  EXPECT_EQ(c.read_to_eof().rfind("HTTP/1.1 ", 0), 0u) << c.buf;
  EXPECT_NE(c.buf.find("HTTP/1.1 400 Bad Request\r\n"), std::string::npos) << c.buf;
  command upgrade(kCurl + "--http2 -w ' %{http_version}' " + p.base() + "/hello");
  EXPECT_EQ(upgrade.finish(), "hi 1.1");  // the Upgrade is ignored
}

TEST(h2_server, reload_limits_applies_to_new_connections_and_refuses_what_cannot_change) {
  harness h;
  auto next = h.server->limits();
  next.http2.max_concurrent_streams = 2;
  next.queue_max_events = 7;
  ASSERT_TRUE(h.server->reload_limits(next));
  EXPECT_EQ(h.server->limits().queue_max_events, 7u);
  h2_socket_client c(h.server->port());
  const auto a = c.client.get("/stream/l1"), b = c.client.get("/stream/l2"),
             third = c.client.get("/stream/l3");
  ASSERT_TRUE(c.run_until([&] { return c.client.streams[third].closed; }));
  EXPECT_EQ(c.client.streams[third].error_code, static_cast<std::uint32_t>(NGHTTP2_REFUSED_STREAM));
  EXPECT_TRUE(c.run_until([&] { return h.server->stream_count() == 2; }));
  EXPECT_EQ(c.client.streams[a].status, 200);
  EXPECT_EQ(c.client.streams[b].status, 200);

  auto threads = h.server->limits();
  threads.threads = 3;
  auto r = h.server->reload_limits(threads);
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("server.threads cannot change on reload"), std::string::npos)
      << r.err().message;
  auto bad = h.server->limits();
  bad.queue_max_events = 0;
  EXPECT_FALSE(h.server->reload_limits(bad));
  auto tls = h.server->limits();
  tls.tls = {"/nonexistent.pem", "/nonexistent.key"};
  r = h.server->reload_limits(tls);
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("cannot be turned on or off"), std::string::npos)
      << r.err().message;
  EXPECT_EQ(h.server->limits().queue_max_events, 7u);  // nothing changed
}

}  // namespace
}  // namespace herald::net

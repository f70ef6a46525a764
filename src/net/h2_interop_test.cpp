// h2_session against real HTTP/2 clients (Debian's curl and nghttp) over loopback sockets, through
// a test-only driver coroutine: h2c by prior knowledge and by HTTP/1.1 Upgrade, the exact SSE
// bytes, and 20 streams open at once on one connection.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "net/h2_session.hpp"
#include "sse/encoder.hpp"

namespace herald::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

sse::frame event(int n) {
  return std::make_shared<const std::string>(sse::encode(
      "scan.progress", "{\"checked\": " + std::to_string(n) + "}", "c:" + std::to_string(n)));
}

// The body every /events stream carries: preamble, three events, the closing retry hint.
std::string expected_stream() {
  std::string s(sse::stream_preamble());
  for (int n = 0; n < 3; ++n) s += *event(n);
  return s + sse::encode_retry(2000);
}

// A loopback server whose connections are h2_sessions. GET /hello answers "hi"; GET /events/...
// opens an SSE stream, and once `batch` streams are open on the connection, each gets three
// events and is closed: so a client that gets its events had all `batch` streams open at once.
class test_server {
 public:
  explicit test_server(std::size_t batch) : batch_(batch) {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~test_server() {
    ioc_.stop();
    thread_.join();
  }

  std::uint16_t port = 0;
  std::atomic<int> connections{0};
  std::atomic<int> upgrades{0};
  std::atomic<int> max_open{0};  // most SSE streams open at once on one connection

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(kTuple);
      if (ec) co_return;
      ++connections;
      asio::co_spawn(ioc_, serve(std::move(sock)), asio::detached);
    }
  }

  static asio::awaitable<bool> flush(tcp::socket& sock, h2_session& session) {
    for (;;) {
      auto out = session.pending_output();
      if (out.empty()) co_return true;
      std::vector<asio::const_buffer> gather(out.begin(), out.end());
      auto [ec, n] = co_await asio::async_write(sock, gather, kTuple);
      if (ec) co_return false;
      session.consume(n);
    }
  }

  void handle(h2_session& session, std::vector<std::int32_t>& open) {
    for (auto& req : session.take_requests()) {
      const std::string target(req.message.target());
      if (target.rfind("/events", 0) == 0) {
        auto sub = session.open_stream(
            req.stream_id, stream_start{{}, {"c"}, std::make_shared<const principal>()});
        if (!sub) continue;
        session.channel_ready(req.stream_id);
        open.push_back(req.stream_id);
        max_open = std::max<int>(max_open, static_cast<int>(open.size()));
        continue;
      }
      (void)session.respond(req.stream_id,
                            target == "/hello"
                                ? http_response{http::status::ok, "text/plain", {}, "hi"}
                                : http_response{http::status::not_found, "text/plain", {}, "no"});
    }
    if (open.size() < batch_) return;
    for (auto id : open) {
      for (int n = 0; n < 3; ++n) session.push(id, event(n));
      session.close_stream(id, std::make_shared<const std::string>(sse::encode_retry(2000)));
    }
    open.clear();
  }

  asio::awaitable<void> serve(tcp::socket sock) {
    h2_session session(limits_, opts_);
    beast::flat_buffer buffer;
    // Prior knowledge (the preface) or HTTP/1.1 asking for `Upgrade: h2c`.
    h2_preface kind = h2_preface::partial;
    while (kind == h2_preface::partial) {
      auto [ec, n] = co_await sock.async_read_some(buffer.prepare(4096), kTuple);
      if (ec) co_return;
      buffer.commit(n);
      kind = match_h2_preface({static_cast<const char*>(buffer.data().data()), buffer.size()});
    }
    if (kind == h2_preface::no) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(sock, buffer, req, kTuple);
      if (ec || req[http::field::upgrade] != "h2c") co_return;
      const std::string settings(req["HTTP2-Settings"]);
      auto [wec, wn] =
          co_await asio::async_write(sock, asio::buffer(h2_session::kSwitchingProtocols), kTuple);
      if (wec || !session.upgrade(std::move(req), settings)) co_return;
      ++upgrades;
    }
    if (buffer.size() > 0 && !session.feed(buffer.data())) co_return;
    buffer.consume(buffer.size());
    std::vector<std::int32_t> open;
    char chunk[16384];
    for (;;) {
      handle(session, open);
      (void)session.take_ended();
      if (!co_await flush(sock, session) || session.done()) co_return;
      auto [ec, n] = co_await sock.async_read_some(asio::buffer(chunk), kTuple);
      if (ec) {
        session.terminate();
        co_return;
      }
      if (!session.feed(asio::buffer(chunk, n))) {
        co_await flush(sock, session);  // the GOAWAY
        co_return;
      }
    }
  }

  std::size_t batch_;
  server_options limits_;
  h2_options opts_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  std::thread thread_;
};

// Runs a command, returns its stdout (stderr goes to the test log).
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << cmd;
  return out;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "herald-h2-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

const std::string kCurl = std::string(CURL_BIN) + " -sS --max-time 30 ";

TEST(h2_interop, curl_prior_knowledge_gets_a_response_and_the_exact_stream_bytes) {
  test_server server(1);
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port);
  EXPECT_EQ(
      run(kCurl + "--http2-prior-knowledge -w ' %{http_version} %{http_code}' " + base + "/hello"),
      "hi 2 200");
  temp_dir dir;
  auto headers = dir.path / "headers";
  EXPECT_EQ(
      run(kCurl + "--http2-prior-knowledge -D " + headers.string() + " " + base + "/events/1"),
      expected_stream());
  const auto h = slurp(headers);
  EXPECT_EQ(h.rfind("HTTP/2 200", 0), 0u) << h;
  EXPECT_NE(h.find("content-type: text/event-stream"), std::string::npos) << h;
  EXPECT_NE(h.find("cache-control: no-cache"), std::string::npos) << h;
  EXPECT_NE(h.find("x-accel-buffering: no"), std::string::npos) << h;
  EXPECT_EQ(server.upgrades, 0);
}

TEST(h2_interop, curl_upgrades_a_cleartext_http1_request_to_h2c) {
  test_server server(1);
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port);
  EXPECT_EQ(run(kCurl + "--http2 " + base + "/events/1"), expected_stream());
  EXPECT_EQ(run(kCurl + "--http2 -w ' %{http_version}' " + base + "/hello"), "hi 2");
  EXPECT_EQ(server.upgrades, 2);
}

// Through `--http2` (Upgrade on the first request, then multiplexed): Debian 12's curl 7.88.1 fails
// the reuse of a prior-knowledge connection by itself (curl/curl#10634, fixed in 8.0).
TEST(h2_interop, curl_multiplexes_twenty_streams_on_one_connection) {
  test_server server(20);
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port);
  temp_dir dir;
  std::string cmd = kCurl + "--http2 --parallel --parallel-max 20";
  for (int i = 0; i < 20; ++i)
    cmd += " -o " + (dir.path / std::to_string(i)).string() + " " + base + "/events/" +
           std::to_string(i);
  run(cmd);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(slurp(dir.path / std::to_string(i)), expected_stream()) << i;
  EXPECT_EQ(server.connections, 1);
  EXPECT_EQ(server.max_open, 20);
}

TEST(h2_interop, nghttp_opens_twenty_streams_on_one_connection) {
  test_server server(20);
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port);
  std::string cmd = std::string(NGHTTP_BIN) + " -t 30";
  for (int i = 0; i < 20; ++i) cmd += " " + base + "/events/" + std::to_string(i);
  // nghttp prints the bodies as their DATA frames arrive (interleaved): count what each stream
  // must have carried.
  const auto out = run(cmd);
  EXPECT_EQ(out.size(), 20 * expected_stream().size());
  auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (auto at = out.find(needle); at != std::string::npos; at = out.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("event: stream-open\ndata:\n\n"), 20u);
  EXPECT_EQ(count(*event(2)), 20u);
  EXPECT_EQ(count("retry: 2000\n\n"), 20u);
  EXPECT_EQ(server.connections, 1);
  EXPECT_EQ(server.max_open, 20);
}

}  // namespace
}  // namespace herald::net

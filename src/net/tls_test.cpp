// TLS on a listener, over real loopback sockets, with certificates this test makes with the
// openssl command: curl receives the exact SSE bytes over https (HTTP/1.1; HTTP/2 over TLS is in
// h2_server_test); ALPN offers h2 and http/1.1 (http/1.1 alone with HTTP/2 off); a slow TLS
// reader meets the slow-consumer policy at an event boundary; bad handshakes do not hurt other
// clients; a certificate reload applies to new connections while open streams continue.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <unistd.h>

#include <boost/asio/ssl.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/metrics.hpp"
#include "net/server.hpp"
#include "net/test_client.hpp"
#include "sse/encoder.hpp"

namespace herald::net {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using namespace std::chrono_literals;
using testing::eventually;

// GET /stream/<channel> -> stream on <channel>; anything else 200 "hi".
struct toy_handler final : request_handler {
  asio::awaitable<handler_outcome> handle(http_request& req) override {
    std::string target(req.message.target());
    if (target.rfind("/stream/", 0) == 0)
      co_return stream_start{
          {{"X-Test", "1"}}, {target.substr(8)}, std::make_shared<const principal>()};
    co_return http_response{http::status::ok, "text/plain", {}, "hi"};
  }
};

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A temp directory with self-signed certificates for 127.0.0.1, made by the openssl command.
struct certificates {
  std::filesystem::path dir;
  certificates() {
    if (std::system("command -v openssl >/dev/null 2>&1") != 0)
      throw std::runtime_error("the openssl command is missing (apt-get install openssl)");
    std::string tmpl = (std::filesystem::temp_directory_path() / "herald-tls-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
  }
  ~certificates() { std::filesystem::remove_all(dir); }
  // Writes <name>.pem and <name>.key (CN = herald-<name>); returns their options.
  tls_options make(const std::string& name) const {
    tls_options o{(dir / (name + ".pem")).string(), (dir / (name + ".key")).string()};
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=herald-" +
        name + " -addext subjectAltName=IP:127.0.0.1 -keyout " + o.private_key_file + " -out " +
        o.certificate_file + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed: " + cmd);
    return o;
  }
};

struct tls_harness {
  toy_handler handler;
  std::unique_ptr<http_server> server;
  std::unique_ptr<sse::fanout> fan;
  tls_harness(server_options o, const tls_options& tls) {
    o.tls = tls;
    server = std::make_unique<http_server>(o, handler);
    fan = std::make_unique<sse::fanout>(server->executors(), nullptr);
    server->set_fanout(fan.get());
    auto r = server->listen("127.0.0.1", 0);
    EXPECT_TRUE(r) << (r ? "" : r.err().message);
    server->start();
  }
  ~tls_harness() {
    server->shutdown(1s, [] { return std::string(); });
  }
};

// A blocking TLS client that verifies the server against `ca_file`.
class tls_client {
 public:
  tls_client(std::uint16_t port, const std::string& ca_file, int rcvbuf = 0,
             const std::vector<std::string>& alpn = {"http/1.1"}) {
    ctx_.load_verify_file(ca_file);
    stream_.set_verify_mode(ssl::verify_peer);
    std::string wire;
    for (const auto& p : alpn) wire += static_cast<char>(p.size()) + p;
    if (!wire.empty())
      ::SSL_set_alpn_protos(stream_.native_handle(),
                            reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    auto& sock = stream_.next_layer();
    sock.open(tcp::v4());
    if (rcvbuf) sock.set_option(asio::socket_base::receive_buffer_size(rcvbuf));
    sock.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  boost::system::error_code handshake() {
    boost::system::error_code ec;
    stream_.handshake(ssl::stream_base::client, ec);
    return ec;
  }
  std::string alpn() {
    const unsigned char* p = nullptr;
    unsigned len = 0;
    ::SSL_get0_alpn_selected(stream_.native_handle(), &p, &len);
    return std::string(reinterpret_cast<const char*>(p), len);
  }
  std::string peer_common_name() {
    X509* cert = ::SSL_get1_peer_certificate(stream_.native_handle());
    if (!cert) return {};
    char cn[256] = {};
    ::X509_NAME_get_text_by_NID(::X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    ::X509_free(cert);
    return cn;
  }
  void send(const std::string& s) { asio::write(stream_, asio::buffer(s)); }

  template <class Cond>
  std::string read_while(Cond more) {
    boost::system::error_code ec;
    while (more() && !eof) {
      if (::SSL_pending(stream_.native_handle()) == 0) {
        pollfd p{stream_.next_layer().native_handle(), POLLIN, 0};
        if (::poll(&p, 1, 15000) <= 0) break;
      }
      char tmp[65536];
      buf.append(tmp, stream_.read_some(asio::buffer(tmp), ec));
      if (ec) eof = true;
    }
    return buf;
  }
  std::string read_until(const std::string& needle) {
    return read_while([&] { return buf.find(needle) == std::string::npos; });
  }
  std::string read_at_least(std::size_t n) {
    return read_while([&] { return buf.size() < n; });
  }
  std::string read_to_eof() {
    return read_while([] { return true; });
  }

  std::string buf;
  bool eof = false;

 private:
  asio::io_context ioc_;
  ssl::context ctx_{ssl::context::tls_client};
  ssl::stream<tcp::socket> stream_{ioc_, ctx_};
};

const std::string kHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\nX-Test: "
    "1\r\n\r\n";

std::string open_stream(tls_client& c, const std::string& channel) {
  c.send("GET /stream/" + channel + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  return c.read_until("event: stream-open\ndata:\n\n");
}

TEST(tls, curl_receives_the_exact_sse_bytes_over_https) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0)
    FAIL() << "curl is missing (apt-get install curl)";
  certificates certs;
  const auto a = certs.make("a");
  tls_harness h({}, a);
  const auto headers = certs.dir / "headers.txt";
  const std::string cmd = "curl -sS -N --http1.1 --cacert " + a.certificate_file + " -D " +
                          headers.string() +
                          " https://127.0.0.1:" + std::to_string(h.server->port()) +
                          "/stream/tls-1 2>" + (certs.dir / "curl.err").string();
  FILE* out = ::popen(cmd.c_str(), "r");
  ASSERT_NE(out, nullptr);
  ASSERT_TRUE(eventually([&] { return h.fan->channel_count() == 1; }, 20s));
  h.fan->publish(sse::event{"tls-1", "scan.progress", "{\"checked\": 1, \"total\": 2}", ""});
  h.fan->publish(sse::event{"tls-1", "scan.end", "{\"scan_id\": \"x\"}", "7"});
  // The stream ends with a retry hint and close_notify: curl exits 0 with the whole body.
  h.server->close_streams_if([](const principal*) { return true; }, sse::encode_retry(1000));
  std::string body;
  char tmp[4096];
  for (std::size_t n; (n = std::fread(tmp, 1, sizeof tmp, out)) > 0;) body.append(tmp, n);
  const int status = ::pclose(out);
  EXPECT_EQ(status, 0) << read_file(certs.dir / "curl.err");
  EXPECT_EQ(read_file(headers), kHead);
  EXPECT_EQ(body, std::string(sse::stream_preamble()) +
                      "event: scan.progress\ndata: {\"checked\": 1, \"total\": 2}\n\n"
                      "event: scan.end\nid: 7\ndata: {\"scan_id\": \"x\"}\n\n"
                      "retry: 1000\n\n");
}

TEST(tls, alpn_offers_h2_then_http_1_1_and_refuses_a_client_without_either) {
  certificates certs;
  const auto a = certs.make("a");
  {
    tls_harness h({}, a);
    tls_client c(h.server->port(), a.certificate_file, 0, {"h2", "http/1.1"});
    ASSERT_FALSE(c.handshake());
    EXPECT_EQ(c.alpn(), "h2");  // HTTP/2 (h2_server_test drives it)
  }
  server_options http1_only;
  http1_only.http2.enabled = false;
  tls_harness h(http1_only, a);
  {
    tls_client c(h.server->port(), a.certificate_file, 0, {"h2", "http/1.1"});
    ASSERT_FALSE(c.handshake());
    EXPECT_EQ(c.alpn(), "http/1.1");
    EXPECT_EQ(open_stream(c, "alpn"), kHead + std::string(sse::stream_preamble()));
  }
  {
    tls_client c(h.server->port(), a.certificate_file, 0, {"h2"});
    EXPECT_TRUE(c.handshake());  // no protocol in common: refused (RFC 7301)
  }
  {
    tls_client c(h.server->port(), a.certificate_file, 0, {});  // no ALPN at all: HTTP/1.1
    ASSERT_FALSE(c.handshake());
    EXPECT_EQ(open_stream(c, "alpn"), kHead + std::string(sse::stream_preamble()));
  }
}

std::string numbered_data(int n) {
  return "{\"n\": " + std::to_string(n) + ", \"pad\": \"" + std::string(8000, 'p') + "\"}";
}

TEST(tls, a_slow_tls_reader_gets_stream_error_at_an_event_boundary_while_others_receive) {
  certificates certs;
  const auto a = certs.make("a");
  server_options o;
  o.queue_max_events = 100000;
  o.queue_max_bytes = 256u << 10;
  o.send_buffer_bytes = 16u << 10;
  o.close_grace = 60s;  // the slow client reads only after the whole burst
  tls_harness h(o, a);
  tls_client slow(h.server->port(), a.certificate_file, 4096),
      fast(h.server->port(), a.certificate_file);
  ASSERT_FALSE(slow.handshake());
  ASSERT_FALSE(fast.handshake());
  open_stream(slow, "busy");
  open_stream(fast, "busy");
  ASSERT_TRUE(eventually([&] { return h.server->stream_count() == 2; }));
  slow.buf.clear();
  fast.buf.clear();
  const auto drops_before = core_metrics::get().slow_consumer_drops.get();
  std::string expected;
  const int events = 300;  // 2.4 MB: far more than the slow reader's queue and buffers hold
  for (int i = 0; i < events; ++i) {
    h.fan->publish(sse::event{"busy", "load.delta", numbered_data(i), ""});
    expected += sse::encode("load.delta", numbered_data(i));
    fast.read_at_least(expected.size());  // the fast client keeps reading as events arrive
  }
  EXPECT_EQ(fast.buf, expected);
  EXPECT_TRUE(eventually(
      [&] { return core_metrics::get().slow_consumer_drops.get() == drops_before + 1; }));
  // The slow client, reading at last: complete events from the first, then the stream-error.
  const auto all = slow.read_to_eof();
  EXPECT_TRUE(slow.eof);
  const std::string error = sse::encode_stream_error(
      "slow-consumer", "The stream fell behind and was closed; reconnect and refetch state.");
  ASSERT_GT(all.size(), error.size());
  EXPECT_EQ(all.substr(all.size() - error.size()), error);
  const auto events_part = all.substr(0, all.size() - error.size());
  EXPECT_EQ(events_part, expected.substr(0, events_part.size()));
  EXPECT_TRUE(events_part.empty() || events_part.ends_with("\"}\n\n"));
  EXPECT_TRUE(eventually([&] { return h.server->stream_count() == 1; }));
}

TEST(tls, bad_handshakes_do_not_hurt_other_clients) {
  certificates certs;
  const auto a = certs.make("a");
  server_options o;
  o.header_timeout = 300ms;  // also the handshake's deadline
  o.sweep_interval = 50ms;
  tls_harness h(o, a);
  tls_client good(h.server->port(), a.certificate_file);
  ASSERT_FALSE(good.handshake());
  open_stream(good, "ok");
  good.buf.clear();
  {  // plain HTTP on the TLS port
    testing::test_client c(h.server->port());
    c.send("GET /stream/ok HTTP/1.1\r\nHost: x\r\n\r\n");
    c.read_to_eof();
    EXPECT_TRUE(c.eof);
  }
  {  // garbage
    testing::test_client c(h.server->port());
    c.send(std::string("\x16\x03\x01\x00\x05garbage-not-a-client-hello", 31));
    c.read_to_eof();
    EXPECT_TRUE(c.eof);
  }
  {  // a client that never says anything is cut at the deadline
    testing::test_client c(h.server->port());
    EXPECT_EQ(c.read_to_eof(), "");
    EXPECT_TRUE(c.eof);
  }
  {  // a client that does not trust the certificate gives up
    const auto other = certs.make("other");
    tls_client c(h.server->port(), other.certificate_file);
    EXPECT_TRUE(c.handshake());
  }
  h.fan->publish(sse::event{"ok", "x.y", "{}", ""});
  EXPECT_EQ(good.read_until("\n\n"), "event: x.y\ndata: {}\n\n");
  EXPECT_TRUE(eventually([&] { return h.server->connection_count() == 1; }));
}

TEST(tls, reload_applies_to_new_connections_and_open_streams_continue) {
  certificates certs;
  const auto a = certs.make("a");
  const auto b = certs.make("b");
  tls_harness h({}, a);
  tls_client first(h.server->port(), a.certificate_file);
  ASSERT_FALSE(first.handshake());
  EXPECT_EQ(first.peer_common_name(), "herald-a");
  open_stream(first, "reload");
  first.buf.clear();

  ASSERT_TRUE(h.server->reload_tls(b));
  tls_client second(h.server->port(), b.certificate_file);
  ASSERT_FALSE(second.handshake());
  EXPECT_EQ(second.peer_common_name(), "herald-b");

  // A broken file is refused and changes nothing.
  auto bad =
      h.server->reload_tls(tls_options{(certs.dir / "missing.pem").string(), b.private_key_file});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.err().message.find("missing.pem"), std::string::npos) << bad.err().message;
  auto mismatched = h.server->reload_tls(tls_options{a.certificate_file, b.private_key_file});
  ASSERT_FALSE(mismatched);
  EXPECT_NE(mismatched.err().message.find(b.private_key_file), std::string::npos)
      << mismatched.err().message;
  EXPECT_FALSE(h.server->reload_tls(tls_options{}));  // TLS cannot be switched off live
  {
    tls_client c(h.server->port(), b.certificate_file);
    EXPECT_FALSE(c.handshake());
  }

  // reload_tls() re-reads the files last given: rotated in place, the new certificate is served.
  std::filesystem::copy_file(a.certificate_file, b.certificate_file,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(a.private_key_file, b.private_key_file,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(h.server->reload_tls());
  tls_client third(h.server->port(), a.certificate_file);
  ASSERT_FALSE(third.handshake());
  EXPECT_EQ(third.peer_common_name(), "herald-a");

  // The stream opened before all this still receives.
  h.fan->publish(sse::event{"reload", "x.y", "{}", ""});
  EXPECT_EQ(first.read_until("\n\n"), "event: x.y\ndata: {}\n\n");
}

TEST(tls, unusable_certificate_options_are_refused_at_listen) {
  certificates certs;
  const auto a = certs.make("a");
  toy_handler handler;
  {
    server_options o;
    o.tls.certificate_file = a.certificate_file;  // no key
    http_server s(o, handler);
    auto r = s.listen("127.0.0.1", 0);
    ASSERT_FALSE(r);
    EXPECT_NE(r.err().message.find("private key"), std::string::npos) << r.err().message;
  }
  {
    server_options o;
    o.tls = {(certs.dir / "nope.pem").string(), a.private_key_file};
    http_server s(o, handler);
    auto r = s.listen("127.0.0.1", 0);
    ASSERT_FALSE(r);
    EXPECT_NE(r.err().message.find("nope.pem"), std::string::npos) << r.err().message;
  }
}

}  // namespace
}  // namespace herald::net

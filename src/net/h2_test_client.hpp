// Test support (tests only): an HTTP/2 client on nghttp2's client API that moves bytes in memory
// (feed() / drain()), so a test can drive it against an h2_session directly or over a socket, and
// assert on what a real HTTP/2 peer decodes: statuses, headers, bodies, END_STREAM, RST_STREAM,
// GOAWAY. In manual-window mode the data of the streams in `stalled` is never acknowledged (their
// windows run out) while the connection's and the other streams' are.
#pragma once

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_types.hpp"

namespace herald::net::testing {

struct client_stream {
  int status = 0;
  header_list headers;
  std::string body;
  bool ended = false;  // END_STREAM received
  bool closed = false;
  bool reset = false;  // RST_STREAM received
  std::uint32_t error_code = 0;

  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
};

// An HTTP/2 client on nghttp2's client API. In manual-window mode, the data of the streams in
// `stalled` is not acknowledged (their windows run out) while the others are.
class h2_client {
 public:
  struct options {
    std::int32_t initial_window = 65535;
    bool manual_window = false;
    std::int32_t connection_window = 16 << 20;
    bool upgrade = false;  // the session starts with nghttp2_session_upgrade2
    bool raw = false;      // no HTTP checks: every response field reaches `headers` as sent
    std::string scheme = "http";
  };

  explicit h2_client(const options& o) : opts_(o) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &on_close);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    if (o.manual_window) nghttp2_option_set_no_auto_window_update(opt, 1);
    if (o.raw) nghttp2_option_set_no_http_messaging(opt, 1);
    nghttp2_session_client_new2(&s, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(o.initial_window)}};
    if (!o.upgrade) nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 1);
    nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, o.connection_window);
  }
  h2_client() : h2_client(options{}) {}
  ~h2_client() { nghttp2_session_del(s); }

  std::int32_t get(const std::string& path, const header_list& extra = {},
                   const std::string* body = nullptr, const std::string& method = "GET",
                   bool authority = true) {
    std::vector<std::pair<std::string, std::string>> fields = {
        {":method", method}, {":scheme", opts_.scheme}, {":path", path}};
    if (authority) fields.emplace_back(":authority", "herald.test");
    for (const auto& [k, v] : extra) fields.emplace_back(k, v);
    std::vector<nghttp2_nv> nva;
    nva.reserve(fields.size());
    for (auto& [k, v] : fields)
      nva.push_back({reinterpret_cast<std::uint8_t*>(k.data()),
                     reinterpret_cast<std::uint8_t*>(v.data()), k.size(), v.size(),
                     NGHTTP2_NV_FLAG_NONE});
    nghttp2_data_provider prd{};
    if (body) {
      prd.source.ptr = const_cast<std::string*>(body);
      prd.read_callback = [](nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t len,
                             std::uint32_t* flags, nghttp2_data_source* src, void* self) {
        auto& me = *static_cast<h2_client*>(self);
        auto& b = *static_cast<std::string*>(src->ptr);
        auto& off = me.sent_[id];
        std::size_t n = std::min(len, b.size() - off);
        std::memcpy(buf, b.data() + off, n);  // NOLINT(bugprone-not-null-terminated-result): bytes
        off += n;
        if (off == b.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      };
    }
    auto id =
        nghttp2_submit_request(s, nullptr, nva.data(), nva.size(), body ? &prd : nullptr, nullptr);
    EXPECT_GT(id, 0);
    return id;
  }

  void feed(std::string_view bytes) {
    auto rv = nghttp2_session_mem_recv(s, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                       bytes.size());
    ASSERT_EQ(rv, static_cast<ssize_t>(bytes.size())) << nghttp2_strerror(static_cast<int>(rv));
  }
  std::string drain() {
    std::string out;
    for (;;) {
      const std::uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(s, &data);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    return out;
  }

  nghttp2_session* s = nullptr;
  std::map<std::int32_t, client_stream> streams;
  std::set<std::int32_t> stalled;
  bool goaway = false;
  std::uint32_t goaway_error = 0;
  std::int32_t goaway_last_stream = -1;
  int ping_acks = 0;

 private:
  static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n,
                       std::size_t nl, const std::uint8_t* v, std::size_t vl, std::uint8_t,
                       void* self) {
    auto& st = static_cast<h2_client*>(self)->streams[f->hd.stream_id];
    std::string name(reinterpret_cast<const char*>(n), nl),
        value(reinterpret_cast<const char*>(v), vl);
    if (name == ":status")
      st.status = std::stoi(value);
    else
      st.headers.emplace_back(name, value);
    return 0;
  }
  static int on_data(nghttp2_session* s, std::uint8_t, std::int32_t id, const std::uint8_t* d,
                     std::size_t len, void* self) {
    auto& me = *static_cast<h2_client*>(self);
    me.streams[id].body.append(reinterpret_cast<const char*>(d), len);
    if (me.opts_.manual_window) {
      if (me.stalled.count(id))
        nghttp2_session_consume_connection(s, len);  // the connection flows, the stream does not
      else
        nghttp2_session_consume(s, id, len);
    }
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* self) {
    auto& me = *static_cast<h2_client*>(self);
    if (f->hd.type == NGHTTP2_GOAWAY) {
      me.goaway = true;
      me.goaway_error = f->goaway.error_code;
      me.goaway_last_stream = f->goaway.last_stream_id;
    }
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
      me.streams[f->hd.stream_id].ended = true;
    if (f->hd.type == NGHTTP2_RST_STREAM) me.streams[f->hd.stream_id].reset = true;
    if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK)) ++me.ping_acks;
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t ec, void* self) {
    auto& st = static_cast<h2_client*>(self)->streams[id];
    st.closed = true;
    st.error_code = ec;
    return 0;
  }

  options opts_;
  std::map<std::int32_t, std::size_t> sent_;
};

// h2_client over a loopback TCP connection (h2c by prior knowledge): bytes move when run_until()
// runs, until a condition holds.
class h2_socket_client {
 public:
  explicit h2_socket_client(std::uint16_t port, const h2_client::options& o = {}) : client(o) {
    sock.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  }

  // Sends what the client has, reads and feeds what arrives, until `done()` holds (true) or
  // `limit` passes or the server closes (false, unless done() holds then).
  template <class Cond>
  bool run_until(Cond done, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto out = client.drain();
      boost::system::error_code ec;
      if (!out.empty()) boost::asio::write(sock, boost::asio::buffer(out), ec);
      if (done()) return true;
      if (eof || std::chrono::steady_clock::now() >= until) return done();
      pollfd p{sock.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char tmp[65536];
      const std::size_t n = sock.read_some(boost::asio::buffer(tmp), ec);
      if (n > 0) client.feed(std::string_view(tmp, n));
      if (ec) eof = true;
    }
  }
  // RST_STREAM CANCEL from the client.
  void reset(std::int32_t id) {
    nghttp2_submit_rst_stream(client.s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }

  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket sock{ioc};
  h2_client client;
  bool eof = false;
};

}  // namespace herald::net::testing

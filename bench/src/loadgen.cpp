// herald-loadgen: opens N Server-Sent Events streams over HTTP/1.1 on loopback, parses them
// incrementally and measures establishment time, events, keep-alives, losses (per-channel "seq"),
// publish-to-receive latency ("t", CLOCK_REALTIME ns, put in the payload by the publisher) and its
// own CPU share.
//
// One epoll loop, one thread, one shared 64 KiB read buffer. Each socket is bound to a source
// address in 127.0.0.2..127.0.0.254 before connect (IP_BIND_ADDRESS_NO_PORT) so the ephemeral-port
// range is per address. Bounded by --duration (seconds) and by the connection/token count;
// SIGTERM/SIGINT/SIGUSR1 end the run early and still print the result. Output: one JSON line
// (stdout or --out).
//
// Modes:
//   stream  (default) open --connections streams and hold them until the end of the run.
//   connect churn: keep --connections handshakes in flight; each one connects, sends the request
//   with the
//           next token from --token-file, waits for the stream to open, closes, and starts the next
//           one.
// Merge:   herald-loadgen --merge a.json b.json ...  sums several processes' results (counters,
// CPU,
//          histograms) into one JSON line.
//
// HTTP/2 (--http2 K, stream mode): the streams go K to a connection, h2c by prior knowledge, each
// connection one libnghttp2 client session (windows at their maximum, so the client never holds the
// server back). Each stream is parsed and measured exactly as an HTTP/1.1 one; only the transport
// differs, so the two modes' deliveries/s compare the server's HTTP/2 and HTTP/1.1 paths.
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "common.hpp"

using namespace bench;

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

enum class cstate : std::uint8_t { idle, connecting, headers, streaming, closed };
enum ev_kind : std::uint8_t { ev_none = 0, ev_open, ev_keepalive, ev_error, ev_other };
enum ck_state : std::uint8_t { ck_size = 0, ck_ext, ck_data, ck_data_cr, ck_data_lf, ck_done };

struct conn {
  std::string buf;             // partial response header, or a partial SSE line
  std::int32_t h2_stream = 0;  // HTTP/2: the stream id (its connection is h2_conn)
  std::uint32_t h2_conn = 0;
  std::int64_t t_start = 0;  // CLOCK_MONOTONIC ns at connect()
  std::uint64_t last_seq = 0;
  std::uint64_t ev_seq = 0;
  std::int64_t ev_t = 0;
  std::uint32_t chunk_left = 0;
  std::uint32_t channel = 0;
  std::uint32_t token = 0;
  int fd = -1;
  cstate state = cstate::idle;
  ev_kind kind = ev_none;
  ck_state ck = ck_size;
  bool chunked = false;
  bool opened = false;
  bool ev_data = false, ev_has_seq = false, ev_has_t = false;
};

struct counters {
  std::uint64_t started = 0, connect_fail = 0, http_fail = 0, opened = 0, open_timeout = 0;
  std::uint64_t closed_before_open = 0, closed_after_open = 0, read_errors = 0;
  std::uint64_t stream_open_events = 0, keepalives = 0, stream_errors = 0, events = 0, comments = 0;
  std::uint64_t lost_head = 0, lost_gap = 0, lost_tail = 0, dups = 0, no_seq = 0;
  std::uint64_t bytes = 0, reads = 0, bind_fail = 0;
  std::uint64_t h2_connections = 0;
  std::map<int, std::uint64_t> status;  // non-200 status codes
};

// One HTTP/2 connection carrying several streams (indexes into the loadgen's conns_).
struct h2conn {
  int fd = -1;
  nghttp2_session* session = nullptr;
  bool connected = false;
  std::vector<std::uint32_t> streams;
  std::string out;  // bytes the session produced that the socket did not take yet
  ~h2conn() {
    if (session) nghttp2_session_del(session);
  }
};

// epoll data of an HTTP/2 connection (the others carry the stream index).
constexpr std::uint32_t kH2Bit = 0x80000000u;

class loadgen {
 public:
  explicit loadgen(const args& a) {
    host_ = a.str("host", "127.0.0.1");
    port_ = int(a.integer("port", 8080));
    dst_ = make_addr(host_, port_);
    path_ = a.str("path", "/bench/c{i}");
    channels_ = std::max<long long>(1, a.integer("channels", 1));
    n_ = std::uint32_t(a.integer("connections", 100));
    index_base_ = std::uint32_t(a.integer("index-base", 0));
    mode_ = a.str("mode", "stream");
    token_ = a.str("token", "");
    duration_ns_ = std::int64_t(a.num("duration", 60) * 1e9);
    warmup_ns_ = std::int64_t(a.num("warmup", 1) * 1e9);
    arrival_stamps_ = a.str("arrival-stamps", "1") != "0";
    connect_rate_ = a.num("connect-rate", 0);
    max_pending_ = std::uint32_t(a.integer("max-pending", 512));
    open_timeout_ns_ = std::int64_t(a.num("open-timeout", 15) * 1e9);
    open_on_headers_ = a.str("open-on", "event") == "headers";
    max_events_ = std::uint64_t(a.integer("max-events", 0));
    h2_per_conn_ = std::uint32_t(a.integer("http2", 0));
    if (h2_per_conn_ > 0 && mode_ != "stream") {
      std::fprintf(stderr, "loadgen: --http2 needs --mode stream\n");
      std::exit(2);
    }
    ready_file_ = a.str("ready-file", "");
    out_file_ = a.str("out", "");
    stats_file_ = a.str("stats-file", "");
    label_ = a.str("label", "");
    progress_ = a.flag("progress");
    src_first_ = int(a.integer("src-first", 2));
    src_count_ = int(a.integer("src-count", 253));
    if (a.has("token-file")) {
      std::ifstream f(a.str("token-file"));
      std::string line;
      while (std::getline(f, line))
        if (!line.empty()) tokens_.push_back(line);
      if (tokens_.empty()) {
        std::fprintf(stderr, "loadgen: no tokens in %s\n", a.str("token-file").c_str());
        std::exit(2);
      }
    }
    if (mode_ == "connect") {
      total_ = tokens_.empty() ? std::uint64_t(a.integer("count", 10000)) : tokens_.size();
      if (a.has("count"))
        total_ = std::min<std::uint64_t>(total_, std::uint64_t(a.integer("count", 0)));
    } else {
      total_ = n_;
    }
    host_header_ = host_ + ":" + std::to_string(port_);
    rbuf_.resize(std::size_t{64} * 1024);
  }

  int run() {
    nofile_ = raise_nofile();
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    conns_.resize(n_);
    for (std::uint32_t i = 0; i < n_; ++i)
      conns_[i].channel = std::uint32_t((index_base_ + i) % channels_);
    cpu_start_ = cpu_now();
    t0_ = cpu_start_.wall_ns;
    deadline_ = t0_ + duration_ns_;
    std::vector<epoll_event> evs(1024);
    std::int64_t last_scan = t0_, last_progress = t0_, last_stats = 0;
    while (!g_stop) {
      std::int64_t now = mono_ns();
      if (now >= deadline_) {
        hit_deadline_ = true;
        break;
      }
      if (max_events_ && c_.events >= max_events_) break;
      start_connections(now);
      if (now - last_scan > 200'000'000) {
        scan_timeouts(now);
        last_scan = now;
      }
      check_ready(now);
      if (mode_ == "connect" && issued_ >= total_ && pending_ == 0) break;
      if (!stats_file_.empty() && now - last_stats > 250'000'000) {
        write_stats(now);
        last_stats = now;
      }
      if (progress_ && now - last_progress > 1'000'000'000) {
        last_progress = now;
        std::fprintf(stderr,
                     "[loadgen%s] t=%.1fs opened=%" PRIu64 " pending=%u events=%" PRIu64
                     " fail=%" PRIu64 "\n",
                     label_.c_str(), double(now - t0_) / 1e9, c_.opened, pending_, c_.events,
                     c_.connect_fail + c_.http_fail + c_.closed_before_open + c_.open_timeout);
      }
      int timeout_ms = (pending_ || started_all() == false) ? 1 : 50;
      int k = epoll_wait(ep_, evs.data(), int(evs.size()), timeout_ms);
      if (k < 0) {
        if (errno == EINTR) continue;
        std::perror("epoll_wait");
        break;
      }
      for (int e = 0; e < k; ++e) handle(evs[std::size_t(e)].data.u32, evs[std::size_t(e)].events);
    }
    cpu_end_ = cpu_now();
    if (!ready_written_) {
      cpu_ready_ = cpu_end_;
    }
    finish_tail_losses();
    std::string out = report();
    write_report(out_file_, out);
    return 0;
  }

 private:
  bool started_all() const { return issued_ >= total_; }

  void start_connections(std::int64_t now) {
    if (mode_ == "stream") {
      if (h2_per_conn_ > 0) {
        while (next_ < n_ && pending_ < max_pending_ && rate_allows(now)) start_h2(now);
        return;
      }
      while (next_ < n_ && pending_ < max_pending_ && rate_allows(now)) start(next_++, now);
    } else {
      // connect mode: free slots are idle/closed conns
      while (issued_ < total_ && pending_ < std::min(max_pending_, n_) && rate_allows(now)) {
        std::uint32_t slot = free_slots_.empty() ? next_++ : pop_free();
        if (slot >= n_) break;
        start(slot, now);
      }
    }
  }
  std::uint32_t pop_free() {
    std::uint32_t s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  bool rate_allows(std::int64_t now) {
    if (connect_rate_ <= 0) return true;
    double due = connect_rate_ * double(now - t0_) / 1e9 + 1;
    return double(issued_) < due;
  }

  void start(std::uint32_t i, std::int64_t now) {
    conn& c = conns_[i];
    c.buf.clear();
    c.state = cstate::connecting;
    c.opened = false;
    c.chunked = false;
    c.ck = ck_size;
    c.chunk_left = 0;
    c.kind = ev_none;
    c.ev_data = c.ev_has_seq = c.ev_has_t = false;
    c.last_seq = 0;
    c.token = std::uint32_t(issued_);
    c.t_start = now;
    ++issued_;
    ++c_.started;
    ++pending_;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      fail(i, c_.connect_fail, "socket");
      return;
    }
    c.fd = fd;
    int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (arrival_stamps_) setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    std::uint32_t global = index_base_ + std::uint32_t(issued_ - 1);
    src.sin_addr.s_addr =
        htonl((127u << 24) | std::uint32_t(src_first_ + int(global % std::uint32_t(src_count_))));
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      ++c_.bind_fail;
      if (c_.bind_fail < 4) std::perror("loadgen: bind");
    }
    int r = connect(fd, reinterpret_cast<const sockaddr*>(&dst_), sizeof dst_);
    if (r != 0 && errno != EINPROGRESS) {
      if (c_.connect_fail < 4) std::perror("loadgen: connect");
      fail(i, c_.connect_fail, nullptr);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = i;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  // A socket bound to the next source address, connecting (non-blocking); -1 on failure.
  int open_socket() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (arrival_stamps_) setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    std::uint32_t global = index_base_ + std::uint32_t(issued_);
    src.sin_addr.s_addr =
        htonl((127u << 24) | std::uint32_t(src_first_ + int(global % std::uint32_t(src_count_))));
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      ++c_.bind_fail;
      if (c_.bind_fail < 4) std::perror("loadgen: bind");
    }
    int r = connect(fd, reinterpret_cast<const sockaddr*>(&dst_), sizeof dst_);
    if (r != 0 && errno != EINPROGRESS) {
      if (c_.connect_fail < 4) std::perror("loadgen: connect");
      close(fd);
      return -1;
    }
    return fd;
  }

  // HTTP/2: the next streams (up to --http2 of them) on one new connection.
  void start_h2(std::int64_t now) {
    const auto k = std::uint32_t(h2_conns_.size());
    auto h = std::make_unique<h2conn>();
    const std::uint32_t count = std::min(h2_per_conn_, n_ - next_);
    const int fd = open_socket();
    for (std::uint32_t j = 0; j < count; ++j) {
      const std::uint32_t i = next_++;
      conn& c = conns_[i];
      c.buf.clear();
      c.state = cstate::connecting;
      c.opened = false;
      c.kind = ev_none;
      c.ev_data = c.ev_has_seq = c.ev_has_t = false;
      c.last_seq = 0;
      c.token = std::uint32_t(issued_);
      c.t_start = now;
      c.h2_conn = k;
      c.fd = fd;
      ++issued_;
      ++c_.started;
      ++pending_;
      h->streams.push_back(i);
    }
    h->fd = fd;
    h2_conns_.push_back(std::move(h));
    if (fd < 0) {
      for (auto i : h2_conns_.back()->streams) fail(i, c_.connect_fail, nullptr);
      return;
    }
    ++c_.h2_connections;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = kH2Bit | k;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  static std::uint32_t h2_index(nghttp2_session* s, std::int32_t id) {
    return std::uint32_t(
        reinterpret_cast<std::uintptr_t>(nghttp2_session_get_stream_user_data(s, id)));
  }

  // The response's :status; 200 starts the stream's body.
  static int h2_on_header(nghttp2_session* s, const nghttp2_frame* f, const std::uint8_t* name,
                          std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                          std::uint8_t, void* self) {
    if (f->hd.type != NGHTTP2_HEADERS || namelen != 7 || std::memcmp(name, ":status", 7) != 0)
      return 0;
    auto* lg = static_cast<loadgen*>(self);
    const auto i = h2_index(s, f->hd.stream_id);
    conn& c = lg->conns_[i];
    if (c.fd < 0 || c.state != cstate::headers) return 0;
    const int status =
        std::atoi(std::string(reinterpret_cast<const char*>(value), valuelen).c_str());
    if (status != 200) {
      ++lg->c_.status[status];
      lg->fail(i, lg->c_.http_fail, nullptr);
      return 0;
    }
    c.state = cstate::streaming;
    if (lg->open_on_headers_) lg->mark_open(i);
    return 0;
  }
  static int h2_on_data(nghttp2_session* s, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                        std::size_t len, void* self) {
    auto* lg = static_cast<loadgen*>(self);
    const auto i = h2_index(s, id);
    if (lg->conns_[i].fd >= 0 && lg->conns_[i].state == cstate::streaming)
      lg->sse(i, reinterpret_cast<const char*>(data), len, lg->read_real_);
    return 0;
  }
  static int h2_on_close(nghttp2_session* s, std::int32_t id, std::uint32_t, void* self) {
    auto* lg = static_cast<loadgen*>(self);
    const auto i = h2_index(s, id);
    conn& c = lg->conns_[i];
    if (c.fd < 0) return 0;
    c.h2_stream = 0;  // nothing to reset any more
    lg->fail(i, c.opened ? lg->c_.closed_after_open : lg->c_.closed_before_open, nullptr);
    return 0;
  }

  // The connection is up: a client session, the SETTINGS (largest windows) and every request.
  bool h2_begin(std::uint32_t k) {
    h2conn& h = *h2_conns_[k];
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &h2_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &h2_on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &h2_on_close);
    const int rv = nghttp2_session_client_new(&h.session, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) return false;
    const nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                         {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0x7fffffff}};
    nghttp2_submit_settings(h.session, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(h.session, NGHTTP2_FLAG_NONE, 0, 0x7fffffff);
    for (auto i : h.streams) {
      conn& c = conns_[i];
      if (c.fd < 0) continue;
      std::string path = path_;
      if (auto p = path.find("{i}"); p != std::string::npos)
        path.replace(p, 3, std::to_string(c.channel));
      std::string auth;
      const std::string* tok = !tokens_.empty()  ? &tokens_[c.token % tokens_.size()]
                               : !token_.empty() ? &token_
                                                 : nullptr;
      if (tok) auth = "Bearer " + *tok;
      auto nv = [](const std::string& n, const std::string& v) {
        return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                          reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(),
                          v.size(), NGHTTP2_NV_FLAG_NONE};
      };
      static const std::string m = ":method", get = "GET", sc = ":scheme", http = "http",
                               au = ":authority", pa = ":path", ac = "accept",
                               es = "text/event-stream", az = "authorization";
      std::vector<nghttp2_nv> nva = {nv(m, get), nv(sc, http), nv(au, host_header_), nv(pa, path),
                                     nv(ac, es)};
      if (tok) nva.push_back(nv(az, auth));
      const auto id = nghttp2_submit_request(h.session, nullptr, nva.data(), nva.size(), nullptr,
                                             reinterpret_cast<void*>(std::uintptr_t(i)));
      if (id < 0) {
        fail(i, c_.http_fail, nullptr);
        continue;
      }
      c.h2_stream = id;
      c.state = cstate::headers;
    }
    h.connected = true;
    return true;
  }

  // Writes what the session has; the rest waits for EPOLLOUT.
  bool h2_flush(std::uint32_t k) {
    h2conn& h = *h2_conns_[k];
    for (;;) {
      if (h.out.empty()) {
        const std::uint8_t* data = nullptr;
        const auto n = nghttp2_session_mem_send(h.session, &data);
        if (n < 0) return false;
        if (n == 0) break;
        h.out.assign(reinterpret_cast<const char*>(data), std::size_t(n));
      }
      const ssize_t w = write(h.fd, h.out.data(), h.out.size());
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
      if (w < 0) return false;
      h.out.erase(0, std::size_t(w));
      if (!h.out.empty()) break;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | (h.out.empty() ? 0u : std::uint32_t(EPOLLOUT));
    ev.data.u32 = kH2Bit | k;
    epoll_ctl(ep_, EPOLL_CTL_MOD, h.fd, &ev);
    return true;
  }

  // The connection ended: every stream on it that is still open ends with it.
  void h2_drop(std::uint32_t k) {
    h2conn& h = *h2_conns_[k];
    if (h.fd < 0) return;
    close(h.fd);
    h.fd = -1;
    for (auto i : h.streams) {
      conn& c = conns_[i];
      if (c.fd < 0) continue;
      c.h2_stream = 0;
      fail(i, c.opened ? c_.closed_after_open : c_.closed_before_open, nullptr);
    }
    if (h.session) {
      nghttp2_session_del(h.session);
      h.session = nullptr;
    }
  }

  void handle_h2(std::uint32_t k, std::uint32_t events) {
    h2conn& h = *h2_conns_[k];
    if (h.fd < 0) return;
    if (!h.connected) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(h.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || !h2_begin(k)) {
        if (c_.connect_fail < 4) std::fprintf(stderr, "loadgen: connect: %s\n", std::strerror(err));
        for (auto i : h.streams) {
          conn& c = conns_[i];
          if (c.fd >= 0) fail(i, c_.connect_fail, nullptr);
        }
        close(h.fd);
        h.fd = -1;
        return;
      }
      if (!h2_flush(k)) h2_drop(k);
      return;
    }
    if ((events & EPOLLOUT) && !h2_flush(k)) {
      h2_drop(k);
      return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    for (int rounds = 0; rounds < 4; ++rounds) {
      ssize_t n = arrival_stamps_ ? read_stamped(h.fd) : read(h.fd, rbuf_.data(), rbuf_.size());
      if (n > 0) {
        read_real_ = real_ns();
        ++c_.reads;
        c_.bytes += std::uint64_t(n);
        const auto rv = nghttp2_session_mem_recv(
            h.session, reinterpret_cast<const std::uint8_t*>(rbuf_.data()), std::size_t(n));
        if (rv < 0 || !h2_flush(k)) {
          ++c_.read_errors;
          h2_drop(k);
          return;
        }
        if (std::size_t(n) < rbuf_.size()) return;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n < 0) ++c_.read_errors;
      h2_drop(k);
      return;
    }
  }

  std::string request_for(const conn& c) {
    std::string path = path_;
    if (auto p = path.find("{i}"); p != std::string::npos)
      path.replace(p, 3, std::to_string(c.channel));
    std::string r;
    r.reserve(256);
    r += "GET ";
    r += path;
    r += " HTTP/1.1\r\nHost: ";
    r += host_header_;
    r += "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n";
    const std::string* tok = nullptr;
    if (!tokens_.empty())
      tok = &tokens_[c.token % tokens_.size()];
    else if (!token_.empty())
      tok = &token_;
    if (tok) {
      r += "Authorization: Bearer ";
      r += *tok;
      r += "\r\n";
    }
    r += "\r\n";
    return r;
  }

  void handle(std::uint32_t i, std::uint32_t events) {
    if (i & kH2Bit) {
      handle_h2(i & ~kH2Bit, events);
      return;
    }
    conn& c = conns_[i];
    if (c.fd < 0) return;
    if (c.state == cstate::connecting) {
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          if (c_.connect_fail < 4)
            std::fprintf(stderr, "loadgen: connect: %s\n", std::strerror(err));
          fail(i, c_.connect_fail, nullptr);
          return;
        }
        std::string req = request_for(c);
        ssize_t w = write(c.fd, req.data(), req.size());
        if (w != ssize_t(req.size())) {
          fail(i, c_.connect_fail, "write request");
          return;
        }
        c.state = cstate::headers;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = i;
        epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      }
      return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    for (int rounds = 0; rounds < 4; ++rounds) {
      ssize_t n = arrival_stamps_ ? read_stamped(c.fd) : read(c.fd, rbuf_.data(), rbuf_.size());
      if (n > 0) {
        // Receive time = just after the read returned: every event in the buffer had arrived by
        // then.
        std::int64_t real = real_ns();
        ++c_.reads;
        c_.bytes += std::uint64_t(n);
        feed(i, rbuf_.data(), std::size_t(n), real);
        if (c.fd < 0) return;  // closed while parsing (failure or connect mode)
        if (std::size_t(n) < rbuf_.size()) return;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n < 0) ++c_.read_errors;
      if (c.opened)
        fail(i, c_.closed_after_open, nullptr);
      else
        fail(i, c_.closed_before_open, nullptr);
      return;
    }
  }

  // recvmsg() with the kernel's software receive stamp (SO_TIMESTAMPNS, CLOCK_REALTIME). On
  // loopback the stamp is taken when the server's write hands the segment to the loopback device,
  // so `arrival - t` is the latency up to the subscriber's socket and `real - arrival` is this
  // process's own delay in reading it (its core is shared with the publisher). For TCP the stamp
  // is that of the last segment the read consumed: for earlier events in the same read the
  // arrival latency is over-, never under-estimated.
  ssize_t read_stamped(int fd) {
    iovec iov{rbuf_.data(), rbuf_.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd, &msg, 0);
    arrival_ = 0;
    if (n <= 0) return n;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(cm), sizeof ts);
        arrival_ = std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
      }
    }
    return n;
  }

  void feed(std::uint32_t i, const char* p, std::size_t n, std::int64_t real) {
    conn& c = conns_[i];
    if (c.state == cstate::headers) {
      c.buf.append(p, n);
      std::size_t end = c.buf.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.buf.size() > 16384) fail(i, c_.http_fail, nullptr);
        return;
      }
      int status = 0;
      if (c.buf.size() > 12 && c.buf.compare(0, 5, "HTTP/") == 0)
        status = std::atoi(c.buf.c_str() + 9);
      if (status != 200) {
        ++c_.status[status];
        if (c_.http_fail < 3)
          std::fprintf(stderr, "loadgen: status %d: %.200s\n", status, c.buf.c_str());
        fail(i, c_.http_fail, nullptr);
        return;
      }
      std::string_view head(c.buf.data(), end);
      c.chunked = contains_ci(head, "transfer-encoding: chunked");
      std::string rest = c.buf.substr(end + 4);
      c.buf.clear();
      c.buf.shrink_to_fit();
      c.state = cstate::streaming;
      if (open_on_headers_) mark_open(i);
      if (c.fd < 0) return;
      if (!rest.empty()) body(i, rest.data(), rest.size(), real);
      return;
    }
    body(i, p, n, real);
  }

  static bool contains_ci(std::string_view hay, std::string_view needle) {
    if (needle.size() > hay.size()) return false;
    for (std::size_t k = 0; k + needle.size() <= hay.size(); ++k) {
      std::size_t j = 0;
      while (j < needle.size() && std::tolower(static_cast<unsigned char>(hay[k + j])) == needle[j])
        ++j;
      if (j == needle.size()) return true;
    }
    return false;
  }

  void body(std::uint32_t i, const char* p, std::size_t n, std::int64_t real) {
    conn& c = conns_[i];
    if (!c.chunked) {
      sse(i, p, n, real);
      return;
    }
    // Incremental chunked decoding; data spans go straight to the SSE parser.
    while (n && c.fd >= 0) {
      switch (c.ck) {
        case ck_size: {
          char ch = *p++;
          --n;
          if (ch >= '0' && ch <= '9')
            c.chunk_left = c.chunk_left * 16 + std::uint32_t(ch - '0');
          else if (ch >= 'a' && ch <= 'f')
            c.chunk_left = c.chunk_left * 16 + std::uint32_t(ch - 'a' + 10);
          else if (ch >= 'A' && ch <= 'F')
            c.chunk_left = c.chunk_left * 16 + std::uint32_t(ch - 'A' + 10);
          else if (ch == '\n')
            c.ck = c.chunk_left ? ck_data : ck_done;
          else
            c.ck = ck_ext;
          break;
        }
        case ck_ext: {
          char ch = *p++;
          --n;
          if (ch == '\n') c.ck = c.chunk_left ? ck_data : ck_done;
          break;
        }
        case ck_data: {
          std::size_t take = std::min<std::size_t>(n, c.chunk_left);
          sse(i, p, take, real);
          p += take;
          n -= take;
          c.chunk_left -= std::uint32_t(take);
          if (!c.chunk_left) c.ck = ck_data_cr;
          break;
        }
        case ck_data_cr:
          ++p;
          --n;
          c.ck = ck_data_lf;
          break;
        case ck_data_lf:
          ++p;
          --n;
          c.ck = ck_size;
          c.chunk_left = 0;
          break;
        case ck_done:
          return;  // terminating chunk: the server ended the stream; EOF will follow
      }
    }
  }

  void sse(std::uint32_t i, const char* p, std::size_t n, std::int64_t real) {
    conn& c = conns_[i];
    while (n && c.fd >= 0) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
      if (!nl) {
        c.buf.append(p, n);
        return;
      }
      std::size_t len = std::size_t(nl - p);
      if (!c.buf.empty()) {
        c.buf.append(p, len);
        line(i, c.buf.data(), c.buf.size(), real);
        c.buf.clear();
      } else {
        line(i, p, len, real);
      }
      p = nl + 1;
      n -= len + 1;
    }
  }

  void line(std::uint32_t i, const char* p, std::size_t len, std::int64_t real) {
    conn& c = conns_[i];
    if (len && p[len - 1] == '\r') --len;
    if (len == 0) {
      dispatch(i, real);
      return;
    }
    std::string_view l(p, len);
    if (l[0] == ':') {
      ++c_.comments;
      return;
    }
    if (l.starts_with("event:")) {
      std::string_view v = l.substr(6);
      if (!v.empty() && v[0] == ' ') v.remove_prefix(1);
      if (v == "keep-alive")
        c.kind = ev_keepalive;
      else if (v == "stream-open")
        c.kind = ev_open;
      else if (v == "stream-error")
        c.kind = ev_error;
      else
        c.kind = ev_other;
      return;
    }
    if (l.starts_with("data:")) {
      c.ev_data = true;
      if (c.kind == ev_none || c.kind == ev_other) {
        std::string_view d = l.substr(5);
        std::uint64_t v;
        if (!c.ev_has_seq && find_uint_after(d, "\"seq\":", v)) {
          c.ev_seq = v;
          c.ev_has_seq = true;
        }
        if (!c.ev_has_t && find_uint_after(d, "\"t\":", v)) {
          c.ev_t = std::int64_t(v);
          c.ev_has_t = true;
        }
      }
      return;
    }
    // id:, retry: and unknown fields are ignored.
  }

  void dispatch(std::uint32_t i, std::int64_t real) {
    conn& c = conns_[i];
    switch (c.kind) {
      case ev_open:
        ++c_.stream_open_events;
        if (!c.opened) mark_open(i);
        break;
      case ev_keepalive:
        ++c_.keepalives;
        break;
      case ev_error:
        ++c_.stream_errors;
        break;
      case ev_none:
      case ev_other:
        if (!c.ev_data) break;  // a blank line after comments only
        ++c_.events;
        if (!first_ev_) first_ev_ = real;
        last_ev_ = real;
        if (c.ev_has_t) {
          const std::int64_t since_first = real - first_ev_, lat = real - c.ev_t;
          const bool steady = since_first >= warmup_ns_;
          lat_.record(lat);
          if (steady) lat_steady_.record(lat);
          late_.note(since_first, lat);
          if (arrival_ != 0) {
            const std::int64_t lat_arrival = arrival_ - c.ev_t;
            lat_arrival_.record(lat_arrival);
            if (steady) lat_arrival_steady_.record(lat_arrival);
            late_arrival_.note(since_first, lat_arrival);
            read_delay_.record(real - arrival_);
          }
        }
        if (c.ev_has_seq) {
          std::uint64_t s = c.ev_seq;
          if (c.last_seq == 0) {
            if (s > 1) c_.lost_head += s - 1;
            c.last_seq = s;
          } else if (s > c.last_seq) {
            c_.lost_gap += s - c.last_seq - 1;
            c.last_seq = s;
          } else {
            ++c_.dups;
          }
          if (chan_max_.size() <= c.channel) chan_max_.resize(std::size_t(channels_), 0);
          if (s > chan_max_[c.channel]) chan_max_[c.channel] = s;
        } else {
          ++c_.no_seq;
        }
        break;
    }
    c.kind = ev_none;
    c.ev_data = c.ev_has_seq = c.ev_has_t = false;
  }

  void mark_open(std::uint32_t i) {
    conn& c = conns_[i];
    c.opened = true;
    ++c_.opened;
    --pending_;
    std::int64_t now = mono_ns();
    est_.record((now - c.t_start) / 1000);
    if (!first_open_) first_open_ = now;
    last_open_ = now;
    if (mode_ == "connect") {
      close_conn(i);
      free_slots_.push_back(i);
    }
  }

  void fail(std::uint32_t i, std::uint64_t& counter, const char* what) {
    if (what && counter < 4) std::perror(what);
    ++counter;
    conn& c = conns_[i];
    bool was_pending = !c.opened && c.state != cstate::closed && c.state != cstate::idle;
    close_conn(i);
    if (was_pending) --pending_;
    if (mode_ == "connect") free_slots_.push_back(i);
  }

  void close_conn(std::uint32_t i) {
    conn& c = conns_[i];
    if (c.fd >= 0 && h2_per_conn_ > 0) {
      // HTTP/2: the stream ends (RST_STREAM), its connection stays for the others.
      auto& h = *h2_conns_[c.h2_conn];
      if (c.h2_stream > 0 && h.session && h.fd >= 0)
        nghttp2_submit_rst_stream(h.session, NGHTTP2_FLAG_NONE, c.h2_stream, NGHTTP2_CANCEL);
      c.h2_stream = 0;
      c.fd = -1;
    } else if (c.fd >= 0) {
      close(c.fd);  // close() drops the epoll registration
      c.fd = -1;
    }
    c.state = cstate::closed;
    std::string().swap(c.buf);
  }

  void scan_timeouts(std::int64_t now) {
    if (!pending_) return;
    for (std::uint32_t i = 0; i < n_; ++i) {
      conn& c = conns_[i];
      if (c.fd >= 0 && !c.opened && (c.state == cstate::connecting || c.state == cstate::headers) &&
          now - c.t_start > open_timeout_ns_)
        fail(i, c_.open_timeout, nullptr);
    }
  }

  void check_ready(std::int64_t now) {
    if (ready_written_ || mode_ != "stream") return;
    if (next_ < n_ || pending_ > 0) return;
    ready_written_ = true;
    cpu_ready_ = cpu_now();
    ready_at_ = now;
    if (!ready_file_.empty()) {
      std::ofstream f(ready_file_ + ".tmp");
      f << "{\"opened\":" << c_.opened << ",\"t_s\":" << double(now - t0_) / 1e9 << "}\n";
      f.close();
      std::rename((ready_file_ + ".tmp").c_str(), ready_file_.c_str());
    }
    if (progress_)
      std::fprintf(stderr, "[loadgen%s] ready: %" PRIu64 " of %u open in %.2fs\n", label_.c_str(),
                   c_.opened, n_, double(now - t0_) / 1e9);
  }

  // A small progress file the driver polls: it knows when deliveries have stopped without stopping
  // us.
  void write_stats(std::int64_t now) {
    char b[256];
    int n = std::snprintf(b, sizeof b,
                          "{\"t_s\":%.3f,\"opened\":%" PRIu64 ",\"events\":%" PRIu64
                          ",\"pending\":%u,\"failed\":%" PRIu64 "}\n",
                          double(now - t0_) / 1e9, c_.opened, c_.events, pending_,
                          c_.connect_fail + c_.http_fail + c_.closed_before_open + c_.open_timeout +
                              c_.closed_after_open);
    std::string tmp = stats_file_ + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fwrite(b, 1, std::size_t(n), f);
      std::fclose(f);
      std::rename(tmp.c_str(), stats_file_.c_str());
    }
  }

  void finish_tail_losses() {
    // Streams that stopped short of the highest seq seen on their channel (in this process) lost
    // the tail.
    if (chan_max_.empty()) return;
    for (auto& c : conns_) {
      if (c.state != cstate::streaming || !c.opened) continue;
      std::uint64_t m = c.channel < chan_max_.size() ? chan_max_[c.channel] : 0;
      if (m > c.last_seq) c_.lost_tail += m - c.last_seq;
    }
  }

  std::string report() {
    json_out j;
    j.begin_obj();
    j.kv("tool", "loadgen")
        .kv("label", label_)
        .kv("mode", mode_)
        .kv("host", host_)
        .kv("port", port_);
    j.kv("path", path_)
        .kv("channels", channels_)
        .kv("connections", n_)
        .kv("index_base", index_base_);
    j.kv("processes", 1)
        .kv("nofile", nofile_)
        .kv("open_on", open_on_headers_ ? "headers" : "event");
    j.kv("hit_deadline", hit_deadline_);
    j.kv("http2_streams_per_connection", h2_per_conn_).kv("h2_connections", c_.h2_connections);
    j.kv("started", c_.started).kv("opened", c_.opened).kv("connect_fail", c_.connect_fail);
    j.kv("http_fail", c_.http_fail).kv("open_timeout", c_.open_timeout);
    j.kv("closed_before_open", c_.closed_before_open).kv("closed_after_open", c_.closed_after_open);
    j.kv("read_errors", c_.read_errors).kv("bind_fail", c_.bind_fail);
    std::uint64_t still_open = 0;
    for (auto& c : conns_) still_open += (c.fd >= 0 && c.opened) ? 1 : 0;
    j.kv("still_open", still_open);
    j.key("status").begin_obj();
    for (auto& [k, v] : c_.status) j.kv(std::to_string(k), v);
    j.end_obj();
    j.kv("stream_open_events", c_.stream_open_events).kv("keepalives", c_.keepalives);
    j.kv("stream_errors", c_.stream_errors).kv("comments", c_.comments).kv("events", c_.events);
    j.kv("lost", c_.lost_head + c_.lost_gap + c_.lost_tail).kv("lost_head", c_.lost_head);
    j.kv("lost_gap", c_.lost_gap)
        .kv("lost_tail", c_.lost_tail)
        .kv("dups", c_.dups)
        .kv("no_seq", c_.no_seq);
    j.kv("bytes", c_.bytes).kv("reads", c_.reads);
    double wall = double(cpu_end_.wall_ns - t0_) / 1e9;
    double cpu = cpu_end_.total() - cpu_start_.total();
    j.kv("wall_s", wall).kv("cpu_s", cpu).kv("cpu_user_s", cpu_end_.user - cpu_start_.user);
    j.kv("cpu_sys_s", cpu_end_.sys - cpu_start_.sys).kv("cpu_share", wall > 0 ? cpu / wall : 0.0);
    // Streaming phase: from "all streams open" to the end (the phase the publisher runs in).
    double swall = double(cpu_end_.wall_ns - cpu_ready_.wall_ns) / 1e9;
    double scpu = cpu_end_.total() - cpu_ready_.total();
    j.kv("stream_wall_s", swall)
        .kv("stream_cpu_s", scpu)
        .kv("stream_cpu_share", swall > 0 ? scpu / swall : 0.0);
    double ewall = first_open_ && last_open_ > first_open_ ? double(last_open_ - t0_) / 1e9 : 0.0;
    j.kv("open_phase_s", ewall);
    j.kv("opens_per_s", ewall > 0 ? double(c_.opened) / ewall : 0.0);
    j.kv("events_per_s", swall > 0 ? double(c_.events) / swall : 0.0);
    // Span between the first and the last event received (CLOCK_REALTIME ns; mergeable by min/max).
    j.kv("first_event_ns", first_ev_).kv("last_event_ns", last_ev_);
    j.kv("lat_negative", lat_.negative());
    j.percentiles("latency_ms", lat_, 1e-6);
    j.percentiles("latency_steady_ms", lat_steady_, 1e-6);
    j.kv("arrival_stamps", arrival_stamps_);
    j.percentiles("latency_arrival_ms", lat_arrival_, 1e-6);
    j.percentiles("latency_arrival_steady_ms", lat_arrival_steady_, 1e-6);
    j.percentiles("read_delay_ms", read_delay_, 1e-6);
    j.percentiles("establish_ms", est_, 1e-3);
    j.buckets("latency_hist_ns", lat_);
    j.buckets("latency_steady_hist_ns", lat_steady_);
    j.buckets("latency_arrival_hist_ns", lat_arrival_);
    j.buckets("latency_arrival_steady_hist_ns", lat_arrival_steady_);
    j.buckets("read_delay_hist_ns", read_delay_);
    j.buckets("establish_hist_us", est_);
    // Where the tail happened: 100 ms bins (offset from the first event) holding a delivery later
    // than 5 ms, as [offset_ms, late_count, max_ms]; the first 50 such bins.
    late_.write(j, "late_bins", 50);
    late_arrival_.write(j, "late_arrival_bins", 50);
    j.end_obj();
    return j.str() + "\n";
  }

  // configuration
  std::string host_, path_, mode_, token_, ready_file_, out_file_, stats_file_, label_,
      host_header_;
  int port_ = 0;
  sockaddr_in dst_{};
  long long channels_ = 1;
  std::uint32_t n_ = 0, index_base_ = 0, max_pending_ = 512;
  std::uint64_t total_ = 0, max_events_ = 0;
  std::int64_t duration_ns_ = 0, open_timeout_ns_ = 0;
  double connect_rate_ = 0;
  bool open_on_headers_ = false, progress_ = false;
  std::uint32_t h2_per_conn_ = 0;  // --http2: streams per HTTP/2 connection (0 = HTTP/1.1)
  int src_first_ = 2, src_count_ = 253;
  std::vector<std::string> tokens_;
  // state
  int ep_ = -1;
  long nofile_ = 0;
  std::vector<conn> conns_;
  std::vector<std::unique_ptr<h2conn>> h2_conns_;
  std::int64_t read_real_ = 0;  // HTTP/2: the receive time of the read being parsed
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint64_t> chan_max_;
  std::vector<char> rbuf_;
  std::uint32_t next_ = 0, pending_ = 0;
  std::uint64_t issued_ = 0;
  std::int64_t t0_ = 0, deadline_ = 0, ready_at_ = 0, first_open_ = 0, last_open_ = 0,
               first_ev_ = 0, last_ev_ = 0;
  bool ready_written_ = false, hit_deadline_ = false;
  cpu_sample cpu_start_, cpu_ready_, cpu_end_;
  counters c_;
  histogram lat_, est_;
  histogram lat_steady_;  // latency once `warmup` seconds have passed since the first event
  // With --arrival-stamps: latency up to the kernel's receive stamp, and the read delay after it.
  bool arrival_stamps_ = true;
  std::int64_t arrival_ = 0;  // stamp of the current read, 0 = none
  histogram lat_arrival_, lat_arrival_steady_, read_delay_;
  std::int64_t warmup_ns_ = 0;
  late_bins late_{5'000'000};          // deliveries later than 5 ms, as read
  late_bins late_arrival_{5'000'000};  // the same, up to the kernel's receive stamp
};

// ------------------------------------------------------------------------------------------- merge
int merge(const std::vector<std::string>& files) {
  namespace js = boost::json;
  std::vector<js::object> rs;
  for (auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      try {
        rs.push_back(js::parse(line).as_object());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "merge: %s: %s\n", f.c_str(), e.what());
      }
    }
  }
  if (rs.empty()) {
    std::fprintf(stderr, "merge: nothing to merge\n");
    return 1;
  }
  auto num = [](const js::value& v) -> double {
    if (v.is_int64()) return double(v.as_int64());
    if (v.is_uint64()) return double(v.as_uint64());
    if (v.is_double()) return v.as_double();
    return 0.0;
  };
  static const char* sums[] = {"connections",
                               "started",
                               "opened",
                               "connect_fail",
                               "http_fail",
                               "open_timeout",
                               "closed_before_open",
                               "closed_after_open",
                               "read_errors",
                               "bind_fail",
                               "still_open",
                               "stream_open_events",
                               "keepalives",
                               "stream_errors",
                               "comments",
                               "events",
                               "lost",
                               "lost_head",
                               "lost_gap",
                               "lost_tail",
                               "dups",
                               "no_seq",
                               "bytes",
                               "reads",
                               "cpu_s",
                               "cpu_user_s",
                               "cpu_sys_s",
                               "cpu_share",
                               "stream_cpu_s",
                               "stream_cpu_share",
                               "opens_per_s",
                               "events_per_s",
                               "lat_negative",
                               "h2_connections",
                               "processes"};
  static const char* maxes[] = {"wall_s", "stream_wall_s", "open_phase_s", "last_event_ns"};
  json_out j;
  j.begin_obj();
  const js::object& first = rs.front();
  for (const char* k : {"tool", "label", "mode", "host", "path", "open_on"})
    if (auto* v = first.if_contains(k); v && v->is_string())
      j.kv(k, std::string_view(v->as_string()));
  for (const char* k : {"port", "channels", "nofile", "http2_streams_per_connection"})
    if (auto* v = first.if_contains(k)) j.kv(k, (long long)num(*v));
  bool hit = false;
  for (auto& r : rs)
    if (auto* v = r.if_contains("hit_deadline"); v && v->is_bool() && v->as_bool()) hit = true;
  j.kv("hit_deadline", hit);
  // Diagnostics passed through per process (their bins are relative to each process's first event).
  for (auto [key, per_process] :
       {std::pair{"late_bins", "late_bins_per_process"},
        std::pair{"late_arrival_bins", "late_arrival_bins_per_process"}}) {
    j.key(per_process).begin_arr();
    for (auto& r : rs)
      if (auto* v = r.if_contains(key)) j.raw(js::serialize(*v));
    j.end_arr();
  }
  for (const char* k : sums) {
    double s = 0;
    bool integral = true;
    for (auto& r : rs)
      if (auto* v = r.if_contains(k)) {
        s += num(*v);
        integral = integral && !v->is_double();
      }
    if (integral)
      j.kv(k, (long long)s);
    else
      j.kv(k, s);
  }
  for (const char* k : maxes) {
    double m = 0;
    bool integral = true;
    for (auto& r : rs)
      if (auto* v = r.if_contains(k)) {
        m = std::max(m, num(*v));
        integral = integral && !v->is_double();
      }
    if (integral)
      j.kv(k, (long long)m);
    else
      j.kv(k, m);
  }
  {
    double m = 0;
    for (auto& r : rs)
      if (auto* v = r.if_contains("first_event_ns"); v && num(*v) > 0)
        m = (m == 0) ? num(*v) : std::min(m, num(*v));
    j.kv("first_event_ns", (long long)m);
  }
  std::map<std::string, long long> status;
  for (auto& r : rs)
    if (auto* v = r.if_contains("status"); v && v->is_object())
      for (auto& kv : v->as_object()) status[std::string(kv.key())] += (long long)num(kv.value());
  j.key("status").begin_obj();
  for (auto& [k, v] : status) j.kv(k, v);
  j.end_obj();
  for (auto [hk, pk, unit] :
       {std::tuple{"latency_hist_ns", "latency_ms", 1e-6},
        std::tuple{"latency_steady_hist_ns", "latency_steady_ms", 1e-6},
        std::tuple{"latency_arrival_hist_ns", "latency_arrival_ms", 1e-6},
        std::tuple{"latency_arrival_steady_hist_ns", "latency_arrival_steady_ms", 1e-6},
        std::tuple{"read_delay_hist_ns", "read_delay_ms", 1e-6},
        std::tuple{"establish_hist_us", "establish_ms", 1e-3}}) {
    histogram h;
    for (auto& r : rs)
      if (auto* v = r.if_contains(hk); v && v->is_array())
        for (auto& b : v->as_array()) {
          auto& a = b.as_array();
          h.add_bucket(std::size_t(num(a[0])), std::uint64_t(num(a[1])));
        }
    j.percentiles(pk, h, unit);
    j.buckets(hk, h);
  }
  j.end_obj();
  std::cout << j.str() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "--merge") {
    std::vector<std::string> files(argv + 2, argv + argc);
    return merge(files);
  }
  if (argc > 1 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::puts(
        "herald-loadgen [options]   |   herald-loadgen --merge result.json...\n"
        "  --host 127.0.0.1 --port 8080 --path /bench/c{i}   ({i} = (index-base + i) % channels)\n"
        "  --connections N          streams (stream mode) or handshake slots (connect mode)\n"
        "  --channels K --index-base B\n"
        "  --mode stream|connect    connect: open, wait for the stream to open, close, repeat\n"
        "  --token JWT | --token-file FILE (one per line; connection i uses line i)\n"
        "  --count N                connect mode: stop after N connects (default: tokens in file)\n"
        "  --duration S             hard bound on the run (default 60)\n"
        "  --warmup S               latency_steady_ms leaves out the first S seconds after the "
        "first\n"
        "                           event (default 1); latency_ms counts every event\n"
        "  --connect-rate R         connects/s (0 = as fast as --max-pending allows)\n"
        "  --max-pending P          handshakes in flight (default 512)\n"
        "  --open-timeout S         (default 15)\n"
        "  --open-on event|headers  stream counts as open at `event: stream-open` (default) or at "
        "200 headers\n"
        "  --max-events N           stop after N events\n"
        "  --arrival-stamps 1|0     also measure latency up to the kernel's receive stamp\n"
        "                           (SO_TIMESTAMPNS) and the read delay after it (default 1)\n"
        "  --ready-file F           written once every stream is open (or failed)\n"
        "  --src-first 2 --src-count 253   source addresses 127.0.0.<first>..<first+count-1>\n"
        "  --stats-file F           progress JSON rewritten every 250 ms (opened, events)\n"
        "  --http2 K                stream mode over HTTP/2 (h2c, prior knowledge): K streams per\n"
        "                           connection (0 = HTTP/1.1, one connection per stream)\n"
        "  --out F --label L --progress");
    return 0;
  }
  args a(argc, argv, {"host",       "port",       "path",         "channels",    "connections",
                      "index-base", "mode",       "token",        "token-file",  "count",
                      "duration",   "warmup",     "connect-rate", "max-pending", "open-timeout",
                      "open-on",    "max-events", "ready-file",   "out",         "label",
                      "progress!",  "src-first",  "src-count",    "stats-file",  "arrival-stamps",
                      "http2"});
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  loadgen lg(a);
  return lg.run();
}

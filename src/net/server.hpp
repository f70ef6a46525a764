// http_server: Boost.Asio/Beast HTTP/1.1 server on N event-loop threads, one io_context per thread
// ("shard"), each with its own acceptor per listener (SO_REUSEPORT among the shards) so the kernel
// spreads connections.
//
// No thread and no timer per connection: each shard has ONE housekeeping timer that sweeps
//  - requests whose headers (or TLS handshake) did not arrive within header_timeout (their sockets
//    are closed),
//  - streams idle for keepalive (they get `event: keep-alive`), kept in an intrusive list ordered
//    by last write (to within min(1 s, keepalive / 4)) so the sweep touches only the streams that
//    are due,
//  - closing streams that could not flush within close_grace (force-closed).
//
// A listener speaks plain TCP (the default) or TLS (tls_options); a TLS connection decides its
// protocol after the handshake (ALPN), and its streams use the same queue, slow-consumer policy and
// flush passes as plain ones (sse_stream is a template over the socket type, see sse_stream.hpp).
//
// Ownership: app/ owns the server; the server owns its shards, threads and every connection.
// Thread-safety: public methods may be called from any thread (they post to the shards), except the
// constructor/listen/add_listener/start/set_fanout, which run before start(). reload_tls() may be
// called from any thread at any time after listen().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "net/http_types.hpp"
#include "sse/fanout.hpp"

namespace herald::net {

// HTTP/2 on the public listener (h2_session on libnghttp2, driven by h2_connection). The limits
// shared with HTTP/1.1 (header and body bytes, queue bounds, keep-alive, close_grace) are the
// server_options' own.
struct h2_options {
  // HTTP/2 over TLS: ALPN offers "h2" (preferred) and "http/1.1". A browser then opens all its
  // EventSources to one origin on one connection, past HTTP/1.1's six connections per origin.
  bool enabled = true;
  // HTTP/2 over cleartext TCP (h2c): a connection that starts with the HTTP/2 preface (prior
  // knowledge), or an HTTP/1.1 request with `Upgrade: h2c`, gets HTTP/2. Off with `enabled`.
  bool cleartext = true;
  bool h2c() const { return enabled && cleartext; }
  // SETTINGS_MAX_CONCURRENT_STREAMS: open streams per connection (a browser tab's EventSources
  // share one connection); further streams are refused with RST_STREAM REFUSED_STREAM.
  std::uint32_t max_concurrent_streams = 100;
  // SETTINGS_INITIAL_WINDOW_SIZE, bytes: what a client may send on one stream before we grant more.
  // Only request bodies use it (a GET stream sends nothing), so the default suffices.
  std::uint32_t stream_window_bytes = 65535;
  // Connection receive window, bytes: request bodies of all streams together. nghttp2 grants more
  // (WINDOW_UPDATE) as bodies arrive, so this bounds what one connection can have in flight to us.
  std::uint32_t connection_window_bytes = 1u << 20;
  // Bytes of output the session prepares before the driver writes: nghttp2 is asked for more
  // frames only below this, so a connection whose socket is full keeps its events in the per-stream
  // queues, where the slow-consumer bounds apply. At most one DATA frame (16 KiB) more is prepared.
  std::uint32_t output_buffer_bytes = 64u << 10;

  result<void> validate() const;
};

// TLS on a listener (OpenSSL through Asio SSL). Empty certificate_file: plain TCP.
struct tls_options {
  std::string certificate_file;  // PEM certificate chain, leaf first
  std::string private_key_file;  // PEM private key of the leaf certificate (unencrypted)

  bool enabled() const { return !certificate_file.empty(); }
  result<void> validate() const;  // both files or neither
};

struct server_options {
  std::string name = "public";  // for logs
  unsigned threads = 1;
  std::uint32_t max_header_bytes = 8192;
  std::uint32_t max_body_bytes = 1u << 20;
  std::chrono::milliseconds header_timeout{10000};  // request headers (and TLS handshake) deadline
  std::uint32_t max_connections = 20000;
  std::chrono::milliseconds keepalive{20000};
  std::uint32_t queue_max_events = 4096;  // per-stream bound (count) ...
  // ... and bytes: everything the stream holds in user space (queued and not yet written); overflow
  // closes with slow-consumer.
  std::uint32_t queue_max_bytes = 4u << 20;
  std::chrono::milliseconds close_grace{
      5000};  // a closing stream that cannot flush is cut after this
  std::chrono::milliseconds sweep_interval{250};
  // Kernel send buffer per connection (SO_SNDBUF, bytes; the kernel doubles it for its overhead);
  // 0 = the kernel's autotuning (up to net.ipv4.tcp_wmem's maximum, 4 MiB by default). Bounded, a
  // slow reader's backlog stays in the stream's queue, where the slow-consumer policy can end it at
  // an event boundary within close_grace.
  std::uint32_t send_buffer_bytes = 256u << 10;
  // File descriptors the public listener leaves free under RLIMIT_NOFILE for the internal listener,
  // the bus and the store: a connection that would take one of them gets 503.
  std::uint32_t spare_descriptors = 64;
  // Retry-After (seconds) on the 503 a connection over a limit gets.
  std::chrono::seconds busy_retry_after{2};
  // SO_REUSEPORT shared with other processes: several `herald serve` on one port. Off: a port
  // already bound by another process is refused at start.
  bool reuse_port = false;
  tls_options tls;   // TLS on the public listener
  h2_options http2;  // HTTP/2 on the public listener (over TLS with ALPN, and h2c)

  result<void> validate() const;
};

class shard;
class tls_context;

// A further listening address with its own handler and limits (e.g. the internal publish/health
// listener). Its connections are served by the same shards (event-loop threads) as the primary
// listener, so a publish reaches the fanout without a thread switch.
struct listener_options {
  std::string name = "internal";
  std::uint32_t max_body_bytes = 1u << 20;
  std::uint32_t max_connections = 1024;
  // Request read size: a publisher's pipelined requests are read (and answered) together.
  std::uint32_t read_buffer_bytes = 16384;
  std::uint32_t send_buffer_bytes = 0;  // SO_SNDBUF per connection; 0 = kernel autotuning
  std::uint32_t spare_descriptors = 0;  // see server_options
  bool reuse_port = false;              // see server_options
  tls_options tls;
};

struct listener_state {
  request_handler* handler = nullptr;
  // The limits in force, replaced by reload_limits() (an options snapshot is never freed while the
  // server lives, so a connection may keep reading the one it started with). Read on every accept.
  std::atomic<const listener_options*> live{nullptr};
  listener_options opts;  // as given at listen/add_listener (what cannot change: address, TLS)
  // The public listener: HTTP/2 per server_options::http2 (ALPN "h2", h2c), and its limits follow
  // reload_limits(server_options).
  bool primary = false;
  std::uint16_t port = 0;
  std::atomic<std::size_t> connections{0};
  // A connection whose descriptor is at or above this gets 503 (RLIMIT_NOFILE minus
  // opts.spare_descriptors, read at start(); descriptors are allocated lowest first, so one this
  // high means every one below it is taken). 0 = no ceiling.
  int descriptor_ceiling = 0;
  // The certificate new TLS connections use (null for plain TCP); swapped by reload_tls().
  std::atomic<std::shared_ptr<tls_context>> tls;
  // Rate limit of the "out of descriptors" log line (steady-clock ticks of the last one).
  std::atomic<std::int64_t> last_accept_warning{0};
  std::atomic<std::uint64_t> accept_warnings_suppressed{0};
};

class http_server {
 public:
  http_server(server_options opts, request_handler& handler);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Executors of the shards, in shard order (the fanout is built on these).
  std::vector<boost::asio::any_io_executor> executors() const;
  // The io_context of shard `index` (< threads): a component that should run on that event loop
  // rather than on a thread of its own (the Valkey bus, [bus] thread) is built on it. It lives as
  // long as this server.
  boost::asio::io_context& loop_context(std::size_t index);
  void set_fanout(sse::fanout* f);

  // Binds one acceptor per shard for the primary handler. Port 0 picks a free port (see port()).
  result<void> listen(const std::string& address, std::uint16_t port);
  std::uint16_t port() const { return listeners_.empty() ? 0 : listeners_.front()->port; }
  // Another listener served by the same shards (call after listen(), before start()). Returns the
  // bound port.
  result<std::uint16_t> add_listener(const std::string& address, std::uint16_t port,
                                     request_handler& handler, listener_options opts);

  // Spawns the shard threads. Warns when max_connections exceeds what RLIMIT_NOFILE allows.
  void start();

  // Re-reads the certificate and key of every TLS listener (e.g. on SIGHUP): new connections use
  // the new certificate, open ones continue on theirs. On an error nothing changes.
  result<void> reload_tls();
  // The same for the primary listener with other files (a reloaded configuration).
  result<void> reload_tls(const tls_options& primary);

  // A reloaded configuration for the primary listener: its limits (headers, bodies, timeouts,
  // connections, queue bounds, keep-alive, close_grace, HTTP/2 settings) apply to new connections
  // and requests (the queue bounds also to open HTTP/1.1 streams), its certificate files are loaded
  // (with ALPN per http2.enabled). What the running listener cannot change is refused, naming it:
  // threads, send_buffer_bytes, spare_descriptors, reuse_port, TLS on or off. Everything is checked
  // and loaded before anything changes; on an error nothing changes.
  result<void> reload_limits(const server_options& primary);
  // The same for another listener (by its port): max_body_bytes, max_connections,
  // read_buffer_bytes; the rest cannot change.
  result<void> reload_limits(std::uint16_t port, const listener_options& opts);

  // The primary listener's limits in force (any thread; the snapshot stays valid while the server
  // lives).
  const server_options& limits() const { return *limits_.load(std::memory_order_acquire); }

  // Graceful stop: stop accepting, close idle keep-alive connections, give every stream
  // `final_bytes()` (called once per stream, e.g. a jittered `retry:` hint) and close it once
  // flushed; returns when every stream is gone or `deadline` passed, then stops and joins the
  // loops. Returns the number of streams still open at the deadline (cut). `before_loops_stop`
  // runs on the caller's thread once the streams are gone, while the loops still run (e.g. to stop
  // a component that lives on a loop).
  std::size_t shutdown(std::chrono::milliseconds deadline,
                       const std::function<std::string()>& final_bytes,
                       const std::function<void()>& before_loops_stop = {});

  // Gathers the tags of every live stream (duplicates removed), then calls `done` on some thread.
  void collect_tags(std::function<void(std::vector<std::shared_ptr<const principal>>)> done);
  // Closes (after `final_bytes`) every stream whose tag satisfies `pred` (called on shard threads).
  void close_streams_if(std::function<bool(const principal*)> pred, std::string final_bytes);
  // The same with a frame per stream: `frame_for(tag)` (called on shard threads, once per stream,
  // in one pass per shard) returns the last frame to send before closing, or nullptr to leave the
  // stream open (e.g. the live re-check: "forbidden" or "token-expired" by the caller's verdict).
  void close_streams_with(std::function<sse::frame(const principal*)> frame_for);

  std::size_t stream_count() const { return streams_.load(); }
  // HTTP/2 connections open (each counts once in connection_count()).
  std::size_t h2_connection_count() const { return h2_connections_.load(); }
  std::size_t connection_count() const { return connections_.load(); }
  const server_options& options() const { return opts_; }

 private:
  friend class shard;
  template <class Socket>
  friend class basic_sse_stream;
  template <class Socket>
  friend class basic_h2_connection;
  const listener_options* keep(listener_options o);
  result<std::shared_ptr<tls_context>> load_tls(const listener_state& l, const tls_options& files,
                                                bool h2) const;
  server_options opts_;  // as constructed (what cannot change on reload)
  // The limits in force (see limits()); every snapshot is kept in `snapshots_` until the server
  // ends: a reload is rare, and a connection or HTTP/2 session then holds a plain reference.
  std::atomic<const server_options*> limits_{nullptr};
  std::mutex snapshots_mu_;
  std::vector<std::unique_ptr<const server_options>> snapshots_;
  std::vector<std::unique_ptr<const listener_options>> listener_snapshots_;
  request_handler& handler_;
  sse::fanout* fanout_ = nullptr;
  std::atomic<std::size_t> streams_{0};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> h2_connections_{0};
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::unique_ptr<listener_state>> listeners_;
  // Certificate files given to reload_tls(options) after start, by listener.
  std::mutex tls_mu_;
  std::unordered_map<const listener_state*, tls_options> tls_files_;
  // Declared last so it is destroyed first: destroying a shard's io_context destroys suspended
  // sessions, which still touch the listeners and the counters above.
  std::vector<std::unique_ptr<shard>> shards_;
};

}  // namespace herald::net

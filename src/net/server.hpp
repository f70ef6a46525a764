// http_server: Boost.Asio/Beast HTTP/1.1 server on N event-loop threads, one io_context per thread
// ("shard"), each with its own SO_REUSEPORT acceptor so the kernel spreads connections.
//
// No thread and no timer per connection: each shard has ONE housekeeping timer that sweeps
//  - requests whose headers did not arrive within header_timeout (their sockets are closed),
//  - streams idle for keepalive (they get `event: keep-alive`), kept in an intrusive list ordered
//    by last write (to within min(1 s, keepalive / 4)) so the sweep touches only the streams that
//    are due,
//  - closing streams that could not flush within close_grace (force-closed).
//
// Ownership: app/ owns the server; the server owns its shards, threads and every connection.
// Thread-safety: public methods may be called from any thread (they post to the shards), except the
// constructor/listen/start/set_fanout, which run before start().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "net/http_types.hpp"
#include "sse/fanout.hpp"

namespace herald::net {

struct server_options {
  std::string name = "public";  // for logs
  unsigned threads = 1;
  std::uint32_t max_header_bytes = 8192;
  std::uint32_t max_body_bytes = 1u << 20;
  std::chrono::milliseconds header_timeout{10000};
  std::uint32_t max_connections = 20000;
  std::chrono::milliseconds keepalive{20000};
  std::uint32_t queue_max_events = 4096;     // per-stream bound (count) ...
  std::uint32_t queue_max_bytes = 4u << 20;  // ... and bytes; overflow closes with slow-consumer
  std::chrono::milliseconds close_grace{
      5000};  // a closing stream that cannot flush is cut after this
  std::chrono::milliseconds sweep_interval{250};
};

class shard;

// A further listening address with its own handler and limits (e.g. the internal publish/health
// listener). Its connections are served by the same shards (event-loop threads) as the primary
// listener, so a publish reaches the fanout without a thread switch.
struct listener_options {
  std::string name = "internal";
  std::uint32_t max_body_bytes = 1u << 20;
  std::uint32_t max_connections = 1024;
  // Request read size: a publisher's pipelined requests are read (and answered) together.
  std::uint32_t read_buffer_bytes = 16384;
};

struct listener_state {
  request_handler* handler = nullptr;
  listener_options opts;
  std::uint16_t port = 0;
  std::atomic<std::size_t> connections{0};
};

class http_server {
 public:
  http_server(server_options opts, request_handler& handler);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Executors of the shards, in shard order (the fanout is built on these).
  std::vector<boost::asio::any_io_executor> executors() const;
  void set_fanout(sse::fanout* f);

  // Binds one acceptor per shard for the primary handler. Port 0 picks a free port (see port()).
  result<void> listen(const std::string& address, std::uint16_t port);
  std::uint16_t port() const { return listeners_.empty() ? 0 : listeners_.front()->port; }
  // Another listener served by the same shards (call after listen(), before start()). Returns the
  // bound port.
  result<std::uint16_t> add_listener(const std::string& address, std::uint16_t port,
                                     request_handler& handler, listener_options opts);

  void start();  // spawns the shard threads

  // Graceful stop: stop accepting, close idle keep-alive connections, give every stream
  // `final_bytes()` (called once per stream, e.g. a jittered `retry:` hint) and close it once
  // flushed; returns when every stream is gone or `deadline` passed, then stops and joins the
  // loops.
  void shutdown(std::chrono::milliseconds deadline,
                const std::function<std::string()>& final_bytes);

  // Gathers the tags of every live stream (duplicates removed), then calls `done` on some thread.
  void collect_tags(std::function<void(std::vector<std::shared_ptr<const principal>>)> done);
  // Closes (after `final_bytes`) every stream whose tag satisfies `pred` (called on shard threads).
  void close_streams_if(std::function<bool(const principal*)> pred, std::string final_bytes);

  std::size_t stream_count() const { return streams_.load(); }
  std::size_t connection_count() const { return connections_.load(); }
  const server_options& options() const { return opts_; }

 private:
  friend class shard;
  friend class sse_stream;
  server_options opts_;
  request_handler& handler_;
  sse::fanout* fanout_ = nullptr;
  std::atomic<std::size_t> streams_{0};
  std::atomic<std::size_t> connections_{0};
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::unique_ptr<listener_state>> listeners_;
  // Declared last so it is destroyed first: destroying a shard's io_context destroys suspended
  // sessions, which still touch the listeners and the counters above.
  std::vector<std::unique_ptr<shard>> shards_;
};

}  // namespace herald::net

// One event-loop thread of an http_server: its io_context, acceptors, housekeeping timer and the
// intrusive lists of its pending requests and streams. Everything here is touched only on the
// shard's own thread (except post()ing to its io_context).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "net/http_types.hpp"
#include "net/server.hpp"
#include "net/tls_context.hpp"

namespace herald::net {

class http_server;
class stream_base;
template <class Socket>
class basic_sse_stream;
using sse_stream = basic_sse_stream<tcp::socket>;
using tls_sse_stream = basic_sse_stream<tls_socket>;
class h2_connection;
struct h2_handoff;

using clock = std::chrono::steady_clock;
using auto_unlink_hook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

// A request (or TLS handshake) being read: lives in the session coroutine's frame; the sweep
// closes its socket when the deadline passes. auto_unlink removes it from the list when the frame
// goes away.
struct pending_request : auto_unlink_hook {
  clock::time_point deadline;
  tcp::socket* socket = nullptr;
};

// A stream's place in its shard's activity or closing list (embedded in the stream).
struct stream_node : auto_unlink_hook {
  stream_base* stream = nullptr;
  clock::time_point last_activity;
  clock::time_point close_deadline;
};

// An HTTP/2 connection's place in its shard's list (embedded in the connection).
struct h2_node : auto_unlink_hook {
  h2_connection* connection = nullptr;
};

class shard {
 public:
  shard(http_server& server, std::size_t index);
  ~shard();

  void start_accepting();
  void start_sweeping();

  // Stream bookkeeping (shard thread only).
  void stream_opened(stream_base& s);
  // Moves s to the tail of the activity list (coarsely); `now` may lag by a flush turn.
  void touch(stream_base& s, clock::time_point now);
  void mark_closing(stream_base& s);  // moves s to the closing list (close_grace applies)
  // s has queued frames: flush soon, batched. One list per transport, so a flush pass calls each
  // stream's write directly (no virtual call per write).
  void mark_dirty(std::shared_ptr<sse_stream> s);
  void mark_dirty(std::shared_ptr<tls_sse_stream> s);
  // An HTTP/2 connection has output (or ended streams) to take: flushed in the same passes, one
  // call per connection (its streams' frames go out in its one write).
  void mark_dirty(std::shared_ptr<h2_connection> c);

  void stop_accepting();
  void close_pending_requests();
  template <class F>
  void for_each_stream(F&& f);
  // Every HTTP/2 connection of this shard (f may close the one it is given).
  template <class F>
  void for_each_h2(F&& f);

  http_server& server;
  std::size_t index;
  boost::asio::io_context ioc{1};
  std::vector<std::pair<tcp::acceptor, listener_state*>> acceptors;  // one per listener
  boost::asio::steady_timer sweep_timer{ioc};
  std::thread thread;
  bool stopping = false;

  boost::intrusive::list<pending_request, boost::intrusive::constant_time_size<false>> pending;
  // Streams ordered by last write (head = idle longest) and streams waiting to flush before close.
  boost::intrusive::list<stream_node, boost::intrusive::constant_time_size<false>> active;
  boost::intrusive::list<stream_node, boost::intrusive::constant_time_size<false>> closing;
  // HTTP/2 connections (their streams live in their sessions): swept, shut down, re-checked.
  boost::intrusive::list<h2_node, boost::intrusive::constant_time_size<false>> h2_connections;

 private:
  boost::asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, listener_state& listener);
  // Reads one request and answers it (or turns the connection into a stream), over plain TCP or
  // TLS; the plain instantiation is the hot path.
  template <class Stream>
  boost::asio::awaitable<void> session(Stream stream, listener_state& listener);
  boost::asio::awaitable<void> tls_session(tcp::socket socket, listener_state& listener,
                                           std::shared_ptr<tls_context> ctx);
  // The connection continues as HTTP/2 (ALPN "h2", the h2c preface, or an h2c Upgrade); `counted`:
  // it already counts as a connection (handed over by session()).
  template <class Stream>
  void start_h2(Stream stream, listener_state& listener, h2_handoff handoff, bool counted);
  // At the descriptor limit: a short exchange that reads what the client sent (briefly), answers
  // 503 and closes, holding one descriptor at a time per acceptor.
  boost::asio::awaitable<void> turn_away(tcp::socket socket, listener_state& listener);
  // Accepts one waiting connection into the reserve descriptor's slot and turns it away.
  boost::asio::awaitable<bool> turn_away_with_reserve(tcp::acceptor& acceptor,
                                                      listener_state& listener);
  void warn_accept_failure(listener_state& listener, const std::string& what);
  void sweep();
  // Writes dirty streams until none is left or the turn (kFlushTurn) is up; `whole` ignores the
  // turn (for a pass already bounded by count).
  void flush_dirty(bool whole = false);
  template <class Stream>
  bool flush_some(std::deque<std::shared_ptr<Stream>>& dirty, clock::time_point& now,
                  clock::time_point until, std::size_t& n);
  bool nothing_dirty() const { return dirty_.empty() && tls_dirty_.empty() && h2_dirty_.empty(); }
  std::size_t dirty_count() const { return dirty_.size() + tls_dirty_.size() + h2_dirty_.size(); }
  bool flush_h2(clock::time_point& now, clock::time_point until);
  // Streams with frames to write, in the order they became dirty. A deque: under sustained fanout
  // a pass may never run dry (written streams are re-marked behind the others), so what was written
  // must be freed as the pass goes, not when it ends.
  std::deque<std::shared_ptr<sse_stream>> dirty_;
  std::deque<std::shared_ptr<tls_sse_stream>> tls_dirty_;
  std::deque<std::shared_ptr<h2_connection>> h2_dirty_;
  bool flush_posted_ = false;
  // Entry time of the oldest event the pass under way carries (sse::fanout::take_oldest_delivery).
  clock::time_point pass_oldest_{};
  bool pass_yielded_ = false;  // a pass ran out of its turn and continues in a posted one
  bool tls_first_ = false;     // with both kinds dirty, which list a pass writes first
  // A descriptor held open (on /dev/null) so that, at the process's file limit, one connection at
  // a time can still be accepted and answered 503 instead of waiting unanswered in the backlog.
  int reserve_fd_ = -1;
  // touch() leaves a stream in place if it moved less than this ago (min(1 s, keepalive / 4)).
  clock::duration touch_granularity_;
  // Longest a flush runs before the event loop reads again (about 300 loopback writes): short
  // enough that a publish is read while a large fanout is written, long enough that writes, which
  // carry the latency, keep priority over reading more input.
  static constexpr std::chrono::microseconds kFlushTurn{2000};
  // A pass this small (the deliveries of the requests just read) is written before those requests
  // are answered, as long as no larger pass is under way: a publisher then gets its answer after
  // the local subscribers got the event, and the answer's wake-up does not delay the deliveries.
  // Larger passes (a big fanout) keep going out in posted turns after the answers. Measured in
  // bench/README.md, row 21 (row 14 did it for every pass, and lost the fanout target).
  static constexpr std::size_t kSmallPass = 256;
};

}  // namespace herald::net

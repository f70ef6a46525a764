// h2_connection: the thin driver of one HTTP/2 connection. It owns the socket (plain TCP for h2c,
// an SSL stream for ALPN "h2") and an h2_session (the protocol, on libnghttp2, socket-free), and
// moves bytes between them:
//
//   read      one coroutine per connection: async_read_some -> feed(); the requests it completes
//             each run in their own coroutine (the app's request_handler, unchanged), so a slow
//             store call does not hold up the connection's other requests; then a flush.
//   answers   an ordinary response -> respond(); a stream -> open_stream(), subscribed to its
//             channels in the fanout (the h2_session's stream is the sse::subscriber), each
//             channel's when_ready -> channel_ready() (stream-open waits for the bus, as on
//             HTTP/1.1).
//   write     in the shard's flush passes, one call per connection (not per event): every stream's
//             frames leave in one write. Plain TCP: direct non-blocking gather writes of the
//             session's output (the frames' shared buffers, no copy), a remainder waits for the
//             reactor. TLS: the output copied once into one buffer for the SSL write (a record
//             per 9-byte DATA header would cost more than the copy).
//   ends      streams the session reports ended (client RST_STREAM, slow consumer, closed) are
//             unsubscribed and uncounted; the connection closes once the session is done.
//
// Connection-level policy: the connection counts once against max_connections (however many
// streams it carries); over the limit its requests are answered 503 and it is closed (GOAWAY). It
// must send its first request within header_timeout, and a connection with no stream open for
// `keepalive` is closed with GOAWAY. The shard's sweep gives each session its keep-alives and
// close_grace; graceful shutdown sends GOAWAY and the final bytes to every stream.
//
// Ownership: shared_ptr held by the read coroutine (for the connection's life) and briefly by the
// shard's dirty list; request coroutines hold a weak_ptr. Lives on one shard thread and is touched
// only there (the fanout delivers on that thread).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "net/h2_session.hpp"
#include "net/shard.hpp"
#include "net/tls_context.hpp"

namespace herald::net {

// Open HTTP/2 connections (herald_http2_connections; each is also one of herald_http_connections):
// how many clients multiplex their streams. Registered by the server at construction.
metric& h2_connections_gauge();

// What a connection brings when it turns to HTTP/2.
struct h2_handoff {
  std::string initial;  // bytes already read: the preface onwards, or what followed an Upgrade
  // h2c by Upgrade: the HTTP/1.1 request (it becomes stream 1) and its HTTP2-Settings.
  std::optional<http::request<http::string_body>> upgrade;
  std::string settings;
  tcp::endpoint remote;
};

// What the shard's lists see of a connection: one virtual call per connection per flush pass,
// sweep or server-wide operation, never per event.
class h2_connection : public std::enable_shared_from_this<h2_connection> {
 public:
  virtual void flush(clock::time_point now) = 0;
  virtual void sweep(clock::time_point now) = 0;
  // Graceful stop: GOAWAY, `final_bytes()` (called once per stream) then END_STREAM on every
  // stream; the connection closes once that is written.
  virtual void shutdown(const std::function<std::string()>& final_bytes) = 0;
  virtual void abort() = 0;  // close now
  // Streams for whose tag `frame_for` returns a frame get it, then END_STREAM.
  virtual void close_streams_with(const std::function<sse::frame(const principal*)>& frame_for) = 0;
  virtual void collect_tags(std::vector<std::shared_ptr<const principal>>& out) const = 0;

  h2_node node;  // the shard's list of HTTP/2 connections

 protected:
  h2_connection() { node.connection = this; }
  ~h2_connection() = default;
};

template <class Socket>
class basic_h2_connection final : public h2_connection {
 public:
  static constexpr bool kIsTls = !std::is_same_v<Socket, tcp::socket>;

  // Counts as a connection of `listener` (and of the server) until it closes: from here, or, when
  // `counted`, from the HTTP/1.1 session that handed it over. `limits` is the snapshot in force
  // when the connection arrived (kept by the server).
  basic_h2_connection(Socket socket, shard& owner, listener_state& listener,
                      const server_options& limits, tcp::endpoint remote, bool counted);
  ~basic_h2_connection();

  // Starts the read coroutine; the handoff's bytes (and Upgrade request) are handled first.
  void start(h2_handoff handoff);

  void flush(clock::time_point now) override;
  void sweep(clock::time_point now) override;
  void shutdown(const std::function<std::string()>& final_bytes) override;
  void abort() override;
  void close_streams_with(const std::function<sse::frame(const principal*)>& frame_for) override;
  void collect_tags(std::vector<std::shared_ptr<const principal>>& out) const override;

 private:
  std::shared_ptr<basic_h2_connection> self() {
    return std::static_pointer_cast<basic_h2_connection>(shared_from_this());
  }
  tcp::socket& lowest() {
    if constexpr (kIsTls)
      return socket_.next_layer();
    else
      return socket_;
  }
  boost::asio::awaitable<void> read_loop(std::shared_ptr<basic_h2_connection> self,
                                         h2_handoff handoff);
  void received(const char* data, std::size_t n);
  void take_requests();
  void serve(h2_request request);
  template <class Conn>
  friend boost::asio::awaitable<void> serve_request(std::weak_ptr<Conn> weak,
                                                    request_handler* handler, http_request req,
                                                    std::int32_t stream_id);
  void answer(std::int32_t stream_id, handler_outcome outcome);
  void wake();
  void write();
  void write_plain();
  void write_tls();
  void settle();  // after a write: release ended streams; close when the session is done
  void release_ended();
  void close_gracefully();
  void finish();

  shard& shard_;
  listener_state& listener_;
  const server_options& limits_;
  Socket socket_;
  h2_session session_;
  tcp::endpoint remote_;
  bool refuse_ = false;     // over max_connections: every request gets 503, then GOAWAY
  bool dirty_ = false;      // in the shard's dirty list
  bool writing_ = false;    // a write (or a wait for room) is under way
  bool broken_ = false;     // the session refused the input (a GOAWAY is on its way)
  bool closing_ = false;    // close_gracefully() ran
  bool closed_ = false;     // finish() ran
  bool requested_ = false;  // the first request arrived (the header deadline is lifted)
  bool goaway_ = false;     // shutdown() ran: no new streams, close once the others ended
  clock::time_point idle_since_{};
  pending_request first_request_;  // the header deadline until the first request
  std::string tls_out_;            // TLS: the bytes of the SSL write under way
};

extern template class basic_h2_connection<tcp::socket>;
extern template class basic_h2_connection<tls_socket>;

}  // namespace herald::net

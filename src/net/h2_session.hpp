// h2_session: one HTTP/2 server connection as a pure state machine on libnghttp2 (its
// nghttp2_session server API); it never touches a socket. A thin driver (TLS with ALPN "h2", or
// cleartext h2c by prior knowledge or by HTTP/1.1 `Upgrade: h2c`) moves bytes:
//
//   bytes in   feed(bytes)                 parse frames; answers what it refuses itself
//   requests   take_requests()             each a beast request, as the HTTP/1.1 path builds it,
//                                          so app/'s request_handler runs unchanged
//   answers    respond(id, http_response)  an ordinary response
//              open_stream(id, start)      an SSE stream: returns the sse::subscriber to subscribe
//              channel_ready(id)           once per channel, as the fanout confirms it
//   bytes out  pending_output() / consume(n): a gather list for one write per flush pass
//   streams    take_ended()                SSE streams that ended (client reset, slow consumer,
//                                          close, connection gone): unsubscribe them
//   time       sweep(now)                  keep-alives for idle streams, close_grace for closing
//                                          ones (called from the shard's housekeeping sweep)
//
// The same SSE bytes and the same queue policy as the HTTP/1.1 sse_stream: each stream queues the
// shared, immutable frames (count and byte bounds from server_options); a delivery that would
// exceed either bound makes it a slow consumer: the unsent frames are dropped (a frame already
// partly sent is kept, so the stream ends at an event boundary), it gets
// `stream-error {"condition": "slow-consumer"}` and END_STREAM; if its window never lets that out,
// sweep() resets it (RST_STREAM CANCEL) after close_grace. Other streams on the connection keep
// flowing: nghttp2 schedules every stream with data and window, and a stream whose window is
// exhausted just waits.
//
// DATA is not copied: the data source hands nghttp2 lengths only (NGHTTP2_DATA_FLAG_NO_COPY) and
// the send_data callback records the 9-byte frame header plus references to the frames' own
// buffers. Only what nghttp2 serialises itself (HEADERS, SETTINGS, WINDOW_UPDATE, PING, GOAWAY,
// RST_STREAM and the DATA frame headers) is copied, once, into an output buffer.
//
// Ownership and threads: one session per connection, owned by its driver and touched only on the
// connection's shard thread (deliver() included: the fanout calls it there). Every stream object
// lives inside the session; a subscriber pointer stays valid until the driver has taken it from
// take_ended() and called take_ended() once more (or destroyed the session), so the driver can
// unsubscribe it from the fanout in between.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/intrusive/list.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "net/http_types.hpp"
#include "net/server.hpp"
#include "sse/fanout.hpp"

struct nghttp2_session;  // libnghttp2 (nghttp2/nghttp2.h), kept out of this header

namespace herald::net {

// h2_options (the HTTP/2 settings) is in server.hpp, with the server_options that hold it.

// A request the session parsed completely, for app/'s request_handler.
struct h2_request {
  std::int32_t stream_id = 0;
  http::request<http::string_body> message;  // version 20; Host carries :authority
};

// An SSE stream that ended; unsubscribe `subscriber` from `channels`.
struct h2_ended_stream {
  std::int32_t stream_id = 0;
  sse::subscriber* subscriber = nullptr;
  std::vector<std::string> channels;
  std::shared_ptr<const principal> tag;
};

// Whether a cleartext connection's first bytes are the HTTP/2 client preface (h2c by prior
// knowledge): `partial` means a prefix of it, read more before deciding.
enum class h2_preface { no, partial, yes };
h2_preface match_h2_preface(std::string_view first_bytes);

// The slow-consumer stream-error frame, shared by HTTP/2 streams and the HTTP/1.1 sse_stream.
const sse::frame& slow_consumer_frame();

class h2_stream;
struct h2_callbacks;

// A stream's place in its session's activity or closing list (embedded in the stream).
struct h2_stream_node
    : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
  h2_stream* stream = nullptr;
  std::chrono::steady_clock::time_point last_activity;
  std::chrono::steady_clock::time_point closing_since;  // set by the first sweep after closing
};

class h2_session {
 public:
  using clock = std::chrono::steady_clock;

  // `limits` and `opts` must outlive the session (the server owns them). `wake` runs (on the shard
  // thread) when output appears or a stream ends while the driver is not already due to look: a
  // fanout delivery, a keep-alive. It must only mark the connection for the next flush pass (it
  // may run inside feed() and pending_output()).
  h2_session(const server_options& limits, const h2_options& opts,
             std::function<void()> wake = nullptr);
  ~h2_session();
  h2_session(const h2_session&) = delete;
  h2_session& operator=(const h2_session&) = delete;

  // h2c by HTTP/1.1 Upgrade: the driver has read `request` (with `Upgrade: h2c` and
  // `HTTP2-Settings: <settings>`) and written kSwitchingProtocols; the request becomes stream 1
  // (returned by take_requests()). Call before the first feed().
  result<void> upgrade(http::request<http::string_body> request, std::string_view settings);
  static constexpr std::string_view kSwitchingProtocols =
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";

  // Parses `bytes` (any split). An error means the connection is broken (bad preface, protocol
  // error, flood): write what pending_output() still holds (a GOAWAY) and close.
  result<void> feed(boost::asio::const_buffer bytes);
  std::vector<h2_request> take_requests();

  // Answers a request from take_requests(). An error means the stream is gone (client reset):
  // nothing to do then.
  result<void> respond(std::int32_t stream_id, http_response response);
  // Accepts a request as an SSE stream: HEADERS (200, the SSE headers of the HTTP/1.1 stream head
  // minus hop-by-hop ones, plus start.headers) go out at once; DATA waits until channel_ready() was
  // called once per channel, then starts with the padding + stream-open preamble, ahead of whatever
  // was delivered meanwhile (as on HTTP/1.1). Subscribe the returned subscriber to start.channels.
  // With start.relay, the relay is returned (subscribe it) and opened instead of the preamble.
  result<sse::subscriber*> open_stream(std::int32_t stream_id, stream_start start);
  void channel_ready(std::int32_t stream_id);
  // Queues `f` on a stream by id (the fanout calls the subscriber directly).
  void push(std::int32_t stream_id, const sse::frame& f);
  // Queues `last` after what is queued, then ends the stream (END_STREAM). Idempotent.
  void close_stream(std::int32_t stream_id, sse::frame last);
  // Ends a stream now (RST_STREAM CANCEL), dropping what is queued.
  void reset_stream(std::int32_t stream_id);
  // Graceful stop: GOAWAY (no new streams; requests already received are still answered), and every
  // SSE stream gets `final_bytes()` (e.g. a jittered `retry:`) then END_STREAM. Once everything is
  // written, done() is true.
  void shutdown(const std::function<std::string()>& final_bytes);
  // The connection is gone (EOF, error, cut): every stream ends now; report them with take_ended().
  void terminate();

  // Keep-alive for streams idle since `limits.keepalive` (as the shard's sweep does for HTTP/1.1),
  // and RST_STREAM for streams closing longer than `limits.close_grace`. Also the session's clock:
  // stream activity is recorded at the time of the latest sweep.
  void sweep(clock::time_point now);

  // Open and closing SSE streams (for the live re-check and reload): f(stream id, its tag).
  void for_each_stream(
      const std::function<void(std::int32_t, const std::shared_ptr<const principal>&)>& f) const;

  // SSE streams that ended since the last call. Frees the ones the previous call returned.
  std::vector<h2_ended_stream> take_ended();

  // Everything ready to write, as one gather list (valid until the next pending_output() or
  // consume()). Empty when there is nothing to write.
  std::span<const boost::asio::const_buffer> pending_output();
  // The same bytes in one contiguous buffer (valid until the next call of either, or consume()),
  // for a TLS stream: SSL_write takes one buffer, and a record per 9-byte DATA header would cost
  // more than this one copy.
  std::string_view pending_output_contiguous();
  // `n` bytes of pending_output() were written.
  void consume(std::size_t n);

  // More to write (call pending_output()).
  bool want_write() const;
  // The connection has nothing more to do: close it (after a GOAWAY was written, a fatal error, or
  // terminate()).
  bool done() const;
  // The channels of an SSE stream opened with open_stream() (to subscribe it), or null.
  const std::vector<std::string>* channels_of(std::int32_t stream_id) const;
  // Open SSE streams.
  std::size_t stream_count() const { return sse_streams_; }
  // No stream of any kind is open (for the driver's idle-connection timeout).
  bool idle() const { return streams_.empty(); }

 private:
  friend class h2_stream;
  friend struct h2_callbacks;
  using stream_list =
      boost::intrusive::list<h2_stream_node, boost::intrusive::constant_time_size<false>>;

  h2_stream* find(std::int32_t stream_id) const;
  void request_complete(h2_stream& s);
  void refuse(h2_stream& s, http::status status, std::string_view code, std::string_view message);
  result<void> submit(h2_stream& s, unsigned status, std::string_view content_type,
                      const header_list& headers, const sse::frame& body);
  void enqueue(h2_stream& s, const sse::frame& f);
  void close_after(h2_stream& s, sse::frame last);
  void cancel(h2_stream& s);
  void open_relay(h2_stream& s);
  void stream_closed(h2_stream& s);
  void resume(h2_stream& s);  // a deferred stream has data again
  void touch(h2_stream& s);
  void note_output();  // calls wake_ once per collection of the output
  void append_copy(const void* data, std::size_t n);
  void append_frame_bytes(h2_stream& s, std::size_t n);
  void produce();

  const server_options& limits_;
  const h2_options& opts_;
  std::function<void()> wake_;
  nghttp2_session* session_ = nullptr;
  bool wake_pending_ = false;
  bool terminated_ = false;
  bool failed_ = false;
  std::size_t sse_streams_ = 0;
  clock::time_point now_;

  std::unordered_map<std::int32_t, std::unique_ptr<h2_stream>> streams_;
  std::vector<h2_request> requests_;
  std::vector<std::unique_ptr<h2_stream>> ended_;     // reported by the next take_ended()
  std::vector<std::unique_ptr<h2_stream>> released_;  // reported by the last take_ended()
  stream_list active_;   // open SSE streams, ordered by last activity (head = idle longest)
  stream_list closing_;  // SSE streams waiting to flush their last frame

  // Output: pieces in write order; a piece is a slice of `arena_` (owner null) or of a shared
  // frame.
  struct out_piece {
    sse::frame owner;
    std::size_t offset = 0;
    std::size_t size = 0;
  };
  std::vector<out_piece> out_;
  std::size_t out_head_ = 0;   // first piece not yet written
  std::size_t out_bytes_ = 0;  // bytes not yet written
  std::string arena_;
  std::vector<boost::asio::const_buffer> gather_;
  std::string contiguous_;  // pending_output_contiguous()'s copy
};

}  // namespace herald::net

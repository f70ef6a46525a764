// One open SSE stream. Created by the session once the request is accepted as a stream; from then
// on it is driven by completion handlers (no coroutine frame, no request buffers, no timer kept per
// stream) so an idle stream costs little memory.
//
// Queue policy (named: "close-on-overflow"): frames wait in a queue bounded by count and by bytes,
// the bytes counting everything the stream holds in user space (queued, and written but not yet
// taken by the kernel, whose own share is bounded by SO_SNDBUF). When a delivery would exceed
// either bound the stream is a slow consumer: the unsent queue is dropped, a write under way is cut
// back to the end of the event it is in (events are never cut in the middle), the stream gets
// `stream-error {"condition": "slow-consumer"}`, is counted, and is closed once that is flushed (or
// after close_grace). Other streams are unaffected.
//
// Writes are batched: every frame queued since the last write goes out in one gather write of the
// shared, immutable frames (no copy). Over plain TCP the write is a direct non-blocking send, and
// only a remainder the kernel did not take waits for the reactor; over TLS each write is an
// asynchronous SSL write (several small frames are copied into one TLS record).
//
// The class is a template over the socket (tcp::socket, or an SSL stream over one): the flush pass
// calls the concrete type's flush() with no virtual call per write. What the shard's lists need
// for their rare operations (keep-alives, closing, tags) is in stream_base.
//
// Ownership: shared_ptr held by pending async operations and the shard's dirty list; lives on one
// shard thread and is touched only there.
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "net/shard.hpp"
#include "net/tls_context.hpp"
#include "sse/fanout.hpp"
#include "sse/relay.hpp"

namespace herald::net {

// The part of a stream its shard's lists and the server's stream-wide operations see.
class stream_base : public sse::subscriber, public std::enable_shared_from_this<stream_base> {
 public:
  // Queue `last` after what is already queued, then close. Idempotent.
  virtual void close_after(sse::frame last) = 0;
  virtual void abort() = 0;  // close now, dropping anything queued
  virtual const std::shared_ptr<const principal>& tag_ptr() const = 0;
  const principal* tag() const { return tag_ptr().get(); }

  stream_node node;  // the shard's activity/closing list hook

 protected:
  ~stream_base() = default;
};

template <class Socket>
class basic_sse_stream final : public stream_base {
 public:
  static constexpr bool kIsTls = !std::is_same_v<Socket, tcp::socket>;

  basic_sse_stream(Socket socket, shard& owner, listener_state& listener,
                   std::vector<std::string> channels, std::shared_ptr<const principal> tag,
                   std::shared_ptr<sse::stream_relay> relay = nullptr);
  ~basic_sse_stream();

  // Subscribes, then sends `head` (the HTTP response head) and the SSE preamble as the first write,
  // once the bus confirms it receives every channel (events arriving meanwhile queue behind them).
  // With a relay (stream_start::relay), the relay is subscribed and opened then instead.
  void start(sse::frame head);
  void deliver(const sse::frame& f) override;
  void close_after(sse::frame last) override;
  void abort() override;
  // Starts a gather write of everything queued (called by the shard, batched); `now` is the
  // activity time recorded (the shard's pass reads the clock once per turn).
  void flush(clock::time_point now = clock::now());
  // The queue's heap block, which flush() reads first (see subscriber::prefetch).
  void prefetch_queue() const {
    if (!queue_.empty()) __builtin_prefetch(queue_.data());
  }

  const std::shared_ptr<const principal>& tag_ptr() const override { return tag_; }
  // stream_start::lease: kept until the stream ends (finish()).
  void hold(std::shared_ptr<void> lease) { lease_ = std::move(lease); }

 private:
  enum class state : unsigned char { open, closing, closed };
  std::shared_ptr<basic_sse_stream> self() {
    return std::static_pointer_cast<basic_sse_stream>(shared_from_this());
  }
  tcp::socket& lowest() {
    if constexpr (kIsTls)
      return socket_.next_layer();
    else
      return socket_;
  }
  void watch_reads();
  void confirmed();
  void overflowed();
  void gather_inflight();       // buffers_ = the frames in inflight_
  void consume(std::size_t n);  // n bytes of buffers_ were written
  void wait_writable();         // plain: the reactor reports room in the socket
  void on_writable(const boost::system::error_code& ec);
  void write_tls();  // TLS: one asynchronous SSL write of the front of buffers_
  void written_all();
  void close_gracefully();
  void finish();

  // What every delivery and write touches comes first, within subscriber::kHotBytes with the bases
  // and `node` (fewer cache lines per delivery, and all of them prefetched: with thousands of
  // streams, each one's state is cold by its next event). The socket's descriptor is the first
  // field after its service pointer.
  shard& shard_;
  state state_ = state::open;
  bool writing_ = false;
  bool dirty_ = false;
  bool head_sent_ = false;
  std::uint16_t unconfirmed_ = 0;     // channels whose bus subscription is not confirmed yet
  std::size_t held_bytes_ = 0;        // bytes queued or written but not yet taken by the kernel
  std::vector<sse::frame> queue_;     // waiting for the next write
  std::vector<sse::frame> inflight_;  // being written now
  Socket socket_;
  // A write's remainder: one entry per frame of inflight_ still (partly) unwritten, the last ones.
  std::vector<boost::asio::const_buffer> buffers_;
  std::vector<std::string> channels_;
  std::shared_ptr<const principal> tag_;
  std::shared_ptr<sse::stream_relay> relay_;  // null: the fanout delivers to the stream itself
  listener_state& listener_;                  // whose connection count includes this stream
  std::shared_ptr<void> lease_;               // see hold()

  // TLS only (empty for plain TCP): small frames copied into one record, how many of buffers_
  // the SSL write under way covers (they cannot be trimmed), and a sink for what the client sends.
  struct tls_state {
    std::string record;
    std::size_t covered = 0;
    std::array<char, 256> sink{};
  };
  struct no_tls_state {};
  [[no_unique_address]] std::conditional_t<kIsTls, tls_state, no_tls_state> tls_;
};

extern template class basic_sse_stream<tcp::socket>;
extern template class basic_sse_stream<tls_socket>;

}  // namespace herald::net

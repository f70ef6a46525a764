// One open SSE stream. Created by the session once the request is accepted as a stream; from then
// on it is driven by completion handlers (no coroutine frame, no request buffers, no timer kept per
// stream) so an idle stream costs little memory.
//
// Queue policy (named: "close-on-overflow"): frames wait in a bounded queue (count and bytes). When
// a delivery would exceed either bound the stream is a slow consumer: the unsent queue is dropped,
// it gets `stream-error {"condition": "slow-consumer"}`, is counted, and is closed once that is
// flushed (or after close_grace). Other streams are unaffected.
//
// Writes are batched: every frame queued since the last write goes out in one gather write of the
// shared, immutable frames (no copy).
//
// Ownership: shared_ptr held by pending async operations and the shard's dirty list; lives on one
// shard thread and is touched only there.
#pragma once

#include <boost/asio/buffer.hpp>
#include <memory>
#include <string>
#include <vector>

#include "net/shard.hpp"
#include "sse/fanout.hpp"

namespace herald::net {

class sse_stream final : public sse::subscriber, public std::enable_shared_from_this<sse_stream> {
 public:
  sse_stream(tcp::socket socket, shard& owner, std::vector<std::string> channels,
             std::shared_ptr<const principal> tag);
  ~sse_stream();

  // Subscribes, then sends `head` (the HTTP response head) and the SSE preamble as the first write,
  // once the bus confirms it receives every channel (events arriving meanwhile queue behind them).
  void start(sse::frame head);
  void deliver(const sse::frame& f) override;
  // Queue `last` after what is already queued, then close. Idempotent.
  void close_after(sse::frame last);
  void abort();  // close now, dropping anything queued
  // Starts a gather write of everything queued (called by the shard, batched); `now` is the
  // activity time recorded (the shard's pass reads the clock once per turn).
  void flush(clock::time_point now = clock::now());
  // The queue's heap block, which flush() reads first (see subscriber::prefetch).
  void prefetch_queue() const {
    if (!queue_.empty()) __builtin_prefetch(queue_.data());
  }

  const principal* tag() const { return tag_.get(); }
  const std::shared_ptr<const principal>& tag_ptr() const { return tag_; }
  stream_node node;  // the shard's activity/closing list hook

 private:
  enum class state : unsigned char { open, closing, closed };
  void watch_reads();
  void confirmed();
  void on_written(const boost::system::error_code& ec);
  void gather_inflight();  // buffers_ = the frames in inflight_
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
  std::uint16_t unconfirmed_ = 0;  // channels whose bus subscription is not confirmed yet
  std::size_t queued_bytes_ = 0;
  std::vector<sse::frame> queue_;     // waiting for the next write
  std::vector<sse::frame> inflight_;  // being written now
  tcp::socket socket_;
  std::vector<boost::asio::const_buffer> buffers_;  // a gather write's remainder
  std::vector<std::string> channels_;
  std::shared_ptr<const principal> tag_;
};

}  // namespace herald::net

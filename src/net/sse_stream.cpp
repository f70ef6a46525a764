#include "net/sse_stream.hpp"

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <cassert>

#include "core/metrics.hpp"
#include "net/server.hpp"
#include "sse/encoder.hpp"

namespace herald::net {

namespace {
const sse::frame& slow_consumer_frame() {
  static const sse::frame f = std::make_shared<const std::string>(sse::encode_stream_error(
      "slow-consumer", "The stream fell behind and was closed; reconnect and refetch state."));
  return f;
}
}  // namespace

sse_stream::sse_stream(tcp::socket socket, shard& owner, std::vector<std::string> channels,
                       std::shared_ptr<const principal> tag)
    : shard_(owner),
      socket_(std::move(socket)),
      channels_(std::move(channels)),
      tag_(std::move(tag)) {
  node.stream = this;
  // What a delivery and its write touch is prefetched (subscriber::prefetch): up to the socket's
  // descriptor, which follows its service pointer.
  assert(reinterpret_cast<const char*>(&socket_) + 2 * sizeof(void*) <=
         reinterpret_cast<const char*>(static_cast<const sse::subscriber*>(this)) + kHotBytes);
}

sse_stream::~sse_stream() = default;

void sse_stream::start(sse::frame head) {
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);  // flush() writes directly; see there
  auto& server = shard_.server;
  server.streams_.fetch_add(1);
  core_metrics::get().connections.inc();
  queue_.push_back(std::move(head));
  for (const auto& ch : channels_) server.fanout_->subscribe(shard_.index, ch, this);
  shard_.stream_opened(*this);
  // The response head goes out at once (a browser's EventSource opens, and a bus outage does not
  // look like a failed request), but stream-open waits until the bus confirms every channel, so a
  // client that has seen stream-open cannot miss the next event.
  unconfirmed_ = static_cast<std::uint16_t>(channels_.size());
  auto ex = socket_.get_executor();
  for (const auto& ch : channels_) {
    server.fanout_->when_ready(ch, [weak = weak_from_this(), ex] {
      // dispatch: inline for the in-process bus (already on this shard), posted from a bus thread.
      boost::asio::dispatch(ex, [weak] {
        auto self = weak.lock();
        if (self && self->state_ != state::closed && self->unconfirmed_ > 0 &&
            --self->unconfirmed_ == 0)
          self->confirmed();
      });
    });
  }
  flush();
  watch_reads();
}

void sse_stream::confirmed() {
  static const sse::frame preamble =
      std::make_shared<const std::string>(std::string(sse::stream_preamble()));
  // Ahead of any event queued meanwhile, but after the head if that is still queued.
  queue_.insert(queue_.begin() + (head_sent_ ? 0 : 1), preamble);
  if (!writing_) flush();
}

void sse_stream::watch_reads() {
  // A stream's client never sends after the request: readable means EOF (disconnect) or junk.
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](boost::system::error_code ec) {
                       if (ec || self->state_ == state::closed) {
                         self->finish();
                         return;
                       }
                       std::array<char, 512> sink;
                       boost::system::error_code rec;
                       std::size_t n = self->socket_.read_some(boost::asio::buffer(sink), rec);
                       if (rec == boost::asio::error::would_block) {
                         self->watch_reads();
                         return;
                       }
                       if (rec || n == 0) {
                         self->finish();
                         return;
                       }
                       self->watch_reads();  // ignore stray bytes
                     });
}

void sse_stream::deliver(const sse::frame& f) {
  if (state_ != state::open) return;
  const auto& opts = shard_.server.options();
  if (queue_.size() + inflight_.size() >= opts.queue_max_events ||
      queued_bytes_ + f->size() > opts.queue_max_bytes) {
    core_metrics::get().slow_consumer_drops.inc();
    queue_.clear();
    queued_bytes_ = 0;
    close_after(slow_consumer_frame());
    return;
  }
  queue_.push_back(f);
  queued_bytes_ += f->size();
  if (!writing_ && !dirty_) {
    dirty_ = true;
    shard_.mark_dirty(shared_from_this());
  }
}

void sse_stream::close_after(sse::frame last) {
  if (state_ != state::open) return;
  state_ = state::closing;
  queue_.push_back(std::move(last));
  shard_.mark_closing(*this);
  if (!writing_ && !dirty_) {
    dirty_ = true;
    shard_.mark_dirty(shared_from_this());
  }
}

void sse_stream::flush(clock::time_point now) {
  dirty_ = false;
  if (writing_ || state_ == state::closed) return;
  // Until the bus confirms, only the head may go out; a closing stream sends what it has.
  const bool gated = unconfirmed_ > 0 && state_ == state::open;
  if (queue_.empty() || (gated && head_sent_)) {
    if (state_ == state::closing && queue_.empty()) finish();
    return;
  }
  if (gated) {
    inflight_.push_back(std::move(queue_.front()));
    queue_.erase(queue_.begin());
  } else {
    inflight_.swap(queue_);
    queued_bytes_ = 0;
  }
  head_sent_ = true;
  if (state_ == state::open) shard_.touch(*this, now);

  // Write now, non-blocking: most writes complete at once, and then no asynchronous operation,
  // completion handler or scheduler round trip is needed. Only a remainder the kernel did not take
  // goes through the reactor. One frame (the common case at moderate rates) goes out with send()
  // straight from the frame: no iovec array to fill (one heap block fewer touched per delivery)
  // and no sendmsg(), which also copies the header and iovec array into the kernel.
  boost::system::error_code ec;
  std::size_t total = 0, written = 0;
  if (inflight_.size() == 1) {
    total = inflight_.front()->size();
    written = socket_.write_some(boost::asio::buffer(*inflight_.front()), ec);
  } else {
    gather_inflight();
    for (const auto& b : buffers_) total += b.size();
    written = socket_.write_some(buffers_, ec);
  }
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
    ec = {};
    written = 0;
  }
  if (ec) {
    inflight_.clear();
    finish();
    return;
  }
  if (written == total) {
    inflight_.clear();
    if (state_ == state::closing && queue_.empty()) {
      boost::system::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      finish();
    }
    return;
  }
  // Drop the written prefix, then let the reactor finish the rest.
  if (inflight_.size() == 1) gather_inflight();
  std::size_t skip = written, first = 0;
  while (skip >= buffers_[first].size()) skip -= buffers_[first++].size();
  buffers_.erase(buffers_.begin(), buffers_.begin() + static_cast<std::ptrdiff_t>(first));
  buffers_.front() += skip;
  writing_ = true;
  boost::asio::async_write(socket_, buffers_,
                           [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                             self->on_written(ec);
                           });
}

void sse_stream::gather_inflight() {
  buffers_.clear();
  buffers_.reserve(inflight_.size());
  for (const auto& f : inflight_) buffers_.emplace_back(f->data(), f->size());
}

void sse_stream::on_written(const boost::system::error_code& ec) {
  writing_ = false;
  inflight_.clear();
  if (ec || state_ == state::closed) {
    finish();
    return;
  }
  if (!queue_.empty()) {
    flush();
    return;
  }
  if (state_ == state::closing) {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    finish();
  }
}

void sse_stream::abort() { finish(); }

void sse_stream::finish() {
  if (state_ == state::closed) return;
  state_ = state::closed;
  auto& server = shard_.server;
  for (const auto& ch : channels_) server.fanout_->unsubscribe(shard_.index, ch, this);
  node.unlink();  // from the activity or closing list
  queue_.clear();
  boost::system::error_code ignored;
  socket_.close(ignored);  // completes pending ops with operation_aborted; they drop their refs
  server.streams_.fetch_sub(1);
  server.connections_.fetch_sub(1);
  core_metrics::get().connections.dec();
  core_metrics::get().http_connections.dec();
}

}  // namespace herald::net

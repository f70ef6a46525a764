#include "net/sse_stream.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/dispatch.hpp>
#include <cassert>

#include "core/metrics.hpp"
#include "net/end_sending.hpp"
#include "net/h2_session.hpp"  // slow_consumer_frame(), shared with HTTP/2 streams
#include "net/server.hpp"
#include "sse/encoder.hpp"

namespace herald::net {

namespace {
bool would_block(const boost::system::error_code& ec) {
  return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
}

// The most plaintext one TLS record carries: small frames are copied together up to this.
constexpr std::size_t kTlsRecordBytes = 16384;
}  // namespace

template <class Socket>
basic_sse_stream<Socket>::basic_sse_stream(Socket socket, shard& owner, listener_state& listener,
                                           std::vector<std::string> channels,
                                           std::shared_ptr<const principal> tag,
                                           std::shared_ptr<sse::stream_relay> relay)
    : shard_(owner),
      socket_(std::move(socket)),
      channels_(std::move(channels)),
      tag_(std::move(tag)),
      relay_(std::move(relay)),
      listener_(listener) {
  node.stream = this;
  // What a delivery and its write touch is prefetched (subscriber::prefetch): up to the socket's
  // descriptor, which follows its service pointer.
  if constexpr (!kIsTls)
    assert(reinterpret_cast<const char*>(&socket_) + 2 * sizeof(void*) <=
           reinterpret_cast<const char*>(static_cast<const sse::subscriber*>(this)) + kHotBytes);
}

template <class Socket>
basic_sse_stream<Socket>::~basic_sse_stream() = default;

template <class Socket>
void basic_sse_stream<Socket>::start(sse::frame head) {
  boost::system::error_code ignored;
  lowest().non_blocking(true, ignored);  // flush() writes directly; see there
  auto& server = shard_.server;
  server.streams_.fetch_add(1);
  core_metrics::get().connections.inc();
  held_bytes_ += head->size();
  queue_.push_back(std::move(head));
  sse::subscriber* target = relay_ ? static_cast<sse::subscriber*>(relay_.get()) : this;
  for (const auto& ch : channels_) server.fanout_->subscribe(shard_.index, ch, target);
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
        auto base = weak.lock();
        if (!base) return;
        auto* s = static_cast<basic_sse_stream*>(base.get());
        if (s->state_ != state::closed && s->unconfirmed_ > 0 && --s->unconfirmed_ == 0)
          s->confirmed();
      });
    });
  }
  flush();
  watch_reads();
}

template <class Socket>
void basic_sse_stream<Socket>::confirmed() {
  if (relay_) {
    // The relay sends the preamble (with its id), any replay, then the live events; `end` closes
    // the stream after a last frame. The relay is closed in finish(), before this stream goes.
    relay_->open(*this, [this](sse::frame last) { close_after(std::move(last)); });
    return;
  }
  static const sse::frame preamble =
      std::make_shared<const std::string>(std::string(sse::stream_preamble()));
  // Ahead of any event queued meanwhile, but after the head if that is still queued.
  queue_.insert(queue_.begin() + (head_sent_ ? 0 : 1), preamble);
  held_bytes_ += preamble->size();
  if (!writing_) flush();
}

template <class Socket>
void basic_sse_stream<Socket>::watch_reads() {
  // A stream's client never sends after the request: readable means EOF (disconnect) or junk.
  if constexpr (kIsTls) {
    // TLS records (a close_notify, a key update) must go through the SSL layer.
    socket_.async_read_some(boost::asio::buffer(tls_.sink),
                            [self = self()](boost::system::error_code ec, std::size_t) {
                              if (ec || self->state_ == state::closed) {
                                self->finish();
                                return;
                              }
                              self->watch_reads();  // ignore stray bytes
                            });
  } else {
    socket_.async_wait(tcp::socket::wait_read, [self = self()](boost::system::error_code ec) {
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
}

template <class Socket>
void basic_sse_stream<Socket>::deliver(const sse::frame& f) {
  if (state_ != state::open) return;
  const auto& opts = shard_.server.limits();
  if (queue_.size() + inflight_.size() >= opts.queue_max_events ||
      held_bytes_ + f->size() > opts.queue_max_bytes) {
    overflowed();
    return;
  }
  queue_.push_back(f);
  held_bytes_ += f->size();
  if (!writing_ && !dirty_) {
    dirty_ = true;
    shard_.mark_dirty(self());
  }
}

template <class Socket>
void basic_sse_stream<Socket>::overflowed() {
  core_metrics::get().slow_consumer_drops.inc();
  for (const auto& f : queue_) held_bytes_ -= f->size();
  queue_.clear();
  if (writing_ && !buffers_.empty()) {
    // The write under way ends with the event it is in: a frame whose first bytes left must be
    // completed (the client would otherwise see half an event), the ones after it are dropped. Over
    // TLS, the frames the SSL write under way covers are kept as well.
    const auto first = inflight_.size() - buffers_.size();
    std::size_t keep = buffers_.front().size() < inflight_[first]->size() ? 1 : 0;
    if constexpr (kIsTls) keep = std::max(keep, tls_.covered);
    for (std::size_t i = keep; i < buffers_.size(); ++i) held_bytes_ -= buffers_[i].size();
    buffers_.resize(keep);
  }
  close_after(slow_consumer_frame());
}

template <class Socket>
void basic_sse_stream<Socket>::close_after(sse::frame last) {
  if (state_ != state::open) return;
  state_ = state::closing;
  held_bytes_ += last->size();
  queue_.push_back(std::move(last));
  shard_.mark_closing(*this);
  if (!writing_ && !dirty_) {
    dirty_ = true;
    shard_.mark_dirty(self());
  }
}

template <class Socket>
void basic_sse_stream<Socket>::flush(clock::time_point now) {
  dirty_ = false;
  if (writing_ || state_ == state::closed) return;
  // Until the bus confirms, only the head may go out; a closing stream sends what it has.
  const bool gated = unconfirmed_ > 0 && state_ == state::open;
  if (queue_.empty() || (gated && head_sent_)) {
    if (state_ == state::closing && queue_.empty()) close_gracefully();
    return;
  }
  if (gated) {
    inflight_.push_back(std::move(queue_.front()));
    queue_.erase(queue_.begin());
  } else {
    inflight_.swap(queue_);
  }
  head_sent_ = true;
  if (state_ == state::open) shard_.touch(*this, now);

  if constexpr (kIsTls) {
    gather_inflight();
    writing_ = true;
    write_tls();
  } else {
    // Write now, non-blocking: most writes complete at once, and then no asynchronous operation,
    // completion handler or scheduler round trip is needed. Only a remainder the kernel did not
    // take goes through the reactor. One frame (the common case at moderate rates) goes out with
    // send() straight from the frame: no iovec array to fill (one heap block fewer touched per
    // delivery) and no sendmsg(), which also copies the header and iovec array into the kernel.
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
    if (would_block(ec)) {
      ec = {};
      written = 0;
    }
    if (ec) {
      inflight_.clear();
      finish();
      return;
    }
    if (written == total) {
      held_bytes_ -= total;
      inflight_.clear();
      if (state_ == state::closing && queue_.empty()) close_gracefully();
      return;
    }
    // Drop the written prefix, then let the reactor report room for the rest.
    if (inflight_.size() == 1) gather_inflight();
    consume(written);
    wait_writable();
  }
}

template <class Socket>
void basic_sse_stream<Socket>::gather_inflight() {
  buffers_.clear();
  buffers_.reserve(inflight_.size());
  for (const auto& f : inflight_) buffers_.emplace_back(f->data(), f->size());
}

template <class Socket>
void basic_sse_stream<Socket>::consume(std::size_t n) {
  held_bytes_ -= n;
  std::size_t first = 0;
  while (first < buffers_.size() && n >= buffers_[first].size()) n -= buffers_[first++].size();
  buffers_.erase(buffers_.begin(), buffers_.begin() + static_cast<std::ptrdiff_t>(first));
  if (n > 0 && !buffers_.empty()) buffers_.front() += n;
}

// The remainder of a plain write: the reactor reports room, and the write is again a direct
// non-blocking one (rather than a composed async_write, so that overflowed() can cut the remainder
// back between two writes).
template <class Socket>
void basic_sse_stream<Socket>::wait_writable() {
  writing_ = true;
  lowest().async_wait(tcp::socket::wait_write,
                      [self = self()](boost::system::error_code ec) { self->on_writable(ec); });
}

template <class Socket>
void basic_sse_stream<Socket>::on_writable(const boost::system::error_code& ec) {
  if (ec || state_ == state::closed) {
    writing_ = false;
    inflight_.clear();
    finish();
    return;
  }
  if (!buffers_.empty()) {
    boost::system::error_code wec;
    std::size_t n = lowest().write_some(buffers_, wec);
    if (would_block(wec)) {
      wec = {};
      n = 0;
    }
    if (wec) {
      writing_ = false;
      inflight_.clear();
      finish();
      return;
    }
    consume(n);
    if (!buffers_.empty()) {
      wait_writable();
      return;
    }
  }
  written_all();
}

template <class Socket>
void basic_sse_stream<Socket>::write_tls() {
  if constexpr (kIsTls) {
    // One frame (or a large one) is written from the frame itself; several small ones are copied
    // into one record first (an SSL write takes one buffer, and a record per frame would cost a
    // record header, a MAC and a send each).
    boost::asio::const_buffer out;
    if (buffers_.size() == 1 || buffers_.front().size() >= kTlsRecordBytes) {
      out = buffers_.front();
      tls_.covered = 1;
    } else {
      tls_.record.clear();
      std::size_t i = 0;
      for (; i < buffers_.size() && tls_.record.size() < kTlsRecordBytes; ++i) {
        const auto take = std::min(buffers_[i].size(), kTlsRecordBytes - tls_.record.size());
        tls_.record.append(static_cast<const char*>(buffers_[i].data()), take);
      }
      tls_.covered = i;
      out = boost::asio::buffer(tls_.record);
    }
    socket_.async_write_some(out, [self = self()](boost::system::error_code ec, std::size_t n) {
      self->tls_.covered = 0;
      if (ec || self->state_ == state::closed) {
        self->writing_ = false;
        self->inflight_.clear();
        self->finish();
        return;
      }
      self->consume(n);
      if (!self->buffers_.empty()) {
        self->write_tls();
        return;
      }
      self->written_all();
    });
  }
}

template <class Socket>
void basic_sse_stream<Socket>::written_all() {
  writing_ = false;
  inflight_.clear();
  if (state_ == state::closed) return;
  if (!queue_.empty()) {
    flush();
    return;
  }
  if (state_ == state::closing) close_gracefully();
}

template <class Socket>
void basic_sse_stream<Socket>::close_gracefully() {
  if constexpr (kIsTls) writing_ = true;  // nothing is written after the close_notify
  end_sending<kIsTls>(socket_, [self = self()] {
    if constexpr (kIsTls) self->writing_ = false;
    self->finish();
  });
}

template <class Socket>
void basic_sse_stream<Socket>::abort() {
  finish();
}

template <class Socket>
void basic_sse_stream<Socket>::finish() {
  if (state_ == state::closed) return;
  state_ = state::closed;
  auto& server = shard_.server;
  sse::subscriber* target = relay_ ? static_cast<sse::subscriber*>(relay_.get()) : this;
  for (const auto& ch : channels_) server.fanout_->unsubscribe(shard_.index, ch, target);
  if (relay_) relay_->close();
  node.unlink();  // from the activity or closing list
  queue_.clear();
  boost::system::error_code ignored;
  lowest().close(ignored);  // completes pending ops with operation_aborted; they drop their refs
  server.streams_.fetch_sub(1);
  server.connections_.fetch_sub(1);
  listener_.connections.fetch_sub(1);
  lease_.reset();
  core_metrics::get().connections.dec();
  core_metrics::get().http_connections.dec();
}

template class basic_sse_stream<tcp::socket>;
template class basic_sse_stream<tls_socket>;

}  // namespace herald::net

#include "net/h2_connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/metrics.hpp"
#include "core/redact.hpp"
#include "net/end_sending.hpp"
#include "net/server.hpp"
#include "sse/encoder.hpp"

namespace herald::net {

namespace asio = boost::asio;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// The same JSON error bodies as the HTTP/1.1 path (server.cpp).
std::string error_body(std::string_view code, std::string_view message) {
  return "{\"error\":{\"code\":" + sse::python_json_string(code) +
         ",\"message\":" + sse::python_json_string(message) + "}}";
}

// Read size: a client's requests are small; 16 KiB also takes a burst of them in one read.
constexpr std::size_t kReadBytes = 16384;

// Asio hands at most this many buffers to one sendmsg() (its max_buffers).
constexpr std::size_t kGatherMax = 64;

// The TLS output buffer is kept between writes up to this size (a busy connection's usual write);
// a larger one (a burst) is freed once written.
constexpr std::size_t kKeptTlsBuffer = 16384;

void log_failure(const std::exception_ptr& e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {  // the one catch-all per connection
    core_metrics::get().errors.inc();
    spdlog::error("HTTP/2 connection failed: {}", ex.what());
  }
}

}  // namespace

metric& h2_connections_gauge() {
  static metric& m = metrics_registry::instance().gauge(
      "herald_http2_connections", "Open HTTP/2 connections on the public listener");
  return m;
}

// One request of an HTTP/2 connection, in its own coroutine: the app's handler (which may wait for
// the store) runs while the connection's other requests and streams go on.
// GCC 12 reports -Wmismatched-new-delete at the end of this coroutine: a false positive on the
// frame Boost.Asio allocates and frees with its own operator new/delete pair (GCC bug 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
template <class Conn>
asio::awaitable<void> serve_request(std::weak_ptr<Conn> weak, request_handler* handler,
                                    http_request req, std::int32_t stream_id) {
  handler_outcome outcome;
  try {
    outcome = co_await handler->handle(req);
  } catch (const std::exception& e) {
    core_metrics::get().errors.inc();
    spdlog::error("{} {} failed: {}", std::string(req.message.method_string()),
                  redact_target(req.message.target()), e.what());
    outcome = http_response{http::status::internal_server_error,
                            "application/json",
                            {},
                            error_body("internal", "Internal server error.")};
  }
  if (auto c = weak.lock()) c->answer(stream_id, std::move(outcome));
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

template <class Socket>
basic_h2_connection<Socket>::basic_h2_connection(Socket socket, shard& owner,
                                                 listener_state& listener,
                                                 const server_options& limits, tcp::endpoint remote,
                                                 bool counted)
    : shard_(owner),
      listener_(listener),
      limits_(limits),
      socket_(std::move(socket)),
      // wake() runs only inside session calls, made while the connection is alive.
      session_(limits, limits.http2, [this] { wake(); }),
      remote_(std::move(remote)) {
  auto& server = shard_.server;
  server.h2_connections_.fetch_add(1);
  h2_connections_gauge().inc();
  if (!counted) {
    server.connections_.fetch_add(1);
    listener_.connections.fetch_add(1);
    core_metrics::get().http_connections.inc();
  }
  refuse_ = listener_.connections.load() >
            listener_.live.load(std::memory_order_acquire)->max_connections;
  shard_.h2_connections.push_back(node);
}

template <class Socket>
basic_h2_connection<Socket>::~basic_h2_connection() = default;

template <class Socket>
void basic_h2_connection<Socket>::start(h2_handoff handoff) {
  boost::system::error_code ignored;
  lowest().non_blocking(true, ignored);  // write_plain() writes directly
  if (!handoff.upgrade) {
    // Until its first request arrives, the connection has the header deadline.
    first_request_.socket = &lowest();
    first_request_.deadline = clock::now() + limits_.header_timeout;
    shard_.pending.push_back(first_request_);
  }
  asio::co_spawn(shard_.ioc, read_loop(self(), std::move(handoff)), log_failure);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
template <class Socket>
asio::awaitable<void> basic_h2_connection<Socket>::read_loop(
    // Keeps the connection alive as long as it reads.
    std::shared_ptr<basic_h2_connection> self, h2_handoff handoff) {
  (void)self;
  if (handoff.upgrade) {
    // h2c by Upgrade: the 101 is written; the request becomes stream 1.
    if (auto ok = session_.upgrade(std::move(*handoff.upgrade), handoff.settings); !ok) {
      spdlog::debug("{} listener: h2c upgrade refused: {}", listener_.opts.name, ok.err().message);
      finish();
      co_return;
    }
  }
  received(handoff.initial.data(), handoff.initial.size());
  handoff.initial = std::string();
  std::array<char, kReadBytes> buf;
  while (!closed_) {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf), kTuple);
    if (ec || closed_) break;
    received(buf.data(), n);
  }
  finish();  // EOF, an error, or closed: every stream ends now
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

template <class Socket>
void basic_h2_connection<Socket>::received(const char* data, std::size_t n) {
  if (closed_) return;
  if (n > 0 && !broken_) {
    if (auto ok = session_.feed(asio::const_buffer(data, n)); !ok) {
      // The session answered with GOAWAY (pending output); the connection closes once it is out.
      broken_ = true;
      spdlog::debug("{} listener: HTTP/2 connection closed: {}", listener_.opts.name,
                    ok.err().message);
    }
  }
  take_requests();
  write();  // SETTINGS and PING acknowledgements, window updates, refusals
}

template <class Socket>
void basic_h2_connection<Socket>::take_requests() {
  for (auto& r : session_.take_requests()) {
    if (!requested_) {
      requested_ = true;
      first_request_.unlink();
    }
    serve(std::move(r));
  }
}

template <class Socket>
void basic_h2_connection<Socket>::serve(h2_request request) {
  if (refuse_) {
    // Over the connection limit: every request is answered 503, then the connection goes.
    answer(request.stream_id,
           http_response{http::status::service_unavailable,
                         "application/json",
                         {{"Retry-After", std::to_string(limits_.busy_retry_after.count())}},
                         error_body("too_many_connections",
                                    "The server is at its connection limit; retry later.")});
    if (!goaway_) {
      goaway_ = true;
      session_.shutdown([] { return std::string(); });
    }
    return;
  }
  asio::co_spawn(
      shard_.ioc,
      serve_request(std::weak_ptr<basic_h2_connection>(self()), listener_.handler,
                    http_request{std::move(request.message), remote_}, request.stream_id),
      log_failure);
}

template <class Socket>
void basic_h2_connection<Socket>::answer(std::int32_t stream_id, handler_outcome outcome) {
  if (closed_) return;
  if (auto* resp = std::get_if<http_response>(&outcome)) {
    (void)session_.respond(stream_id, std::move(*resp));  // an error: the client reset it
    return;
  }
  auto& start = std::get<stream_start>(outcome);
  if (shard_.stopping) {  // shutting down: no new streams (as HTTP/1.1 closes the connection)
    session_.reset_stream(stream_id);
    return;
  }
  auto sub = session_.open_stream(stream_id, std::move(start));
  if (!sub) return;  // the client reset the stream while its request was handled
  auto& server = shard_.server;
  server.streams_.fetch_add(1);
  core_metrics::get().connections.inc();
  const auto& channels = *session_.channels_of(stream_id);
  for (const auto& ch : channels) server.fanout_->subscribe(shard_.index, ch, *sub);
  // stream-open (the preamble) waits until the bus receives every channel, as on HTTP/1.1.
  std::weak_ptr<h2_connection> weak = weak_from_this();
  auto ex = shard_.ioc.get_executor();
  for (const auto& ch : channels) {
    server.fanout_->when_ready(ch, [weak, ex, stream_id] {
      // dispatch: inline for the in-process bus (already on this shard), posted from a bus thread.
      asio::dispatch(ex, [weak, stream_id] {
        auto c = weak.lock();
        if (!c) return;
        auto* me = static_cast<basic_h2_connection*>(c.get());
        if (!me->closed_) me->session_.channel_ready(stream_id);
      });
    });
  }
}

template <class Socket>
void basic_h2_connection<Socket>::wake() {
  if (dirty_ || closed_) return;
  auto me = weak_from_this().lock();
  if (!me) return;
  dirty_ = true;
  shard_.mark_dirty(std::move(me));
}

template <class Socket>
void basic_h2_connection<Socket>::flush(clock::time_point) {
  dirty_ = false;
  release_ended();
  write();
}

template <class Socket>
void basic_h2_connection<Socket>::write() {
  if (closed_ || closing_ || writing_) return;
  if constexpr (kIsTls)
    write_tls();
  else
    write_plain();
}

template <class Socket>
void basic_h2_connection<Socket>::write_plain() {
  if constexpr (!kIsTls) {
    // Direct non-blocking gather writes of the session's output (frame headers and the events'
    // shared buffers): most complete at once, with no asynchronous operation. Only a remainder the
    // kernel did not take waits for the reactor.
    for (;;) {
      const auto out = session_.pending_output();
      if (out.empty()) break;
      const auto batch = out.first(std::min(out.size(), kGatherMax));
      std::size_t total = 0;
      for (const auto& b : batch) total += b.size();
      boost::system::error_code ec;
      std::size_t n = socket_.write_some(batch, ec);
      if (would_block(ec)) {
        ec = {};
        n = 0;
      }
      if (ec) {
        finish();
        return;
      }
      session_.consume(n);
      if (n < total) {
        writing_ = true;
        socket_.async_wait(tcp::socket::wait_write, [self = self()](boost::system::error_code wec) {
          self->writing_ = false;
          if (wec || self->closed_) {
            self->finish();
            return;
          }
          self->release_ended();
          self->write();
        });
        return;
      }
    }
    settle();
  }
}

template <class Socket>
void basic_h2_connection<Socket>::write_tls() {
  if constexpr (kIsTls) {
    // An SSL write takes one buffer: the output is copied into one (the bytes are the session's
    // no more), and written whole.
    tls_out_.clear();
    for (const auto& b : session_.pending_output())
      tls_out_.append(static_cast<const char*>(b.data()), b.size());
    if (tls_out_.empty()) {
      if (tls_out_.capacity() > kKeptTlsBuffer) std::string().swap(tls_out_);
      settle();
      return;
    }
    session_.consume(tls_out_.size());
    writing_ = true;
    asio::async_write(socket_, asio::buffer(tls_out_),
                      [self = self()](boost::system::error_code ec, std::size_t) {
                        self->writing_ = false;
                        if (ec || self->closed_) {
                          self->finish();
                          return;
                        }
                        self->release_ended();
                        self->write();
                      });
  }
}

template <class Socket>
void basic_h2_connection<Socket>::settle() {
  release_ended();
  if (session_.done()) close_gracefully();
}

template <class Socket>
void basic_h2_connection<Socket>::release_ended() {
  auto ended = session_.take_ended();
  if (ended.empty()) return;
  auto& server = shard_.server;
  for (const auto& e : ended) {
    for (const auto& ch : e.channels) server.fanout_->unsubscribe(shard_.index, ch, e.subscriber);
    server.streams_.fetch_sub(1);
    core_metrics::get().connections.dec();
  }
}

template <class Socket>
void basic_h2_connection<Socket>::close_gracefully() {
  if (closing_ || closed_) return;
  closing_ = true;
  if constexpr (kIsTls) writing_ = true;  // nothing is written after the close_notify
  end_sending<kIsTls>(socket_, [self = self()] {
    if constexpr (kIsTls) self->writing_ = false;
    self->finish();
  });
}

template <class Socket>
void basic_h2_connection<Socket>::finish() {
  if (closed_) return;
  closed_ = true;
  session_.terminate();
  release_ended();
  first_request_.unlink();
  node.unlink();
  boost::system::error_code ignored;
  lowest().close(ignored);  // pending operations complete with operation_aborted
  auto& server = shard_.server;
  server.connections_.fetch_sub(1);
  server.h2_connections_.fetch_sub(1);
  h2_connections_gauge().dec();
  listener_.connections.fetch_sub(1);
  core_metrics::get().http_connections.dec();
}

template <class Socket>
void basic_h2_connection<Socket>::sweep(clock::time_point now) {
  if (closed_) return;
  session_.sweep(now);  // keep-alives, close_grace; output wakes the connection
  if (!session_.idle() || goaway_) {
    idle_since_ = {};
    return;
  }
  // No stream open: after `keepalive` the connection goes (GOAWAY, then closed once written).
  if (idle_since_ == clock::time_point{}) {
    idle_since_ = now;
  } else if (now - idle_since_ >= limits_.keepalive) {
    goaway_ = true;
    session_.shutdown([] { return std::string(); });
    write();
  }
}

template <class Socket>
void basic_h2_connection<Socket>::shutdown(const std::function<std::string()>& final_bytes) {
  if (closed_) return;
  goaway_ = true;
  session_.shutdown(final_bytes);
  write();
}

template <class Socket>
void basic_h2_connection<Socket>::abort() {
  finish();
}

template <class Socket>
void basic_h2_connection<Socket>::close_streams_with(
    const std::function<sse::frame(const principal*)>& frame_for) {
  if (closed_) return;
  std::vector<std::pair<std::int32_t, sse::frame>> ended;
  session_.for_each_stream([&](std::int32_t id, const std::shared_ptr<const principal>& tag) {
    if (sse::frame last = frame_for(tag.get())) ended.emplace_back(id, std::move(last));
  });
  for (auto& [id, last] : ended) session_.close_stream(id, last);
}

template <class Socket>
void basic_h2_connection<Socket>::collect_tags(
    std::vector<std::shared_ptr<const principal>>& out) const {
  if (closed_) return;
  session_.for_each_stream([&](std::int32_t, const std::shared_ptr<const principal>& tag) {
    if (tag) out.push_back(tag);
  });
}

template class basic_h2_connection<tcp::socket>;
template class basic_h2_connection<tls_socket>;

}  // namespace herald::net

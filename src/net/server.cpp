#include "net/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <mutex>
#include <unordered_set>

#include "core/metrics.hpp"
#include "core/redact.hpp"
#include "net/shard.hpp"
#include "net/sse_stream.hpp"
#include "sse/encoder.hpp"

namespace herald::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::use_awaitable;
constexpr auto kUseTuple = asio::as_tuple(use_awaitable);

namespace {

std::string error_body(std::string_view code, std::string_view message) {
  return "{\"error\":{\"code\":" + sse::python_json_string(code) +
         ",\"message\":" + sse::python_json_string(message) + "}}";
}

std::string build_stream_head(const header_list& extra) {
  std::string head =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\n"
      "Referrer-Policy: no-referrer\r\n"
      "Connection: close\r\n";  // the body is delimited by the connection's end
  for (const auto& [k, v] : extra) head.append(k).append(": ").append(v).append("\r\n");
  head += "\r\n";
  return head;
}

// Serialises an ordinary response onto `out`. Responses to pipelined requests are collected and
// written together (one syscall for a burst of POST /publish on one connection).
void append_response(std::string& out, const http_response& r, unsigned version, bool keep_alive) {
  const auto reason = http::obsolete_reason(r.status);
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(static_cast<unsigned>(r.status));
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\nServer: herald\r\n";
  // Appended piece by piece: this runs once per publish, so no temporary strings.
  if (!r.content_type.empty()) out.append("Content-Type: ").append(r.content_type).append("\r\n");
  for (const auto& [k, v] : r.headers) out.append(k).append(": ").append(v).append("\r\n");
  if (!keep_alive)
    out += "Connection: close\r\n";
  else if (version == 10)
    out += "Connection: keep-alive\r\n";
  out.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n\r\n");
  out += r.body;
}

// The socket is non-blocking: a response the kernel takes at once needs no asynchronous
// operation (no scheduler round trip); only a remainder waits for the reactor.
asio::awaitable<bool> write_out(tcp::socket& sock, std::string& out) {
  boost::system::error_code ec;
  std::size_t n = sock.write_some(asio::buffer(out), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
    n = 0;
  }
  if (!ec && n < out.size()) {
    auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(out) + n, kUseTuple);
    ec = wec;
  }
  out.clear();
  co_return !ec;
}

// Parses a request that is already complete in `buffer` (pipelining) without any I/O.
// True when a whole request was parsed; `ec` is set on a malformed one (need_more is not an error).
bool parse_buffered(http::request_parser<http::string_body>& parser, beast::flat_buffer& buffer,
                    boost::system::error_code& ec) {
  while (buffer.size() > 0 && !parser.is_done()) {
    std::size_t n = parser.put(buffer.data(), ec);
    buffer.consume(n);
    if (ec == http::error::need_more) {
      ec = {};
      return false;
    }
    if (ec || n == 0) return false;
  }
  return parser.is_done();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// shard

shard::shard(http_server& s, std::size_t i)
    : server(s),
      index(i),
      touch_granularity_(
          std::min<clock::duration>(std::chrono::seconds(1), s.opts_.keepalive / 4)) {}

shard::~shard() {
  // Unlink whatever is left so auto_unlink hooks don't point into freed lists.
  pending.clear();
  active.clear();
  closing.clear();
}

void shard::start_accepting() {
  for (auto& [acc, listener] : acceptors)
    asio::co_spawn(ioc, accept_loop(acc, *listener), asio::detached);
}

asio::awaitable<void> shard::accept_loop(tcp::acceptor& acceptor, listener_state& listener) {
  asio::steady_timer backoff(ioc);
  while (acceptor.is_open()) {
    auto [ec, sock] = co_await acceptor.async_accept(kUseTuple);
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) break;
      // EMFILE/ENFILE: wait a little instead of spinning; the connection stays in the backlog.
      spdlog::warn("{} listener: accept failed: {}", listener.opts.name, ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kUseTuple);
      continue;
    }
    boost::system::error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(ioc, session(std::move(sock), listener), [](const std::exception_ptr& e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {  // the one catch-all per connection
        core_metrics::get().errors.inc();
        spdlog::error("connection failed: {}", ex.what());
      }
    });
  }
}

// GCC 12 reports -Wmismatched-new-delete at the end of this coroutine: a false positive on the
// frame Boost.Asio allocates and frees with its own operator new/delete pair (GCC bug 109224).
// Silenced for this function only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<void> shard::session(tcp::socket sock, listener_state& listener) {
  auto& opts = server.opts_;
  server.connections_.fetch_add(1);
  listener.connections.fetch_add(1);
  core_metrics::get().http_connections.inc();
  bool handed_off = false;
  struct guard {
    http_server& s;
    listener_state& l;
    bool& handed_off;
    ~guard() {
      l.connections.fetch_sub(1);
      if (!handed_off) {
        s.connections_.fetch_sub(1);
        core_metrics::get().http_connections.dec();
      }
    }
  } g{server, listener, handed_off};

  boost::system::error_code ep_ec;
  tcp::endpoint remote = sock.remote_endpoint(ep_ec);

  if (listener.connections.load() > listener.opts.max_connections) {
    http_response r{http::status::service_unavailable,
                    "application/json",
                    {},
                    error_body("too_many_connections", "The server is at its connection limit.")};
    std::string out;
    append_response(out, r, 11, false);
    co_await write_out(sock, out);
    co_return;
  }

  boost::system::error_code nb_ec;
  sock.non_blocking(true, nb_ec);  // see write_out
  beast::flat_buffer buffer;
  // Beast reads up to the free capacity (at least 512 bytes): room for several pipelined requests.
  buffer.reserve(listener.opts.read_buffer_bytes);
  std::string out;  // responses not yet written
  pending_request deadline;
  deadline.socket = &sock;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(opts.max_header_bytes);
    parser.body_limit(listener.opts.max_body_bytes);
    parser.eager(true);
    boost::system::error_code ec;
    // A pipelined request already in the buffer is handled with no I/O, and no write yet.
    if (!parse_buffered(parser, buffer, ec) && !ec) {
      // About to wait for the client: first the deliveries of what it sent, if few (see
      // kSmallPass), then the responses it is waiting for.
      if (!dirty_.empty() && !pass_yielded_ && dirty_.size() <= kSmallPass) flush_dirty();
      if (!out.empty() && !co_await write_out(sock, out)) co_return;
      deadline.deadline = clock::now() + opts.header_timeout;
      pending.push_back(deadline);
      if (!parser.is_header_done()) {
        auto [hec, n] = co_await http::async_read_header(sock, buffer, parser, kUseTuple);
        ec = hec;
      }
      if (!ec && parser.get()[http::field::expect] == "100-continue" && !parser.is_done()) {
        // curl sends Expect for bodies over 1 KiB and would otherwise wait a second.
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(cont), kUseTuple);
        ec = wec;
      }
      if (!ec && !parser.is_done()) {
        auto [rec, rn] = co_await http::async_read(sock, buffer, parser, kUseTuple);
        ec = rec;
      }
      deadline.unlink();
    }
    if (ec) {
      if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
          ec == asio::error::eof || ec == asio::error::connection_reset || !sock.is_open())
        co_return;
      http_response r{http::status::bad_request, "application/json", {}, {}};
      if (ec == http::error::header_limit) {
        r.status = http::status::request_header_fields_too_large;
        r.body = error_body("header_too_large", "Request headers exceed the configured limit.");
      } else if (ec == http::error::body_limit) {
        r.status = http::status::payload_too_large;
        r.body = error_body("payload_too_large", "Request body exceeds the configured limit.");
      } else {
        r.body = error_body("bad_request", "Malformed HTTP request: " + ec.message());
      }
      append_response(out, r, 11, false);
      co_await write_out(sock, out);
      co_return;
    }

    http_request req{parser.release(), remote};
    const bool keep_alive = req.message.keep_alive();
    const unsigned version = req.message.version();
    handler_outcome outcome;
    try {
      outcome = co_await listener.handler->handle(req);
    } catch (const std::exception& e) {
      core_metrics::get().errors.inc();
      spdlog::error("{} {} failed: {}", std::string(req.message.method_string()),
                    redact_target(req.message.target()), e.what());
      outcome = http_response{http::status::internal_server_error,
                              "application/json",
                              {},
                              error_body("internal", "Internal server error.")};
    }
    if (auto* resp = std::get_if<http_response>(&outcome)) {
      const bool again = keep_alive && !stopping;
      append_response(out, *resp, version, again);
      if (!again) {
        co_await write_out(sock, out);
        co_return;
      }
      continue;  // written when the next read would wait, together with any pipelined ones
    }

    auto& start = std::get<stream_start>(outcome);
    if (stopping) co_return;
    // The stream subscribes BEFORE its head and preamble go out, so a client that has seen
    // stream-open cannot miss an event published right after; the head, the preamble and anything
    // already published leave in the stream's first gather write.
    auto stream = std::make_shared<sse_stream>(std::move(sock), *this, std::move(start.channels),
                                               std::move(start.tag));
    handed_off = true;
    // Responses to requests pipelined before this one go out first, in the same write.
    stream->start(std::make_shared<const std::string>(out + build_stream_head(start.headers)));
    co_return;  // the coroutine frame and request buffers are released here
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

void shard::stream_opened(sse_stream& s) {
  s.node.last_activity = clock::now();
  active.push_back(s.node);
}

void shard::touch(sse_stream& s, clock::time_point now) {
  // Moving a node relinks three streams' nodes (its neighbours and the tail): cache misses on every
  // write. A stream moved less than touch_granularity ago keeps its place, so its keep-alive may go
  // out up to that much early; the list stays ordered by last_activity.
  if (now - s.node.last_activity < touch_granularity_) return;
  // `now` may lag by a flush turn (one clock reading per 16 writes): never before the tail's time.
  if (!active.empty() && active.back().last_activity > now) now = active.back().last_activity;
  s.node.last_activity = now;
  s.node.unlink();
  active.push_back(s.node);
}

void shard::mark_closing(sse_stream& s) {
  s.node.close_deadline = clock::now() + server.opts_.close_grace;
  s.node.unlink();
  closing.push_back(s.node);
}

void shard::mark_dirty(std::shared_ptr<sse_stream> s) {
  dirty_.push_back(std::move(s));
  if (flush_posted_) return;
  flush_posted_ = true;
  // Posted, not run inline: every delivery queued before this runs first (e.g. the rest of a
  // publish burst, or every publish pipelined in one read), so a busy stream sends many events in
  // one write.
  asio::post(ioc, [this] { flush_dirty(); });
}

void shard::flush_dirty() {
  // Write until done or the turn's time is up, then yield: the reactor runs between slices, so
  // publishes and new connections are read while a large fanout is being written (no head-of-line
  // wait behind a 5,000-socket flush), and an event published meanwhile joins the same pass: a
  // stream not yet written takes it in the same gather write; one already written is re-marked and
  // appended.
  flush_posted_ = false;
  // One clock reading per 16 writes (a stream's activity time needs no more precision).
  auto now = clock::now();
  const auto until = now + kFlushTurn;
  for (std::size_t n = 1; !dirty_.empty(); ++n) {
    // Each flush is a write of several µs, whose kernel work evicts what the pass touched: a
    // stream's lines asked for 4 flushes ahead are cached when its turn comes, 2 ahead its queue's
    // block can be asked for from them, and the list's own entries are asked for 8 ahead.
    if (dirty_.size() > 8) __builtin_prefetch(&dirty_[8]);
    if (dirty_.size() > 4) sse::subscriber::prefetch(dirty_[4].get());
    if (dirty_.size() > 2) dirty_[2]->prefetch_queue();
    auto s = std::move(dirty_.front());
    dirty_.pop_front();
    s->flush(now);
    if (n % 16 == 0 && (now = clock::now()) >= until) break;
  }
  pass_yielded_ = !dirty_.empty();
  if (pass_yielded_) {
    flush_posted_ = true;
    asio::post(ioc, [this] { flush_dirty(); });
  }
}

void shard::start_sweeping() {
  sweep_timer.expires_after(server.opts_.sweep_interval);
  sweep_timer.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    sweep();
    if (!ioc.stopped()) start_sweeping();
  });
}

void shard::sweep() {
  const auto now = clock::now();
  // Requests that did not arrive in time: close their sockets (the read completes with an error).
  for (auto it = pending.begin(); it != pending.end();) {
    auto& p = *it++;
    if (p.deadline <= now && p.socket) {
      boost::system::error_code ignored;
      p.socket->close(ignored);
      p.unlink();
    }
  }
  // Idle streams get a keep-alive; the list is ordered by last write, so stop at the first fresh
  // one.
  static const sse::frame keepalive =
      std::make_shared<const std::string>(std::string(sse::keep_alive()));
  const auto idle = server.opts_.keepalive;
  std::vector<std::shared_ptr<sse_stream>> due;
  for (auto& n : active) {
    if (n.last_activity + idle > now) break;
    due.push_back(n.stream->shared_from_this());
  }
  for (auto& s : due) {
    touch(*s, now);  // the keep-alive counts as activity even if the write is still pending
    s->deliver(keepalive);
  }
  // Closing streams that could not flush in time are cut.
  std::vector<std::shared_ptr<sse_stream>> overdue;
  for (auto& n : closing)
    if (n.close_deadline <= now) overdue.push_back(n.stream->shared_from_this());
  for (auto& s : overdue) s->abort();
}

void shard::stop_accepting() {
  stopping = true;
  for (auto& [acc, listener] : acceptors) {
    boost::system::error_code ignored;
    acc.close(ignored);
  }
}

void shard::close_pending_requests() {
  for (auto it = pending.begin(); it != pending.end();) {
    auto& p = *it++;
    boost::system::error_code ignored;
    if (p.socket) p.socket->close(ignored);
    p.unlink();
  }
}

template <class F>
void shard::for_each_stream(F&& f) {
  std::vector<std::shared_ptr<sse_stream>> all;
  for (auto& n : active) all.push_back(n.stream->shared_from_this());
  for (auto& n : closing) all.push_back(n.stream->shared_from_this());
  for (auto& s : all) f(*s);
}

// ---------------------------------------------------------------------------------------------
// http_server

http_server::http_server(server_options opts, request_handler& handler)
    : opts_(std::move(opts)), handler_(handler) {
  if (opts_.threads == 0) opts_.threads = 1;
  if (opts_.threads > 64) opts_.threads = 64;  // fanout's shard mask is 64 bits
  for (unsigned i = 0; i < opts_.threads; ++i) shards_.push_back(std::make_unique<shard>(*this, i));
}

http_server::~http_server() {
  if (started_ && !stopped_) shutdown(std::chrono::milliseconds(0), [] { return std::string(); });
  shards_.clear();  // suspended sessions die with their io_context, before the listeners they use
}

std::vector<asio::any_io_executor> http_server::executors() const {
  std::vector<asio::any_io_executor> v;
  for (auto& s : shards_) v.push_back(s->ioc.get_executor());
  return v;
}

void http_server::set_fanout(sse::fanout* f) { fanout_ = f; }

result<void> http_server::listen(const std::string& address, std::uint16_t port) {
  listener_options o;
  o.name = opts_.name;
  o.max_body_bytes = opts_.max_body_bytes;
  o.max_connections = opts_.max_connections;
  o.read_buffer_bytes = 4096;  // a stream request is one GET; the buffer is freed when it starts
  auto r = add_listener(address, port, handler_, std::move(o));
  if (!r) return std::move(r).err();
  return {};
}

result<std::uint16_t> http_server::add_listener(const std::string& address, std::uint16_t port,
                                                request_handler& handler, listener_options opts) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) return make_error(errc::invalid_config, "bad listen address '" + address + "'");
  auto& l = *listeners_.emplace_back(std::make_unique<listener_state>());
  l.handler = &handler;
  l.opts = std::move(opts);
  for (auto& s : shards_) {
    tcp::endpoint ep(addr, l.port != 0 ? l.port : port);
    tcp::acceptor acc(s->ioc);
    acc.open(ep.protocol(), ec);
    if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;  // SO_REUSEPORT: one acceptor per shard, the kernel balances connections
      if (::setsockopt(acc.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        ec.assign(errno, boost::system::system_category());
    }
    if (!ec) acc.bind(ep, ec);
    if (!ec) acc.listen(4096, ec);
    if (ec)
      return make_error(errc::invalid_config, "cannot listen on " + address + ":" +
                                                  std::to_string(ep.port()) + ": " + ec.message());
    if (l.port == 0) l.port = acc.local_endpoint().port();
    s->acceptors.emplace_back(std::move(acc), &l);
  }
  return l.port;
}

void http_server::start() {
  started_ = true;
  for (auto& s : shards_) {
    s->start_accepting();
    s->start_sweeping();
    s->thread = std::thread([sh = s.get()] {
      for (;;) {
        try {
          sh->ioc.run();
          break;
        } catch (const std::exception& e) {  // a handler threw: log, keep the loop alive
          core_metrics::get().errors.inc();
          spdlog::error("event loop: {}", e.what());
        }
      }
    });
  }
}

void http_server::shutdown(std::chrono::milliseconds deadline,
                           const std::function<std::string()>& final_bytes) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  const auto until = clock::now() + deadline;
  std::mutex mu;
  for (auto& s : shards_) {
    // Frames are built here (on the caller's thread) so final_bytes needs no synchronisation.
    asio::post(s->ioc, [sh = s.get(), &final_bytes, &mu] {
      sh->stop_accepting();
      sh->close_pending_requests();
      sh->for_each_stream([&](sse_stream& st) {
        std::string bytes;
        {
          std::lock_guard lock(mu);
          bytes = final_bytes();
        }
        st.close_after(std::make_shared<const std::string>(std::move(bytes)));
      });
    });
  }
  while (streams_.load() > 0 && clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (auto& s : shards_) {
    asio::post(s->ioc, [sh = s.get()] {
      sh->close_pending_requests();
      sh->for_each_stream([](sse_stream& st) { st.abort(); });
      sh->sweep_timer.cancel();
    });
  }
  // Let the aborts run (they unsubscribe from the fanout), then stop the loops.
  const auto grace = clock::now() + std::chrono::milliseconds(500);
  while (streams_.load() > 0 && clock::now() < grace)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (auto& s : shards_) s->ioc.stop();
  for (auto& s : shards_)
    if (s->thread.joinable()) s->thread.join();
}

void http_server::collect_tags(
    std::function<void(std::vector<std::shared_ptr<const principal>>)> done) {
  struct gather {
    std::mutex mu;
    std::vector<std::shared_ptr<const principal>> tags;
    std::unordered_set<const principal*> seen;
    std::size_t remaining;
    std::function<void(std::vector<std::shared_ptr<const principal>>)> done;
  };
  auto g = std::make_shared<gather>();
  g->remaining = shards_.size();
  g->done = std::move(done);
  for (auto& s : shards_) {
    asio::post(s->ioc, [sh = s.get(), g] {
      std::vector<std::shared_ptr<const principal>> local;
      for (auto& n : sh->active)
        if (n.stream->tag()) local.push_back(n.stream->tag_ptr());
      std::lock_guard lock(g->mu);
      for (auto& t : local)
        if (g->seen.insert(t.get()).second) g->tags.push_back(std::move(t));
      if (--g->remaining == 0) g->done(std::move(g->tags));
    });
  }
}

void http_server::close_streams_if(std::function<bool(const principal*)> pred,
                                   std::string final_bytes) {
  auto frame = std::make_shared<const std::string>(std::move(final_bytes));
  auto p = std::make_shared<std::function<bool(const principal*)>>(std::move(pred));
  for (auto& s : shards_) {
    asio::post(s->ioc, [sh = s.get(), frame, p] {
      sh->for_each_stream([&](sse_stream& st) {
        if ((*p)(st.tag())) st.close_after(frame);
      });
    });
  }
}

}  // namespace herald::net

#include "net/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "core/metrics.hpp"
#include "core/redact.hpp"
#include "net/h2_connection.hpp"
#include "net/request_head.hpp"
#include "net/shard.hpp"
#include "net/sse_stream.hpp"
#include "net/tls_context.hpp"
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

// The 503 a connection over a limit (connections, descriptors) gets.
http_response busy_response(std::chrono::seconds retry_after) {
  return http_response{
      http::status::service_unavailable,
      "application/json",
      {{"Retry-After", std::to_string(retry_after.count())}},
      error_body("too_many_connections", "The server is at its connection limit; retry later.")};
}

// After these the request stream cannot be trusted (or the client sent something it should not
// repeat): the connection is closed rather than kept for another request.
bool closes_connection(http::status s) {
  switch (s) {
    case http::status::bad_request:
    case http::status::method_not_allowed:
    case http::status::request_timeout:
    case http::status::length_required:
    case http::status::payload_too_large:
    case http::status::uri_too_long:
    case http::status::request_header_fields_too_large:
    case http::status::not_implemented:
    case http::status::http_version_not_supported:
      return true;
    default:
      return false;
  }
}

tcp::socket& lowest_layer(tcp::socket& s) { return s; }
tcp::socket& lowest_layer(tls_socket& s) { return s.next_layer(); }

// Plain TCP: the socket is non-blocking, so a response the kernel takes at once needs no
// asynchronous operation (no scheduler round trip); only a remainder waits for the reactor.
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

asio::awaitable<bool> write_out(tls_socket& stream, std::string& out) {
  auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), kUseTuple);
  out.clear();
  co_return !ec;
}

// The client went away (as opposed to sending something malformed).
bool disconnected(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::ssl::error::stream_truncated;
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

// The most pipelined requests answered together (request_handler::overlaps); the read buffer
// bounds them too.
constexpr std::size_t kMaxOverlapping = 64;

// A handler's exception: logged (target redacted), answered 500.
http_response internal_error(const http_request& req, const std::exception& e) {
  core_metrics::get().errors.inc();
  spdlog::error("{} {} failed: {}", std::string(req.message.method_string()),
                redact_target(req.message.target()), e.what());
  return http_response{http::status::internal_server_error,
                       "application/json",
                       {},
                       error_body("internal", "Internal server error.")};
}

// Handles every request of `batch` at once and gives the outcomes in request order. Each handler
// starts inline, in order, and runs up to its first wait before the next one starts (co_spawn
// dispatches on the connection's thread): what a request does before it waits (a publish's hand-off
// to the bus) keeps the order of the requests. Every outcome is an http_response: a stream
// (which overlaps() must never allow) becomes a 500.
asio::awaitable<std::vector<handler_outcome>> handle_together(request_handler& handler,
                                                              std::vector<http_request>& batch) {
  const auto ex = co_await asio::this_coro::executor;
  using op_type = decltype(asio::co_spawn(ex, handler.handle(batch.front()), asio::deferred));
  std::vector<op_type> ops;
  ops.reserve(batch.size());
  for (auto& req : batch) ops.push_back(asio::co_spawn(ex, handler.handle(req), asio::deferred));
  auto [order, errors, outcomes] =
      co_await asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(asio::experimental::wait_for_all(), use_awaitable);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (errors[i]) {
      try {
        std::rethrow_exception(errors[i]);
      } catch (const std::exception& e) {
        outcomes[i] = internal_error(batch[i], e);
      }
    } else if (!std::holds_alternative<http_response>(outcomes[i])) {
      outcomes[i] =
          internal_error(batch[i], std::logic_error("a stream among overlapping requests"));
    }
  }
  co_return std::move(outcomes);
}

// The protocols a TLS listener offers with ALPN, in order of preference: "h2" first where HTTP/2
// is on (shard::tls_session starts its session after the handshake).
const std::vector<std::string>& offered_protocols(bool h2) {
  static const std::vector<std::string> both{"h2", "http/1.1"};
  static const std::vector<std::string> http1{"http/1.1"};
  return h2 ? both : http1;
}

// An HTTP/1.1 request asking to continue as h2c (RFC 7540 §3.2): `Upgrade: h2c` and one
// HTTP2-Settings. (curl --http2 on an http:// URL sends it.)
bool asks_for_h2c(const http::request<http::string_body>& m) {
  auto up = m.find(http::field::upgrade);
  if (up == m.end() || !beast::iequals(up->value(), "h2c")) return false;
  return m.count("HTTP2-Settings") == 1;
}

// Open descriptors of this process (at start only).
std::size_t open_descriptors() {
  std::error_code ec;
  std::size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

// How long a connection turned away at the descriptor limit may take to send its request before
// it is answered anyway (it holds one of the last descriptors meanwhile).
constexpr std::chrono::milliseconds kTurnAwayWait{250};
// At most one "out of descriptors" log line per listener this often.
constexpr std::chrono::seconds kAcceptWarningInterval{10};

}  // namespace

// ---------------------------------------------------------------------------------------------
// options

result<void> server_options::validate() const {
  if (auto ok = tls.validate(); !ok) return ok;
  if (auto ok = http2.validate(); !ok) return ok;
  if (send_buffer_bytes != 0 && (send_buffer_bytes < 4096 || send_buffer_bytes > (64u << 20)))
    return make_error(errc::invalid_config,
                      "send_buffer_bytes must be 0 (kernel autotuning) or 4096..67108864");
  if (queue_max_bytes == 0 || queue_max_events == 0)
    return make_error(errc::invalid_config, "the stream queue bounds must be positive");
  return {};
}

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
  h2_connections.clear();
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

void shard::start_accepting() {
  if (reserve_fd_ < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (auto& [acc, listener] : acceptors)
    asio::co_spawn(ioc, accept_loop(acc, *listener), asio::detached);
}

void shard::warn_accept_failure(listener_state& listener, const std::string& what) {
  // Shared by the listener's acceptors on every shard: at the file limit a failure repeats for
  // every connection attempt, and one line per interval (with a count) says as much.
  const auto now = clock::now().time_since_epoch().count();
  const auto interval = std::chrono::duration_cast<clock::duration>(kAcceptWarningInterval).count();
  auto last = listener.last_accept_warning.load();
  if ((last != 0 && now - last < interval) ||
      !listener.last_accept_warning.compare_exchange_strong(last, now)) {
    listener.accept_warnings_suppressed.fetch_add(1);
    return;
  }
  const auto more = listener.accept_warnings_suppressed.exchange(0);
  if (more > 0)
    spdlog::warn("{} listener: {} ({} more since the last report)", listener.opts.name, what, more);
  else
    spdlog::warn("{} listener: {}", listener.opts.name, what);
}

asio::awaitable<void> shard::accept_loop(tcp::acceptor& acceptor, listener_state& listener) {
  asio::steady_timer backoff(ioc);
  const bool tls = listener.opts.tls.enabled();
  while (acceptor.is_open()) {
    auto [ec, sock] = co_await acceptor.async_accept(kUseTuple);
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) break;
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
        // The process (or system) is out of descriptors: the reserve one takes the connection
        // waiting in the backlog, which gets its 503 rather than waiting unanswered.
        warn_accept_failure(listener, "accept failed: " + ec.message() +
                                          "; new connections are answered 503 and closed");
        if (co_await turn_away_with_reserve(acceptor, listener)) continue;
      } else {
        warn_accept_failure(listener, "accept failed: " + ec.message());
      }
      // No reserve (another thread took the slot): wait a little instead of spinning; the
      // connection stays in the backlog.
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kUseTuple);
      continue;
    }
    if (listener.descriptor_ceiling > 0 && sock.native_handle() >= listener.descriptor_ceiling) {
      // The descriptors above the ceiling are kept for the internal listener, the bus and the
      // store: this connection only borrows one to be told 503.
      warn_accept_failure(listener, "the file-descriptor limit is near (RLIMIT_NOFILE minus " +
                                        std::to_string(listener.opts.spare_descriptors) +
                                        " spare); new connections are answered 503 and closed");
      co_await turn_away(std::move(sock), listener);
      continue;
    }
    boost::system::error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    auto on_exit = [](const std::exception_ptr& e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {  // the one catch-all per connection
        core_metrics::get().errors.inc();
        spdlog::error("connection failed: {}", ex.what());
      }
    };
    if (tls)
      asio::co_spawn(ioc, tls_session(std::move(sock), listener, listener.tls.load()), on_exit);
    else
      asio::co_spawn(ioc, session(std::move(sock), listener), on_exit);
  }
}

asio::awaitable<bool> shard::turn_away_with_reserve(tcp::acceptor& acceptor,
                                                    listener_state& listener) {
  if (reserve_fd_ < 0) co_return false;
  pollfd p{acceptor.native_handle(), POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) co_return true;  // nothing waiting any more
  ::close(reserve_fd_);
  reserve_fd_ = -1;
  const int fd =
      ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  const int err = errno;
  if (fd >= 0) {
    tcp::socket sock(ioc);
    boost::system::error_code ec;
    sock.assign(acceptor.local_endpoint(ec).protocol(), fd, ec);
    if (ec)
      ::close(fd);
    else
      co_await turn_away(std::move(sock), listener);
  }
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  co_return fd >= 0 || err == EAGAIN || err == EWOULDBLOCK;
}

asio::awaitable<void> shard::turn_away(tcp::socket sock, listener_state& listener) {
  using namespace asio::experimental::awaitable_operators;
  boost::system::error_code ec;
  sock.non_blocking(true, ec);
  // A TLS client cannot read an answer without a handshake, which is not worth one of the last
  // descriptors: it is closed at once.
  if (!listener.opts.tls.enabled()) {
    // Wait (briefly) for the request and read it, so that closing does not reset the connection
    // under the client's feet (a close with unread data sends RST, which can discard the answer).
    asio::steady_timer wait(ioc);
    wait.expires_after(kTurnAwayWait);
    co_await (sock.async_wait(tcp::socket::wait_read, kUseTuple) || wait.async_wait(kUseTuple));
    std::array<char, 4096> sink;
    for (int i = 0; i < 16; ++i) {
      sock.read_some(asio::buffer(sink), ec);
      if (ec) break;
    }
    std::string out;
    append_response(out, busy_response(server.limits().busy_retry_after), 11, false);
    sock.write_some(asio::buffer(out), ec);  // small: the empty send buffer takes it at once
    sock.shutdown(tcp::socket::shutdown_send, ec);
  }
  sock.close(ec);
}

asio::awaitable<void> shard::tls_session(tcp::socket sock, listener_state& listener,
                                         std::shared_ptr<tls_context> ctx) {
  tls_socket stream(std::move(sock), ctx->native());
  {
    // The handshake has the request's deadline (a client that never finishes it is cut).
    pending_request deadline;
    deadline.socket = &stream.next_layer();
    deadline.deadline = clock::now() + server.limits().header_timeout;
    pending.push_back(deadline);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kUseTuple);
    if (ec) {
      spdlog::debug("{} listener: TLS handshake failed: {}", listener.opts.name, ec.message());
      co_return;
    }
  }
  ctx.reset();
  // The protocol is decided per connection, after the handshake: ALPN "h2" (offered only where
  // HTTP/2 is on) continues as HTTP/2 on the same stream.
  if (negotiated_protocol(stream) == wire_protocol::h2) {
    boost::system::error_code ep_ec;
    auto remote = stream.next_layer().remote_endpoint(ep_ec);
    start_h2(std::move(stream), listener, h2_handoff{{}, std::nullopt, {}, remote}, false);
    co_return;
  }
  co_await session(std::move(stream), listener);
}

template <class Stream>
void shard::start_h2(Stream stream, listener_state& listener, h2_handoff handoff, bool counted) {
  auto c = std::make_shared<basic_h2_connection<Stream>>(std::move(stream), *this, listener,
                                                         server.limits(), handoff.remote, counted);
  c->start(std::move(handoff));
}

// GCC 12 reports -Wmismatched-new-delete at the end of this coroutine: a false positive on the
// frame Boost.Asio allocates and frees with its own operator new/delete pair (GCC bug 109224).
// Silenced for this function only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
template <class Stream>
asio::awaitable<void> shard::session(Stream stream, listener_state& listener) {
  constexpr bool plain = std::is_same_v<Stream, tcp::socket>;
  tcp::socket& sock = lowest_layer(stream);
  // The limits in force when the connection arrived (a reload applies to the next ones).
  const auto& opts = server.limits();
  const auto& lopts = *listener.live.load(std::memory_order_acquire);
  server.connections_.fetch_add(1);
  listener.connections.fetch_add(1);
  core_metrics::get().http_connections.inc();
  bool handed_off = false;
  struct guard {
    http_server& s;
    listener_state& l;
    bool& handed_off;
    ~guard() {
      if (!handed_off) {  // a stream keeps counting until it ends (sse_stream::finish)
        l.connections.fetch_sub(1);
        s.connections_.fetch_sub(1);
        core_metrics::get().http_connections.dec();
      }
    }
  } g{server, listener, handed_off};

  boost::system::error_code ep_ec;
  tcp::endpoint remote = sock.remote_endpoint(ep_ec);

  // Over the connection limit: the request is still read (so that closing does not reset it under
  // the client's feet), then answered 503.
  const bool refuse = listener.connections.load() > lopts.max_connections;

  if constexpr (plain) {
    boost::system::error_code nb_ec;
    sock.non_blocking(true, nb_ec);  // see write_out
  }
  beast::flat_buffer buffer;
  // Beast reads up to the free capacity (at least 512 bytes): room for several pipelined requests.
  buffer.reserve(lopts.read_buffer_bytes);
  std::string out;  // responses not yet written
  pending_request deadline;
  deadline.socket = &sock;
  // h2c on the public listener: the first bytes decide (the HTTP/2 preface, or HTTP/1.1). The
  // first read is the one the HTTP/1.1 parser would make anyway (same buffer, same size).
  const bool h2c = plain && listener.primary && opts.http2.h2c();
  if (h2c) {
    deadline.deadline = clock::now() + opts.header_timeout;
    pending.push_back(deadline);
    for (auto kind = h2_preface::partial; kind == h2_preface::partial;) {
      auto [rec, n] = co_await sock.async_read_some(
          buffer.prepare(std::max<std::size_t>(512, buffer.capacity() - buffer.size())), kUseTuple);
      if (rec) co_return;
      buffer.commit(n);
      kind = match_h2_preface({static_cast<const char*>(buffer.data().data()), buffer.size()});
      if (kind == h2_preface::yes) {
        deadline.unlink();
        handed_off = true;  // the connection keeps counting as one
        if constexpr (plain)
          start_h2(std::move(stream), listener,
                   h2_handoff{beast::buffers_to_string(buffer.data()), std::nullopt, {}, remote},
                   true);
        co_return;
      }
    }
    deadline.unlink();
  }
  // A request parsed (or begun, or found malformed) while looking ahead for requests to answer
  // together with an earlier one (see request_handler::overlaps): its turn is the next one.
  std::optional<http::request_parser<http::string_body>> ahead;
  boost::system::error_code ahead_ec;
  for (;;) {
    if (!ahead) limit_request_parser(ahead.emplace(), opts.max_header_bytes, lopts.max_body_bytes);
    auto& parser = *ahead;
    boost::system::error_code ec = std::exchange(ahead_ec, {});
    // A pipelined request already in the buffer is handled with no I/O, and no write yet.
    if (!ec && !parse_buffered(parser, buffer, ec) && !ec) {
      // About to wait for the client: first the deliveries of what it sent, if few (see
      // kSmallPass), then the responses it is waiting for.
      if (!nothing_dirty() && !pass_yielded_ && dirty_count() <= kSmallPass)
        flush_dirty(/*whole=*/true);
      if (!out.empty() && !co_await write_out(stream, out)) co_return;
      deadline.deadline = clock::now() + opts.header_timeout;
      pending.push_back(deadline);
      if (!parser.is_header_done()) {
        auto [hec, n] = co_await http::async_read_header(stream, buffer, parser, kUseTuple);
        ec = hec;
      }
      if (!ec && parser.get()[http::field::expect] == "100-continue" && !parser.is_done() &&
          !refuse) {
        // curl sends Expect for bodies over 1 KiB and would otherwise wait a second.
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(cont), kUseTuple);
        ec = wec;
      }
      if (!ec && !parser.is_done() && !refuse) {
        auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kUseTuple);
        ec = rec;
      }
      deadline.unlink();
    }
    if (ec) {
      if (disconnected(ec) || !sock.is_open()) co_return;
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
      co_await write_out(stream, out);
      co_return;
    }
    if (refuse) {
      append_response(out, busy_response(opts.busy_retry_after), parser.get().version(), false);
      co_await write_out(stream, out);
      co_return;
    }
    // Checked here, once for every listener, before any handler reads the headers.
    if (auto name = repeated_header(parser.get()); !name.empty()) {
      http_response r{http::status::bad_request,
                      "application/json",
                      {},
                      error_body("bad_request", "Repeated " + std::string(name) + " header.")};
      append_response(out, r, parser.get().version(), false);
      co_await write_out(stream, out);
      co_return;
    }

    if constexpr (plain) {
      if (h2c && asks_for_h2c(parser.get())) {
        // h2c by Upgrade: 101, then HTTP/2 on this connection; the request is its stream 1.
        std::string settings(parser.get()["HTTP2-Settings"]);
        out.append(h2_session::kSwitchingProtocols);
        if (!co_await write_out(stream, out)) co_return;
        handed_off = true;  // the connection keeps counting as one
        start_h2(std::move(stream), listener,
                 h2_handoff{beast::buffers_to_string(buffer.data()), parser.release(),
                            std::move(settings), remote},
                 true);
        co_return;
      }
    }
    http_request req{parser.release(), remote};
    ahead.reset();  // `parser` is gone from here on
    const bool keep_alive = req.message.keep_alive();
    const unsigned version = req.message.version();
    const bool overlaps = listener.handler->overlaps(req.message);
    if (overlaps && keep_alive && !stopping && buffer.size() > 0) {
      // Pipelined requests that may overlap are answered together: each waits for the bus at the
      // same time as the others, not one after the other (one Valkey round trip for the burst).
      std::vector<http_request> batch;
      batch.push_back(std::move(req));
      while (batch.size() < kMaxOverlapping && batch.back().message.keep_alive() &&
             buffer.size() > 0) {
        limit_request_parser(ahead.emplace(), opts.max_header_bytes, lopts.max_body_bytes);
        if (!parse_buffered(*ahead, buffer, ahead_ec) || ahead_ec) break;
        const auto& next = ahead->get();
        if (!listener.handler->overlaps(next) || !repeated_header(next).empty()) break;
        batch.push_back(http_request{ahead->release(), remote});
        ahead.reset();
      }
      auto outcomes = co_await handle_together(*listener.handler, batch);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& m = batch[i].message;
        const bool last = i + 1 == batch.size();
        append_response(out, std::get<http_response>(outcomes[i]), m.version(),
                        !last || (m.keep_alive() && !stopping));
      }
      if (!batch.back().message.keep_alive() || stopping) {
        co_await write_out(stream, out);
        co_return;
      }
      continue;
    }
    handler_outcome outcome;
    try {
      outcome = co_await listener.handler->handle(req);
    } catch (const std::exception& e) {
      outcome = internal_error(req, e);
    }
    if (auto* resp = std::get_if<http_response>(&outcome)) {
      // An overlapping request's answer never closes the connection: it was whole and well
      // framed, and a pipelined one answered together with it must not depend on its outcome.
      const bool again = keep_alive && !stopping && (overlaps || !closes_connection(resp->status));
      append_response(out, *resp, version, again);
      if (!again) {
        co_await write_out(stream, out);
        co_return;
      }
      continue;  // written when the next read would wait, together with any pipelined ones
    }

    auto& start = std::get<stream_start>(outcome);
    if (stopping) co_return;
    // The stream subscribes BEFORE its head and preamble go out, so a client that has seen
    // stream-open cannot miss an event published right after; the head, the preamble and anything
    // already published leave in the stream's first gather write.
    auto s = std::make_shared<basic_sse_stream<Stream>>(
        std::move(stream), *this, listener, std::move(start.channels), std::move(start.tag),
        std::move(start.relay));
    s->hold(std::move(start.lease));
    handed_off = true;
    // Responses to requests pipelined before this one go out first, in the same write.
    s->start(std::make_shared<const std::string>(out + build_stream_head(start.headers)));
    co_return;  // the coroutine frame and request buffers are released here
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

void shard::stream_opened(stream_base& s) {
  s.node.last_activity = clock::now();
  active.push_back(s.node);
}

void shard::touch(stream_base& s, clock::time_point now) {
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

void shard::mark_closing(stream_base& s) {
  s.node.close_deadline = clock::now() + server.limits().close_grace;
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

void shard::mark_dirty(std::shared_ptr<tls_sse_stream> s) {
  tls_dirty_.push_back(std::move(s));
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(ioc, [this] { flush_dirty(); });
}

void shard::mark_dirty(std::shared_ptr<h2_connection> c) {
  h2_dirty_.push_back(std::move(c));
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(ioc, [this] { flush_dirty(); });
}

bool shard::flush_h2(clock::time_point& now, clock::time_point until) {
  // One call per connection: all its streams' frames go out in its one write.
  for (std::size_t n = 1; !h2_dirty_.empty(); ++n) {
    auto c = std::move(h2_dirty_.front());
    h2_dirty_.pop_front();
    c->flush(now);
    if (n % 16 == 0 && (now = clock::now()) >= until) return true;
  }
  return false;
}

template <class Stream>
bool shard::flush_some(std::deque<std::shared_ptr<Stream>>& dirty, clock::time_point& now,
                       clock::time_point until, std::size_t& n) {
  for (; !dirty.empty(); ++n) {
    // Each flush is a write of several µs, whose kernel work evicts what the pass touched: a
    // stream's lines asked for 4 flushes ahead are cached when its turn comes, 2 ahead its queue's
    // block can be asked for from them, and the list's own entries are asked for 8 ahead.
    if (dirty.size() > 8) __builtin_prefetch(&dirty[8]);
    if (dirty.size() > 4) sse::subscriber::prefetch(dirty[4].get());
    if (dirty.size() > 2) dirty[2]->prefetch_queue();
    auto s = std::move(dirty.front());
    dirty.pop_front();
    s->flush(now);
    if (n % 16 == 0 && (now = clock::now()) >= until) return true;
  }
  return false;
}

void shard::flush_dirty(bool whole) {
  // Write until done or the turn's time is up, then yield: the reactor runs between slices, so
  // publishes and new connections are read while a large fanout is being written (no head-of-line
  // wait behind a 5,000-socket flush), and an event published meanwhile joins the same pass: a
  // stream not yet written takes it in the same gather write; one already written is re-marked and
  // appended.
  flush_posted_ = false;
  // A new pass carries what was delivered before it began: the oldest of those events' entry
  // time (herald_publish_to_write_seconds, observed when the pass ends).
  if (!pass_yielded_ && server.fanout_) {
    const auto t = server.fanout_->take_oldest_delivery(index);
    if (t != clock::time_point{}) pass_oldest_ = t;
  }
  // One clock reading per 16 writes (a stream's activity time needs no more precision).
  auto now = clock::now();
  // A small pass (at most kSmallPass streams, before the answers to the requests that made it)
  // is bounded by its count, not the clock: a stall from outside must not reorder it.
  const auto until = whole ? clock::time_point::max() : now + kFlushTurn;
  std::size_t n = 1;
  // HTTP/2 connections first: few, and each carries many streams.
  if (!h2_dirty_.empty() && flush_h2(now, until)) {
    // out of time: the HTTP/1.1 streams go first in the next turn
  } else if (tls_dirty_.empty()) {
    flush_some(dirty_, now, until, n);
  } else {
    // Both transports share the turn; whichever went second last time goes first, so a busy list
    // of one kind cannot starve the other.
    if (tls_first_) {
      if (!flush_some(tls_dirty_, now, until, n)) flush_some(dirty_, now, until, n);
    } else {
      if (!flush_some(dirty_, now, until, n)) flush_some(tls_dirty_, now, until, n);
    }
    tls_first_ = !tls_first_;
  }
  pass_yielded_ = !nothing_dirty();
  if (pass_yielded_) {
    flush_posted_ = true;
    asio::post(ioc, [this] { flush_dirty(); });
  } else if (pass_oldest_ != clock::time_point{}) {
    core_metrics::get().publish_to_write.observe_ns(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - pass_oldest_).count());
    pass_oldest_ = {};
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
  // Events delivered only to streams busy writing go out with those writes, not in a pass: with
  // no pass pending, forget their entry time, so a later pass does not count the idle time since.
  if (nothing_dirty() && !flush_posted_ && server.fanout_)
    (void)server.fanout_->take_oldest_delivery(index);
  // Requests (and TLS handshakes) that did not arrive in time: close their sockets (the read
  // completes with an error).
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
  const auto idle = server.limits().keepalive;
  std::vector<std::shared_ptr<stream_base>> due;
  for (auto& n : active) {
    if (n.last_activity + idle > now) break;
    due.push_back(n.stream->shared_from_this());
  }
  for (auto& s : due) {
    touch(*s, now);  // the keep-alive counts as activity even if the write is still pending
    s->deliver(keepalive);
  }
  // Closing streams that could not flush in time are cut.
  std::vector<std::shared_ptr<stream_base>> overdue;
  for (auto& n : closing)
    if (n.close_deadline <= now) overdue.push_back(n.stream->shared_from_this());
  for (auto& s : overdue) s->abort();
  // HTTP/2 connections: their sessions' keep-alives and close_grace, and idle connections.
  for_each_h2([&](h2_connection& c) { c.sweep(now); });
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
  std::vector<std::shared_ptr<stream_base>> all;
  for (auto& n : active) all.push_back(n.stream->shared_from_this());
  for (auto& n : closing) all.push_back(n.stream->shared_from_this());
  for (auto& s : all) f(*s);
}

template <class F>
void shard::for_each_h2(F&& f) {
  // f may close the connection (unlinking it): step past it first. The read coroutine keeps a
  // closed connection alive until it resumes, later.
  for (auto it = h2_connections.begin(); it != h2_connections.end();) {
    auto& c = *(it++)->connection;
    f(c);
  }
}

// ---------------------------------------------------------------------------------------------
// http_server

http_server::http_server(server_options opts, request_handler& handler)
    : opts_(std::move(opts)), handler_(handler) {
  if (opts_.threads == 0) opts_.threads = 1;
  if (opts_.threads > 64) opts_.threads = 64;  // fanout's shard mask is 64 bits
  snapshots_.push_back(std::make_unique<const server_options>(opts_));
  limits_.store(snapshots_.back().get());
  h2_connections_gauge();  // listed in /metrics from the start
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

asio::io_context& http_server::loop_context(std::size_t index) { return shards_.at(index)->ioc; }

void http_server::set_fanout(sse::fanout* f) { fanout_ = f; }

// The public listener's options as a listener's (its limits snapshot).
namespace {
listener_options primary_listener_options(const server_options& s) {
  listener_options o;
  o.name = s.name;
  o.max_body_bytes = s.max_body_bytes;
  o.max_connections = s.max_connections;
  o.read_buffer_bytes = 4096;  // a stream request is one GET; the buffer is freed when it starts
  o.send_buffer_bytes = s.send_buffer_bytes;
  o.spare_descriptors = s.spare_descriptors;
  o.reuse_port = s.reuse_port;
  o.tls = s.tls;
  return o;
}
}  // namespace

result<void> http_server::listen(const std::string& address, std::uint16_t port) {
  if (auto ok = opts_.validate(); !ok) return ok;
  auto r = add_listener(address, port, handler_, primary_listener_options(opts_));
  if (!r) return std::move(r).err();
  return {};
}

const listener_options* http_server::keep(listener_options o) {
  std::lock_guard lock(snapshots_mu_);
  listener_snapshots_.push_back(std::make_unique<const listener_options>(std::move(o)));
  return listener_snapshots_.back().get();
}

result<std::shared_ptr<tls_context>> http_server::load_tls(const listener_state& l,
                                                           const tls_options& files,
                                                           bool h2) const {
  auto c = tls_context::load(files, offered_protocols(l.primary && h2));
  if (!c) return make_error(errc::invalid_config, l.opts.name + " listener: " + c.err().message);
  return std::move(*c);
}

result<std::uint16_t> http_server::add_listener(const std::string& address, std::uint16_t port,
                                                request_handler& handler, listener_options opts) {
  if (auto ok = opts.tls.validate(); !ok) return ok.err();
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) return make_error(errc::invalid_config, "bad listen address '" + address + "'");
  const auto where = address + ":" + std::to_string(port);
  // The first listener is the public one (listen()): HTTP/2 per server_options::http2.
  const bool primary = listeners_.empty();
  std::shared_ptr<tls_context> tls;
  if (opts.tls.enabled()) {
    auto c = tls_context::load(opts.tls, offered_protocols(primary && limits().http2.enabled));
    if (!c) return make_error(errc::invalid_config, opts.name + " listener: " + c.err().message);
    tls = std::move(*c);
  }
  if (!opts.reuse_port && port != 0) {
    // The shards' acceptors share the port among themselves with SO_REUSEPORT, which would also
    // let them join another process's listener silently. Without reuse_port, a port someone else
    // holds is refused: a socket without SO_REUSEPORT cannot bind a port in use.
    tcp::acceptor probe(shards_.front()->ioc);
    tcp::endpoint ep(addr, port);
    probe.open(ep.protocol(), ec);
    if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) probe.bind(ep, ec);
    if (ec == asio::error::address_in_use)
      return make_error(errc::invalid_config,
                        "cannot listen on " + where +
                            ": the port is in use by another process (Herald processes share a "
                            "port only when each one has reuse_port set)");
    if (ec)
      return make_error(errc::invalid_config, "cannot listen on " + where + ": " + ec.message());
  }
  auto& l = *listeners_.emplace_back(std::make_unique<listener_state>());
  l.handler = &handler;
  l.primary = primary;
  l.live.store(keep(opts));
  l.opts = std::move(opts);
  l.tls.store(std::move(tls));
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
    // Accepted sockets inherit the listener's send buffer: no system call per connection.
    if (!ec && l.opts.send_buffer_bytes != 0)
      acc.set_option(
          asio::socket_base::send_buffer_size(static_cast<int>(l.opts.send_buffer_bytes)), ec);
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
  // The descriptor budget, from the limit in force now.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    const auto limit = static_cast<std::size_t>(rl.rlim_cur);
    for (auto& l : listeners_)
      if (l->opts.spare_descriptors > 0 && limit > l->opts.spare_descriptors)
        l->descriptor_ceiling = static_cast<int>(limit - l->opts.spare_descriptors);
    if (!listeners_.empty()) {
      const auto& primary = *listeners_.front();
      const auto in_use = open_descriptors() + shards_.size();  // + the reserve descriptors
      const auto kept = in_use + primary.opts.spare_descriptors;
      const auto room = limit > kept ? limit - kept : 0;
      if (primary.opts.max_connections > room)
        spdlog::warn(
            "{} listener: max_connections = {} exceeds the file limit: RLIMIT_NOFILE is {}, {} "
            "descriptors are in use and {} are kept spare for the internal listener, the bus and "
            "the store, so about {} connections fit; connections past that get 503. Raise the "
            "limit (ulimit -n, systemd LimitNOFILE=) or lower max_connections.",
            primary.opts.name, primary.opts.max_connections, limit, in_use,
            primary.opts.spare_descriptors, room);
    }
  }
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

result<void> http_server::reload_tls() {
  // Everything is loaded before anything is swapped: a bad file changes nothing.
  std::vector<std::pair<listener_state*, std::shared_ptr<tls_context>>> loaded;
  for (auto& l : listeners_) {
    if (!l->opts.tls.enabled()) continue;
    tls_options files;
    {
      std::lock_guard lock(tls_mu_);
      auto it = tls_files_.find(l.get());
      files = it != tls_files_.end() ? it->second : l->opts.tls;
    }
    auto c = load_tls(*l, files, limits().http2.enabled);
    if (!c) return std::move(c).err();
    loaded.emplace_back(l.get(), std::move(*c));
  }
  for (auto& [l, c] : loaded) l->tls.store(std::move(c));
  return {};
}

result<void> http_server::reload_tls(const tls_options& primary) {
  if (listeners_.empty() || listeners_.front()->opts.tls.enabled() != primary.enabled())
    return make_error(errc::invalid_config, "TLS on the " + opts_.name +
                                                " listener cannot be turned on or off without "
                                                "a restart");
  if (!primary.enabled()) return {};
  auto& l = *listeners_.front();
  auto c = load_tls(l, primary, limits().http2.enabled);
  if (!c) return std::move(c).err();
  {
    std::lock_guard lock(tls_mu_);
    tls_files_[&l] = primary;
  }
  l.tls.store(std::move(*c));
  return {};
}

result<void> http_server::reload_limits(const server_options& primary) {
  if (auto ok = primary.validate(); !ok) return ok;
  // What the running listener cannot change: its threads, its sockets' options, TLS on or off.
  auto fixed = [&](bool same, std::string_view key) -> result<void> {
    if (same) return {};
    return make_error(errc::invalid_config,
                      "server." + std::string(key) +
                          " cannot change on reload (the listener keeps its sockets and threads); "
                          "restart to change it");
  };
  // threads = 0 means one per core: compared as resolved by the caller.
  if (auto ok = fixed(primary.threads == opts_.threads || primary.threads == 0, "threads"); !ok)
    return ok;
  if (auto ok = fixed(primary.send_buffer_bytes == opts_.send_buffer_bytes, "send_buffer_bytes");
      !ok)
    return ok;
  if (auto ok = fixed(primary.spare_descriptors == opts_.spare_descriptors, "spare_descriptors");
      !ok)
    return ok;
  if (auto ok = fixed(primary.reuse_port == opts_.reuse_port, "reuse_port"); !ok) return ok;
  if (listeners_.empty()) return make_error(errc::invalid_config, "the server is not listening");
  auto& l = *listeners_.front();
  if (primary.tls.enabled() != l.opts.tls.enabled())
    return make_error(errc::invalid_config,
                      "server.tls_certificate_file: TLS on the " + opts_.name +
                          " listener cannot be turned on or off on reload; restart to change it");
  // Load first (a bad certificate changes nothing), then swap.
  std::shared_ptr<tls_context> tls;
  if (primary.tls.enabled()) {
    auto c = load_tls(l, primary.tls, primary.http2.enabled);
    if (!c) return std::move(c).err();
    tls = std::move(*c);
  }
  auto next = std::make_unique<server_options>(primary);
  // What the shards were built with stays (see `fixed` above; sweep_interval is the caller's).
  next->name = opts_.name;
  next->threads = opts_.threads;
  next->sweep_interval = opts_.sweep_interval;
  const server_options* now = nullptr;
  {
    std::lock_guard lock(snapshots_mu_);
    snapshots_.push_back(std::move(next));
    now = snapshots_.back().get();
  }
  auto lo = primary_listener_options(*now);
  lo.read_buffer_bytes = l.live.load()->read_buffer_bytes;
  l.live.store(keep(std::move(lo)), std::memory_order_release);
  limits_.store(now, std::memory_order_release);
  if (tls) {
    {
      std::lock_guard lock(tls_mu_);
      tls_files_[&l] = primary.tls;
    }
    l.tls.store(std::move(tls));
  }
  return {};
}

result<void> http_server::reload_limits(std::uint16_t port, const listener_options& opts) {
  for (auto& l : listeners_) {
    if (l->primary || l->port != port) continue;
    const auto& was = *l->live.load();
    if (opts.send_buffer_bytes != was.send_buffer_bytes || opts.reuse_port != was.reuse_port ||
        opts.spare_descriptors != was.spare_descriptors ||
        opts.tls.enabled() != l->opts.tls.enabled())
      return make_error(errc::invalid_config,
                        "the " + l->opts.name +
                            " listener's socket options and TLS cannot change on reload; restart "
                            "to change them");
    auto next = was;
    next.max_body_bytes = opts.max_body_bytes;
    next.max_connections = opts.max_connections;
    next.read_buffer_bytes = opts.read_buffer_bytes;
    l->live.store(keep(std::move(next)), std::memory_order_release);
    return {};
  }
  return make_error(errc::not_found, "no listener on port " + std::to_string(port));
}

std::size_t http_server::shutdown(std::chrono::milliseconds deadline,
                                  const std::function<std::string()>& final_bytes,
                                  const std::function<void()>& before_loops_stop) {
  if (!started_ || stopped_) return 0;
  stopped_ = true;
  const auto until = clock::now() + deadline;
  std::mutex mu;
  for (auto& s : shards_) {
    // Frames are built here (on the caller's thread) so final_bytes needs no synchronisation.
    asio::post(s->ioc, [sh = s.get(), &final_bytes, &mu] {
      sh->stop_accepting();
      sh->close_pending_requests();
      auto next_bytes = [&] {
        std::lock_guard lock(mu);
        return final_bytes();
      };
      sh->for_each_stream([&](stream_base& st) {
        st.close_after(std::make_shared<const std::string>(next_bytes()));
      });
      sh->for_each_h2([&](h2_connection& c) { c.shutdown(next_bytes); });
    });
  }
  while (streams_.load() > 0 && clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const std::size_t cut = streams_.load();
  for (auto& s : shards_) {
    asio::post(s->ioc, [sh = s.get()] {
      sh->close_pending_requests();
      sh->for_each_stream([](stream_base& st) { st.abort(); });
      sh->for_each_h2([](h2_connection& c) { c.abort(); });
      sh->sweep_timer.cancel();
    });
  }
  // Let the aborts run (they unsubscribe from the fanout), then stop the loops.
  const auto grace = clock::now() + std::chrono::milliseconds(500);
  while (streams_.load() > 0 && clock::now() < grace)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (before_loops_stop) before_loops_stop();
  for (auto& s : shards_) s->ioc.stop();
  for (auto& s : shards_)
    if (s->thread.joinable()) s->thread.join();
  return cut;
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
      sh->for_each_h2([&](h2_connection& c) { c.collect_tags(local); });
      std::lock_guard lock(g->mu);
      for (auto& t : local)
        if (g->seen.insert(t.get()).second) g->tags.push_back(std::move(t));
      if (--g->remaining == 0) g->done(std::move(g->tags));
    });
  }
}

void http_server::close_streams_if(std::function<bool(const principal*)> pred,
                                   std::string final_bytes) {
  sse::frame frame = std::make_shared<const std::string>(std::move(final_bytes));
  close_streams_with([pred = std::move(pred), frame](const principal* tag) -> sse::frame {
    return pred(tag) ? frame : nullptr;
  });
}

void http_server::close_streams_with(std::function<sse::frame(const principal*)> frame_for) {
  auto f = std::make_shared<std::function<sse::frame(const principal*)>>(std::move(frame_for));
  for (auto& s : shards_) {
    asio::post(s->ioc, [sh = s.get(), f] {
      sh->for_each_stream([&](stream_base& st) {
        if (sse::frame last = (*f)(st.tag())) st.close_after(std::move(last));
      });
      sh->for_each_h2([&](h2_connection& c) { c.close_streams_with(*f); });
    });
  }
}

}  // namespace herald::net

#include "bus/resp_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace herald::bus {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Detects a peer that vanished without a FIN/RST (host down, partition) in about 25 s, even on a
// subscriber connection that only ever reads.
void enable_keepalive(tcp::socket& s) {
  boost::system::error_code ec;
  s.set_option(tcp::no_delay(true), ec);
  s.set_option(asio::socket_base::keep_alive(true), ec);
  int idle = 10, intvl = 5, cnt = 3;
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

}  // namespace

std::shared_ptr<resp_connection> resp_connection::create(asio::io_context& ioc, options o) {
  return std::shared_ptr<resp_connection>(new resp_connection(ioc, std::move(o)));
}

resp_connection::resp_connection(asio::io_context& ioc, options o)
    : ioc_(ioc),
      opts_(std::move(o)),
      resolver_(ioc),
      socket_(ioc),
      connect_timer_(ioc),
      watchdog_(ioc) {
  if (opts_.name.empty()) opts_.name = opts_.host + ":" + std::to_string(opts_.port);
}

resp_connection::~resp_connection() = default;

void resp_connection::connect(ready_handler ready) {
  if (state_ != state::idle) {
    asio::post(ioc_, [ready = std::move(ready)] {
      ready(make_error(errc::internal, "resp_connection::connect called twice"));
    });
    return;
  }
  on_ready_ = std::move(ready);
  state_ = state::resolving;
  auto self = shared_from_this();
  connect_timer_.expires_after(opts_.connect_timeout);
  connect_timer_.async_wait([self](boost::system::error_code ec) {
    if (ec || self->state_ == state::open || self->state_ == state::closed) return;
    self->fail("no connection within " + std::to_string(self->opts_.connect_timeout.count()) +
               " ms");
  });
  resolver_.async_resolve(
      opts_.host, std::to_string(opts_.port),
      [self](boost::system::error_code ec, const tcp::resolver::results_type& results) {
        if (self->state_ == state::closed) return;
        if (ec) {
          self->fail("cannot resolve " + self->opts_.host + ": " + ec.message());
          return;
        }
        self->state_ = state::connecting;
        asio::async_connect(self->socket_, results,
                            [self](boost::system::error_code ec, const tcp::endpoint&) {
                              if (self->state_ == state::closed) return;
                              if (ec) {
                                self->fail("connect failed: " + ec.message());
                                return;
                              }
                              self->on_connected();
                            });
      });
}

void resp_connection::on_connected() {
  enable_keepalive(socket_);
  state_ = state::handshaking;
  auto self = shared_from_this();

  // AUTH and PING go first on the wire, ahead of anything queued before the connection opened.
  std::string hs;
  std::deque<pending_reply> hs_pending;
  const auto now = std::chrono::steady_clock::now();
  if (!opts_.password.empty()) {
    if (opts_.username.empty())
      hs += resp::format_command({"AUTH", opts_.password});
    else
      hs += resp::format_command({"AUTH", opts_.username, opts_.password});
    hs_pending.push_back({[self](result<resp::reply_ptr> r) {
                            if (self->state_ != state::handshaking || !r) return;
                            // The message never contains the password: only the server's text.
                            if (resp::is_error(**r))
                              self->fail("AUTH failed: " + std::string(resp::text(**r)));
                          },
                          now});
  }
  hs += resp::format_command({"PING"});
  hs_pending.push_back({[self](result<resp::reply_ptr> r) {
                          if (self->state_ != state::handshaking || !r) return;
                          if (resp::is_error(**r)) {
                            self->fail(std::string(resp::text(**r)));
                            return;
                          }
                          self->state_ = state::open;
                          self->connect_timer_.cancel();
                          if (auto ready = std::move(self->on_ready_)) ready({});
                        },
                        now});
  wbuf_.insert(0, hs);
  for (auto it = hs_pending.rbegin(); it != hs_pending.rend(); ++it)
    pending_.push_front(std::move(*it));

  start_read();
  arm_watchdog();
  flush();
}

void resp_connection::send(std::string_view command, reply_handler h) {
  if (state_ == state::closed) {
    asio::post(ioc_, [h = std::move(h), name = opts_.name] {
      h(make_error(errc::unavailable, "connection to " + name + " is closed"));
    });
    return;
  }
  wbuf_ += command;
  pending_.push_back({std::move(h), std::chrono::steady_clock::now()});
  flush();
}

void resp_connection::send_subscribe(std::string_view command) {
  if (state_ == state::closed) return;  // the owner resubscribes on the next connection
  subscribed_mode_ = true;
  wbuf_ += command;
  flush();
}

void resp_connection::flush() {
  if (write_in_flight_ || wbuf_.empty()) return;
  if (state_ != state::handshaking && state_ != state::open) return;
  writing_.swap(wbuf_);
  wbuf_.clear();
  write_in_flight_ = true;
  auto self = shared_from_this();
  asio::async_write(socket_, asio::buffer(writing_),
                    [self](boost::system::error_code ec, std::size_t) {
                      self->write_in_flight_ = false;
                      if (self->state_ == state::closed) return;
                      if (ec) {
                        self->fail("write failed: " + ec.message());
                        return;
                      }
                      // Keep the buffer for reuse unless a burst made it large.
                      if (self->writing_.capacity() > (1u << 20))
                        std::string().swap(self->writing_);
                      self->writing_.clear();
                      self->flush();
                    });
}

void resp_connection::start_read() {
  auto self = shared_from_this();
  socket_.async_read_some(asio::buffer(rbuf_), [self](boost::system::error_code ec, std::size_t n) {
    if (self->state_ == state::closed) return;
    if (ec) {
      self->fail(ec == asio::error::eof ? std::string("connection closed by the server")
                                        : "read failed: " + ec.message());
      return;
    }
    if (auto fed = self->reader_.feed(self->rbuf_.data(), n); !fed) {
      self->fail(fed.err().message);
      return;
    }
    for (;;) {
      auto r = self->reader_.next();
      if (!r) {
        self->fail(r.err().message);
        return;
      }
      if (!*r) break;
      self->dispatch(std::move(*r));
      if (self->state_ == state::closed) return;
    }
    self->start_read();
  });
}

void resp_connection::dispatch(resp::reply_ptr r) {
  if (subscribed_mode_ && resp::classify_push(*r) != resp::push_kind::none) {
    if (on_push_) on_push_(*r);
    return;
  }
  if (!pending_.empty()) {
    auto h = std::move(pending_.front().handler);
    pending_.pop_front();
    h(std::move(r));
    return;
  }
  // Nothing waiting: the error answer to a subscribe-family command, or a server notice.
  if (on_push_) on_push_(*r);
}

void resp_connection::arm_watchdog() {
  watchdog_.expires_after(std::chrono::seconds(1));
  auto self = shared_from_this();
  watchdog_.async_wait([self](boost::system::error_code ec) {
    if (ec || self->state_ == state::closed) return;
    if (!self->pending_.empty() &&
        std::chrono::steady_clock::now() - self->pending_.front().queued >
            self->opts_.command_timeout) {
      self->fail("no reply within " + std::to_string(self->opts_.command_timeout.count()) + " ms");
      return;
    }
    self->arm_watchdog();
  });
}

void resp_connection::fail(const std::string& why) {
  if (state_ == state::closed) return;
  const bool was_open = state_ == state::open;
  auto ready = std::move(on_ready_);
  auto closed = std::move(on_close_);
  teardown(why);
  if (!was_open) {
    if (ready) ready(make_error(errc::unavailable, opts_.name + ": " + why));
  } else if (closed) {
    closed(why);
  }
}

void resp_connection::close() {
  if (state_ == state::closed) return;
  on_ready_ = nullptr;
  on_close_ = nullptr;
  teardown("connection closed by Herald");
}

void resp_connection::teardown(const std::string& why) {
  state_ = state::closed;
  boost::system::error_code ec;
  resolver_.cancel();
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  connect_timer_.cancel();
  watchdog_.cancel();
  wbuf_.clear();
  // Handlers may re-enter the owner; take the queue first.
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& p : pending)
    p.handler(make_error(errc::unavailable,
                         "connection to " + opts_.name + " lost before the reply (" + why + ")"));
}

}  // namespace herald::bus

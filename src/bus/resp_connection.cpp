#include "bus/resp_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
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

template <class Handler>
void resp_connection::read_some(Handler&& h) {
  if (tls_)
    tls_->async_read_some(asio::buffer(rbuf_), std::forward<Handler>(h));
  else
    socket_.async_read_some(asio::buffer(rbuf_), std::forward<Handler>(h));
}

template <class Handler>
void resp_connection::write_all(Handler&& h) {
  if (tls_)
    asio::async_write(*tls_, asio::buffer(writing_), std::forward<Handler>(h));
  else
    asio::async_write(socket_, asio::buffer(writing_), std::forward<Handler>(h));
}

void resp_connection::on_connected() {
  enable_keepalive(socket_);
  state_ = state::handshaking;
  if (opts_.tls)
    start_tls();
  else
    begin_handshake();
}

void resp_connection::start_tls() {
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *opts_.tls);
  SSL* ssl = tls_->native_handle();
  const std::string& name = opts_.tls_server_name.empty() ? opts_.host : opts_.tls_server_name;
  boost::system::error_code not_ip;
  asio::ip::make_address(name, not_ip);
  // SNI carries host names only (RFC 6066: never an IP literal).
  if (not_ip) SSL_set_tlsext_host_name(ssl, name.c_str());
  // OpenSSL checks the name during the handshake (subjectAltName DNS or IP entries), so a mismatch
  // fails the handshake with X509_V_ERR_HOSTNAME_MISMATCH / _IP_ADDRESS_MISMATCH.
  if (opts_.tls_check_name) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (not_ip) {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    }
  }
  auto self = shared_from_this();
  tls_->async_handshake(asio::ssl::stream_base::client, [self](boost::system::error_code ec) {
    if (self->state_ == state::closed) return;
    if (ec) {
      self->fail(self->tls_failure(ec));
      return;
    }
    self->begin_handshake();
  });
}

std::string resp_connection::tls_failure(const boost::system::error_code& ec) const {
  const std::string name = opts_.tls_server_name.empty() ? opts_.host : opts_.tls_server_name;
  const long verify = SSL_get_verify_result(tls_->native_handle());
  if (verify == X509_V_OK)
    return "TLS handshake failed: " + ec.message() +
           " (is the server speaking TLS on this port? scheme \"rediss\" needs its tls-port)";
  std::string why = std::string("TLS: the server certificate was refused: ") +
                    X509_verify_cert_error_string(verify);
  if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
    why += " (it does not name \"" + name +
           "\"; set bus.tls_server_name to the name the certificate carries)";
  else if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           verify == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
           verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
    why += " (no CA in bus.tls_ca_file, or in the system trust store when it is empty, signs it)";
  return why;
}

void resp_connection::begin_handshake() {
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
  write_all([self](boost::system::error_code ec, std::size_t) {
    self->write_in_flight_ = false;
    if (self->state_ == state::closed) return;
    if (ec) {
      self->fail("write failed: " + ec.message());
      return;
    }
    // Keep the buffer for reuse unless a burst made it large.
    if (self->writing_.capacity() > (1u << 20)) std::string().swap(self->writing_);
    self->writing_.clear();
    self->flush();
  });
}

void resp_connection::start_read() {
  auto self = shared_from_this();
  read_some([self](boost::system::error_code ec, std::size_t n) {
    if (self->state_ == state::closed) return;
    if (ec) {
      // A TLS peer that closes without close_notify reads as stream_truncated.
      const bool closed = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
      std::string why =
          closed ? std::string("connection closed by the server") : "read failed: " + ec.message();
      // TLS 1.3 servers check the client certificate after the client's handshake completed, so a
      // missing or refused one shows up as an alert on the first read.
      if (ec.category() == asio::error::get_ssl_category()) {
        const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
        if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
            reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE || reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA)
          why +=
              " (the server refused this client's certificate, or wants one: set "
              "bus.tls_cert_file and bus.tls_key_file to a certificate its CA signed)";
      }
      self->fail(why);
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
    if (self->on_read_done_) {
      self->on_read_done_(n);
      if (self->state_ == state::closed) return;
    }
    self->start_read();
  });
}

void resp_connection::dispatch(resp::reply_ptr r) {
  // Subscribed: pushes, and the error answers to (S)SUBSCRIBE (the only commands there that can
  // fail), go to the push handler; a PING's pong goes to its reply handler below.
  if (subscribed_mode_ &&
      (resp::classify_push(*r) != resp::push_kind::none || resp::is_error(*r))) {
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
  on_read_done_ = nullptr;
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

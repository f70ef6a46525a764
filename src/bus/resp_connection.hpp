// One RESP2 connection to one Valkey/Redis node, driven by Boost.Asio.
//
// Why not hiredis's redisAsyncContext with an Asio adapter: hiredis 0.14.1 (Debian 12's libhiredis)
// has an event-loop-agnostic async API, but its reply dispatcher predates Redis 7 sharded pub/sub.
// It does not know SSUBSCRIBE/smessage and hits assert() -> abort() on the first smessage
// (async.c:478 "Assertion (c->flags & REDIS_SUBSCRIBED || c->flags & REDIS_MONITORING) failed",
// reproduced against redis-server 7.0.15), and it asserts on any push it does not expect. A gateway
// must not abort on a server's bytes. Boost.Redis (the Asio-native client) needs Boost >= 1.84;
// Debian 12 ships 1.81. So hiredis does what is event-loop-free (redisReader, the RESP parser:
// resp.hpp) and Asio owns the socket: async resolve/connect/read/write on the bus's own io_context
// thread.
//
// TLS ("rediss"): when options::tls is set, an Asio SSL stream (OpenSSL) runs over the TCP socket
// and the handshake (SNI, certificate chain, server name) completes before AUTH/PING; everything
// else is the same byte stream.
//
// Replies are matched to commands in order (a FIFO of handlers), so any number of commands can be
// in flight (pipelining). A connection that sent a subscribe-family command routes pub/sub pushes
// to the push handler instead. Invariant the owner keeps: after the first subscribe-family command,
// only subscribe-family commands and PING are sent on that connection (RESP2 allows little else).
// An error reply on such a connection is the answer to a (S)SUBSCRIBE and goes to the push handler;
// a PING's reply (a "pong" array, or +PONG) goes to its reply handler in order. The owner uses
// that PING as a fence: its reply comes after every message Valkey queued to this connection
// before it executed the PING.
//
// Ownership and threads: created and used only on one io_context thread (redis_bus's bus thread);
// no locks. Held by shared_ptr; pending async operations keep it alive until they complete.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "bus/resp.hpp"
#include "core/result.hpp"

namespace herald::bus {

class resp_connection : public std::enable_shared_from_this<resp_connection> {
 public:
  struct options {
    std::string host;
    std::uint16_t port = 6379;
    std::string username;  // AUTH <username> <password>; empty = AUTH <password> (default user)
    std::string password;  // empty = no AUTH
    std::chrono::milliseconds connect_timeout{3000};   // resolve + connect + AUTH + PING
    std::chrono::milliseconds command_timeout{10000};  // oldest unanswered command; then drop
    std::string name;  // for messages, e.g. "publisher 127.0.0.1:6379"
    // TLS: set = handshake with this context (shared by the bus's connections) after connecting.
    std::shared_ptr<boost::asio::ssl::context> tls;
    std::string tls_server_name;  // SNI and the name the certificate must carry; empty = host
    bool tls_check_name = true;   // false only with bus.tls_insecure
  };
  // Either a reply (which may be an ERROR reply) or errc::unavailable when the connection closed
  // before the reply arrived.
  using reply_handler = std::function<void(result<resp::reply_ptr>)>;
  using push_handler = std::function<void(const redisReply&)>;
  using close_handler = std::function<void(const std::string& why)>;
  using ready_handler = std::function<void(result<void>)>;
  using read_done_handler = std::function<void(std::size_t bytes)>;

  static std::shared_ptr<resp_connection> create(boost::asio::io_context& ioc, options o);
  ~resp_connection();

  void on_push(push_handler h) { on_push_ = std::move(h); }
  // Called once if an open connection is lost (not after close(), not if connect() failed).
  void on_close(close_handler h) { on_close_ = std::move(h); }
  // Called after the replies of one socket read were all dispatched (with the bytes read), so the
  // owner can hand what it collected from them on as one batch.
  void on_read_done(read_done_handler h) { on_read_done_ = std::move(h); }

  // Resolves, connects, sends AUTH (if a password is set) and PING; `ready` gets ok once PING
  // answered, or the error (wrong password, NOAUTH, refused, timeout). Call once.
  void connect(ready_handler ready);

  // Queues an already formatted command (resp::format_command). Commands sent before the connection
  // is open go out after the handshake.
  void send(std::string_view command, reply_handler h);
  // Queues a subscribe-family command: no reply handler; confirmations arrive as pushes.
  void send_subscribe(std::string_view command);

  // Closes now. Pending reply handlers get errc::unavailable; on_close is not called. Idempotent.
  void close();

  bool is_open() const noexcept { return state_ == state::open; }
  std::size_t pending() const noexcept { return pending_.size(); }
  const options& opts() const noexcept { return opts_; }

 private:
  enum class state { idle, resolving, connecting, handshaking, open, closed };
  struct pending_reply {
    reply_handler handler;
    std::chrono::steady_clock::time_point queued;
  };

  resp_connection(boost::asio::io_context& ioc, options o);
  void on_connected();
  void start_tls();
  void begin_handshake();
  std::string tls_failure(const boost::system::error_code& ec) const;
  template <class Handler>
  void read_some(Handler&& h);
  template <class Handler>
  void write_all(Handler&& h);
  void fail(const std::string& why);
  void teardown(const std::string& why);
  void start_read();
  void flush();
  void dispatch(resp::reply_ptr r);
  void arm_watchdog();

  boost::asio::io_context& ioc_;
  options opts_;
  state state_ = state::idle;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  // TLS layer over socket_ (created per connection when opts_.tls is set). Never reset while the
  // connection lives: pending operations refer to it.
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer watchdog_;
  resp::reader reader_;
  // One read takes whatever Valkey has written, up to this: many messages per read (and per
  // batch handed on by the owner) under load.
  std::array<char, std::size_t{64} * 1024> rbuf_{};
  std::string wbuf_;     // commands not yet handed to the socket
  std::string writing_;  // the buffer of the write in flight
  bool write_in_flight_ = false;
  bool subscribed_mode_ = false;
  std::deque<pending_reply> pending_;
  push_handler on_push_;
  close_handler on_close_;
  ready_handler on_ready_;
  read_done_handler on_read_done_;
};

}  // namespace herald::bus

// Test support (tests only): a blocking loopback client that reads raw bytes, so tests can assert
// on the exact bytes on the wire, and a bounded poll for conditions other threads make true.
#pragma once

#include <poll.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>
#include <thread>

namespace herald::net::testing {

class test_client {
 public:
  // `rcvbuf`, if set, is applied before connect so the advertised window stays small.
  explicit test_client(std::uint16_t port, int rcvbuf = 0) {
    sock.open(boost::asio::ip::tcp::v4());
    if (rcvbuf) sock.set_option(boost::asio::socket_base::receive_buffer_size(rcvbuf));
    sock.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  }
  void send(const std::string& s) { boost::asio::write(sock, boost::asio::buffer(s)); }

  // Each reads until its condition holds or the connection ends; returns everything buffered.
  std::string read_at_least(std::size_t n) {
    return read_while([&] { return buf.size() < n; });
  }
  std::string read_until(const std::string& needle) {
    return read_while([&] { return buf.find(needle) == std::string::npos; });
  }
  std::string read_to_eof() {
    return read_while([] { return true; });
  }
  // Consumes and returns the next complete SSE block (up to and including "\n\n").
  std::string next_block() {
    read_until("\n\n");
    auto pos = buf.find("\n\n");
    if (pos == std::string::npos) return {};
    std::string b = buf.substr(0, pos + 2);
    buf.erase(0, pos + 2);
    return b;
  }

  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket sock{ioc};
  std::string buf;
  bool eof = false;  // the server closed the connection (as opposed to a read timing out)

  // Reads while `more()` holds, until the connection ends or 15 s pass with nothing to read.
  template <class Cond>
  std::string read_while(Cond more) {
    boost::system::error_code ec;
    while (more() && !ec) {
      // A server that stops sending fails the test (the read returns what it has) instead of
      // hanging it. (SO_RCVTIMEO would not do: Asio's blocking read polls again on EAGAIN.)
      pollfd p{sock.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 15000) <= 0) break;
      char tmp[65536];
      std::size_t got = sock.read_some(boost::asio::buffer(tmp), ec);
      buf.append(tmp, got);
      if (ec) eof = true;
    }
    return buf;
  }
};

// Polls `f` every 5 ms until it is true or `limit` passes; returns its last value.
template <class F>
bool eventually(F f, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return f();
}

}  // namespace herald::net::testing

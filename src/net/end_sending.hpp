// Ends the sending side of a connection that is done, for SSE streams and HTTP/2 connections alike.
// Header-only, stateless: it runs on the thread of the connection that calls it.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <utility>

namespace herald::net {

// Over TLS: a close_notify, so the client can tell the end of the stream from a cut connection. Its
// reply is not waited for (the peer's close_notify is marked as received): the shutdown completes
// once ours is written, within close_grace like any write of a closing connection. Over TCP: a FIN.
// `closed` runs once that is done: at once over TCP, from the TLS shutdown's completion otherwise.
template <bool Tls, class Socket, class Closed>
void end_sending(Socket& socket, Closed closed) {
  if constexpr (Tls) {
    ::SSL_set_shutdown(socket.native_handle(), SSL_RECEIVED_SHUTDOWN);
    socket.async_shutdown(
        [closed = std::move(closed)](boost::system::error_code) mutable { closed(); });
  } else {
    boost::system::error_code ignored;
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    closed();
  }
}

}  // namespace herald::net

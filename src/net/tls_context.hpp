// tls_context: one loaded certificate and key for a TLS listener (an OpenSSL SSL_CTX through Asio
// SSL), with the ALPN protocols it offers. Immutable once loaded: a reload builds a new one and the
// listener swaps the pointer, so a handshake in progress keeps the one it started with.
//
// The protocol a connection speaks is decided after its handshake (negotiated_protocol): today
// HTTP/1.1 only; HTTP/2 joins by offering "h2" here and adding its session where the server
// switches on the result (shard::tls_session).
//
// Ownership: shared by the listener (the current one) and the sessions handshaking with it; built
// on any thread, read by the shards.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "net/http_types.hpp"

namespace herald::net {

struct tls_options;

using tls_socket = boost::asio::ssl::stream<tcp::socket>;

enum class wire_protocol { http1, h2 };

class tls_context {
 public:
  // Loads the certificate chain and key (refused if either is unreadable or they do not match),
  // TLS 1.2 or later, offering `alpn` in order of preference (e.g. {"http/1.1"}).
  static result<std::shared_ptr<tls_context>> load(const tls_options& opts,
                                                   const std::vector<std::string>& alpn);

  boost::asio::ssl::context& native() { return ctx_; }

  explicit tls_context(boost::asio::ssl::context ctx) : ctx_(std::move(ctx)) {}

 private:
  boost::asio::ssl::context ctx_;
  std::string alpn_wire_;  // the offered protocols in ALPN wire format (length-prefixed)
  static int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                         const unsigned char* in, unsigned int inlen, void* arg);
};

// What the client and the server agreed on with ALPN (HTTP/1.1 when ALPN was not used).
wire_protocol negotiated_protocol(tls_socket& s);

}  // namespace herald::net

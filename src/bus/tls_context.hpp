// The OpenSSL client context every TLS ("rediss") connection of one bus shares: protocol floor,
// trust anchors, optional client certificate. Built once when the bus is built, so a wrong path or
// a key that does not match its certificate is a start-up error, not a reconnect loop. The
// per-connection parts (SNI and the name check) are set by resp_connection on each handshake.
//
// Thread-safety: immutable after make_tls_context returns; connections only read it.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "bus/bus_config.hpp"
#include "core/result.hpp"

namespace herald::bus {

// TLS 1.2 or later; verify_peer against o.ca_file (or OpenSSL's default paths: the system trust
// store) unless o.insecure; o.cert_file/o.key_file as the client certificate when set. Errors are
// errc::invalid_config naming the option and the file, with OpenSSL's reason.
result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const bus_tls_options& o);

}  // namespace herald::bus

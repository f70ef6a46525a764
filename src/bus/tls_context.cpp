#include "bus/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>

namespace herald::bus {
namespace asio = boost::asio;

namespace {

// The most specific OpenSSL reason queued by the last failed call, and an empty queue after it.
std::string openssl_reason() {
  unsigned long code = 0, last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return "unknown OpenSSL error";
  const char* r = ERR_reason_error_string(last);
  return r ? r : "OpenSSL error " + std::to_string(last);
}

error tls_error(std::string what) { return make_error(errc::invalid_config, std::move(what)); }

}  // namespace

result<std::shared_ptr<asio::ssl::context>> make_tls_context(const bus_tls_options& o) {
  if (auto ok = o.validate(); !ok) return std::move(ok).err();
  ERR_clear_error();
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
    return tls_error("bus TLS: cannot set TLS 1.2 as the minimum version: " + openssl_reason());
  boost::system::error_code ec;
  if (o.insecure) {
    ctx->set_verify_mode(asio::ssl::verify_none, ec);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_peer, ec);
    if (o.ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(native) != 1)
        return tls_error("bus TLS: cannot load the system trust store: " + openssl_reason());
    } else if (SSL_CTX_load_verify_locations(native, o.ca_file.c_str(), nullptr) != 1) {
      return tls_error("bus.tls_ca_file \"" + o.ca_file +
                       "\" cannot be loaded as PEM CA certificates: " + openssl_reason());
    }
  }
  if (ec) return tls_error("bus TLS: " + ec.message());
  if (!o.cert_file.empty()) {
    // An encrypted key must fail here, not make OpenSSL prompt for a passphrase on the terminal.
    SSL_CTX_set_default_passwd_cb(native, [](char*, int, int, void*) { return 0; });
    if (SSL_CTX_use_certificate_chain_file(native, o.cert_file.c_str()) != 1)
      return tls_error("bus.tls_cert_file \"" + o.cert_file +
                       "\" cannot be loaded as a PEM certificate: " + openssl_reason());
    if (SSL_CTX_use_PrivateKey_file(native, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        return tls_error("bus.tls_key_file \"" + o.key_file +
                         "\" does not match bus.tls_cert_file \"" + o.cert_file + "\"");
      }
      return tls_error(
          "bus.tls_key_file \"" + o.key_file +
          "\" cannot be loaded as an unencrypted PEM private key: " + openssl_reason());
    }
    if (SSL_CTX_check_private_key(native) != 1)
      return tls_error("bus.tls_key_file \"" + o.key_file +
                       "\" does not match bus.tls_cert_file \"" + o.cert_file + "\"");
  }
  return ctx;
}

}  // namespace herald::bus

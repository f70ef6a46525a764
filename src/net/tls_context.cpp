#include "net/tls_context.hpp"

#include <openssl/ssl.h>

#include "net/server.hpp"

namespace herald::net {

namespace ssl = boost::asio::ssl;

namespace {
std::string tls_error(const std::string& what, const boost::system::error_code& ec) {
  return what + ": " + ec.message();
}
}  // namespace

result<void> tls_options::validate() const {
  if (certificate_file.empty() != private_key_file.empty())
    return make_error(errc::invalid_config,
                      "TLS needs both a certificate file and a private key file");
  return {};
}

result<std::shared_ptr<tls_context>> tls_context::load(const tls_options& opts,
                                                       const std::vector<std::string>& alpn) {
  if (auto ok = opts.validate(); !ok) return ok.err();
  boost::system::error_code ec;
  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                  ec);
  if (ec) return make_error(errc::invalid_config, tls_error("TLS context", ec));
  // No renegotiation (a client could make the server redo handshakes), and OpenSSL's read/write
  // buffers are freed while a connection is idle (most SSE streams are, most of the time).
  ::SSL_CTX_set_options(ctx.native_handle(), SSL_OP_NO_RENEGOTIATION);
  ::SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  ctx.use_certificate_chain_file(opts.certificate_file, ec);
  if (ec)
    return make_error(errc::invalid_config,
                      tls_error("cannot load TLS certificate '" + opts.certificate_file + "'", ec));
  ctx.use_private_key_file(opts.private_key_file, ssl::context::pem, ec);
  if (ec)
    return make_error(errc::invalid_config,
                      tls_error("cannot load TLS private key '" + opts.private_key_file + "'", ec));
  if (::SSL_CTX_check_private_key(ctx.native_handle()) != 1)
    return make_error(errc::invalid_config, "TLS private key '" + opts.private_key_file +
                                                "' does not match the certificate '" +
                                                opts.certificate_file + "'");
  auto c = std::make_shared<tls_context>(std::move(ctx));
  for (const auto& p : alpn) {
    c->alpn_wire_ += static_cast<char>(p.size());
    c->alpn_wire_ += p;
  }
  // The callback's argument is the context itself: every handshake holds a reference to it.
  ::SSL_CTX_set_alpn_select_cb(c->ctx_.native_handle(), &tls_context::select_alpn, c.get());
  return c;
}

int tls_context::select_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                             const unsigned char* in, unsigned int inlen, void* arg) {
  const auto& offered = static_cast<const tls_context*>(arg)->alpn_wire_;
  unsigned char* chosen = nullptr;
  // The server's order of preference wins (its list comes first).
  if (::SSL_select_next_proto(
          &chosen, outlen, reinterpret_cast<const unsigned char*>(offered.data()),
          static_cast<unsigned>(offered.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // RFC 7301: no protocol in common
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

wire_protocol negotiated_protocol(tls_socket& s) {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  ::SSL_get0_alpn_selected(s.native_handle(), &p, &len);
  if (len == 2 && p[0] == 'h' && p[1] == '2') return wire_protocol::h2;
  return wire_protocol::http1;
}

}  // namespace herald::net

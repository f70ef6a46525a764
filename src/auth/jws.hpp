// JWS signature primitives on OpenSSL EVP for the four supported algorithms (RFC 7518 section 3,
// RFC 8037). Used by token_verifier/token_minter; public so tests can run the RFC vectors on them.
// Thread-safety: a jws_key is immutable after construction; sign()/verify() may run concurrently.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "auth/auth_config.hpp"

namespace herald::auth {

class jws_key {
 public:
  // Load a verification key: PEM public key (SPKI, PKCS#1 RSA, or an X.509 certificate) for
  // RS256/ES256/EdDSA, the raw shared secret for HS256. Literal "\n" sequences in a one-line PEM
  // are accepted (keys passed through environment variables). Throws std::runtime_error if the key
  // does not fit the algorithm (RSA < 2048 bits, a curve other than P-256, an HS256 secret under 32
  // bytes or one that is a PEM document). The message never contains key material.
  static jws_key for_verify(jwt_algorithm alg, std::string_view key);
  // Load a signing key: PEM private key (PKCS#8 or traditional, unencrypted), or the HS256 secret.
  static jws_key for_sign(jwt_algorithm alg, std::string_view key);

  jwt_algorithm algorithm() const { return alg_; }
  // `signature` is the decoded JWS signature (raw r||s for ES256). Never throws.
  bool verify(std::string_view signing_input, std::string_view signature) const noexcept;
  // Returns the JWS signature bytes. Throws std::runtime_error on an OpenSSL failure or if this key
  // was loaded for verification only (asymmetric public key).
  std::string sign(std::string_view signing_input) const;

 private:
  struct state;
  static std::shared_ptr<const state> make_hmac_state(std::string_view secret);
  explicit jws_key(std::shared_ptr<const state> s, jwt_algorithm alg)
      : s_(std::move(s)), alg_(alg) {}
  std::shared_ptr<const state> s_;
  jwt_algorithm alg_;
};

}  // namespace herald::auth

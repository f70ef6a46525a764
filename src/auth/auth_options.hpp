// Rules of the authentication options (auth_config.hpp): algorithm names, key and secret checks,
// and the checks across fields. config/ maps the [auth] keys onto auth_config and calls these; they
// are pure and need neither OpenSSL nor the store (library herald_auth_options).
//
// Messages follow config/'s convention: a value check's message continues "<key> ..." (it never
// echoes a secret), and validate()'s messages start with the key they are about.
#pragma once

#include <cstddef>
#include <string_view>

#include "auth/auth_config.hpp"
#include "core/result.hpp"

namespace herald::auth {

inline constexpr std::size_t kMinHs256SecretBytes = 32;  // RFC 7518 §3.2: key >= hash output size

std::string_view to_string(jwt_algorithm a);
// "RS256", "ES256", "EdDSA", "HS256", case-insensitive (a token's `alg` is still compared exactly).
result<jwt_algorithm> parse_jwt_algorithm(std::string_view s);

// HS256: one shared secret both verifies and signs; the other algorithms take PEM keys.
inline bool uses_shared_secret(const jwt_config& c) { return c.algorithm == jwt_algorithm::hs256; }

// A PEM key from an environment variable: literal "\n" sequences become newlines, as the Prowler
// API reads DJANGO_TOKEN_VERIFYING_KEY (a PEM never holds a backslash, so nothing else changes).
std::string pem_from_env(std::string text);

// The PEM public key that verifies tokens. A private key is refused: it would deploy the signing
// secret to every gateway.
result<void> check_verify_key(std::string_view pem);
// The PEM private key `herald token` signs with.
result<void> check_signing_key(std::string_view pem);
// The HS256 shared secret: at least kMinHs256SecretBytes bytes.
result<void> check_hs256_secret(std::string_view secret);

// Fills what follows from other fields: with HS256 the secret also signs (`herald token`).
void complete(auth_config& c);
// Across fields: a verification key (or HS256 secret) is required; claim names are not empty.
result<void> validate(const auth_config& c);

}  // namespace herald::auth

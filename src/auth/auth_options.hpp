// Rules of the authentication options (auth_config.hpp): algorithm names, key and secret checks,
// and the checks across fields. config/ maps the [auth] keys onto auth_config and calls these; they
// are pure and need neither OpenSSL nor the store (library herald_auth_options).
//
// Messages follow config/'s convention: a value check's message continues "<key> ..." (it never
// echoes a secret), and validate()'s messages start with the key they are about.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
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

// The Prowler API's defaults (its settings: SIMPLE_JWT["AUDIENCE"] / ["ISSUER"]).
inline constexpr std::string_view kProwlerAudience = "https://api.prowler.com";
inline constexpr std::string_view kProwlerIssuer = "https://api.prowler.com";

// Reads one environment variable (nullopt when unset). Injected so tests need no setenv.
using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;
env_lookup process_env();  // std::getenv

// Profile "prowler" only (a no-op for "generic"): fills what the configuration left empty from the
// Prowler API's own environment variables, and fixes the rules its tokens follow:
//   jwt.verify_key  <- DJANGO_TOKEN_VERIFYING_KEY (literal "\n" made newlines, as the API does)
//   jwt.audience    <- DJANGO_JWT_AUDIENCE, else "https://api.prowler.com"
//   jwt.issuer      <- DJANGO_JWT_ISSUER,   else "https://api.prowler.com"
//   fernet_key      <- DJANGO_SECRETS_ENCRYPTION_KEY
//   jwt.required_type = "access", jwt.require_jti = true, jwt.password_stamp_claim =
//   "hash_password". Values set in the configuration win over the environment. Call before
//   validate().
void apply_prowler_env(auth_config& cfg, const env_lookup& env = process_env());

std::string_view to_string(auth_profile p);
result<auth_profile> parse_auth_profile(std::string_view s);  // "generic" | "prowler"

// Fills what follows from other fields: with HS256 the secret also signs (`herald token`); with the
// prowler profile, apply_prowler_env() from the process environment.
void complete(auth_config& c);
// Across fields: a verification key (or HS256 secret) is required; claim names are not empty;
// leeway and cache in range. Profile "prowler": algorithm RS256, non-empty audience and issuer,
// the rules apply_prowler_env() fixes, check_user_active on, and (when API keys are on) a Fernet
// key. A Fernet key with the generic profile is refused. Keys are loaded by check_keys().
result<void> validate(const auth_config& c);

}  // namespace herald::auth

// Authentication settings (filled by config/, consumed by token_verifier and authenticator). Their
// rules: auth_options.hpp (pure) and check_keys() below (needs OpenSSL).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace herald::auth {

// Pinned by configuration; the token's own `alg` header must equal it or the token is refused.
enum class jwt_algorithm { rs256, es256, eddsa, hs256 };

// Which backend's credential rules apply.
//   generic: the JWT settings below as configured, and Herald's own `hk_` API keys in the store.
//   prowler: the Prowler API's rules (djangorestframework-simplejwt 5.5.1 access tokens with its
//            claim set, drf-simple-apikey `pk_` Fernet keys read from the API's own api_keys
//            table); see apply_prowler_env() for what it fixes.
enum class auth_profile { generic, prowler };

struct jwt_config {
  jwt_algorithm algorithm = jwt_algorithm::rs256;
  // Verification key: PEM public key for RS256/ES256/EdDSA, the shared secret for HS256.
  std::string verify_key;
  // Signing key for `herald token` / the demo (PEM private key, or the HS256 secret). Optional.
  std::string signing_key;
  std::string audience;             // required `aud` value; empty disables the check
  std::string issuer;               // required `iss` value; empty disables the check
  std::int64_t leeway_seconds = 0;  // clock skew allowed on exp/nbf/iat, seconds
  std::string user_claim = "sub";
  std::string tenant_claim = "tenant_id";
  std::string required_type;  // e.g. "access" (the `typ` claim); empty disables
  bool require_jti = false;   // the `jti` claim must be present ("Token has no id")
  // Claim copied into principal::password_stamp (the Prowler API's "hash_password"); empty = none.
  std::string password_stamp_claim;
  std::size_t cache_entries =
      100000;  // verified-token cache (by token hash, until exp); 0 disables
};

struct auth_config {
  auth_profile profile = auth_profile::generic;
  jwt_config jwt;
  bool api_keys_enabled = true;   // `Authorization: Api-Key <key>` (hk_ keys, or pk_ when prowler)
  bool check_user_active = true;  // the user row must exist and be active (store lookup)
  // The Prowler API's DJANGO_SECRETS_ENCRYPTION_KEY: a Fernet key (32 bytes, base64 in either
  // alphabet) that decrypts its `pk_` API keys. Secret. Used only by the prowler profile.
  std::string fernet_key;
  // Live re-check: a stream opened with a JWT ends (stream-error "token-expired") once the token's
  // `exp` has passed. false keeps such streams open until the client leaves.
  bool end_streams_at_token_expiry = true;
};

// The rules over the whole struct are in auth_options.hpp (pure: config/ links them). What needs
// OpenSSL is here: validate() first, then the PEM keys load for their algorithm and, with the
// prowler profile and API keys on, the Fernet key decodes to 32 bytes. gateway::create and
// `herald check-config` call it, so a bad key is a configuration error, not a start-up throw.
result<void> check_keys(const auth_config& cfg);

}  // namespace herald::auth

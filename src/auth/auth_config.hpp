// Authentication settings (filled by config/, consumed by token_verifier and authenticator).
#pragma once

#include <cstdint>
#include <string>

namespace herald::auth {

// Pinned by configuration; the token's own `alg` header must equal it or the token is refused.
enum class jwt_algorithm { rs256, es256, eddsa, hs256 };

struct jwt_config {
  jwt_algorithm algorithm = jwt_algorithm::rs256;
  // Verification key: PEM public key for RS256/ES256/EdDSA, the shared secret for HS256.
  std::string verify_key;
  // Signing key for `herald token` / the demo (PEM private key, or the HS256 secret). Optional.
  std::string signing_key;
  std::string audience;             // required `aud` value; empty disables the check
  std::string issuer;               // required `iss` value; empty disables the check
  std::int64_t leeway_seconds = 0;  // clock skew allowed on exp/nbf/iat
  std::string user_claim = "sub";
  std::string tenant_claim = "tenant_id";
  std::string required_type;  // e.g. "access" (Prowler's `typ` claim); empty disables
  std::size_t cache_entries =
      100000;  // verified-token cache (by token hash, until exp); 0 disables
};

struct auth_config {
  jwt_config jwt;
  bool api_keys_enabled = true;   // `Authorization: Api-Key <key>` against the store's api_keys
  bool check_user_active = true;  // the user row must exist and be active (store lookup)
};

}  // namespace herald::auth

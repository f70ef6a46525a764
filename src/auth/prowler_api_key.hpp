// The Prowler API's API keys: `Authorization: Api-Key pk_XXXXXXXX.<Fernet token>`, checked as its
// TenantAPIKeyAuthentication (over drf-simple-apikey 2.2.1) does, in the same order and with the
// same messages (each a 401):
//   1. split at the first '.'                       -> "Invalid API Key."
//   2. Fernet-decrypt the rest (no TTL), JSON object with `_pk` a UUID string and `_exp` a finite
//      number that is not a boolean                  -> "Invalid API Key."
//   3. `_exp` < now                                  -> "API Key has already expired."
//   4. the api_keys row by `_pk` (store)             -> none: "No entity matching this api key."
//   5. revoked                                       -> "This API Key has been revoked."
//   6. entity_id NULL (its user was deleted)         -> "No entity matching this api key."
//   7. blacklisted_ips contains the client address   -> "Access denied from blacklisted IP."
//   8. whitelisted_ips non-empty and lacks it        -> "Access restricted to specific IP
//   addresses."
//   9. the row's prefix differs from the key's       -> "Invalid API Key."
// The secret is not stored anywhere: the Fernet MAC is what proves the key. The IP lists match
// exact strings against the client address (drf-simple-apikey's `client_ip in list`: no CIDR, no
// normalisation of the entries). Herald never writes to the API's table: the API's own update of
// `last_used_at`, and its revocation of a key whose user is gone, are not repeated here.
// Pure functions; the store lookup (step 4) is the caller's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/fernet.hpp"
#include "core/principal.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace herald::auth {

struct prowler_key_claims {
  std::string prefix;     // the part before the first '.' ("pk_" + 8 characters)
  std::string key_id;     // `_pk`, canonical lower-case UUID
  double expires_at = 0;  // `_exp`, unix seconds (a float in the API)
};

// Steps 1-3.
result<prowler_key_claims> open_prowler_api_key(std::string_view key, const fernet_key& fernet,
                                                std::int64_t now_unix);

// Steps 4-9, given the row found by claims.key_id (nullopt: none). On success the principal has
// kind api_key, user = entity_id, tenant = the row's tenant_id, api_key_id = the row's id, and
// expires_at such that `expires_at <= now` exactly when `_exp < now` (the API's comparison).
result<principal> admit_prowler_api_key(const prowler_key_claims& claims,
                                        const std::optional<store::prowler_api_key_record>& row,
                                        std::string_view client_address);

// The address the API compares: REMOTE_ADDR is the peer's IP as text; an IPv4 peer reached over a
// dual-stack socket ("::ffff:203.0.113.7") is given in its IPv4 form.
std::string_view client_address(std::string_view peer_address);

// Unix second at which a key with this `_exp` counts as expired (`_exp < now`), clamped to int64.
std::int64_t prowler_key_expiry_second(double exp);

}  // namespace herald::auth

// SSEAuthentication, in C++: which credential a request carries and who it proves the caller to be.
//
// Precedence (the Prowler API's SSEAuthentication + CombinedJWTOrAPIKeyAuthentication):
//   1. An Authorization header, if present, always wins: `Bearer <jwt>` or `Api-Key <key>`; any
//   other
//      scheme (or an empty value) is a 401.
//   2. Only with no Authorization header: `?access_token=<jwt>`. JWT only: an API key there is a
//   401.
//      An invalid or expired query token is a 401, never anonymous.
//   3. Neither: 401 "Authentication credentials were not provided."
//
// For API keys the principal's `api_key_id` is the key's prefix ("hk_XXXXXXXX"): the store looks
// keys up by prefix, the prefix is unique and safe to log, and recheck() needs nothing else.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "auth/auth_config.hpp"
#include "auth/token_verifier.hpp"
#include "core/principal.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace herald::auth {

struct request_credentials {
  std::optional<std::string_view> authorization;  // raw header value, if the header is present
  std::optional<std::string_view> access_token;   // decoded ?access_token= value, if present
};

struct credential {
  credential_kind kind = credential_kind::none;
  std::string_view value;  // the token or key, a view into request_credentials
  bool from_query = false;
};

// Pure precedence logic (no verification): which credential to verify, or the 401 to answer.
result<credential> select_credential(const request_credentials& in);

// Verifies the selected credential. Thread-safe; BLOCKING (API keys and user checks hit the store),
// so app/ calls it on the database pool.
class authenticator {
 public:
  authenticator(const auth_config& cfg, const token_verifier& verifier, store::store& db);
  result<principal> authenticate(const request_credentials& in, std::int64_t now_unix) const;
  // Re-check for long-lived streams: user still active, API key not revoked/expired.
  result<void> recheck(const principal& p, std::int64_t now_unix) const;

 private:
  result<principal> verify_api_key(std::string_view key, std::int64_t now_unix) const;
  const auth_config& cfg_;
  const token_verifier& verifier_;
  store::store& db_;
};

}  // namespace herald::auth

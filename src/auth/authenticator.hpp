// SSEAuthentication, in C++: which credential a request carries and who it proves the caller to be.
//
// Precedence (the Prowler API's SSEAuthentication + CombinedJWTOrAPIKeyAuthentication):
//   1. A non-empty Authorization header always wins: `Bearer <jwt>` or `Api-Key <key>`; any other
//      scheme is a 401.
//   2. Without one (absent, or empty as `if auth_header:` treats it): `?access_token=<jwt>`. JWT
//      only: an API key there is a 401. An invalid or expired query token is a 401, never
//      anonymous.
//   3. Neither: 401 "Authentication credentials were not provided."
//
// Credentials by profile (auth_config::profile):
//   generic: JWTs as jwt_config says; API keys are Herald's `hk_` keys (store::find_api_key). The
//            principal's api_key_id is the key's prefix ("hk_XXXXXXXX").
//   prowler: the Prowler API's access tokens (see auth_config.hpp) and its `pk_` Fernet keys (see
//            prowler_api_key.hpp; store::find_prowler_api_key). api_key_id is the api_keys row id.
//
// The user-row rules (check_user_row) are separate from credential verification so that app/ can
// fetch the user row together with the membership and the endpoint's lookup in one
// store::connect_check, and apply the same rules again at the live re-check (recheck_caller).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_config.hpp"
#include "auth/fernet.hpp"
#include "auth/token_verifier.hpp"
#include "core/principal.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace herald::auth {

struct request_credentials {
  std::optional<std::string_view> authorization;  // raw header value, if the header is present
  std::optional<std::string_view> access_token;   // decoded ?access_token= value, if present
  // The client's IP address as text, as the Prowler API sees REMOTE_ADDR ("203.0.113.7",
  // "2001:db8::1"; "::ffff:203.0.113.7" is taken as "203.0.113.7"). Used only by the prowler
  // profile's per-key IP lists; empty = unknown (a key with an allow-list is then refused).
  std::string_view peer_address{};
};

struct credential {
  credential_kind kind = credential_kind::none;
  std::string_view value;  // the token or key, a view into request_credentials
  bool from_query = false;
};

// Pure precedence logic (no verification): which credential to verify, or the 401 to answer.
result<credential> select_credential(const request_credentials& in);

// Pure: the user-row rules, given the row of the principal's user (nullptr: no such user). In the
// Prowler API's order and words (djangorestframework-simplejwt JWTAuthentication.get_user):
//   no row -> "User not found"; inactive -> "User is inactive"; for a JWT when
//   cfg.jwt.password_stamp_claim is set, the token's stamp must equal the upper-case hex MD5 of
//   the row's password (constant-time) -> "The user's password has been changed.".
// API keys get the first two (Herald is stricter than the API here: a deactivated user's keys stop
// working too). Always ok when cfg.check_user_active is false.
result<void> check_user_row(const auth_config& cfg, const principal& p,
                            const store::user_record* user);

// ---- Live re-check --------------------------------------------------------------------------

enum class recheck_verdict {
  ok,
  forbidden,      // membership gone, user gone/inactive, password changed, key revoked/expired/gone
  token_expired,  // a JWT whose `exp` has passed (stream-error condition "token-expired")
};
std::string_view to_string(recheck_verdict v);  // "ok", "forbidden", "token-expired"

struct recheck_outcome {
  recheck_verdict verdict = recheck_verdict::ok;
  std::string_view reason;  // static text for logs, e.g. "This API Key has been revoked."
};

// What the store says now about one stream's caller. Pointers to rows owned by the caller.
struct caller_facts {
  bool member = false;                       // a memberships row for (user, tenant)
  const store::user_record* user = nullptr;  // nullptr: no such user (unused without
                                             // check_user_active)
  // For API keys, the key's row now (nullptr: deleted); the one matching the profile is used.
  const store::api_key_record* herald_key = nullptr;
  const store::prowler_api_key_record* prowler_key = nullptr;
};

// Pure. The verdict for one caller: first what makes the caller forbidden (membership, the user
// row as check_user_row judges it, the API key's row and expiry), then a JWT's own expiry (exp <=
// now - leeway, as at connect) when cfg.end_streams_at_token_expiry.
recheck_outcome recheck_caller(const auth_config& cfg, const principal& p, const caller_facts& f,
                               std::int64_t now_unix);

// Pure, needs no store: only a JWT's own expiry (e.g. while the store is unreachable).
bool token_expired(const auth_config& cfg, const principal& p, std::int64_t now_unix);

// Verifies credentials. Thread-safe (const after construction); BLOCKING where it reads the store
// (API keys; user rows in authenticate()), so app/ calls it on the database pool.
// Owner: app/ (the gateway), which keeps cfg, verifier and store alive as long as this object.
class authenticator {
 public:
  // Throws std::invalid_argument (start-up edge) when the prowler profile has API keys on and its
  // Fernet key does not parse; validate(cfg) reports the same problem first.
  authenticator(const auth_config& cfg, const token_verifier& verifier, store::store& db);

  // The credential alone: a JWT's signature and claims (no store call), or an API key and its row
  // (one store call). No user-row rules: app/ applies check_user_row() to the row it gets from
  // store::connect_check.
  result<principal> verify(const request_credentials& in, std::int64_t now_unix) const;

  // verify() + the user row (store::find_user) + check_user_row(): everything except membership,
  // for callers that do not use connect_check.
  result<principal> authenticate(const request_credentials& in, std::int64_t now_unix) const;

  // Re-check of one caller's credentials (not membership) with per-caller store reads: user row and
  // key row. A JWT's own expiry is not judged here. Errors carry the messages of the rules above.
  result<void> recheck(const principal& p, std::int64_t now_unix) const;

  // The live re-check of every open stream's caller in one pass: one store::recheck_facts for all
  // distinct (user, tenant) pairs and users, one key-row read per distinct API key, one verdict
  // per distinct caller. `callers` may repeat (one entry per stream); verdicts come back in the
  // same order. If the store fails, store_error is set and only token expiry is judged (open
  // streams are not closed for a failed re-check).
  struct recheck_report {
    std::vector<recheck_outcome> outcomes;  // one per entry of `callers`
    std::optional<error> store_error;
  };
  recheck_report recheck_all(const std::vector<const principal*>& callers,
                             std::int64_t now_unix) const;

 private:
  result<principal> verify_herald_api_key(std::string_view key, std::int64_t now_unix) const;
  result<principal> verify_prowler_api_key(std::string_view key, std::string_view peer,
                                           std::int64_t now_unix) const;
  const auth_config& cfg_;
  const token_verifier& verifier_;
  store::store& db_;
  std::optional<fernet_key> fernet_;  // prowler profile with API keys on; parsed once
};

}  // namespace herald::auth

// JWT verification with OpenSSL. The algorithm is pinned by configuration and never taken from the
// token: a token whose header `alg` differs (including "none", or HS256 when RS256 is configured)
// is refused. Checks, in PyJWT's and then djangorestframework-simplejwt's order (the Prowler
// API's): signature; iat/nbf not in the future, exp not passed, iss, aud (with leeway); `sub`/`jti`
// strings when present; then exp present ("Token has no 'exp' claim"), jti when required ("Token
// has no id"), typ when required ("Token has no type" / "Token has wrong type"), the user claim,
// the tenant claim. The user-row rules (active, password stamp) are authenticator's.
//
// Hand-written on OpenSSL because Debian 12 packages no C++ JWT library; only the compact JWS form
// with one pinned algorithm is supported, which keeps the surface small.
// Thread-safety: verify() is const and safe from any thread; the cache has its own mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "auth/auth_config.hpp"
#include "auth/auth_options.hpp"  // to_string(jwt_algorithm), parse_jwt_algorithm
#include "core/principal.hpp"
#include "core/result.hpp"

namespace herald::auth {

class token_verifier {
 public:
  // Throws std::runtime_error on an unusable key (start-up edge).
  explicit token_verifier(const jwt_config& cfg);
  ~token_verifier();
  token_verifier(const token_verifier&) = delete;
  token_verifier& operator=(const token_verifier&) = delete;

  // A principal with kind jwt, user from cfg.user_claim, tenant from cfg.tenant_claim (must be a
  // UUID), expires_at = exp, password_stamp from cfg.password_stamp_claim (when set). Errors are
  // errc::unauthenticated with a message safe to show the client (e.g. "Token is expired", "Token
  // is invalid"); the token itself is never in the message.
  result<principal> verify(std::string_view token, std::int64_t now_unix) const;

  // Entries currently in the verified-token cache (for tests and a metrics gauge).
  std::size_t cache_size() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Signs tokens for development (`herald token`, the demo, tests). Throws on an unusable key.
class token_minter {
 public:
  token_minter(jwt_algorithm alg, const std::string& signing_key);
  ~token_minter();
  token_minter(const token_minter&) = delete;
  token_minter& operator=(const token_minter&) = delete;
  // `claims_json` is the payload object; the header is {"alg":..., "typ":"JWT"}.
  std::string mint(std::string_view claims_json) const;
  // Test helper: sign with an arbitrary header (e.g. alg "none" or a mismatched alg).
  std::string mint_with_header(std::string_view header_json, std::string_view claims_json) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace herald::auth

// Who is calling: produced by auth/, consumed by tenancy/ and app/. Pure data.
#pragma once

#include <cstdint>
#include <string>

namespace herald {

enum class credential_kind { none, jwt, api_key };

struct principal {
  credential_kind kind = credential_kind::none;
  std::string user_id;          // JWT `sub`, or the API key's user
  std::string tenant_id;        // JWT `tenant_id` claim, or the API key's tenant (canonical UUID)
  std::string api_key_id;       // set for API keys (for revocation re-checks)
  std::int64_t expires_at = 0;  // unix seconds; 0 = no expiry
  // The Prowler API's JWTs: the token's `hash_password` claim, compared with the user's current
  // password at connect and at every live re-check (a password change ends the stream).
  std::string password_stamp;
  bool authenticated() const { return kind != credential_kind::none && !user_id.empty(); }
};

}  // namespace herald

#include "auth/auth_config.hpp"

#include <stdexcept>
#include <string>

#include "auth/auth_options.hpp"
#include "auth/fernet.hpp"
#include "auth/jws.hpp"

namespace herald::auth {

result<void> check_keys(const auth_config& cfg) {
  if (auto ok = validate(cfg); !ok) return ok;
  const jwt_config& j = cfg.jwt;
  const auto invalid = [](std::string msg) {
    return make_error(errc::invalid_config, std::move(msg));
  };
  if (j.algorithm == jwt_algorithm::hs256) {
    if (auto ok = check_hs256_secret(j.verify_key); !ok)
      return invalid("auth: the HS256 secret " + ok.err().message);
  } else if (auto ok = check_verify_key(j.verify_key); !ok) {
    return invalid("auth.verify_key " + ok.err().message);
  }
  // Loading the keys here turns a bad PEM into a configuration error rather than a start failure.
  try {
    (void)jws_key::for_verify(j.algorithm, j.verify_key);
  } catch (const std::exception& e) {
    return invalid(std::string("auth.verify_key: ") + e.what());
  }
  if (!j.signing_key.empty()) {
    try {
      (void)jws_key::for_sign(j.algorithm, j.signing_key);
    } catch (const std::exception& e) {
      return invalid(std::string("auth.signing_key: ") + e.what());
    }
  }
  if (cfg.profile == auth_profile::prowler && cfg.api_keys_enabled) {
    if (result<fernet_key> k = fernet_key::parse(cfg.fernet_key); !k)
      return invalid("auth.fernet_key (DJANGO_SECRETS_ENCRYPTION_KEY): " + k.err().message);
  }
  return {};
}

}  // namespace herald::auth

#include "auth/auth_config.hpp"

#include <cstdlib>
#include <stdexcept>

#include "auth/fernet.hpp"
#include "auth/jws.hpp"
#include "auth/token_verifier.hpp"

namespace herald::auth {
namespace {

constexpr std::string_view kVerifyingKeyEnv = "DJANGO_TOKEN_VERIFYING_KEY";
constexpr std::string_view kAudienceEnv = "DJANGO_JWT_AUDIENCE";
constexpr std::string_view kIssuerEnv = "DJANGO_JWT_ISSUER";
constexpr std::string_view kFernetEnv = "DJANGO_SECRETS_ENCRYPTION_KEY";

constexpr std::int64_t kMaxLeeway = 86'400;
constexpr std::size_t kMaxCacheEntries = 100'000'000;
constexpr std::size_t kMinHs256Secret = 32;

error invalid(std::string msg) { return make_error(errc::invalid_config, std::move(msg)); }

// An empty value counts as unset: the API would then use its default.
std::optional<std::string> non_empty(const env_lookup& env, std::string_view name) {
  std::optional<std::string> v = env(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

// The API's settings: env.str("DJANGO_TOKEN_VERIFYING_KEY", "").replace("\\n", "\n").
std::string literal_newlines(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

result<void> validate_prowler(const auth_config& cfg) {
  const jwt_config& j = cfg.jwt;
  constexpr std::string_view p = "auth.profile = \"prowler\"";
  if (j.algorithm != jwt_algorithm::rs256)
    return invalid(std::string(p) + " verifies the Prowler API's RS256 tokens; auth.algorithm is " +
                   std::string(to_string(j.algorithm)) + ", it must be RS256");
  if (j.verify_key.empty())
    return invalid(std::string(p) +
                   ": no RS256 public key (set DJANGO_TOKEN_VERIFYING_KEY as for the Prowler API, "
                   "or auth.verify_key_file)");
  if (j.audience.empty() || j.issuer.empty())
    return invalid(std::string(p) +
                   ": the audience and issuer must be set (apply_prowler_env "
                   "fills them from DJANGO_JWT_AUDIENCE / DJANGO_JWT_ISSUER)");
  const auto fixed = [&](std::string_view key, std::string_view have,
                         std::string_view want) -> result<void> {
    if (have == want) return {};
    return invalid(std::string(p) + " fixes auth." + std::string(key) + " to \"" +
                   std::string(want) + "\" (the Prowler API's tokens), not \"" + std::string(have) +
                   "\"");
  };
  for (auto r : {fixed("user_claim", j.user_claim, "sub"),
                 fixed("tenant_claim", j.tenant_claim, "tenant_id"),
                 fixed("required_type", j.required_type, "access"),
                 fixed("password_stamp_claim", j.password_stamp_claim, "hash_password")}) {
    if (!r) return r;
  }
  if (!j.require_jti)
    return invalid(std::string(p) + " requires the jti claim (\"Token has no id\")");
  if (!cfg.check_user_active)
    return invalid(std::string(p) +
                   " checks the user row as the Prowler API does; auth.check_user_active must be "
                   "true");
  if (cfg.api_keys_enabled) {
    if (cfg.fernet_key.empty())
      return invalid(
          std::string(p) +
          " with auth.api_keys = true needs the Prowler API's Fernet key: set "
          "DJANGO_SECRETS_ENCRYPTION_KEY (or auth.fernet_key), or auth.api_keys = false");
    if (result<fernet_key> k = fernet_key::parse(cfg.fernet_key); !k)
      return invalid("auth.fernet_key (DJANGO_SECRETS_ENCRYPTION_KEY): " + k.err().message);
  }
  return {};
}

}  // namespace

env_lookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

void apply_prowler_env(auth_config& cfg, const env_lookup& env) {
  if (cfg.profile != auth_profile::prowler) return;
  jwt_config& j = cfg.jwt;
  if (j.verify_key.empty()) {
    if (auto v = non_empty(env, kVerifyingKeyEnv)) j.verify_key = literal_newlines(*v);
  }
  if (j.audience.empty())
    j.audience = non_empty(env, kAudienceEnv).value_or(std::string(kProwlerAudience));
  if (j.issuer.empty()) j.issuer = non_empty(env, kIssuerEnv).value_or(std::string(kProwlerIssuer));
  if (cfg.fernet_key.empty()) {
    if (auto v = non_empty(env, kFernetEnv)) cfg.fernet_key = std::move(*v);
  }
  // The rules of the API's access tokens (simplejwt settings TOKEN_TYPE_CLAIM, JTI_CLAIM,
  // REVOKE_TOKEN_CLAIM). A different explicit value is left for validate() to refuse.
  if (j.required_type.empty()) j.required_type = "access";
  if (j.password_stamp_claim.empty()) j.password_stamp_claim = "hash_password";
  j.require_jti = true;
}

result<void> validate(const auth_config& cfg) {
  const jwt_config& j = cfg.jwt;
  if (j.user_claim.empty()) return invalid("auth.user_claim must not be empty");
  if (j.tenant_claim.empty()) return invalid("auth.tenant_claim must not be empty");
  if (j.leeway_seconds < 0 || j.leeway_seconds > kMaxLeeway)
    return invalid("auth.leeway_seconds must be between 0 and 86400");
  if (j.cache_entries > kMaxCacheEntries)
    return invalid("auth.cache_entries must be at most 100000000");
  if (cfg.profile == auth_profile::prowler) {
    if (result<void> r = validate_prowler(cfg); !r) return r;
  } else if (!cfg.fernet_key.empty()) {
    return invalid("auth.fernet_key is used only with auth.profile = \"prowler\"");
  }
  if (j.verify_key.empty())
    return invalid(j.algorithm == jwt_algorithm::hs256
                       ? "auth: HS256 needs a secret (auth.secret, auth.secret_file or "
                         "auth.secret_env)"
                       : "auth: no JWT verification key (set auth.verify_key_file to a PEM "
                         "public key, or auth.verify_key to its text)");
  if (j.algorithm == jwt_algorithm::hs256) {
    if (j.verify_key.size() < kMinHs256Secret)
      return invalid(
          "auth: the HS256 secret must be at least 32 bytes (try: openssl rand "
          "-base64 48)");
  } else if (j.verify_key.find("PRIVATE KEY") != std::string::npos) {
    return invalid(
        "auth.verify_key holds a PRIVATE key; give the public key (openssl pkey -pubout)");
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
  return {};
}

std::string_view to_string(auth_profile p) {
  return p == auth_profile::prowler ? "prowler" : "generic";
}

result<auth_profile> parse_auth_profile(std::string_view s) {
  if (s == "generic") return auth_profile::generic;
  if (s == "prowler") return auth_profile::prowler;
  return invalid("auth.profile \"" + std::string(s) +
                 "\" is not known (use \"generic\" or "
                 "\"prowler\")");
}

}  // namespace herald::auth

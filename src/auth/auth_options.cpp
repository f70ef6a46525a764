#include "auth/auth_options.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace herald::auth {
namespace {

error config_error(std::string msg) { return make_error(errc::invalid_config, std::move(msg)); }

constexpr std::string_view kVerifyingKeyEnv = "DJANGO_TOKEN_VERIFYING_KEY";
constexpr std::string_view kAudienceEnv = "DJANGO_JWT_AUDIENCE";
constexpr std::string_view kIssuerEnv = "DJANGO_JWT_ISSUER";
constexpr std::string_view kFernetEnv = "DJANGO_SECRETS_ENCRYPTION_KEY";

constexpr std::int64_t kMaxLeeway = 86'400;
constexpr std::size_t kMaxCacheEntries = 100'000'000;

// An empty value counts as unset: the API would then use its default.
std::optional<std::string> non_empty(const env_lookup& env, std::string_view name) {
  std::optional<std::string> v = env(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

result<void> validate_prowler(const auth_config& cfg) {
  const jwt_config& j = cfg.jwt;
  constexpr std::string_view p = "auth.profile = \"prowler\"";
  if (j.algorithm != jwt_algorithm::rs256)
    return config_error(std::string(p) +
                        " verifies the Prowler API's RS256 tokens; auth.algorithm is " +
                        std::string(to_string(j.algorithm)) + ", it must be RS256");
  if (j.verify_key.empty())
    return config_error(std::string(p) +
                        ": no RS256 public key (set DJANGO_TOKEN_VERIFYING_KEY as for the Prowler "
                        "API, or auth.verify_key_file)");
  if (j.audience.empty() || j.issuer.empty())
    return config_error(std::string(p) +
                        ": the audience and issuer must be set (they default to "
                        "DJANGO_JWT_AUDIENCE / DJANGO_JWT_ISSUER, else https://api.prowler.com)");
  const auto fixed = [&](std::string_view key, std::string_view have,
                         std::string_view want) -> result<void> {
    if (have == want) return {};
    return config_error(std::string(p) + " fixes auth." + std::string(key) + " to \"" +
                        std::string(want) + "\" (the Prowler API's tokens), not \"" +
                        std::string(have) + "\"");
  };
  for (auto r : {fixed("user_claim", j.user_claim, "sub"),
                 fixed("tenant_claim", j.tenant_claim, "tenant_id"),
                 fixed("required_type", j.required_type, "access"),
                 fixed("password_stamp_claim", j.password_stamp_claim, "hash_password")}) {
    if (!r) return r;
  }
  if (!j.require_jti)
    return config_error(std::string(p) + " requires the jti claim (\"Token has no id\")");
  if (!cfg.check_user_active)
    return config_error(std::string(p) +
                        " checks the user row as the Prowler API does; auth.check_user_active "
                        "must be true");
  if (cfg.api_keys_enabled && cfg.fernet_key.empty())
    return config_error(std::string(p) +
                        " with auth.api_keys = true needs the Prowler API's Fernet key: set "
                        "DJANGO_SECRETS_ENCRYPTION_KEY (or auth.fernet_key), or auth.api_keys = "
                        "false");
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
    if (auto v = non_empty(env, kVerifyingKeyEnv)) j.verify_key = pem_from_env(std::move(*v));
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

std::string_view to_string(auth_profile p) {
  return p == auth_profile::prowler ? "prowler" : "generic";
}

result<auth_profile> parse_auth_profile(std::string_view s) {
  if (s == "generic") return auth_profile::generic;
  if (s == "prowler") return auth_profile::prowler;
  return config_error("'" + std::string(s) + "' is not known (use \"generic\" or \"prowler\")");
}

std::string_view to_string(jwt_algorithm a) {
  switch (a) {
    case jwt_algorithm::rs256:
      return "RS256";
    case jwt_algorithm::es256:
      return "ES256";
    case jwt_algorithm::eddsa:
      return "EdDSA";
    case jwt_algorithm::hs256:
      return "HS256";
  }
  return "RS256";
}

result<jwt_algorithm> parse_jwt_algorithm(std::string_view s) {
  auto iequals = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             auto lower = [](char ch) {
               return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
             };
             return lower(x) == lower(y);
           });
  };
  for (jwt_algorithm a :
       {jwt_algorithm::rs256, jwt_algorithm::es256, jwt_algorithm::eddsa, jwt_algorithm::hs256}) {
    if (iequals(s, to_string(a))) return a;
  }
  return config_error("'" + std::string(s) +
                      "' is not supported (use RS256, ES256, EdDSA or HS256)");
}

std::string pem_from_env(std::string text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

result<void> check_verify_key(std::string_view pem) {
  if (pem.find("-----BEGIN ") == std::string_view::npos)
    return config_error("is not a PEM key (expected -----BEGIN PUBLIC KEY-----)");
  if (pem.find("PRIVATE KEY") != std::string_view::npos)
    return config_error("holds a PRIVATE key; give the public key (openssl pkey -pubout)");
  return {};
}

result<void> check_signing_key(std::string_view pem) {
  if (pem.find("PRIVATE KEY-----") == std::string_view::npos)
    return config_error("is not a PEM private key");
  return {};
}

result<void> check_hs256_secret(std::string_view secret) {
  if (secret.size() < kMinHs256SecretBytes)
    return config_error("must be at least " + std::to_string(kMinHs256SecretBytes) +
                        " bytes (try: openssl rand -base64 48)");
  return {};
}

void complete(auth_config& c) {
  apply_prowler_env(c);
  if (uses_shared_secret(c.jwt) && c.jwt.signing_key.empty()) c.jwt.signing_key = c.jwt.verify_key;
}

result<void> validate(const auth_config& c) {
  const jwt_config& j = c.jwt;
  // The prowler profile's own messages first: they name the Prowler API's variables.
  if (c.profile == auth_profile::prowler)
    if (auto ok = validate_prowler(c); !ok) return ok;
  if (j.verify_key.empty()) {
    if (uses_shared_secret(j))
      return config_error(
          "auth.algorithm is HS256 but no secret is configured (set auth.secret, auth.secret_file "
          "or auth.secret_env)");
    return config_error(
        "auth: no JWT verification key (set auth.verify_key_file to a PEM public key, "
        "auth.verify_key to its text, or auth.verify_key_env to a variable holding it)");
  }
  if (j.user_claim.empty()) return config_error("auth.user_claim must not be empty");
  if (j.tenant_claim.empty()) return config_error("auth.tenant_claim must not be empty");
  if (j.leeway_seconds < 0 || j.leeway_seconds > kMaxLeeway)
    return config_error("auth.leeway_seconds must be between 0 and 86400");
  if (j.cache_entries > kMaxCacheEntries)
    return config_error("auth.cache_entries must be at most 100000000");
  if (c.profile != auth_profile::prowler && !c.fernet_key.empty())
    return config_error("auth.fernet_key is used only with auth.profile = \"prowler\"");
  return {};
}

}  // namespace herald::auth

#include "auth/auth_options.hpp"

#include <algorithm>
#include <string>

namespace herald::auth {
namespace {

error config_error(std::string msg) { return make_error(errc::invalid_config, std::move(msg)); }

}  // namespace

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
  if (uses_shared_secret(c.jwt) && c.jwt.signing_key.empty()) c.jwt.signing_key = c.jwt.verify_key;
}

result<void> validate(const auth_config& c) {
  const jwt_config& j = c.jwt;
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
  return {};
}

}  // namespace herald::auth

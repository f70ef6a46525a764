// Herald's own API keys: `hk_<8 chars>.<43-char base64url secret>`. Only the SHA-256 of the secret
// is stored (the secret has 256 bits of entropy, so a slow hash buys nothing); comparison is
// constant-time.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald::auth {

struct new_api_key {
  std::string full_key;  // shown once to the user
  std::string prefix;    // "hk_XXXXXXXX", stored and shown
  std::string key_hash;  // hex SHA-256 of the secret, stored
};

new_api_key generate_api_key();

struct api_key_parts {
  std::string_view prefix;
  std::string_view secret;
};
// Strict: "hk_" + 8 prefix-alphabet characters, '.', 43 base64url characters. The parts are views
// into `full_key`, which must outlive them.
std::optional<api_key_parts> parse_api_key(std::string_view full_key);

std::string hash_api_key_secret(std::string_view secret);  // lower-case hex SHA-256

// Constant-time equality for secrets (OpenSSL CRYPTO_memcmp); different lengths compare unequal.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace herald::auth

// Byte encodings shared by the JWT and API-key code: strict base64url (RFC 4648 section 5, no
// padding, as JWS requires) and SHA-256. Kept public so tests and tools can build tokens by hand.
#pragma once

#include <openssl/types.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace herald::auth {

// Unpadded base64url.
std::string base64url_encode(std::string_view bytes);
// Strict: only [A-Za-z0-9_-], no '=' padding, no whitespace, and the unused low bits of the last
// character must be zero (so every byte string has exactly one accepted encoding).
std::optional<std::string> base64url_decode(std::string_view text);

using sha256_digest = std::array<unsigned char, 32>;
sha256_digest sha256(std::string_view bytes);
// SHA-256 fetched once: OpenSSL 3's implicit fetch (EVP_sha256()) takes a lock on every call.
const EVP_MD* sha256_md();
std::string to_hex(std::string_view bytes);  // lower-case

// Upper-case hex MD5, as djangorestframework-simplejwt's get_md5_hash_password() stamps a user's
// password hash into the Prowler API's tokens (`hash_password`). Not a security hash here: it only
// has to change when the password does.
std::string md5_upper_hex(std::string_view bytes);

}  // namespace herald::auth

#include "auth/api_key.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>

#include "auth/encoding.hpp"

namespace herald::auth {
namespace {

// Prowler's prefix alphabet: no 0/O, 1/I/L, U, so prefixes survive being read aloud or retyped.
constexpr std::string_view kPrefixAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::string_view kPrefixLead = "hk_";
constexpr std::size_t kPrefixChars = 8;
constexpr std::size_t kSecretBytes = 32;
constexpr std::size_t kSecretChars = 43;  // base64url of 32 bytes, unpadded

void random_bytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
}

bool is_b64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

new_api_key generate_api_key() {
  new_api_key k;
  k.prefix = kPrefixLead;
  // Rejection sampling keeps the 30-letter alphabet uniform (240 = 8 * 30).
  while (k.prefix.size() < kPrefixLead.size() + kPrefixChars) {
    std::array<unsigned char, 16> buf{};
    random_bytes(buf.data(), buf.size());
    for (unsigned char b : buf) {
      if (b >= 240) continue;
      k.prefix += kPrefixAlphabet[b % kPrefixAlphabet.size()];
      if (k.prefix.size() == kPrefixLead.size() + kPrefixChars) break;
    }
  }
  std::array<unsigned char, kSecretBytes> secret{};
  random_bytes(secret.data(), secret.size());
  const std::string secret_text = base64url_encode(
      std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size()));
  OPENSSL_cleanse(secret.data(), secret.size());
  k.key_hash = hash_api_key_secret(secret_text);
  k.full_key = k.prefix + "." + secret_text;
  return k;
}

std::optional<api_key_parts> parse_api_key(std::string_view full_key) {
  const std::size_t dot = full_key.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view prefix = full_key.substr(0, dot);
  const std::string_view secret = full_key.substr(dot + 1);
  if (prefix.size() != kPrefixLead.size() + kPrefixChars || !prefix.starts_with(kPrefixLead)) {
    return std::nullopt;
  }
  for (char c : prefix.substr(kPrefixLead.size())) {
    if (kPrefixAlphabet.find(c) == std::string_view::npos) return std::nullopt;
  }
  if (secret.size() != kSecretChars) return std::nullopt;
  for (char c : secret) {
    if (!is_b64url_char(c)) return std::nullopt;
  }
  return api_key_parts{prefix, secret};
}

std::string hash_api_key_secret(std::string_view secret) {
  const sha256_digest d = sha256(secret);
  return to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // The length is not secret (hashes are fixed-size), only the contents.
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace herald::auth

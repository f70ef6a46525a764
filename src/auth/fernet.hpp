// Fernet (https://github.com/fernet/spec, version 0x80), as Python's `cryptography.fernet.Fernet`
// implements it: AES-128-CBC with PKCS#7 padding, authenticated by HMAC-SHA256 over
// version ‖ timestamp ‖ IV ‖ ciphertext, the whole token base64url with padding. The Prowler API
// (through drf-simple-apikey) encrypts its API keys' payload with it.
//
// Hand-written on OpenSSL EVP because Debian 12 packages no C++ Fernet library; the format is
// small and fixed. Pure: no I/O, no clock. Decryption applies no TTL, as the Prowler API calls
// `Fernet.decrypt(token)` without one, so the token's timestamp is not checked.
// Thread-safety: a fernet_key is immutable after parse(); decrypt()/encrypt() are safe from any
// thread at once.
#pragma once

#include <openssl/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace herald::auth {

// Base64 in either alphabet (standard `+/` or URL-safe `-_`, mixed allowed, as Python's
// urlsafe_b64decode accepts both) with the `=` padding Python requires; any other character is
// refused (Python would skip it; a credential never contains one).
std::optional<std::string> base64_decode_any_alphabet(std::string_view text);

class fernet_key {
 public:
  // `key` is the base64 of 32 bytes (signing key ‖ encryption key) in either alphabet; surrounding
  // whitespace is ignored. errc::invalid_config otherwise (the message never contains the key).
  static result<fernet_key> parse(std::string_view key);

  ~fernet_key();
  fernet_key(const fernet_key&) = default;
  fernet_key& operator=(const fernet_key&) = default;
  fernet_key(fernet_key&&) noexcept = default;
  fernet_key& operator=(fernet_key&&) noexcept = default;

  // The plaintext, or nullopt for anything that is not a token made with this key: bad base64,
  // wrong version byte, too short, ciphertext not whole blocks, MAC mismatch (compared in constant
  // time, before any decryption), bad padding. No TTL.
  std::optional<std::string> decrypt(std::string_view token) const;

  // A token for `plaintext` with the given creation time and IV (tests, spec vectors), or with a
  // random IV from OpenSSL's CSPRNG. Throws std::runtime_error only if OpenSSL fails.
  std::string encrypt(std::string_view plaintext, std::uint64_t timestamp,
                      const std::array<unsigned char, 16>& iv) const;
  std::string encrypt(std::string_view plaintext, std::uint64_t timestamp) const;

 private:
  fernet_key() = default;
  bool mac(const unsigned char* data, std::size_t size, unsigned char (&out)[32]) const;
  // HMAC-SHA256 keyed once with the signing key and duplicated per call (no re-keying); shared
  // by copies, never modified after parse().
  std::shared_ptr<const EVP_MAC_CTX> mac_;
  std::array<unsigned char, 16> encryption_{};
};

}  // namespace herald::auth

#include "auth/fernet.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>
#include <stdexcept>

#include "auth/encoding.hpp"

namespace herald::auth {
namespace {

constexpr unsigned char kVersion = 0x80;
constexpr std::size_t kHeaderBytes = 1 + 8 + 16;  // version, timestamp, IV
constexpr std::size_t kMacBytes = 32;
constexpr std::size_t kBlock = 16;
// Far above any API key payload (~100 bytes); bounds the work an unauthenticated caller can cause.
constexpr std::size_t kMaxTokenChars = 8192;

constexpr unsigned char kBad = 0xff;
constexpr std::array<unsigned char, 256> make_table() {
  std::array<unsigned char, 256> t{};
  for (auto& v : t) v = kBad;
  constexpr char std_alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(std_alphabet[i])] = i;
  t['-'] = 62;
  t['_'] = 63;
  return t;
}
constexpr auto kTable = make_table();

// Fetched once: OpenSSL 3's implicit fetch takes a lock on every call.
const EVP_CIPHER* aes128_cbc() {
  static EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr);
  return c != nullptr ? c : EVP_aes_128_cbc();
}

EVP_MAC* hmac() {
  static EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return m;
}

struct mac_ctx_free {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct cipher_ctx_free {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

}  // namespace

std::optional<std::string> base64_decode_any_alphabet(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;  // Python: "Incorrect padding"
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  const std::size_t data = text.size() - pad;
  if (data % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(data / 4 * 3 + 2);
  unsigned acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < data; ++i) {
    const unsigned char v = kTable[static_cast<unsigned char>(text[i])];
    if (v == kBad) return std::nullopt;  // includes a '=' before the end
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover low bits are ignored, as Python's decoder does.
  return out;
}

fernet_key::~fernet_key() { OPENSSL_cleanse(encryption_.data(), encryption_.size()); }

bool fernet_key::mac(const unsigned char* data, std::size_t size,
                     unsigned char (&out)[kMacBytes]) const {
  std::unique_ptr<EVP_MAC_CTX, mac_ctx_free> c(EVP_MAC_CTX_dup(mac_.get()));
  std::size_t n = 0;
  return c && EVP_MAC_update(c.get(), data, size) == 1 &&
         EVP_MAC_final(c.get(), out, &n, sizeof out) == 1 && n == kMacBytes;
}

result<fernet_key> fernet_key::parse(std::string_view key) {
  while (!key.empty() &&
         (key.front() == ' ' || key.front() == '\t' || key.front() == '\n' || key.front() == '\r'))
    key.remove_prefix(1);
  while (!key.empty() &&
         (key.back() == ' ' || key.back() == '\t' || key.back() == '\n' || key.back() == '\r'))
    key.remove_suffix(1);
  std::optional<std::string> raw = base64_decode_any_alphabet(key);
  if (!raw || raw->size() != 32) {
    if (raw) OPENSSL_cleanse(raw->data(), raw->size());
    return make_error(errc::invalid_config,
                      "the Fernet key must be 32 bytes in base64 (44 characters ending in '=', "
                      "as `Fernet.generate_key()` prints)");
  }
  fernet_key k;
  std::unique_ptr<EVP_MAC_CTX, mac_ctx_free> ctx(hmac() != nullptr ? EVP_MAC_CTX_new(hmac())
                                                                   : nullptr);
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  const bool keyed =
      ctx &&
      EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(raw->data()), 16, params) == 1;
  std::memcpy(k.encryption_.data(), raw->data() + 16, 16);
  OPENSSL_cleanse(raw->data(), raw->size());
  if (!keyed) return make_error(errc::internal, "HMAC-SHA256 is unavailable in OpenSSL");
  k.mac_ = std::shared_ptr<const EVP_MAC_CTX>(
      ctx.release(), [](const EVP_MAC_CTX* c) { EVP_MAC_CTX_free(const_cast<EVP_MAC_CTX*>(c)); });
  return k;
}

std::optional<std::string> fernet_key::decrypt(std::string_view token) const {
  if (token.empty() || token.size() > kMaxTokenChars) return std::nullopt;
  std::optional<std::string> raw = base64_decode_any_alphabet(token);
  if (!raw || raw->size() < kHeaderBytes + kMacBytes) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(raw->data());
  if (p[0] != kVersion) return std::nullopt;
  const std::size_t signed_bytes = raw->size() - kMacBytes;
  const std::size_t cipher_bytes = signed_bytes - kHeaderBytes;
  if (cipher_bytes == 0 || cipher_bytes % kBlock != 0) return std::nullopt;

  // Authenticate first; nothing is decrypted unless the MAC matches.
  unsigned char tag[kMacBytes];
  if (!this->mac(p, signed_bytes, tag)) return std::nullopt;
  if (CRYPTO_memcmp(tag, p + signed_bytes, kMacBytes) != 0) return std::nullopt;

  std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_free> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::nullopt;
  std::string out(cipher_bytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int n1 = 0;
  int n2 = 0;
  // EVP removes and checks the PKCS#7 padding itself (padding is on by default).
  if (EVP_DecryptInit_ex2(ctx.get(), aes128_cbc(), encryption_.data(), p + 9, nullptr) != 1 ||
      EVP_DecryptUpdate(ctx.get(), o, &n1, p + kHeaderBytes, static_cast<int>(cipher_bytes)) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), o + n1, &n2) != 1) {
    return std::nullopt;
  }
  out.resize(static_cast<std::size_t>(n1) + static_cast<std::size_t>(n2));
  return out;
}

std::string fernet_key::encrypt(std::string_view plaintext, std::uint64_t timestamp,
                                const std::array<unsigned char, 16>& iv) const {
  if (plaintext.size() > kMaxTokenChars)
    throw std::invalid_argument("Fernet: plaintext larger than a token Herald would accept");
  std::string raw;
  raw.reserve(kHeaderBytes + plaintext.size() + kBlock + kMacBytes);
  raw.push_back(static_cast<char>(kVersion));
  for (int shift = 56; shift >= 0; shift -= 8)
    raw.push_back(static_cast<char>((timestamp >> shift) & 0xff));
  raw.append(reinterpret_cast<const char*>(iv.data()), iv.size());

  std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_free> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) throw std::runtime_error("Fernet: EVP_CIPHER_CTX_new failed");
  const std::size_t padded = (plaintext.size() / kBlock + 1) * kBlock;
  raw.resize(kHeaderBytes + padded);
  auto* o = reinterpret_cast<unsigned char*>(raw.data()) + kHeaderBytes;
  int n1 = 0;
  int n2 = 0;
  if (EVP_EncryptInit_ex2(ctx.get(), aes128_cbc(), encryption_.data(), iv.data(), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o, &n1, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + n1, &n2) != 1 ||
      static_cast<std::size_t>(n1) + static_cast<std::size_t>(n2) != padded) {
    throw std::runtime_error("Fernet: AES-128-CBC encryption failed");
  }
  unsigned char tag[kMacBytes];
  if (!mac(reinterpret_cast<const unsigned char*>(raw.data()), raw.size(), tag))
    throw std::runtime_error("Fernet: HMAC-SHA256 failed");
  raw.append(reinterpret_cast<const char*>(tag), kMacBytes);

  // Padded base64url, exactly as Python's urlsafe_b64encode prints it.
  std::string out = base64url_encode(raw);
  out.append((4 - out.size() % 4) % 4, '=');
  return out;
}

std::string fernet_key::encrypt(std::string_view plaintext, std::uint64_t timestamp) const {
  std::array<unsigned char, 16> iv{};
  if (RAND_bytes(iv.data(), static_cast<int>(iv.size())) != 1)
    throw std::runtime_error("Fernet: RAND_bytes failed");
  return encrypt(plaintext, timestamp, iv);
}

}  // namespace herald::auth

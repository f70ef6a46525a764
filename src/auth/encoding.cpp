#include "auth/encoding.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace herald::auth {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// kInvalid for characters outside the base64url alphabet: OR-ing a quad's values then tells in one
// test whether any was.
constexpr unsigned char kInvalid = 0xff;
constexpr std::array<unsigned char, 256> make_decode_table() {
  std::array<unsigned char, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<unsigned char>(i);
  return t;
}
constexpr auto kDecode = make_decode_table();

}  // namespace

const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const unsigned v = p[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    const unsigned v = (p[i] << 16) | (p[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;  // no byte count encodes to 4n+1 characters
  // Four characters to three bytes at a time into a buffer sized up front: a JWT is decoded on
  // every authenticated connect, and a byte-at-a-time append showed in its profile.
  std::string out(text.size() / 4 * 3 + (text.size() % 4 == 0 ? 0 : text.size() % 4 - 1), '\0');
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  std::size_t i = 0;
  for (; i + 4 <= text.size(); i += 4, o += 3) {
    const unsigned a = kDecode[in[i]], b = kDecode[in[i + 1]], c = kDecode[in[i + 2]],
                   d = kDecode[in[i + 3]];
    if ((a | b | c | d) > 63) return std::nullopt;
    const unsigned v = (a << 18) | (b << 12) | (c << 6) | d;
    o[0] = static_cast<unsigned char>(v >> 16);
    o[1] = static_cast<unsigned char>(v >> 8);
    o[2] = static_cast<unsigned char>(v);
  }
  const std::size_t rest = text.size() - i;  // 0, 2 or 3
  if (rest == 0) return out;
  const unsigned a = kDecode[in[i]], b = kDecode[in[i + 1]],
                 c = rest == 3 ? kDecode[in[i + 2]] : 0u;
  if ((a | b | c) > 63) return std::nullopt;
  const unsigned v = (a << 18) | (b << 12) | (c << 6);
  // Leftover bits (4 after two characters, 2 after three) must be zero, else two encodings would
  // decode to the same bytes.
  if ((rest == 2 && (v & 0xffffu) != 0) || (rest == 3 && (v & 0xffu) != 0)) return std::nullopt;
  o[0] = static_cast<unsigned char>(v >> 16);
  if (rest == 3) o[1] = static_cast<unsigned char>(v >> 8);
  return out;
}

sha256_digest sha256(std::string_view bytes) {
  sha256_digest d{};
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), d.data(), &len, sha256_md(), nullptr) != 1 ||
      len != d.size()) {
    throw std::runtime_error("SHA-256 failed");  // only on allocation failure inside OpenSSL
  }
  return d;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char hex_digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += hex_digits[c >> 4];
    out += hex_digits[c & 15];
  }
  return out;
}

std::string md5_upper_hex(std::string_view bytes) {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "MD5", nullptr);
  unsigned char d[16];
  unsigned int len = 0;
  if (md == nullptr || EVP_Digest(bytes.data(), bytes.size(), d, &len, md, nullptr) != 1 ||
      len != sizeof d) {
    throw std::runtime_error("MD5 failed");  // MD5 is in OpenSSL 3's default provider
  }
  static constexpr char hex_digits[] = "0123456789ABCDEF";
  std::string out(2 * sizeof d, '\0');
  for (std::size_t i = 0; i < sizeof d; ++i) {
    out[2 * i] = hex_digits[d[i] >> 4];
    out[2 * i + 1] = hex_digits[d[i] & 15];
  }
  return out;
}

}  // namespace herald::auth

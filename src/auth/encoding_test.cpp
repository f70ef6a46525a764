#include "auth/encoding.hpp"

#include <gtest/gtest.h>

namespace herald::auth {
namespace {

TEST(base64url, rfc4648_vectors_round_trip_unpadded) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64url_encode(plain), encoded);
    EXPECT_EQ(base64url_decode(encoded), std::string(plain));
  }
}

TEST(base64url, url_alphabet_is_used_and_all_bytes_round_trip) {
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(base64url_decode(base64url_encode(all)), all);
}

TEST(base64url, strict_decoding_refuses_padding_std_alphabet_and_junk) {
  EXPECT_FALSE(base64url_decode("Zg=="));  // padding
  EXPECT_FALSE(base64url_decode("Zm8="));
  EXPECT_FALSE(base64url_decode("+_-_"));  // standard alphabet
  EXPECT_FALSE(base64url_decode("-/-_"));
  EXPECT_FALSE(base64url_decode("Zm9v "));  // whitespace
  EXPECT_FALSE(base64url_decode("Zm\n9v"));
  EXPECT_FALSE(base64url_decode("Z"));  // 4n+1 characters encode nothing
  EXPECT_FALSE(base64url_decode("Zm9vY"));
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)));
  // Junk at each place a decoder reads from: the last of a quad, and each character of a tail.
  EXPECT_FALSE(base64url_decode("Zm9+"));
  EXPECT_FALSE(base64url_decode("Zm9v+g"));
  EXPECT_FALSE(base64url_decode("Zm9vZ+"));
  EXPECT_FALSE(base64url_decode("Zm9vZm+"));
  EXPECT_FALSE(base64url_decode("Zm9v=m8"));
}

TEST(base64url, non_zero_trailing_bits_are_refused) {
  // "Zg" is the canonical encoding of "f"; "Zh" decodes to the same byte with a stray low bit.
  EXPECT_TRUE(base64url_decode("Zg"));
  EXPECT_FALSE(base64url_decode("Zh"));
  EXPECT_TRUE(base64url_decode("Zm8"));
  EXPECT_FALSE(base64url_decode("Zm9"));
}

TEST(sha256, known_answer) {
  const sha256_digest d = sha256("abc");
  EXPECT_EQ(to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size())),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace herald::auth

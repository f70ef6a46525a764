#include "auth/api_key.hpp"

#include <gtest/gtest.h>

#include <set>

namespace herald::auth {
namespace {

constexpr std::string_view kAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::string_view kGoodSecret =
    "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd";  // 42 + 1 below

std::string good_key() { return "hk_7KQ2M9XA." + std::string(kGoodSecret) + "E"; }

TEST(api_key, generated_key_has_the_documented_shape) {
  const new_api_key k = generate_api_key();
  ASSERT_EQ(k.prefix.size(), 11u);
  EXPECT_EQ(k.prefix.substr(0, 3), "hk_");
  for (char c : k.prefix.substr(3)) EXPECT_NE(kAlphabet.find(c), std::string_view::npos) << c;
  ASSERT_EQ(k.full_key.size(), 11u + 1 + 43);
  EXPECT_EQ(k.full_key.substr(0, 12), k.prefix + ".");
  const auto parts = parse_api_key(k.full_key);
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->prefix, k.prefix);
  EXPECT_EQ(parts->secret, k.full_key.substr(12));
  EXPECT_EQ(k.key_hash, hash_api_key_secret(parts->secret));
  EXPECT_EQ(k.key_hash.size(), 64u);
  EXPECT_EQ(k.key_hash.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(api_key, generated_keys_are_unique_and_use_the_whole_prefix_alphabet) {
  std::set<std::string> prefixes, secrets;
  std::set<char> seen;
  for (int i = 0; i < 300; ++i) {
    const new_api_key k = generate_api_key();
    prefixes.insert(k.prefix);
    secrets.insert(k.full_key.substr(12));
    for (char c : k.prefix.substr(3)) seen.insert(c);
  }
  EXPECT_EQ(prefixes.size(), 300u);
  EXPECT_EQ(secrets.size(), 300u);
  EXPECT_EQ(seen.size(), kAlphabet.size());  // 2400 draws; missing any letter is ~1e-34 likely
}

TEST(api_key, parse_accepts_the_canonical_form) {
  const std::string key = good_key();  // the parts are views into it
  const auto p = parse_api_key(key);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->prefix, "hk_7KQ2M9XA");
  EXPECT_EQ(p->secret.size(), 43u);
}

TEST(api_key, parse_refuses_everything_else) {
  const std::string secret = std::string(kGoodSecret) + "E";
  for (const std::string& bad : {
           std::string(""),
           std::string("hk_7KQ2M9XA"),  // no secret
           "hk_7KQ2M9XA" + secret,      // no dot
           "pk_7KQ2M9XA." + secret,     // Prowler's prefix
           "HK_7KQ2M9XA." + secret,
           "hk_7kq2m9xa." + secret,  // lower case
           "hk_7KQ2M9X0." + secret,  // 0 is not in the alphabet
           "hk_7KQ2M9XO." + secret,
           "hk_7KQ2M9X1." + secret,
           "hk_7KQ2M9XI." + secret,
           "hk_7KQ2M9XL." + secret,
           "hk_7KQ2M9XU." + secret,
           "hk_7KQ2M9X." + secret,                   // 7 chars
           "hk_7KQ2M9XAB." + secret,                 // 9 chars
           "hk_7KQ2M9XA." + secret.substr(1),        // 42-char secret
           "hk_7KQ2M9XA." + secret + "A",            // 44-char secret
           "hk_7KQ2M9XA." + secret.substr(1) + "=",  // padding
           "hk_7KQ2M9XA." + secret.substr(1) + "+",  // standard alphabet
           "hk_7KQ2M9XA." + secret.substr(1) + "/",
           "hk_7KQ2M9XA." + secret.substr(1) + ".",
           "hk_7KQ2M9XA. " + secret.substr(1),
           std::string("hk_7KQ2M9XA.") + std::string(43, '\0'),
       }) {
    EXPECT_FALSE(parse_api_key(bad)) << bad;
  }
}

TEST(api_key, hash_is_lowercase_hex_sha256) {
  EXPECT_EQ(hash_api_key_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_api_key_secret(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(api_key, constant_time_equal_compares_contents_and_length) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_TRUE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  EXPECT_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

}  // namespace
}  // namespace herald::auth

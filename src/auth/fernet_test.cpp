// Fernet against the spec's own vectors (github.com/fernet/spec @ 20dead47: generate.json,
// verify.json, invalid.json) and against python3-cryptography's Fernet in both directions.
#include "auth/fernet.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "auth/prowler_test_credentials.hpp"

namespace herald::auth {
namespace {

namespace json = boost::json;

constexpr std::string_view kSpecSecret = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
// generate.json / verify.json: "hello" at 1985-10-26T01:20:00-07:00 with IV 00 01 .. 0f.
constexpr std::string_view kSpecToken =
    "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4I"
    "wqDA==";
constexpr std::uint64_t kSpecTime = 499162800;

fernet_key spec_key() {
  auto k = fernet_key::parse(kSpecSecret);
  EXPECT_TRUE(k.has_value());
  return std::move(*k);
}

TEST(fernet, spec_generate_vector) {
  std::array<unsigned char, 16> iv{};
  for (unsigned i = 0; i < 16; ++i) iv[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(spec_key().encrypt("hello", kSpecTime, iv), kSpecToken);
}

TEST(fernet, spec_verify_vector) { EXPECT_EQ(spec_key().decrypt(kSpecToken), "hello"); }

TEST(fernet, spec_invalid_vectors_are_refused) {
  const fernet_key k = spec_key();
  for (std::string_view bad : {
           // incorrect mac
           "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-"
           "szkFVzXTuGb4hR8AKtwcaX1YdykQUFBQUFB"
           "QUFBQQ==",
           // too short
           "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPA==",
           // invalid base64
           "%%%%%%%%%%%%%AECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-"
           "szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-p1"
           "YsUD2Q==",
           // payload size not multiple of block size
           "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPOm73QeoCk9uGib28Xe5vz6oxq5nmxbx_"
           "v7mrfyu"
           "dzUm",
           // payload padding error
           "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0ODz4LEpdELGQAad7aNEHbf-"
           "JkLPIpuiYRLQ3RtXatOYREu2FWke6CnJNYIbku"
           "KNqOhw==",
           // incorrect IV (causes padding error)
           "gAAAAAAdwJ6xBQECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-"
           "fWPAkLhFLHpGtDBRLRTZeUfWgHSv49TF2AUEZ1TIvc"
           "ZjK1zQ==",
       }) {
    EXPECT_FALSE(k.decrypt(bad).has_value()) << bad;
  }
}

TEST(fernet, spec_ttl_vectors_decrypt_because_no_ttl_applies) {
  // invalid.json's "far-future TS" and "expired TTL" are invalid only under a TTL; the Prowler API
  // decrypts without one, and so does Herald (python3-cryptography gives b"" for both).
  const fernet_key k = spec_key();
  EXPECT_EQ(
      k.decrypt("gAAAAAAdwStRAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAnja1xKYyhd-Y6mSkTOyTGJm"
                "w2Xc2a6kBd-iX9b_qXQcw=="),
      "");
  EXPECT_EQ(
      k.decrypt("gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwc"
                "aX1YdykRtfsH-p1YsUD2Q=="),
      "");
}

TEST(fernet, key_in_either_alphabet_with_padding) {
  // The same 32 bytes written with '-_' and with '+/': both load and decrypt alike.
  std::string standard(kSpecSecret);
  for (char& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
  auto k = fernet_key::parse(standard);
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->decrypt(kSpecToken), "hello");
  auto spaced = fernet_key::parse("  " + std::string(kSpecSecret) + "\n");
  ASSERT_TRUE(spaced.has_value());
  EXPECT_EQ(spaced->decrypt(kSpecToken), "hello");
}

TEST(fernet, bad_keys_are_refused_without_echoing_them) {
  const std::string_view bad_keys[] = {
      "",
      "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4",                   // no padding
      "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4",                     // 30 bytes
      "Y3dfMHg2ODlScEktanRSUjdvRThoX2VRc0tJbXZKYXBMZVNiWHB3RjRlNGFh",  // 45 bytes
      "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=!",                 // a stray character
      "cw_0x689RpI-jtRR7oE8h_eQsK.mvJapLeSbXpwF4e4=",                  // not base64
  };
  for (std::string_view bad : bad_keys) {
    auto k = fernet_key::parse(bad);
    ASSERT_FALSE(k.has_value()) << bad;
    EXPECT_EQ(k.err().code, errc::invalid_config);
    if (!bad.empty()) {
      EXPECT_EQ(k.err().message.find(bad), std::string::npos);
    }
  }
}

TEST(fernet, token_in_the_standard_alphabet_decrypts_and_unpadded_does_not) {
  // Python's urlsafe_b64decode accepts '+/' and insists on '=' padding; so does Herald.
  const fernet_key k = spec_key();
  std::string standard(kSpecToken);
  for (char& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
  EXPECT_EQ(k.decrypt(standard), "hello");
  std::string unpadded(kSpecToken);
  while (unpadded.back() == '=') unpadded.pop_back();
  EXPECT_FALSE(k.decrypt(unpadded).has_value());
}

TEST(fernet, every_single_byte_change_is_refused) {
  const fernet_key k = spec_key();
  std::array<unsigned char, 16> iv{};
  const std::string token = k.encrypt("{\"_pk\":\"x\"}", kSpecTime, iv);
  auto raw = base64_decode_any_alphabet(token);
  ASSERT_TRUE(raw.has_value());
  for (std::size_t i = 0; i < raw->size(); ++i) {
    std::string changed = *raw;
    changed[i] = static_cast<char>(changed[i] ^ 0x01);
    std::string t;
    // Re-encode through a key-independent path: the spec's own base64url.
    static constexpr char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned acc = 0;
    int bits = 0;
    for (unsigned char c : changed) {
      acc = (acc << 8) | c;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        t += a[(acc >> bits) & 63];
      }
    }
    if (bits > 0) t += a[(acc << (6 - bits)) & 63];
    while (t.size() % 4 != 0) t += '=';
    EXPECT_FALSE(k.decrypt(t).has_value()) << "byte " << i;
  }
  EXPECT_FALSE(k.decrypt(std::string(10000, 'A')).has_value());  // over the size bound
}

TEST(fernet, wrong_key_is_refused) {
  auto other = fernet_key::parse("hED+Og+fELeIyobJl6SKUTeKb5Ad89vQ4tKW1zL/nP0=");
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(other->decrypt(kSpecToken).has_value());
}

// ---- python3-cryptography ---------------------------------------------------------------------

TEST(fernet, decrypts_what_python_cryptography_encrypts) {
  const json::object& made = testing::prowler_credentials();
  const json::array& vectors = made.at("fernet_vectors").as_array();
  ASSERT_EQ(vectors.size(), 20u);
  for (const json::value& v : vectors) {
    const json::object& o = v.as_object();
    auto k = fernet_key::parse(testing::str(o.at("key")));
    ASSERT_TRUE(k.has_value());
    auto plain = base64_decode_any_alphabet(testing::str(o.at("plaintext")));
    ASSERT_TRUE(plain.has_value());
    EXPECT_EQ(k->decrypt(testing::str(o.at("token"))), *plain) << testing::str(o.at("token"));
  }
}

TEST(fernet, python_cryptography_decrypts_what_herald_encrypts) {
  const json::object& made = testing::prowler_credentials();
  const std::string key = testing::str(made.at("fernet_key"));  // standard alphabet
  auto k = fernet_key::parse(key);
  ASSERT_TRUE(k.has_value());
  json::array items;
  std::vector<std::string> plaintexts;
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 100u}) {
    std::string p;
    for (std::size_t i = 0; i < n; ++i) p += static_cast<char>('a' + i % 26);
    plaintexts.push_back(p);
    items.push_back(json::object{{"key", key}, {"token", k->encrypt(p, 1767223800)}});
  }
  items.push_back(json::object{{"key", key}, {"token", "gAAAAAAdwJ6xAAECAwQ="}});
  const json::array out =
      json::parse(testing::run_credentials_script("decrypt", json::serialize(items))).as_array();
  ASSERT_EQ(out.size(), plaintexts.size() + 1);
  for (std::size_t i = 0; i < plaintexts.size(); ++i) {
    auto got = base64_decode_any_alphabet(testing::str(out[i]));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, plaintexts[i]);
  }
  EXPECT_TRUE(out.back().is_null());  // and the script does refuse a bad token
}

}  // namespace
}  // namespace herald::auth

// API keys: Herald's own `hk_` keys (parse_api_key), and the Prowler API's `pk_` keys
// (open_prowler_api_key: prefix, Fernet token, its JSON claims) with a fixed Fernet key. Besides
// raw keys, the harness encrypts fuzzed claims JSON with the key, so the claim checks run on
// arbitrary claims. Input: mode byte, then the key (or the claims).
#include "auth/api_key.hpp"
#include "auth/prowler_api_key.hpp"
#include "fuzz/fuzz_support.hpp"

using namespace herald;

namespace {

const int kQuiet = fuzz::quiet();
// 32 bytes, base64url: a fixed key so runs are reproducible.
const auth::fernet_key kKey =
    *auth::fernet_key::parse("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=");
constexpr std::int64_t kNow = 1'767'225'600;
constexpr std::array<unsigned char, 16> kIv{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)kQuiet;
  if (size == 0) return 0;
  const auto rest = fuzz::text(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      if (auto parts = auth::parse_api_key(rest)) {
        FUZZ_CHECK(parts->prefix.starts_with("hk_"));
        FUZZ_CHECK(rest.find(parts->secret) != std::string_view::npos);
        FUZZ_CHECK(auth::hash_api_key_secret(parts->secret).size() == 64);
      }
      break;
    }
    case 1: {
      auto claims = auth::open_prowler_api_key(rest, kKey, kNow);
      if (claims) FUZZ_CHECK(claims->key_id.size() == 36);
      break;
    }
    default: {
      // A well-formed key around fuzzed claims: "pk_" + 8 characters, '.', a Fernet token.
      const std::string key = "pk_AbCd1234." + kKey.encrypt(rest, kNow - 10, kIv);
      auto claims = auth::open_prowler_api_key(key, kKey, kNow);
      if (claims) {
        FUZZ_CHECK(claims->prefix == "pk_AbCd1234");
        FUZZ_CHECK(claims->key_id.size() == 36);
        (void)auth::prowler_key_expiry_second(claims->expires_at);
      }
      break;
    }
  }
  return 0;
}

// auth/fernet: keys (fernet_key::parse), tokens (decrypt), and base64 in either alphabet; a token
// this harness makes from fuzzed plaintext decrypts back to it. Input: mode byte, then the text.
#include "auth/fernet.hpp"
#include "fuzz/fuzz_support.hpp"

using namespace herald;

namespace {

const auth::fernet_key kKey =
    *auth::fernet_key::parse("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=");
constexpr std::array<unsigned char, 16> kIv{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto rest = fuzz::text(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      (void)kKey.decrypt(rest);
      break;
    case 1:
      if (auto k = auth::fernet_key::parse(rest)) (void)k->decrypt("gAAAAAB");
      break;
    case 2:
      if (auto b = auth::base64_decode_any_alphabet(rest)) FUZZ_CHECK(b->size() <= rest.size());
      break;
    default: {
      const std::string token = kKey.encrypt(rest, 1'700'000'000, kIv);
      auto back = kKey.decrypt(token);
      FUZZ_CHECK(back && *back == rest);
      // One flipped byte anywhere is refused (the MAC covers the whole token).
      std::string bad = token;
      bad[data[0] % bad.size()] ^= 0x01;
      if (bad != token) (void)kKey.decrypt(bad);
      break;
    }
  }
  return 0;
}

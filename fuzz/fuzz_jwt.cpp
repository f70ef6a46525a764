// auth::token_verifier with a fixed HS256 key: raw tokens (JWS decoding, base64url, the header),
// and tokens this harness signs with the key over fuzzed header and claims JSON, so the claim
// checks run on arbitrary claims. Input: mode byte, then header JSON, NUL, claims JSON.
#include "auth/token_verifier.hpp"
#include "fuzz/fuzz_support.hpp"

using namespace herald;

namespace {

auth::jwt_config config() {
  auth::jwt_config c;
  c.algorithm = auth::jwt_algorithm::hs256;
  c.verify_key = "fuzz-hs256-secret-0123456789abcdef0123456789";
  c.signing_key = c.verify_key;
  c.audience = "herald";
  c.issuer = "prowler";
  c.leeway_seconds = 5;
  c.required_type = "access";
  c.password_stamp_claim = "hash_password";
  c.cache_entries = 0;  // every input takes the whole path
  return c;
}

const int kQuiet = fuzz::quiet();
const auth::token_verifier kVerifier(config());
const auth::token_minter kMinter(auth::jwt_algorithm::hs256, config().signing_key);
constexpr std::int64_t kNow = 1'767'225'600;  // fixed: a run is reproducible

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)kQuiet;
  if (size == 0) return 0;
  const auto rest = fuzz::text(data + 1, size - 1);
  if (data[0] & 1) {
    auto p = kVerifier.verify(rest, kNow);
    if (!p) FUZZ_CHECK(p.err().code == errc::unauthenticated);
    return 0;
  }
  const auto f = fuzz::fields(rest, 2, '\0');
  const std::string token = kMinter.mint_with_header(f[0], f[1]);
  auto p = kVerifier.verify(token, kNow);
  if (p) {
    FUZZ_CHECK(p->kind == credential_kind::jwt);
    FUZZ_CHECK(!p->user_id.empty());
    FUZZ_CHECK(p->tenant_id.size() == 36);
    FUZZ_CHECK(p->expires_at >= kNow - 5);
  } else {
    FUZZ_CHECK(p.err().code == errc::unauthenticated);
    // The token never appears in an error (it may reach a response body).
    FUZZ_CHECK(token.size() < 16 || p.err().message.find(token) == std::string::npos);
  }
  return 0;
}

// auth::select_credential: the Authorization header and ?access_token= as a request gives them.
// Input: the header value, then (after a NUL) the query token; a first byte says which are present.
#include "auth/authenticator.hpp"
#include "fuzz/fuzz_support.hpp"

using namespace herald;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned present = data[0];
  const auto f = fuzz::fields(fuzz::text(data + 1, size - 1), 2, '\0');
  auth::request_credentials in;
  if (present & 1) in.authorization = f[0];
  if (present & 2) in.access_token = f[1];
  auto c = auth::select_credential(in);
  if (c) {
    FUZZ_CHECK(!c->value.empty());
    // The credential is a piece of what the request carried. A header's token is one value (no
    // blanks inside); a query token is passed on as decoded, for the verifier to refuse.
    auto within = [&](const std::optional<std::string_view>& part) {
      return part && c->value.data() >= part->data() &&
             c->value.data() + c->value.size() <= part->data() + part->size();
    };
    auto blank = [](std::string_view v) { return v.find_first_not_of(" \t") == v.npos; };
    if (c->from_query) {
      // Only when no header, or a blank one (the Prowler API's `if auth_header:`), was sent.
      FUZZ_CHECK(within(in.access_token));
      FUZZ_CHECK(!in.authorization || blank(*in.authorization));
    } else {
      FUZZ_CHECK(within(in.authorization));
      FUZZ_CHECK(c->value.find_first_of(" \t") == std::string_view::npos);
    }
    if (c->from_query) FUZZ_CHECK(c->kind == credential_kind::jwt);
  } else {
    FUZZ_CHECK(c.err().code == errc::unauthenticated);
  }
  return 0;
}

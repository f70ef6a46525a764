// tenancy/channel_name: every way of reading a channel name agrees, and canonical names are
// canonical (idempotent, same length, rebuilt identically from their parts).
#include "fuzz/fuzz_support.hpp"
#include "tenancy/channel_name.hpp"

using namespace herald;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto s = fuzz::text(data, size);
  const bool valid = tenancy::is_channel_name(s);
  const auto parts = tenancy::parse_channel_name(s);
  const auto canonical = tenancy::canonical_channel_name(s);
  FUZZ_CHECK(valid == parts.has_value());
  FUZZ_CHECK(valid == canonical.has_value());
  FUZZ_CHECK(tenancy::tenant_id_from_channel(s).has_value() == valid);
  if (canonical) {
    FUZZ_CHECK(canonical->size() == s.size());
    FUZZ_CHECK(tenancy::is_canonical_channel_name(*canonical));
    FUZZ_CHECK(tenancy::canonical_channel_name(*canonical) == canonical);
    FUZZ_CHECK(tenancy::is_canonical_channel_name(s) == (*canonical == s));
    FUZZ_CHECK(*tenancy::tenant_id_from_channel(s) == parts->tenant_id);
    auto remade = tenancy::make_channel_name(parts->prefix, parts->tenant_id, parts->resource_id);
    FUZZ_CHECK(remade && *remade == *canonical);
  } else {
    FUZZ_CHECK(!tenancy::is_canonical_channel_name(s));
  }
  // Three fields joined by make_channel_name: either refused, or a name that reads back as them.
  const auto f = fuzz::fields(s, 3);
  if (auto made = tenancy::make_channel_name(f[0], f[1], f[2])) {
    FUZZ_CHECK(made->size() <= tenancy::kMaxChannelNameLength);
    if (auto back = tenancy::parse_channel_name(*made)) {
      FUZZ_CHECK(back->prefix == f[0]);
      FUZZ_CHECK(tenancy::is_canonical_channel_name(*made));
    }
  }
  return 0;
}

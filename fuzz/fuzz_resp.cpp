// bus/resp: hiredis's RESP2 reply parser as Herald drives it (bytes in any split, replies out), and
// the helpers that read replies (text, element_text, classify_push). Input: split byte, then bytes.
#include "bus/resp.hpp"
#include "fuzz/fuzz_support.hpp"

using namespace herald;

namespace {

void look_at(const redisReply& r, int depth) {
  (void)bus::resp::text(r);
  (void)bus::resp::classify_push(r);
  if (bus::resp::is_array(r)) {
    for (std::size_t i = 0; i < r.elements + 1; ++i) (void)bus::resp::element_text(r, i);
    if (depth < 8)
      for (std::size_t i = 0; i < r.elements; ++i)
        if (r.element[i]) look_at(*r.element[i], depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = 1 + data[0] % 64;  // the reads Valkey's bytes arrive in
  const auto bytes = fuzz::text(data + 1, size - 1);
  bus::resp::reader reader;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    const auto chunk = bytes.substr(at, step);
    FUZZ_CHECK(reader.feed(chunk.data(), chunk.size()));
    for (;;) {
      auto r = reader.next();
      if (!r) return 0;  // a protocol error: the connection would be dropped
      if (!*r) break;    // needs more bytes
      look_at(**r, 0);
    }
  }
  return 0;
}

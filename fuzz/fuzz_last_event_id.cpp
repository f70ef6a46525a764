// sse/event_id: a Last-Event-ID (header or lastEventId query parameter) as django-eventstream
// reads it. Any bytes give a value or an error; what parses re-formats to an id that parses back
// to the same channels and positions; quoting a channel round-trips.
#include <map>

#include "fuzz/fuzz_support.hpp"
#include "sse/event_id.hpp"

using namespace herald;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto s = fuzz::text(data, size);
  // Quoting is the inverse of unquoting for every channel (the bytes as they are).
  FUZZ_CHECK(sse::unquote_channel(sse::quote_channel(s)) == s);
  (void)sse::parse_position(s);

  auto parts = sse::parse_last_event_id(s);
  if (!parts) return 0;
  FUZZ_CHECK(s.size() <= sse::kMaxLastEventIdBytes);
  // Later parts for a channel win (django-eventstream's dict): channels are distinct.
  std::map<std::string, std::uint64_t> positions;
  for (const auto& p : *parts) {
    FUZZ_CHECK(!positions.contains(p.channel));
    auto seq = sse::parse_position(p.value);
    positions.emplace(p.channel, seq ? *seq : 0);
  }
  // Positions formatted as Herald sends them read back identically.
  std::vector<sse::channel_position> out;
  for (const auto& [channel, seq] : positions) out.push_back({channel, seq});
  const auto id = sse::format_event_id(out);
  if (out.empty()) return 0;
  if (id.size() > sse::kMaxLastEventIdBytes) return 0;  // quoting may triple a channel's length
  auto back = sse::parse_last_event_id(id);
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(back->size() == out.size());
  for (const auto& p : *back) {
    auto it = positions.find(p.channel);
    FUZZ_CHECK(it != positions.end());
    FUZZ_CHECK(sse::parse_position(p.value) == it->second);
  }
  return 0;
}

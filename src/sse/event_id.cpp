#include "sse/event_id.hpp"

#include <limits>
#include <unordered_map>

namespace herald::sse {

namespace {

// Python's urllib.parse._ALWAYS_SAFE plus the default safe '/'.
bool always_safe(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '~' || c == '/';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's str.strip() whitespace among ASCII: space, \t \n \v \f \r and the separators 0x1c-0x1f.
bool python_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
}

}  // namespace

void append_quoted_channel(std::string& out, std::string_view channel) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : channel) {
    const auto c = static_cast<unsigned char>(ch);
    if (always_safe(c)) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
}

std::string quote_channel(std::string_view channel) {
  std::string out;
  out.reserve(channel.size() + 8);
  append_quoted_channel(out, channel);
  return out;
}

std::string unquote_channel(std::string_view quoted) {
  std::string out;
  out.reserve(quoted.size());
  for (std::size_t i = 0; i < quoted.size(); ++i) {
    if (quoted[i] == '%' && i + 2 < quoted.size()) {
      const int hi = hex_value(quoted[i + 1]);
      const int lo = hex_value(quoted[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>((hi << 4) | lo);
        i += 2;
        continue;
      }
    }
    out += quoted[i];
  }
  return out;
}

std::string single_event_id(std::string_view channel, std::uint64_t seq) {
  std::string out;
  out.reserve(channel.size() + 28);
  append_quoted_channel(out, channel);
  out += ':';
  out += std::to_string(seq);
  return out;
}

std::string format_event_id(std::span<const channel_position> positions) {
  std::string out;
  for (const auto& p : positions) {
    if (!out.empty()) out += ',';
    append_quoted_channel(out, p.channel);
    out += ':';
    out += std::to_string(p.seq);
  }
  return out;
}

result<std::vector<last_event_id_part>> parse_last_event_id(std::string_view text) {
  auto refuse = [](std::string why) { return make_error(errc::bad_request, std::move(why)); };
  if (text.size() > kMaxLastEventIdBytes)
    return refuse("the id is longer than " + std::to_string(kMaxLastEventIdBytes) + " bytes");
  std::vector<last_event_id_part> out;
  // Channel -> its place in `out`: a 16 KiB id of 4,000 distinct channels would otherwise cost
  // 8 million comparisons on the event loop (found by fuzz_last_event_id's slow inputs).
  std::unordered_map<std::string, std::size_t> place;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string_view part = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    // part.split(":") must give exactly two pieces.
    const std::size_t colon = part.find(':');
    if (colon == std::string_view::npos || part.find(':', colon + 1) != std::string_view::npos)
      return refuse("each part must be <channel>:<position>");
    std::string channel = unquote_channel(part.substr(0, colon));
    std::string value(part.substr(colon + 1));
    auto [it, fresh] = place.try_emplace(channel, out.size());
    if (fresh)
      out.push_back({std::move(channel), std::move(value)});
    else
      out[it->second].value = std::move(value);  // a dict: the later value wins
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::optional<std::uint64_t> parse_position(std::string_view v) {
  while (!v.empty() && python_space(v.front())) v.remove_prefix(1);
  while (!v.empty() && python_space(v.back())) v.remove_suffix(1);
  bool negative = false;
  if (!v.empty() && (v.front() == '+' || v.front() == '-')) {
    negative = v.front() == '-';
    v.remove_prefix(1);
  }
  if (v.empty()) return std::nullopt;
  constexpr auto most = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t n = 0;
  bool overflow = false;
  bool after_digit = false;
  for (char c : v) {
    if (c == '_') {
      if (!after_digit) return std::nullopt;  // leading or doubled underscore
      after_digit = false;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (n > (most - d) / 10) overflow = true;
    if (!overflow) n = n * 10 + d;
    after_digit = true;
  }
  if (!after_digit) return std::nullopt;  // a trailing underscore
  if (negative) return 0;                 // -0 as well: before any event
  return overflow ? most : n;
}

}  // namespace herald::sse

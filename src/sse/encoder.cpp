#include "sse/encoder.hpp"

#include <cstdint>
#include <cstdio>

namespace herald::sse {

namespace {
const std::string kPadding = ":" + std::string(2048, ' ') + "\n\n";
constexpr std::string_view kOpen = "event: stream-open\ndata:\n\n";
const std::string kPreamble = kPadding + std::string(kOpen);

void append_sanitized(std::string& out, std::string_view s) {
  for (char c : s)
    if (c != '\r' && c != '\n' && c != '\0') out += c;
}
}  // namespace

std::string_view padding_comment() { return kPadding; }
std::string_view stream_open() { return kOpen; }
std::string_view keep_alive() { return "event: keep-alive\ndata:\n\n"; }
std::string_view stream_preamble() { return kPreamble; }

void encode_to(std::string& out, std::string_view type, std::string_view data,
               std::string_view id) {
  out.reserve(out.size() + type.size() + id.size() + data.size() + 24);
  out += "event: ";
  append_sanitized(out, type);
  out += '\n';
  if (!id.empty()) {
    std::size_t mark = out.size();
    out += "id: ";
    std::size_t before = out.size();
    append_sanitized(out, id);
    if (out.size() == before)
      out.resize(mark);  // an id made only of CR/LF/NUL is empty after sanitising: no id line
    else
      out += '\n';
  }
  // Split on CRLF, CR or LF, like re.split(r"\r\n|\r|\n", data).
  std::size_t start = 0;
  for (std::size_t i = 0; i <= data.size(); ++i) {
    if (i == data.size() || data[i] == '\n' || data[i] == '\r') {
      out += "data: ";
      out.append(data.substr(start, i - start));
      out += '\n';
      if (i < data.size() && data[i] == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  out += '\n';
}

std::string encode(std::string_view type, std::string_view data, std::string_view id) {
  std::string out;
  encode_to(out, type, data, id);
  return out;
}

std::string encode(const event& e) {
  if (e.seq == 0) return encode(e.type, e.data, e.id);
  return encode(e.type, e.data, single_event_id(e.channel, e.seq));
}

std::string encode_stream_reset(std::span<const channel_position> positions,
                                std::span<const std::string> channels) {
  // json.dumps({"channels": [...]}) with Python's default separators.
  std::string data = "{\"channels\": [";
  for (std::size_t i = 0; i < channels.size(); ++i) {
    if (i > 0) data += ", ";
    data += python_json_string(channels[i]);
  }
  data += "]}";
  return encode("stream-reset", data, format_event_id(positions));
}

std::string encode_stream_open(std::string_view id) {
  if (id.empty()) return std::string(kOpen);
  std::string out = "event: stream-open\nid: ";
  append_sanitized(out, id);
  out += "\ndata:\n\n";
  return out;
}

namespace {
// Where the line after the `event:` line starts (frame.size() if there is none).
std::size_t second_line(std::string_view frame) {
  const std::size_t nl = frame.find('\n');
  return nl == std::string_view::npos ? frame.size() : nl + 1;
}
}  // namespace

bool has_event_id(std::string_view frame) {
  return frame.substr(second_line(frame)).starts_with("id: ");
}

std::string with_event_id(std::string_view frame, std::string_view id) {
  const std::size_t at = second_line(frame);
  std::size_t rest = at;
  if (frame.substr(at).starts_with("id: ")) {
    const std::size_t nl = frame.find('\n', at);
    rest = nl == std::string_view::npos ? frame.size() : nl + 1;
  }
  std::string out;
  out.reserve(frame.size() + id.size() + 5);
  out.append(frame.substr(0, at));
  if (!id.empty()) {
    out += "id: ";
    append_sanitized(out, id);
    out += '\n';
  }
  out.append(frame.substr(rest));
  return out;
}

std::string python_json_string(std::string_view s) {
  // Python's ensure_ascii escaping (json.encoder.py_encode_basestring_ascii): everything outside
  // ' '..'~' is escaped, short forms for \b \f \n \r \t, else lower-case \uXXXX, UTF-16 surrogate
  // pairs above U+FFFF. (DEL 0x7f is escaped too, unlike a plain "< 0x20" rule.)
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2 + s.size() / 8);
  out += '"';
  auto u16 = [&](std::uint32_t v) {
    out += "\\u";
    out += hex[(v >> 12) & 0xf];
    out += hex[(v >> 8) & 0xf];
    out += hex[(v >> 4) & 0xf];
    out += hex[v & 0xf];
  };
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20 || c == 0x7f)
            u16(c);
          else
            out += static_cast<char>(c);
      }
      continue;
    }
    // Valid UTF-8 is a precondition; a stray byte is emitted as U+FFFD rather than read past.
    std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (len == 1 || i + len > s.size()) {
      u16(0xfffd);
      ++i;
      continue;
    }
    std::uint32_t cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3f);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u16(0xd800 + (cp >> 10));
      u16(0xdc00 + (cp & 0x3ff));
    } else {
      u16(cp);
    }
  }
  out += '"';
  return out;
}

std::string encode_stream_error(std::string_view condition, std::string_view text) {
  std::string data = "{\"condition\": " + python_json_string(condition) +
                     ", \"text\": " + python_json_string(text) + "}";
  return encode("stream-error", data, "error");
}

std::string encode_slow_consumer_error() {
  return encode_stream_error("slow-consumer",
                             "The stream fell behind and was closed; reconnect and refetch state.");
}

std::string encode_retry(unsigned milliseconds) {
  return "retry: " + std::to_string(milliseconds) + "\n\n";
}

}  // namespace herald::sse

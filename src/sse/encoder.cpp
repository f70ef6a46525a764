#include "sse/encoder.hpp"

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

std::string python_json_string(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
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
        if (c < 0x20 || c == 0x7f) {  // Python escapes everything outside ' '..'~'
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else if (c < 0x7f) {
          out += static_cast<char>(c);
        } else {
          // Decode UTF-8 and emit \uXXXX (surrogate pairs above the BMP), as ensure_ascii does.
          unsigned cp = 0;
          int extra = 0;
          if ((c & 0xe0) == 0xc0) {
            cp = c & 0x1f;
            extra = 1;
          } else if ((c & 0xf0) == 0xe0) {
            cp = c & 0x0f;
            extra = 2;
          } else if ((c & 0xf8) == 0xf0) {
            cp = c & 0x07;
            extra = 3;
          } else {
            cp = 0xfffd;
          }
          for (int k = 0; k < extra && i + 1 < s.size(); ++k) cp = (cp << 6) | (s[++i] & 0x3f);
          char buf[16];
          if (cp >= 0x10000) {
            cp -= 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (cp >> 10),
                          0xdc00 + (cp & 0x3ff));
          } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          }
          out += buf;
        }
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

std::string encode_retry(unsigned milliseconds) {
  return "retry: " + std::to_string(milliseconds) + "\n\n";
}

}  // namespace herald::sse

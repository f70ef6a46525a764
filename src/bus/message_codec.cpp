#include "bus/message_codec.hpp"

#include <boost/json.hpp>

#include "tenancy/channel_name.hpp"

namespace herald::bus {
namespace json = boost::json;

namespace {

error invalid(std::string why) { return make_error(errc::bad_request, std::move(why)); }

// A required string member; error text names the key.
result<std::string_view> string_member(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return invalid("missing key \"" + std::string(key) + "\"");
  if (!it->value().is_string()) return invalid("\"" + std::string(key) + "\" is not a string");
  const auto& s = it->value().get_string();
  return std::string_view(s.data(), s.size());
}

result<json::object> parse_object(std::string_view payload, std::size_t max_bytes) {
  if (payload.size() > max_bytes)
    return invalid("message is " + std::to_string(payload.size()) + " bytes (limit " +
                   std::to_string(max_bytes) + ")");
  boost::system::error_code ec;
  // Boost.JSON validates UTF-8 in strings by default, and refuses trailing garbage.
  json::value v = json::parse(json::string_view(payload.data(), payload.size()), ec);
  if (ec) return invalid("not valid JSON (" + ec.message() + ")");
  if (!v.is_object()) return invalid("not a JSON object");
  return std::move(v.as_object());
}

result<void> check_channel(std::string_view channel) {
  if (!tenancy::parse_channel_name(channel))
    return invalid("channel \"" + std::string(channel.substr(0, 80)) +
                   "\" is not a Herald channel name (<prefix>:<tenant uuid>:<resource>)");
  return {};
}

}  // namespace

message_codec::message_codec(bus_mode mode, std::string prefix, std::string compat_channel,
                             std::size_t max_message_bytes)
    : mode_(mode),
      prefix_(std::move(prefix)),
      compat_channel_(std::move(compat_channel)),
      max_message_bytes_(max_message_bytes) {}

std::string message_codec::pubsub_channel(std::string_view herald_channel) const {
  if (mode_ == bus_mode::compat) return compat_channel_;
  std::string out;
  out.reserve(prefix_.size() + herald_channel.size());
  out.append(prefix_).append(herald_channel);
  return out;
}

result<std::string> message_codec::encode(const sse::event& e) const {
  if (!tenancy::parse_channel_name(e.channel))
    return make_error(errc::unprocessable,
                      "channel is not a Herald channel name (<prefix>:<tenant uuid>:<resource>)");
  if (e.type.empty()) return make_error(errc::unprocessable, "event type is empty");
  if (!is_valid_utf8(e.type) || !is_valid_utf8(e.data) || !is_valid_utf8(e.id))
    return make_error(errc::unprocessable, "event type, data and id must be valid UTF-8");

  std::string out;
  if (mode_ == bus_mode::compat) {
    // Byte-for-byte what django-eventstream's json.dumps(redis_message) produces.
    out.reserve(e.channel.size() + e.type.size() + e.data.size() * 2 + e.id.size() + 64);
    out += "{\"channel\": ";
    out += python_json_dumps_string(e.channel);
    out += ", \"event_type\": ";
    out += python_json_dumps_string(e.type);
    out += ", \"data\": ";
    out += python_json_dumps_string(e.data);
    out += ", \"pub_id\": ";
    out += e.id.empty() ? std::string("null") : python_json_dumps_string(e.id);
    out += '}';
  } else {
    json::object o;
    o.reserve(4);
    o.emplace("channel", e.channel);
    o.emplace("event", e.type);
    o.emplace("data", e.data);
    if (!e.id.empty()) o.emplace("id", e.id);
    out = json::serialize(o);
  }
  if (out.size() > max_message_bytes_)
    return make_error(errc::payload_too_large, "event is " + std::to_string(out.size()) +
                                                   " bytes on the bus (limit " +
                                                   std::to_string(max_message_bytes_) + ")");
  return out;
}

result<sse::event> message_codec::decode(std::string_view pubsub_channel,
                                         std::string_view payload) const {
  auto obj = parse_object(payload, max_message_bytes_);
  if (!obj) return std::move(obj).err();
  const json::object& o = *obj;
  sse::event e;

  auto channel = string_member(o, "channel");
  if (!channel) return std::move(channel).err();
  if (auto ok = check_channel(*channel); !ok) return std::move(ok).err();
  e.channel.assign(*channel);

  if (mode_ == bus_mode::compat) {
    if (pubsub_channel != compat_channel_)
      return invalid("compat message on unexpected pub/sub channel");
    auto type = string_member(o, "event_type");
    if (!type) return std::move(type).err();
    // django-eventstream sends data as json.dumps(data): a JSON text inside a JSON string. The text
    // is exactly what goes on the SSE data: lines, so it is passed through without re-parsing.
    auto data = string_member(o, "data");
    if (!data) return std::move(data).err();
    e.type.assign(*type);
    e.data.assign(*data);
    // pub_id: a string (5.3.3+ with storage), null (no storage), or absent (5.3.0-5.3.2).
    if (auto it = o.find("pub_id"); it != o.end()) {
      if (it->value().is_string()) {
        const auto& s = it->value().get_string();
        e.id.assign(s.data(), s.size());
      } else if (!it->value().is_null()) {
        return invalid("\"pub_id\" is neither a string nor null");
      }
    }
  } else {
    if (pubsub_channel.size() != prefix_.size() + e.channel.size() ||
        pubsub_channel.substr(0, prefix_.size()) != prefix_ ||
        pubsub_channel.substr(prefix_.size()) != e.channel)
      return invalid("payload channel does not match the pub/sub channel");
    auto type = string_member(o, "event");
    if (!type) return std::move(type).err();
    auto data = string_member(o, "data");
    if (!data) return std::move(data).err();
    e.type.assign(*type);
    e.data.assign(*data);
    if (auto it = o.find("id"); it != o.end()) {
      if (!it->value().is_string()) return invalid("\"id\" is not a string");
      const auto& s = it->value().get_string();
      e.id.assign(s.data(), s.size());
    }
  }
  if (e.type.empty()) return invalid("event type is empty");
  return e;
}

std::string python_json_dumps_string(std::string_view s) {
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

bool is_valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else
      return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

}  // namespace herald::bus

#include "bus/message_codec.hpp"

#include <boost/json.hpp>

#include "sse/encoder.hpp"
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
    out += sse::python_json_string(e.channel);
    out += ", \"event_type\": ";
    out += sse::python_json_string(e.type);
    out += ", \"data\": ";
    out += sse::python_json_string(e.data);
    out += ", \"pub_id\": ";
    out += e.id.empty() ? std::string("null") : sse::python_json_string(e.id);
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

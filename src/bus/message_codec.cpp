#include "bus/message_codec.hpp"

#include <boost/json.hpp>
#include <optional>

#include "sse/encoder.hpp"
#include "tenancy/channel_name.hpp"

namespace herald::bus {
namespace json = boost::json;

namespace {

// A refusal: the error for logs and the kind for the metric.
struct refusal {
  drop_reason why;
  std::string text;
};

refusal invalid(drop_reason why, std::string text) { return {why, std::move(text)}; }

// A required string member; the refusal names the key.
std::optional<refusal> string_member(const json::object& o, std::string_view key,
                                     std::string_view& out,
                                     drop_reason wrong = drop_reason::wrong_type) {
  auto it = o.find(key);
  if (it == o.end())
    return invalid(drop_reason::missing_key, "missing key \"" + std::string(key) + "\"");
  if (!it->value().is_string())
    return invalid(wrong, "\"" + std::string(key) + "\" is not a string");
  const auto& s = it->value().get_string();
  out = std::string_view(s.data(), s.size());
  return std::nullopt;
}

}  // namespace

std::string_view drop_reason_name(drop_reason r) noexcept {
  switch (r) {
    case drop_reason::too_large:
      return "too_large";
    case drop_reason::not_json:
      return "not_json";
    case drop_reason::not_object:
      return "not_object";
    case drop_reason::missing_key:
      return "missing_key";
    case drop_reason::wrong_type:
      return "wrong_type";
    case drop_reason::data_not_string:
      return "data_not_string";
    case drop_reason::bad_channel:
      return "bad_channel";
    case drop_reason::channel_mismatch:
      return "channel_mismatch";
    case drop_reason::empty_type:
      return "empty_type";
    case drop_reason::malformed_push:
      return "malformed_push";
  }
  return "unknown";
}

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

result<std::string> message_codec::encode_logged_head(const sse::event& e) const {
  sse::event plain(e.channel, e.type, e.data);
  auto out = encode(plain);
  if (!out) return out;
  if (mode_ != bus_mode::native)
    return make_error(errc::unprocessable, "reliable channels need the native bus mode");
  // encode() ends the object with '}': continue it with the position's key.
  out->pop_back();
  out->append(",\"seq\":");
  if (out->size() + 21 > max_message_bytes_)
    return make_error(errc::payload_too_large, "event is " + std::to_string(out->size() + 21) +
                                                   " bytes on the bus (limit " +
                                                   std::to_string(max_message_bytes_) + ")");
  return out;
}

result<std::string> message_codec::encode(const sse::event& e) const {
  if (!tenancy::is_channel_name(e.channel))
    return make_error(errc::unprocessable,
                      "channel is not a Herald channel name (<prefix>:<tenant uuid>:<resource>)");
  // The pub/sub channel is named after the channel, and receivers subscribe to canonical names:
  // callers canonicalize first (redis_bus::publish does), so a spelling that would reach no one
  // is refused rather than sent.
  if (!tenancy::is_canonical_channel_name(e.channel))
    return make_error(errc::unprocessable,
                      "channel is not canonical (UUID segments must be lower-case)");
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

result<sse::event> message_codec::decode(std::string_view pubsub_channel, std::string_view payload,
                                         drop_reason* why) const {
  auto refuse = [why](refusal r) -> result<sse::event> {
    if (why) *why = r.why;
    return make_error(errc::bad_request, std::move(r.text));
  };
  if (payload.size() > max_message_bytes_)
    return refuse(invalid(drop_reason::too_large, "message is " + std::to_string(payload.size()) +
                                                      " bytes (limit " +
                                                      std::to_string(max_message_bytes_) + ")"));
  // The parsed tree lives in a stack buffer (spilling to the heap only for large messages): the
  // bus thread decodes every message it receives, and the tree is dropped once the strings are
  // copied into the event.
  unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  boost::system::error_code ec;
  // Boost.JSON validates UTF-8 in strings by default, and refuses trailing garbage.
  json::value v = json::parse(json::string_view(payload.data(), payload.size()), ec, &mr);
  if (ec) return refuse(invalid(drop_reason::not_json, "not valid JSON (" + ec.message() + ")"));
  if (!v.is_object()) return refuse(invalid(drop_reason::not_object, "not a JSON object"));
  const json::object& o = v.get_object();
  sse::event e;

  std::string_view channel;
  if (auto bad = string_member(o, "channel", channel)) return refuse(std::move(*bad));
  // Canonical (lower-case UUIDs) like every publish path, so a django-eventstream publisher that
  // upper-cased a UUID still reaches the streams of that channel.
  e.channel.assign(channel);
  if (!tenancy::canonicalize_channel_name(e.channel))
    return refuse(
        invalid(drop_reason::bad_channel,
                "channel \"" + std::string(channel.substr(0, 80)) +
                    "\" is not a Herald channel name (<prefix>:<tenant uuid>:<resource>)"));

  std::string_view type, data;
  if (mode_ == bus_mode::compat) {
    if (pubsub_channel != compat_channel_)
      return refuse(
          invalid(drop_reason::channel_mismatch, "compat message on unexpected pub/sub channel"));
    if (auto bad = string_member(o, "event_type", type)) return refuse(std::move(*bad));
    // django-eventstream sends data as json.dumps(data): a JSON text inside a JSON string. The text
    // is exactly what goes on the SSE data: lines, so it is passed through without re-parsing.
    if (auto bad = string_member(o, "data", data, drop_reason::data_not_string))
      return refuse(std::move(*bad));
    // pub_id: a string (5.3.3+ with storage), null (no storage), or absent (5.3.0-5.3.2).
    if (auto it = o.find("pub_id"); it != o.end()) {
      if (it->value().is_string()) {
        const auto& s = it->value().get_string();
        e.id.assign(s.data(), s.size());
      } else if (!it->value().is_null()) {
        return refuse(invalid(drop_reason::wrong_type, "\"pub_id\" is neither a string nor null"));
      }
    }
  } else {
    if (pubsub_channel.size() != prefix_.size() + e.channel.size() ||
        pubsub_channel.substr(0, prefix_.size()) != prefix_ ||
        pubsub_channel.substr(prefix_.size()) != e.channel)
      return refuse(invalid(drop_reason::channel_mismatch,
                            "payload channel does not match the pub/sub channel"));
    if (auto bad = string_member(o, "event", type)) return refuse(std::move(*bad));
    if (auto bad = string_member(o, "data", data, drop_reason::data_not_string))
      return refuse(std::move(*bad));
    if (auto it = o.find("id"); it != o.end()) {
      if (!it->value().is_string())
        return refuse(invalid(drop_reason::wrong_type, "\"id\" is not a string"));
      const auto& s = it->value().get_string();
      e.id.assign(s.data(), s.size());
    }
    if (auto it = o.find("seq"); it != o.end()) {
      // A reliable channel's position: a positive integer (Boost.JSON reads large ones as uint64).
      const auto& v = it->value();
      if (v.is_uint64() && v.get_uint64() > 0)
        e.seq = v.get_uint64();
      else if (v.is_int64() && v.get_int64() > 0)
        e.seq = static_cast<std::uint64_t>(v.get_int64());
      else
        return refuse(invalid(drop_reason::wrong_type, "\"seq\" is not a positive integer"));
    }
  }
  if (type.empty()) return refuse(invalid(drop_reason::empty_type, "event type is empty"));
  e.type.assign(type);
  e.data.assign(data);
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

#include "app/publish_request.hpp"

#include <boost/json.hpp>
#include <optional>

#include "bus/bus_options.hpp"
#include "sse/event_type.hpp"
#include "tenancy/channel_name.hpp"

namespace herald::app {

namespace json = boost::json;

namespace {

// The flat payload rule (docs/event-naming.md, the Prowler API's guide): the event type says what
// the event is, so data is one level of fields, never a {"type","data"} envelope. The first key
// whose value is an object, or an array holding an object or an array, if any.
std::optional<std::string> first_nested(const json::object& data) {
  auto scalar = [](const json::value& v) { return !v.is_object() && !v.is_array(); };
  for (const auto& kv : data) {
    const json::value& v = kv.value();
    if (v.is_object()) return std::string(kv.key());
    if (v.is_array())
      for (const auto& el : v.as_array())
        if (!scalar(el)) return std::string(kv.key());
  }
  return std::nullopt;
}

result<sse::event> event_from(const json::value& v, const publish_limits& limits,
                              const std::string& where) {
  if (!v.is_object()) return make_error(errc::bad_request, where + "must be a JSON object");
  const auto& o = v.as_object();
  for (const auto& kv : o) {
    auto k = kv.key();
    if (k != "channel" && k != "event" && k != "data" && k != "id")
      return make_error(errc::bad_request, where + "unknown field '" + std::string(k) + "'");
  }
  auto* ch = o.if_contains("channel");
  if (!ch || !ch->is_string())
    return make_error(errc::bad_request, where + "channel: required string");
  auto channel = std::string(ch->as_string());
  if (!tenancy::is_channel_name(channel))
    return make_error(errc::unprocessable, where + "channel: '" + channel.substr(0, 100) +
                                               "' is not <prefix>:<tenant_uuid>:<resource_id>");
  auto* ev = o.if_contains("event");
  if (!ev || !ev->is_string())
    return make_error(errc::bad_request, where + "event: required string");
  auto type = std::string(ev->as_string());
  if (auto ok = sse::validate_event_type(type, *limits.verbs); !ok)
    return make_error(ok.err().code, where + "event: " + ok.err().message);
  auto* data = o.if_contains("data");
  if (!data) return make_error(errc::bad_request, where + "data: required");
  if (!data->is_object())
    return make_error(errc::unprocessable, where + "data: must be a JSON object (flat payload)");
  if (auto nested = first_nested(data->as_object()))
    return make_error(errc::unprocessable,
                      where + "data." + *nested +
                          ": a flat payload has no nested objects (values are strings, numbers, "
                          "booleans, null, or arrays of those)");
  std::string serialized = json::serialize(*data);
  if (serialized.size() > limits.max_data_bytes)
    return make_error(errc::payload_too_large,
                      where + "data: " + std::to_string(serialized.size()) + " bytes exceeds the " +
                          std::to_string(limits.max_data_bytes) + "-byte limit");
  std::string id;
  if (auto* i = o.if_contains("id")) {
    if (!i->is_string()) return make_error(errc::bad_request, where + "id: must be a string");
    id = std::string(i->as_string());
    if (id.size() > 256 || id.find_first_of("\r\n", 0) != std::string::npos ||
        id.find('\0') != std::string::npos)
      return make_error(errc::unprocessable, where + "id: at most 256 bytes, no CR/LF/NUL");
    if (limits.replay && bus::is_reliable(*limits.replay, channel))
      return make_error(errc::unprocessable,
                        where +
                            "id: the channel is reliable (docs/reconnects.md): Herald gives its "
                            "events their ids (their positions); leave id out");
  }
  return sse::event{std::move(channel), std::move(type), std::move(serialized), std::move(id)};
}

}  // namespace

result<std::vector<sse::event>> parse_publish_body(std::string_view body,
                                                   const publish_limits& limits) {
  // The parsed document lives only in this call: a monotonic arena, on the stack for a typical
  // body, instead of one heap allocation per key, string and object.
  unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, &mr);
  if (ec) return make_error(errc::bad_request, "body is not valid JSON: " + ec.message());
  if (!v.is_object()) return make_error(errc::bad_request, "body must be a JSON object");
  std::vector<sse::event> out;
  if (auto* events = v.as_object().if_contains("events")) {
    if (v.as_object().size() != 1)
      return make_error(errc::bad_request, "a batch body has only the 'events' field");
    if (!events->is_array() || events->as_array().empty())
      return make_error(errc::bad_request, "events: must be a non-empty array");
    const auto& arr = events->as_array();
    if (arr.size() > limits.max_batch_events)
      return make_error(
          errc::payload_too_large,
          "events: at most " + std::to_string(limits.max_batch_events) + " events per request");
    out.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) {
      auto e = event_from(arr[i], limits, "events[" + std::to_string(i) + "].");
      if (!e) return std::move(e).err();
      out.push_back(std::move(*e));
    }
    return out;
  }
  auto e = event_from(v, limits, "");
  if (!e) return std::move(e).err();
  out.push_back(std::move(*e));
  return out;
}

result<sse::event> make_publish_event(std::string_view channel, std::string_view type,
                                      std::string_view data_json, std::string_view id,
                                      const publish_limits& limits) {
  boost::system::error_code ec;
  json::value data = json::parse(data_json, ec);
  if (ec) return make_error(errc::bad_request, "data is not valid JSON: " + ec.message());
  json::object o;
  o["channel"] = channel;
  o["event"] = type;
  o["data"] = std::move(data);
  if (!id.empty()) o["id"] = id;
  return event_from(o, limits, "");
}

}  // namespace herald::app

#include "app/publish_request.hpp"

#include <bit>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
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

// JSON has no NaN or infinity, yet Boost.JSON 1.81 reads 1e400 as infinity and 0e607 as NaN (0
// times an overflowed power of ten; found by fuzz/fuzz_publish_body): the first key whose number
// (or an array's number) is not finite, if any, so that such a payload is refused instead of
// streamed as "nan" or "inf", which no client can parse.
std::optional<std::string> first_non_finite(const json::object& data) {
  auto bad = [](const json::value& v) { return v.is_double() && !std::isfinite(v.get_double()); };
  for (const auto& kv : data) {
    const json::value& v = kv.value();
    if (bad(v)) return std::string(kv.key());
    if (v.is_array())
      for (const auto& el : v.as_array())
        if (bad(el)) return std::string(kv.key());
  }
  return std::nullopt;
}

bool has_double(const json::value& v) {
  if (v.is_double()) return true;
  if (v.is_array())
    for (const auto& el : v.as_array())
      if (has_double(el)) return true;
  if (v.is_object())
    for (const auto& kv : v.as_object())
      if (has_double(kv.value())) return true;
  return false;
}

// Boost.JSON keeps a number that is not an integer as a double and writes it back in its own
// form (0.5 as 5E-1, 12.0 as 1.2E1): correct JSON, but not what a browser or a person should see.
// So for a body holding such numbers, a second pass of Boost's own parser (its SAX interface,
// basic_parser) records each one's text as written, in document order, with the value it parsed
// to; the payload is then written from the tree with those texts.
class written_numbers {
 public:
  struct number {
    double value;
    std::string text;
  };

  static std::vector<number> of(std::string_view body) {
    json::basic_parser<written_numbers> p{json::parse_options{}};
    boost::system::error_code ec;
    p.write_some(false, body.data(), body.size(), ec);  // the body already parsed once: no error
    return std::move(p.handler().numbers_);
  }

  // The handler interface of json::basic_parser: only numbers are recorded. Its member names are
  // Boost.JSON's, hence the NOLINT.
  // NOLINTBEGIN(readability-identifier-naming)
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  // NOLINTEND(readability-identifier-naming)
  using ec_t = boost::system::error_code;
  bool on_document_begin(ec_t&) { return true; }
  bool on_document_end(ec_t&) { return true; }
  bool on_array_begin(ec_t&) { return true; }
  bool on_array_end(std::size_t, ec_t&) { return true; }
  bool on_object_begin(ec_t&) { return true; }
  bool on_object_end(std::size_t, ec_t&) { return true; }
  bool on_string_part(json::string_view, std::size_t, ec_t&) { return true; }
  bool on_string(json::string_view, std::size_t, ec_t&) { return true; }
  bool on_key_part(json::string_view, std::size_t, ec_t&) { return true; }
  bool on_key(json::string_view, std::size_t, ec_t&) { return true; }
  bool on_number_part(json::string_view s, ec_t&) {
    part_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t, json::string_view, ec_t&) { return end_number(); }
  bool on_uint64(std::uint64_t, json::string_view, ec_t&) { return end_number(); }
  bool on_double(double d, json::string_view s, ec_t&) {
    part_.append(s.data(), s.size());
    numbers_.push_back({d, std::move(part_)});
    part_.clear();
    return true;
  }
  bool on_bool(bool, ec_t&) { return true; }
  bool on_null(ec_t&) { return true; }
  bool on_comment_part(json::string_view, ec_t&) { return true; }
  bool on_comment(json::string_view, ec_t&) { return true; }

 private:
  bool end_number() {
    part_.clear();
    return true;
  }
  std::vector<number> numbers_;
  std::string part_;
};

// Compact JSON of `v` as Boost.JSON writes it, except that each double is written as the publisher
// wrote it: the next recorded number (from `next`, within a short look-ahead) whose value is bit
// for bit the same, else the shortest text that reads back as the same double. Matching by value
// keeps the output exact whatever the alignment (a duplicate key drops a number from the tree).
class number_keeping_writer {
 public:
  explicit number_keeping_writer(const std::vector<written_numbers::number>& numbers)
      : numbers_(numbers) {}

  void write(const json::value& v, std::string& out) {
    switch (v.kind()) {
      case json::kind::object: {
        out += '{';
        bool first = true;
        for (const auto& kv : v.get_object()) {
          if (!first) out += ',';
          first = false;
          out += json::serialize(kv.key());
          out += ':';
          write(kv.value(), out);
        }
        out += '}';
        return;
      }
      case json::kind::array: {
        out += '[';
        bool first = true;
        for (const auto& el : v.get_array()) {
          if (!first) out += ',';
          first = false;
          write(el, out);
        }
        out += ']';
        return;
      }
      case json::kind::double_:
        write_double(v.get_double(), out);
        return;
      default:
        out += json::serialize(v);
        return;
    }
  }

 private:
  void write_double(double d, std::string& out) {
    constexpr std::size_t look_ahead = 16;  // bounds the work a body of duplicate keys can cause
    for (std::size_t i = next_; i < numbers_.size() && i < next_ + look_ahead; ++i) {
      // Bit for bit, so that -0.0 and 0.0 stay apart.
      if (std::bit_cast<std::uint64_t>(numbers_[i].value) == std::bit_cast<std::uint64_t>(d)) {
        out += numbers_[i].text;
        next_ = i + 1;
        return;
      }
    }
    // -0.0 would be written "-0", which reads back as the integer 0 (found by
    // fuzz/fuzz_publish_body): written as a double, a second pass keeps it as it is.
    if (d == 0 && std::signbit(d)) {
      out += "-0.0";
      return;
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    out.append(buf, r.ptr);
  }

  const std::vector<written_numbers::number>& numbers_;
  std::size_t next_ = 0;
};

// The payload text of a validated data value: Boost.JSON's compact form, numbers as written.
std::string payload_text(const json::value& data, number_keeping_writer* numbers) {
  if (!numbers || !has_double(data)) return json::serialize(data);
  std::string out;
  numbers->write(data, out);
  return out;
}

result<sse::event> event_from(const json::value& v, const publish_limits& limits,
                              const std::string& where, number_keeping_writer* numbers) {
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
  // Canonical (lower-case UUIDs), so the event reaches the streams of that channel however the
  // publisher spelled the UUID; refused when it is no channel name at all.
  if (!tenancy::canonicalize_channel_name(channel))
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
  if (auto key = first_non_finite(data->as_object()))
    return make_error(errc::unprocessable,
                      where + "data." + *key + ": a number out of range (beyond a double's)");
  std::string serialized = payload_text(*data, numbers);
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
  // The numbers as written, only when some payload holds a non-integer (the common payload of
  // strings, integers and booleans is written from the tree alone, in one pass).
  std::vector<written_numbers::number> written;
  std::optional<number_keeping_writer> numbers;
  if (has_double(v)) {
    written = written_numbers::of(body);
    numbers.emplace(written);
  }
  number_keeping_writer* keep = numbers ? &*numbers : nullptr;
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
      auto e = event_from(arr[i], limits, "events[" + std::to_string(i) + "].", keep);
      if (!e) return std::move(e).err();
      out.push_back(std::move(*e));
    }
    return out;
  }
  auto e = event_from(v, limits, "", keep);
  if (!e) return std::move(e).err();
  out.push_back(std::move(*e));
  return out;
}

result<sse::event> make_publish_event(std::string_view channel, std::string_view type,
                                      std::string_view data_json, std::string_view id,
                                      const publish_limits& limits) {
  boost::system::error_code ec;
  json::parse(data_json, ec);
  if (ec) return make_error(errc::bad_request, "data is not valid JSON: " + ec.message());
  // Through the body the server reads, so the CLI and POST /publish agree byte for byte (numbers
  // as written included).
  std::string body = "{\"channel\":" + json::serialize(json::string_view(channel)) +
                     ",\"event\":" + json::serialize(json::string_view(type)) + ",\"data\":";
  body.append(data_json);
  if (!id.empty()) body += ",\"id\":" + json::serialize(json::string_view(id));
  body += '}';
  auto events = parse_publish_body(body, limits);
  if (!events) return std::move(events).err();
  return std::move(events->front());
}

std::string publish_body(const sse::event& e) {
  std::string body = "{\"channel\":" + json::serialize(json::string_view(e.channel)) +
                     ",\"event\":" + json::serialize(json::string_view(e.type)) + ",\"data\":";
  body += e.data;
  if (!e.id.empty()) body += ",\"id\":" + json::serialize(json::string_view(e.id));
  body += '}';
  return body;
}

}  // namespace herald::app

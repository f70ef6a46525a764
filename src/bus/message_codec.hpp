// The bytes Herald puts on, and accepts from, Valkey pub/sub. Pure; no I/O.
//
// native: pub/sub channel = <prefix><herald channel>; payload = Herald's own compact JSON
//   {"channel":"<herald channel>","event":"<type>","data":"<payload text>","id":"<sse id>"}
//   with "id" omitted when empty. "data" is always a JSON string holding the SSE payload text.
//   An event of a reliable channel has no "id" but its position last: ...,"seq":<n>} (the publish
//   script appends the number it assigned to encode_logged_head's text).
// compat: pub/sub channel = <compat_channel> (django-eventstream's "events_channel"); payload
// exactly as
//   django-eventstream 5.3.4's send_event builds it:
//   json.dumps({"channel": ch, "event_type": t, "data": <json text as a string>, "pub_id": "42" |
//   None}) Python's default separators (", " and ": ") and ensure_ascii=True. Herald emits pub_id
//   null when the event has no id, else the id string. Decoding also accepts the 3-key form
//   of 5.3.0-5.3.2.
//
// Decoding is strict about types and channel names (tenancy::canonicalize_channel_name) because
// messages come from any process that can reach Valkey; a refusal is an errc::bad_request with a
// short reason, and a drop_reason for the metric that counts refusals by kind. A decoded event's
// channel is canonical (lower-case UUIDs), as streams subscribe to it; encode() refuses a channel
// that is not (the caller canonicalizes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bus/bus_config.hpp"
#include "core/result.hpp"
#include "sse/event.hpp"

namespace herald::bus {

// Why a received message was dropped: the `reason` label of herald_bus_messages_dropped_total.
enum class drop_reason : std::uint8_t {
  too_large,         // over max_message_bytes
  not_json,          // not JSON, trailing bytes, or invalid UTF-8 in a string
  not_object,        // JSON, but not an object
  missing_key,       // a required key is absent
  wrong_type,        // channel/event/event_type/id/pub_id of the wrong JSON type
  data_not_string,   // "data" is not a string (e.g. send_event(..., json_encode=False) with a dict)
  bad_channel,       // "channel" is not a Herald channel name
  channel_mismatch,  // arrived on a pub/sub channel that does not carry its "channel"
  empty_type,        // the event type is empty
  malformed_push,    // a pub/sub push without channel or payload (set by the bus, not decode)
};
inline constexpr std::size_t kDropReasonCount = 10;
std::string_view drop_reason_name(drop_reason r) noexcept;

class message_codec {
 public:
  message_codec(bus_mode mode, std::string prefix, std::string compat_channel,
                std::size_t max_message_bytes = 1 << 20);

  bus_mode mode() const noexcept { return mode_; }

  // The pub/sub channel that carries `herald_channel` (compat: always compat_channel).
  std::string pubsub_channel(std::string_view herald_channel) const;

  // Refuses (errc::unprocessable) an invalid Herald channel name, an empty type, and text that is
  // not valid UTF-8 (it could not be decoded by the receivers, nor by Python's json.loads).
  result<std::string> encode(const sse::event& e) const;
  // Native mode, a reliable channel's event: the payload up to its position, i.e.
  // `{"channel":...,"event":...,"data":...,"seq":` (the publish script appends `<n>}`). The size
  // check allows for the 20 digits.
  result<std::string> encode_logged_head(const sse::event& e) const;

  // `pubsub_channel` is where the message arrived; native mode checks it matches the payload's
  // channel. On error, `*why` (when given) says which kind of refusal it was.
  result<sse::event> decode(std::string_view pubsub_channel, std::string_view payload,
                            drop_reason* why = nullptr) const;

 private:
  bus_mode mode_;
  std::string prefix_;
  std::string compat_channel_;
  std::size_t max_message_bytes_;
};

// Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace herald::bus

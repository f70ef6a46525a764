// Event ids of reliable channels, in django-eventstream's composite format (utils.make_id and
// utils.parse_last_event_id, 5.3.4), so a client can move between a Django endpoint and Herald:
//
//   <quote(channel)>:<position>[,<quote(channel)>:<position>...]
//
// quote is Python's urllib.parse.quote with its default safe='/': ASCII letters, digits, `_.-~`
// and `/` stay, every other byte becomes %XX (upper-case hex), so the `:` of Herald's channel names
// is %3A. A position is a channel's sequence number (bus/: the in-process log or Valkey Streams).
// Pure functions; no I/O. The parsers take untrusted input (a client's Last-Event-ID) and never
// read past it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace herald::sse {

// One reliable channel and the position a client has reached in it.
struct channel_position {
  std::string channel;
  std::uint64_t seq = 0;
};

// urllib.parse.quote(channel) (safe='/').
std::string quote_channel(std::string_view channel);
void append_quoted_channel(std::string& out, std::string_view channel);
// urllib.parse.unquote: each %XX (either case) becomes its byte; a '%' not followed by two hex
// digits stays as it is. (Python then decodes UTF-8 with errors='replace'; a channel name that is
// not valid UTF-8 matches no Herald channel either way, so the bytes are kept.)
std::string unquote_channel(std::string_view quoted);

// `<quote(channel)>:<seq>`: the id of an event of a stream with one reliable channel (the same for
// every subscriber, so it is encoded into the shared frame).
std::string single_event_id(std::string_view channel, std::uint64_t seq);
// make_id: the parts joined with ','. No positions: "" (and then no `id:` line is sent).
std::string format_event_id(std::span<const channel_position> positions);

// One `<channel>:<value>` part of a Last-Event-ID: the channel unquoted, the value as sent.
struct last_event_id_part {
  std::string channel;
  std::string value;
};

// The longest Last-Event-ID / lastEventId read (a stream lists at most a few channels of at most
// 255 bytes each, quoted up to three times longer); longer ones are refused as unparseable.
inline constexpr std::size_t kMaxLastEventIdBytes = std::size_t{16} * 1024;

// django-eventstream's parse_last_event_id: split on ','; each part must split on ':' into exactly
// two pieces, else the whole id is refused (errc::bad_request). Later parts for the same channel
// win, as in its dict. Channels are unquoted; values are not interpreted here (see parse_position).
// The entry point for fuzzing: any bytes in, a value or an error out.
result<std::vector<last_event_id_part>> parse_last_event_id(std::string_view text);

// What Python's int() makes of an ASCII position: optional surrounding whitespace, an optional
// sign, digits with single '_' between them. nullopt when it is not an integer (django-eventstream
// would fail the request). A negative value is before any event: 0. A value beyond 2^64-1 is after
// any event: UINT64_MAX. Both then get stream-reset, as neither is a position Herald can resume.
std::optional<std::uint64_t> parse_position(std::string_view value);

}  // namespace herald::sse

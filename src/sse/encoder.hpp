// SSE framing, byte-compatible with django-eventstream 5.3.4 (utils.sse_encode_event and
// views.stream), so clients written for django-eventstream see the same bytes. Pure functions; no
// sockets.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "sse/event.hpp"
#include "sse/event_id.hpp"

namespace herald::sse {

// ':' + 2048 spaces + "\n\n": defeats proxy/browser buffering of the first chunk.
std::string_view padding_comment();
// "event: stream-open\ndata:\n\n" (no space after data:, as django-eventstream sends it).
std::string_view stream_open();
// "event: keep-alive\ndata:\n\n".
std::string_view keep_alive();
// The first chunk of every stream: padding_comment() + stream_open().
std::string_view stream_preamble();

// `event: <type>\n[id: <id>\n](data: <line>\n)+\n`: CR/LF/NUL stripped from type and id, data split
// on CRLF, CR or LF; an empty id produces no id line.
std::string encode(std::string_view type, std::string_view data, std::string_view id = {});
// A logged event (e.seq != 0) gets the id `<quote(channel)>:<seq>`; any other its own `id`.
std::string encode(const event& e);
// Appends to `out` (used to batch several events into one buffer).
void encode_to(std::string& out, std::string_view type, std::string_view data, std::string_view id);

// `event: stream-error\nid: error\ndata: {"condition": "...", "text": "..."}\n\n`, JSON with
// Python's default separators as django-eventstream emits it. `id: error` blocks resumption.
std::string encode_stream_error(std::string_view condition, std::string_view text);

// Reliable channels (docs/reconnects.md), django-eventstream's bytes:
// `event: stream-reset\nid: <make_id(positions)>\ndata: {"channels": ["a", "b"]}\n\n`: the
// positions of `channels` were no longer kept; `positions` are where the stream continues from.
std::string encode_stream_reset(std::span<const channel_position> positions,
                                std::span<const std::string> channels);
// stream-open with the stream's starting positions as its id (`event: stream-open\nid: <id>\n
// data:\n\n`), so a client that disconnects before its first event still resumes from there.
// django-eventstream sends no id here (its issue #158: such a client starts "from now" again).
std::string encode_stream_open(std::string_view id);
// `frame` (an encoded event, `event:` line first) with its id line replaced by `id: <id>`, inserted
// after the `event:` line if it had none, or removed when `id` is empty. The data is copied: this
// is the per-stream frame of a stream with several reliable channels.
std::string with_event_id(std::string_view frame, std::string_view id);
// True when `frame` (an encoded event) has an `id:` line.
bool has_event_id(std::string_view frame);

// The slow-consumer stream-error a stream gets when its queue overflows (net's streams and the
// resume relay send these bytes).
std::string encode_slow_consumer_error();

// `retry: <ms>\n\n`: the reconnect hint sent before a graceful close.
std::string encode_retry(unsigned milliseconds);

// JSON string literal with Python json.dumps escaping (ensure_ascii=True), quotes included.
std::string python_json_string(std::string_view s);

}  // namespace herald::sse

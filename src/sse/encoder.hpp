// SSE framing, byte-compatible with django-eventstream 5.3.4 (utils.sse_encode_event and
// views.stream), so clients written for django-eventstream see the same bytes. Pure functions; no
// sockets.
#pragma once

#include <string>
#include <string_view>

#include "sse/event.hpp"

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
inline std::string encode(const event& e) { return encode(e.type, e.data, e.id); }
// Appends to `out` (used to batch several events into one buffer).
void encode_to(std::string& out, std::string_view type, std::string_view data, std::string_view id);

// `event: stream-error\nid: error\ndata: {"condition": "...", "text": "..."}\n\n`, JSON with
// Python's default separators as django-eventstream emits it. `id: error` blocks resumption.
std::string encode_stream_error(std::string_view condition, std::string_view text);

// `retry: <ms>\n\n`: the reconnect hint sent before a graceful close.
std::string encode_retry(unsigned milliseconds);

// JSON string literal with Python json.dumps escaping (ensure_ascii=True), quotes included.
std::string python_json_string(std::string_view s);

}  // namespace herald::sse

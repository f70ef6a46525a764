// The log of reliable channels on Valkey (Streams), as the redis bus uses it: two Lua scripts, the
// key names, and the reply parsing. Pure (no I/O); redis_bus sends the commands.
//
// Per reliable channel, two keys in the slot of its pub/sub channel (so one script may touch both
// and SPUBLISH to the channel on a Cluster with sharded pub/sub):
//   {<pub/sub channel>}:seq   a hash: n = the last position, e = the epoch's first position
//   {<pub/sub channel>}:log   a stream: entry id <n>-0, fields t (ms), e (event type), d (data)
//
// publish script (EVALSHA, one atomic step, so numbering, keeping and publishing cannot disagree):
//   HINCRBY n (a missing hash starts a new epoch numbered from the server's clock in
//   microseconds), XADD <n>-0 MAXLEN ~ max_events, PEXPIRE both keys max_age, then (S)PUBLISH the
//   native message with its position appended, and return the position.
// read script: the head, epoch and floor (creating the epoch if the channel has none, so a client
// that starts "from now" holds a position of the epoch that follows), events older than max_age
// dropped from the front, then XRANGE after the position (exclusive) COUNT limit.
//
// A channel idle for max_age loses both keys (PEXPIRE); its next event starts a new epoch, whose
// positions are above any of the old one (the clock moved on by more microseconds than the old
// epoch had events), so a client holding an old position gets stream-reset.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "sse/resume.hpp"

namespace herald::bus::stream_log {

struct keys {
  std::string seq;  // the hash
  std::string log;  // the stream
};

// The keys of the channel published on `pubsub_channel`. On a Cluster they must share its slot:
// a name with braces that gives no usable hash tag is refused (errc::unprocessable).
result<keys> keys_for(std::string_view pubsub_channel, bool cluster);

std::string_view publish_script();
std::string_view read_script();
// SHA1 of each script, lower-case hex (what EVALSHA takes).
const std::string& publish_sha();
const std::string& read_sha();

struct limits {
  std::uint32_t max_events = 1000;
  std::uint64_t max_age_ms = 3'600'000;
};

// EVALSHA <publish_sha> 2 <seq> <log> <pubsub_channel> <payload_head> <type> <data> <max_events>
// <max_age_ms> <PUBLISH|SPUBLISH>; payload_head from message_codec::encode_logged_head.
std::string publish_command(const keys& k, std::string_view pubsub_channel,
                            std::string_view payload_head, std::string_view type,
                            std::string_view data, const limits& l, bool cluster);
// EVALSHA <read_sha> 2 <seq> <log> <after or ""> <limit> <max_age_ms>.
std::string read_command(const keys& k, std::optional<std::uint64_t> after, std::size_t limit,
                         const limits& l);
// The same command with EVALSHA <sha> replaced by EVAL <script> (after a NOSCRIPT answer: the
// server does not have the script cached yet, e.g. after a restart; EVAL caches it).
std::string with_script_text(std::string_view evalsha_command, std::string_view script);
bool is_noscript(const redisReply& r) noexcept;

// The publish script's answer: the position (a bulk string of digits).
result<std::uint64_t> parse_publish_reply(const redisReply& r);
// The read script's answer, for `channel` read after `after`: head, epoch, floor and the entries,
// each encoded as the SSE frame a live delivery of it has (id `<quote(channel)>:<seq>`).
result<sse::log_read> parse_read_reply(const redisReply& r, const std::string& channel,
                                       std::optional<std::uint64_t> after);

}  // namespace herald::bus::stream_log

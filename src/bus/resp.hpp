// RESP2 pieces that never touch a socket: the command serializer, hiredis's reply parser
// (redisReader, the event-loop-free part of hiredis) behind a small RAII wrapper, and helpers to
// read replies. Unit tests feed bytes in and look at replies; resp_connection does the I/O.
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace herald::bus::resp {

struct reply_deleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

// "*<n>\r\n" then "$<len>\r\n<arg>\r\n" per argument: binary-safe, the same bytes as
// redisFormatCommandArgv (a unit test checks that) without its malloc/free round trip.
std::string format_command(std::span<const std::string_view> args);
std::string format_command(std::initializer_list<std::string_view> args);
void append_command(std::string& out, std::span<const std::string_view> args);

// Incremental reply parser. Not thread-safe; one per connection.
//
// hiredis's reader moves its unparsed bytes to the front of its buffer each time it has consumed
// 1 KiB, so handing it a whole 64 KiB read costs a copy of the rest of the read every few replies:
// quadratic in the read (a callgrind profile of the bus read loop at 162 messages per read had 37%
// of its instructions in that memmove). So the bytes wait here and hiredis gets them a slice at a
// time, as its replies are taken: each reply then costs a copy of at most a slice.
class reader {
 public:
  static constexpr std::size_t kFeedSlice = 4096;

  reader();
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  // Appends received bytes. Fails only on allocation failure.
  result<void> feed(const char* data, std::size_t n);
  // The next complete reply; a null reply_ptr when more bytes are needed; an error (bad_request) on
  // a protocol error, after which the stream is unusable and the connection must be dropped.
  result<reply_ptr> next();
  // Bytes handed to hiredis and not parsed yet: at most kFeedSlice plus one incomplete reply.
  std::size_t parser_buffered() const noexcept;

 private:
  struct reader_deleter {
    void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
  };
  std::unique_ptr<redisReader, reader_deleter> r_;
  std::string pending_;  // fed, not yet handed to hiredis (from pending_off_ on)
  std::size_t pending_off_ = 0;
};

// The text of a STRING, STATUS or ERROR reply; empty for other types.
std::string_view text(const redisReply& r) noexcept;
inline bool is_error(const redisReply& r) noexcept { return r.type == REDIS_REPLY_ERROR; }
inline bool is_array(const redisReply& r) noexcept { return r.type == REDIS_REPLY_ARRAY; }
// Element `i` of an array reply as text, or nullopt when out of range / not a string.
std::optional<std::string_view> element_text(const redisReply& r, std::size_t i) noexcept;

// Pub/sub push kinds as RESP2 delivers them on a subscribed connection (first array element).
enum class push_kind {
  none,  // not a pub/sub push
  message,
  pmessage,
  smessage,
  subscribe,
  unsubscribe,
  psubscribe,
  punsubscribe,
  ssubscribe,
  sunsubscribe,
};
push_kind classify_push(const redisReply& r) noexcept;

// Printable, length-limited rendering of untrusted bytes for logs: non-printables as \xNN, then
// "...".
std::string printable(std::string_view bytes, std::size_t max_len = 120);

}  // namespace herald::bus::resp

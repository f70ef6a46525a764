#include "bus/resp.hpp"

#include <hiredis/read.h>

#include <algorithm>
#include <cstdio>
#include <new>

namespace herald::bus::resp {

void append_command(std::string& out, std::span<const std::string_view> args) {
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (auto a : args) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out.append(a.data(), a.size());
    out += "\r\n";
  }
}

std::string format_command(std::span<const std::string_view> args) {
  std::string out;
  std::size_t n = 16;
  for (auto a : args) n += a.size() + 16;
  out.reserve(n);
  append_command(out, args);
  return out;
}

std::string format_command(std::initializer_list<std::string_view> args) {
  return format_command(std::span<const std::string_view>(args.begin(), args.size()));
}

namespace {

// hiredis 0.14 (Debian 12) allocates an array reply's element table from the count in its header
// before any element arrives, with no upper bound (hiredis 1.0's maxelements is not in 0.14): a
// peer announcing "*88888888" would make it allocate gigabytes. Herald's replies are small (pub/sub
// messages, XRANGE pages it bounds itself), so arrays above this count are refused as a protocol
// error: hiredis's default array constructor is wrapped with the check.
constexpr int kMaxArrayElements = 1 << 20;

redisReplyObjectFunctions bounded_functions(const redisReplyObjectFunctions& defaults) {
  static const redisReplyObjectFunctions base = defaults;
  redisReplyObjectFunctions f = base;
  f.createArray = [](const redisReadTask* task, int elements) -> void* {
    if (elements > kMaxArrayElements) return nullptr;  // hiredis reports an error and stops
    return base.createArray(task, elements);
  };
  return f;
}

}  // namespace

reader::reader() : r_(redisReaderCreate()) {
  if (!r_) throw std::bad_alloc();
  static redisReplyObjectFunctions bounded = bounded_functions(*r_->fn);
  r_->fn = &bounded;
}

result<void> reader::feed(const char* data, std::size_t n) {
  if (pending_off_ == pending_.size()) {
    pending_.assign(data, n);  // the usual case: everything before was parsed
    pending_off_ = 0;
  } else {
    pending_.append(data, n);
  }
  return {};
}

result<reply_ptr> reader::next() {
  for (;;) {
    void* out = nullptr;
    if (redisReaderGetReply(r_.get(), &out) != REDIS_OK)
      return make_error(errc::bad_request, std::string("RESP protocol error: ") + r_->errstr);
    if (out != nullptr || pending_off_ == pending_.size())
      return reply_ptr(static_cast<redisReply*>(out));
    const std::size_t n = std::min(kFeedSlice, pending_.size() - pending_off_);
    if (redisReaderFeed(r_.get(), pending_.data() + pending_off_, n) != REDIS_OK)
      return make_error(errc::internal, std::string("RESP reader: ") + r_->errstr);
    pending_off_ += n;
    if (pending_off_ == pending_.size()) {
      pending_.clear();
      pending_off_ = 0;
    }
  }
}

std::size_t reader::parser_buffered() const noexcept { return r_->len - r_->pos; }

std::string_view text(const redisReply& r) noexcept {
  switch (r.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return r.str ? std::string_view(r.str, r.len) : std::string_view();
    default:
      return {};
  }
}

std::optional<std::string_view> element_text(const redisReply& r, std::size_t i) noexcept {
  if (r.type != REDIS_REPLY_ARRAY || i >= r.elements || !r.element[i]) return std::nullopt;
  const redisReply& e = *r.element[i];
  if (e.type != REDIS_REPLY_STRING && e.type != REDIS_REPLY_STATUS) return std::nullopt;
  return text(e);
}

push_kind classify_push(const redisReply& r) noexcept {
  auto kind = element_text(r, 0);
  if (!kind || r.elements < 3) return push_kind::none;
  // Push names are lower-case on the wire; compare exactly.
  static constexpr struct {
    std::string_view name;
    push_kind kind;
  } names[] = {
      {"message", push_kind::message},           {"pmessage", push_kind::pmessage},
      {"smessage", push_kind::smessage},         {"subscribe", push_kind::subscribe},
      {"unsubscribe", push_kind::unsubscribe},   {"psubscribe", push_kind::psubscribe},
      {"punsubscribe", push_kind::punsubscribe}, {"ssubscribe", push_kind::ssubscribe},
      {"sunsubscribe", push_kind::sunsubscribe},
  };
  for (const auto& n : names)
    if (*kind == n.name) return n.kind;
  return push_kind::none;
}

std::string printable(std::string_view bytes, std::size_t max_len) {
  std::string out;
  const std::size_t n = bytes.size() < max_len ? bytes.size() : max_len;
  out.reserve(n + 8);
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (bytes.size() > max_len) out += "...";
  return out;
}

}  // namespace herald::bus::resp

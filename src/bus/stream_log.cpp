#include "bus/stream_log.hpp"

#include <openssl/evp.h>

#include <charconv>

#include "bus/key_slot.hpp"
#include "bus/resp.hpp"
#include "sse/encoder.hpp"

namespace herald::bus::stream_log {

namespace {

// Lua 5.1 numbers are doubles: positions (about 1.7e15, microseconds since 1970 plus a count) are
// exact below 2^53, and are always turned into text with string.format('%d'), never tostring()
// (which would print 1.7e+15).
constexpr std::string_view kPublishScript =
    R"lua(-- Herald: number, keep and publish one event of a reliable channel
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
if n == 1 then
  local t = redis.call('TIME')
  local base = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'n', base, 'e', base)
  n = redis.call('HINCRBY', KEYS[1], 'n', 1)
end
local seq = string.format('%d', n)
local t = redis.call('TIME')
local ms = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], seq .. '-0', 't', ms, 'e', ARGV[3], 'd', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call(ARGV[7], ARGV[1], ARGV[2] .. seq .. '}')
return seq
)lua";

constexpr std::string_view kReadScript =
    R"lua(-- Herald: read a reliable channel's log after a position
local h = redis.call('HMGET', KEYS[1], 'n', 'e')
local head, epoch = h[1], h[2]
if not head then
  local t = redis.call('TIME')
  local base = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'n', base, 'e', base)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {base, base, base, {}}
end
if not epoch then epoch = head end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3])
for _ = 1, 16 do
  local batch = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 64)
  if #batch == 0 then break end
  local keep = nil
  for i = 1, #batch do
    if tonumber(batch[i][2][2]) >= cutoff then keep = batch[i][1] break end
  end
  if keep then
    if keep ~= batch[1][1] then redis.call('XTRIM', KEYS[2], 'MINID', keep) end
    break
  end
  local last = tonumber(string.match(batch[#batch][1], '^%d+'))
  redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d', last + 1) .. '-0')
end
local floor = head
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if #first > 0 then
  floor = string.format('%d', tonumber(string.match(first[1][1], '^%d+')) - 1)
end
if ARGV[1] == '' then return {head, epoch, floor, {}} end
local after = tonumber(ARGV[1])
if after < tonumber(floor) or after > tonumber(head) then return {head, epoch, floor, {}} end
return {head, epoch, floor, redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])}
)lua";

std::string sha1_hex(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha1(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0xf];
  }
  return out;
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "<n>-0" -> n.
std::optional<std::uint64_t> entry_seq(std::string_view id) {
  const auto dash = id.find('-');
  return to_u64(id.substr(0, dash));
}

error bad_reply(std::string what) {
  return make_error(errc::unavailable, "unexpected answer from the log script: " + std::move(what));
}

}  // namespace

result<keys> keys_for(std::string_view pubsub_channel, bool cluster) {
  // The whole pub/sub channel as the hash tag: {herald:scan-progress:<tenant>:<scan>}:seq hashes
  // exactly as the channel does, unless the channel has braces of its own.
  keys k;
  const std::string wrapped = "{" + std::string(pubsub_channel) + "}";
  k.seq = wrapped + ":seq";
  k.log = wrapped + ":log";
  const std::uint16_t slot = key_slot(pubsub_channel);
  if (key_slot(k.seq) == slot) return k;
  // A channel with a {tag} of its own: suffixes keep that tag.
  k.seq = std::string(pubsub_channel) + ":seq";
  k.log = std::string(pubsub_channel) + ":log";
  if (key_slot(k.seq) == slot || !cluster) return k;
  return make_error(errc::unprocessable,
                    "this channel name cannot be a reliable channel on a Valkey Cluster: its "
                    "braces give its log keys another hash slot than the channel");
}

std::string_view publish_script() { return kPublishScript; }
std::string_view read_script() { return kReadScript; }
const std::string& publish_sha() {
  static const std::string s = sha1_hex(kPublishScript);
  return s;
}
const std::string& read_sha() {
  static const std::string s = sha1_hex(kReadScript);
  return s;
}

std::string publish_command(const keys& k, std::string_view pubsub_channel,
                            std::string_view payload_head, std::string_view type,
                            std::string_view data, const limits& l, bool cluster) {
  const std::string max_events = std::to_string(l.max_events);
  const std::string max_age = std::to_string(l.max_age_ms);
  return resp::format_command({"EVALSHA", publish_sha(), "2", k.seq, k.log, pubsub_channel,
                               payload_head, type, data, max_events, max_age,
                               cluster ? "SPUBLISH" : "PUBLISH"});
}

std::string read_command(const keys& k, std::optional<std::uint64_t> after, std::size_t limit,
                         const limits& l) {
  const std::string a = after ? std::to_string(*after) : std::string();
  const std::string n = std::to_string(limit);
  const std::string max_age = std::to_string(l.max_age_ms);
  return resp::format_command({"EVALSHA", read_sha(), "2", k.seq, k.log, a, n, max_age});
}

std::string with_script_text(std::string_view cmd, std::string_view script) {
  // "*<n>\r\n$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n<the rest>": keep the count and the rest.
  const auto count_end = cmd.find("\r\n") + 2;
  const std::string_view sha_head = "$7\r\nEVALSHA\r\n$40\r\n";
  const std::size_t rest = count_end + sha_head.size() + 40 + 2;
  std::string out;
  out.reserve(cmd.size() + script.size() + 16);
  out.append(cmd.substr(0, count_end));
  out += "$4\r\nEVAL\r\n$";
  out += std::to_string(script.size());
  out += "\r\n";
  out.append(script);
  out += "\r\n";
  out.append(cmd.substr(rest));
  return out;
}

bool is_noscript(const redisReply& r) noexcept {
  return resp::is_error(r) && resp::text(r).starts_with("NOSCRIPT");
}

result<std::uint64_t> parse_publish_reply(const redisReply& r) {
  if (r.type == REDIS_REPLY_INTEGER && r.integer > 0) return static_cast<std::uint64_t>(r.integer);
  if (r.type != REDIS_REPLY_STRING) return bad_reply("not a position");
  auto v = to_u64(resp::text(r));
  if (!v || *v == 0) return bad_reply("not a position");
  return *v;
}

result<sse::log_read> parse_read_reply(const redisReply& r, const std::string& channel,
                                       std::optional<std::uint64_t> after) {
  if (!resp::is_array(r) || r.elements != 4) return bad_reply("not a 4-element array");
  sse::log_read out;
  std::uint64_t* fields[] = {&out.head, &out.epoch, &out.floor};
  for (std::size_t i = 0; i < 3; ++i) {
    auto v = resp::element_text(r, i);
    auto n = v ? to_u64(*v) : std::nullopt;
    if (!n) return bad_reply("head, epoch or floor is not a number");
    *fields[i] = *n;
  }
  if (!after) return out;
  if (*after < out.floor || *after > out.head) {
    out.reset = true;
    return out;
  }
  const redisReply& list = *r.element[3];
  if (!resp::is_array(list)) return bad_reply("entries are not an array");
  out.entries.reserve(list.elements);
  for (std::size_t i = 0; i < list.elements; ++i) {
    const redisReply& e = *list.element[i];
    if (!resp::is_array(e) || e.elements != 2 || !resp::is_array(*e.element[1]))
      return bad_reply("an entry is not [id, fields]");
    auto seq = resp::element_text(e, 0);
    auto n = seq ? entry_seq(*seq) : std::nullopt;
    if (!n) return bad_reply("an entry id is not <n>-0");
    const redisReply& f = *e.element[1];
    std::string_view type, data;
    for (std::size_t k = 0; k + 1 < f.elements; k += 2) {
      auto name = resp::element_text(f, k);
      auto value = resp::element_text(f, k + 1);
      if (!name || !value) return bad_reply("an entry field is not text");
      if (*name == "e") type = *value;
      if (*name == "d") data = *value;
    }
    sse::event ev(channel, std::string(type), std::string(data), {}, *n);
    out.entries.push_back(sse::log_entry{*n, std::make_shared<const std::string>(sse::encode(ev))});
  }
  return out;
}

}  // namespace herald::bus::stream_log

#include "bus/cluster_topology.hpp"

#include <algorithm>
#include <charconv>

#include "bus/key_slot.hpp"
#include "bus/resp.hpp"

namespace herald::bus {

std::string node_address::str() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace {

std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

result<node_address> parse_node_address(std::string_view s) {
  auto bad = [&] {
    return make_error(errc::invalid_config,
                      "\"" + std::string(s) + "\" is not host:port (e.g. valkey-0:6379)");
  };
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string_view host = s.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad();  // bare IPv6 must be bracketed
  }
  auto port = parse_port(s.substr(colon + 1));
  if (!port) return bad();
  return node_address{std::string(host), *port};
}

std::optional<redirect> parse_redirect(std::string_view e) {
  redirect r;
  if (e.starts_with("MOVED ")) {
    e.remove_prefix(6);
  } else if (e.starts_with("ASK ")) {
    r.ask = true;
    e.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  auto sp = e.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  unsigned slot = 0;
  auto [p, ec] = std::from_chars(e.data(), e.data() + sp, slot);
  if (ec != std::errc() || p != e.data() + sp || slot >= kClusterSlotCount) return std::nullopt;
  r.slot = static_cast<std::uint16_t>(slot);
  auto addr = parse_node_address(e.substr(sp + 1));
  if (!addr) return std::nullopt;
  r.to = std::move(*addr);
  return r;
}

result<cluster_topology> cluster_topology::from_cluster_slots(const redisReply& reply,
                                                              const node_address& queried) {
  auto bad = [](const std::string& why) {
    return make_error(errc::unavailable, "unexpected CLUSTER SLOTS reply: " + why);
  };
  if (resp::is_error(reply)) return make_error(errc::unavailable, std::string(resp::text(reply)));
  if (!resp::is_array(reply)) return bad("not an array");

  // Each entry: [start, end, [host, port, id, ...] (master), [replica]...].
  struct range {
    long long start, end;
    node_address master;
  };
  std::vector<range> ranges;
  for (std::size_t i = 0; i < reply.elements; ++i) {
    const redisReply* e = reply.element[i];
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 3)
      return bad("entry is not [start, end, node]");
    const redisReply* s = e->element[0];
    const redisReply* t = e->element[1];
    const redisReply* m = e->element[2];
    if (s->type != REDIS_REPLY_INTEGER || t->type != REDIS_REPLY_INTEGER) return bad("slot bounds");
    if (s->integer < 0 || t->integer >= kClusterSlotCount || s->integer > t->integer)
      return bad("slot range out of bounds");
    if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
        m->element[1]->type != REDIS_REPLY_INTEGER)
      return bad("node is not [host, port, ...]");
    std::string host(resp::text(*m->element[0]));
    long long port = m->element[1]->integer;
    if (port <= 0 || port > 65535) return bad("port out of range");
    if (host.empty()) host = queried.host;
    if (host == "?") continue;  // endpoint unknown to the cluster: treat the range as uncovered
    ranges.push_back(
        {s->integer, t->integer, node_address{host, static_cast<std::uint16_t>(port)}});
  }

  cluster_topology t;
  for (const auto& r : ranges) t.masters_.push_back(r.master);
  std::sort(t.masters_.begin(), t.masters_.end());
  t.masters_.erase(std::unique(t.masters_.begin(), t.masters_.end()), t.masters_.end());
  t.slot_owner_.assign(kClusterSlotCount, -1);
  for (const auto& r : ranges) {
    auto idx =
        std::lower_bound(t.masters_.begin(), t.masters_.end(), r.master) - t.masters_.begin();
    for (long long s = r.start; s <= r.end; ++s)
      t.slot_owner_[static_cast<std::size_t>(s)] = static_cast<std::int32_t>(idx);
  }
  t.uncovered_ =
      static_cast<std::size_t>(std::count(t.slot_owner_.begin(), t.slot_owner_.end(), -1));
  return t;
}

const node_address* cluster_topology::owner(std::uint16_t slot) const noexcept {
  if (slot >= slot_owner_.size()) return nullptr;
  auto idx = slot_owner_[slot];
  return idx < 0 ? nullptr : &masters_[static_cast<std::size_t>(idx)];
}

}  // namespace herald::bus

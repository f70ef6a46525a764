#include "app/stream_caps.hpp"

namespace herald::app {

std::string_view to_string(limit_reason r) noexcept {
  switch (r) {
    case limit_reason::per_user:
      return "per_user";
    case limit_reason::per_tenant:
      return "per_tenant";
    case limit_reason::total:
      return "total";
    case limit_reason::connect_rate:
      return "connect_rate";
  }
  return "unknown";
}

struct stream_caps::held {
  stream_caps* owner;
  std::string user_id, tenant_id;
  held(stream_caps* o, std::string_view u, std::string_view t)
      : owner(o),
        user_id(o->opts_.max_streams_per_user ? u : std::string_view{}),
        tenant_id(o->opts_.max_streams_per_tenant ? t : std::string_view{}) {}
  held(const held&) = delete;
  held& operator=(const held&) = delete;
  ~held() { owner->release_slot(user_id, tenant_id); }
};

bool stream_caps::acquire(table& t, std::string_view key, std::uint32_t cap) {
  auto& s = t[hash{}(key) % kStripes];
  std::lock_guard lock(s.mu);
  auto it = s.counts.find(key);
  if (it == s.counts.end()) {
    s.counts.emplace(std::string(key), 1);
    return true;
  }
  if (it->second >= cap) return false;
  ++it->second;
  return true;
}

void stream_caps::release(table& t, std::string_view key) {
  auto& s = t[hash{}(key) % kStripes];
  std::lock_guard lock(s.mu);
  auto it = s.counts.find(key);
  if (it == s.counts.end()) return;
  if (--it->second == 0) s.counts.erase(it);
}

std::uint32_t stream_caps::count(const table& t, std::string_view key) {
  const auto& s = t[hash{}(key) % kStripes];
  std::lock_guard lock(s.mu);
  auto it = s.counts.find(key);
  return it == s.counts.end() ? 0 : it->second;
}

bool stream_caps::acquire_total() {
  auto n = total_.load();
  do {
    if (opts_.max_streams != 0 && n >= opts_.max_streams) return false;
  } while (!total_.compare_exchange_weak(n, n + 1));
  return true;
}

std::variant<stream_caps::slot, limit_reason> stream_caps::admit(std::string_view user_id,
                                                                 std::string_view tenant_id) {
  // The total is counted always (it is cheap and gives the metric); per-key tables only when
  // capped.
  if (!acquire_total()) return limit_reason::total;
  if (opts_.max_streams_per_tenant != 0 &&
      !acquire(tenants_, tenant_id, opts_.max_streams_per_tenant)) {
    total_.fetch_sub(1);
    return limit_reason::per_tenant;
  }
  if (opts_.max_streams_per_user != 0 && !acquire(users_, user_id, opts_.max_streams_per_user)) {
    if (opts_.max_streams_per_tenant != 0) release(tenants_, tenant_id);
    total_.fetch_sub(1);
    return limit_reason::per_user;
  }
  try {
    return slot(std::make_shared<held>(this, user_id, tenant_id));
  } catch (...) {
    release_slot(opts_.max_streams_per_user ? user_id : std::string_view{},
                 opts_.max_streams_per_tenant ? tenant_id : std::string_view{});
    throw;
  }
}

void stream_caps::release_slot(std::string_view user_id, std::string_view tenant_id) {
  if (opts_.max_streams_per_user != 0) release(users_, user_id);
  if (opts_.max_streams_per_tenant != 0) release(tenants_, tenant_id);
  total_.fetch_sub(1);
}

std::uint32_t stream_caps::open_for_tenant(std::string_view tenant_id) const {
  return count(tenants_, tenant_id);
}

std::uint32_t stream_caps::open_for_user(std::string_view user_id) const {
  return count(users_, user_id);
}

std::size_t stream_caps::tracked_keys() const {
  std::size_t n = 0;
  for (const table* t : {&tenants_, &users_})
    for (const auto& s : *t) {
      std::lock_guard lock(s.mu);
      n += s.counts.size();
    }
  return n;
}

}  // namespace herald::app

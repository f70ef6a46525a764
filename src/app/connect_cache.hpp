// Recently confirmed callers: (user, tenant) pairs that passed the database checks at connect (user
// active, member of the tenant). A JWT caller found here connects with no database round trip, so a
// reconnect storm or a dashboard opening many streams costs one signature check per stream.
// Entries live `ttl` seconds: that bounds how long a revoked membership can still open NEW streams
// (open ones are closed by the live re-check). API keys never use it (revocation is per key).
// Thread-safety: all methods lock; any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace herald::app {

class connect_cache {
 public:
  explicit connect_cache(std::int64_t ttl_seconds, std::size_t max_entries = 100000)
      : ttl_(ttl_seconds), max_(max_entries) {}

  bool enabled() const { return ttl_ > 0; }

  bool fresh(std::string_view user_id, std::string_view tenant_id, std::int64_t now) const {
    if (!enabled()) return false;
    std::lock_guard lock(mu_);
    auto it = entries_.find(key(user_id, tenant_id));
    return it != entries_.end() && it->second > now;
  }

  void confirm(std::string_view user_id, std::string_view tenant_id, std::int64_t now) {
    if (!enabled()) return;
    std::lock_guard lock(mu_);
    if (entries_.size() >= max_) {
      // Bounded: drop what has expired; if everything is fresh, start over.
      std::erase_if(entries_, [now](const auto& e) { return e.second <= now; });
      if (entries_.size() >= max_) entries_.clear();
    }
    entries_[key(user_id, tenant_id)] = now + ttl_;
  }

 private:
  static std::string key(std::string_view user_id, std::string_view tenant_id) {
    std::string k;
    k.reserve(user_id.size() + tenant_id.size() + 1);
    k.append(user_id).append(1, '\n').append(tenant_id);
    return k;
  }
  std::int64_t ttl_;
  std::size_t max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::int64_t> entries_;
};

}  // namespace herald::app

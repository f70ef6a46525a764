// What a JWT connect may skip for a short while (tenancy.connect_cache_seconds), so a reconnect
// storm or a dashboard opening many streams costs one signature check per stream and no database
// round trip:
//  - callers: (user, tenant, password stamp) whose user row and membership passed the database
//    checks at connect. The stamp (the Prowler API's `hash_password` claim) is part of the key:
//    a token minted before a password change carries another stamp, so it never rides an entry
//    that a newer token confirmed.
//  - resources: (endpoint lookup, tenant, [user,] parameter values) an endpoint's lookup found.
//    The user is part of the key only when the lookup binds :user_id.
// Only positive answers are kept (a refusal is always asked again), each for `ttl` seconds. That is
// the bound on staleness: a removed membership, a deactivated user, a changed password or a deleted
// resource can still open NEW streams for at most `ttl` seconds after the change (open streams are
// ended by the live re-check, tenancy.recheck_interval_seconds). API keys never use the cache:
// every API-key connect reads the key row, the user, the membership and the resource.
//
// Bounded: at most `max_entries` per table; when full, expired entries are dropped, and if all are
// fresh the table starts over (a burst of distinct callers costs database round trips, never
// memory). A lookup or an insert builds its key in a per-thread buffer: no allocation on a hit.
// Thread-safety: every method may be called from any thread (one mutex per table).
#pragma once

#include <charconv>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "app/url_template.hpp"
#include "core/principal.hpp"

namespace herald::app {

class connect_cache {
 public:
  explicit connect_cache(std::int64_t ttl_seconds, std::size_t max_entries = 100000)
      : ttl_(ttl_seconds), callers_(max_entries), resources_(max_entries) {}

  bool enabled() const { return ttl_ > 0; }
  std::int64_t ttl_seconds() const { return ttl_; }

  // The caller's user row and membership passed within ttl (JWT callers).
  bool caller_fresh(const principal& p, std::int64_t now) const {
    return enabled() && callers_.fresh(caller_key(p), now);
  }
  void confirm_caller(const principal& p, std::int64_t now) {
    if (enabled()) callers_.put(caller_key(p), now, now + ttl_);
  }

  // The lookup `lookup_id` (an endpoint's identity) found the resource named by `params` in the
  // caller's tenant within ttl. `binds_user`: the lookup reads :user_id, so the answer is per user.
  bool resource_fresh(std::uintptr_t lookup_id, const principal& p, bool binds_user,
                      const path_params& params, std::int64_t now) const {
    return enabled() && resources_.fresh(resource_key(lookup_id, p, binds_user, params), now);
  }
  void confirm_resource(std::uintptr_t lookup_id, const principal& p, bool binds_user,
                        const path_params& params, std::int64_t now) {
    if (enabled()) resources_.put(resource_key(lookup_id, p, binds_user, params), now, now + ttl_);
  }

 private:
  // Unit separator: it appears in no UUID, slug, hex stamp or path parameter (route/'s grammar).
  static constexpr char kSep = '\x1f';

  static std::string& buffer() {
    thread_local std::string b;
    b.clear();
    return b;
  }
  static std::string_view caller_key(const principal& p) {
    std::string& k = buffer();
    k.append(p.user_id)
        .append(1, kSep)
        .append(p.tenant_id)
        .append(1, kSep)
        .append(p.password_stamp);
    return k;
  }
  static std::string_view resource_key(std::uintptr_t lookup_id, const principal& p,
                                       bool binds_user, const path_params& params) {
    std::string& k = buffer();
    char id[24];
    const auto end = std::to_chars(id, id + sizeof id, lookup_id).ptr;
    k.append(id, end).append(1, kSep).append(p.tenant_id).append(1, kSep);
    if (binds_user) k.append(p.user_id);
    for (const auto& [name, value] : params)
      k.append(1, kSep).append(name).append(1, '=').append(value);
    return k;
  }

  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  class table {
   public:
    explicit table(std::size_t max) : max_(max) {}
    bool fresh(std::string_view key, std::int64_t now) const {
      std::lock_guard lock(mu_);
      auto it = entries_.find(key);
      return it != entries_.end() && it->second > now;
    }
    void put(std::string_view key, std::int64_t now, std::int64_t until) {
      std::lock_guard lock(mu_);
      if (auto it = entries_.find(key); it != entries_.end()) {
        it->second = until;
        return;
      }
      if (entries_.size() >= max_) {
        std::erase_if(entries_, [now](const auto& e) { return e.second <= now; });
        if (entries_.size() >= max_) entries_.clear();
      }
      entries_.emplace(std::string(key), until);
    }

   private:
    std::size_t max_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::int64_t, key_hash, std::equal_to<>> entries_;
  };

  std::int64_t ttl_;
  table callers_;
  table resources_;
};

}  // namespace herald::app

// What Valkey must hear: the set of Herald channels this node has local subscribers on, plus the
// pure set arithmetic that turns "desired" and "currently subscribed on this connection" into the
// SUBSCRIBE/UNSUBSCRIBE commands to send (after a reconnect: everything; after a topology change:
// the channels that moved). Shape borrowed from Boost.Redis's detail::subscription_tracker.
//
// Not thread-safe; owner: redis_bus, touched only on the bus thread. Reference counting of local
// subscribers is the caller's job (fanout): add()/remove() are idempotent set operations.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace herald::bus {

using channel_set = std::set<std::string, std::less<>>;

class subscription_tracker {
 public:
  bool add(std::string_view channel);     // true if the channel was not tracked yet
  bool remove(std::string_view channel);  // true if the channel was tracked
  bool contains(std::string_view channel) const {
    return channels_.find(channel) != channels_.end();
  }
  const channel_set& channels() const noexcept { return channels_; }
  std::size_t size() const noexcept { return channels_.size(); }
  void clear() noexcept { channels_.clear(); }

  struct diff {
    std::vector<std::string> subscribe;    // desired but not current
    std::vector<std::string> unsubscribe;  // current but no longer desired
  };
  // Both inputs are sorted sets, so this is a linear merge.
  static diff reconcile(const channel_set& desired, const channel_set& current);

  // Splits `channels` into groups of at most `max_per_command` for multi-channel SUBSCRIBE commands
  // (keeps a resubscribe after reconnect from building one huge command).
  static std::vector<std::vector<std::string>> batches(const std::vector<std::string>& channels,
                                                       std::size_t max_per_command);

 private:
  channel_set channels_;
};

}  // namespace herald::bus

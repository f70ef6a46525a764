#include "bus/channel_log.hpp"

#include <algorithm>

namespace herald::bus {

namespace {
// Idle channels checked per append: enough to keep up with channels going idle, without a scan.
constexpr int kForgetPerAppend = 4;
}  // namespace

std::uint64_t channel_log::wall_clock_micros() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

channel_log::channel_log(std::size_t max_events, std::chrono::milliseconds max_age,
                         epoch_source epochs)
    : max_events_(std::max<std::size_t>(1, max_events)),
      max_age_(max_age),
      epochs_(std::move(epochs)) {}

channel_log::state& channel_log::touch(const std::string& channel, clock::time_point now) {
  auto [it, created] = channels_.try_emplace(channel);
  state& c = it->second;
  if (created) {
    c.epoch = c.head = std::max(epochs_(), highest_ + 1);
    highest_ = c.head;
    idle_order_.push_back(channel);
    c.lru = std::prev(idle_order_.end());
  } else {
    idle_order_.splice(idle_order_.end(), idle_order_, c.lru);
  }
  c.used = now;
  while (!c.ring.empty() && now - c.ring.front().at > max_age_) c.ring.pop_front();
  return c;
}

void channel_log::forget_idle(clock::time_point now) {
  for (int i = 0; i < kForgetPerAppend && !idle_order_.empty(); ++i) {
    auto it = channels_.find(idle_order_.front());
    if (it == channels_.end() || now - it->second.used <= max_age_) return;
    channels_.erase(it);
    idle_order_.pop_front();
  }
}

sse::log_read channel_log::read(const std::string& channel, std::optional<std::uint64_t> after,
                                std::size_t limit, clock::time_point now) {
  const state& c = touch(channel, now);
  sse::log_read r;
  r.head = c.head;
  r.epoch = c.epoch;
  r.floor = c.ring.empty() ? c.head : c.ring.front().seq - 1;
  if (!after) return r;
  if (*after < r.floor || *after > r.head) {
    r.reset = true;
    return r;
  }
  // Positions in the ring are consecutive: the entry after `after` is at a known index.
  const auto first = static_cast<std::size_t>(*after - r.floor);
  const std::size_t n = std::min(limit, c.ring.size() - first);
  r.entries.reserve(n);
  for (std::size_t i = first; i < first + n; ++i)
    r.entries.push_back(sse::log_entry{c.ring[i].seq, c.ring[i].f});
  return r;
}

}  // namespace herald::bus

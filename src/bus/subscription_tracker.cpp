#include "bus/subscription_tracker.hpp"

#include <algorithm>
#include <iterator>

namespace herald::bus {

bool subscription_tracker::add(std::string_view channel) {
  return channels_.emplace(channel).second;
}

bool subscription_tracker::remove(std::string_view channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return false;
  channels_.erase(it);
  return true;
}

subscription_tracker::diff subscription_tracker::reconcile(const channel_set& desired,
                                                           const channel_set& current) {
  diff d;
  std::set_difference(desired.begin(), desired.end(), current.begin(), current.end(),
                      std::back_inserter(d.subscribe));
  std::set_difference(current.begin(), current.end(), desired.begin(), desired.end(),
                      std::back_inserter(d.unsubscribe));
  return d;
}

std::vector<std::vector<std::string>> subscription_tracker::batches(
    const std::vector<std::string>& channels, std::size_t max_per_command) {
  std::vector<std::vector<std::string>> out;
  if (max_per_command == 0) max_per_command = 1;
  for (std::size_t i = 0; i < channels.size(); i += max_per_command) {
    auto end = std::min(channels.size(), i + max_per_command);
    out.emplace_back(channels.begin() + static_cast<std::ptrdiff_t>(i),
                     channels.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return out;
}

}  // namespace herald::bus

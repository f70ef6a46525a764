#include "bus/backoff.hpp"

#include <algorithm>

namespace herald::bus {

backoff::backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, std::uint64_t seed)
    : min_(std::max<std::chrono::milliseconds>(min, std::chrono::milliseconds(1))),
      max_(std::max(max, min_)),
      rng_(seed) {}

backoff::backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
    : backoff(min, max, std::random_device{}()) {}

std::chrono::milliseconds backoff::ceiling() const noexcept {
  // Saturate the shift: 2^attempt overflows long before it matters.
  const unsigned shift = std::min(attempt_, 30u);
  const long long c = static_cast<long long>(min_.count()) << shift;
  return std::chrono::milliseconds(std::min<long long>(c, max_.count()));
}

std::chrono::milliseconds backoff::next() {
  const auto hi = ceiling();
  if (attempt_ < 64) ++attempt_;
  std::uniform_int_distribution<long long> pick(min_.count(), hi.count());
  return std::chrono::milliseconds(pick(rng_));
}

}  // namespace herald::bus

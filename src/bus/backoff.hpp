// Reconnect delays: exponential growth with "full jitter" (a uniformly random delay up to the
// current ceiling) so that many Herald nodes that lost the same Valkey do not reconnect in
// lock-step. Pure: no clock, no timers; the caller sleeps. Owner: one connection slot of redis_bus
// (bus thread only).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace herald::bus {

class backoff {
 public:
  // Delays are drawn from [min, ceiling] where ceiling = min(max, min * 2^attempt). The floor keeps
  // a dead server from being hammered in a tight loop; the first delay after reset() is exactly
  // `min`.
  backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, std::uint64_t seed);
  backoff(std::chrono::milliseconds min, std::chrono::milliseconds max);  // random seed

  std::chrono::milliseconds next();  // the delay before the next attempt; grows the ceiling
  void reset() noexcept { attempt_ = 0; }
  unsigned attempts() const noexcept { return attempt_; }
  std::chrono::milliseconds ceiling() const noexcept;  // upper bound of the next next()

 private:
  std::chrono::milliseconds min_, max_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace herald::bus

// New stream requests per second per client address (`[server] connect_rate_per_address`, burst
// `connect_burst_per_address`): a token bucket per address, refilled lazily from the time of its
// last use, so there is no timer per client (nor any timer). IPv6 addresses share the bucket of
// their /64: one host usually holds a whole /64, and per-address buckets would let it rotate
// through 2^64 of them.
//
// Memory is bounded: at most `max_addresses` buckets, in stripes, each an LRU list; a new address
// in a full stripe takes over the least recently seen bucket (its node is reused, no allocation).
// That bucket has either refilled (then nothing is lost) or belongs to one of `max_addresses`
// addresses all active within one refill period, in which case one of them starts afresh (fail
// open, never lock anyone out).
//
// Ownership: the gateway owns it. Thread safety: take() may run on any thread (one lock per
// stripe, held for a hash lookup).
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <unordered_map>

namespace herald::app {

class connect_rate {
 public:
  using clock = std::chrono::steady_clock;

  // `per_second` tokens a second, at most `burst` saved up; per_second == 0 disables the limit.
  connect_rate(std::uint32_t per_second, std::uint32_t burst, std::size_t max_addresses = 65536);
  connect_rate(const connect_rate&) = delete;
  connect_rate& operator=(const connect_rate&) = delete;

  bool enabled() const { return per_second_ != 0; }

  // Takes a token for `client` at `now`. On refusal, `*retry_after` (when given) is the wait until
  // the next token, rounded up to whole seconds (at least 1).
  bool take(const boost::asio::ip::address& client, clock::time_point now,
            std::chrono::seconds* retry_after = nullptr);

  std::size_t tracked_addresses() const;  // tests: never above max_addresses

 private:
  struct key {
    std::uint64_t hi = 0, lo = 0;
    bool operator==(const key&) const = default;
  };
  struct key_hash {
    std::uint64_t seed;
    std::size_t operator()(const key& k) const noexcept;
  };
  struct bucket {
    double tokens = 0;
    clock::time_point last{};
  };
  struct stripe {
    mutable std::mutex mu;
    std::list<std::pair<key, bucket>> lru;  // most recently used first
    std::unordered_map<key, std::list<std::pair<key, bucket>>::iterator, key_hash> index;
  };
  static constexpr std::size_t kStripes = 16;

  static key key_of(const boost::asio::ip::address& a);

  const double per_second_;
  const double burst_;
  const std::size_t per_stripe_;
  std::array<stripe, kStripes> stripes_;
  const std::uint64_t seed_;
};

}  // namespace herald::app

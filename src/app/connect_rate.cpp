#include "app/connect_rate.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>

#include "net/ip_network.hpp"

namespace herald::app {

namespace {

// A random hash seed: the keys come from clients, so a fixed hash would let them pick colliding
// addresses and turn a stripe's table into a list.
std::uint64_t random_seed() {
  std::uint64_t s = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&s), sizeof s) != 1)
    s = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return s;
}

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

std::size_t connect_rate::key_hash::operator()(const key& k) const noexcept {
  return static_cast<std::size_t>(mix(k.hi ^ seed) ^ mix(k.lo + seed));
}

connect_rate::connect_rate(std::uint32_t per_second, std::uint32_t burst, std::size_t max_addresses)
    : per_second_(per_second),
      burst_(std::max<std::uint32_t>(burst, 1)),
      per_stripe_(std::max<std::size_t>(max_addresses / kStripes, 1)),
      seed_(random_seed()) {
  for (auto& s : stripes_) s.index = decltype(s.index)(16, key_hash{seed_});
}

connect_rate::key connect_rate::key_of(const boost::asio::ip::address& address) {
  const auto a = net::unmapped(address);
  key k;
  if (a.is_v4()) {
    k.lo = a.to_v4().to_uint();
    k.hi = 1;  // with lo < 2^32, distinct from every IPv6 key (whose lo is all ones)
    return k;
  }
  const auto bytes = a.to_v6().to_bytes();
  for (int i = 0; i < 8; ++i) k.hi = (k.hi << 8) | bytes[static_cast<std::size_t>(i)];
  k.lo = 0xffffffffffffffffULL;  // the /64: the interface half is dropped
  return k;
}

bool connect_rate::take(const boost::asio::ip::address& client, clock::time_point now,
                        std::chrono::seconds* retry_after) {
  if (per_second_ == 0) return true;
  const key k = key_of(client);
  auto& s = stripes_[key_hash{seed_}(k) % kStripes];
  std::lock_guard lock(s.mu);
  auto found = s.index.find(k);
  bucket* b;
  if (found != s.index.end()) {
    s.lru.splice(s.lru.begin(), s.lru, found->second);  // most recently used first
    b = &found->second->second;
    const double elapsed = std::chrono::duration<double>(now - b->last).count();
    if (elapsed > 0) b->tokens = std::min(burst_, b->tokens + elapsed * per_second_);
    b->last = std::max(b->last, now);
  } else {
    if (s.lru.size() >= per_stripe_) {
      // Reuse the least recently seen bucket and its index node: no allocation once full.
      auto last = std::prev(s.lru.end());
      auto node = s.index.extract(last->first);
      node.key() = k;
      last->first = k;
      s.index.insert(std::move(node));
      s.lru.splice(s.lru.begin(), s.lru, last);
    } else {
      s.lru.emplace_front(k, bucket{});
      s.index.emplace(k, s.lru.begin());
    }
    b = &s.lru.front().second;
    b->tokens = burst_;
    b->last = now;
  }
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    return true;
  }
  if (retry_after) {
    const double wait = (1.0 - b->tokens) / per_second_;
    *retry_after = std::chrono::seconds(std::max<std::int64_t>(1, std::llround(std::ceil(wait))));
  }
  return false;
}

std::size_t connect_rate::tracked_addresses() const {
  std::size_t n = 0;
  for (const auto& s : stripes_) {
    std::lock_guard lock(s.mu);
    n += s.lru.size();
  }
  return n;
}

}  // namespace herald::app

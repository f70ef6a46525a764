// fanout: channel -> local subscribers, sharded by event-loop thread.
//
// Each event is encoded once into an immutable frame; the same frame (one shared_ptr) is handed to
// every subscriber's queue on every shard. Shard i's subscriber table is owned by shard i's thread
// (its io_context executor) and touched only there, so the per-delivery path takes no lock.
// The cross-shard index (which shards have subscribers for a channel, and the bus interest
// refcount) is guarded by one mutex, taken once per publish and once per subscribe/unsubscribe.
//
// Ownership: created by app/ after the public server's io_contexts exist; outlives every stream.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "sse/event.hpp"

namespace herald::sse {

// A stream's delivery hook (implemented by net's SSE stream). deliver() runs on the subscriber's
// shard thread and must not call fanout::unsubscribe synchronously (defer closing via post).
class subscriber {
 public:
  virtual void deliver(const frame& f) = 0;
  // An event of a reliable channel with its position in the channel's log (its frame carries the
  // id `<quote(channel)>:<seq>`). A stream's resume relay (relay.hpp) keeps track of positions;
  // anything else just delivers the frame.
  virtual void deliver_logged(const frame& f, const std::string& channel, std::uint64_t seq) {
    (void)channel;
    (void)seq;
    deliver(f);
  }

  // Asks the cache for what a delivery will touch, a few subscribers ahead of the delivering loop:
  // with thousands of streams each one's state is cold by its next event, and without this a
  // delivery mostly waits on those misses (bench/README.md, row 23). Implementations keep what
  // deliver() and their write touch within the object's first `kHotBytes`, this base first; the
  // 16 bytes before the object are make_shared's reference counts (shared_from_this touches them).
  static constexpr std::size_t kHotBytes = 176;
  static void prefetch(const subscriber* s) {
    // Addresses as integers: the line before the object is outside it (a prefetch never faults).
    const auto from = reinterpret_cast<std::uintptr_t>(s) - 16;
    for (std::uintptr_t at = 0; at < kHotBytes + 16; at += 64)
      // NOLINTNEXTLINE(performance-no-int-to-ptr): only a prefetch hint, never dereferenced
      __builtin_prefetch(reinterpret_cast<const void*>(from + at));
  }

 protected:
  ~subscriber() = default;
};

class fanout {
 public:
  // Called with (channel, true) when the first local subscriber appears on any shard and
  // (channel, false) when the last one leaves. Called from a shard thread UNDER the fanout's lock,
  // so transitions reach the bus in order; it must be quick and must not call back into the fanout
  // (the buses only record/post the change).
  using interest_hook = std::function<void(const std::string& channel, bool present)>;

  // (channel, ready): run `ready` once this node receives the channel's traffic (see
  // bus::when_subscribed). Null means at once.
  using ready_hook = std::function<void(const std::string& channel, std::function<void()> ready)>;

  fanout(std::vector<boost::asio::any_io_executor> shard_executors, interest_hook hook,
         ready_hook ready = nullptr);
  ~fanout();
  fanout(const fanout&) = delete;
  fanout& operator=(const fanout&) = delete;

  std::size_t shard_count() const { return shards_.size(); }

  // Shard-thread only.
  void subscribe(std::size_t shard, const std::string& channel, subscriber* s);
  void unsubscribe(std::size_t shard, const std::string& channel, subscriber* s);

  // After subscribe(): `ready` runs (on any thread) once the channel's events reach this node.
  void when_ready(const std::string& channel, std::function<void()> ready);

  // Any thread: encode once (or take e.encoded) and deliver to every local subscriber of e.channel;
  // a logged event (e.seq != 0) through subscriber::deliver_logged.
  void publish(const event& e);
  // Any thread: deliver an already encoded frame (`seq`: its position in a reliable channel's log,
  // or 0).
  void publish_frame(const std::string& channel, const frame& f, std::uint64_t seq = 0);
  // Any thread: publish() for each event in order, with one lock for the whole batch and one
  // hand-over per shard that has subscribers of any of them (the bus hands on the messages of one
  // read from Valkey this way), instead of one per event and shard.
  void publish_batch(std::span<const event> events);

  // Number of channels with at least one local subscriber (for tests and metrics).
  std::size_t channel_count() const;

  // Shard-thread only: when the oldest event delivered to this shard's subscribers since the last
  // call entered the fanout (the epoch if none), and forget it. The shard's flush pass takes it
  // when the pass begins and observes herald_publish_to_write_seconds when the pass ends: one
  // clock reading per publish and per pass, none per delivery.
  using clock = std::chrono::steady_clock;
  clock::time_point take_oldest_delivery(std::size_t shard);

 private:
  struct shard;
  std::vector<std::unique_ptr<shard>> shards_;
  interest_hook hook_;
  ready_hook ready_hook_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::uint32_t>>
      counts_;  // channel -> per-shard count
};

}  // namespace herald::sse

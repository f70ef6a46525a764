#include "sse/fanout.hpp"

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <utility>

#include "core/metrics.hpp"
#include "sse/encoder.hpp"

namespace herald::sse {

struct fanout::shard {
  boost::asio::any_io_executor executor;
  // The typed executor when the shard is an io_context (Herald's event loops): lets publish_frame
  // see that it already runs on the shard's thread without going through the type-erased one.
  const boost::asio::io_context::executor_type* loop = nullptr;
  std::unordered_map<std::string, std::vector<subscriber*>> subscribers;

  // A delivery takes well under a memory latency once its lines are cached: ask this far ahead.
  static constexpr std::size_t kPrefetchAhead = 8;

  // The entry time of the oldest event delivered here since the shard's last flush pass took it
  // (take_oldest_delivery); the epoch when none. Shard thread only.
  clock::time_point oldest{};

  bool on_own_thread() const { return loop && loop->running_in_this_thread(); }
  // `seq`: the event's position in a reliable channel's log, or 0. `entered`: when the event
  // entered the fanout; the epoch = now (an inline delivery).
  void deliver(const std::string& channel, const frame& f, std::uint64_t seq,
               clock::time_point entered = {}) {
    auto it = subscribers.find(channel);
    if (it == subscribers.end()) return;
    const auto& subs = it->second;
    const std::size_t n = subs.size();
    // One clock reading per published event and shard at most, none per delivery.
    if (oldest == clock::time_point{})
      oldest = entered == clock::time_point{} ? clock::now() : entered;
    // The first ones all at once (their misses overlap), then each one this far ahead.
    for (std::size_t i = 0; i < n && i < kPrefetchAhead; ++i) subscriber::prefetch(subs[i]);
    if (seq == 0) {
      for (std::size_t i = 0; i < n; ++i) {
        if (i + kPrefetchAhead < n) subscriber::prefetch(subs[i + kPrefetchAhead]);
        subs[i]->deliver(f);
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        if (i + kPrefetchAhead < n) subscriber::prefetch(subs[i + kPrefetchAhead]);
        subs[i]->deliver_logged(f, channel, seq);
      }
    }
    core_metrics::get().events_delivered.inc(static_cast<std::int64_t>(n));
  }
};

fanout::fanout(std::vector<boost::asio::any_io_executor> shard_executors, interest_hook hook,
               ready_hook ready)
    : hook_(std::move(hook)), ready_hook_(std::move(ready)) {
  for (auto& ex : shard_executors) {
    auto s = std::make_unique<shard>();
    s->executor = std::move(ex);
    s->loop = s->executor.target<boost::asio::io_context::executor_type>();
    shards_.push_back(std::move(s));
  }
}

fanout::~fanout() = default;

void fanout::subscribe(std::size_t shard_index, const std::string& channel, subscriber* s) {
  shards_[shard_index]->subscribers[channel].push_back(s);
  std::lock_guard lock(mu_);
  auto& counts = counts_[channel];
  if (counts.empty()) {
    counts.assign(shards_.size(), 0);
    // Under the lock so interest changes reach the bus in the order they happened on any shard.
    if (hook_) hook_(channel, true);
  }
  ++counts[shard_index];
}

void fanout::unsubscribe(std::size_t shard_index, const std::string& channel, subscriber* s) {
  auto& table = shards_[shard_index]->subscribers;
  auto it = table.find(channel);
  if (it == table.end()) return;
  auto& v = it->second;
  auto pos = std::find(v.begin(), v.end(), s);
  if (pos == v.end()) return;
  *pos = v.back();  // order among subscribers carries no meaning
  v.pop_back();
  if (v.empty()) table.erase(it);
  std::lock_guard lock(mu_);
  auto c = counts_.find(channel);
  if (c == counts_.end()) return;
  --c->second[shard_index];
  if (std::all_of(c->second.begin(), c->second.end(), [](std::uint32_t n) { return n == 0; })) {
    counts_.erase(c);
    if (hook_) hook_(channel, false);
  }
}

void fanout::when_ready(const std::string& channel, std::function<void()> ready) {
  if (ready_hook_)
    ready_hook_(channel, std::move(ready));
  else
    ready();
}

void fanout::publish(const event& e) {
  publish_frame(e.channel, e.encoded ? e.encoded : std::make_shared<const std::string>(encode(e)),
                e.seq);
}

void fanout::publish_frame(const std::string& channel, const frame& f, std::uint64_t seq) {
  // Published on the only event loop's own thread (one loop per process, the publish read by that
  // loop): its own table says whether anyone listens, so the cross-shard index and its lock are
  // skipped. From a bus thread the index is still read first, so an event nobody here listens to
  // costs no hand-over.
  if (shards_.size() == 1 && shards_.front()->on_own_thread()) {
    shards_.front()->deliver(channel, f, seq);
    return;
  }
  // Which shards have subscribers: read under the lock, deliver outside it.
  std::uint64_t mask = 0;
  {
    std::lock_guard lock(mu_);
    auto it = counts_.find(channel);
    if (it == counts_.end()) return;
    for (std::size_t i = 0; i < it->second.size() && i < 64; ++i)
      if (it->second[i] != 0) mask |= (std::uint64_t{1} << i);
  }
  const auto entered = clock::now();
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    if ((mask & (std::uint64_t{1} << i)) == 0) continue;
    shard* sh = shards_[i].get();
    // On the shard's own thread (a publish read by that event loop): deliver inline, with no copy
    // of the channel and no type-erased handler, once per publish.
    if (sh->on_own_thread()) {
      sh->deliver(channel, f, seq, entered);
      continue;
    }
    boost::asio::dispatch(
        sh->executor, [sh, channel, f, seq, entered] { sh->deliver(channel, f, seq, entered); });
  }
}

void fanout::publish_batch(std::span<const event> events) {
  if (events.size() == 1) {
    publish(events.front());
    return;
  }
  // Which shards watch each event's channel: one pass under the lock. Only watched events are
  // encoded (once each) and kept.
  struct delivery {
    std::string channel;
    frame f;
    std::uint64_t shards;
    std::uint64_t seq;
    const event* source;
  };
  auto batch = std::make_shared<std::vector<delivery>>();
  std::uint64_t any = 0;
  {
    std::lock_guard lock(mu_);
    for (const auto& e : events) {
      auto it = counts_.find(e.channel);
      if (it == counts_.end()) continue;
      std::uint64_t mask = 0;
      for (std::size_t i = 0; i < it->second.size() && i < 64; ++i)
        if (it->second[i] != 0) mask |= (std::uint64_t{1} << i);
      if (mask == 0) continue;
      batch->push_back({e.channel, e.encoded, mask, e.seq, &e});
      any |= mask;
    }
  }
  if (batch->empty()) return;
  for (auto& d : *batch) {  // outside the lock
    if (!d.f) d.f = std::make_shared<const std::string>(encode(*d.source));
    d.source = nullptr;  // the events belong to the caller; the shards run later
  }
  std::shared_ptr<const std::vector<delivery>> shared = std::move(batch);
  const auto entered = clock::now();  // one reading for the whole batch
  for (std::size_t i = 0; i < shards_.size() && i < 64; ++i) {
    const std::uint64_t bit = std::uint64_t{1} << i;
    if ((any & bit) == 0) continue;
    shard* sh = shards_[i].get();
    boost::asio::dispatch(sh->executor, [sh, shared, bit, entered] {
      for (const auto& d : *shared)
        if (d.shards & bit) sh->deliver(d.channel, d.f, d.seq, entered);
    });
  }
}

fanout::clock::time_point fanout::take_oldest_delivery(std::size_t shard_index) {
  auto& sh = *shards_[shard_index];
  return std::exchange(sh.oldest, clock::time_point{});
}

std::size_t fanout::channel_count() const {
  std::lock_guard lock(mu_);
  return counts_.size();
}

}  // namespace herald::sse

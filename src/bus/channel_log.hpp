// The in-process log of reliable channels, the embedded default's replay store: per channel a ring
// of its last `max_events` events (their positions, times and shared frames), answering the resume
// relay's reads (sse/resume.hpp). Pure: no I/O, no threads, no clock of its own (callers pass the
// time); local_bus locks around it.
//
// Positions: consecutive per channel from an epoch start taken from the wall clock in
// microseconds (at least one above any position this log gave before), so a channel forgotten and
// started again, or a process restarted, never hands out a position a client already holds: a
// client from an older epoch gets stream-reset rather than somebody else's events.
//
// Limits: events older than `max_age` are dropped (so not replayed) on every append and read; a
// channel with no append or read for `max_age` is forgotten (its ring and its numbering), checked a
// few channels per append, so memory follows the channels in use.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "sse/resume.hpp"

namespace herald::bus {

class channel_log {
 public:
  using clock = std::chrono::steady_clock;
  // Microseconds since the Unix epoch (the epoch starts of new channels); tests pass their own.
  using epoch_source = std::function<std::uint64_t()>;
  static std::uint64_t wall_clock_micros();

  channel_log(std::size_t max_events, std::chrono::milliseconds max_age,
              epoch_source epochs = wall_clock_micros);

  // The next position of `channel`; `make_frame(seq)` builds the event's frame, kept in the ring.
  template <class MakeFrame>
  std::uint64_t append(const std::string& channel, clock::time_point now, MakeFrame&& make_frame) {
    state& c = touch(channel, now);
    const std::uint64_t seq = ++c.head;
    highest_ = std::max(highest_, seq);
    c.ring.push_back(entry{seq, now, make_frame(seq)});
    if (c.ring.size() > max_events_) c.ring.pop_front();
    forget_idle(now);
    return seq;
  }

  // What the resume relay asks (sse::log_reader's contract): entries after `after`, at most
  // `limit`; `after` outside [floor, head] is a reset; nullopt asks only for head, epoch, floor.
  sse::log_read read(const std::string& channel, std::optional<std::uint64_t> after,
                     std::size_t limit, clock::time_point now);

  std::size_t channel_count() const { return channels_.size(); }

 private:
  struct entry {
    std::uint64_t seq;
    clock::time_point at;
    sse::frame f;
  };
  struct state {
    std::uint64_t epoch = 0;
    std::uint64_t head = 0;
    clock::time_point used;
    std::deque<entry> ring;
    std::list<std::string>::iterator lru;  // its place in idle_order_
  };
  state& touch(const std::string& channel, clock::time_point now);  // creates, expires old events
  void forget_idle(clock::time_point now);

  std::size_t max_events_;
  std::chrono::milliseconds max_age_;
  epoch_source epochs_;
  std::uint64_t highest_ = 0;  // the highest position given (new epochs start above it)
  std::unordered_map<std::string, state> channels_;
  std::list<std::string> idle_order_;  // least recently used first
};

}  // namespace herald::bus

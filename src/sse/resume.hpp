// Resuming streams on reliable channels (docs/reconnects.md): the resume relay stands between the
// fanout and one stream (relay.hpp) and turns "the bus's live events + the channels' logs" into a
// stream that has every event after the client's position exactly once, in order per channel, with
// django-eventstream's ids. Pure: no sockets, no executors; the log is read through a callback.
//
// The seam (subscribe first, then read the log, then live with seq > last replayed):
//   - subscribed before anything is read, it holds what the bus delivers meanwhile;
//   - open(): reads every reliable channel's log after the client's position (Last-Event-ID), or
//     only its head when the client gave none ("from now");
//   - when every first read is back: padding + stream-open (id: the starting positions), a
//     stream-reset for the channels whose position was no longer kept (their position jumps to
//     the head), the events read, then what was held: logged events past the position, plain ones;
//   - live: an event at position+1 goes straight out; one at or before the position is a duplicate
//     and dropped; one further ahead means a gap (a bus reconnect lost events, or two publishers'
//     deliveries crossed): it is held and the log read after the position, then held ones follow.
//
// Ids: a stream with ONE reliable channel sends the shared frames as they are (their id
// `<quote(channel)>:<seq>` is the same for every subscriber). A stream with SEVERAL reliable
// channels sends each logged event as a copy whose id lists every reliable channel's position
// (make_id): one allocation and a copy of the event's bytes per event and stream. Events of plain
// channels keep the shared frame; one that carries a publisher's own id gets the positions instead
// (a foreign id would be sent back as Last-Event-ID and not parse), as django-eventstream does.
//
// Ownership and threads: created with make_shared (reads hold a weak_ptr); every call on the
// stream's thread. The reader's `done` must run on that thread too, and may run inside the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "sse/event.hpp"
#include "sse/event_id.hpp"
#include "sse/relay.hpp"

namespace herald::sse {

// One event of a channel's log: its position and its frame (with the single-channel id).
struct log_entry {
  std::uint64_t seq = 0;
  frame f;
};

// A read of a channel's log after a position (bus::bus::read_log).
struct log_read {
  std::uint64_t head = 0;   // the newest position (the epoch's start when nothing was published)
  std::uint64_t epoch = 0;  // where the channel's numbering started (it restarts, from the clock,
                            // when the channel's log expired)
  std::uint64_t floor = 0;  // the oldest kept event is floor+1; floor == head: none is kept
  bool reset = false;       // the position asked for is outside [floor, head]: entries is empty
  std::vector<log_entry> entries;  // after the position, consecutive, ascending, at most `limit`
};

// Reads `channel`'s log after `after` (nullopt: only the head, epoch and floor), at most `limit`
// entries. `done` runs on the relay's thread, with errc::unavailable when the log cannot be read.
using log_reader =
    std::function<void(const std::string& channel, std::optional<std::uint64_t> after,
                       std::size_t limit, std::function<void(result<log_read>)> done)>;

// The stream's channels as the relay sees them.
struct relay_channel {
  std::string name;
  bool reliable = false;
  std::optional<std::uint64_t> resume_from;  // the client's position (reliable channels only)
};

struct relay_options {
  // Events held for the stream while it cannot send them yet: plain events before stream-open,
  // logged ones while a read is under way (past the bound, logged events are dropped and read
  // again later; plain ones make the stream a slow consumer).
  std::size_t max_held_events = 4096;
  std::size_t max_held_bytes = std::size_t{4} << 20;
  std::size_t read_batch = 256;  // events per log read
  frame read_failed;             // sent before the stream ends when a read fails (a `retry:` hint)
  frame slow_consumer;           // sent before the stream ends when plain events overflow
};

class resume_relay final : public stream_relay, public std::enable_shared_from_this<resume_relay> {
 public:
  resume_relay(std::vector<relay_channel> channels, log_reader reader, relay_options opts);

  void open(subscriber& stream, std::function<void(frame last)> end) override;
  void close() override;
  void deliver(const frame& f) override;
  void deliver_logged(const frame& f, const std::string& channel, std::uint64_t seq) override;

  bool live() const { return live_; }
  // The stream's current positions (reliable channels, in the stream's order).
  std::vector<channel_position> positions() const;

 private:
  struct track {
    std::string name;
    std::optional<std::uint64_t> resume_from;
    std::uint64_t pos = 0;    // the last position sent (or the one the stream starts from)
    std::uint64_t start = 0;  // stream-open's position for this channel
    std::uint64_t seen = 0;   // the highest position known to exist
    bool opened = false;      // its first read came back
    bool reading = false;
    std::uint64_t read_after = 0;  // the position the read under way asked for
    bool reset = false;            // opening: the client's position was no longer kept
    std::deque<log_entry> held;    // logged events past `pos`, ascending
    std::vector<log_entry> first;  // opening: what the first read returned
  };

  track* find(const std::string& channel);
  void read(std::size_t index, std::optional<std::uint64_t> after);
  void on_read(std::size_t index, result<log_read> r);
  void go_live();
  void pump(track& t);
  void hold(track& t, std::uint64_t seq, const frame& f);
  void send_logged(const frame& f);
  void send_plain(const frame& f);
  void send_reset(const std::vector<std::size_t>& which);
  const std::string& composite_id();
  void fail(const frame& last);

  std::vector<track> tracks_;
  log_reader reader_;
  relay_options opts_;
  subscriber* out_ = nullptr;
  std::function<void(frame)> end_;
  std::vector<frame> plain_held_;  // plain events before stream-open
  std::size_t held_events_ = 0;
  std::size_t held_bytes_ = 0;
  std::string id_cache_;  // composite_id() until a position changes
  bool id_stale_ = true;
  bool opening_ = false;
  bool live_ = false;
  bool closed_ = false;
  bool overflowed_ = false;  // plain events overflowed before stream-open
};

}  // namespace herald::sse

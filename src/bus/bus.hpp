// The bus: how events reach every Herald node that has subscribers for their channel.
// Implementations: local_bus (in-process, the embedded default) and the Valkey/Redis bus.
//
// Threading: publish(), add_interest() and remove_interest() may be called from any thread.
// The sink passed to start() (or start_batches()) may be called from any thread (the bus's own
// thread or an event-loop thread); it must be cheap and non-blocking (fanout::publish is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "core/result.hpp"
#include "sse/event.hpp"
#include "sse/resume.hpp"

namespace herald::bus {

using sink = std::function<void(sse::event)>;
// Several received events at once, in bus order (the messages of one read from Valkey); the sink
// may move from them.
using batch_sink = std::function<void(std::span<sse::event>)>;
using publish_done = std::function<void(result<void>)>;
// The acknowledgement with the position the event got in its channel's log: its `seq` on a
// reliable channel ([replay] channels, bus_config.hpp), 0 on any other.
using publish_ack = std::function<void(result<std::uint64_t>)>;
using log_done = std::function<void(result<sse::log_read>)>;

class bus {
 public:
  virtual ~bus() = default;

  // Begins delivering received events to `deliver`. Called once, before any publish.
  virtual void start(sink deliver) = 0;
  // start(), with received events handed on in batches: one call per read from Valkey rather than
  // one per event, so the receiver can hand a whole batch to each event loop at once. A bus that
  // receives one event at a time passes one-event batches.
  virtual void start_batches(batch_sink deliver) {
    start([deliver = std::move(deliver)](sse::event e) { deliver(std::span<sse::event>(&e, 1)); });
  }
  // Stops delivery and releases connections; after it returns the sink is never called again.
  virtual void stop() = 0;

  // Publishes one event to every node (this one included) exactly once. `done` gets an error with
  // errc::unavailable when the bus cannot take the event now: never a silent drop. `done` may run
  // on any thread, possibly before publish() returns.
  //
  // The acknowledgement contract (docs/scaling-and-bus.md): success means the bus took the event
  // while this node was subscribed to everything its streams watch, and, when a stream here
  // watches the event's channel, that this node has received it (so its local subscribers get
  // it). While this node is not (re)subscribed, publish fails with errc::unavailable. A failure is
  // not a guarantee of non-delivery: an event refused after Valkey may have taken it can still be
  // delivered, so a publisher that retries delivers at least once; the event id lets clients drop
  // duplicates.
  //
  // Reliable channels: the bus gives the event the next position of its channel and keeps it in
  // the channel's log in the same step as it publishes it (the in-process ring; on Valkey one
  // script does HINCRBY + XADD + PUBLISH), so every node that receives it can also read it back;
  // `done` gets that position. A publisher's own `id` is replaced by the position's id.
  virtual void publish(sse::event e, publish_ack done) = 0;
  // The same, for callers that need no position.
  void publish(sse::event e, publish_done done) {
    publish(std::move(e), [done = std::move(done)](result<std::uint64_t> r) {
      if (r)
        done({});
      else
        done(std::move(r).err());
    });
  }

  // Reads a reliable channel's log after `after` (at most `limit` entries; nullopt: only its head,
  // epoch and floor), for the resume relay (sse/resume.hpp). A channel with no log yet gets one
  // (its numbering starts from the clock). `done` may run on any thread, possibly before read_log
  // returns; errc::unavailable when the log cannot be read now. The caller checks the tenant: the
  // bus reads whatever it is asked.
  // The callback is taken by value: overrides keep it; this default only calls it.
  virtual void read_log(const std::string& channel, std::optional<std::uint64_t> after,
                        std::size_t limit,
                        log_done done) {  // NOLINT(performance-unnecessary-value-param)
    (void)channel;
    (void)after;
    (void)limit;
    done(make_error(errc::unavailable, "this bus keeps no event log"));
  }

  // True when publish() always calls `done` before it returns (the in-process bus): a caller may
  // then keep its completion state on the stack.
  virtual bool acknowledges_inline() const { return false; }

  // This node gained its first / lost its last local subscriber on `channel`. A bus that routes per
  // channel subscribes/unsubscribes upstream; a broadcast bus may ignore these.
  virtual void add_interest(const std::string& channel) = 0;
  virtual void remove_interest(const std::string& channel) = 0;
  // add_interest(), then `subscribed` runs once this node is receiving the channel's traffic, so a
  // caller can open a stream (or publish) with no window where an event slips by. A broadcast bus
  // calls it at once; the redis bus after Valkey confirmed the subscription (after a reconnect if
  // the bus is down). Runs on any thread; never runs if the bus stops or the interest is removed
  // first.
  //
  // The callbacks here are taken by value: overrides keep them (moved into their queues); these
  // defaults only call them.
  // NOLINTBEGIN(performance-unnecessary-value-param)
  virtual void add_interest_confirmed(const std::string& channel,
                                      std::function<void()> subscribed) {
    add_interest(channel);
    subscribed();
  }

  // Runs `ready` once this node receives `channel`'s traffic, for a channel that already has
  // interest (add_interest was called and not yet removed). The gateway sends a stream's
  // stream-open only after this, so a client that has seen stream-open cannot miss an event
  // published next. A broadcast bus calls it at once. Runs on any thread; never runs if the bus
  // stops first.
  virtual void when_subscribed(const std::string& channel, std::function<void()> ready) {
    (void)channel;
    ready();
  }
  // NOLINTEND(performance-unnecessary-value-param)

  // False while the bus cannot deliver (e.g. Valkey connection down). Drives /readyz.
  virtual bool ready() const = 0;
  virtual std::string describe() const = 0;  // e.g. "local", "redis://127.0.0.1:6379 (native)"
};

}  // namespace herald::bus

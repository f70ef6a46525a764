// The unit that flows from publishers through the bus to streams. Pure data; no I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace herald::sse {

// An encoded SSE frame. Encoded once per event and shared, immutable, by every subscriber's queue.
using frame = std::shared_ptr<const std::string>;

struct event {
  event() = default;
  // Not an aggregate: `event{channel, type, data, id}` stays valid as the fields below grow.
  event(std::string channel_, std::string type_, std::string data_, std::string id_ = {},
        std::uint64_t seq_ = 0)
      : channel(std::move(channel_)),
        type(std::move(type_)),
        data(std::move(data_)),
        id(std::move(id_)),
        seq(seq_) {}

  std::string channel;  // "<prefix>:<tenant_id>:<resource_id>"
  std::string type;     // "<resource>.<verb>", e.g. "scan.progress"
  std::string data;  // the payload as sent on the wire: serialized flat JSON object (or raw text)
  std::string id;    // optional SSE id; empty means no `id:` line
  // Reliable channels (docs/reconnects.md): the event's position in its channel's log, assigned by
  // the bus; 0 = not logged. A logged event's id line is `<quote(channel)>:<seq>` (event_id.hpp),
  // whatever `id` says.
  std::uint64_t seq = 0;
  // The event's SSE bytes when the bus encoded them already (the in-process log keeps the frame
  // it shares with the streams); null = the fanout encodes.
  frame encoded;
};

}  // namespace herald::sse

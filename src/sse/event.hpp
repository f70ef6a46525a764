// The unit that flows from publishers through the bus to streams. Pure data; no I/O.
#pragma once

#include <memory>
#include <string>

namespace herald::sse {

struct event {
  std::string channel;  // "<prefix>:<tenant_id>:<resource_id>"
  std::string type;     // "<resource>.<verb>", e.g. "scan.progress"
  std::string data;  // the payload as sent on the wire: serialized flat JSON object (or raw text)
  std::string id;    // optional SSE id; empty means no `id:` line
};

// An encoded SSE frame. Encoded once per event and shared, immutable, by every subscriber's queue.
using frame = std::shared_ptr<const std::string>;

}  // namespace herald::sse

// Bus metrics beyond core_metrics::bus_invalid_messages, registered once in the process-wide
// registry (so every bus instance in a process adds to the same series). Thread-safety: relaxed
// atomics.
#pragma once

#include <array>

#include "bus/message_codec.hpp"
#include "core/metrics.hpp"

namespace herald::bus {

struct bus_metrics {
  metric& up;                  // gauge: 1 while the bus is ready (all connections up), else 0
  metric& reconnects;          // counter: connection losses / failed connection attempts
  metric& messages_received;   // counter: valid messages delivered to the sink
  metric& publishes;           // counter: publishes acknowledged by Valkey
  metric& publish_failures;    // counter: publishes answered with an error (503 to the caller)
  metric& pending_publishes;   // gauge: publishes sent and not yet acknowledged
  metric& topology_refreshes;  // counter: cluster topology fetches that succeeded
  // For the scale-out benchmark (counts, not timers): what one node's bus reads and writes.
  metric& read_batches;            // counter: subscriber reads that handed >= 1 message to the sink
  metric& bytes_read;              // counter: bytes read on subscriber connections
  metric& publish_bytes;           // counter: bytes of PUBLISH/SPUBLISH commands sent
  metric& publish_fences;          // counter: PINGs that confirmed acknowledged publishes' receipt
  metric& subscriber_connections;  // gauge: subscriber connections up (cluster: one per shard)
  metric& publisher_connections;   // gauge: publisher connections up (cluster: one per master)
  metric& subscribed_channels;     // gauge: pub/sub channels this node is subscribed to
  // counter per reason: herald_bus_messages_dropped_total{reason="<drop_reason_name>"}
  std::array<metric*, kDropReasonCount> dropped;
  metric& dropped_for(drop_reason r) const { return *dropped[static_cast<std::size_t>(r)]; }
  static bus_metrics& get();
};

}  // namespace herald::bus

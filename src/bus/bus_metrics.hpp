// Bus metrics beyond core_metrics::bus_invalid_messages, registered once in the process-wide
// registry (so every bus instance in a process adds to the same series). Thread-safety: relaxed
// atomics.
#pragma once

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
  static bus_metrics& get();
};

}  // namespace herald::bus

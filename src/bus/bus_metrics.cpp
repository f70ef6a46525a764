#include "bus/bus_metrics.hpp"

namespace herald::bus {

bus_metrics& bus_metrics::get() {
  auto& r = metrics_registry::instance();
  static bus_metrics m{
      r.gauge("herald_bus_up", "1 while the Valkey bus has all its connections up"),
      r.counter("herald_bus_reconnects_total", "Valkey connection losses and failed attempts"),
      r.counter("herald_bus_messages_received_total", "Valid bus messages delivered locally"),
      r.counter("herald_bus_publishes_total", "Publishes acknowledged by Valkey"),
      r.counter("herald_bus_publish_failures_total", "Publishes refused or failed (503)"),
      r.gauge("herald_bus_pending_publishes", "Publishes awaiting a Valkey reply"),
      r.counter("herald_bus_topology_refreshes_total", "Cluster topology refreshes"),
  };
  return m;
}

}  // namespace herald::bus

#include "bus/bus_metrics.hpp"

#include <string>

namespace herald::bus {

bus_metrics& bus_metrics::get() {
  auto& r = metrics_registry::instance();
  static bus_metrics m = [&r] {
    bus_metrics b{
        r.gauge("herald_bus_up", "1 while the Valkey bus has all its connections up"),
        r.counter("herald_bus_reconnects_total", "Valkey connection losses and failed attempts"),
        r.counter("herald_bus_messages_received_total", "Valid bus messages delivered locally"),
        r.counter("herald_bus_publishes_total", "Publishes acknowledged by Valkey"),
        r.counter("herald_bus_publish_failures_total", "Publishes refused or failed (503)"),
        r.gauge("herald_bus_pending_publishes", "Publishes awaiting a Valkey reply"),
        r.counter("herald_bus_topology_refreshes_total", "Cluster topology refreshes"),
        r.counter("herald_bus_read_batches_total",
                  "Subscriber reads that handed at least one message to the streams"),
        r.counter("herald_bus_bytes_read_total", "Bytes read on subscriber connections"),
        r.counter("herald_bus_publish_bytes_total", "Bytes of PUBLISH commands sent"),
        r.counter("herald_bus_publish_fences_total",
                  "PINGs on a subscriber connection that confirmed acknowledged publishes"),
        r.gauge("herald_bus_subscriber_connections", "Subscriber connections up"),
        r.gauge("herald_bus_publisher_connections", "Publisher connections up"),
        r.gauge("herald_bus_subscribed_channels", "Pub/sub channels this node is subscribed to"),
        {},
    };
    for (std::size_t i = 0; i < kDropReasonCount; ++i)
      b.dropped[i] =
          &r.counter("herald_bus_messages_dropped_total{reason=\"" +
                         std::string(drop_reason_name(static_cast<drop_reason>(i))) + "\"}",
                     "Bus messages dropped, by reason");
    return b;
  }();
  return m;
}

}  // namespace herald::bus

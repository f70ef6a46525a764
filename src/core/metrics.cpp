#include "core/metrics.hpp"

#include <string_view>

namespace herald {

metrics_registry& metrics_registry::instance() {
  static metrics_registry r;
  return r;
}

metric& metrics_registry::get_or_add(const std::string& name, const std::string& help, bool gauge) {
  std::lock_guard lock(mu_);
  for (auto& m : metrics_)
    if (m.name() == name) return m;
  return metrics_.emplace_back(name, help, gauge);
}

metric& metrics_registry::counter(const std::string& name, const std::string& help) {
  return get_or_add(name, help, false);
}
metric& metrics_registry::gauge(const std::string& name, const std::string& help) {
  return get_or_add(name, help, true);
}

std::string metrics_registry::render_prometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (std::size_t i = 0; i < metrics_.size(); ++i) {
    const auto& m = metrics_[i];
    // A name with labels ("family{reason=\"x\"}") is one series of its family: HELP and TYPE
    // once, before the family's first series (Prometheus wants a family's series together).
    const std::string_view family = std::string_view(m.name()).substr(0, m.name().find('{'));
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j)
      seen = std::string_view(metrics_[j].name()).substr(0, metrics_[j].name().find('{')) == family;
    if (seen) continue;
    out += "# HELP " + std::string(family) + " " + m.help() + "\n";
    out += "# TYPE " + std::string(family) + (m.is_gauge() ? " gauge\n" : " counter\n");
    for (std::size_t j = i; j < metrics_.size(); ++j) {
      const auto& s = metrics_[j];
      if (std::string_view(s.name()).substr(0, s.name().find('{')) != family) continue;
      out += s.name() + " " + std::to_string(s.get()) + "\n";
    }
  }
  return out;
}

core_metrics& core_metrics::get() {
  auto& r = metrics_registry::instance();
  static core_metrics m{
      r.gauge("herald_connections", "Open SSE streams"),
      r.gauge("herald_http_connections", "Open TCP connections on both listeners"),
      r.counter("herald_events_published_total", "Events accepted for publishing"),
      r.counter("herald_events_delivered_total", "Event deliveries queued to streams"),
      r.counter("herald_slow_consumer_drops_total", "Streams closed by the slow-consumer policy"),
      r.counter("herald_errors_total", "Server-side errors"),
      r.counter("herald_auth_failures_total", "Requests refused with 401"),
      r.counter("herald_bus_invalid_messages_total", "Bus messages that could not be decoded"),
  };
  return m;
}

}  // namespace herald

// Process-wide counters and gauges rendered as Prometheus text on the internal listener's /metrics.
// Thread-safety: every metric is a relaxed atomic; registration happens at start-up (before
// threads).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

namespace herald {

class metric {
 public:
  metric(std::string name, std::string help, bool gauge)
      : name_(std::move(name)), help_(std::move(help)), gauge_(gauge) {}
  void inc(std::int64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  void dec(std::int64_t n = 1) noexcept { v_.fetch_sub(n, std::memory_order_relaxed); }
  void set(std::int64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
  std::int64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  bool is_gauge() const { return gauge_; }

 private:
  std::string name_, help_;
  bool gauge_;
  std::atomic<std::int64_t> v_{0};
};

// The registry. Metrics live as long as the process (stable addresses: deque never relocates).
// A labelled series is registered by its full name, e.g. `x_total{reason="y"}`; the series of one
// family are rendered together under one HELP/TYPE.
class metrics_registry {
 public:
  static metrics_registry& instance();
  metric& counter(const std::string& name, const std::string& help);
  metric& gauge(const std::string& name, const std::string& help);
  std::string render_prometheus() const;

 private:
  metric& get_or_add(const std::string& name, const std::string& help, bool gauge);
  mutable std::mutex mu_;
  std::deque<metric> metrics_;
};

// The metrics every module shares, by name, so tests and docs can rely on them.
struct core_metrics {
  metric& connections;           // gauge: open SSE streams
  metric& http_connections;      // gauge: open TCP connections on the public listener
  metric& events_published;      // counter: events accepted for publishing (API, CLI, bus)
  metric& events_delivered;      // counter: event deliveries queued to streams
  metric& slow_consumer_drops;   // counter: streams closed by the slow-consumer policy
  metric& errors;                // counter: server-side errors (5xx, internal)
  metric& auth_failures;         // counter: 401 answers
  metric& bus_invalid_messages;  // counter: messages on the bus that could not be decoded
  static core_metrics& get();
};

}  // namespace herald

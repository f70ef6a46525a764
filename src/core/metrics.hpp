// Process-wide counters, gauges and histograms rendered as Prometheus text on the internal
// listener's /metrics (docs/metrics.md lists every name).
// Thread-safety: every value is a relaxed atomic (inc/set/observe from any thread, no lock);
// registration takes the registry's lock and happens at start-up or on rare paths, never per event.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

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

// A Prometheus histogram of durations, observed in nanoseconds and rendered in seconds (the base
// unit). The bounds are fixed at registration; observe() is a short linear scan and three relaxed
// atomic adds: no lock, no allocation.
class histogram {
 public:
  histogram(std::string name, std::string help, std::vector<double> bounds_seconds);
  void observe_ns(std::int64_t ns) noexcept;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  void render(std::string& out) const;

 private:
  std::string name_, help_;
  std::vector<double> bounds_;                      // seconds, ascending
  std::vector<std::int64_t> bounds_ns_;             // the same in nanoseconds
  std::deque<std::atomic<std::uint64_t>> buckets_;  // per bound, not cumulative; +Inf is count_
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::int64_t> sum_ns_{0};
};

// The registry. Metrics live as long as the process (stable addresses: deques never relocate).
// A labelled series is registered by its full name, e.g. `x_total{reason="y"}`; the series of one
// family are rendered together under one HELP/TYPE.
class metrics_registry {
 public:
  static metrics_registry& instance();
  metric& counter(const std::string& name, const std::string& help);
  metric& gauge(const std::string& name, const std::string& help);
  histogram& duration_histogram(const std::string& name, const std::string& help,
                                std::vector<double> bounds_seconds);
  // A value read when /metrics is rendered (on the internal listener's thread): process figures,
  // bus and store health. `fn` must be quick and thread-safe. Registering a name again replaces
  // its function (a gateway created again in the same process, e.g. in tests).
  void gauge_fn(const std::string& name, const std::string& help, std::function<double()> fn);
  void counter_fn(const std::string& name, const std::string& help, std::function<double()> fn);
  std::string render_prometheus() const;

 private:
  metric& get_or_add(const std::string& name, const std::string& help, bool gauge);
  void add_fn(const std::string& name, const std::string& help, bool gauge,
              std::function<double()> fn);
  struct computed {
    std::string name, help;
    bool gauge;
    std::function<double()> fn;
  };
  enum class kind : unsigned char { value, hist, fn };
  mutable std::mutex mu_;
  std::deque<metric> metrics_;
  std::deque<histogram> histograms_;
  std::deque<computed> computed_;
  std::vector<std::pair<kind, std::size_t>> order_;  // registration order, for rendering
};

// A label value escaped for the text format (backslash, double quote, newline).
std::string prometheus_label_value(std::string_view v);

// The standard process_* metrics of Prometheus client libraries, read from /proc/self at scrape
// time: process_open_fds, process_max_fds, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_cpu_seconds_total, process_start_time_seconds.
void register_process_metrics();

// herald_build_info{version="...",commit="..."} 1.
void register_build_info();

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
  // Seconds from an event entering the fanout to the flush pass that wrote it: one observation
  // per flush pass that carried events, the age of its oldest event when the pass ends (see
  // sse::fanout::take_oldest_delivery).
  histogram& publish_to_write;
  // Seconds from a stream request being handled to the stream accepted (credentials, membership,
  // endpoint lookup, channels): one observation per opened stream.
  histogram& connect_latency;
  static core_metrics& get();
};

}  // namespace herald

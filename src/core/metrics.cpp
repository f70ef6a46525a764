#include "core/metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "core/build_info.hpp"

namespace herald {

namespace {

std::string_view family_of(std::string_view name) { return name.substr(0, name.find('{')); }

// Prometheus floats: integers without a fraction, others with enough digits.
std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// histogram

histogram::histogram(std::string name, std::string help, std::vector<double> bounds_seconds)
    : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds_seconds)) {
  for (double b : bounds_) {
    bounds_ns_.push_back(static_cast<std::int64_t>(std::llround(b * 1e9)));
    buckets_.emplace_back(0);
  }
}

void histogram::observe_ns(std::int64_t ns) noexcept {
  if (ns < 0) ns = 0;
  for (std::size_t i = 0; i < bounds_ns_.size(); ++i) {
    if (ns <= bounds_ns_[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void histogram::render(std::string& out) const {
  // Read the count first: buckets observed after it may make a bucket exceed it by a few, which
  // a scrape racing observations accepts (Prometheus clients do the same).
  const auto count = count_.load(std::memory_order_relaxed);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += name_ + "_bucket{le=\"" + format_number(bounds_[i]) + "\"} " +
           std::to_string(std::min(cumulative, count)) + "\n";
  }
  out += name_ + "_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  out += name_ + "_sum " + format_number(static_cast<double>(sum_ns_.load()) / 1e9) + "\n";
  out += name_ + "_count " + std::to_string(count) + "\n";
}

// -------------------------------------------------------------------------------------------------
// registry

metrics_registry& metrics_registry::instance() {
  static metrics_registry r;
  return r;
}

metric& metrics_registry::get_or_add(const std::string& name, const std::string& help, bool gauge) {
  std::lock_guard lock(mu_);
  for (auto& m : metrics_)
    if (m.name() == name) return m;
  order_.emplace_back(kind::value, metrics_.size());
  return metrics_.emplace_back(name, help, gauge);
}

metric& metrics_registry::counter(const std::string& name, const std::string& help) {
  return get_or_add(name, help, false);
}
metric& metrics_registry::gauge(const std::string& name, const std::string& help) {
  return get_or_add(name, help, true);
}

histogram& metrics_registry::duration_histogram(const std::string& name, const std::string& help,
                                                std::vector<double> bounds_seconds) {
  std::lock_guard lock(mu_);
  for (auto& h : histograms_)
    if (h.name() == name) return h;
  order_.emplace_back(kind::hist, histograms_.size());
  return histograms_.emplace_back(name, help, std::move(bounds_seconds));
}

void metrics_registry::add_fn(const std::string& name, const std::string& help, bool gauge,
                              std::function<double()> fn) {
  std::lock_guard lock(mu_);
  for (auto& c : computed_)
    if (c.name == name) {
      c.fn = std::move(fn);
      return;
    }
  order_.emplace_back(kind::fn, computed_.size());
  computed_.push_back(computed{name, help, gauge, std::move(fn)});
}

void metrics_registry::gauge_fn(const std::string& name, const std::string& help,
                                std::function<double()> fn) {
  add_fn(name, help, true, std::move(fn));
}
void metrics_registry::counter_fn(const std::string& name, const std::string& help,
                                  std::function<double()> fn) {
  add_fn(name, help, false, std::move(fn));
}

std::string metrics_registry::render_prometheus() const {
  std::lock_guard lock(mu_);
  auto name_of = [&](const std::pair<kind, std::size_t>& e) -> const std::string& {
    switch (e.first) {
      case kind::value:
        return metrics_[e.second].name();
      case kind::hist:
        return histograms_[e.second].name();
      case kind::fn:
        break;
    }
    return computed_[e.second].name;
  };
  std::string out;
  std::vector<bool> done(order_.size(), false);
  for (std::size_t i = 0; i < order_.size(); ++i) {
    if (done[i]) continue;
    const auto& first = order_[i];
    const std::string family(family_of(name_of(first)));
    // HELP and TYPE once, then every series of the family (Prometheus wants them together).
    if (first.first == kind::hist) {
      const auto& h = histograms_[first.second];
      out.append("# HELP ").append(family).append(" ").append(h.help());
      out.append("\n# TYPE ").append(family).append(" histogram\n");
      h.render(out);
      done[i] = true;
      continue;
    }
    const bool gauge = first.first == kind::value ? metrics_[first.second].is_gauge()
                                                  : computed_[first.second].gauge;
    const std::string& help =
        first.first == kind::value ? metrics_[first.second].help() : computed_[first.second].help;
    out.append("# HELP ").append(family).append(" ").append(help).append("\n");
    out += "# TYPE " + family + (gauge ? " gauge\n" : " counter\n");
    for (std::size_t j = i; j < order_.size(); ++j) {
      const auto& e = order_[j];
      if (done[j] || e.first == kind::hist || family_of(name_of(e)) != family) continue;
      done[j] = true;
      if (e.first == kind::value) {
        out += metrics_[e.second].name() + " " + std::to_string(metrics_[e.second].get()) + "\n";
      } else {
        const auto& c = computed_[e.second];
        out += c.name + " " + format_number(c.fn ? c.fn() : 0.0) + "\n";
      }
    }
  }
  return out;
}

std::string prometheus_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"')
      out.append(1, '\\').append(1, c);
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// -------------------------------------------------------------------------------------------------
// process_* and build info

namespace {

// /proc/self/stat fields after the command name (which may contain spaces: read past its ')').
std::vector<std::string> proc_stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> fields;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 2));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;  // fields[0] is field 3 (state)
}

double stat_field(std::size_t field_number) {  // 1-based as in proc(5)
  auto f = proc_stat_fields();
  const std::size_t i = field_number - 3;
  return i < f.size() ? std::stod(f[i]) : 0.0;
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double v = 0;
      in >> v;
      return v;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

}  // namespace

void register_process_metrics() {
  auto& r = metrics_registry::instance();
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  r.counter_fn("process_cpu_seconds_total", "Total user and system CPU time spent in seconds",
               [ticks] { return (stat_field(14) + stat_field(15)) / ticks; });
  r.gauge_fn("process_open_fds", "Number of open file descriptors", [] {
    std::error_code ec;
    double n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      ++n;
    return n > 0 ? n - 1 : 0;  // less the directory's own descriptor
  });
  r.gauge_fn("process_max_fds", "Maximum number of open file descriptors", [] {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0.0;
    return static_cast<double>(rl.rlim_cur);
  });
  r.gauge_fn("process_virtual_memory_bytes", "Virtual memory size in bytes",
             [] { return stat_field(23); });
  r.gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes",
             [page] { return stat_field(24) * page; });
  const double start = boot_time_seconds() + stat_field(22) / ticks;  // fixed for the process
  r.gauge_fn("process_start_time_seconds", "Start time of the process since unix epoch in seconds",
             [start] { return start; });
}

void register_build_info() {
  metrics_registry::instance()
      .gauge("herald_build_info{version=\"" + prometheus_label_value(version()) + "\",commit=\"" +
                 prometheus_label_value(git_commit()) + "\"}",
             "Herald's version and the git commit it was built from (value 1)")
      .set(1);
}

core_metrics& core_metrics::get() {
  auto& r = metrics_registry::instance();
  // Delivery latency from well under a millisecond (an idle node) to seconds (a saturated one);
  // connects add a database round trip and a signature check.
  static const std::vector<double> write_bounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  static const std::vector<double> connect_bounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  static core_metrics m{
      r.gauge("herald_connections", "Open SSE streams"),
      r.gauge("herald_http_connections", "Open TCP connections on both listeners"),
      r.counter("herald_events_published_total", "Events accepted for publishing"),
      r.counter("herald_events_delivered_total", "Event deliveries queued to streams"),
      r.counter("herald_slow_consumer_drops_total", "Streams closed by the slow-consumer policy"),
      r.counter("herald_errors_total", "Server-side errors"),
      r.counter("herald_auth_failures_total", "Requests refused with 401"),
      r.counter("herald_bus_invalid_messages_total", "Bus messages that could not be decoded"),
      r.duration_histogram("herald_publish_to_write_seconds",
                           "Seconds from an event entering the fanout to the flush pass that "
                           "wrote it (the oldest event of each pass)",
                           write_bounds),
      r.duration_histogram("herald_connect_seconds",
                           "Seconds from a stream request to the stream accepted (auth, "
                           "membership, lookup)",
                           connect_bounds),
  };
  return m;
}

}  // namespace herald

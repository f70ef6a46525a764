// The registry's Prometheus text: histograms (cumulative buckets, +Inf, _sum in seconds, _count),
// computed values, one HELP/TYPE per family, build info and the standard process_* metrics.
#include "core/metrics.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "core/build_info.hpp"

namespace herald {
namespace {

std::string series(const std::string& text, const std::string& name) {
  auto pos = text.find("\n" + name + " ");
  if (pos == std::string::npos) return "";
  pos += name.size() + 2;
  return text.substr(pos, text.find('\n', pos) - pos);
}

TEST(metrics, histogram_renders_cumulative_buckets_in_seconds) {
  auto& r = metrics_registry::instance();
  auto& h = r.duration_histogram("test_latency_seconds", "A test histogram", {0.001, 0.01, 0.1});
  h.observe_ns(500'000);        // 0.5 ms
  h.observe_ns(2'000'000);      // 2 ms
  h.observe_ns(3'000'000);      // 3 ms
  h.observe_ns(5'000'000'000);  // 5 s: only in +Inf
  const auto text = r.render_prometheus();
  EXPECT_NE(text.find("# HELP test_latency_seconds A test histogram\n"
                      "# TYPE test_latency_seconds histogram\n"
                      "test_latency_seconds_bucket{le=\"0.001\"} 1\n"
                      "test_latency_seconds_bucket{le=\"0.01\"} 3\n"
                      "test_latency_seconds_bucket{le=\"0.1\"} 3\n"
                      "test_latency_seconds_bucket{le=\"+Inf\"} 4\n"
                      "test_latency_seconds_sum 5.0055\n"
                      "test_latency_seconds_count 4\n"),
            std::string::npos)
      << text;
}

TEST(metrics, labelled_series_share_one_help_and_type) {
  auto& r = metrics_registry::instance();
  r.gauge("test_streams{endpoint=\"/a\"}", "Streams by endpoint").set(2);
  r.counter("test_other_total", "Something else").inc();
  r.gauge("test_streams{endpoint=\"/b\"}", "Streams by endpoint").set(3);
  const auto text = r.render_prometheus();
  EXPECT_NE(text.find("# TYPE test_streams gauge\ntest_streams{endpoint=\"/a\"} 2\n"
                      "test_streams{endpoint=\"/b\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("# TYPE test_streams gauge"), text.rfind("# TYPE test_streams gauge"));
}

TEST(metrics, computed_values_are_read_at_render_and_can_be_replaced) {
  auto& r = metrics_registry::instance();
  double v = 1.5;
  r.gauge_fn("test_computed", "A computed gauge", [&] { return v; });
  EXPECT_EQ(series(r.render_prometheus(), "test_computed"), "1.5");
  v = 7;
  EXPECT_EQ(series(r.render_prometheus(), "test_computed"), "7");
  r.gauge_fn("test_computed", "A computed gauge", [] { return 0.0; });
  EXPECT_EQ(series(r.render_prometheus(), "test_computed"), "0");
}

TEST(metrics, build_info_and_process_metrics) {
  register_build_info();
  register_process_metrics();
  const auto text = metrics_registry::instance().render_prometheus();
  EXPECT_EQ(series(text, "herald_build_info{version=\"" + std::string(version()) + "\",commit=\"" +
                             std::string(git_commit()) + "\"}"),
            "1")
      << text;
  EXPECT_FALSE(version().empty());
  EXPECT_FALSE(git_commit().empty());
  EXPECT_GT(std::stod(series(text, "process_open_fds")), 2);  // stdin, stdout, stderr at least
  EXPECT_GT(std::stod(series(text, "process_resident_memory_bytes")), 1 << 20);
  EXPECT_GT(std::stod(series(text, "process_virtual_memory_bytes")), 1 << 20);
  EXPECT_GE(std::stod(series(text, "process_cpu_seconds_total")), 0);
  const double start = std::stod(series(text, "process_start_time_seconds"));
  EXPECT_GT(start, 1.6e9);
  // /proc/stat btime has whole seconds (and may be a little off in a container): a few seconds.
  EXPECT_LE(start, static_cast<double>(::time(nullptr)) + 5);
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
}

TEST(metrics, label_values_are_escaped) {
  EXPECT_EQ(prometheus_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace herald

#include "bus/bus_metrics.hpp"

#include <gtest/gtest.h>

#include <string>

namespace herald::bus {

// The dropped-message counter is one Prometheus family with a series per reason: HELP and TYPE
// once, then every series, so scrapers read it as one labelled counter.
TEST(bus_metrics, dropped_messages_render_as_one_labelled_family) {
  auto& m = bus_metrics::get();
  m.dropped_for(drop_reason::data_not_string).inc();
  const std::string text = metrics_registry::instance().render_prometheus();
  const std::string family = "herald_bus_messages_dropped_total";
  auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("# HELP " + family + " "), 1u);
  EXPECT_EQ(count("# TYPE " + family + " counter\n"), 1u);
  EXPECT_EQ(count("\n" + family + "{reason=\""), kDropReasonCount);
  const auto help = text.find("# TYPE " + family);
  const auto first = text.find("\n" + family + "{reason=\"too_large\"} ");
  const auto last = text.find("\n" + family + "{reason=\"malformed_push\"} ");
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(last, std::string::npos);
  EXPECT_LT(help, first);
  // The series follow each other (nothing of another family in between).
  const auto block = text.substr(first + 1, last - first);
  for (std::size_t at = 0; at < block.size();) {
    auto nl = block.find('\n', at);
    EXPECT_TRUE(block.compare(at, family.size() + 1, family + "{") == 0) << block.substr(at, nl);
    at = nl == std::string::npos ? block.size() : nl + 1;
  }
  EXPECT_NE(text.find(family + "{reason=\"data_not_string\"} "), std::string::npos);
  // Series without labels still get their own HELP/TYPE.
  EXPECT_EQ(count("# TYPE herald_bus_read_batches_total counter\n"), 1u);
}

}  // namespace herald::bus

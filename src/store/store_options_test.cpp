#include "store/store_options.hpp"

#include <gtest/gtest.h>

namespace herald::store {
namespace {

TEST(store_options, drivers_of_this_build) {
  EXPECT_EQ(*parse_driver("sqlite"), "sqlite");
  auto pg = parse_driver("postgres");
  ASSERT_FALSE(pg);
  EXPECT_EQ(pg.err().code, errc::invalid_config);
  EXPECT_EQ(pg.err().message, "'postgres' is not supported (this build supports \"sqlite\" only)");
}

TEST(store_options, sqlite_paths_resolve_against_the_config_directory) {
  EXPECT_EQ(resolve_sqlite_path("herald.db", "/etc/herald"), "/etc/herald/herald.db");
  EXPECT_EQ(resolve_sqlite_path("../var/h.db", "/etc/herald"), "/etc/var/h.db");
  EXPECT_EQ(resolve_sqlite_path("/var/lib/herald/h.db", "/etc"), "/var/lib/herald/h.db");
  EXPECT_EQ(resolve_sqlite_path(":memory:", "/etc"), ":memory:");
  EXPECT_FALSE(is_sqlite_file(":memory:"));
  EXPECT_TRUE(is_sqlite_file("h.db"));
}

}  // namespace
}  // namespace herald::store

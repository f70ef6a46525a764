#include "store/store_options.hpp"

#include <gtest/gtest.h>

#include <map>

namespace herald::store {
namespace {

store_options postgres() {
  store_options o;
  o.driver = "postgres";
  o.postgres.password = "api-secret-1";
  o.postgres.admin_password = "admin-secret-2";
  return o;
}

std::string refusal(const store_options& o) {
  auto r = o.validate();
  EXPECT_FALSE(r);
  if (r) return {};
  EXPECT_EQ(r.err().code, errc::invalid_config);
  return r.err().message;
}

TEST(store_options, defaults_are_the_embedded_sqlite_store) {
  store_options o;
  EXPECT_TRUE(o.validate());
  EXPECT_EQ(o.describe(), "driver=sqlite path=herald.db pool_threads=2");
}

TEST(store_options, postgres_defaults_are_valid_and_name_the_prowler_roles) {
  store_options o = postgres();
  ASSERT_TRUE(o.validate()) << o.validate().err().message;
  auto api = connection_params(o.postgres, pg_role::api);
  auto admin = connection_params(o.postgres, pg_role::admin);
  ASSERT_TRUE(api && admin);
  std::map<std::string, std::string> a(api->begin(), api->end()), d(admin->begin(), admin->end());
  EXPECT_EQ(a["user"], "prowler");
  EXPECT_EQ(a["password"], "api-secret-1");
  EXPECT_EQ(a["dbname"], "prowler_db");
  EXPECT_EQ(d["user"], "prowler_admin");
  EXPECT_EQ(d["password"], "admin-secret-2");
}

TEST(store_options, refuses_bad_values_with_the_key_named) {
  store_options o = postgres();
  o.driver = "mysql";
  EXPECT_NE(refusal(o).find("store.driver"), std::string::npos);
  o = postgres();
  o.pool_threads = 0;
  EXPECT_NE(refusal(o).find("store.pool_threads"), std::string::npos);
  o = postgres();
  o.postgres.sslmode = "sometimes";
  EXPECT_NE(refusal(o).find("store.postgres_sslmode"), std::string::npos);
  o = postgres();
  o.postgres.statement_timeout_ms = 0;
  EXPECT_NE(refusal(o).find("statement_timeout_ms"), std::string::npos);
  o = postgres();
  o.postgres.connect_timeout_ms = 10;
  EXPECT_NE(refusal(o).find("connect_timeout_ms"), std::string::npos);
  o = postgres();
  o.postgres.health_interval_ms = 0;
  EXPECT_NE(refusal(o).find("health_interval_ms"), std::string::npos);
  o = postgres();
  o.postgres.pool_size = 1000;
  EXPECT_NE(refusal(o).find("pool_size"), std::string::npos);
  o = postgres();
  o.postgres.admin_user = "";
  EXPECT_NE(refusal(o).find("store.postgres_admin_user"), std::string::npos);
  o = postgres();
  o.postgres.port = 0;
  EXPECT_NE(refusal(o).find("store.postgres_port"), std::string::npos);
  store_options s;
  s.path = "";
  EXPECT_NE(refusal(s).find("store.path"), std::string::npos);
}

TEST(store_options, refuses_one_role_for_both_pools_even_through_a_dsn) {
  store_options o = postgres();
  o.postgres.admin_user = "prowler";
  EXPECT_NE(refusal(o).find("must differ"), std::string::npos);
  o = postgres();
  o.postgres.admin_dsn = "postgresql://prowler@db/prowler_db";
  EXPECT_NE(refusal(o).find("must differ"), std::string::npos);
}

TEST(store_options, a_dsn_overrides_the_parts_it_names_and_keeps_the_rest) {
  store_options o = postgres();
  o.postgres.dsn = "host=db.internal port=6432 sslmode=require";
  o.postgres.admin_dsn = "postgresql://keys:dsn-secret-3@db.internal:6432/prowler_db";
  ASSERT_TRUE(o.validate()) << o.validate().err().message;
  auto api = connection_params(o.postgres, pg_role::api);
  auto admin = connection_params(o.postgres, pg_role::admin);
  std::map<std::string, std::string> a(api->begin(), api->end()), d(admin->begin(), admin->end());
  EXPECT_EQ(a["host"], "db.internal");
  EXPECT_EQ(a["port"], "6432");
  EXPECT_EQ(a["sslmode"], "require");
  EXPECT_EQ(a["user"], "prowler");           // from the parts
  EXPECT_EQ(a["password"], "api-secret-1");  // from the parts
  EXPECT_EQ(d["user"], "keys");              // from the URI
  EXPECT_EQ(d["password"], "dsn-secret-3");  // from the URI
}

TEST(store_options, a_malformed_dsn_is_refused_without_echoing_it) {
  store_options o = postgres();
  o.postgres.dsn = "host=db password=leaky secret nonsense";
  std::string msg = refusal(o);
  EXPECT_NE(msg.find("store.postgres_dsn"), std::string::npos);
  EXPECT_EQ(msg.find("leaky"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("secret"), std::string::npos) << msg;
}

TEST(store_options, describe_never_prints_a_password) {
  store_options o = postgres();
  o.postgres.admin_dsn = "postgresql://keys:dsn-secret-3@db.internal/prowler_db";
  const std::string d = o.describe();
  for (const char* secret : {"api-secret-1", "admin-secret-2", "dsn-secret-3"})
    EXPECT_EQ(d.find(secret), std::string::npos) << d;
  EXPECT_NE(d.find("user=prowler"), std::string::npos) << d;
  EXPECT_NE(d.find("user=keys"), std::string::npos) << d;
  EXPECT_NE(d.find("password=[set]"), std::string::npos) << d;
  EXPECT_NE(d.find("pool_size=2"), std::string::npos) << d;  // 0 = pool_threads
  o.postgres.password.clear();
  EXPECT_NE(o.describe().find("password=[not set]"), std::string::npos);
}

TEST(store_options, reads_the_prowler_api_environment) {
  std::map<std::string, std::string> env = {
      {"POSTGRES_HOST", "postgres-db"},   {"POSTGRES_PORT", "5433"},
      {"POSTGRES_DB", "prowler_db2"},     {"POSTGRES_USER", "api"},
      {"POSTGRES_PASSWORD", "pw1"},       {"POSTGRES_ADMIN_USER", "admin"},
      {"POSTGRES_ADMIN_PASSWORD", "pw2"},
  };
  auto lookup = [&](std::string_view n) -> std::optional<std::string> {
    auto it = env.find(std::string(n));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  postgres_options o;
  ASSERT_TRUE(apply_postgres_env(o, lookup));
  EXPECT_EQ(o.host, "postgres-db");
  EXPECT_EQ(o.port, 5433);
  EXPECT_EQ(o.database, "prowler_db2");
  EXPECT_EQ(o.user, "api");
  EXPECT_EQ(o.password, "pw1");
  EXPECT_EQ(o.admin_user, "admin");
  EXPECT_EQ(o.admin_password, "pw2");

  // Empty means unset (the API's settings default them to ""); a bad port changes nothing.
  env = {{"POSTGRES_HOST", ""}, {"POSTGRES_USER", "other"}, {"POSTGRES_PORT", "54x"}};
  postgres_options before = o;
  auto r = apply_postgres_env(o, lookup);
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("POSTGRES_PORT"), std::string::npos);
  EXPECT_EQ(o.user, before.user);
  env.erase("POSTGRES_PORT");
  ASSERT_TRUE(apply_postgres_env(o, lookup));
  EXPECT_EQ(o.host, "postgres-db");
  EXPECT_EQ(o.user, "other");
}

TEST(store_options, drivers_of_this_build) {
  EXPECT_EQ(*parse_driver("sqlite"), "sqlite");
  EXPECT_EQ(*parse_driver("postgres"), "postgres");
  auto bad = parse_driver("mysql");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.err().code, errc::invalid_config);
  EXPECT_EQ(bad.err().message, "'mysql' is not supported (use \"sqlite\" or \"postgres\")");
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

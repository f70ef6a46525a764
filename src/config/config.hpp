// Herald's whole configuration as plain structs. config_loader.cpp fills them from a TOML file plus
// environment overrides; engines receive the parts they need and never read files themselves.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "auth/auth_config.hpp"
#include "bus/bus_config.hpp"
#include "core/result.hpp"
#include "route/endpoint.hpp"

namespace herald::config {

struct listener_config {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;
};

struct server_config {
  listener_config listen{"127.0.0.1", 8080};
  unsigned threads = 0;                      // event-loop threads; 0 = number of cores
  std::uint32_t keepalive_seconds = 20;      // idle interval before `event: keep-alive`
  std::uint32_t max_header_bytes = 8192;     // request line + headers
  std::uint32_t header_timeout_ms = 10000;   // time allowed to send the request headers
  std::uint32_t max_connections = 20000;     // open TCP connections on the public listener
  std::uint32_t queue_max_events = 4096;     // per-stream queue bound (count) ...
  std::uint32_t queue_max_bytes = 4u << 20;  // ... and bytes; overflow: close with slow-consumer
  std::uint32_t shutdown_deadline_ms = 5000;
  std::uint32_t retry_base_ms = 2000;    // `retry:` hint sent on graceful close ...
  std::uint32_t retry_jitter_ms = 3000;  // ... plus uniform jitter in [0, retry_jitter_ms)
};

struct internal_config {
  listener_config listen{"127.0.0.1", 8081};
  std::string publisher_key;                // required for POST /publish (never logged)
  std::uint32_t max_body_bytes = 1u << 20;  // POST /publish body limit
  std::uint32_t max_batch_events = 1000;    // {"events":[...]} limit
};

struct cors_config {
  std::vector<std::string> allow_origins;  // exact origins ("https://app.example.com") or "*"
  bool allow_credentials = true;
  std::string allow_headers = "Cache-Control, Last-Event-ID";
  std::uint32_t max_age_seconds = 600;  // preflight cache
};

struct store_config {
  std::string driver = "sqlite";   // "sqlite" (embedded default)
  std::string path = "herald.db";  // SQLite file
  unsigned pool_threads = 2;       // database pool; event loops never block on the store
};

struct events_config {
  std::set<std::string, std::less<>> verbs;  // defaults + [events].extra_verbs
  std::uint32_t max_data_bytes = 64 * 1024;  // serialized payload limit per event
};

struct tenancy_config {
  std::uint32_t recheck_interval_seconds = 60;  // live streams re-check membership/keys; 0 disables
  // A JWT caller whose (user, tenant) passed the database checks (user active, member) within this
  // many seconds connects without a database round trip; 0 disables. Bounds how long a revoked
  // membership can still open new streams (open ones are closed by the re-check).
  std::uint32_t connect_cache_seconds = 5;
};

struct log_config {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
};

struct gateway_config {
  server_config server;
  internal_config internal;
  cors_config cors;
  auth::auth_config auth;
  store_config store;
  bus::bus_config bus;
  events_config events;
  tenancy_config tenancy;
  std::vector<route::endpoint_config> endpoints;
  log_config log;
  std::string demo_page_dir;  // optional: serve a static page at / (the demo)

  // Where the settings came from, for `herald check-config` (filled by the loader; never secrets).
  std::string config_file;  // absolute path, or empty for load_config_string
  std::string base_dir;     // relative paths in the file were resolved against this
  // Provenance of secrets and overrides, e.g. {"auth.verify_key", "file /etc/herald/public.pem"}.
  std::vector<std::pair<std::string, std::string>> sources;
};

}  // namespace herald::config

// Herald's whole configuration: the options structs of the modules, gathered. Each module owns its
// struct and its rules next to its code (bus/bus_options.hpp, auth/auth_options.hpp, ...); config/
// fills them from a TOML file and the environment through one table of keys (option_table.cpp).
// Engines receive the parts they need and never read files themselves.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "auth/auth_config.hpp"
#include "bus/bus_config.hpp"
#include "core/log_options.hpp"
#include "net/cors_options.hpp"
#include "net/listen_address.hpp"
#include "net/server.hpp"
#include "route/endpoint.hpp"
#include "sse/events_options.hpp"
#include "store/store_options.hpp"
#include "tenancy/tenancy_options.hpp"

namespace herald::config {

// The public listener's defaults where they differ from net::server_options': one event-loop
// thread per core (threads = 0, resolved by app/), and no request body on a stream request.
inline net::server_options public_listener_defaults() {
  net::server_options o;
  o.name = "public";
  o.threads = 0;
  o.max_body_bytes = 4096;
  return o;
}

inline net::listener_options internal_listener_defaults() {
  net::listener_options o;
  o.name = "internal";
  o.max_connections = 1024;
  return o;
}

// [server]: the public listener and how the gateway stops. The limits map onto net::server_options;
// the shutdown settings are the gateway's own (app/ sits above config/, so they are kept here).
struct server_config {
  net::listen_address listen{"127.0.0.1", 8080};
  net::server_options http = public_listener_defaults();
  std::uint32_t shutdown_deadline_ms = 5000;  // on SIGTERM, exit at the latest after this
  std::uint32_t retry_base_ms = 2000;         // `retry:` hint sent on graceful close ...
  std::uint32_t retry_jitter_ms = 3000;       // ... plus uniform jitter in [0, retry_jitter_ms)
  // Limits that keep tenants apart (app/: stream_caps, connect_rate, client_address); 0 = none.
  std::uint32_t max_streams = 0;                 // open streams on this node, all tenants
  std::uint32_t max_streams_per_tenant = 0;      // open streams of one tenant
  std::uint32_t max_streams_per_user = 0;        // open streams of one user
  std::uint32_t connect_rate_per_address = 0;    // new stream requests a second per client address
  std::uint32_t connect_burst_per_address = 20;  // ... of which this many at once
  // Proxies (CIDRs, canonical text) whose X-Forwarded-For is believed for the client address.
  std::vector<std::string> trusted_proxies;
};

// [internal]: the publish API, health and metrics listener. Limits map onto net::listener_options;
// the publisher key and the batch limit are the publish API's own (kept here for the same reason).
struct internal_config {
  net::listen_address listen{"127.0.0.1", 8081};
  net::listener_options http = internal_listener_defaults();
  std::string publisher_key;              // required for POST /publish (never logged)
  std::uint32_t max_batch_events = 1000;  // {"events":[...]} limit
};

struct gateway_config {
  server_config server;
  internal_config internal;
  net::cors_options cors;
  auth::auth_config auth;
  store::store_options store;
  bus::bus_config bus;
  sse::events_options events;
  tenancy::tenancy_options tenancy;
  std::vector<route::endpoint_config> endpoints;
  log_options log;

  // Where the settings came from, for `herald check-config` (filled by the loader; never secrets).
  std::string config_file;  // absolute path, or empty for load_config_string
  std::string base_dir;     // relative paths in the file were resolved against this
  // Provenance of secrets and overrides, e.g. {"auth.verify_key", "file /etc/herald/public.pem"}.
  std::vector<std::pair<std::string, std::string>> sources;
};

}  // namespace herald::config

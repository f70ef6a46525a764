// `herald demo`: what Herald is for, end to end on the embedded default (SQLite, in-process bus).
// Creates a data directory (RS256 keys, herald.toml, SQLite seeded with two tenants, a user in
// each, memberships and scans), starts the gateway, runs simulated publishers (scan.progress then
// scan.end; an assistant's answer as message.delta tokens then message.end) and serves a page with
// the two tenants side by side: their streams through the browser's EventSource (?access_token=),
// a refused cross-tenant attempt (404, and 403 for a token claiming the other tenant), live
// counters, and a "revoke membership" button whose effect the live re-check shows (stream-error
// forbidden). The counters come from /demo/metrics on the public listener: a few values read from
// the process's registry, never the internal listener.
#pragma once

#include <cstdint>
#include <string>

namespace herald::app {

struct demo_options {
  std::string data_dir = "herald-demo";
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;
  std::uint16_t internal_port = 8081;
  unsigned step_ms = 250;         // time between progress events of a scan
  unsigned duration_seconds = 0;  // 0 = until SIGINT/SIGTERM
};

// Fixed ids so the printed curl line and docs stay valid across runs.
inline constexpr const char* kDemoTenantId = "12646005-9067-4d2a-a098-8bb378604362";
inline constexpr const char* kDemoUserId = "8b38e2eb-6689-4f1e-a4ba-95b275130200";
inline constexpr const char* kDemoOtherTenantId = "0e0f4b3c-63a4-4a8f-9d1e-6f3c2a1b9e77";
inline constexpr const char* kDemoOtherUserId = "5d7c9a3e-2b4f-4e6a-8c1d-9f0e1a2b3c4d";

int run_demo(const demo_options& opts);

class gateway;
// The demo's public routes: /demo/metrics (live counters) and /demo/membership (the button).
void add_demo_routes(gateway& g);

// Writes `<dir>/keys/private.pem` and `<dir>/keys/public.pem` (RSA 2048) unless they exist.
void ensure_rsa_keys(const std::string& dir);

}  // namespace herald::app

// `herald demo`: the Prowler API guide's worked example running end to end on the embedded default.
// Creates a data directory (RS256 keys, herald.toml, SQLite seeded with a tenant, a user, a
// membership and scans), starts the gateway, runs a simulated scan publisher emitting scan.progress
// and a terminal scan.end carrying the scan id, and serves a page whose progress bars fill through
// the browser's EventSource with ?access_token=.
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

int run_demo(const demo_options& opts);

// Writes `<dir>/keys/private.pem` and `<dir>/keys/public.pem` (RSA 2048) unless they exist.
void ensure_rsa_keys(const std::string& dir);

}  // namespace herald::app

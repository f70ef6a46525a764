// Bus settings (filled by config/ from the TOML file and the Prowler API's VALKEY_* environment
// variables).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace herald::bus {

enum class bus_kind { local, redis };

// native: one pub/sub channel per Herald channel, named <prefix><channel>, Herald's own JSON
// format. compat: django-eventstream's single `events_channel` and its
// {"channel","event_type","data","pub_id"}
//         messages, so existing Python publishers (send_event) reach Herald's clients unchanged.
enum class bus_mode { native, compat };

struct bus_config {
  bus_kind kind = bus_kind::local;
  bus_mode mode = bus_mode::native;
  std::string host = "127.0.0.1";  // VALKEY_HOST
  std::uint16_t port = 6379;       // VALKEY_PORT
  std::string username;            // VALKEY_USERNAME (ACL user; empty = default user)
  std::string password;            // VALKEY_PASSWORD (never logged)
  std::string scheme = "redis";    // VALKEY_SCHEME; only "redis" (plain TCP) is supported
  std::string prefix = "herald:";  // native mode: prefix on every pub/sub channel
  std::string compat_channel = "events_channel";
  // Cluster: sharded pub/sub (SSUBSCRIBE/SPUBLISH) with one connection per shard. Seed nodes
  // host:port.
  bool cluster = false;
  std::vector<std::string> cluster_nodes;
  std::uint32_t reconnect_min_ms = 100;  // backoff start, doubled per failure, with full jitter
  std::uint32_t reconnect_max_ms = 5000;
  std::uint32_t max_pending_publishes = 10000;  // pipelined PUBLISHes awaiting replies before 503
  // Added with the redis bus; the defaults suit production (tests shorten the timeouts).
  std::uint64_t max_pending_publish_bytes = 64ull << 20;  // ...and their bytes, before 503
  std::uint32_t connect_timeout_ms = 3000;    // resolve + connect + AUTH + PING, per attempt
  std::uint32_t command_timeout_ms = 10000;   // oldest reply this late: drop the connection
  std::uint32_t max_message_bytes = 1 << 20;  // refused on publish, dropped on receipt
};

}  // namespace herald::bus

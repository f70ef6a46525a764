// Bus settings (filled by config/ from the TOML file and the Prowler API's VALKEY_* environment
// variables).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace herald::bus {

enum class bus_kind { local, redis };

// native: one pub/sub channel per Herald channel, named <prefix><channel>, Herald's own JSON
// format. compat: django-eventstream's single `events_channel` and its
// {"channel","event_type","data","pub_id"}
//         messages, so existing Python publishers (send_event) reach Herald's clients unchanged.
enum class bus_mode { native, compat };

// TLS to Valkey (scheme "rediss"), as the Prowler API's EVENTSTREAM_REDIS {"ssl": True} does, on
// every connection of every mode (native, compat, cluster). The server certificate is verified
// against `ca_file` (or the system trust store) and must name the server: `server_name`, or else
// the host Herald connects to (for a cluster: each master's address as CLUSTER SLOTS reports it).
struct bus_tls_options {
  std::string ca_file;      // PEM CA certificate(s) that sign the server's; empty = system store
  std::string cert_file;    // PEM client certificate (chain) for tls-auth-clients; empty = none
  std::string key_file;     // PEM private key of cert_file (unencrypted); required with cert_file
  std::string server_name;  // name the server certificate must carry, also sent as SNI;
                            // empty = the host connected to
  bool insecure = false;    // accept any server certificate, unchecked (tests only; logged)
  // cert_file and key_file together; insecure excludes ca_file and server_name (they would be
  // ignored). Files are read when the bus is built (check_bus_config does not touch the disk).
  result<void> validate() const;
};

// [replay]: reliable channels (docs/reconnects.md). A channel whose prefix (the part before its
// first ':') is listed gets a position per event, its last events are kept (the in-process ring on
// the local bus, Valkey Streams on the redis bus), and a client that reconnects with Last-Event-ID
// gets what it missed. Every node (and every publisher) must list the same prefixes: the prefix is
// what any of them sees of a channel.
struct replay_options {
  std::vector<std::string> channels;  // channel prefixes, e.g. "scan-progress"; empty = no replay
  std::uint32_t max_events = 1000;    // events kept per channel (Valkey: at least this many)
  std::uint32_t max_age_seconds = 3600;  // events older than this are not replayed, seconds; a
                                         // channel idle this long is forgotten
};

// Which thread runs the redis bus's connections (redis_bus.hpp). automatic: the event loop's when
// the gateway has one event-loop thread ([server] threads = 1), else its own. event_loop: the
// first event loop's, whatever the count. own: a thread of its own.
enum class bus_thread { automatic, own, event_loop };

struct bus_config {
  bus_kind kind = bus_kind::local;
  bus_mode mode = bus_mode::native;
  std::string host = "127.0.0.1";  // VALKEY_HOST
  std::uint16_t port = 6379;       // VALKEY_PORT
  std::string username;            // VALKEY_USERNAME (ACL user; empty = default user)
  std::string password;            // VALKEY_PASSWORD (never logged)
  std::string scheme = "redis";    // VALKEY_SCHEME: "redis" (plain TCP) or "rediss" (TLS, see tls)
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
  bus_tls_options tls;                        // used when scheme == "rediss"
  replay_options replay;                      // [replay]: reliable channels
  bus_thread thread = bus_thread::automatic;  // the gateway reads it (bus_factory.hpp)
};

}  // namespace herald::bus

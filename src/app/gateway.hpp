// The gateway: wires config, store, database pool, authentication, tenant gate, endpoints, fanout,
// bus and the two listeners (public streams; internal publish/health/metrics).
//
// Ownership: the gateway owns every component; create(), add_endpoint()s, start(), later stop().
// Threads: the public listener's N event-loop threads, the internal listener's thread, the database
// pool's threads, and the bus's own thread (Redis bus). Public methods are for the owning (main)
// thread, except publish(), which is thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/connect_cache.hpp"
#include "app/stream_endpoint.hpp"
#include "auth/authenticator.hpp"
#include "auth/token_verifier.hpp"
#include "bus/bus.hpp"
#include "config/config.hpp"
#include "net/server.hpp"
#include "sse/fanout.hpp"
#include "store/db_pool.hpp"
#include "store/sqlite_store.hpp"
#include "tenancy/tenant_gate.hpp"

namespace herald::app {

class gateway {
 public:
  // Opens the store and builds every component; a start-up failure (unusable key, unreadable
  // database, broken lookup, a bus the configuration cannot run) is an error value with a clear
  // message. Configured endpoints are added.
  static result<std::unique_ptr<gateway>> create(config::gateway_config cfg);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // Library use: register a C++ endpoint (before start()).
  void add_endpoint(std::unique_ptr<stream_endpoint> endpoint);
  // Serve a page at `/` (the demo); `body` is HTML.
  void set_index_page(std::string body);

  result<void> start();
  // Graceful stop: stop accepting, retry hint + close every stream, within the configured deadline.
  void stop();

  std::uint16_t public_port() const;
  std::uint16_t internal_port() const;

  // Thread-safe: validate nothing, just publish through the bus (the library path). The second
  // form acknowledges with the event's position on a reliable channel (0 on any other).
  void publish(sse::event e, bus::publish_done done);
  void publish(sse::event e, bus::publish_ack done);

  store::sqlite_store& db() { return *store_; }
  store::db_pool& pool() { return *pool_; }
  bus::bus& event_bus() { return *bus_; }
  const config::gateway_config& config() const { return cfg_; }
  std::size_t stream_count() const;

  // One pass of the live re-check (membership, user, API key) over every open stream; streams that
  // fail it get stream-error forbidden and are closed. Runs every tenancy.recheck_interval_seconds;
  // exposed for tests.
  void recheck_now();

 private:
  class public_handler;
  class internal_handler;
  explicit gateway(config::gateway_config cfg);
  result<void> init();  // the fallible part of create()
  void schedule_recheck();

  config::gateway_config cfg_;
  connect_cache connect_cache_;
  std::unique_ptr<store::sqlite_store> store_;
  std::unique_ptr<store::db_pool> pool_;
  std::unique_ptr<auth::token_verifier> verifier_;
  std::unique_ptr<auth::authenticator> authenticator_;
  std::unique_ptr<tenancy::tenant_gate> gate_;
  std::vector<std::unique_ptr<stream_endpoint>> endpoints_;
  std::unique_ptr<bus::bus> bus_;
  std::unique_ptr<public_handler> public_handler_;
  std::unique_ptr<internal_handler> internal_handler_;
  std::unique_ptr<net::http_server> public_server_;
  std::uint16_t internal_port_ = 0;  // the internal listener, on public_server_'s event loops
  std::unique_ptr<sse::fanout> fanout_;
  std::unique_ptr<boost::asio::steady_timer> recheck_timer_;
  std::string index_page_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
};

}  // namespace herald::app

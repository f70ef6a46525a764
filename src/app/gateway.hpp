// The gateway: wires config, store, database pool, authentication, tenant gate, endpoints, fanout,
// bus and the two listeners (public streams; internal publish/health/metrics). The store is the one
// store.driver names (store::open_store: the embedded SQLite file, or the Prowler API's
// PostgreSQL).
//
// Ownership: the gateway owns every component; create(), add_endpoint()s, start(), later stop().
// What a reload may change (keys, endpoints, CORS, publish limits) lives in an immutable
// generation (generation.hpp) that requests take from current(); reload() builds the next one and
// swaps it in.
// Threads: the public listener's N event-loop threads, the internal listener's thread, the database
// pool's threads, and the bus's own thread (Redis bus). Public methods are for the owning (main)
// thread, except publish(), current() and reload(), which are thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "app/connect_cache.hpp"
#include "app/generation.hpp"
#include "app/stream_endpoint.hpp"
#include "app/stream_limits.hpp"
#include "auth/authenticator.hpp"
#include "auth/token_verifier.hpp"
#include "bus/bus.hpp"
#include "config/config.hpp"
#include "core/metrics.hpp"
#include "net/server.hpp"
#include "sse/fanout.hpp"
#include "store/db_pool.hpp"
#include "store/sqlite_store.hpp"
#include "store/store.hpp"
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
  // Serve `path` on the public listener with `page` (before start()): the demo's page, its
  // counters and its buttons. A stream endpoint matching the same path wins. `page` runs on an
  // event-loop thread: blocking work goes through pool().
  using page_handler =
      std::function<boost::asio::awaitable<net::http_response>(const net::http_request&)>;
  void add_page(std::string path, page_handler page);

  // Runs `done` (on some event-loop thread) once every event-loop thread has run a task posted
  // now: proof that none is stuck (the systemd watchdog, app/service.hpp). Thread-safe.
  void when_loops_answer(std::function<void()> done);

  result<void> start();
  // Graceful stop: stop accepting, retry hint + close every stream, within the configured deadline.
  void stop();

  std::uint16_t public_port() const;
  std::uint16_t internal_port() const;

  // Thread-safe: validate nothing, just publish through the bus (the library path). The second
  // form acknowledges with the event's position on a reliable channel (0 on any other).
  void publish(sse::event e, bus::publish_done done);
  void publish(sse::event e, bus::publish_ack done);

  store::store& db() { return *store_; }
  // The embedded store, for seeding (the demo, tests); nullptr with the postgres driver.
  store::sqlite_store* sqlite() { return dynamic_cast<store::sqlite_store*>(store_.get()); }
  store::db_pool& pool() { return *pool_; }
  bus::bus& event_bus() { return *bus_; }
  // The configuration the gateway started with (a reload changes current()->cfg, not this).
  const config::gateway_config& config() const { return cfg_; }

  // The generation requests use now (any thread; keep the pointer for the request's duration).
  std::shared_ptr<const generation> current() const { return current_.load(); }

  // Re-reads the configuration file the gateway was created from (SIGHUP, POST /reload): keys,
  // endpoints, CORS, limits and the TLS certificate apply to new requests; open streams stay open
  // unless the new configuration forbids them (their endpoint removed, their credential type
  // disabled: stream-error "forbidden", then closed). A configuration that does not load or
  // validate, changes what is fixed while running (listen addresses, threads, store, bus) or whose
  // certificate does not load is refused, and nothing changes. Logs one line either way and
  // returns it. Blocking (reads files, prepares lookups): not on an event loop. Thread-safe
  // (reloads are serialised).
  result<std::string> reload();
  std::size_t stream_count() const;
  // The limits that keep tenants apart (their open-stream counts, the trusted proxies).
  const stream_limits& limits() const { return *limits_; }

  // One pass of the live re-check over every open stream (auth::authenticator::recheck_all: one
  // batched store::recheck_facts): a stream whose caller lost the membership, whose user is gone,
  // inactive or changed password, or whose API key was revoked gets stream-error "forbidden"; a
  // JWT stream past the token's exp gets "token-expired" (auth.end_streams_at_token_expiry); then
  // it is closed. A store failure closes nothing (logged once per outage). Runs every
  // tenancy.recheck_interval_seconds; exposed for tests.
  void recheck_now();

 private:
  class public_handler;
  class internal_handler;
  explicit gateway(config::gateway_config cfg);
  result<void> init();  // the fallible part of create()
  void schedule_recheck();
  // herald_bus_up, herald_store_up, herald_channels (read at scrape), build info, process_*.
  void register_health_metrics();
  void unregister_health_metrics();

  config::gateway_config cfg_;
  connect_cache connect_cache_;
  std::unique_ptr<store::store> store_;
  std::unique_ptr<store::db_pool> pool_;
  // The library's endpoints (add_endpoint), matched after the configured ones in every generation.
  std::vector<std::unique_ptr<stream_endpoint>> library_endpoints_;
  // Swapped whole by reload(); the previous one lives on while requests still hold it.
  std::atomic<std::shared_ptr<generation>> current_;
  std::mutex reload_mu_;  // one reload at a time
  std::unique_ptr<bus::bus> bus_;
  std::unique_ptr<stream_limits> limits_;  // before the server: its slots live with the streams
  std::unique_ptr<public_handler> public_handler_;
  std::unique_ptr<internal_handler> internal_handler_;
  std::unique_ptr<net::http_server> public_server_;
  std::uint16_t internal_port_ = 0;  // the internal listener, on public_server_'s event loops
  std::unique_ptr<sse::fanout> fanout_;
  std::unique_ptr<boost::asio::steady_timer> recheck_timer_;
  std::vector<std::pair<std::string, page_handler>> pages_;
  std::atomic<bool> stopping_{false};
  // The re-check's last pass could not reach the store (logged once, until a pass succeeds).
  std::atomic<bool> recheck_store_failed_{false};
  metric& recheck_passes_ = metrics_registry::instance().counter(
      "herald_recheck_passes_total", "Live re-check passes completed over the open streams");
  bool started_ = false;
};

}  // namespace herald::app

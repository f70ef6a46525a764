#include "app/gateway.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "app/configured_endpoint.hpp"
#include "app/internal_handler.hpp"
#include "app/public_handler.hpp"
#include "app/publish_request.hpp"
#include "app/replies.hpp"
#include "auth/api_key.hpp"
#include "bus/bus_factory.hpp"
#include "config/config_loader.hpp"
#include "core/metrics.hpp"
#include "core/redact.hpp"
#include "sse/encoder.hpp"
#include "sse/event_type.hpp"
#include "store/store_factory.hpp"

namespace herald::app {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using detail::error_json;
using detail::error_response;
using detail::json_response;
using detail::publish_all;
using detail::unix_now;
using net::handler_outcome;
using net::http_response;

// -------------------------------------------------------------------------------------------------

gateway::gateway(config::gateway_config cfg)
    : cfg_(std::move(cfg)), connect_cache_(cfg_.tenancy.connect_cache_seconds) {}

result<std::unique_ptr<gateway>> gateway::create(config::gateway_config cfg) {
  std::unique_ptr<gateway> g(new gateway(std::move(cfg)));
  if (auto ok = g->init(); !ok) return std::move(ok).err();
  return g;
}

result<void> gateway::init() {
  auto start_error = [](std::string msg) {
    return make_error(errc::invalid_config, std::move(msg));
  };
  // Keys first: a bad PEM or Fernet key is a configuration error, before any connection is made.
  if (auto ok = auth::check_keys(cfg_.auth); !ok) return ok;
  auto db = store::open_store(cfg_.store);
  if (!db) {
    if (cfg_.store.driver == "postgres")
      return make_error(db.err().code, "store: " + db.err().message);
    return make_error(db.err().code,
                      "cannot open store '" + cfg_.store.path + "': " + db.err().message);
  }
  store_ = std::move(*db);
  spdlog::info("store: {}", cfg_.store.describe());  // passwords as [set]
  // As many pool threads as the store can serve at once (each call holds one connection).
  pool_ = std::make_unique<store::db_pool>(cfg_.store.call_threads());
  // Keys, endpoints (each lookup prepared against the store), CORS, publish limits.
  auto gen = build_generation(cfg_, *store_, *pool_, library_endpoints_);
  if (!gen) return start_error(std::move(gen).err().message);
  current_.store(std::move(*gen));
  auto limits = stream_limits::create(cfg_.server);
  if (!limits) return std::move(limits).err();
  limits_ = std::move(*limits);

  public_handler_ = std::make_unique<public_handler>(*this);
  internal_handler_ = std::make_unique<internal_handler>(*this);

  net::server_options po = cfg_.server.http;
  if (po.threads == 0) po.threads = std::max(1u, std::thread::hardware_concurrency());
  po.sweep_interval = std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(250), po.keepalive / 4 + std::chrono::milliseconds(1));
  public_server_ = std::make_unique<net::http_server>(po, *public_handler_);
  // [bus] thread: with one event loop, the Valkey connections run on it, so a publish and its
  // acknowledgement never change threads (bus_config.hpp; measured in bench/README.md,
  // "Scale-out"). The bus is then destroyed before the server (~gateway).
  const bool bus_on_loop = cfg_.bus.thread == bus::bus_thread::event_loop ||
                           (cfg_.bus.thread == bus::bus_thread::automatic && po.threads == 1);
  auto b = bus::try_make_bus(cfg_.bus, bus_on_loop ? &public_server_->loop_context(0) : nullptr);
  if (!b) return start_error("bus: " + b.err().message);
  bus_ = std::move(*b);

  fanout_ = std::make_unique<sse::fanout>(
      public_server_->executors(),
      [b = bus_.get()](const std::string& ch, bool present) {
        if (present)
          b->add_interest(ch);
        else
          b->remove_interest(ch);
      },
      // stream-open waits for this: the bus receives the channel's traffic from then on.
      [b = bus_.get()](const std::string& ch, std::function<void()> ready) {
        b->when_subscribed(ch, std::move(ready));
      });
  public_server_->set_fanout(fanout_.get());
  return {};
}

gateway::~gateway() {
  stop();
  unregister_health_metrics();
  // A bus built on an event loop must go before that loop's io_context (redis_bus.hpp); every
  // caller of it is gone by now (the loops are stopped, the gauges unregistered).
  bus_.reset();
}

void gateway::register_health_metrics() {
  auto& r = metrics_registry::instance();
  register_build_info();
  register_process_metrics();
  r.gauge_fn("herald_bus_ready", "1 while the bus can deliver (any bus kind), else 0",
             [b = bus_.get()] { return b->ready() ? 1.0 : 0.0; });
  r.gauge_fn("herald_store_up", "1 while the store's database is reachable, else 0",
             [s = store_.get()] { return s->healthy() ? 1.0 : 0.0; });
  r.gauge_fn("herald_ready", "1 while /readyz answers 200 (bus up, not shutting down), else 0",
             [this] { return bus_->ready() && !stopping_ ? 1.0 : 0.0; });
  r.gauge_fn("herald_channels", "Channels with at least one local subscriber",
             [f = fanout_.get()] { return static_cast<double>(f->channel_count()); });
}

void gateway::unregister_health_metrics() {
  if (!started_) return;
  // The functions point into this gateway: a later scrape (another gateway in the same process)
  // must not call them.
  auto& r = metrics_registry::instance();
  for (const char* name :
       {"herald_bus_ready", "herald_store_up", "herald_ready", "herald_channels"})
    r.gauge_fn(name, "", [] { return 0.0; });
}

void gateway::add_endpoint(std::unique_ptr<stream_endpoint> endpoint) {
  // Before start(): nothing reads the generation yet, so it may still grow.
  current_.load()->add_endpoint(endpoint.get());
  library_endpoints_.push_back(std::move(endpoint));
}

void gateway::set_index_page(std::string body) {
  auto page = std::make_shared<const std::string>(std::move(body));
  add_page("/", [page](const net::http_request& req) -> asio::awaitable<http_response> {
    if (req.message.method() != http::verb::get)
      co_return error_response(make_error(errc::method_not_allowed, "Method not allowed."));
    co_return http_response{
        http::status::ok, "text/html; charset=utf-8", {{"Cache-Control", "no-cache"}}, *page};
  });
}

void gateway::add_page(std::string path, page_handler page) {
  pages_.emplace_back(std::move(path), std::move(page));
}

void gateway::when_loops_answer(std::function<void()> done) {
  auto executors = public_server_->executors();
  auto remaining = std::make_shared<std::atomic<std::size_t>>(executors.size());
  auto shared = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& ex : executors)
    asio::post(ex, [remaining, shared] {
      if (remaining->fetch_sub(1) == 1) (*shared)();
    });
}

result<void> gateway::start() {
  if (auto r = public_server_->listen(cfg_.server.listen.address, cfg_.server.listen.port); !r)
    return r;
  // The internal listener is served by the same event loops as the streams: a publish reaches the
  // fanout with no thread switch, and the publishes pipelined in one read are handled in one turn
  // and written in one flush pass. Flush passes yield every kFlushTurn (net/shard.hpp), so a large
  // fanout does not hold publishes back. Measured in bench/README.md (rows 4, 5, 8).
  auto port = public_server_->add_listener(cfg_.internal.listen.address, cfg_.internal.listen.port,
                                           *internal_handler_, cfg_.internal.http);
  if (!port) return std::move(port).err();
  internal_port_ = *port;
  register_health_metrics();
  public_server_->start();
  // The bus starts once the event loops run, and only if nothing above failed: a bus on an event
  // loop is stopped by that loop (stop()), so it must not start on a loop that never runs. Interest
  // registered by streams meanwhile is queued and subscribed as the bus connects. The events of one
  // read from Valkey go to the fanout together: one lock and one hand-over per event loop per read,
  // instead of one per event (bench/README.md, "Scale-out").
  bus_->start_batches(
      [f = fanout_.get()](std::span<sse::event> events) { f->publish_batch(events); });
  started_ = true;
  if (cfg_.internal.publisher_key.empty())
    spdlog::warn("no publisher key configured: POST /publish answers 401");
  if (cfg_.tenancy.recheck_interval_seconds > 0) {
    recheck_timer_ = std::make_unique<asio::steady_timer>(public_server_->executors().front());
    schedule_recheck();
  }
  spdlog::info("herald listening: streams on {}:{}, internal on {}:{}, bus {}",
               cfg_.server.listen.address, public_server_->port(), cfg_.internal.listen.address,
               internal_port(), bus_->describe());
  return {};
}

void gateway::stop() {
  if (!started_ || stopping_.exchange(true)) return;
  spdlog::info("shutting down: closing {} streams", public_server_->stream_count());
  if (recheck_timer_)
    asio::post(recheck_timer_->get_executor(), [t = recheck_timer_.get()] { t->cancel(); });
  const auto& server = current()->cfg.server;  // as last reloaded
  std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<std::uint32_t> jitter(0, std::max(1u, server.retry_jitter_ms) - 1);
  public_server_->shutdown(
      std::chrono::milliseconds(server.shutdown_deadline_ms),
      [&] {
        // Spread the reconnect storm: every client gets its own delay.
        return sse::encode_retry(server.retry_base_ms + jitter(rng));
      },
      // While the loops still run: a bus on an event loop closes its connections there.
      [this] { bus_->stop(); });
  pool_->stop();
}

result<std::string> gateway::reload() {
  std::lock_guard lock(reload_mu_);
  const auto running = current();
  const auto& file = running->cfg.config_file;
  auto refuse = [&](const std::string& why) -> result<std::string> {
    auto line = "reload refused, the running configuration stays: " + why;
    spdlog::error("{}", line);
    return make_error(errc::invalid_config, std::move(line));
  };
  if (file.empty()) return refuse("the gateway was not started from a configuration file");
  if (!started_ || stopping_) return refuse("the gateway is not serving");
  auto cfg = config::load_config_file(file, true);
  if (!cfg) return refuse(cfg.err().message);
  if (auto ok = config::validate_for_serve(*cfg); !ok) return refuse(ok.err().message);
  if (auto ok = config::reload_refusal(running->cfg, *cfg); !ok) return refuse(ok.err().message);
  auto next = build_generation(*cfg, *store_, *pool_, library_endpoints_);
  if (!next) return refuse(next.err().message);
  // The listeners: limits and the certificate (loaded before anything changes).
  net::server_options po = cfg->server.http;
  po.threads = public_server_->options().threads;
  if (auto ok = public_server_->reload_limits(po); !ok) return refuse(ok.err().message);
  if (auto ok = public_server_->reload_limits(internal_port_, cfg->internal.http); !ok)
    spdlog::error("reload: internal listener: {}", ok.err().message);  // refused above already
  std::shared_ptr<const generation> now = *next;
  current_.store(std::move(*next));
  spdlog::set_level(spdlog::level::from_str(now->cfg.log.level));
  // Open streams stay, unless the new configuration forbids them.
  public_server_->close_streams_if(
      [now](const principal* tag) { return tag && !now->allows(*tag); },
      sse::encode_stream_error(
          "forbidden",
          "The stream's endpoint or credential type is no longer configured; reconnect."));
  auto line = "configuration reloaded from " + file + ": " + std::to_string(now->endpoints.size()) +
              " endpoint(s); " + std::to_string(public_server_->stream_count()) +
              " open stream(s) kept unless their endpoint or credential type is gone";
  spdlog::info("{}", line);
  return line;
}

std::uint16_t gateway::public_port() const { return public_server_->port(); }
std::uint16_t gateway::internal_port() const { return internal_port_; }
std::size_t gateway::stream_count() const { return public_server_->stream_count(); }

void gateway::publish(sse::event e, bus::publish_done done) {
  bus_->publish(std::move(e), [done = std::move(done)](result<void> r) {
    if (r) core_metrics::get().events_published.inc();
    done(std::move(r));
  });
}

void gateway::publish(sse::event e, bus::publish_ack done) {
  bus_->publish(std::move(e), [done = std::move(done)](result<std::uint64_t> r) {
    if (r) core_metrics::get().events_published.inc();
    done(std::move(r));
  });
}

}  // namespace herald::app

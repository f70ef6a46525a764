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
#include "core/metrics.hpp"
#include "core/redact.hpp"
#include "sse/encoder.hpp"
#include "sse/event_type.hpp"

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
  auto db = store::sqlite_store::open(cfg_.store.path, std::max(1u, cfg_.store.pool_threads));
  if (!db)
    return make_error(db.err().code,
                      "cannot open store '" + cfg_.store.path + "': " + db.err().message);
  store_ = std::move(*db);
  pool_ = std::make_unique<store::db_pool>(std::max(1u, cfg_.store.pool_threads));
  try {  // the verifier refuses an unusable key by throwing (a start-up edge)
    verifier_ = std::make_unique<auth::token_verifier>(cfg_.auth.jwt);
  } catch (const std::exception& e) {
    return start_error(std::string("auth: ") + e.what());
  }
  authenticator_ = std::make_unique<auth::authenticator>(cfg_.auth, *verifier_, *store_);
  gate_ = std::make_unique<tenancy::tenant_gate>(
      [s = store_.get()](std::string_view u, std::string_view t) { return s->is_member(u, t); });
  for (const auto& e : cfg_.endpoints) {
    if (!e.lookup.empty()) {
      if (auto ok = store_->check_lookup(e.lookup); !ok)
        return start_error("endpoint " + e.path + ": lookup refused: " + ok.err().message);
    }
    endpoints_.push_back(std::make_unique<configured_endpoint>(e, *store_, *pool_));
  }
  auto b = bus::try_make_bus(cfg_.bus);
  if (!b) return start_error("bus: " + b.err().message);
  bus_ = std::move(*b);

  public_handler_ = std::make_unique<public_handler>(*this);
  internal_handler_ = std::make_unique<internal_handler>(*this);

  net::server_options po = cfg_.server.http;
  if (po.threads == 0) po.threads = std::max(1u, std::thread::hardware_concurrency());
  po.sweep_interval = std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(250), po.keepalive / 4 + std::chrono::milliseconds(1));
  public_server_ = std::make_unique<net::http_server>(po, *public_handler_);

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

gateway::~gateway() { stop(); }

void gateway::add_endpoint(std::unique_ptr<stream_endpoint> endpoint) {
  endpoints_.push_back(std::move(endpoint));
}

void gateway::set_index_page(std::string body) { index_page_ = std::move(body); }

result<void> gateway::start() {
  bus_->start([f = fanout_.get()](const sse::event& e) { f->publish(e); });
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
  public_server_->start();
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
  std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<std::uint32_t> jitter(
      0, std::max(1u, cfg_.server.retry_jitter_ms) - 1);
  public_server_->shutdown(std::chrono::milliseconds(cfg_.server.shutdown_deadline_ms), [&] {
    // Spread the reconnect storm: every client gets its own delay.
    return sse::encode_retry(cfg_.server.retry_base_ms + jitter(rng));
  });
  bus_->stop();
  pool_->stop();
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

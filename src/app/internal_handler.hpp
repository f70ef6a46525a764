// The internal listener's requests: POST /publish, POST /reload, /healthz, /readyz, /metrics.
// Internal to app/: included only by gateway.cpp, which owns one (the class is a gateway member).
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
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

#include "app/access_log.hpp"
#include "app/configured_endpoint.hpp"
#include "app/gateway.hpp"
#include "app/publish_request.hpp"
#include "app/replies.hpp"
#include "auth/api_key.hpp"
#include "bus/bus_factory.hpp"
#include "core/metrics.hpp"
#include "core/redact.hpp"
#include "sse/encoder.hpp"
#include "sse/event_id.hpp"
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
// Internal listener: POST /publish, POST /reload, /healthz, /readyz, /metrics.

class gateway::internal_handler final : public net::request_handler {
 public:
  explicit internal_handler(gateway& g) : g_(g) {}

  // Every request: an id (X-Request-Id) and the access line (access_log.hpp).
  asio::awaitable<handler_outcome> handle(net::http_request& req) override {
    detail::access_entry entry(req, g_.cfg_.log, "internal");
    auto outcome = co_await route(req);
    entry.finish(outcome);
    co_return outcome;
  }

  // Pipelined POST /publish requests wait for the Valkey bus together (net/ keeps their answers in
  // order): route() hands a request's events to the bus before it first waits, so their order is
  // the requests'. The in-process bus answers at once, so there is nothing to overlap.
  bool overlaps(const http::request<http::string_body>& m) const override {
    if (m.method() != http::verb::post || g_.bus_->acknowledges_inline()) return false;
    std::string_view target(m.target().data(), m.target().size());
    return target.substr(0, target.find('?')) == "/publish";
  }

 private:
  asio::awaitable<handler_outcome> route(net::http_request& req) {
    auto& m = req.message;
    std::string_view target(m.target().data(), m.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    if (path == "/healthz") co_return json_response(http::status::ok, "{\"status\":\"ok\"}");
    if (path == "/readyz") {
      const bool bus_ready = g_.bus_->ready();
      // PostgreSQL unreachable: new connects get 503 until it answers again, so not ready.
      const bool store_ready = g_.store_->healthy();
      const bool ready = bus_ready && store_ready && !g_.stopping_;
      json::object body{{"status", ready ? "ready" : "unavailable"},
                        {"bus", g_.bus_->describe()},
                        {"bus_ready", bus_ready},
                        {"store", g_.cfg_.store.driver},
                        {"store_ready", store_ready}};
      co_return json_response(ready ? http::status::ok : http::status::service_unavailable,
                              json::serialize(body));
    }
    if (path == "/metrics") {
      store_up_.set(g_.store_->healthy() ? 1 : 0);
      store_round_trips_.set(static_cast<std::int64_t>(g_.store_->round_trips()));
      co_return http_response{http::status::ok,
                              "text/plain; version=0.0.4",
                              {},
                              metrics_registry::instance().render_prometheus()};
    }
    if (path != "/publish" && path != "/reload")
      co_return error_response(make_error(errc::not_found, "Not found."));
    if (m.method() != http::verb::post) {
      auto r = error_response(make_error(errc::method_not_allowed, "Use POST."));
      r.headers.emplace_back("Allow", "POST");
      co_return r;
    }
    // The generation this request uses (its publisher key and limits) to its end.
    const auto gen = g_.current();
    if (!publisher_authorized(*gen, m))
      co_return error_response(
          make_error(errc::unauthenticated, "Invalid or missing publisher key."));
    if (path == "/reload") co_return co_await reload();
    auto events = parse_publish_body(m.body(), gen->publish);
    if (!events) co_return error_response(events.err());
    const auto n = events->size();
    // Reliable channels: the answer gives each event's id (its position), so a back end can put
    // it in a REST response as a client's starting lastEventId (django-eventstream's
    // get_current_event_id). Only the channel names are kept for that, and only when needed.
    std::vector<std::string> logged_channels;
    if (!g_.cfg_.bus.replay.channels.empty()) {
      logged_channels.reserve(n);
      for (const auto& e : *events) logged_channels.push_back(e.channel);
    }
    auto published = co_await publish_all(*g_.bus_, std::move(*events));
    // The bus's own code: 503 while it cannot take events (with its reason), 4xx for an event it
    // refuses (e.g. over its message size), which a retry would not fix.
    if (!published) co_return error_response(published.err(), detail::server_error_text::bus_state);
    core_metrics::get().events_published.inc(static_cast<std::int64_t>(n));
    // Numbers and quoted channel names only (quote_channel leaves nothing JSON would escape): no
    // JSON document built per publish on this hot path.
    std::string body = "{\"published\":" + std::to_string(n);
    if (std::any_of(published->begin(), published->end(), [](std::uint64_t s) { return s != 0; })) {
      body += ",\"ids\":[";
      for (std::size_t i = 0; i < n; ++i) {
        if (i > 0) body += ',';
        const std::uint64_t seq = (*published)[i];
        if (seq == 0) {
          body += "null";
          continue;
        }
        body += '"';
        body += sse::single_event_id(logged_channels[i], seq);
        body += '"';
      }
      body += ']';
    }
    body += '}';
    co_return json_response(http::status::ok, std::move(body));
  }

 private:
  // `herald reload`: the gateway re-reads its own configuration file (never a path from the
  // request), on the database pool (it reads files and prepares lookups). 422 with the reason when
  // the new configuration is refused; the running one stays.
  asio::awaitable<http_response> reload() {
    auto r = co_await g_.pool_->run([this] { return g_.reload(); });
    if (!r)
      co_return json_response(http::status::unprocessable_entity,
                              error_json(errc::invalid_config, r.err().message));
    co_return json_response(http::status::ok,
                            json::serialize(json::object{{"reloaded", true}, {"message", *r}}));
  }

  static bool publisher_authorized(const generation& gen,
                                   const http::request<http::string_body>& m) {
    const auto& key = gen.cfg.internal.publisher_key;
    if (key.empty()) return false;  // publishing disabled without a key
    auto it = m.find(http::field::authorization);
    if (it == m.end()) return false;
    std::string_view v(it->value().data(), it->value().size());
    constexpr std::string_view bearer = "Bearer ";
    if (v.substr(0, bearer.size()) != bearer) return false;
    return auth::constant_time_equal(v.substr(bearer.size()), key);
  }

  gateway& g_;
  // Read from the store when /metrics is rendered.
  metric& store_up_ = metrics_registry::instance().gauge(
      "herald_store_up", "1 while the store answers (PostgreSQL reachable), else 0");
  metric& store_round_trips_ = metrics_registry::instance().counter(
      "herald_store_round_trips_total",
      "Network round trips sent to the database (PostgreSQL; 0 with SQLite)");
};

}  // namespace herald::app

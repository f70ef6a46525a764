#include "app/stream_limits.hpp"

#include <boost/json.hpp>

#include "app/client_address.hpp"
#include "core/metrics.hpp"

namespace herald::app {

namespace {

metric& refused_total(limit_reason reason) {
  static const char* const help =
      "Streams (and requests, for connect_rate) refused with 429 by a limit that keeps tenants "
      "apart, by limit";
  static metric* const counters[] = {
      &metrics_registry::instance().counter("herald_streams_refused_total{reason=\"per_user\"}",
                                            help),
      &metrics_registry::instance().counter("herald_streams_refused_total{reason=\"per_tenant\"}",
                                            help),
      &metrics_registry::instance().counter("herald_streams_refused_total{reason=\"total\"}", help),
      &metrics_registry::instance().counter("herald_streams_refused_total{reason=\"connect_rate\"}",
                                            help),
  };
  return *counters[static_cast<std::size_t>(reason)];
}

std::string_view refusal_message(limit_reason reason) {
  switch (reason) {
    case limit_reason::per_user:
      return "Too many open streams for this user; retry later.";
    case limit_reason::per_tenant:
      return "Too many open streams for this tenant; retry later.";
    case limit_reason::total:
      return "This server has too many open streams; retry later.";
    case limit_reason::connect_rate:
      return "Too many requests from this address; retry later.";
  }
  return "Too many requests; retry later.";
}

}  // namespace

result<std::unique_ptr<stream_limits>> stream_limits::create(const config::server_config& cfg) {
  auto trusted = net::ip_networks::parse(cfg.trusted_proxies);
  if (!trusted)
    return make_error(errc::invalid_config, "server.trusted_proxies " + trusted.err().message);
  // Every reason's series exists from the start (0), so dashboards and alerts can rely on it.
  for (auto r : {limit_reason::per_user, limit_reason::per_tenant, limit_reason::total,
                 limit_reason::connect_rate})
    refused_total(r);
  return std::unique_ptr<stream_limits>(new stream_limits(cfg, std::move(*trusted)));
}

stream_limits::stream_limits(const config::server_config& cfg, net::ip_networks trusted)
    : trusted_(std::move(trusted)),
      rate_(cfg.connect_rate_per_address, cfg.connect_burst_per_address),
      caps_({.max_streams = cfg.max_streams,
             .max_streams_per_tenant = cfg.max_streams_per_tenant,
             .max_streams_per_user = cfg.max_streams_per_user}),
      cap_retry_after_(cfg.http.busy_retry_after) {}

std::string stream_limits::refusal_body(limit_reason reason) {
  return boost::json::serialize(
      boost::json::object{{"error", boost::json::object{{"code", "too_many_requests"},
                                                        {"message", refusal_message(reason)},
                                                        {"reason", to_string(reason)}}}});
}

net::http_response stream_limits::refuse(limit_reason reason, std::chrono::seconds retry_after) {
  refused_total(reason).inc();
  return net::http_response{boost::beast::http::status::too_many_requests,
                            "application/json",
                            {{"Retry-After", std::to_string(retry_after.count())}},
                            refusal_body(reason)};
}

std::optional<net::http_response> stream_limits::take_request(const net::http_request& req) {
  if (!rate_.enabled()) return std::nullopt;
  std::chrono::seconds wait{1};
  if (rate_.take(client_address(req, trusted_), connect_rate::clock::now(), &wait))
    return std::nullopt;
  return refuse(limit_reason::connect_rate, wait);
}

std::variant<std::shared_ptr<void>, net::http_response> stream_limits::admit(
    const principal& caller) {
  if (!caps_.enabled()) return std::shared_ptr<void>{};  // nothing to count, nothing allocated
  auto r = caps_.admit(caller.user_id, caller.tenant_id);
  if (auto* why = std::get_if<limit_reason>(&r)) return refuse(*why, cap_retry_after_);
  return std::move(std::get<stream_caps::slot>(r));
}

}  // namespace herald::app

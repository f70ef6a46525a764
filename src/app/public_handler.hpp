// The public listener's requests: stream endpoints, CORS preflight, the demo page.
// Internal to app/: included only by gateway.cpp, which owns one (the class is a gateway member).
#pragma once

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
#include <mutex>
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
// Public listener: stream endpoints (+ CORS preflight, + the demo page).

class gateway::public_handler final : public net::request_handler {
 public:
  explicit public_handler(gateway& g) : g_(g) {}

// GCC 12 reports -Wmismatched-new-delete at the end of this coroutine: a false positive on the
// frame Boost.Asio allocates and frees with its own operator new/delete pair (GCC bug 109224).
// Silenced for this function only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
  // Every request: an id (X-Request-Id), the access line, the connect time (access_log.hpp).
  asio::awaitable<handler_outcome> handle(net::http_request& req) override {
    detail::access_entry entry(req, g_.cfg_.log, "public");
    auto outcome = co_await route(req, entry);
    entry.finish(outcome);
    co_return outcome;
  }

 private:
  asio::awaitable<handler_outcome> route(net::http_request& req, detail::access_entry& entry) {
    auto& m = req.message;
    auto url = boost::urls::parse_origin_form(m.target());
    if (!url)
      co_return json_response(http::status::bad_request,
                              error_json(errc::bad_request, "Malformed request target."));
    std::string path(url->encoded_path());

    const stream_endpoint* matched = nullptr;
    stream_endpoint* endpoint = nullptr;
    std::optional<path_params> params;
    for (auto& e : g_.endpoints_) {
      params = e->route().match(path);
      if (params) {
        endpoint = e.get();
        matched = endpoint;
        entry.endpoint = endpoint->route().pattern();
        break;
      }
    }
    if (!matched) {
      for (auto& [page_path, page] : g_.pages_)
        if (page_path == path) co_return co_await page(req);
      co_return with_cors(m, error_response(make_error(errc::not_found, "Not found.")));
    }
    if (m.method() == http::verb::options) co_return preflight(m);
    if (m.method() != http::verb::get) {
      auto r = error_response(make_error(errc::method_not_allowed, "Method not allowed."));
      r.headers.emplace_back("Allow", "GET, OPTIONS");
      co_return with_cors(m, std::move(r));
    }
    // Like django-eventstream: `id: error` on stream-error blocks resumption.
    if (m["Last-Event-ID"] == "error")
      co_return with_cors(m, error_response(make_error(
                                 errc::bad_request, "Can't resume session after stream-error.")));

    auth::request_credentials creds;
    if (auto it = m.find(http::field::authorization); it != m.end())
      creds.authorization = it->value();
    std::string access_token;
    bool has_query_token = false;
    for (auto p : url->params()) {
      if (p.key == "access_token") {
        access_token = p.value;
        has_query_token = true;
      }
    }
    if (has_query_token) creds.access_token = access_token;

    // Kept in the access entry, which outlives this function: a refusal's access line names the
    // caller after `route` has returned.
    auto& who = entry.authenticated.emplace(co_await authenticate(creds));
    if (!who) co_return with_cors(m, error_response(who.err()));
    entry.caller = &*who;

    stream_request sreq{*who, *params, req};
    auto channels = co_await endpoint->resolve(sreq);
    if (!channels) co_return with_cors(m, error_response(channels.err()));
    if (channels->empty()) {  // a bug in the endpoint, never an empty stream
      spdlog::error("endpoint {} resolved no channels for {}: server error",
                    endpoint->route().pattern(), redact_target(m.target()));
      co_return with_cors(
          m, error_response(make_error(errc::internal, "The endpoint resolved no channels.")));
    }
    if (auto ok = tenancy::tenant_gate::check_channels(*who, *channels); !ok)
      co_return with_cors(m, error_response(ok.err()));

    net::stream_start start;
    start.headers = cors_headers(m);
    start.channels = std::move(*channels);
    start.tag = std::make_shared<const detail::stream_record>(
        std::move(*who), std::string(entry.id()), std::string(entry.endpoint),
        metrics_for(endpoint), &g_.stopping_);
    entry.caller = start.tag.get();
    co_return start;
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  // The endpoint's series of herald_streams_open / herald_streams_opened_total, labelled with its
  // template (bounded cardinality). Registered once, at the first request: endpoints are fixed
  // once the gateway has started.
  detail::endpoint_metrics metrics_for(const stream_endpoint* e) {
    std::call_once(metrics_once_, [this] {
      auto& r = metrics_registry::instance();
      for (auto& ep : g_.endpoints_) {
        const auto label = "{endpoint=\"" + prometheus_label_value(ep->route().pattern()) + "\"}";
        endpoint_metrics_.emplace_back(
            ep.get(),
            detail::endpoint_metrics{
                &r.gauge("herald_streams_open" + label, "Open SSE streams by endpoint template"),
                &r.counter("herald_streams_opened_total" + label,
                           "SSE streams opened by endpoint template")});
      }
    });
    for (const auto& [ep, m] : endpoint_metrics_)
      if (ep == e) return m;
    return {};
  }

  // Who is calling, and may they use their own tenant at all: a non-member is refused (403) before
  // the endpoint's resource lookup could answer 404.
  asio::awaitable<result<principal>> authenticate(const auth::request_credentials& creds) {
    const auto now = unix_now();
    // Fast path: a JWT whose (user, tenant) passed the database checks moments ago needs no
    // database round trip; the signature check is CPU only (and cached per token).
    if (g_.connect_cache_.enabled()) {
      auto cred = auth::select_credential(creds);
      if (cred && cred->kind == credential_kind::jwt) {
        auto p = g_.verifier_->verify(cred->value, now);
        if (!p) co_return p;
        if (g_.connect_cache_.fresh(p->user_id, p->tenant_id, now)) co_return p;
      }
    }
    // One database-pool hop for the credentials (user active, API keys) and the membership.
    auto& auth = *g_.authenticator_;
    auto& gate = *g_.gate_;
    auto who = co_await g_.pool_->run([&]() -> result<principal> {
      auto p = auth.authenticate(creds, now);
      if (!p) return p;
      if (auto ok = gate.check_caller(&*p); !ok) return ok.err();
      return p;
    });
    if (who && who->kind == credential_kind::jwt)
      g_.connect_cache_.confirm(who->user_id, who->tenant_id, now);
    co_return who;
  }

  // CORS: the request's Origin (not Referer) must be listed exactly, or "*" be configured.
  std::optional<std::string> allowed_origin(const http::request<http::string_body>& m) const {
    auto it = m.find(http::field::origin);
    if (it == m.end()) return std::nullopt;
    std::string origin(it->value());
    for (const auto& o : g_.cfg_.cors.allow_origins) {
      if (o == "*") return g_.cfg_.cors.allow_credentials ? origin : std::string("*");
      if (o == origin) return origin;
    }
    return std::nullopt;
  }

  net::header_list cors_headers(const http::request<http::string_body>& m) const {
    net::header_list h;
    auto origin = allowed_origin(m);
    if (!origin) return h;
    h.emplace_back("Access-Control-Allow-Origin", *origin);
    if (*origin != "*") h.emplace_back("Vary", "Origin");
    if (g_.cfg_.cors.allow_credentials && *origin != "*")
      h.emplace_back("Access-Control-Allow-Credentials", "true");
    if (!g_.cfg_.cors.allow_headers.empty())
      h.emplace_back("Access-Control-Allow-Headers", g_.cfg_.cors.allow_headers);
    return h;
  }

  http_response with_cors(const http::request<http::string_body>& m, http_response r) const {
    for (auto& h : cors_headers(m)) r.headers.push_back(std::move(h));
    return r;
  }

  http_response preflight(const http::request<http::string_body>& m) const {
    http_response r{http::status::no_content, "", cors_headers(m), ""};
    if (!r.headers.empty()) {
      r.headers.emplace_back("Access-Control-Allow-Methods", "GET, OPTIONS");
      r.headers.emplace_back("Access-Control-Max-Age",
                             std::to_string(g_.cfg_.cors.max_age_seconds));
    }
    return r;
  }

  gateway& g_;
  std::once_flag metrics_once_;
  std::vector<std::pair<const stream_endpoint*, detail::endpoint_metrics>> endpoint_metrics_;
};

}  // namespace herald::app

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
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>

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
  asio::awaitable<handler_outcome> handle(net::http_request& req) override {
    auto& m = req.message;
    // The configuration generation this request uses to its end (a reload swaps in the next).
    const auto gen = g_.current();
    const auto& cors = gen->cfg.cors;
    // Requests a second per client address, before anything costs a lookup.
    if (auto refused = g_.limits_->take_request(req))
      co_return with_cors(cors, m, std::move(*refused));
    auto url = boost::urls::parse_origin_form(m.target());
    if (!url)
      co_return json_response(http::status::bad_request,
                              error_json(errc::bad_request, "Malformed request target."));
    std::string path(url->encoded_path());

    const stream_endpoint* matched = nullptr;
    stream_endpoint* endpoint = nullptr;
    std::shared_ptr<const std::string> endpoint_name;
    std::optional<path_params> params;
    for (std::size_t i = 0; i < gen->endpoints.size(); ++i) {
      params = gen->endpoints[i]->route().match(path);
      if (params) {
        endpoint = gen->endpoints[i];
        endpoint_name = gen->endpoint_names[i];
        matched = endpoint;
        break;
      }
    }
    if (!matched) {
      if (path == "/" && !g_.index_page_.empty() && m.method() == http::verb::get)
        co_return http_response{http::status::ok,
                                "text/html; charset=utf-8",
                                {{"Cache-Control", "no-cache"}},
                                g_.index_page_};
      co_return with_cors(cors, m, error_response(make_error(errc::not_found, "Not found.")));
    }
    if (m.method() == http::verb::options) co_return preflight(cors, m);
    if (m.method() != http::verb::get) {
      auto r = error_response(make_error(errc::method_not_allowed, "Method not allowed."));
      r.headers.emplace_back("Allow", "GET, OPTIONS");
      co_return with_cors(cors, m, std::move(r));
    }
    // Like django-eventstream: `id: error` on stream-error blocks resumption.
    if (m["Last-Event-ID"] == "error")
      co_return with_cors(cors, m,
                          error_response(make_error(errc::bad_request,
                                                    "Can't resume session after stream-error.")));

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

    auto who = co_await authenticate(*gen, creds);
    if (!who) co_return with_cors(cors, m, error_response(who.err()));

    stream_request sreq{*who, *params, req};
    auto channels = co_await endpoint->resolve(sreq);
    if (!channels) co_return with_cors(cors, m, error_response(channels.err()));
    if (channels->empty()) {  // a bug in the endpoint, never an empty stream
      spdlog::error("endpoint {} resolved no channels for {}: server error",
                    endpoint->route().pattern(), redact_target(m.target()));
      co_return with_cors(
          cors, m,
          error_response(make_error(errc::internal, "The endpoint resolved no channels.")));
    }
    if (auto ok = tenancy::tenant_gate::check_channels(*who, *channels); !ok)
      co_return with_cors(cors, m, error_response(ok.err()));
    // A slot under the caps on open streams (per user, per tenant, total), held by the stream.
    auto slot = g_.limits_->admit(*who);
    if (auto* refused = std::get_if<http_response>(&slot))
      co_return with_cors(cors, m, std::move(*refused));

    net::stream_start start;
    start.lease = std::move(std::get<std::shared_ptr<void>>(slot));
    start.headers = cors_headers(cors, m);
    start.channels = std::move(*channels);
    auto tag = std::make_shared<stream_tag>();
    static_cast<principal&>(*tag) = std::move(*who);
    tag->endpoint = std::move(endpoint_name);  // a reload that removes the endpoint ends the stream
    start.tag = std::move(tag);
    spdlog::debug("stream open {} ({} channels)", redact_target(m.target()), start.channels.size());
    co_return start;
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

 private:
  // Who is calling, and may they use their own tenant at all: a non-member is refused (403) before
  // the endpoint's resource lookup could answer 404.
  asio::awaitable<result<principal>> authenticate(const generation& gen,
                                                  const auth::request_credentials& creds) {
    const auto now = unix_now();
    // Fast path: a JWT whose (user, tenant) passed the database checks moments ago needs no
    // database round trip; the signature check is CPU only (and cached per token).
    if (g_.connect_cache_.enabled()) {
      auto cred = auth::select_credential(creds);
      if (cred && cred->kind == credential_kind::jwt) {
        auto p = gen.verifier->verify(cred->value, now);
        if (!p) co_return p;
        if (g_.connect_cache_.fresh(p->user_id, p->tenant_id, now)) co_return p;
      }
    }
    // One database-pool hop for the credentials (user active, API keys) and the membership.
    auto& auth = *gen.authenticator;
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
  static std::optional<std::string> allowed_origin(const net::cors_options& cors,
                                                   const http::request<http::string_body>& m) {
    auto it = m.find(http::field::origin);
    if (it == m.end()) return std::nullopt;
    std::string origin(it->value());
    for (const auto& o : cors.allow_origins) {
      if (o == "*") return cors.allow_credentials ? origin : std::string("*");
      if (o == origin) return origin;
    }
    return std::nullopt;
  }

  static net::header_list cors_headers(const net::cors_options& cors,
                                       const http::request<http::string_body>& m) {
    net::header_list h;
    auto origin = allowed_origin(cors, m);
    if (!origin) return h;
    h.emplace_back("Access-Control-Allow-Origin", *origin);
    if (*origin != "*") h.emplace_back("Vary", "Origin");
    if (cors.allow_credentials && *origin != "*")
      h.emplace_back("Access-Control-Allow-Credentials", "true");
    if (!cors.allow_headers.empty())
      h.emplace_back("Access-Control-Allow-Headers", cors.allow_headers);
    return h;
  }

  static http_response with_cors(const net::cors_options& cors,
                                 const http::request<http::string_body>& m, http_response r) {
    for (auto& h : cors_headers(cors, m)) r.headers.push_back(std::move(h));
    return r;
  }

  static http_response preflight(const net::cors_options& cors,
                                 const http::request<http::string_body>& m) {
    http_response r{http::status::no_content, "", cors_headers(cors, m), ""};
    if (!r.headers.empty()) {
      r.headers.emplace_back("Access-Control-Allow-Methods", "GET, OPTIONS");
      r.headers.emplace_back("Access-Control-Max-Age", std::to_string(cors.max_age_seconds));
    }
    return r;
  }

  gateway& g_;
};

}  // namespace herald::app

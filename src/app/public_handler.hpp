// The public listener's requests: stream endpoints, CORS preflight, the demo page.
// Internal to app/: included only by gateway.cpp, which owns one (the class is a gateway member).
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
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
#include "bus/bus_options.hpp"
#include "core/metrics.hpp"
#include "core/redact.hpp"
#include "sse/encoder.hpp"
#include "sse/event_id.hpp"
#include "sse/event_type.hpp"
#include "sse/resume.hpp"

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
    std::size_t endpoint_index = 0;
    std::optional<path_params> params;
    for (std::size_t i = 0; i < gen->endpoints.size(); ++i) {
      params = gen->endpoints[i]->route().match(path);
      if (params) {
        endpoint = gen->endpoints[i];
        endpoint_index = i;
        matched = endpoint;
        entry.endpoint = endpoint->route().pattern();
        break;
      }
    }
    if (!matched) {
      for (auto& [page_path, page] : g_.pages_)
        if (page_path == path) co_return co_await page(req);
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
    // The Prowler API's API keys may carry IP allow- and block-lists checked against the peer
    // (its REMOTE_ADDR).
    const std::string peer = req.remote.address().to_string();
    creds.peer_address = peer;

    // Kept in the access entry, which outlives this function: a refusal's access line names the
    // caller after `route` has returned.
    std::optional<principal> refused_caller;  // a 403/404's caller, for its access line
    auto admitted = co_await admit(*gen, creds, *endpoint, *params, refused_caller);
    if (!admitted) {
      if (refused_caller) entry.caller = &*entry.authenticated.emplace(std::move(*refused_caller));
      // Its 503s are the gateway's own words for a store outage (store_unavailable(), the
      // authenticator's), which clients and the Prowler API's tests read.
      auto r = error_response(admitted.err(), detail::server_error_text::store_state);
      if (admitted.err().code == errc::unavailable)
        r.headers.emplace_back("Retry-After", std::to_string(kStoreRetryAfterSeconds));
      co_return with_cors(cors, m, std::move(r));
    }
    auto& who = entry.authenticated.emplace(std::move(admitted));
    entry.caller = &*who;

    stream_request sreq{*who, *params, req, !endpoint->lookup().sql.empty()};
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
    if (auto refused = plan_resume(cors, m, *url, start, co_await asio::this_coro::executor))
      co_return std::move(*refused);
    // The tag names the endpoint: a reload that removes it ends the stream (generation::allows).
    start.tag = std::make_shared<const detail::stream_record>(
        std::move(*who), std::string(entry.id()), std::string(entry.endpoint),
        gen->endpoint_metrics[endpoint_index], &g_.stopping_);
    entry.caller = start.tag.get();
    co_return start;
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

 private:
  // Reliable channels ([replay], docs/reconnects.md): a stream with any gets a resume relay that
  // replays from the client's position: the Last-Event-ID header, else the last non-empty
  // lastEventId query parameter (as django-eventstream reads them). Only the channels the endpoint
  // resolved for this caller (and the tenant gate passed) are read; parts of the id naming other
  // channels are ignored. A stream with none stays exactly as without replay. A refusal is
  // returned as the response.
  std::optional<http_response> plan_resume(const net::cors_options& cors,
                                           const http::request<http::string_body>& m,
                                           const boost::urls::url_view& url,
                                           net::stream_start& start,
                                           const asio::any_io_executor& ex) const {
    const auto& replay = g_.cfg_.bus.replay;
    std::vector<sse::relay_channel> channels;
    bool any = false;
    for (const auto& ch : start.channels) {
      const bool reliable = bus::is_reliable(replay, ch);
      any = any || reliable;
      channels.push_back({ch, reliable, std::nullopt});
    }
    if (!any) return std::nullopt;
    std::string token;
    if (auto it = m.find("Last-Event-ID"); it != m.end()) token = std::string(it->value());
    if (token.empty())
      for (auto p : url.params())
        if (p.key == "lastEventId" && !p.value.empty()) token = p.value;
    if (token == "error")
      return with_cors(cors, m,
                       error_response(make_error(errc::bad_request,
                                                 "Can't resume session after stream-error.")));
    if (!token.empty()) {
      auto parts = sse::parse_last_event_id(token);
      if (!parts) return with_cors(cors, m, unparseable_resume_point());
      for (const auto& part : *parts) {
        for (auto& c : channels) {
          if (!c.reliable || c.name != part.channel) continue;
          auto pos = sse::parse_position(part.value);
          if (!pos) return with_cors(cors, m, unparseable_resume_point());
          c.resume_from = *pos;
        }
      }
    }
    sse::relay_options o;
    o.max_held_events = g_.cfg_.server.http.queue_max_events;
    o.max_held_bytes = g_.cfg_.server.http.queue_max_bytes;
    o.read_failed = std::make_shared<const std::string>(sse::encode_retry(retry_hint()));
    static const sse::frame slow =
        std::make_shared<const std::string>(sse::encode_slow_consumer_error());
    o.slow_consumer = slow;
    // The log is read through the bus; the answer comes back on this stream's event loop.
    sse::log_reader reader = [b = g_.bus_.get(), ex](
                                 const std::string& ch, std::optional<std::uint64_t> after,
                                 std::size_t limit,
                                 std::function<void(result<sse::log_read>)> done) {
      b->read_log(ch, after, limit, [ex, done = std::move(done)](result<sse::log_read> r) {
        asio::post(ex, [done, r = std::move(r)]() mutable { done(std::move(r)); });
      });
    };
    start.relay =
        std::make_shared<sse::resume_relay>(std::move(channels), std::move(reader), std::move(o));
    return std::nullopt;
  }

  // django-eventstream's answer to an id it cannot parse: a 200 event stream holding only this
  // stream-error, then the end.
  static http_response unparseable_resume_point() {
    return http_response{
        http::status::ok,
        "text/event-stream",
        {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}},
        sse::encode_stream_error("bad-request",
                                 "Invalid request: Failed to parse Last-Event-ID or lastEventId.")};
  }

  // When a log read fails the stream ends with this `retry:` hint (then the client resumes from
  // the position it has): [server] retry_base_ms plus jitter, as on shutdown.
  unsigned retry_hint() const {
    thread_local std::minstd_rand rng{std::random_device{}()};
    const auto jitter = std::max(1u, g_.cfg_.server.retry_jitter_ms);
    return g_.cfg_.server.retry_base_ms + static_cast<unsigned>(rng() % jitter);
  }

  static constexpr int kStoreRetryAfterSeconds = 2;

  static error store_unavailable() {
    return make_error(errc::unavailable,
                      "The user and tenant store is unavailable; retry shortly.");
  }

  // Who is calling, may they use their own tenant, and does the endpoint's resource exist there.
  // In the Prowler API's order:
  //  1. the credential: a JWT's signature and claims on this thread (CPU only, cached per token);
  //     its 401s need no store;
  //  2. ONE database-pool hop: for an API key first its row (for the Prowler API's `pk_` keys the
  //     admin role's read by `_pk`), then store::connect_check: the user row, the membership and
  //     the endpoint's lookup (one transaction and one round trip on PostgreSQL, the lookup under
  //     row-level security);
  //  3. the user row's 401s (check_user_row: "User not found", "User is inactive", "The user's
  //     password has been changed."), then not a member: 403, then no resource: 404.
  // The connect cache (JWTs only, see connect_cache.hpp) skips what it confirmed within its TTL; a
  // JWT caller whose user, membership and resource are all fresh needs no hop at all. While the
  // store is unhealthy every connect is 503, cached or not.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // GCC bug 109224, as handle() above
#endif
  asio::awaitable<result<principal>> admit(const generation& gen,
                                           const auth::request_credentials& creds,
                                           const stream_endpoint& endpoint,
                                           const path_params& params,
                                           std::optional<principal>& refused_caller) {
    const auto now = unix_now();
    auto cred = auth::select_credential(creds);
    if (!cred) co_return std::move(cred).err();
    std::optional<principal> jwt;
    if (cred->kind == credential_kind::jwt) {
      auto p = gen.verifier->verify(cred->value, now);
      if (!p) co_return p;
      jwt = std::move(*p);
    }
    if (!g_.store_->healthy()) co_return store_unavailable();

    const endpoint_lookup lookup = endpoint.lookup();
    const auto lookup_id = reinterpret_cast<std::uintptr_t>(&endpoint);
    auto& cache = g_.connect_cache_;
    bool caller_known = false;
    bool resource_known = lookup.sql.empty();
    if (jwt && cache.enabled()) {
      caller_known = cache.caller_fresh(*jwt, now);
      if (!resource_known)
        resource_known = cache.resource_fresh(lookup_id, *jwt, lookup.binds_user, params, now);
      if (caller_known && resource_known) co_return std::move(*jwt);
    }

    const bool want_user = !caller_known && gen.cfg.auth.check_user_active;
    const bool want_membership = !caller_known;
    const bool want_lookup = !resource_known;
    auto& authn = *gen.authenticator;
    auto& db = *g_.store_;
    using checked = std::pair<principal, store::store::connect_answer>;
    result<checked> r = co_await g_.pool_->run([&]() -> result<checked> {
      principal p;
      if (jwt) {
        p = std::move(*jwt);
      } else {
        auto v = authn.verify(creds, now);  // the API key's row
        if (!v) return std::move(v).err();
        p = std::move(*v);
      }
      store::lookup_params lp;
      store::store::connect_query q;
      q.user_id = p.user_id;
      q.tenant_id = p.tenant_id;
      q.want_user = want_user;
      q.want_membership = want_membership;
      if (want_lookup) {
        lp = configured_endpoint::lookup_params(p, params);
        q.lookup_sql = lookup.sql;
        q.params = &lp;
      }
      auto a = db.connect_check(q);
      if (!a) return std::move(a).err();
      return checked{std::move(p), std::move(*a)};
    });
    if (!r) {
      if (r.err().code == errc::unavailable) co_return store_unavailable();
      if (r.err().code == errc::internal) {
        note_store_error(r.err());
        co_return make_error(errc::internal, "The store failed to answer.");
      }
      co_return std::move(r).err();
    }
    auto& [p, answer] = *r;
    if (want_user) {
      if (auto ok = auth::check_user_row(gen.cfg.auth, p, answer.user ? &*answer.user : nullptr);
          !ok)
        co_return std::move(ok).err();
    }
    if (want_membership && !answer.member) {
      refused_caller = p;
      co_return tenancy::tenant_gate::not_a_member();
    }
    if (want_lookup && !answer.resource_found) {
      refused_caller = p;
      co_return make_error(errc::not_found, "Not found.");
    }
    if (p.kind == credential_kind::jwt && cache.enabled()) {
      if (!caller_known) cache.confirm_caller(p, now);
      if (want_lookup) cache.confirm_resource(lookup_id, p, lookup.binds_user, params, now);
    }
    co_return std::move(p);
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

  // A store error that is not an outage (a lookup's SQL failing, a broken row): logged, at most
  // once a minute, without the request.
  void note_store_error(const error& e) {
    const auto now = unix_now();
    auto last = last_store_error_log_.load(std::memory_order_relaxed);
    if (now - last < 60) return;
    if (!last_store_error_log_.compare_exchange_strong(last, now)) return;
    spdlog::error("connect: the store failed: {}", e.message);
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

  // django-eventstream (utils.augment_cors_headers) sends EVENTSTREAM_ALLOW_HEADERS on every
  // response, whatever the origin, and the Prowler API sets it to "Cache-Control, Last-Event-ID":
  // Access-Control-Allow-Headers is sent on every stream-endpoint answer (it grants nothing without
  // an Allow-Origin). The origin headers need a listed Origin.
  static net::header_list cors_headers(const net::cors_options& cors,
                                       const http::request<http::string_body>& m) {
    net::header_list h;
    if (auto origin = allowed_origin(cors, m)) {
      h.emplace_back("Access-Control-Allow-Origin", *origin);
      if (*origin != "*") h.emplace_back("Vary", "Origin");
      if (cors.allow_credentials && *origin != "*")
        h.emplace_back("Access-Control-Allow-Credentials", "true");
    }
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
    if (allowed_origin(cors, m)) {
      r.headers.emplace_back("Access-Control-Allow-Methods", "GET, OPTIONS");
      r.headers.emplace_back("Access-Control-Max-Age", std::to_string(cors.max_age_seconds));
    }
    return r;
  }

  gateway& g_;
  std::atomic<std::int64_t> last_store_error_log_{0};
};

}  // namespace herald::app

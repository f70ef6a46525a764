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
#include "app/publish_request.hpp"
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
using net::handler_outcome;
using net::http_response;

namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// {"error":{"code":"not_found","message":"Not found."}}: compact, as every Herald JSON body.
std::string error_json(errc code, std::string_view message) {
  return json::serialize(
      json::object{{"error", json::object{{"code", to_string(code)}, {"message", message}}}});
}

http_response error_response(const error& e) {
  http_response r;
  r.status = static_cast<http::status>(http_status(e.code));
  r.body = error_json(e.code, e.message);
  if (e.code == errc::unauthenticated) {
    core_metrics::get().auth_failures.inc();
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"herald\"");
  }
  if (http_status(e.code) >= 500) core_metrics::get().errors.inc();
  return r;
}

http_response json_response(http::status status, std::string body) {
  return http_response{status, "application/json", {}, std::move(body)};
}

// Publishing to a bus that answers later (Valkey): the shared state counts the acknowledgements and
// resumes the waiting coroutine through its executor.
struct publish_state {
  std::mutex mu;
  std::size_t remaining = 0;
  std::optional<error> first_error;
  std::function<void()> resume;  // set while a coroutine waits for the last acknowledgement

  result<void> outcome() const { return first_error ? result<void>(*first_error) : result<void>(); }
};

// Hands every event to the bus; the state counts the acknowledgements.
std::shared_ptr<publish_state> start_publish(bus::bus& b, std::vector<sse::event> events) {
  auto st = std::make_shared<publish_state>();
  st->remaining = events.size();
  for (auto& e : events) {
    b.publish(std::move(e), [st](const result<void>& r) {
      std::unique_lock lock(st->mu);
      if (!r && !st->first_error) st->first_error = r.err();
      if (--st->remaining != 0 || !st->resume) return;
      auto resume = std::move(st->resume);
      lock.unlock();
      resume();
    });
  }
  return st;
}

// Completes once every event was acknowledged. The state is a parameter (copied into the
// coroutine frame), so it outlives the suspension whatever the caller does.
asio::awaitable<result<void>> finish_publish(std::shared_ptr<publish_state> st) {
  {
    std::lock_guard lock(st->mu);
    if (st->remaining == 0) co_return st->outcome();
  }
  auto initiation = [st](auto handler) {
    auto ex = asio::get_associated_executor(handler);
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    auto resume = [h, ex] { asio::post(ex, [h] { std::move (*h)(); }); };
    std::unique_lock lock(st->mu);
    if (st->remaining == 0) {
      lock.unlock();
      resume();
    } else {
      st->resume = std::move(resume);
    }
  };
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(initiation,
                                                                       asio::use_awaitable);
  std::lock_guard lock(st->mu);
  co_return st->outcome();
}

// Publishes every event; the outcome is the first error, if any. The in-process bus acknowledges
// before publish() returns: the outcome then lives on this frame (no shared state, lock or
// allocation per publish) and the coroutine completes without suspending, so a batch of pipelined
// publishes is handled in one turn and flushed together.
asio::awaitable<result<void>> publish_all(bus::bus& b, std::vector<sse::event> events) {
  if (!b.acknowledges_inline())
    co_return co_await finish_publish(start_publish(b, std::move(events)));
  result<void> outcome;
  for (auto& e : events)
    b.publish(std::move(e), [&outcome](result<void> r) {
      if (!r && outcome) outcome = std::move(r);
    });
  co_return outcome;
}

}  // namespace

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
        break;
      }
    }
    if (!matched) {
      if (path == "/" && !g_.index_page_.empty() && m.method() == http::verb::get)
        co_return http_response{http::status::ok,
                                "text/html; charset=utf-8",
                                {{"Cache-Control", "no-cache"}},
                                g_.index_page_};
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

    auto who = co_await authenticate(creds);
    if (!who) co_return with_cors(m, error_response(who.err()));

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
    start.tag = std::make_shared<const principal>(std::move(*who));
    spdlog::debug("stream open {} ({} channels)", redact_target(m.target()), start.channels.size());
    co_return start;
  }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

 private:
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
};

// -------------------------------------------------------------------------------------------------
// Internal listener: POST /publish, /healthz, /readyz, /metrics.

class gateway::internal_handler final : public net::request_handler {
 public:
  explicit internal_handler(gateway& g) : g_(g) {
    limits_.verbs = &g_.cfg_.events.verbs;
    limits_.max_data_bytes = g_.cfg_.events.max_data_bytes;
    limits_.max_batch_events = g_.cfg_.internal.max_batch_events;
  }

  asio::awaitable<handler_outcome> handle(net::http_request& req) override {
    auto& m = req.message;
    std::string_view target(m.target().data(), m.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    if (path == "/healthz") co_return json_response(http::status::ok, "{\"status\":\"ok\"}");
    if (path == "/readyz") {
      const bool bus_ready = g_.bus_->ready();
      const bool ready = bus_ready && !g_.stopping_;
      json::object body{{"status", ready ? "ready" : "unavailable"},
                        {"bus", g_.bus_->describe()},
                        {"bus_ready", bus_ready}};
      co_return json_response(ready ? http::status::ok : http::status::service_unavailable,
                              json::serialize(body));
    }
    if (path == "/metrics")
      co_return http_response{http::status::ok,
                              "text/plain; version=0.0.4",
                              {},
                              metrics_registry::instance().render_prometheus()};
    if (path != "/publish") co_return error_response(make_error(errc::not_found, "Not found."));
    if (m.method() != http::verb::post) {
      auto r = error_response(make_error(errc::method_not_allowed, "Use POST."));
      r.headers.emplace_back("Allow", "POST");
      co_return r;
    }
    if (!publisher_authorized(m))
      co_return error_response(
          make_error(errc::unauthenticated, "Invalid or missing publisher key."));
    auto events = parse_publish_body(m.body(), limits_);
    if (!events) co_return error_response(events.err());
    const auto n = events->size();
    auto published = co_await publish_all(*g_.bus_, std::move(*events));
    if (!published)
      co_return error_response(make_error(errc::unavailable, published.err().message));
    core_metrics::get().events_published.inc(static_cast<std::int64_t>(n));
    // A number only, nothing to escape: no JSON document built per publish on this hot path.
    co_return json_response(http::status::ok, "{\"published\":" + std::to_string(n) + "}");
  }

 private:
  bool publisher_authorized(const http::request<http::string_body>& m) const {
    const auto& key = g_.cfg_.internal.publisher_key;
    if (key.empty()) return false;  // publishing disabled without a key
    auto it = m.find(http::field::authorization);
    if (it == m.end()) return false;
    std::string_view v(it->value().data(), it->value().size());
    constexpr std::string_view bearer = "Bearer ";
    if (v.substr(0, bearer.size()) != bearer) return false;
    return auth::constant_time_equal(v.substr(bearer.size()), key);
  }

  gateway& g_;
  publish_limits limits_;
};

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

void gateway::schedule_recheck() {
  recheck_timer_->expires_after(std::chrono::seconds(cfg_.tenancy.recheck_interval_seconds));
  recheck_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    recheck_now();
    schedule_recheck();
  });
}

void gateway::recheck_now() {
  public_server_->collect_tags([this](std::vector<std::shared_ptr<const principal>> tags) {
    if (tags.empty() || stopping_) return;
    // Off the event loops. Every stream has its own principal, but the verdict depends only on the
    // caller (kind, user, tenant; for an API key also its id and expiry; a JWT's own expiry is not
    // re-checked): one pass asks the store once per distinct caller, so 18,000 streams of 100 users
    // cost 100 membership and user/key checks, not 18,000.
    asio::co_spawn(
        public_server_->executors().front(),
        [this, tags = std::move(tags)]() -> asio::awaitable<void> {
          auto revoked = co_await pool_->run([&] {
            std::unordered_set<const principal*> bad;
            std::unordered_map<std::string, bool> verdicts;
            const auto now = unix_now();
            for (const auto& t : tags) {
              const principal* p = t.get();
              std::string key = std::to_string(static_cast<int>(p->kind));
              for (const std::string* part : {&p->user_id, &p->tenant_id, &p->api_key_id})
                key.append(1, '\0').append(*part);
              if (p->kind == credential_kind::api_key)
                key.append(1, '\0').append(std::to_string(p->expires_at));
              auto [it, fresh] = verdicts.try_emplace(std::move(key), false);
              if (fresh) {
                auto member = store_->is_member(p->user_id, p->tenant_id);
                it->second = member && *member && authenticator_->recheck(*p, now).has_value();
              }
              if (!it->second) bad.insert(t.get());
            }
            return bad;
          });
          if (revoked.empty()) co_return;
          spdlog::info("re-check: closing {} stream(s) whose caller is no longer allowed",
                       revoked.size());
          public_server_->close_streams_if(
              [revoked = std::move(revoked)](const principal* tag) {
                return revoked.contains(tag);
              },
              sse::encode_stream_error("forbidden",
                                       "Permission denied: membership or credentials revoked."));
        },
        asio::detached);
  });
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

}  // namespace herald::app

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

// The live re-check of open streams (tenancy.recheck_interval_seconds).

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
        [this, tags = std::move(tags), gen = current()]() -> asio::awaitable<void> {
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
                it->second = member && *member && gen->authenticator->recheck(*p, now).has_value();
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

}  // namespace herald::app

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
#include <map>
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
    // Off the event loops, on the database pool: one authenticator::recheck_all for every open
    // stream's caller (one batched store::recheck_facts: one query per table per pass, not one per
    // stream), then one pass per shard that ends the streams with their verdict's stream-error.
    asio::co_spawn(
        public_server_->executors().front(),
        [this, tags = std::move(tags), gen = current()]() -> asio::awaitable<void> {
          auto ended = co_await pool_->run([&] {
            std::vector<const principal*> callers;
            callers.reserve(tags.size());
            for (const auto& t : tags) callers.push_back(t.get());
            auto report = gen->authenticator->recheck_all(callers, unix_now());
            // The store failed: only token expiry was judged, and nothing else closes (open
            // streams keep their events through an outage). Logged once per outage.
            if (report.store_error) {
              if (!recheck_store_failed_.exchange(true))
                spdlog::warn(
                    "re-check: the store is unreachable ({}); open streams stay open until it "
                    "answers again",
                    report.store_error->message);
            } else if (recheck_store_failed_.exchange(false)) {
              spdlog::info("re-check: the store answers again");
            }
            // One frame per distinct verdict and reason (a handful), shared by every stream that
            // gets it.
            std::unordered_map<const principal*, sse::frame> frames;
            std::map<std::pair<auth::recheck_verdict, std::string_view>, sse::frame> by_reason;
            for (std::size_t i = 0; i < callers.size(); ++i) {
              const auth::recheck_outcome& o = report.outcomes[i];
              if (o.verdict == auth::recheck_verdict::ok) continue;
              auto [it, fresh] = by_reason.try_emplace({o.verdict, o.reason});
              if (fresh)
                it->second = std::make_shared<const std::string>(
                    sse::encode_stream_error(auth::to_string(o.verdict), o.reason));
              frames.emplace(callers[i], it->second);
            }
            recheck_passes_.inc();
            return frames;
          });
          if (ended.empty()) co_return;
          spdlog::info("re-check: ending {} stream(s) whose caller is no longer allowed",
                       ended.size());
          // The tags stay alive until every shard has run the pass: no other stream's principal
          // can take the address of one judged here.
          public_server_->close_streams_with(
              [ended = std::move(ended), keep = tags](const principal* tag) -> sse::frame {
                (void)keep;
                auto it = ended.find(tag);
                if (it == ended.end()) return nullptr;
                detail::mark_revoked(tag);  // its close line says why
                return it->second;
              });
        },
        asio::detached);
  });
}

}  // namespace herald::app

#include "app/replies.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "core/metrics.hpp"

namespace herald::app::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using net::http_response;

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

namespace {

std::string_view fixed_text(errc code) {
  switch (code) {
    case errc::unavailable:
      return "Temporarily unavailable; retry later.";
    case errc::too_many:
      return "Too many requests; retry later.";
    default:
      return "Internal server error.";
  }
}

}  // namespace

http_response error_response(const error& e, server_error_text text) {
  http_response r;
  const int status = http_status(e.code);
  r.status = static_cast<http::status>(status);
  if (status < 500 || (text != server_error_text::fixed && e.code == errc::unavailable)) {
    r.body = error_json(e.code, e.message);
  } else {
    // Logged, not answered: the message may quote request input or name internal hosts.
    if (e.code == errc::unavailable || e.code == errc::too_many)
      spdlog::debug("answered {}: {}", status, e.message);
    else
      spdlog::error("answered {}: {}", status, e.message);
    r.body = error_json(e.code, fixed_text(e.code));
  }
  if (e.code == errc::unauthenticated) {
    core_metrics::get().auth_failures.inc();
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"herald\"");
  }
  if (status >= 500) core_metrics::get().errors.inc();
  return r;
}

http_response json_response(http::status status, std::string body) {
  return http_response{status, "application/json", {}, std::move(body)};
}

namespace {

// Publishing to a bus that answers later (Valkey): the shared state counts the acknowledgements and
// resumes the waiting coroutine through its executor.
struct publish_state {
  std::mutex mu;
  std::size_t remaining = 0;
  std::optional<error> first_error;
  std::vector<std::uint64_t> positions;
  std::function<void()> resume;  // set while a coroutine waits for the last acknowledgement

  result<std::vector<std::uint64_t>> outcome() const {
    if (first_error) return *first_error;
    return positions;
  }
};

// Hands every event to the bus; the state counts the acknowledgements.
std::shared_ptr<publish_state> start_publish(bus::bus& b, std::vector<sse::event> events) {
  auto st = std::make_shared<publish_state>();
  st->remaining = events.size();
  st->positions.assign(events.size(), 0);
  for (std::size_t i = 0; i < events.size(); ++i) {
    b.publish(std::move(events[i]), [st, i](const result<std::uint64_t>& r) {
      std::unique_lock lock(st->mu);
      if (!r && !st->first_error) st->first_error = r.err();
      if (r) st->positions[i] = *r;
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
asio::awaitable<result<std::vector<std::uint64_t>>> finish_publish(
    std::shared_ptr<publish_state> st) {
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

}  // namespace

// Publishes every event; the outcome is the first error, if any. The in-process bus acknowledges
// before publish() returns: the outcome then lives on this frame (no shared state, lock or
// allocation per publish) and the coroutine completes without suspending, so a batch of pipelined
// publishes is handled in one turn and flushed together.
asio::awaitable<result<std::vector<std::uint64_t>>> publish_all(bus::bus& b,
                                                                std::vector<sse::event> events) {
  if (!b.acknowledges_inline())
    co_return co_await finish_publish(start_publish(b, std::move(events)));
  std::optional<error> failed;
  std::vector<std::uint64_t> positions(events.size(), 0);
  for (std::size_t i = 0; i < events.size(); ++i)
    b.publish(std::move(events[i]), [&failed, &positions, i](result<std::uint64_t> r) {
      if (r)
        positions[i] = *r;
      else if (!failed)
        failed = std::move(r).err();
    });
  if (failed) co_return std::move(*failed);
  co_return positions;
}

}  // namespace herald::app::detail

#include "app/access_log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <random>

#include "core/log_format.hpp"
#include "core/redact.hpp"

namespace herald::app::detail {

namespace {

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

std::string_view reason_text(close_reason r) {
  switch (r) {
    case close_reason::revoked:
      return "revoked";
    case close_reason::shutdown:
      return "shutdown";
    case close_reason::closed:
      break;
  }
  return "closed";
}

}  // namespace

stream_record::stream_record(principal p, std::string id, std::string ep, endpoint_metrics m,
                             const std::atomic<bool>* stop)
    : principal(std::move(p)),
      request_id(std::move(id)),
      endpoint(std::move(ep)),
      metrics(m),
      stopping(stop) {
  if (metrics.open) metrics.open->inc();
  if (metrics.opened) metrics.opened->inc();
}

stream_record::~stream_record() {
  if (metrics.open) metrics.open->dec();
  auto r = reason.load(std::memory_order_relaxed);
  if (r == close_reason::closed && stopping && stopping->load()) r = close_reason::shutdown;
  log_with(spdlog::level::info, "stream closed",
           {{"request_id", request_id},
            {"tenant", tenant_id},
            {"user", user_id},
            {"endpoint", endpoint},
            {"duration_ms", elapsed_ms(opened)},
            {"reason", reason_text(r)}});
}

void mark_revoked(const principal* tag) {
  if (tag)
    static_cast<const stream_record*>(tag)->reason.store(close_reason::revoked,
                                                         std::memory_order_relaxed);
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (unsigned char c : id)
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':') return false;
  return true;
}

void new_request_id(char (&out)[32]) {
  // Not a secret, only unique: a 64-bit generator per thread, seeded once from the OS.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr std::string_view hex = "0123456789abcdef";
  for (std::size_t half = 0; half < 2; ++half) {
    auto v = rng();
    for (std::size_t i = 0; i < 16; ++i, v >>= 4) out[half * 16 + i] = hex[v & 15];
  }
}

access_entry::access_entry(const net::http_request& req, const log_options& opts,
                           std::string_view listener)
    : req_(req), listener_(listener) {
  if (opts.accept_request_id) {
    if (auto it = req.message.find("X-Request-Id"); it != req.message.end()) {
      std::string_view incoming(it->value().data(), it->value().size());
      if (valid_request_id(incoming)) {  // at most 64 characters: fits
        incoming.copy(id_, incoming.size());
        id_size_ = incoming.size();
      }
    }
  }
  if (id_size_ == 0) {
    char fresh[32];
    new_request_id(fresh);
    std::copy(std::begin(fresh), std::end(fresh), id_);
    id_size_ = sizeof fresh;
  }
}

void access_entry::finish(net::handler_outcome& outcome) {
  const auto& m = req_.message;
  const auto method = m.method_string();
  const std::string_view method_text(method.data(), method.size());
  auto path = [&] { return redact_target(std::string_view(m.target().data(), m.target().size())); };
  if (auto* stream = std::get_if<net::stream_start>(&outcome)) {
    stream->headers.emplace_back("X-Request-Id", std::string(id()));
    const auto took = std::chrono::steady_clock::now() - start_;
    core_metrics::get().connect_latency.observe_ns(
        std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
    if (!spdlog::default_logger_raw()->should_log(spdlog::level::info)) return;
    log_with(spdlog::level::info, "stream opened",
             {{"request_id", id()},
              {"listener", listener_},
              {"method", method_text},
              {"path", path()},
              {"status", 200},
              {"tenant", caller ? std::string_view(caller->tenant_id) : std::string_view()},
              {"user", caller ? std::string_view(caller->user_id) : std::string_view()},
              {"endpoint", endpoint},
              {"channels", static_cast<std::int64_t>(stream->channels.size())},
              {"connect_ms", std::chrono::duration_cast<std::chrono::milliseconds>(took).count()}});
    return;
  }
  auto& response = std::get<net::http_response>(outcome);
  response.headers.emplace_back("X-Request-Id", std::string(id()));
  const auto status = static_cast<unsigned>(response.status);
  // The internal listener's traffic is machine traffic at high rates: its successes at debug.
  const auto level =
      listener_ == "internal" && status < 400 ? spdlog::level::debug : spdlog::level::info;
  if (!spdlog::default_logger_raw()->should_log(level)) return;
  log_with(level, "request",
           {{"request_id", id()},
            {"listener", listener_},
            {"method", method_text},
            {"path", path()},
            {"status", status},
            {"duration_ms", elapsed_ms(start_)},
            {"tenant", caller ? std::string_view(caller->tenant_id) : std::string_view()},
            {"user", caller ? std::string_view(caller->user_id) : std::string_view()},
            {"endpoint", endpoint}});
}

}  // namespace herald::app::detail

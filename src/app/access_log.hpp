// Request ids and the access log of both listeners (internal to app/).
//
// Every request gets an id, echoed as `X-Request-Id` on its answer (and on a stream's head): a
// well-formed incoming one when [log] accept_request_id is set (a proxy's), else Herald's own (32
// hex digits). One access line per request at `info`, with the id, listener, method, redacted
// path, status and duration; a stream's line adds the caller (tenant, user), the endpoint's
// template and the connect time, and its end is a second line ("stream closed") with its lifetime
// and why it ended. The internal listener logs its successful requests (publishes, probes,
// scrapes: thousands a second on a busy node) at `debug`, its refusals at `info`.
//
// Threads: an access_entry lives in one request's coroutine (one event-loop thread). A
// stream_record is the stream's tag (its principal): created on the connecting thread, read by
// the live re-check on any thread, destroyed on whichever thread drops it last, which logs the
// close and decrements the endpoint's gauge.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/log_options.hpp"
#include "core/metrics.hpp"
#include "core/principal.hpp"
#include "core/result.hpp"
#include "net/http_types.hpp"

namespace herald::app::detail {

// Why a stream ended, when the gateway knows (else "closed": the client left, it fell behind
// (counted in herald_slow_consumer_drops_total), or its connection failed).
enum class close_reason : unsigned char { closed, revoked, shutdown };

// The streams of one endpoint: its series of herald_streams_open / herald_streams_opened_total.
struct endpoint_metrics {
  metric* open = nullptr;
  metric* opened = nullptr;
};

// A stream's tag: who opened it, plus what its close line needs. Every tag the gateway hands to
// net/ is one of these (app/ is the only creator), so the gateway may static_cast a tag to it.
struct stream_record final : principal {
  stream_record(principal p, std::string request_id, std::string endpoint, endpoint_metrics metrics,
                const std::atomic<bool>* stopping);
  ~stream_record();
  stream_record(const stream_record&) = delete;
  stream_record& operator=(const stream_record&) = delete;

  std::string request_id;
  std::string endpoint;  // the endpoint's template (bounded: never the request path)
  endpoint_metrics metrics;
  const std::atomic<bool>* stopping;  // the gateway's: a close during stop() is "shutdown"
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
  mutable std::atomic<close_reason> reason{close_reason::closed};
};

// Marks a tag's stream as closed by the live re-check (before the gateway closes it).
void mark_revoked(const principal* tag);

// A well-formed request id: 1-64 of A-Z a-z 0-9 - _ . : (nothing a log line must escape).
bool valid_request_id(std::string_view id);
// 32 random hex digits into `out` (a per-thread generator seeded once; no system call and no
// allocation per request).
void new_request_id(char (&out)[32]);

class access_entry {
 public:
  access_entry(const net::http_request& req, const log_options& opts, std::string_view listener);

  std::string_view id() const { return {id_, id_size_}; }
  // What the stream request found on the way (for its lines).
  std::string_view endpoint;  // matched endpoint's template
  // The caller, once authenticated: points into `authenticated` (a refusal) or into the stream's
  // tag (an opened stream), both of which outlive finish().
  const principal* caller = nullptr;
  std::optional<result<principal>> authenticated;

  // Adds X-Request-Id, observes the connect time of a stream, logs the access line.
  void finish(net::handler_outcome& outcome);

 private:
  const net::http_request& req_;
  std::string_view listener_;
  // In place: a publish request costs no allocation for its id beyond its X-Request-Id header.
  char id_[64];
  std::size_t id_size_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace herald::app::detail

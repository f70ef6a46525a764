// The limits that keep tenants apart, as the public listener applies them (issue 15): requests a
// second per client address (connect_rate, the address from client_address() with
// `[server] trusted_proxies`), then, for a caller allowed a stream, its slot under the caps on open
// streams per user, per tenant and in total (stream_caps). Past a limit the answer is 429 with
// Retry-After and a JSON body naming the limit, counted in herald_streams_refused_total{reason}.
//
// Ownership: the gateway owns it, declared before the server (the slots it hands out live with the
// streams). Thread safety: every method may run on any event-loop thread.
#pragma once

#include <memory>
#include <optional>
#include <variant>

#include "app/connect_rate.hpp"
#include "app/stream_caps.hpp"
#include "config/config.hpp"
#include "core/principal.hpp"
#include "net/http_types.hpp"
#include "net/ip_network.hpp"

namespace herald::app {

class stream_limits {
 public:
  // Refuses trusted_proxies it cannot read (config/ has checked them already).
  static result<std::unique_ptr<stream_limits>> create(const config::server_config& cfg);

  // Takes one of the client address's tokens: nullopt to go on, or the 429 to answer.
  std::optional<net::http_response> take_request(const net::http_request& req);

  // The slot to hand to net/ with the stream (stream_start::lease; null when no cap is set), or
  // the 429 to answer.
  std::variant<std::shared_ptr<void>, net::http_response> admit(const principal& caller);

  const stream_caps& caps() const { return caps_; }
  const net::ip_networks& trusted_proxies() const { return trusted_; }

  // The JSON body of the 429 (exposed for tests and the docs):
  // {"error":{"code":"too_many_requests","message":"...","reason":"per_user"}}.
  static std::string refusal_body(limit_reason reason);

 private:
  stream_limits(const config::server_config& cfg, net::ip_networks trusted);
  net::http_response refuse(limit_reason reason, std::chrono::seconds retry_after);

  net::ip_networks trusted_;
  connect_rate rate_;
  stream_caps caps_;
  std::chrono::seconds cap_retry_after_;
};

}  // namespace herald::app

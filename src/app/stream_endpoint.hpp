// The library interface for stream endpoints: a C++ service embeds Herald by implementing
// stream_endpoint (the counterpart of the Prowler API's BaseSSEViewSet.get_channels) and
// registering it with the gateway. Configured endpoints (TOML) are one implementation
// (configured_endpoint).
//
//   class scan_stream final : public herald::app::stream_endpoint {
//    public:
//     const url_template& route() const override { return route_; }
//     awaitable<result<std::vector<std::string>>> resolve(const stream_request& r) override {
//       if (!co_await scan_visible(r.caller.tenant_id, r.param("scan_pk")))
//         co_return make_error(errc::not_found, "Not found.");
//       co_return std::vector{*tenancy::make_channel_name("scan-progress", r.caller.tenant_id,
//                                                         r.param("scan_pk"))};
//     }
//   };
//
// resolve() runs on the connection's event-loop thread: blocking work goes through the db_pool.
// Errors: errc::unauthenticated (401), errc::forbidden (403), errc::not_found (404); anything else
// is a 5xx. Returning NO channels is a server error (logged), never an empty stream.
// After resolve(), the tenant gate still checks every channel against the caller.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "app/url_template.hpp"
#include "core/principal.hpp"
#include "core/result.hpp"
#include "net/http_types.hpp"

namespace herald::app {

struct stream_request {
  const principal& caller;
  const path_params& params;
  const net::http_request& http;

  // The value of a URL parameter, or an empty view.
  std::string_view param(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return v;
    return {};
  }
};

class stream_endpoint {
 public:
  virtual ~stream_endpoint() = default;
  virtual const url_template& route() const = 0;
  virtual boost::asio::awaitable<result<std::vector<std::string>>> resolve(
      const stream_request& req) = 0;
};

}  // namespace herald::app

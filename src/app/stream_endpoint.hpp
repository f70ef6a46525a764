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
//
// Before resolve(), the gateway has verified the credential and, in one database-pool hop, the
// caller's user row and membership (store::connect_check). An endpoint whose resource check is a
// SQL lookup can hand it to the gateway (lookup()): it then runs in that same hop (one transaction
// and one round trip on PostgreSQL, under row-level security), and resolve() is called with
// resource_checked set. C++ endpoints usually check in resolve() and return no lookup.
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
  // The gateway ran this endpoint's lookup() at connect and it found the resource.
  bool resource_checked = false;

  // The value of a URL parameter, or an empty view.
  std::string_view param(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return v;
    return {};
  }
};

// A resource lookup the gateway runs for an endpoint at connect (see above).
struct endpoint_lookup {
  // One SELECT with named parameters: the path's, :tenant_id and :user_id (the caller's). No row:
  // 404. Empty: the endpoint has none for the gateway to run.
  std::string_view sql;
  bool binds_user = false;  // names :user_id, so its answer may differ between users of a tenant
};

class stream_endpoint {
 public:
  virtual ~stream_endpoint() = default;
  virtual const url_template& route() const = 0;
  virtual boost::asio::awaitable<result<std::vector<std::string>>> resolve(
      const stream_request& req) = 0;
  // The lookup the gateway may run at connect; the default is none. Must stay the same for the
  // endpoint's lifetime (the gateway caches positive answers per endpoint).
  virtual endpoint_lookup lookup() const { return {}; }
};

}  // namespace herald::app

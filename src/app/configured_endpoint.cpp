#include "app/configured_endpoint.hpp"

#include "tenancy/channel_name.hpp"

namespace herald::app {

configured_endpoint::configured_endpoint(route::endpoint_config cfg, store::store& db,
                                         store::db_pool& pool)
    : cfg_(std::move(cfg)), route_(cfg_.path), db_(db), pool_(pool) {}

boost::asio::awaitable<result<std::vector<std::string>>> configured_endpoint::resolve(
    const stream_request& req) {
  path_params values = req.params;
  values.emplace_back("tenant_id", req.caller.tenant_id);
  values.emplace_back("user_id", req.caller.user_id);

  if (!cfg_.lookup.empty()) {
    // The lookup binds :tenant_id (enforced at config load), so a resource of another tenant is
    // indistinguishable from a missing one: 404 either way, nothing leaks.
    store::lookup_params params(values.begin(), values.end());
    auto found = co_await pool_.run([&] { return db_.row_exists(cfg_.lookup, params); });
    if (!found) co_return make_error(errc::unavailable, "resource lookup failed");
    if (!*found) co_return make_error(errc::not_found, "Not found.");
  }

  std::vector<std::string> channels;
  for (const auto& tmpl : cfg_.channels) {
    auto filled = route::expand_channel(tmpl, values);
    if (!filled) co_return std::move(filled).err();
    // Re-check through the one channel-name module: a value can never shift the tenant segment.
    auto parsed = tenancy::parse_channel_name(*filled);
    if (!parsed) co_return make_error(errc::internal, "channel '" + *filled + "' is malformed");
    auto name = tenancy::make_channel_name(parsed->prefix, parsed->tenant_id, parsed->resource_id);
    if (!name) co_return make_error(errc::internal, name.err().message);
    channels.push_back(std::move(*name));
  }
  co_return channels;
}

}  // namespace herald::app

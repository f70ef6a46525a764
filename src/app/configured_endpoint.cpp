#include "app/configured_endpoint.hpp"

#include "tenancy/channel_name.hpp"

namespace herald::app {

namespace {

// Whether the SQL names the parameter :user_id (a name continues with [a-z0-9_]).
bool names_user_id(std::string_view sql) {
  constexpr std::string_view name = ":user_id";
  for (auto at = sql.find(name); at != std::string_view::npos; at = sql.find(name, at + 1)) {
    const auto end = at + name.size();
    const char next = end < sql.size() ? sql[end] : ' ';
    const bool continues = (next >= 'a' && next <= 'z') || (next >= '0' && next <= '9') ||
                           next == '_' || (next >= 'A' && next <= 'Z');
    if (!continues) return true;
  }
  return false;
}

}  // namespace

configured_endpoint::configured_endpoint(route::endpoint_config cfg, store::store& db,
                                         store::db_pool& pool)
    : cfg_(std::move(cfg)),
      binds_user_(names_user_id(cfg_.lookup)),
      route_(cfg_.path),
      db_(db),
      pool_(pool) {}

store::lookup_params configured_endpoint::lookup_params(const principal& caller,
                                                        const path_params& params) {
  store::lookup_params out(params.begin(), params.end());
  out.emplace_back("tenant_id", caller.tenant_id);
  out.emplace_back("user_id", caller.user_id);
  return out;
}

boost::asio::awaitable<result<std::vector<std::string>>> configured_endpoint::resolve(
    const stream_request& req) {
  path_params values = req.params;
  values.emplace_back("tenant_id", req.caller.tenant_id);
  values.emplace_back("user_id", req.caller.user_id);

  if (!cfg_.lookup.empty() && !req.resource_checked) {
    // Row-level security (PostgreSQL) or the :tenant_id predicate (SQLite, enforced at config
    // load) scope the lookup to the caller's tenant, so a resource of another tenant is
    // indistinguishable from a missing one: 404 either way, nothing leaks.
    store::lookup_params params = lookup_params(req.caller, req.params);
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

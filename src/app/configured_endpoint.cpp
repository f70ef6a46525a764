#include "app/configured_endpoint.hpp"

#include <spdlog/spdlog.h>

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

  // The channels first: pure, and a request that can name no channel (a resource id too long for
  // one) is refused before it costs a lookup.
  std::vector<std::string> channels;
  for (const auto& tmpl : cfg_.channels) {
    auto filled = route::expand_channel(tmpl, values);
    if (!filled) co_return std::move(filled).err();
    // Only the path's values vary, and they cannot be empty or hold ':' (expand_channel refuses
    // those), so a name too long is the one way a request can make a channel invalid: the
    // client's error. Nothing from the request goes into a message here.
    if (filled->size() > tenancy::kMaxChannelNameLength)
      co_return make_error(errc::bad_request, "The resource id is too long.");
    // Re-check through the one channel-name module: a value can never shift the tenant segment.
    if (!tenancy::canonicalize_channel_name(*filled)) {
      spdlog::error("endpoint {}: channel template '{}' built a malformed channel", cfg_.path,
                    tmpl);
      co_return make_error(errc::internal, "The endpoint built a malformed channel.");
    }
    channels.push_back(std::move(*filled));
  }

  if (!cfg_.lookup.empty() && !req.resource_checked) {
    // Row-level security (PostgreSQL) or the :tenant_id predicate (SQLite, enforced at config
    // load) scope the lookup to the caller's tenant, so a resource of another tenant is
    // indistinguishable from a missing one: 404 either way, nothing leaks.
    store::lookup_params params = lookup_params(req.caller, req.params);
    auto found = co_await pool_.run([&] { return db_.row_exists(cfg_.lookup, params); });
    if (!found) co_return make_error(errc::unavailable, "resource lookup failed");
    if (!*found) co_return make_error(errc::not_found, "Not found.");
  }
  co_return channels;
}

}  // namespace herald::app

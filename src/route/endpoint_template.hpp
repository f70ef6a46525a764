// The grammar of configured stream endpoints: path templates, channel templates and lookups.
//
//   path     /api/v1/scans/{scan_pk:uuid}/event-stream   literal segments and whole-segment
//   parameters
//            {name} = {name:slug} ([A-Za-z0-9_-]+), {name:uuid} (canonical 8-4-4-4-12, lower-cased)
//   channel  scan-progress:{tenant_id}:{scan_pk}         <literal prefix>:{tenant_id}:<resource>
//   lookup   SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id
//
// Checked once by config/ when it loads the file (so a bad endpoint never reaches serve);
// match_path and expand_channel are the runtime half, used by app/ per request. Pure functions, no
// I/O, and no dependency on config/: C++ endpoints (url_template) use the same grammar.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "route/endpoint.hpp"

namespace herald::route {

// Names every template may use besides the endpoint's own parameters. Reserved as parameter names.
inline constexpr std::string_view kTenantIdName = "tenant_id";
inline constexpr std::string_view kUserIdName = "user_id";

struct path_template {
  std::vector<endpoint_param> params;
  std::vector<path_segment> segments;
};

// Errors are errc::invalid_config with a message naming the problem (no file position).
result<path_template> parse_path_template(std::string_view path);

// Checks a channel template against the endpoint's parameters.
result<void> check_channel_template(std::string_view channel,
                                    const std::vector<endpoint_param>& params);

// The `:name` parameters a lookup references, in order of first use. Refuses `?`, `?N`, `@x`, `$x`
// parameters and more than one statement; skips string literals, quoted identifiers and comments.
result<std::vector<std::string>> lookup_parameter_names(std::string_view sql);

// Full lookup check: a single SELECT/WITH statement that uses only :tenant_id, :user_id and the
// endpoint's parameters, and binds :tenant_id unless `rls_scoped` (the postgres store runs every
// lookup under the Prowler API's row-level security, which scopes it to the caller's tenant by
// itself). (app/ also prepares it against the store.)
result<void> check_lookup(std::string_view sql, const std::vector<endpoint_param>& params,
                          bool rls_scoped = false);

// name -> value, e.g. {{"scan_pk", "..."}} from match_path, plus tenant_id/user_id added by app/.
using param_values = std::vector<std::pair<std::string, std::string>>;

// Matches a request path (the raw target before '?', not percent-decoded) against an endpoint.
// Returns the parameter values in params order (uuids lower-cased), or nullopt if it does not
// match.
std::optional<param_values> match_path(const endpoint_config& endpoint, std::string_view path);

// The path shape two templates share when they match the same URLs: literals kept, parameters
// replaced by {} (/a/{x} and /a/{y:uuid} have the same shape).
std::string path_shape(const endpoint_config& endpoint);

// Substitutes {name} placeholders. A value that is empty or contains ':' is errc::forbidden (it
// would shift the tenant segment); a name with no value is errc::internal (the caller forgot to
// pass it).
result<std::string> expand_channel(std::string_view channel_template, const param_values& values);

}  // namespace herald::route

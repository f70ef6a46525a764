// A stream endpoint's options as configured: its URL template, channel templates and resource
// lookup. The route module owns them (their grammar is in endpoint_template.hpp); config/ fills a
// vector of them from the [[endpoints]] tables, app/ serves them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald::route {

enum class param_type { uuid, slug };

std::string_view to_string(param_type t) noexcept;

struct endpoint_param {
  std::string name;
  param_type type = param_type::slug;
};

// One segment of a parsed path template: a literal ("api", "event-stream") or a parameter.
struct path_segment {
  std::string literal;  // the literal text; empty for a parameter
  int param = -1;       // index into endpoint_config::params, or -1 for a literal
};

struct endpoint_config {
  // Template as written, e.g. /api/v1/scans/{scan_pk:uuid}/event-stream (endpoint_template.hpp).
  std::string path;
  std::vector<endpoint_param> params;  // parsed from the template
  std::vector<path_segment> segments;  // the template split on '/', in order
  // Channel templates using {tenant_id}, {user_id} and the params.
  std::vector<std::string> channels;
  std::string lookup;  // optional SQL; must bind :tenant_id; no row -> 404
  // Its channels are reliable (docs/reconnects.md): config/ adds their prefixes to [replay]
  // channels.
  bool reliable = false;
};

}  // namespace herald::route

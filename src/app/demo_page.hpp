// The demo page: two tenants side by side, their scan progress bars and assistant answers fed by
// EventSource (?access_token=, since EventSource cannot send an Authorization header).
#pragma once

#include <string>

namespace herald::app {
// `tenants_json`: a JSON array of {"name","tenant","user","token","scans":[{"id","name"}],
// "conversation"}; `forged_token`: the second tenant's user claiming the first tenant (not a
// member: refused 403). Tokens are embedded for the demo only.
std::string render_demo_page(const std::string& tenants_json, const std::string& forged_token);
}  // namespace herald::app

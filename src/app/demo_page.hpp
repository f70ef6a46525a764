// The demo page: live scan progress bars fed by EventSource (?access_token=, since EventSource
// cannot send an Authorization header).
#pragma once

#include <string>

namespace herald::app {
// `scans_json` is a JSON array of {"id","name"}. The token is embedded for the demo only.
std::string render_demo_page(const std::string& token, const std::string& scans_json);
}  // namespace herald::app

// Secrets never reach logs: every request target is passed through redact_target() before logging,
// and every header we log goes through redact_header().
#pragma once

#include <string>
#include <string_view>

namespace herald {

// Replaces the value of any `access_token`, `token`, `api_key` or `key` query parameter with
// "[redacted]".
std::string redact_target(std::string_view target);
// Returns "[redacted]" for Authorization / Cookie / X-Publisher-Key style headers, else the value.
std::string redact_header(std::string_view name, std::string_view value);

}  // namespace herald

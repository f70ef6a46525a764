// Secrets never reach logs: every request target is passed through redact_target() before logging,
// and every header we log goes through redact_header().
#pragma once

#include <string>
#include <string_view>

namespace herald {

// Replaces the value of any `access_token`, `token`, `api_key`, `key` or `jwt` query parameter with
// "[redacted]". The query is read with Boost.URL exactly as the gateway reads it
// (boost::urls::parse_origin_form, parameter names percent-decoded and '+' as space, compared
// case-insensitively), so whatever the gateway could take as a token is redacted. A target the
// gateway cannot parse (it answers 400) keeps its path and loses its whole query.
std::string redact_target(std::string_view target);
// Returns "[redacted]" for Authorization / Cookie / X-Publisher-Key style headers, else the value.
std::string redact_header(std::string_view name, std::string_view value);

}  // namespace herald

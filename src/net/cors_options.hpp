// CORS on the public listener ([cors]): which origins may read the streams from a browser, and the
// rules of those options. config/ maps the keys onto cors_options; app/ answers with them. Pure
// (library herald_net_options).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace herald::net {

struct cors_options {
  std::vector<std::string> allow_origins;  // exact origins ("https://app.example.com") or "*"
  bool allow_credentials = true;           // Access-Control-Allow-Credentials: true
  std::string allow_headers = "Cache-Control, Last-Event-ID";  // django-eventstream's list
  std::uint32_t max_age_seconds = 600;                         // preflight cache
};

// "https://App.Example.com[:port]" -> "https://app.example.com[:port]" (browsers serialize Origin
// lower-cased), or "*". No path, query, fragment or userinfo. Errors start with the text in quotes.
result<std::string> normalize_origin(std::string_view origin);
// One Access-Control-Allow-Headers name: an RFC 9110 token (no CR/LF injection).
result<std::string> check_header_name(std::string_view name);
// "Cache-Control,Last-Event-ID , X-Y" -> {"Cache-Control", "Last-Event-ID", "X-Y"}.
std::vector<std::string> split_header_list(std::string_view text);
std::string join_header_list(const std::vector<std::string>& names);  // "a, b"

// Across fields: "*" with credentials is refused (browsers reject that combination).
result<void> validate(const cors_options& c);

}  // namespace herald::net

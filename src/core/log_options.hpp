// The log options ([log]). config/ maps the keys onto log_options; the CLI sets up spdlog with
// them (core/log_format.hpp).
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace herald {

// text: `2025-01-31T12:00:00.123 info message key=value ...`; json: one JSON object a line.
enum class log_format { text, json };

struct log_options {
  std::string level = "info";            // trace, debug, info, warn, error, critical, off
  log_format format = log_format::text;  // the line format (core/log_format.hpp)
  // Take a well-formed incoming X-Request-Id (a proxy's) instead of generating one. Off: every
  // request gets Herald's own id, so a client cannot choose the id its lines are logged under.
  bool accept_request_id = false;
};

// One of spdlog's level names; the error message starts with the text in quotes.
result<std::string> parse_log_level(std::string_view level);
// "text" or "json"; the error message starts with the text in quotes.
result<log_format> parse_log_format(std::string_view format);
std::string_view to_string(log_format f);

}  // namespace herald

// The log options ([log]). config/ maps the keys onto log_options; the CLI sets up spdlog with
// them.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace herald {

struct log_options {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
};

// One of spdlog's level names; the error message starts with the text in quotes.
result<std::string> parse_log_level(std::string_view level);

}  // namespace herald

#include "core/log_options.hpp"

#include <algorithm>
#include <array>

namespace herald {

result<std::string> parse_log_level(std::string_view level) {
  static constexpr std::array<std::string_view, 7> levels = {"trace", "debug",    "info", "warn",
                                                             "error", "critical", "off"};
  if (std::find(levels.begin(), levels.end(), level) == levels.end())
    return make_error(errc::invalid_config,
                      "'" + std::string(level) +
                          "' is not one of trace, debug, info, warn, error, critical, off");
  return std::string(level);
}

}  // namespace herald

namespace herald {

result<log_format> parse_log_format(std::string_view format) {
  if (format == "text") return log_format::text;
  if (format == "json") return log_format::json;
  return make_error(errc::invalid_config, "'" + std::string(format) + "' is not one of text, json");
}

std::string_view to_string(log_format f) { return f == log_format::json ? "json" : "text"; }

}  // namespace herald

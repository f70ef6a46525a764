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

// A stream endpoint's route: a URL template such as `/api/v1/scans/{scan_pk:uuid}/event-stream`.
// Thin wrapper over config/endpoint_template (the single implementation of the template grammar),
// so C++ endpoints and configured ones match paths identically.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "config/endpoint_template.hpp"
#include "core/result.hpp"

namespace herald::app {

using path_params = config::param_values;

class url_template {
 public:
  // Throws std::invalid_argument on a bad template (start-up edge); see parse().
  explicit url_template(std::string_view pattern);
  static result<url_template> parse(std::string_view pattern);

  // Parameter values (uuids lower-cased) if `path` (the target before '?') matches.
  std::optional<path_params> match(std::string_view path) const {
    return config::match_path(endpoint_, path);
  }
  const std::string& pattern() const { return endpoint_.path; }

 private:
  url_template() = default;
  config::endpoint_config endpoint_;
};

}  // namespace herald::app

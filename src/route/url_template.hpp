// A stream endpoint's route: a URL template such as `/api/v1/scans/{scan_pk:uuid}/event-stream`.
// A thin wrapper over endpoint_template (the single implementation of the template grammar), so C++
// endpoints and configured ones match paths identically.
// Immutable after construction; match() may run concurrently on any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "route/endpoint.hpp"
#include "route/endpoint_template.hpp"

namespace herald::route {

class url_template {
 public:
  // Throws std::invalid_argument on a bad template (start-up edge); see parse().
  explicit url_template(std::string_view pattern);
  static result<url_template> parse(std::string_view pattern);

  // Parameter values (uuids lower-cased) if `path` (the target before '?') matches.
  std::optional<param_values> match(std::string_view path) const {
    return match_path(endpoint_, path);
  }
  const std::string& pattern() const { return endpoint_.path; }

 private:
  url_template() = default;
  endpoint_config endpoint_;
};

}  // namespace herald::route

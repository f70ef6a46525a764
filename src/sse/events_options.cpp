#include "sse/events_options.hpp"

#include <algorithm>

namespace herald::sse {

result<std::string> check_extra_verb(std::string_view verb) {
  const bool ok =
      !verb.empty() && verb.size() <= 32 &&
      std::all_of(verb.begin(), verb.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  if (!ok)
    return make_error(errc::invalid_config,
                      "'" + std::string(verb) + "' must be 1-32 lowercase letters [a-z]");
  return std::string(verb);
}

}  // namespace herald::sse

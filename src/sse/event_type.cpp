#include "sse/event_type.hpp"

namespace herald::sse {

const std::set<std::string, std::less<>>& default_verbs() {
  static const std::set<std::string, std::less<>> v = {"delta",   "start",   "end",     "progress",
                                                       "created", "updated", "deleted", "error"};
  return v;
}

result<void> validate_event_type(std::string_view type,
                                 const std::set<std::string, std::less<>>& verbs) {
  auto dot = type.find('.');
  if (type.empty()) return make_error(errc::unprocessable, "event type is empty");
  if (dot == std::string_view::npos || type.find('.', dot + 1) != std::string_view::npos)
    return make_error(errc::unprocessable,
                      "event type '" + std::string(type) + "' must be <resource>.<verb>");
  std::string_view resource = type.substr(0, dot);
  std::string_view verb = type.substr(dot + 1);
  if (resource.empty() || resource.size() > 64 || !(resource[0] >= 'a' && resource[0] <= 'z'))
    return make_error(errc::unprocessable, "event resource '" + std::string(resource) +
                                               "' must start with a lowercase letter (1-64 chars)");
  for (char c : resource)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return make_error(errc::unprocessable, "event resource '" + std::string(resource) +
                                                 "' may only contain [a-z0-9_-]");
  if (!verbs.contains(verb))
    return make_error(errc::unprocessable,
                      "event verb '" + std::string(verb) + "' is not in the vocabulary");
  return {};
}

}  // namespace herald::sse

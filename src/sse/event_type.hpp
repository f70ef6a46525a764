// The `<resource>.<verb>` event naming contract (the Prowler API's guide: "the naming convention is
// the contract").
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace herald::sse {

// The platform vocabulary; config may extend it.
const std::set<std::string, std::less<>>& default_verbs();

// Accepts `<resource>.<verb>`: resource is 1-64 chars of [a-z0-9_-] starting with a letter (a
// single dot-separated namespace such as `lighthouse-session` is one resource), verb is in `verbs`.
result<void> validate_event_type(std::string_view type,
                                 const std::set<std::string, std::less<>>& verbs);

}  // namespace herald::sse

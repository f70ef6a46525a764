// The event options ([events]): the verb vocabulary of `<resource>.<verb>` event types and the size
// limit of one event's data. config/ maps the keys onto events_options; the publish API checks
// events with them.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "sse/event_type.hpp"

namespace herald::sse {

struct events_options {
  // The verbs event types may use: default_verbs() (their one home) plus [events].extra_verbs.
  std::set<std::string, std::less<>> verbs = default_verbs();
  std::uint32_t max_data_bytes = 64 * 1024;  // serialized payload limit per event, bytes
};

// An extra verb: 1-32 lower-case letters [a-z]. The error message starts with the verb in quotes.
result<std::string> check_extra_verb(std::string_view verb);

}  // namespace herald::sse

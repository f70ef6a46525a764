// Decoding and validating publish requests (`POST /publish` bodies and `herald publish`): pure.
//   {"channel": "...", "event": "<resource>.<verb>", "data": {...}[, "id": "..."]}
//   {"events": [ {...}, ... ]}
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bus/bus_config.hpp"
#include "core/result.hpp"
#include "sse/event.hpp"

namespace herald::app {

struct publish_limits {
  const std::set<std::string, std::less<>>* verbs = nullptr;
  std::size_t max_data_bytes = std::size_t{64} * 1024;
  std::size_t max_batch_events = 1000;
  // [replay]: an event of a reliable channel may not carry its own id (Herald assigns it).
  const bus::replay_options* replay = nullptr;
};

// Every event is validated (channel name, event type, data is a flat JSON object within the size
// limit: no value is an object or an array holding one; errc::unprocessable otherwise);
// the first problem is reported with the index of the event ("events[3].event: ...") and nothing is
// published. The channel comes out canonical (tenancy::canonicalize_channel_name: lower-case
// UUIDs). data is re-serialised compactly by Boost.JSON, with every number as the publisher wrote
// it (`0.5` stays `0.5`, `12.0` stays `12.0`, a 30-digit integer keeps its digits).
result<std::vector<sse::event>> parse_publish_body(std::string_view body,
                                                   const publish_limits& limits);

// One event from its parts (the CLI path), under the same rules as parse_publish_body. `data_json`
// must be a JSON object.
result<sse::event> make_publish_event(std::string_view channel, std::string_view type,
                                      std::string_view data_json, std::string_view id,
                                      const publish_limits& limits);

// The POST /publish body of one event (the CLI sends it): data as it is, not re-serialised.
std::string publish_body(const sse::event& e);

}  // namespace herald::app

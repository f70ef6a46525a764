// The single place that builds and parses channel names: `<prefix>:<tenant_id>:<resource_id>`.
// Publishers, the tenant gate, endpoints and the bus all go through here so they agree byte for
// byte.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace herald::tenancy {

inline constexpr char kChannelSeparator = ':';

struct channel_parts {
  std::string prefix;
  std::string tenant_id;  // canonical lower-case UUID
  std::string resource_id;
};

// Refuses an empty segment and any segment containing ':' (it would shift the tenant segment).
result<std::string> make_channel_name(std::string_view prefix, std::string_view tenant_id,
                                      std::string_view resource_id);

// The tenant UUID (canonical, lower-case) for exactly three non-empty segments with a UUID in the
// middle; nullopt otherwise. Callers MUST treat nullopt as "not authorized".
std::optional<std::string> tenant_id_from_channel(std::string_view channel);

// All three parts, under the same rule as tenant_id_from_channel.
std::optional<channel_parts> parse_channel_name(std::string_view channel);

// parse_channel_name(channel).has_value(), without building the parts (the publish path).
bool is_channel_name(std::string_view channel);

// Longest channel name accepted anywhere (publish API, bus, endpoints).
inline constexpr std::size_t kMaxChannelNameLength = 255;

}  // namespace herald::tenancy

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

// The canonical form of a channel name: the tenant UUID, and a resource id that is a UUID, in
// lower case. UUIDs are case-insensitive, but channels are matched byte for byte: Herald's routes
// lower-case `{x:uuid}` parameters and Python's str(uuid) prints lower case, so an event published
// to `p:<UPPER-CASE UUID>:r` would reach no stream. Every path that builds or receives a channel
// name (make_channel_name, parse_channel_name, the publish API and CLI, the bus) goes through this
// rule, so publishers and subscribers always agree.
struct channel_parts {
  std::string prefix;
  std::string tenant_id;    // canonical lower-case UUID
  std::string resource_id;  // lower-cased when it is a UUID
};

// Refuses an empty segment and any segment containing ':' (it would shift the tenant segment).
// UUID segments come out lower-case.
result<std::string> make_channel_name(std::string_view prefix, std::string_view tenant_id,
                                      std::string_view resource_id);

// The tenant UUID (canonical, lower-case) for exactly three non-empty segments with a UUID in the
// middle; nullopt otherwise. Callers MUST treat nullopt as "not authorized".
std::optional<std::string> tenant_id_from_channel(std::string_view channel);

// All three parts, under the same rule as tenant_id_from_channel.
std::optional<channel_parts> parse_channel_name(std::string_view channel);

// parse_channel_name(channel).has_value(), without building the parts. A name may be valid and
// not canonical: publishers canonicalize (below) rather than only check.
bool is_channel_name(std::string_view channel);

// Rewrites `channel` into its canonical form in place (no allocation) and returns true; returns
// false, leaving it unchanged, when it is not a channel name. The publish paths (POST /publish,
// `herald publish`, bus messages received and sent) call this.
bool canonicalize_channel_name(std::string& channel);

// True when `channel` is a channel name already in its canonical form (no allocation).
bool is_canonical_channel_name(std::string_view channel);

// The canonical form of `channel`, or nullopt when it is not a channel name.
std::optional<std::string> canonical_channel_name(std::string_view channel);

// Longest channel name accepted anywhere (publish API, bus, endpoints).
inline constexpr std::size_t kMaxChannelNameLength = 255;

}  // namespace herald::tenancy

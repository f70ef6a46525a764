// Rules of the bus options (bus_config.hpp): the names of kinds, modes and schemes, host and node
// addresses, the Prowler API's VALKEY_* variables, and the checks across fields. config/ maps the
// [bus] keys and these variables onto bus_config with them; the factory checks with them again.
// Pure (library herald_bus_options, no hiredis or sockets).
//
// Messages follow config/'s convention: a value check's message starts with the value in quotes
// (config/ puts the key or the variable in front), validate()'s messages start with the key.
#pragma once

#include <string>
#include <string_view>

#include "bus/bus_config.hpp"
#include "core/result.hpp"

namespace herald::bus {

// The Prowler API's deployment variables (its config/settings/celery.py). When set and non-empty
// they override the file, so one image runs in every environment. config/'s key table names them.
inline constexpr std::string_view kValkeyHostEnv = "VALKEY_HOST";
inline constexpr std::string_view kValkeyPortEnv = "VALKEY_PORT";
inline constexpr std::string_view kValkeyUsernameEnv = "VALKEY_USERNAME";
inline constexpr std::string_view kValkeyPasswordEnv = "VALKEY_PASSWORD";
inline constexpr std::string_view kValkeySchemeEnv = "VALKEY_SCHEME";

std::string_view to_string(bus_kind k) noexcept;
std::string_view to_string(bus_mode m) noexcept;
result<bus_kind> parse_kind(std::string_view s);  // "local", "redis"
result<bus_mode> parse_mode(std::string_view s);  // "native", "compat"
std::string_view to_string(bus_thread t) noexcept;
result<bus_thread> parse_thread(std::string_view s);   // "auto", "own", "event-loop"
result<std::string> parse_scheme(std::string_view s);  // "redis", "rediss" (see validate())
// A host name or IP for the resolver: letters, digits, '-', '.', '_', ':' (IPv6), at most 253.
result<std::string> parse_host(std::string_view s);
// A cluster seed "host:port" or "[ipv6]:port".
result<std::string> check_node_address(std::string_view s);

// A [replay] channels entry: a channel prefix (1-255 bytes, no ':'). The error message starts with
// the value in quotes.
result<std::string> check_replay_prefix(std::string_view s);
// The channel's prefix is one of replay.channels (the channel keeps a log and can be resumed).
bool is_reliable(const replay_options& replay, std::string_view channel) noexcept;

// Fills what follows from other fields: cluster mode with no seeds starts from host:port.
void complete(bus_config& c);
// Across fields (errc::invalid_config, one sentence): scheme "rediss" with inconsistent TLS options
// (bus_tls_options::validate), compat mode with cluster mode, an empty host or compat channel, bad
// seeds, inverted or zero limits. A local bus checks only what does not depend on the kind.
result<void> validate(const bus_config& c);

}  // namespace herald::bus

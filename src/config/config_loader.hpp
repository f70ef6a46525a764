// TOML file + environment -> gateway_config.
//
// Every key is optional (defaults in config.hpp); an unknown key or section is an error naming it,
// so typos never silently fall back to a default. Errors are errc::invalid_config with a message of
// the form "<file>:<line>:<col>: <problem>" (no position for cross-field and environment problems).
//
// Order: parse TOML -> read each section -> resolve relative paths against the config file's
// directory and read key files / *_env variables -> apply VALKEY_* overrides -> cross-field checks.
// Loading never touches the network or the store; app/ additionally prepares each lookup against
// the store before serving.
#pragma once

#include <string>
#include <string_view>

#include "config/config.hpp"
#include "core/result.hpp"

namespace herald::config {

// `require_endpoints`: `herald serve` needs at least one [[endpoints]]; check-config, publish and
// token do not.
result<gateway_config> load_config_file(const std::string& path, bool require_endpoints = false);

// Same, from text. Relative paths (key files, store.path, demo.page_dir) resolve against `base_dir`
// (made absolute; empty = the current directory). `source_name` only labels error messages.
result<gateway_config> load_config_string(std::string_view toml, const std::string& base_dir,
                                          bool require_endpoints = false,
                                          const std::string& source_name = "<config>");

// The checks `herald serve` adds on top of a successful load (at least one endpoint).
result<void> validate_for_serve(const gateway_config& cfg);

// Parses "host:port" / "[v6]:port"; host must be an IP literal, port 0-65535 (0 = any free port).
result<listener_config> parse_listen_address(std::string_view text);

// The effective configuration as TOML-like text for `herald check-config`. Secrets (publisher key,
// bus password, HS256 secret, signing key) appear only as "[set]" / "[unset]".
std::string describe(const gateway_config& cfg);

// Canonical names, as written in the config file.
std::string_view to_string(auth::jwt_algorithm a) noexcept;
std::string_view to_string(bus::bus_kind k) noexcept;
std::string_view to_string(bus::bus_mode m) noexcept;

}  // namespace herald::config

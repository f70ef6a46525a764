// TOML file + environment -> gateway_config, driven by the key table (option_table.cpp).
//
// Every key is optional (defaults in the module structs); an unknown key or section is an error
// naming it, so typos never silently fall back to a default. Errors are errc::invalid_config with a
// message of the form "<file>:<line>:<col>: <problem>" (a rule across keys points at the key it
// names when the file gives it; an environment problem has no position).
//
// Order: parse TOML -> each key of the table in order (its file value, then its environment
// override) -> [[endpoints]] (route/'s grammar) -> the rules across keys (each module's
// validate()). Loading never touches the network or the store; app/ additionally prepares each
// lookup against the store before serving.
#pragma once

#include <string>
#include <string_view>

#include "config/config.hpp"
#include "core/result.hpp"

namespace herald::config {

// `require_endpoints`: `herald serve` needs at least one [[endpoints]]; check-config, publish and
// token do not.
result<gateway_config> load_config_file(const std::string& path, bool require_endpoints = false);

// Same, from text. Relative paths (key files, store.path) resolve against `base_dir` (made
// absolute; empty = the current directory). `source_name` only labels error messages.
result<gateway_config> load_config_string(std::string_view toml, const std::string& base_dir,
                                          bool require_endpoints = false,
                                          const std::string& source_name = "<config>");

// The checks `herald serve` adds on top of a successful load (at least one endpoint).
result<void> validate_for_serve(const gateway_config& cfg);

// Whether a running gateway started with `running` may take `next` on reload: an error naming
// every key that is fixed while the process runs (listen addresses, threads, socket options, the
// store, the bus; rows marked needs_restart) and differs. Values are never shown (some are
// secrets).
result<void> reload_refusal(const gateway_config& running, const gateway_config& next);

// The effective configuration as TOML for `herald check-config`: every key that applies, with
// secrets shown only as "[set]" / "[unset]" and where secrets and overrides came from.
std::string describe(const gateway_config& cfg);

}  // namespace herald::config

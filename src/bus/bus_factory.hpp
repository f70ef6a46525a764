// Building a bus from configuration: validation, the factory, and the Prowler API's VALKEY_*
// variables.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bus/bus.hpp"
#include "bus/bus_config.hpp"
#include "core/result.hpp"

namespace herald::bus {

// Refuses (errc::invalid_config, one clear sentence) what the bus cannot run: a scheme other than
// "redis"/"rediss", inconsistent TLS options (bus_tls_options::validate), an empty host or port 0,
// compat mode together with cluster
// mode (see docs/scaling-and-bus.md: django-eventstream uses classic PUBLISH, which a cluster
// broadcasts to every node, so point Herald at one node with cluster = false), bad cluster_nodes,
// and inverted or zero limits. A local bus is always valid.
result<void> check_bus_config(const bus_config& cfg);

// The bus for `cfg`: local_bus or redis_bus. try_make_bus returns check_bus_config's error, or the
// TLS context's (a CA, certificate or key file that cannot be loaded);
// make_bus throws std::invalid_argument with that message (for start-up code that exits on it).
result<std::unique_ptr<bus>> try_make_bus(const bus_config& cfg);
std::unique_ptr<bus> make_bus(const bus_config& cfg);

// Reads the Prowler API's deployment variables into `cfg`: VALKEY_HOST, VALKEY_PORT,
// VALKEY_USERNAME, VALKEY_PASSWORD, VALKEY_SCHEME. A variable counts only when set and non-empty
// (the API's settings default them to ""). Does not change cfg.kind: the caller decides whether
// these select the redis bus. On error (bad port, unknown scheme) `cfg` is left unchanged.
using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;
result<void> apply_valkey_env(bus_config& cfg);
result<void> apply_valkey_env(bus_config& cfg, const env_lookup& getenv);

}  // namespace herald::bus

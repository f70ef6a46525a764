#include "bus/bus_factory.hpp"

#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include "bus/cluster_topology.hpp"
#include "bus/local_bus.hpp"
#include "bus/redis_bus.hpp"
#include "bus/tls_context.hpp"

namespace herald::bus {
namespace {

error config_error(std::string msg) { return make_error(errc::invalid_config, std::move(msg)); }

result<void> check_scheme(std::string_view scheme, std::string_view source) {
  if (scheme == "redis" || scheme == "rediss") return {};
  return config_error(std::string(source) + " \"" + std::string(scheme) +
                      "\" is not supported (use \"redis\", or \"rediss\" for TLS)");
}

}  // namespace

result<void> check_bus_config(const bus_config& c) {
  if (c.kind == bus_kind::local) return {};
  if (auto ok = check_scheme(c.scheme, "bus.scheme"); !ok) return ok;
  if (c.scheme == "rediss")
    if (auto ok = c.tls.validate(); !ok) return ok;
  if (c.host.empty()) return config_error("bus.host is empty");
  if (c.port == 0) return config_error("bus.port must be 1-65535");
  if (c.mode == bus_mode::compat && c.compat_channel.empty())
    return config_error("bus.compat_channel must not be empty in compat mode");
  if (c.cluster && c.mode == bus_mode::compat)
    return config_error(
        "bus.mode \"compat\" cannot be combined with bus.cluster = true: django-eventstream "
        "publishes "
        "with classic PUBLISH on one channel, which Redis/Valkey Cluster broadcasts to every node, "
        "so "
        "set cluster = false and point bus.host/bus.port at any one node of the cluster");
  for (const auto& n : c.cluster_nodes)
    if (auto a = parse_node_address(n); !a)
      return config_error("bus.cluster_nodes: " + a.err().message);
  if (c.reconnect_min_ms == 0) return config_error("bus.reconnect_min_ms must be at least 1");
  if (c.reconnect_max_ms < c.reconnect_min_ms)
    return config_error("bus.reconnect_max_ms must not be below bus.reconnect_min_ms");
  if (c.max_pending_publishes == 0)
    return config_error("bus.max_pending_publishes must be at least 1");
  if (c.connect_timeout_ms == 0 || c.command_timeout_ms == 0)
    return config_error("bus connect/command timeouts must be at least 1 ms");
  if (c.max_message_bytes < 256) return config_error("bus.max_message_bytes must be at least 256");
  return {};
}

result<std::unique_ptr<bus>> try_make_bus(const bus_config& cfg) {
  if (auto ok = check_bus_config(cfg); !ok) return std::move(ok).err();
  if (cfg.kind == bus_kind::local) return std::unique_ptr<bus>(std::make_unique<local_bus>());
  std::shared_ptr<boost::asio::ssl::context> tls;
  if (cfg.scheme == "rediss") {
    auto ctx = make_tls_context(cfg.tls);  // reads the CA, certificate and key files now
    if (!ctx) return std::move(ctx).err();
    tls = std::move(*ctx);
  }
  return std::unique_ptr<bus>(std::make_unique<redis_bus>(cfg, std::move(tls)));
}

std::unique_ptr<bus> make_bus(const bus_config& cfg) {
  auto b = try_make_bus(cfg);
  if (!b) throw std::invalid_argument(b.err().message);
  return std::move(*b);
}

result<void> apply_valkey_env(bus_config& cfg) {
  return apply_valkey_env(cfg, [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  });
}

result<void> apply_valkey_env(bus_config& cfg, const env_lookup& getenv) {
  auto get = [&](std::string_view name) -> std::optional<std::string> {
    auto v = getenv(name);
    if (!v || v->empty()) return std::nullopt;
    return v;
  };
  // Parse everything first so a bad variable leaves cfg untouched.
  bus_config out = cfg;
  if (auto v = get("VALKEY_HOST")) out.host = *v;
  if (auto v = get("VALKEY_PORT")) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), port);
    if (ec != std::errc() || p != v->data() + v->size() || port == 0 || port > 65535)
      return config_error("VALKEY_PORT=\"" + *v + "\" is not a port number (1-65535)");
    out.port = static_cast<std::uint16_t>(port);
  }
  if (auto v = get("VALKEY_USERNAME")) out.username = *v;
  if (auto v = get("VALKEY_PASSWORD")) out.password = *v;
  if (auto v = get("VALKEY_SCHEME")) {
    if (auto ok = check_scheme(*v, "VALKEY_SCHEME"); !ok) return ok;
    out.scheme = *v;
  }
  cfg = std::move(out);
  return {};
}

}  // namespace herald::bus

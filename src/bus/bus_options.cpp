#include "bus/bus_options.hpp"

#include <algorithm>
#include <charconv>

namespace herald::bus {
namespace {

error config_error(std::string msg) { return make_error(errc::invalid_config, std::move(msg)); }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

bool is_host(std::string_view h) {
  return !h.empty() && h.size() <= 253 && std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':';
  });
}

bool is_port(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && v >= 1 && v <= 65535;
}

}  // namespace

std::string_view to_string(bus_kind k) noexcept { return k == bus_kind::redis ? "redis" : "local"; }

std::string_view to_string(bus_mode m) noexcept {
  return m == bus_mode::compat ? "compat" : "native";
}

result<bus_kind> parse_kind(std::string_view s) {
  if (s == "local") return bus_kind::local;
  if (s == "redis") return bus_kind::redis;
  return config_error(quoted(s) + " is not supported (use \"local\" or \"redis\")");
}

result<bus_mode> parse_mode(std::string_view s) {
  if (s == "native") return bus_mode::native;
  if (s == "compat") return bus_mode::compat;
  return config_error(quoted(s) + " is not supported (use \"native\" or \"compat\")");
}

std::string_view to_string(bus_thread t) noexcept {
  switch (t) {
    case bus_thread::own:
      return "own";
    case bus_thread::event_loop:
      return "event-loop";
    case bus_thread::automatic:
      break;
  }
  return "auto";
}

result<bus_thread> parse_thread(std::string_view s) {
  if (s == "auto") return bus_thread::automatic;
  if (s == "own") return bus_thread::own;
  if (s == "event-loop") return bus_thread::event_loop;
  return config_error(quoted(s) + " is not supported (use \"auto\", \"own\" or \"event-loop\")");
}

result<std::string> parse_scheme(std::string_view s) {
  if (s == "redis" || s == "rediss") return std::string(s);
  return config_error(quoted(s) + " is not supported (" + "use \"redis\", or \"rediss\" for TLS" +
                      ")");
}

result<std::string> parse_host(std::string_view s) {
  if (!is_host(s)) return config_error(quoted(s) + " is not a host name or IP address");
  return std::string(s);
}

result<std::string> check_node_address(std::string_view s) {
  auto bad = [&] { return config_error(quoted(s) + " must be host:port (e.g. valkey-0:6379)"); };
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string_view host = s.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad();  // a bare IPv6 address must be bracketed
  }
  if (!is_host(host) || !is_port(s.substr(colon + 1))) return bad();
  return std::string(s);
}

result<std::string> check_replay_prefix(std::string_view s) {
  if (s.empty() || s.size() > 255 || s.find(':') != std::string_view::npos)
    return config_error(quoted(s.substr(0, 80)) +
                        " is not a channel prefix (1-255 bytes without ':', e.g. "
                        "\"scan-progress\")");
  return std::string(s);
}

bool is_reliable(const replay_options& replay, std::string_view channel) noexcept {
  if (replay.channels.empty()) return false;
  const std::string_view prefix = channel.substr(0, channel.find(':'));
  if (prefix.size() == channel.size()) return false;  // not a channel name
  for (const auto& p : replay.channels)
    if (p == prefix) return true;
  return false;
}

void complete(bus_config& c) {
  // Cluster mode discovers the shards from any seed; host:port is the natural one.
  if (c.cluster && c.cluster_nodes.empty())
    c.cluster_nodes.push_back(
        (c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host) + ":" +
        std::to_string(c.port));
}

result<void> bus_tls_options::validate() const {
  if (cert_file.empty() != key_file.empty())
    return config_error(
        "bus.tls_cert_file and bus.tls_key_file go together (the client certificate and its "
        "private key)");
  if (insecure && (!ca_file.empty() || !server_name.empty()))
    return config_error(
        "bus.tls_insecure = true checks no certificate, so bus.tls_ca_file and "
        "bus.tls_server_name would be ignored: remove them or set tls_insecure = false");
  return {};
}

result<void> validate(const bus_config& c) {
  if (c.reconnect_min_ms == 0) return config_error("bus.reconnect_min_ms must be at least 1");
  if (c.reconnect_min_ms > c.reconnect_max_ms)
    return config_error("bus.reconnect_min_ms (" + std::to_string(c.reconnect_min_ms) +
                        ") must not exceed bus.reconnect_max_ms (" +
                        std::to_string(c.reconnect_max_ms) + ")");
  if (!c.replay.channels.empty()) {
    if (c.replay.max_events == 0) return config_error("replay.max_events must be at least 1");
    if (c.replay.max_age_seconds == 0)
      return config_error("replay.max_age_seconds must be at least 1");
    for (const auto& p : c.replay.channels)
      if (auto ok = check_replay_prefix(p); !ok)
        return config_error("replay.channels: " + ok.err().message);
    if (c.kind == bus_kind::redis && c.mode == bus_mode::compat)
      return config_error(
          "replay.channels needs bus.mode = \"native\": in compat mode django-eventstream's "
          "send_event() publishes too, numbering events in its own storage, so Herald could not "
          "number them in its log");
  }
  if (c.kind == bus_kind::local) return {};
  if (auto s = parse_scheme(c.scheme); !s) return config_error("bus.scheme " + s.err().message);
  if (c.scheme == "rediss")
    if (auto ok = c.tls.validate(); !ok) return ok;
  if (c.host.empty()) return config_error("bus.host is empty");
  if (c.port == 0) return config_error("bus.port must be 1-65535");
  if (c.mode == bus_mode::compat && c.compat_channel.empty())
    return config_error("bus.compat_channel must not be empty in compat mode");
  if (c.cluster && c.mode == bus_mode::compat)
    return config_error(
        "bus.mode \"compat\" cannot be combined with bus.cluster = true: django-eventstream "
        "publishes with classic PUBLISH on one channel, which Redis/Valkey Cluster broadcasts to "
        "every node, so set cluster = false and point bus.host/bus.port at any one node of the "
        "cluster");
  for (const auto& n : c.cluster_nodes)
    if (auto a = check_node_address(n); !a)
      return config_error("bus.cluster_nodes: " + a.err().message);
  if (c.max_pending_publishes == 0)
    return config_error("bus.max_pending_publishes must be at least 1");
  if (c.connect_timeout_ms == 0 || c.command_timeout_ms == 0)
    return config_error("bus connect/command timeouts must be at least 1 ms");
  if (c.max_message_bytes < 256) return config_error("bus.max_message_bytes must be at least 256");
  return {};
}

}  // namespace herald::bus

#include "net/listen_address.hpp"

#include <arpa/inet.h>

namespace herald::net {
namespace {

bool is_wildcard(std::string_view address) { return address == "0.0.0.0" || address == "::"; }

}  // namespace

result<listen_address> parse_listen_address(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_config, "'" + std::string(text) + "' " + why);
  };
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("must be [ipv6]:port, e.g. [::1]:8080");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1)
      return bad("has an invalid IPv6 address");
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("must be host:port, e.g. 127.0.0.1:8080");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return bad("has an IPv6 address without brackets; write [addr]:port");
    in_addr a4{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &a4) != 1)
      return bad("must use an IP address as host (e.g. 127.0.0.1, 0.0.0.0, [::1]), not a name");
  }
  if (port.empty() || port.size() > 5) return bad("has an invalid port (0-65535)");
  unsigned v = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad("has an invalid port (0-65535)");
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return bad("has an invalid port (0-65535)");
  return listen_address{std::string(host), static_cast<std::uint16_t>(v)};
}

std::string to_string(const listen_address& a) {
  if (a.address.find(':') != std::string::npos)
    return "[" + a.address + "]:" + std::to_string(a.port);
  return a.address + ":" + std::to_string(a.port);
}

bool same_listener(const listen_address& a, const listen_address& b) {
  if (a.port == 0 || a.port != b.port) return false;
  return a.address == b.address || is_wildcard(a.address) || is_wildcard(b.address);
}

}  // namespace herald::net

#include "app/client_address.hpp"

#include <iterator>
#include <optional>
#include <string>

namespace herald::app {

namespace asio = boost::asio;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One X-Forwarded-For hop: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1", "[2001:db8::1]:4711".
std::optional<asio::ip::address> read_hop(std::string_view hop) {
  hop = trim(hop);
  if (hop.empty() || hop.size() > 64) return std::nullopt;
  if (hop.front() == '[') {
    const auto close = hop.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const auto rest = hop.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || rest.size() == 1 ||
                          rest.substr(1).find_first_not_of("0123456789") != std::string_view::npos))
      return std::nullopt;
    hop = hop.substr(1, close - 1);
  } else if (const auto colon = hop.find(':'); colon != std::string_view::npos &&
                                               hop.find(':', colon + 1) == std::string_view::npos) {
    // IPv4 with a port (one colon; IPv6 has two or more).
    const auto port = hop.substr(colon + 1);
    if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos)
      return std::nullopt;
    hop = hop.substr(0, colon);
  }
  boost::system::error_code ec;
  auto a = asio::ip::make_address(std::string(hop), ec);
  if (ec) return std::nullopt;
  return net::unmapped(a);
}

}  // namespace

asio::ip::address client_address(const asio::ip::address& peer, std::string_view forwarded_for,
                                 const net::ip_networks& trusted_proxies) {
  auto client = net::unmapped(peer);
  if (trusted_proxies.empty() || !trusted_proxies.contains(client)) return client;
  // From the right: each hop was appended by the proxy to its right (the first by our peer).
  while (!forwarded_for.empty()) {
    const auto comma = forwarded_for.rfind(',');
    const auto hop_text =
        comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1);
    forwarded_for =
        comma == std::string_view::npos ? std::string_view{} : forwarded_for.substr(0, comma);
    if (trim(hop_text).empty()) continue;  // "a, , b": an empty element, as list syntax allows
    auto hop = read_hop(hop_text);
    if (!hop) return client;  // unreadable: believe no further than the proxy that passed it on
    client = *hop;
    if (!trusted_proxies.contains(client)) return client;
  }
  return client;  // every hop is a trusted proxy: the left-most is the best we know
}

asio::ip::address client_address(const net::http_request& request,
                                 const net::ip_networks& trusted_proxies) {
  const auto peer = request.remote.address();
  if (trusted_proxies.empty() || !trusted_proxies.contains(peer)) return net::unmapped(peer);
  const auto& m = request.message;
  auto range = m.equal_range("X-Forwarded-For");
  if (range.first == range.second) return client_address(peer, {}, trusted_proxies);
  auto second = std::next(range.first);
  if (second == range.second) {
    const auto v = range.first->value();
    return client_address(peer, std::string_view(v.data(), v.size()), trusted_proxies);
  }
  std::string joined;
  for (auto it = range.first; it != range.second; ++it) {
    if (!joined.empty()) joined += ',';
    joined.append(it->value().data(), it->value().size());
  }
  return client_address(peer, joined, trusted_proxies);
}

}  // namespace herald::app

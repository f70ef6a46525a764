// IP networks in CIDR notation ("10.0.0.0/8", "fd00::/8", a bare address = one host) and sets of
// them: `[server] trusted_proxies` (config/ checks each item with normalize_ip_network; app/ builds
// the set once) and, later, address allow-lists. Pure (library herald_net_options): Boost.Asio's
// network_v4/network_v6 do the parsing and the prefix arithmetic.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace herald::net {

// The canonical text of a network: "10.0.0.0/8", "fd00::/8"; a bare address gets /32 or /128.
// Refused (errc::invalid_config, the message starting with the text in quotes): anything that is
// not an address or address/prefix, and host bits set past the prefix ("10.0.0.1/8").
result<std::string> normalize_ip_network(std::string_view text);

// An IPv4-mapped IPv6 address (::ffff:192.0.2.1, what a dual-stack socket reports for an IPv4
// peer) as the IPv4 address it carries; any other address unchanged.
boost::asio::ip::address unmapped(const boost::asio::ip::address& a);

// A set of networks. Immutable once built: contains() may run on any thread.
class ip_networks {
 public:
  ip_networks() = default;
  // Every item must be accepted by normalize_ip_network; the first that is not is the error.
  static result<ip_networks> parse(const std::vector<std::string>& items);

  // Whether `a` (unmapped first) lies in one of the networks.
  bool contains(const boost::asio::ip::address& a) const;
  bool empty() const { return v4_.empty() && v6_.empty(); }

 private:
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
};

}  // namespace herald::net

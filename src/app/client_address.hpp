// The address a request comes from, for per-address limits (and the Prowler API's API-key address
// lists): the TCP peer, or, when the peer is a trusted proxy (`[server] trusted_proxies`), the
// right-most address in X-Forwarded-For that is not a trusted proxy. Pure; any thread.
//
// Why the right-most untrusted hop: every proxy appends the address it received the request from,
// so only the entries your own proxies appended can be believed; anything to the left of the first
// untrusted one was written by the client and may be forged.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <string_view>

#include "net/http_types.hpp"
#include "net/ip_network.hpp"

namespace herald::app {

// `forwarded_for`: every X-Forwarded-For value of the request, in order, joined with ","
// (client, proxy1, proxy2). Hops are IP literals, optionally with a port ("192.0.2.1:4711",
// "[2001:db8::1]:4711"). A hop that cannot be read ends the walk: the client is then the trusted
// proxy that handed it on. IPv4-mapped IPv6 addresses count as IPv4 throughout. With no trusted
// proxies configured, the header is ignored.
boost::asio::ip::address client_address(const boost::asio::ip::address& peer,
                                        std::string_view forwarded_for,
                                        const net::ip_networks& trusted_proxies);

// The same for a request: its peer and all of its X-Forwarded-For headers. Allocates only when
// the peer is trusted and the request has more than one such header.
boost::asio::ip::address client_address(const net::http_request& request,
                                        const net::ip_networks& trusted_proxies);

}  // namespace herald::app

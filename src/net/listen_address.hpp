// A listening address as configured ("host:port", "[ipv6]:port"). config/ parses [server].listen
// and [internal].listen with it; app/ binds what it holds. Pure (library herald_net_options).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace herald::net {

struct listen_address {
  std::string address = "127.0.0.1";  // an IP literal: 0.0.0.0 / :: listen on every interface
  std::uint16_t port = 0;             // 0 = any free port (tests)
};

// "host:port" / "[v6]:port"; the host must be an IP literal, the port 0-65535. The message of an
// error starts with the text in quotes.
result<listen_address> parse_listen_address(std::string_view text);
// The text parse_listen_address reads: "127.0.0.1:8080", "[::1]:8080".
std::string to_string(const listen_address& a);
// Whether binding both would collide: the same port on the same address, or on a wildcard address.
// Port 0 never collides (the OS picks two different ports).
bool same_listener(const listen_address& a, const listen_address& b);

}  // namespace herald::net

#include "net/ip_network.hpp"

namespace herald::net {

namespace asio = boost::asio;

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

struct parsed_network {
  bool v4 = true;
  asio::ip::network_v4 net4;
  asio::ip::network_v6 net6;
};

result<parsed_network> parse_network(std::string_view text) {
  const auto refuse = [&](const std::string& why) {
    return make_error(errc::invalid_config, quoted(text) + " " + why);
  };
  std::string t(text);
  const auto slash = t.find('/');
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(t.substr(0, slash), ec);
  if (ec) return refuse("is not an IP address or network (e.g. \"10.0.0.0/8\", \"fd00::/8\")");
  const unsigned max_prefix = addr.is_v4() ? 32 : 128;
  unsigned prefix = max_prefix;
  if (slash != std::string::npos) {
    const std::string p = t.substr(slash + 1);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
      return refuse("has no prefix length after '/'");
    prefix = static_cast<unsigned>(std::stoul(p));
    if (prefix > max_prefix)
      return refuse("has a prefix longer than " + std::to_string(max_prefix) + " bits");
  }
  parsed_network out;
  if (addr.is_v4()) {
    out.net4 = asio::ip::network_v4(addr.to_v4(), static_cast<unsigned short>(prefix));
    if (out.net4.network() != addr.to_v4())
      return refuse("has host bits set past its prefix (the network is " +
                    out.net4.canonical().to_string() + ")");
  } else {
    out.v4 = false;
    out.net6 = asio::ip::network_v6(addr.to_v6(), static_cast<unsigned short>(prefix));
    if (out.net6.network() != addr.to_v6())
      return refuse("has host bits set past its prefix (the network is " +
                    out.net6.canonical().to_string() + ")");
  }
  return out;
}

}  // namespace

result<std::string> normalize_ip_network(std::string_view text) {
  auto n = parse_network(text);
  if (!n) return std::move(n).err();
  return n->v4 ? n->net4.to_string() : n->net6.to_string();
}

asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

result<ip_networks> ip_networks::parse(const std::vector<std::string>& items) {
  ip_networks out;
  for (const auto& item : items) {
    auto n = parse_network(item);
    if (!n) return std::move(n).err();
    if (n->v4)
      out.v4_.push_back(n->net4);
    else
      out.v6_.push_back(n->net6);
  }
  return out;
}

bool ip_networks::contains(const asio::ip::address& address) const {
  const auto a = unmapped(address);
  if (a.is_v4()) {
    const auto host = asio::ip::network_v4(a.to_v4(), 32);
    for (const auto& n : v4_)
      if (host == n || host.is_subnet_of(n)) return true;
    return false;
  }
  const auto host = asio::ip::network_v6(a.to_v6(), 128);
  for (const auto& n : v6_)
    if (host == n || host.is_subnet_of(n)) return true;
  return false;
}

}  // namespace herald::net

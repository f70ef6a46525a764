#include "net/cors_options.hpp"

#include <algorithm>
#include <cctype>

namespace herald::net {
namespace {

bool is_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v >= 1 && v <= 65535;
}

}  // namespace

result<std::string> normalize_origin(std::string_view o) {
  if (o == "*") return std::string("*");
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_config, "'" + std::string(o) + "' " + why);
  };
  auto sep = o.find("://");
  if (sep == std::string_view::npos || sep == 0)
    return bad("must look like scheme://host[:port], e.g. https://app.example.com");
  std::string out;
  for (char ch : o.substr(0, sep)) {
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
      return bad("has an invalid scheme");
    out.push_back(c);
  }
  out += "://";
  std::string_view authority = o.substr(sep + 3);
  if (authority.empty()) return bad("has no host");
  if (authority.find('/') != std::string_view::npos)
    return bad("must not have a path (not even a trailing '/')");
  if (authority.find_first_of("?#@ ") != std::string_view::npos)
    return bad("must be only scheme://host[:port]");
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unterminated '['");
    host = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("has text after the IPv6 address");
      port = rest.substr(1);
      if (!is_port(port)) return bad("has an invalid port");
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (!is_port(port)) return bad("has an invalid port");
  }
  if (host.empty()) return bad("has no host");
  for (char ch : host)
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  if (!port.empty()) out += ":" + std::string(port);
  return out;
}

result<std::string> check_header_name(std::string_view s) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  const bool ok = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           extra.find(c) != std::string_view::npos;
  });
  if (!ok)
    return make_error(errc::invalid_config, "'" + std::string(s) + "' is not a valid header name");
  return std::string(s);
}

std::vector<std::string> split_header_list(std::string_view text) {
  std::vector<std::string> names;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    names.emplace_back(part);
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  return names;
}

std::string join_header_list(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& h : names) joined += (joined.empty() ? "" : ", ") + h;
  return joined;
}

result<void> validate(const cors_options& c) {
  const auto& origins = c.allow_origins;
  if (c.allow_credentials && std::find(origins.begin(), origins.end(), "*") != origins.end())
    return make_error(
        errc::invalid_config,
        "cors.allow_origins = [\"*\"] cannot be combined with cors.allow_credentials = true "
        "(browsers reject it); list the exact origins, or set allow_credentials = false");
  return {};
}

}  // namespace herald::net

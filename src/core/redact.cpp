#include "core/redact.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace herald {

namespace {
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}
// Query parameter names are compared percent-decoded: `access%5Ftoken` is `access_token` to any
// URL parser (the gateway's included), so it must be redacted too.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex(s[i + 1]);
      int lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i] == '+' ? ' ' : s[i];
  }
  return out;
}

constexpr std::array<std::string_view, 5> kSecretParams = {"access_token", "token", "api_key",
                                                           "key", "jwt"};
}  // namespace

std::string redact_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q + 1));
  std::string_view rest = target.substr(q + 1);
  bool first = true;
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (!first) out += '&';
    first = false;
    auto eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    const std::string decoded = percent_decode(name);
    bool secret = std::any_of(kSecretParams.begin(), kSecretParams.end(),
                              [&](std::string_view p) { return iequals(p, decoded); });
    if (secret && eq != std::string_view::npos) {
      out.append(name);
      out += "=[redacted]";
    } else {
      out.append(pair);
    }
  }
  return out;
}

std::string redact_header(std::string_view name, std::string_view value) {
  if (iequals(name, "authorization") || iequals(name, "cookie") ||
      iequals(name, "x-publisher-key") || iequals(name, "proxy-authorization"))
    return "[redacted]";
  return std::string(value);
}

}  // namespace herald

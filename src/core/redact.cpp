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
    bool secret = std::any_of(kSecretParams.begin(), kSecretParams.end(),
                              [&](std::string_view p) { return iequals(p, name); });
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

#include "core/redact.hpp"

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
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
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return out + "[redacted]";
  // The same parameters twice: decoded (as the gateway compares names) and as written (to keep).
  auto decoded = url->params();
  auto encoded = url->encoded_params();
  auto d = decoded.begin();
  bool first = true;
  for (auto e = encoded.begin(); e != encoded.end(); ++e, ++d) {
    if (!first) out += '&';
    first = false;
    const auto name = (*d).key;
    const bool secret = std::any_of(kSecretParams.begin(), kSecretParams.end(),
                                    [&](std::string_view p) { return iequals(p, name); });
    const auto raw = *e;
    out.append(raw.key.data(), raw.key.size());
    if (!raw.has_value) continue;
    out += '=';
    if (secret)
      out += "[redacted]";
    else
      out.append(raw.value.data(), raw.value.size());
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

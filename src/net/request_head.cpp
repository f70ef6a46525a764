#include "net/request_head.hpp"

namespace herald::net {

namespace beast = boost::beast;
namespace http = beast::http;

void limit_request_parser(http::request_parser<http::string_body>& p,
                          std::uint32_t max_header_bytes, std::uint32_t max_body_bytes) {
  p.header_limit(max_header_bytes);
  p.body_limit(max_body_bytes);
  p.eager(true);
}

// One pass over the fields, which a request has few of.
std::string_view repeated_header(const http::fields& fields) {
  unsigned authorization = 0, origin = 0, host = 0, last_event_id = 0;
  for (const auto& f : fields) {
    switch (f.name()) {
      case http::field::authorization:
        if (++authorization > 1) return "Authorization";
        break;
      case http::field::origin:
        if (++origin > 1) return "Origin";
        break;
      case http::field::host:
        if (++host > 1) return "Host";
        break;
      case http::field::unknown:  // Beast has no constant for Last-Event-ID
        if (beast::iequals(f.name_string(), "Last-Event-ID") && ++last_event_id > 1)
          return "Last-Event-ID";
        break;
      default:
        break;
    }
  }
  return {};
}

}  // namespace herald::net

#include "core/result.hpp"

namespace herald {

int http_status(errc c) noexcept {
  switch (c) {
    case errc::bad_request:
      return 400;
    case errc::unauthenticated:
      return 401;
    case errc::forbidden:
      return 403;
    case errc::not_found:
      return 404;
    case errc::method_not_allowed:
      return 405;
    case errc::payload_too_large:
      return 413;
    case errc::unprocessable:
      return 422;
    case errc::too_many:
    case errc::unavailable:
      return 503;
    case errc::internal:
    case errc::invalid_config:
      return 500;
  }
  return 500;
}

std::string_view to_string(errc c) noexcept {
  switch (c) {
    case errc::bad_request:
      return "bad_request";
    case errc::unauthenticated:
      return "unauthenticated";
    case errc::forbidden:
      return "forbidden";
    case errc::not_found:
      return "not_found";
    case errc::method_not_allowed:
      return "method_not_allowed";
    case errc::payload_too_large:
      return "payload_too_large";
    case errc::unprocessable:
      return "unprocessable";
    case errc::too_many:
      return "too_many_connections";
    case errc::unavailable:
      return "unavailable";
    case errc::internal:
      return "internal";
    case errc::invalid_config:
      return "invalid_config";
  }
  return "internal";
}

}  // namespace herald

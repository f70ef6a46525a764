// Errors as values at module boundaries. A small result type rather than boost::system::result
// because every Herald error carries a human-readable message that ends up in a JSON error body or
// a CLI line, and boost::system::result<T, E> with a custom E needs more ceremony than it saves on
// Boost 1.81.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace herald {

// Error categories; each maps to one HTTP status (see http_status()).
enum class errc {
  bad_request,         // 400: malformed input from a client
  unauthenticated,     // 401: missing/invalid credentials
  forbidden,           // 403: authenticated but not allowed
  not_found,           // 404: resource lookup found nothing (or is not visible to the tenant)
  method_not_allowed,  // 405
  payload_too_large,   // 413
  unprocessable,   // 422: well-formed but semantically invalid (bad event name, non-object data)
  too_many,        // 429/503: connection or rate limits
  unavailable,     // 503: a dependency (bus, store) cannot take the request now
  internal,        // 500: a bug or an unexpected failure, logged as such
  invalid_config,  // start-up: configuration refused
};

int http_status(errc c) noexcept;
std::string_view to_string(errc c) noexcept;  // stable machine-readable code, e.g. "not_found"

struct error {
  errc code = errc::internal;
  std::string message;
};

inline error make_error(errc c, std::string msg) { return error{c, std::move(msg)}; }

template <class T>
class [[nodiscard]] result {
 public:
  result(T v) : v_(std::in_place_index<0>, std::move(v)) {}      // NOLINT: implicit by design
  result(error e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT
  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const error& err() const& {
    assert(!has_value());
    return std::get<1>(v_);
  }
  error&& err() && {
    assert(!has_value());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error e) : e_(std::move(e)), ok_(false) {}  // NOLINT
  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const error& err() const& {
    assert(!ok_);
    return e_;
  }
  error&& err() && {
    assert(!ok_);
    return std::move(e_);
  }

 private:
  error e_;
  bool ok_ = true;
};

}  // namespace herald

// The checks every listener makes on a request head before any handler sees it, in one place so
// the server and the fuzz target (fuzz/fuzz_http_request.cpp) run exactly the same code. Pure.
#pragma once

#include <boost/beast/http.hpp>
#include <cstdint>
#include <string_view>

namespace herald::net {

// Beast's request parser as Herald configures it: headers and body bounded, eager (the body is read
// with the head when it is already buffered).
void limit_request_parser(boost::beast::http::request_parser<boost::beast::http::string_body>& p,
                          std::uint32_t max_header_bytes, std::uint32_t max_body_bytes);

// The headers Herald reads (Authorization, Origin, Host, Last-Event-ID). A request repeating one is
// refused instead of letting one copy win (a valid token followed by garbage must not open a
// stream; two Origins must not decide CORS). Returns the repeated header's name, or "".
std::string_view repeated_header(const boost::beast::http::fields& fields);

}  // namespace herald::net

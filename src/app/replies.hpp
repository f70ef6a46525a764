// What the gateway's parts share: its error and JSON replies, and publishing a batch through the
// bus. Internal to app/ (not part of the library's public headers).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bus/bus.hpp"
#include "core/result.hpp"
#include "net/http_types.hpp"
#include "sse/event.hpp"

namespace herald::app::detail {

std::int64_t unix_now();
// {"error":{"code":"not_found","message":"Not found."}}: compact, as every Herald JSON body.
std::string error_json(errc code, std::string_view message);
// The error's status, its JSON body, WWW-Authenticate on a 401; counts auth failures and 5xx.
net::http_response error_response(const error& e);
net::http_response json_response(boost::beast::http::status status, std::string body);
// Publishes every event; the outcome is the first error, if any, else each event's position in
// its channel's log (0 for an event of a channel that is not reliable), in order (see replies.cpp).
boost::asio::awaitable<result<std::vector<std::uint64_t>>> publish_all(
    bus::bus& b, std::vector<sse::event> events);

}  // namespace herald::app::detail

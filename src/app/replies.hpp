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
// What a 5xx body says. It never echoes request input (a database's error can quote a value, an
// endpoint's a path): by default a fixed text for its code, with the error's own message logged.
// `bus_state` keeps the message of a publish the bus refused: the bus words it from its own state
// (Valkey down, not yet resubscribed, backlog full), never from the event, and publishers need it.
// `store_state` keeps the 503 of a stream refused while the user and tenant store is down: the
// gateway's own fixed texts (never a driver's message, which can name hosts).
enum class server_error_text { fixed, bus_state, store_state };
// The error's status, its JSON body, WWW-Authenticate on a 401; counts auth failures and 5xx.
net::http_response error_response(const error& e,
                                  server_error_text text = server_error_text::fixed);
net::http_response json_response(boost::beast::http::status status, std::string body);
// Publishes every event; the outcome is the first error, if any, else each event's position in
// its channel's log (0 for an event of a channel that is not reliable), in order (see replies.cpp).
boost::asio::awaitable<result<std::vector<std::uint64_t>>> publish_all(
    bus::bus& b, std::vector<sse::event> events);

}  // namespace herald::app::detail

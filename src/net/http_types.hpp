// The narrow interface between the transport (net/) and the domain (app/): a request in, either an
// ordinary response or "turn this connection into an SSE stream on these channels" out.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/principal.hpp"

// Declared only: this header is installed for embedding, and a stream's relay is net/'s business
// (sse/relay.hpp, included where it is used).
namespace herald::sse {
class stream_relay;
}  // namespace herald::sse

namespace herald::net {

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_request {
  http::request<http::string_body> message;
  tcp::endpoint remote;
};

struct http_response {
  http::status status = http::status::ok;
  // Always a literal (static storage): no copy per response.
  std::string_view content_type = "application/json";
  header_list headers;
  std::string body;
};

// Accept the request as an SSE stream. net/ writes the status line, the SSE headers
// (Content-Type: text/event-stream, Cache-Control: no-cache, X-Accel-Buffering: no,
// Referrer-Policy: no-referrer) plus `headers`, then the padding + stream-open preamble, subscribes
// the stream to `channels` and delivers from then on.
struct stream_start {
  stream_start() = default;
  // Not an aggregate: `stream_start{headers, channels, tag}` stays valid as fields are added.
  stream_start(header_list headers_, std::vector<std::string> channels_,
               std::shared_ptr<const principal> tag_,
               std::shared_ptr<sse::stream_relay> relay_ = nullptr)
      : headers(std::move(headers_)),
        channels(std::move(channels_)),
        tag(std::move(tag_)),
        relay(std::move(relay_)) {}

  header_list headers;
  std::vector<std::string> channels;
  // Who opened the stream (set by app/); the live re-check reads it, see
  // http_server::close_streams_if.
  std::shared_ptr<const principal> tag;
  // Held while the stream is open and dropped the moment it ends, however it ends (app/'s slot
  // under its stream caps: dropping it gives the slot back). May be null.
  std::shared_ptr<void> lease = nullptr;
  // Optional (app/ sets it for streams with reliable channels): stands between the fanout and the
  // stream (sse/relay.hpp). The stream subscribes it instead of itself and, once the bus confirms
  // every channel, calls relay->open() instead of sending the preamble; the relay sends the
  // preamble, any replay and the live events.
  std::shared_ptr<sse::stream_relay> relay;
};

using handler_outcome = std::variant<http_response, stream_start>;

// Implemented by app/. handle() runs on the connection's event-loop thread; it must not block (it
// co_awaits the database pool for store work). Exceptions are caught per connection and become
// 500s.
class request_handler {
 public:
  virtual ~request_handler() = default;
  virtual boost::asio::awaitable<handler_outcome> handle(http_request& req) = 0;
  // True when `req`, pipelined on a connection, may be handled while the requests before it still
  // wait (e.g. for the bus's acknowledgement); net/ answers such requests in order, together. Only
  // for a request that does what must keep the requests' order before handle() first suspends,
  // never becomes a stream, and whose answer does not close the connection (it is not closed after
  // an overlapping request's error answer).
  virtual bool overlaps(const http::request<http::string_body>& /*req*/) const { return false; }
};

}  // namespace herald::net

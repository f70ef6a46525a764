#include "cli/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

namespace herald::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

result<http_url> parse_http_url(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "http" || u->host().empty())
    return make_error(errc::bad_request, "expected an http:// URL, got '" + std::string(url) + "'");
  http_url out;
  out.host = std::string(u->encoded_host());
  if (!out.host.empty() && out.host.front() == '[')
    out.host = out.host.substr(1, out.host.size() - 2);
  out.port = u->has_port() ? std::string(u->port()) : "80";
  out.target = std::string(u->encoded_path());
  if (out.target.empty()) out.target = "/";
  if (u->has_query()) out.target += "?" + std::string(u->encoded_query());
  return out;
}

namespace {
result<void> connect(beast::tcp_stream& stream, const http_url& url) {
  boost::system::error_code ec;
  tcp::resolver resolver(stream.get_executor());
  auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (!ec) stream.connect(endpoints, ec);
  if (ec)
    return make_error(errc::unavailable,
                      "cannot connect to " + url.host + ":" + url.port + ": " + ec.message());
  return {};
}
}  // namespace

namespace {

// Writes `req` and reads the whole answer (both blocking, under the stream's deadline).
template <class Request>
result<http_reply> exchange(beast::tcp_stream& stream, Request& req, const http_url& url) {
  boost::system::error_code ec;
  http::write(stream, req, ec);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  if (!ec) http::read(stream, buf, res, ec);
  if (ec)
    return make_error(errc::unavailable,
                      "request to " + url.host + ":" + url.port + " failed: " + ec.message());
  return http_reply{res.result_int(), res.body()};
}

}  // namespace

result<http_reply> http_post(const http_url& url,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::string& body, unsigned timeout_seconds) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(timeout_seconds));
  if (auto r = connect(stream, url); !r) return r.err();
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.host);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::user_agent, "herald-cli");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  return exchange(stream, req, url);
}

result<http_reply> http_get(const http_url& url, unsigned timeout_seconds) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(timeout_seconds));
  if (auto r = connect(stream, url); !r) return r.err();
  http::request<http::empty_body> req{http::verb::get, url.target, 11};
  req.set(http::field::host, url.host);
  req.set(http::field::user_agent, "herald-cli");
  return exchange(stream, req, url);
}

result<http_reply> http_stream(const http_url& url,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               const std::function<bool(std::string_view)>& on_chunk) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  if (auto r = connect(stream, url); !r) return r.err();
  http::request<http::empty_body> req{http::verb::get, url.target, 11};
  req.set(http::field::host, url.host);
  req.set(http::field::accept, "text/event-stream");
  req.set(http::field::user_agent, "herald-cli");
  for (const auto& [k, v] : headers) req.set(k, v);
  boost::system::error_code ec;
  http::write(stream, req, ec);
  if (ec) return make_error(errc::unavailable, "request failed: " + ec.message());
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(stream, buf, parser, ec);
  if (ec) return make_error(errc::unavailable, "reading the response failed: " + ec.message());
  const unsigned status = parser.get().result_int();
  if (status != 200) {
    std::string body;
    char tmp[4096];
    while (!parser.is_done()) {
      parser.get().body().data = tmp;
      parser.get().body().size = sizeof tmp;
      http::read(stream, buf, parser, ec);
      body.append(tmp, sizeof tmp - parser.get().body().size);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) break;
    }
    return http_reply{status, body};
  }
  char tmp[65536];
  while (!parser.is_done()) {
    parser.get().body().data = tmp;
    parser.get().body().size = sizeof tmp;
    // read_some: hand each chunk over as soon as it arrives (read() would wait for a full buffer).
    http::read_some(stream, buf, parser, ec);
    std::size_t n = sizeof tmp - parser.get().body().size;
    if (n && !on_chunk(std::string_view(tmp, n))) break;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) break;
  }
  return http_reply{status, {}};
}

}  // namespace herald::cli

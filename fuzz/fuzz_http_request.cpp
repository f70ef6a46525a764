// HTTP/1.1 request heads and targets as the public listener reads them: Beast's parser with
// Herald's limits (net::limit_request_parser) fed in two pieces, the repeated-header check, then
// what the public handler does with a request: the target as an origin-form URL (Boost.URL), its
// query parameters, redaction for logs, the route match, and the client address behind a trusted
// proxy. Input: split byte, then the request bytes.
#include <boost/url/parse.hpp>

#include "app/client_address.hpp"
#include "core/redact.hpp"
#include "fuzz/fuzz_support.hpp"
#include "net/request_head.hpp"
#include "route/url_template.hpp"

using namespace herald;
namespace http = boost::beast::http;

namespace {

const route::url_template kRoute("/api/v1/scans/{scan_pk:uuid}/event-stream");
const route::url_template kSlugRoute("/api/v1/jobs/{job}/event-stream");
const net::ip_networks kTrusted = *net::ip_networks::parse({"10.0.0.0/8", "fd00::/8"});

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto bytes = fuzz::text(data + 1, size - 1);
  const std::size_t split = bytes.empty() ? 0 : data[0] % (bytes.size() + 1);
  http::request_parser<http::string_body> parser;
  net::limit_request_parser(parser, 8192, 4096);
  boost::system::error_code ec;
  std::size_t used = 0;
  // As the server does: put() what has arrived, keep what was not consumed for the next read.
  std::string pending(bytes.substr(0, split));
  for (int piece = 0; piece < 2 && !ec && !parser.is_done(); ++piece) {
    if (piece == 1) pending.append(bytes.substr(split));
    while (!pending.empty() && !parser.is_done()) {
      used = parser.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec || used == 0) break;
    }
  }
  if (ec || !parser.is_header_done()) return 0;
  const auto& m = parser.get();
  (void)net::repeated_header(m);
  const auto target = m.target();
  (void)redact_target(std::string_view(target.data(), target.size()));
  auto url = boost::urls::parse_origin_form(std::string_view(target.data(), target.size()));
  if (url) {
    std::string path(url->encoded_path());
    (void)kRoute.match(path);
    (void)kSlugRoute.match(path);
    for (auto p : url->params())
      if (p.key == "access_token") FUZZ_CHECK(p.value.size() <= target.size());
  }
  net::http_request req{parser.release(), {boost::asio::ip::make_address("10.0.0.1"), 4000}};
  const auto client = app::client_address(req, kTrusted);
  FUZZ_CHECK(!client.is_unspecified() || req.message.count("X-Forwarded-For") > 0);
  return 0;
}

// A small blocking HTTP/1.1 client for the CLI (`herald publish`, `herald subscribe`). Plain TCP
// only: the CLI talks to Herald's own listeners, which are loopback/internal by design.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace herald::cli {

struct http_url {
  std::string host;
  std::string port;
  std::string target;  // path + query
};
result<http_url> parse_http_url(std::string_view url);

struct http_reply {
  unsigned status = 0;
  std::string body;
};

// POST with a JSON body. Connection errors are errc::unavailable.
result<http_reply> http_post(const http_url& url,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::string& body, unsigned timeout_seconds = 30);

// A plain GET (a health probe): the status and body. Connection errors are errc::unavailable.
result<http_reply> http_get(const http_url& url, unsigned timeout_seconds = 5);

// GET an SSE stream; `on_chunk` receives body bytes as they arrive and returns false to stop.
// A non-200 status is returned as the reply (with its body) without calling on_chunk.
result<http_reply> http_stream(const http_url& url,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               const std::function<bool(std::string_view)>& on_chunk);

}  // namespace herald::cli

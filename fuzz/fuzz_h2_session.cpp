// net/h2_session: what an HTTP/2 client sends (frames, HPACK headers, settings, window updates,
// resets, floods), fed in pieces, while the harness answers requests as the gateway would: plain
// responses, SSE streams with events, closes and resets, sweeps (keep-alives, close_grace).
// Input: control byte, then the connection's bytes (after the client preface when bit 0 is set).
#include "fuzz/fuzz_support.hpp"
#include "net/h2_session.hpp"

using namespace herald;

namespace {

net::server_options limits() {
  net::server_options o;
  o.max_header_bytes = 8192;
  o.max_body_bytes = 4096;
  o.queue_max_events = 8;
  o.queue_max_bytes = 4096;
  o.keepalive = std::chrono::milliseconds(1000);
  o.close_grace = std::chrono::milliseconds(500);
  return o;
}

const net::server_options kLimits = limits();
const net::h2_options kOptions{};
const sse::frame kEvent = std::make_shared<const std::string>("event: scan.progress\ndata: {}\n\n");
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

void drain(net::h2_session& s) {
  for (int i = 0; i < 64 && s.want_write(); ++i) {
    std::size_t n = 0;
    for (const auto& b : s.pending_output()) n += b.size();
    if (n == 0) break;
    s.consume(n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned control = data[0];
  std::string input = (control & 1) ? std::string(kPreface) : std::string();
  input.append(fuzz::text(data + 1, size - 1));
  net::h2_session s(kLimits, kOptions, [] {});
  auto now = net::h2_session::clock::time_point{} + std::chrono::hours(1);
  const std::size_t step = 1 + (control >> 1) * 7;
  unsigned turn = control;
  for (std::size_t at = 0; at < input.size(); at += step) {
    const std::string_view chunk = std::string_view(input).substr(at, step);
    if (!s.feed(boost::asio::buffer(chunk.data(), chunk.size()))) break;
    for (auto& r : s.take_requests()) {
      switch (turn++ % 4) {
        case 0:
          (void)s.respond(
              r.stream_id,
              net::http_response{boost::beast::http::status::ok, "application/json", {}, "{}"});
          break;
        case 1:
          (void)s.respond(
              r.stream_id,
              net::http_response{boost::beast::http::status::no_content, "", {{"X-A", "b"}}, ""});
          break;
        default: {
          net::stream_start start;
          start.channels = {"c1", "c2"};
          if (auto sub = s.open_stream(r.stream_id, std::move(start)); sub) {
            s.channel_ready(r.stream_id);
            for (unsigned k = 0; k < turn % 12; ++k) s.push(r.stream_id, kEvent);
            if (turn % 5 == 0) s.close_stream(r.stream_id, kEvent);
            if (turn % 7 == 0) s.reset_stream(r.stream_id);
          }
          break;
        }
      }
    }
    drain(s);
    now += std::chrono::milliseconds(300);
    s.sweep(now);
    (void)s.take_ended();
    if (s.done()) break;
  }
  if (control & 0x80) s.shutdown([] { return std::string("retry: 1000\n\n"); });
  drain(s);
  s.terminate();
  (void)s.take_ended();
  (void)s.take_ended();
  return 0;
}

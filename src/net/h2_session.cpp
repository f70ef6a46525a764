#include "net/h2_session.hpp"

#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "sse/encoder.hpp"
#include "sse/relay.hpp"

namespace herald::net {

namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// The same JSON error body as the HTTP/1.1 path (server.cpp).
std::string error_body(std::string_view code, std::string_view message) {
  return "{\"error\":{\"code\":" + sse::python_json_string(code) +
         ",\"message\":" + sse::python_json_string(message) + "}}";
}

const sse::frame& preamble_frame() {
  static const sse::frame f =
      std::make_shared<const std::string>(std::string(sse::stream_preamble()));
  return f;
}

const sse::frame& keep_alive_frame() {
  static const sse::frame f = std::make_shared<const std::string>(std::string(sse::keep_alive()));
  return f;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Connection-specific fields are forbidden in HTTP/2 (RFC 9113 §8.2.2); a client treats them as
// a malformed response.
bool hop_by_hop(std::string_view lowered) {
  return lowered == "connection" || lowered == "keep-alive" || lowered == "proxy-connection" ||
         lowered == "transfer-encoding" || lowered == "upgrade" || lowered == "te" ||
         lowered == "content-length";  // computed here
}

// HTTP2-Settings is base64url without padding (RFC 7540 §3.2.1). OpenSSL's decoder takes the
// standard alphabet with padding, so translate first.
std::optional<std::string> base64url_decode(std::string_view in) {
  std::string std64(in);
  for (auto& c : std64) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (std64.size() % 4 != 0) std64 += '=';
  std::string out(std64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(std64.data()),
                                static_cast<int>(std64.size()));
  if (n < 0) return std::nullopt;
  std::size_t pads = 0;
  for (auto it = std64.rbegin(); it != std64.rend() && *it == '='; ++it) ++pads;
  out.resize(static_cast<std::size_t>(n) - pads);
  return out;
}

}  // namespace

h2_preface match_h2_preface(std::string_view first_bytes) {
  if (first_bytes.size() >= kPreface.size())
    return first_bytes.substr(0, kPreface.size()) == kPreface ? h2_preface::yes : h2_preface::no;
  return kPreface.substr(0, first_bytes.size()) == first_bytes ? h2_preface::partial
                                                               : h2_preface::no;
}

const sse::frame& slow_consumer_frame() {
  // The one copy both transports send (sse_stream.cpp too; h2_session_test checks the bytes).
  static const sse::frame f =
      std::make_shared<const std::string>(sse::encode_slow_consumer_error());
  return f;
}

result<void> h2_options::validate() const {
  if (max_concurrent_streams == 0)
    return make_error(errc::invalid_config,
                      "server.http2_max_concurrent_streams must be at least 1");
  // RFC 9113 §6.5.2: SETTINGS_INITIAL_WINDOW_SIZE is at most 2^31-1.
  if (stream_window_bytes > 0x7fffffffu)
    return make_error(errc::invalid_config,
                      "server.http2_stream_window_bytes must be at most 2147483647");
  if (connection_window_bytes > 0x7fffffffu)
    return make_error(errc::invalid_config,
                      "server.http2_connection_window_bytes must be at most 2147483647");
  if (connection_window_bytes < 65535)
    return make_error(errc::invalid_config,
                      "server.http2_connection_window_bytes must be at least 65535 (the protocol "
                      "default)");
  if (output_buffer_bytes < 16384)
    return make_error(errc::invalid_config,
                      "server.http2_output_buffer_bytes must be at least 16384");
  return {};
}

// ---------------------------------------------------------------------------------------------
// h2_stream

// The request being received on a stream; freed once it is handed to the driver or refused.
struct h2_incoming {
  http::request<http::string_body> message;
  std::size_t header_bytes = 0;  // RFC 7541 §4.1 sizes: name + value + 32 per field
  bool too_large = false;
  std::string repeated;  // a single-valued field that came twice
  std::string authority;
  std::string host;
  std::string cookie;
  bool has_authority = false;
  bool has_host = false;
};

class h2_stream final : public sse::subscriber {
 public:
  enum class phase : unsigned char { receiving, handed, responding, open, closing, closed };

  h2_stream(h2_session& s, std::int32_t stream_id) : session(s), id(stream_id) {
    node.stream = this;
  }

  void deliver(const sse::frame& f) override {
    if (state == phase::open) session.enqueue(*this, f);
  }

  std::size_t queued_count() const { return queue.size() - head; }

  // What a delivery touches first (see subscriber::hot_bytes).
  h2_session& session;
  phase state = phase::receiving;
  bool deferred = false;  // nghttp2 holds this stream's DATA until resume_data
  bool sse = false;
  bool refused = false;  // answered with an error; what the client still sends is ignored
  bool head_request = false;
  std::uint16_t unconfirmed = 0;  // channels whose bus subscription is not confirmed yet
  std::int32_t id;
  std::size_t queued_bytes = 0;  // bytes not yet framed
  std::size_t head = 0;          // first frame not completely framed
  std::size_t head_offset = 0;   // bytes of queue[head] already framed
  std::vector<sse::frame> queue;
  h2_stream_node node;
  std::unique_ptr<h2_incoming> incoming = std::make_unique<h2_incoming>();
  std::vector<std::string> channels;
  std::shared_ptr<const principal> tag;
  std::shared_ptr<void> lease;  // stream_start::lease, dropped when the stream ends
  // Optional (stream_start::relay): subscribed instead of the stream, opened instead of the
  // preamble; closed when the stream ends, freed with it (after the driver unsubscribed it).
  std::shared_ptr<sse::stream_relay> relay;
};

// ---------------------------------------------------------------------------------------------
// nghttp2 callbacks: C entry points, so nothing may throw through them. A throw (allocation) fails
// the connection (NGHTTP2_ERR_CALLBACK_FAILURE), which feed()/pending_output() report.

struct h2_callbacks {
  template <class F>
  static int guarded(F&& f) noexcept {
    try {
      return f();
    } catch (...) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
  }

  static h2_stream* stream_of(nghttp2_session* session, std::int32_t id) {
    return static_cast<h2_stream*>(nghttp2_session_get_stream_user_data(session, id));
  }

  // Frames nghttp2 serialised (all but DATA payloads): copied into the output buffer. Past the
  // buffer's size nghttp2 keeps the rest until the driver has written.
  static ssize_t send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int,
                      void* self) {
    auto& me = *static_cast<h2_session*>(self);
    if (me.out_bytes_ >= me.opts_.output_buffer_bytes) return NGHTTP2_ERR_WOULDBLOCK;
    return guarded([&] {
      me.append_copy(data, length);
      return static_cast<int>(length);
    });
  }

  // A DATA frame whose payload (`length` bytes) is the next bytes of the stream's queue: its header
  // is copied, its payload referenced (NGHTTP2_DATA_FLAG_NO_COPY).
  static int send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd,
                       std::size_t length, nghttp2_data_source* source, void* self) {
    auto& me = *static_cast<h2_session*>(self);
    auto& s = *static_cast<h2_stream*>(source->ptr);
    const int rv = guarded([&] {
      me.append_copy(framehd, 9);
      // No padding callback is set, so padlen is 0; handled anyway as the API describes.
      const std::size_t padlen = frame->data.padlen;
      if (padlen > 0) {
        const auto pad_length = static_cast<std::uint8_t>(padlen - 1);
        me.append_copy(&pad_length, 1);
      }
      me.append_frame_bytes(s, length);
      if (padlen > 1) me.append_copy(std::string(padlen - 1, '\0').data(), padlen - 1);
      if (s.state == h2_stream::phase::open) me.touch(s);
      return 0;
    });
    if (rv != 0) return rv;
    // The frame is taken; stop here if the buffer is full (nghttp2_session_send returns).
    return me.out_bytes_ >= me.opts_.output_buffer_bytes ? NGHTTP2_ERR_PAUSE : 0;
  }

  static ssize_t read_data(nghttp2_session*, std::int32_t, std::uint8_t*, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto& s = *static_cast<h2_stream*>(source->ptr);
    // Until the bus confirms every channel, nothing goes out (a closing stream sends what it has).
    if (s.state == h2_stream::phase::open && s.unconfirmed > 0) {
      s.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    const bool last =
        s.state == h2_stream::phase::closing || s.state == h2_stream::phase::responding;
    const std::size_t n = std::min(length, s.queued_bytes);
    if (n == 0) {
      if (last) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
      }
      s.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (last && n == s.queued_bytes) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* self) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto& me = *static_cast<h2_session*>(self);
    return guarded([&] {
      const auto id = frame->hd.stream_id;
      auto owned = std::make_unique<h2_stream>(me, id);
      owned->incoming->message.version(20);
      auto* s = owned.get();
      me.streams_[id] = std::move(owned);
      return nghttp2_session_set_stream_user_data(session, id, s);
    });
  }

  static int header(nghttp2_session* session, const nghttp2_frame* frame,
                    const std::uint8_t* name_data, std::size_t namelen,
                    const std::uint8_t* value_data, std::size_t valuelen, std::uint8_t,
                    void* self) {
    // Trailers (a second HEADERS) are not part of the request Herald reads.
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto* s = stream_of(session, frame->hd.stream_id);
    if (!s || !s->incoming) return 0;
    auto& me = *static_cast<h2_session*>(self);
    auto& in = *s->incoming;
    // nghttp2 only advertises SETTINGS_MAX_HEADER_LIST_SIZE; the limit is enforced here. Past it
    // nothing more is kept (HPACK decoding goes on: the connection's table depends on it).
    in.header_bytes += namelen + valuelen + 32;
    if (in.too_large || in.header_bytes > me.limits_.max_header_bytes) {
      in.too_large = true;
      return 0;
    }
    return guarded([&] {
      const std::string_view name(reinterpret_cast<const char*>(name_data), namelen);
      const std::string_view value(reinterpret_cast<const char*>(value_data), valuelen);
      // nghttp2 has already checked the pseudo-header fields (present, single, first) and refused
      // connection-specific fields (RFC 9113 §8.2.2, §8.3.1) with RST_STREAM PROTOCOL_ERROR; it
      // also refuses a repeated `host`. Names arrive in lower case.
      if (name == ":method") {
        in.message.method_string(value);
      } else if (name == ":path") {
        in.message.target(value);
      } else if (name == ":authority") {
        in.authority.assign(value);
        in.has_authority = true;
      } else if (name == "host") {
        in.host.assign(value);
        in.has_host = true;
      } else if (name == "cookie") {
        // A client may split Cookie into one field per pair (RFC 9113 §8.2.3); HTTP/1.1 has one.
        if (!in.cookie.empty()) in.cookie += "; ";
        in.cookie.append(value);
      } else if (name[0] != ':') {
        if (in.repeated.empty() &&
            (name == "authorization" || name == "origin" || name == "last-event-id") &&
            in.message.find(name) != in.message.end())
          in.repeated.assign(name);
        in.message.insert(name, value);
      }
      return 0;
    });
  }

  static int frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* self) {
    auto& me = *static_cast<h2_session*>(self);
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    auto* s = stream_of(session, frame->hd.stream_id);
    if (!s || !s->incoming) return 0;
    return guarded([&] {
      auto& in = *s->incoming;
      if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        // The header block is complete: refuse what HTTP/1.1 refuses, without waiting for a body.
        if (in.too_large) {
          me.refuse(*s, http::status::request_header_fields_too_large, "header_too_large",
                    "Request headers exceed the configured limit.");
          return 0;
        }
        if (!in.repeated.empty()) {
          // As HTTP/1.1: a single-valued field sent twice is ambiguous (which credential, which
          // origin?), so the request is refused rather than one of them picked.
          std::string field(in.repeated);
          field[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(field[0])));
          me.refuse(*s, http::status::bad_request, "bad_request",
                    "Repeated " + field + " header field.");
          return 0;
        }
        if (in.has_authority && in.has_host && in.authority != in.host) {
          // RFC 9113 §8.3.1: a Host that names another entity than :authority is malformed.
          me.refuse(*s, http::status::bad_request, "bad_request",
                    "The Host header field differs from :authority.");
          return 0;
        }
        if (in.has_authority)
          in.message.set(http::field::host, in.authority);
        else if (in.has_host)
          in.message.set(http::field::host, in.host);
        if (!in.cookie.empty()) in.message.set(http::field::cookie, in.cookie);
      }
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) me.request_complete(*s);
      return 0;
    });
  }

  static int data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                        const std::uint8_t* data, std::size_t len, void* self) {
    auto* s = stream_of(session, stream_id);
    if (!s || !s->incoming) return 0;
    auto& me = *static_cast<h2_session*>(self);
    return guarded([&] {
      auto& body = s->incoming->message.body();
      if (body.size() + len > me.limits_.max_body_bytes) {
        me.refuse(*s, http::status::payload_too_large, "payload_too_large",
                  "Request body exceeds the configured limit.");
        return 0;
      }
      body.append(reinterpret_cast<const char*>(data), len);
      return 0;
    });
  }

  static int stream_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t,
                          void* self) {
    auto* s = stream_of(session, stream_id);
    if (!s) return 0;
    return guarded([&] {
      static_cast<h2_session*>(self)->stream_closed(*s);
      return 0;
    });
  }
};

// ---------------------------------------------------------------------------------------------
// h2_session

h2_session::h2_session(const server_options& limits, const h2_options& opts,
                       std::function<void()> wake)
    : limits_(limits), opts_(opts), wake_(std::move(wake)), now_(clock::now()) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, &h2_callbacks::send);
  nghttp2_session_callbacks_set_send_data_callback(cbs, &h2_callbacks::send_data);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &h2_callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &h2_callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &h2_callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &h2_callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &h2_callbacks::stream_close);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // Closed streams are kept only for RFC 7540 priority bookkeeping: not worth their memory here.
  nghttp2_option_set_no_closed_streams(option, 1);
  const int rv = nghttp2_session_server_new2(&session_, cbs, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) throw std::bad_alloc();  // NGHTTP2_ERR_NOMEM is its only failure

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opts_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, opts_.stream_window_bytes},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_bytes},
  };
  // nghttp2 applies the stream limit at once (REFUSED_STREAM beyond it), not at the peer's ACK.
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(opts_.connection_window_bytes));
}

h2_session::~h2_session() {
  // nghttp2_session_del calls no callback; the streams go with streams_/ended_ afterwards.
  nghttp2_session_del(session_);
}

h2_stream* h2_session::find(std::int32_t stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

result<void> h2_session::upgrade(http::request<http::string_body> request,
                                 std::string_view settings) {
  if (terminated_ || failed_) return make_error(errc::bad_request, "connection is closed");
  auto payload = base64url_decode(settings);
  if (!payload) return make_error(errc::bad_request, "HTTP2-Settings is not base64url");
  auto owned = std::make_unique<h2_stream>(*this, 1);
  owned->head_request = request.method() == http::verb::head;
  const int rv =
      nghttp2_session_upgrade2(session_, reinterpret_cast<const std::uint8_t*>(payload->data()),
                               payload->size(), owned->head_request, owned.get());
  if (rv != 0)
    return make_error(errc::bad_request,
                      std::string("HTTP2-Settings refused: ") + nghttp2_strerror(rv));
  // The HTTP/1.1 connection's own fields have done their job.
  request.erase(http::field::connection);
  request.erase(http::field::upgrade);
  request.erase("HTTP2-Settings");
  owned->incoming.reset();
  owned->state = h2_stream::phase::handed;
  streams_[1] = std::move(owned);
  requests_.push_back({1, std::move(request)});
  return {};
}

result<void> h2_session::feed(boost::asio::const_buffer bytes) {
  if (terminated_ || failed_) return make_error(errc::bad_request, "connection is closed");
  const auto rv = nghttp2_session_mem_recv(session_, static_cast<const std::uint8_t*>(bytes.data()),
                                           bytes.size());
  if (rv < 0) {
    failed_ = true;
    return make_error(errc::bad_request,
                      std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(rv)));
  }
  return {};
}

std::vector<h2_request> h2_session::take_requests() {
  std::vector<h2_request> out;
  out.swap(requests_);
  // A stream the client reset before its request was taken needs no handling.
  std::erase_if(out, [&](const h2_request& r) { return find(r.stream_id) == nullptr; });
  return out;
}

void h2_session::request_complete(h2_stream& s) {
  if (s.refused || !s.incoming) return;
  s.head_request = s.incoming->message.method() == http::verb::head;
  requests_.push_back({s.id, std::move(s.incoming->message)});
  s.incoming.reset();
  s.state = h2_stream::phase::handed;
}

void h2_session::refuse(h2_stream& s, http::status status, std::string_view code,
                        std::string_view message) {
  s.refused = true;
  s.incoming.reset();  // and what the client still sends on the stream is dropped
  s.state = h2_stream::phase::responding;
  (void)submit(s, static_cast<unsigned>(status), "application/json", {},
               std::make_shared<const std::string>(error_body(code, message)));
}

result<void> h2_session::respond(std::int32_t stream_id, http_response response) {
  auto* s = find(stream_id);
  if (terminated_ || !s || s->state != h2_stream::phase::handed)
    return make_error(errc::not_found, "HTTP/2 stream " + std::to_string(stream_id) + " is gone");
  s->state = h2_stream::phase::responding;
  return submit(*s, static_cast<unsigned>(response.status), response.content_type, response.headers,
                std::make_shared<const std::string>(std::move(response.body)));
}

result<sse::subscriber*> h2_session::open_stream(std::int32_t stream_id, stream_start start) {
  auto* s = find(stream_id);
  if (terminated_ || !s || s->state != h2_stream::phase::handed)
    return make_error(errc::not_found, "HTTP/2 stream " + std::to_string(stream_id) + " is gone");
  s->state = h2_stream::phase::open;
  s->sse = true;
  s->channels = std::move(start.channels);
  s->tag = std::move(start.tag);
  s->lease = std::move(start.lease);
  s->relay = std::move(start.relay);
  s->unconfirmed = static_cast<std::uint16_t>(std::min<std::size_t>(s->channels.size(), 0xffff));
  if (s->unconfirmed == 0 && !s->relay) {
    s->queue.push_back(preamble_frame());
    s->queued_bytes += preamble_frame()->size();
  }
  s->node.last_activity = now_;
  active_.push_back(s->node);
  ++sse_streams_;
  auto r = submit(*s, 200, "text/event-stream", start.headers, nullptr);
  if (!r) {
    // Not expected (the stream is known and unanswered); undo so the caller subscribes nothing.
    s->node.unlink();
    s->lease.reset();
    --sse_streams_;
    s->sse = false;
    s->state = h2_stream::phase::responding;
    return std::move(r).err();
  }
  if (s->relay) {
    if (s->unconfirmed == 0) open_relay(*s);
    return static_cast<sse::subscriber*>(s->relay.get());
  }
  return static_cast<sse::subscriber*>(s);
}

void h2_session::open_relay(h2_stream& s) {
  // The relay sends the preamble (with its id), any replay, then the live events, through the
  // stream's deliver(); `end` closes the stream after a last frame.
  const std::int32_t id = s.id;
  s.relay->open(s, [this, id](sse::frame last) { close_stream(id, std::move(last)); });
}

result<void> h2_session::submit(h2_stream& s, unsigned status, std::string_view content_type,
                                const header_list& headers, const sse::frame& body) {
  // Every name and value is built first: nghttp2_nv points into these strings, and nghttp2 copies
  // them during nghttp2_submit_response.
  const bool sse = s.sse;
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve(headers.size() + 8);
  fields.emplace_back(":status", std::to_string(status));
  if (sse) {
    // The HTTP/1.1 stream head (server.cpp) minus `Connection: close`.
    fields.emplace_back("content-type", "text/event-stream");
    fields.emplace_back("cache-control", "no-cache");
    fields.emplace_back("x-accel-buffering", "no");
    fields.emplace_back("referrer-policy", "no-referrer");
  } else {
    fields.emplace_back("server", "herald");
    if (!content_type.empty()) fields.emplace_back("content-type", std::string(content_type));
  }
  for (const auto& [k, v] : headers) {
    auto name = lower(k);
    if (!hop_by_hop(name)) fields.emplace_back(std::move(name), v);
  }
  // No content in 1xx, 204 and 304 responses (RFC 9110 §6.4.1), and no Content-Length in 1xx and
  // 204 (§8.6; nghttp2-based clients drop a `0` but reset the stream for any other value). The
  // CORS preflight answer is a 204.
  const bool bodiless = status < 200 || status == 204 || status == 304;
  const bool has_body = body && !body->empty() && !s.head_request && !bodiless;
  if (!sse && !bodiless)
    fields.emplace_back("content-length", std::to_string(body ? body->size() : 0));
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (auto& [k, v] : fields)
    nva.push_back({reinterpret_cast<std::uint8_t*>(k.data()),
                   reinterpret_cast<std::uint8_t*>(v.data()), k.size(), v.size(),
                   NGHTTP2_NV_FLAG_NONE});
  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = &h2_callbacks::read_data;
  if (has_body) {
    s.queue.push_back(body);
    s.queued_bytes += body->size();
  }
  const int rv = nghttp2_submit_response(session_, s.id, nva.data(), nva.size(),
                                         sse || has_body ? &provider : nullptr);
  if (rv != 0)
    return make_error(errc::internal, std::string("HTTP/2 response: ") + nghttp2_strerror(rv));
  note_output();
  return {};
}

const std::vector<std::string>* h2_session::channels_of(std::int32_t stream_id) const {
  auto* s = find(stream_id);
  return s && s->sse ? &s->channels : nullptr;
}

void h2_session::channel_ready(std::int32_t stream_id) {
  auto* s = find(stream_id);
  if (!s || !s->sse || s->unconfirmed == 0 || --s->unconfirmed > 0) return;
  if (s->state != h2_stream::phase::open) return;  // closing: it sends what it has, as HTTP/1.1
  if (s->relay) {
    open_relay(*s);
    return;
  }
  // Nothing was framed while unconfirmed, so the preamble goes ahead of everything queued.
  assert(s->head_offset == 0);
  s->queue.insert(s->queue.begin() + static_cast<std::ptrdiff_t>(s->head), preamble_frame());
  s->queued_bytes += preamble_frame()->size();
  resume(*s);
}

void h2_session::push(std::int32_t stream_id, const sse::frame& f) {
  if (auto* s = find(stream_id); s && s->sse) s->deliver(f);
}

void h2_session::enqueue(h2_stream& s, const sse::frame& f) {
  if (f->empty()) return;
  if (s.queued_count() >= limits_.queue_max_events ||
      s.queued_bytes + f->size() > limits_.queue_max_bytes) {
    // The slow-consumer policy of sse_stream ("close-on-overflow"). A frame already partly framed
    // stays, so the stream-error starts at an event boundary.
    core_metrics::get().slow_consumer_drops.inc();
    const std::size_t keep = s.head + (s.head_offset > 0 ? 1 : 0);
    s.queue.resize(keep);
    s.queued_bytes = s.head_offset > 0 ? s.queue.back()->size() - s.head_offset : 0;
    close_after(s, slow_consumer_frame());
    return;
  }
  s.queue.push_back(f);
  s.queued_bytes += f->size();
  if (s.unconfirmed == 0) resume(s);
}

void h2_session::close_stream(std::int32_t stream_id, sse::frame last) {
  if (auto* s = find(stream_id); s && s->sse) close_after(*s, std::move(last));
}

void h2_session::close_after(h2_stream& s, sse::frame last) {
  if (s.state != h2_stream::phase::open) return;
  s.state = h2_stream::phase::closing;
  if (last && !last->empty()) {
    s.queued_bytes += last->size();
    s.queue.push_back(std::move(last));
  }
  s.node.unlink();
  s.node.closing_since = {};
  closing_.push_back(s.node);
  // A deferred stream (empty queue, or held) must be asked again: for its bytes or END_STREAM.
  resume(s);
}

void h2_session::reset_stream(std::int32_t stream_id) {
  if (auto* s = find(stream_id)) cancel(*s);
}

void h2_session::cancel(h2_stream& s) {
  if (terminated_) return;
  s.queue.clear();
  s.head = s.head_offset = s.queued_bytes = 0;
  s.node.unlink();  // reset once; the stream ends when nghttp2 sends the RST_STREAM
  if (s.state == h2_stream::phase::open) s.state = h2_stream::phase::closing;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
  note_output();
}

void h2_session::resume(h2_stream& s) {
  if (!s.deferred) return;
  s.deferred = false;
  nghttp2_session_resume_data(session_, s.id);
  note_output();
}

void h2_session::touch(h2_stream& s) {
  // At most one relink per stream per sweep: activity is recorded at the sweep's time.
  if (s.node.last_activity == now_) return;
  s.node.last_activity = now_;
  s.node.unlink();
  active_.push_back(s.node);
}

void h2_session::stream_closed(h2_stream& s) {
  auto it = streams_.find(s.id);
  if (it == streams_.end()) return;
  auto owned = std::move(it->second);
  streams_.erase(it);
  if (!s.sse) return;  // an ordinary response: nothing subscribed
  s.state = h2_stream::phase::closed;
  if (s.relay) s.relay->close();
  s.node.unlink();
  s.queue.clear();
  s.lease.reset();
  --sse_streams_;
  ended_.push_back(std::move(owned));
  if (wake_ && !wake_pending_) {
    // The driver must unsubscribe it: the same signal as output to collect.
    wake_pending_ = true;
    wake_();
  }
}

void h2_session::shutdown(const std::function<std::string()>& final_bytes) {
  if (terminated_ || failed_) return;
  // Streams the client opened after the last one read are refused; the rest are answered.
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  for (auto& [id, s] : streams_)
    if (s->sse && s->state == h2_stream::phase::open)
      close_after(*s, std::make_shared<const std::string>(final_bytes()));
  note_output();
}

void h2_session::terminate() {
  if (terminated_) return;
  terminated_ = true;
  for (auto& [id, s] : streams_) {
    if (!s->sse) continue;
    s->state = h2_stream::phase::closed;
    if (s->relay) s->relay->close();
    s->node.unlink();
    s->queue.clear();
    s->lease.reset();
    --sse_streams_;
    ended_.push_back(std::move(s));
  }
  streams_.clear();
  requests_.clear();
  out_.clear();
  out_head_ = out_bytes_ = 0;
  arena_.clear();
}

void h2_session::sweep(clock::time_point now) {
  now_ = now;
  if (terminated_) return;
  // Idle streams get a keep-alive (queued like any event, so a stalled stream's bound still
  // applies); the list is ordered by last activity, so stop at the first fresh one.
  std::vector<h2_stream*> due;
  for (auto& n : active_) {
    if (n.last_activity + limits_.keepalive > now) break;
    due.push_back(n.stream);
  }
  for (auto* s : due) {
    touch(*s);  // the keep-alive counts as activity even if it waits for the window
    s->deliver(keep_alive_frame());
  }
  // Closing streams whose last frame could not go out within close_grace are reset.
  std::vector<h2_stream*> overdue;
  for (auto& n : closing_) {
    if (n.closing_since == clock::time_point{})
      n.closing_since = now;
    else if (now - n.closing_since >= limits_.close_grace)
      overdue.push_back(n.stream);
  }
  for (auto* s : overdue) cancel(*s);
}

void h2_session::for_each_stream(
    const std::function<void(std::int32_t, const std::shared_ptr<const principal>&)>& f) const {
  for (const auto& [id, s] : streams_)
    if (s->sse && s->state != h2_stream::phase::closed) f(id, s->tag);
}

std::vector<h2_ended_stream> h2_session::take_ended() {
  released_ = std::move(ended_);
  ended_.clear();
  std::vector<h2_ended_stream> out;
  out.reserve(released_.size());
  for (auto& s : released_)
    out.push_back({s->id, s->relay ? static_cast<sse::subscriber*>(s->relay.get()) : s.get(),
                   std::move(s->channels), std::move(s->tag)});
  return out;
}

void h2_session::note_output() {
  if (wake_pending_) return;
  wake_pending_ = true;
  if (wake_) wake_();
}

// ---------------------------------------------------------------------------------------------
// output

void h2_session::append_copy(const void* data, std::size_t n) {
  if (n == 0) return;
  // Adjacent copied bytes share one piece (one iovec).
  if (out_.size() > out_head_ && !out_.back().owner &&
      out_.back().offset + out_.back().size == arena_.size())
    out_.back().size += n;
  else
    out_.push_back({nullptr, arena_.size(), n});
  arena_.append(static_cast<const char*>(data), n);
  out_bytes_ += n;
}

void h2_session::append_frame_bytes(h2_stream& s, std::size_t n) {
  out_bytes_ += n;
  s.queued_bytes -= n;
  while (n > 0) {
    auto& f = s.queue[s.head];
    const std::size_t size = f->size();
    const std::size_t take = std::min(size - s.head_offset, n);
    if (s.head_offset == 0 && take == size)
      out_.push_back({std::move(f), 0, take});  // the whole frame: the queue's reference moves
    else
      out_.push_back({f, s.head_offset, take});
    s.head_offset += take;
    n -= take;
    if (s.head_offset == size) {
      ++s.head;
      s.head_offset = 0;
    }
  }
  if (s.head == s.queue.size()) {
    s.queue.clear();
    s.head = 0;
  } else if (s.head >= 32 && s.head * 2 >= s.queue.size()) {
    s.queue.erase(s.queue.begin(), s.queue.begin() + static_cast<std::ptrdiff_t>(s.head));
    s.head = 0;
  }
}

void h2_session::produce() {
  if (terminated_ || failed_) return;
  while (out_bytes_ < opts_.output_buffer_bytes && nghttp2_session_want_write(session_)) {
    const std::size_t before = out_bytes_;
    if (nghttp2_session_send(session_) != 0) {
      failed_ = true;
      return;
    }
    if (out_bytes_ == before) break;  // nothing sendable (every stream waits for its window)
  }
}

std::span<const boost::asio::const_buffer> h2_session::pending_output() {
  wake_pending_ = false;
  produce();
  gather_.clear();
  for (std::size_t i = out_head_; i < out_.size(); ++i) {
    const auto& p = out_[i];
    const char* base = p.owner ? p.owner->data() : arena_.data();
    gather_.emplace_back(base + p.offset, p.size);
  }
  return gather_;
}

std::string_view h2_session::pending_output_contiguous() {
  auto bufs = pending_output();
  if (bufs.size() == 1) return {static_cast<const char*>(bufs[0].data()), bufs[0].size()};
  contiguous_.clear();
  for (const auto& b : bufs) contiguous_.append(static_cast<const char*>(b.data()), b.size());
  if (contiguous_.capacity() > 2 * std::size_t{opts_.output_buffer_bytes} + 16384 &&
      contiguous_.size() < opts_.output_buffer_bytes)
    contiguous_.shrink_to_fit();
  return contiguous_;
}

void h2_session::consume(std::size_t n) {
  assert(n <= out_bytes_);
  out_bytes_ -= n;
  while (n > 0 && out_head_ < out_.size()) {
    auto& p = out_[out_head_];
    if (n >= p.size) {
      n -= p.size;
      p.owner.reset();
      ++out_head_;
    } else {
      p.offset += n;
      p.size -= n;
      n = 0;
    }
  }
  if (out_head_ == out_.size()) {
    out_.clear();
    out_head_ = 0;
    arena_.clear();
    if (arena_.capacity() > 16384) std::string().swap(arena_);  // a burst's buffer is not kept
    return;
  }
  // A driver that never writes everything: drop the written prefix now and then.
  if (out_head_ >= 64 && out_head_ * 2 >= out_.size()) {
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_head_));
    out_head_ = 0;
    std::size_t first = arena_.size();
    for (const auto& p : out_)
      if (!p.owner) {
        first = p.offset;
        break;
      }
    if (first > 0) {
      arena_.erase(0, first);
      for (auto& p : out_)
        if (!p.owner) p.offset -= first;
    }
  }
}

bool h2_session::want_write() const {
  if (terminated_) return false;
  return out_head_ < out_.size() || (!failed_ && nghttp2_session_want_write(session_));
}

bool h2_session::done() const {
  if (terminated_) return true;
  if (out_head_ < out_.size()) return false;
  return failed_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_));
}

}  // namespace herald::net

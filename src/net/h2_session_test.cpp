// h2_session against a real HTTP/2 peer: an nghttp2 client session in the test, bytes moved between
// the two in memory (no socket). Asserts what the client decodes: statuses, headers, exact SSE
// bytes, END_STREAM / RST_STREAM / GOAWAY, and flow control.
#include "net/h2_session.hpp"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cstring>
#include <map>
#include <set>

#include "core/metrics.hpp"
#include "net/h2_test_client.hpp"
#include "sse/encoder.hpp"

namespace herald::net {
namespace {

using namespace std::chrono_literals;
using testing::client_stream;
using testing::h2_client;

// Moves bytes both ways until neither side has any; the server's output is taken `chunk` bytes
// per write (a socket that takes little at a time).
void pump(h2_session& server, h2_client& client, std::size_t chunk = SIZE_MAX) {
  for (int round = 0; round < 100000; ++round) {
    bool moved = false;
    auto c = client.drain();
    if (!c.empty()) {
      auto r = server.feed(boost::asio::buffer(c));
      ASSERT_TRUE(r) << r.err().message;
      moved = true;
    }
    std::string out;
    for (const auto& b : server.pending_output())
      out.append(static_cast<const char*>(b.data()), b.size());
    if (!out.empty()) {
      const std::size_t n = std::min(out.size(), chunk);
      client.feed(std::string_view(out).substr(0, n));
      server.consume(n);
      moved = true;
    }
    if (!moved) return;
  }
  FAIL() << "the sessions never went quiet";
}

sse::frame event(int n) {
  return std::make_shared<const std::string>(sse::encode(
      "scan.progress", "{\"checked\": " + std::to_string(n) + "}", "c:" + std::to_string(n)));
}

std::string preamble() { return std::string(sse::stream_preamble()); }

stream_start sse_start(std::vector<std::string> channels = {"c"}) {
  return stream_start{{{"X-Test", "1"}}, std::move(channels), std::make_shared<const principal>()};
}

struct fixture : ::testing::Test {
  server_options limits;
  h2_options opts;
  int wakes = 0;
  std::unique_ptr<h2_session> server;
  void start() {
    server = std::make_unique<h2_session>(limits, opts, [this] { ++wakes; });
  }
  // A request reaches the server; returns it (the driver's take_requests()).
  h2_request one_request(h2_client& c) {
    pump(*server, c);
    auto reqs = server->take_requests();
    EXPECT_EQ(reqs.size(), 1u);
    return reqs.empty() ? h2_request{} : std::move(reqs.front());
  }
  // Opens an SSE stream for a GET and confirms its channel; returns the subscriber.
  // `stall`: the client never acknowledges the stream's data (its window runs out).
  sse::subscriber* open(h2_client& c, std::int32_t& id, bool stall = false) {
    id = c.get("/events");
    if (stall) c.stalled.insert(id);
    auto req = one_request(c);
    EXPECT_EQ(req.stream_id, id);
    auto sub = server->open_stream(id, sse_start());
    EXPECT_TRUE(sub);
    server->channel_ready(id);
    pump(*server, c);
    return sub ? *sub : nullptr;
  }
};

TEST_F(fixture, get_becomes_the_request_the_http1_path_builds) {
  start();
  h2_client c;
  auto id = c.get("/api/v1/scans/42/event-stream?x=1", {{"authorization", "Bearer abc"},
                                                        {"last-event-id", "c:7"},
                                                        {"origin", "https://app.example"},
                                                        {"cookie", "a=1"},
                                                        {"cookie", "b=2"},
                                                        {"accept", "text/event-stream"}});
  auto req = one_request(c);
  EXPECT_EQ(req.stream_id, id);
  EXPECT_FALSE(server->idle());  // a request is being handled
  auto& m = req.message;
  EXPECT_EQ(m.method(), http::verb::get);
  EXPECT_EQ(m.target(), "/api/v1/scans/42/event-stream?x=1");
  EXPECT_EQ(m[http::field::host], "herald.test");
  EXPECT_EQ(m[http::field::authorization], "Bearer abc");
  EXPECT_EQ(m["Last-Event-ID"], "c:7");
  EXPECT_EQ(m[http::field::origin], "https://app.example");
  EXPECT_EQ(m[http::field::cookie], "a=1; b=2");
  EXPECT_EQ(m[http::field::accept], "text/event-stream");
  EXPECT_TRUE(m.body().empty());

  ASSERT_TRUE(server->respond(
      id, http_response{http::status::not_found,
                        "application/json",
                        {{"Access-Control-Allow-Origin", "*"}, {"Connection", "close"}},
                        "{\"error\":1}"}));
  pump(*server, c);
  auto& st = c.streams[id];
  EXPECT_EQ(st.status, 404);
  EXPECT_EQ(st.header("content-type"), "application/json");
  EXPECT_EQ(st.header("server"), "herald");
  EXPECT_EQ(st.header("content-length"), "11");
  EXPECT_EQ(st.header("access-control-allow-origin"), "*");
  EXPECT_EQ(st.header("connection"), "");  // hop-by-hop: not in HTTP/2
  EXPECT_EQ(st.body, "{\"error\":1}");
  EXPECT_TRUE(st.ended);
  EXPECT_EQ(server->stream_count(), 0u);
  EXPECT_TRUE(server->idle());
  EXPECT_TRUE(server->take_ended().empty());  // an ordinary response subscribed nothing
}

TEST_F(fixture, a_204_preflight_answer_has_no_content_length) {
  start();
  h2_client c({.raw = true});
  auto id = c.get("/events", {{"origin", "https://app.example"}}, nullptr, "OPTIONS");
  auto req = one_request(c);
  EXPECT_EQ(req.message.method(), http::verb::options);
  ASSERT_TRUE(server->respond(
      id, http_response{http::status::no_content, "", {{"Access-Control-Max-Age", "600"}}, ""}));
  pump(*server, c);
  auto& st = c.streams[id];
  EXPECT_EQ(st.status, 204);
  EXPECT_FALSE(st.reset);
  EXPECT_TRUE(st.ended);
  EXPECT_EQ(st.header("content-length"), "");
  EXPECT_EQ(st.header("access-control-max-age"), "600");
}

TEST_F(fixture, small_body_arrives_and_an_oversized_one_gets_413) {
  limits.max_body_bytes = 100;
  start();
  h2_client c;
  const std::string small = "{\"channel\": \"c\"}";
  auto id = c.get("/publish", {}, &small, "POST");
  auto req = one_request(c);
  EXPECT_EQ(req.stream_id, id);
  EXPECT_EQ(req.message.method(), http::verb::post);
  EXPECT_EQ(req.message.body(), small);

  const std::string big(101, 'x');
  auto id2 = c.get("/publish", {}, &big, "POST");
  pump(*server, c);
  EXPECT_TRUE(server->take_requests().empty());
  EXPECT_EQ(c.streams[id2].status, 413);
  EXPECT_NE(c.streams[id2].body.find("payload_too_large"), std::string::npos);
}

TEST_F(fixture, sse_stream_carries_the_exact_sse_bytes_after_the_bus_confirms) {
  start();
  h2_client c;
  auto id = c.get("/events");
  auto req = one_request(c);
  auto sub = server->open_stream(id, sse_start({"a", "b"}));
  ASSERT_TRUE(sub);
  EXPECT_EQ(server->stream_count(), 1u);
  (*sub)->deliver(event(1));  // published before the bus confirmed: waits behind the preamble
  pump(*server, c);
  auto& st = c.streams[id];
  EXPECT_EQ(st.status, 200);
  EXPECT_EQ(st.header("content-type"), "text/event-stream");
  EXPECT_EQ(st.header("cache-control"), "no-cache");
  EXPECT_EQ(st.header("x-accel-buffering"), "no");
  EXPECT_EQ(st.header("referrer-policy"), "no-referrer");
  EXPECT_EQ(st.header("x-test"), "1");
  EXPECT_EQ(st.header("content-length"), "");
  EXPECT_EQ(st.body, "");  // the head is out, no DATA until both channels are confirmed

  server->channel_ready(id);
  pump(*server, c);
  EXPECT_EQ(st.body, "");
  server->channel_ready(id);
  pump(*server, c);
  EXPECT_EQ(st.body, preamble() + *event(1));

  wakes = 0;
  (*sub)->deliver(event(2));
  (*sub)->deliver(event(3));
  EXPECT_EQ(wakes, 1);  // one wake per collection, not per event
  pump(*server, c);
  EXPECT_EQ(st.body, preamble() + *event(1) + *event(2) + *event(3));

  server->close_stream(id, std::make_shared<const std::string>(sse::encode_retry(1500)));
  pump(*server, c);
  EXPECT_EQ(st.body, preamble() + *event(1) + *event(2) + *event(3) + "retry: 1500\n\n");
  EXPECT_TRUE(st.ended);
  EXPECT_FALSE(st.reset);
  auto ended = server->take_ended();
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].stream_id, id);
  EXPECT_EQ(ended[0].subscriber, *sub);
  EXPECT_EQ(ended[0].channels, (std::vector<std::string>{"a", "b"}));
  (*sub)->deliver(event(4));  // still valid until the next take_ended(), and inert
  EXPECT_EQ(server->stream_count(), 0u);
  EXPECT_FALSE(server->want_write());
}

TEST_F(fixture, data_references_the_shared_frame_without_copying) {
  start();
  h2_client c;
  std::int32_t id = 0;
  auto* sub = open(c, id);
  auto f = event(1);
  sub->deliver(f);
  auto bufs = server->pending_output();
  bool referenced = false;
  std::size_t total = 0;
  for (const auto& b : bufs) {
    if (b.data() == f->data() && b.size() == f->size()) referenced = true;
    total += b.size();
  }
  EXPECT_TRUE(referenced);
  EXPECT_EQ(total, 9 + f->size());  // the DATA frame header (copied) and the frame (referenced)
  server->consume(total);
}

TEST_F(fixture, twenty_streams_on_one_connection_all_receive_their_events_through_the_fanout) {
  start();
  boost::asio::io_context ioc;
  sse::fanout fan({ioc.get_executor()}, nullptr);
  h2_client c;
  std::vector<std::int32_t> ids;
  ids.reserve(20);
  for (int i = 0; i < 20; ++i) ids.push_back(c.get("/events/" + std::to_string(i)));
  pump(*server, c);
  auto reqs = server->take_requests();
  ASSERT_EQ(reqs.size(), 20u);
  for (auto& r : reqs) {
    auto sub = server->open_stream(r.stream_id, sse_start({"all"}));
    ASSERT_TRUE(sub);
    fan.subscribe(0, "all", *sub);
    server->channel_ready(r.stream_id);
  }
  std::string expected = preamble();
  for (int n = 0; n < 50; ++n) {
    fan.publish_frame("all", event(n));
    expected += *event(n);
    ioc.restart();
    ioc.poll();  // the fanout's delivery runs on the shard (here: this thread)
    if (n % 7 == 0) pump(*server, c);
  }
  pump(*server, c);
  for (auto id : ids) {
    EXPECT_EQ(c.streams[id].body, expected) << "stream " << id;
    EXPECT_FALSE(c.streams[id].ended);
  }
  EXPECT_EQ(server->stream_count(), 20u);
  server->terminate();
  auto ended = server->take_ended();
  EXPECT_EQ(ended.size(), 20u);
  for (auto& e : ended) fan.unsubscribe(0, "all", e.subscriber);
  EXPECT_EQ(fan.channel_count(), 0u);
}

// Events of one stream wait for its window; the others keep flowing. Its queue fills, the
// slow-consumer policy drops what waits and queues stream-error at an event boundary; once the
// client reads again it gets the rest of the partly sent event, stream-error and END_STREAM.
TEST_F(fixture,
       a_stream_without_window_does_not_stall_the_others_and_hits_the_slow_consumer_policy) {
  limits.queue_max_events = 8;
  start();
  h2_client c({.initial_window = 4096, .manual_window = true});
  std::int32_t slow_id = 0, fast1 = 0, fast2 = 0;
  auto* slow = open(c, slow_id, true);
  auto* f1 = open(c, fast1);
  auto* f2 = open(c, fast2);
  const auto drops_before = core_metrics::get().slow_consumer_drops.get();

  std::string all = preamble();
  std::vector<std::size_t> boundaries{all.size()};
  for (int n = 0; n < 200; ++n) {
    for (auto* s : {slow, f1, f2}) s->deliver(event(n));
    all += *event(n);
    boundaries.push_back(all.size());
    pump(*server, c);
  }
  EXPECT_EQ(c.streams[fast1].body, all);
  EXPECT_EQ(c.streams[fast2].body, all);
  EXPECT_FALSE(c.streams[fast1].ended);
  auto& st = c.streams[slow_id];
  EXPECT_EQ(st.body.size(), 4096u);  // exactly its window
  EXPECT_FALSE(st.ended);
  EXPECT_EQ(core_metrics::get().slow_consumer_drops.get(), drops_before + 1);
  EXPECT_EQ(server->stream_count(), 3u);  // closing, waiting for its window

  // The client reads the stalled stream again.
  c.stalled.clear();
  nghttp2_session_consume_stream(c.s, slow_id, st.body.size());
  pump(*server, c);
  ASSERT_TRUE(st.ended);
  const auto& err = *slow_consumer_frame();
  ASSERT_GT(st.body.size(), err.size());
  EXPECT_EQ(st.body.substr(st.body.size() - err.size()), err);
  const std::string before = st.body.substr(0, st.body.size() - err.size());
  EXPECT_EQ(before, all.substr(0, before.size()));
  EXPECT_TRUE(std::count(boundaries.begin(), boundaries.end(), before.size()))
      << "stream-error must start at an event boundary";
  EXPECT_GT(before.size(), 4096u);  // the partly sent event was completed
  EXPECT_NE(err.find("event: stream-error\nid: error\ndata: {\"condition\": \"slow-consumer\""),
            std::string::npos);
  auto ended = server->take_ended();
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].subscriber, slow);
  EXPECT_EQ(server->stream_count(), 2u);
}

TEST_F(fixture, the_slow_consumer_frame_is_the_http1_one) {
  EXPECT_EQ(*slow_consumer_frame(),
            sse::encode_stream_error("slow-consumer",
                                     "The stream fell behind and was closed; "
                                     "reconnect and refetch state."));
}

TEST_F(fixture, a_closing_stream_whose_window_never_opens_is_reset_after_close_grace) {
  limits.queue_max_events = 4;
  limits.close_grace = 5s;
  start();
  h2_client c({.initial_window = 2100, .manual_window = true});
  std::int32_t id = 0;
  auto* sub = open(c, id, true);
  for (int n = 0; n < 10; ++n) sub->deliver(event(n));
  pump(*server, c);
  EXPECT_FALSE(c.streams[id].ended);
  const auto t0 = std::chrono::steady_clock::now();
  server->sweep(t0);  // starts the grace
  pump(*server, c);
  server->sweep(t0 + 4s);
  pump(*server, c);
  EXPECT_FALSE(c.streams[id].closed);
  EXPECT_TRUE(server->take_ended().empty());
  server->sweep(t0 + 5s);
  pump(*server, c);
  EXPECT_TRUE(c.streams[id].reset);
  EXPECT_EQ(c.streams[id].error_code, static_cast<std::uint32_t>(NGHTTP2_CANCEL));
  EXPECT_EQ(server->take_ended().size(), 1u);
}

TEST_F(fixture, client_reset_ends_that_stream_only) {
  start();
  h2_client c;
  std::int32_t a = 0, b = 0;
  auto* sa = open(c, a);
  auto* sb = open(c, b);
  nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, a, NGHTTP2_CANCEL);
  pump(*server, c);
  auto ended = server->take_ended();
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].stream_id, a);
  EXPECT_EQ(ended[0].subscriber, sa);
  sa->deliver(event(1));  // the fanout may still deliver until unsubscribed: ignored
  sb->deliver(event(1));
  pump(*server, c);
  EXPECT_EQ(c.streams[b].body, preamble() + *event(1));
  EXPECT_EQ(c.streams[a].body, preamble());
  EXPECT_EQ(server->stream_count(), 1u);
}

TEST_F(fixture, a_request_reset_before_it_is_answered_is_not_answered) {
  start();
  h2_client c;
  auto id = c.get("/events");
  pump(*server, c);
  nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  pump(*server, c);
  EXPECT_TRUE(server->take_requests().empty());  // dropped: the stream is gone
  EXPECT_FALSE(server->open_stream(id, sse_start()));
  EXPECT_FALSE(server->respond(id, http_response{}));
}

TEST_F(fixture, repeated_single_valued_fields_are_refused_with_400) {
  start();
  h2_client c;
  for (const char* name : {"authorization", "origin", "last-event-id"}) {
    auto id = c.get("/events", {{name, "one"}, {name, "two"}});
    pump(*server, c);
    EXPECT_TRUE(server->take_requests().empty()) << name;
    EXPECT_EQ(c.streams[id].status, 400) << name;
    EXPECT_EQ(c.streams[id].header("content-type"), "application/json");
    EXPECT_NE(c.streams[id].body.find("\"code\":\"bad_request\""), std::string::npos);
    EXPECT_NE(c.streams[id].body.find("Repeated"), std::string::npos);
  }
  auto mismatch = c.get("/events", {{"host", "other.test"}});
  pump(*server, c);
  EXPECT_EQ(c.streams[mismatch].status, 400);
  EXPECT_TRUE(server->take_requests().empty());

  // A repeated :authority or host is malformed HTTP/2: nghttp2 resets the stream (RFC 9113 §8.1.1).
  auto dup = c.get("/events", {{":authority", "again.test"}});
  auto dup_host = c.get("/events", {{"host", "herald.test"}, {"host", "herald.test"}});
  pump(*server, c);
  EXPECT_TRUE(server->take_requests().empty());
  EXPECT_TRUE(c.streams[dup].reset);
  EXPECT_EQ(c.streams[dup].error_code, static_cast<std::uint32_t>(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_TRUE(c.streams[dup_host].reset);

  // The connection still serves: a single Host equal to :authority is fine.
  auto ok = c.get("/events", {{"host", "herald.test"}, {"authorization", "Bearer x"}});
  auto req = one_request(c);
  EXPECT_EQ(req.stream_id, ok);
  EXPECT_EQ(req.message[http::field::host], "herald.test");
}

TEST_F(fixture, oversized_headers_are_refused_with_431_and_the_connection_goes_on) {
  limits.max_header_bytes = 1024;
  start();
  h2_client c;
  pump(*server, c);
  EXPECT_EQ(nghttp2_session_get_remote_settings(c.s, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 1024u);
  auto id = c.get("/events", {{"x-big", std::string(1100, 'a')}});
  pump(*server, c);
  EXPECT_TRUE(server->take_requests().empty());
  EXPECT_EQ(c.streams[id].status, 431);
  EXPECT_NE(c.streams[id].body.find("header_too_large"), std::string::npos);
  // Many fields adding up past the limit, too.
  header_list many;
  for (int i = 0; i < 40; ++i) many.emplace_back("x-f" + std::to_string(i), "v");
  auto id2 = c.get("/events", many);
  pump(*server, c);
  EXPECT_EQ(c.streams[id2].status, 431);
  auto ok = c.get("/events");
  EXPECT_EQ(one_request(c).stream_id, ok);
}

TEST_F(fixture, settings_advertise_the_limits_and_streams_beyond_the_maximum_are_refused) {
  opts.max_concurrent_streams = 5;
  start();
  h2_client c;
  // Sent before the client has seen the server's SETTINGS (it assumes 100 until then).
  std::vector<std::int32_t> ids;
  ids.reserve(7);
  for (int i = 0; i < 7; ++i) ids.push_back(c.get("/events"));
  pump(*server, c);
  EXPECT_EQ(nghttp2_session_get_remote_settings(c.s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 5u);
  EXPECT_EQ(server->take_requests().size(), 5u);
  int refused = 0;
  for (auto id : ids)
    if (c.streams[id].reset && c.streams[id].error_code == NGHTTP2_REFUSED_STREAM) ++refused;
  EXPECT_EQ(refused, 2);
}

TEST_F(fixture, keep_alive_goes_to_idle_streams_only) {
  limits.keepalive = 20s;
  start();
  h2_client c;
  const auto t0 = std::chrono::steady_clock::now();
  server->sweep(t0);
  std::int32_t idle = 0, busy = 0;
  open(c, idle);
  auto* sb = open(c, busy);
  server->sweep(t0 + 15s);
  sb->deliver(event(1));  // busy writes at 15 s
  pump(*server, c);
  server->sweep(t0 + 21s);
  pump(*server, c);
  const std::string ka(sse::keep_alive());
  EXPECT_EQ(c.streams[idle].body, preamble() + ka);
  EXPECT_EQ(c.streams[busy].body, preamble() + *event(1));
  server->sweep(t0 + 36s);
  pump(*server, c);
  EXPECT_EQ(c.streams[busy].body, preamble() + *event(1) + ka);
  EXPECT_EQ(c.streams[idle].body, preamble() + ka);  // its keep-alive was at 21 s
}

TEST_F(fixture, ping_is_answered_by_nghttp2) {
  start();
  h2_client c;
  pump(*server, c);
  const std::uint8_t opaque[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  nghttp2_submit_ping(c.s, NGHTTP2_FLAG_NONE, opaque);
  pump(*server, c);
  EXPECT_EQ(c.ping_acks, 1);
}

TEST_F(fixture, graceful_shutdown_sends_goaway_and_a_final_frame_on_every_stream) {
  start();
  h2_client c;
  std::int32_t a = 0, b = 0;
  open(c, a);
  open(c, b);
  auto pending = c.get("/hello");  // received, not answered yet
  pump(*server, c);
  auto reqs = server->take_requests();
  ASSERT_EQ(reqs.size(), 1u);
  int n = 0;
  server->shutdown([&] { return sse::encode_retry(1000 + 100 * n++); });
  pump(*server, c);
  EXPECT_TRUE(c.goaway);
  EXPECT_EQ(c.goaway_error, static_cast<std::uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(c.goaway_last_stream, pending);
  EXPECT_TRUE(c.streams[a].ended);
  EXPECT_TRUE(c.streams[b].ended);
  EXPECT_NE(c.streams[a].body.find("retry: 1"), std::string::npos);
  EXPECT_NE(c.streams[a].body, c.streams[b].body);  // each its own (jittered) hint
  EXPECT_EQ(server->take_ended().size(), 2u);
  EXPECT_FALSE(server->done());  // the request received before GOAWAY is still answered
  ASSERT_TRUE(server->respond(pending, http_response{http::status::ok, "text/plain", {}, "hi"}));
  pump(*server, c);
  EXPECT_EQ(c.streams[pending].body, "hi");
  EXPECT_TRUE(server->done());
}

TEST_F(fixture, client_goaway_then_disconnect_ends_every_stream) {
  start();
  h2_client c;
  std::int32_t a = 0, b = 0;
  open(c, a);
  open(c, b);
  nghttp2_submit_goaway(c.s, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
  pump(*server, c);
  // RFC 9113 §6.8: the client's GOAWAY concerns streams the server opened (none); its own streams
  // stay until it closes the connection.
  EXPECT_EQ(server->stream_count(), 2u);
  EXPECT_FALSE(server->done());
  server->terminate();  // the driver read EOF
  EXPECT_EQ(server->take_ended().size(), 2u);
  EXPECT_TRUE(server->done());
  EXPECT_FALSE(server->want_write());
}

TEST_F(fixture, output_written_a_few_bytes_at_a_time_decodes_the_same) {
  opts.output_buffer_bytes = 16384;
  start();
  h2_client c;
  std::int32_t a = 0, b = 0;
  auto* sa = open(c, a);
  auto* sb = open(c, b);
  std::string all = preamble();
  for (int n = 0; n < 300; ++n) {
    sa->deliver(event(n));
    sb->deliver(event(n));
    all += *event(n);
    if (n % 50 == 0) pump(*server, c, 7);
  }
  // The output buffer bound: nghttp2 is asked for more only below it (plus one DATA frame).
  std::size_t pending = 0;
  for (const auto& buf : server->pending_output()) pending += buf.size();
  EXPECT_LE(pending, 16384u + 16384u + 9u);
  pump(*server, c, 7);
  EXPECT_EQ(c.streams[a].body, all);
  EXPECT_EQ(c.streams[b].body, all);
}

TEST_F(fixture, contiguous_output_for_tls_carries_the_same_bytes) {
  start();
  h2_client c;
  c.get("/events");
  c.get("/events");
  // A driver that writes pending_output_contiguous() (TLS), a few bytes at a time.
  auto exchange = [&] {
    for (int round = 0; round < 100000; ++round) {
      bool moved = false;
      auto in = c.drain();
      if (!in.empty()) {
        ASSERT_TRUE(server->feed(boost::asio::buffer(in)));
        moved = true;
      }
      auto out = server->pending_output_contiguous();
      if (!out.empty()) {
        const auto n = std::min<std::size_t>(out.size(), 1000);
        c.feed(out.substr(0, n));
        server->consume(n);
        moved = true;
      }
      if (!moved) return;
    }
  };
  exchange();
  auto reqs = server->take_requests();
  ASSERT_EQ(reqs.size(), 2u);
  std::vector<sse::subscriber*> subs;
  for (auto& r : reqs) {
    subs.push_back(*server->open_stream(r.stream_id, sse_start()));
    server->channel_ready(r.stream_id);
  }
  std::string all = preamble();
  for (int n = 0; n < 100; ++n) {
    for (auto* s : subs) s->deliver(event(n));
    all += *event(n);
  }
  exchange();
  for (auto& r : reqs) EXPECT_EQ(c.streams[r.stream_id].body, all);
}

std::string base64url(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& ch : out) {
    if (ch == '+') ch = '-';
    if (ch == '/') ch = '_';
  }
  return out;
}

TEST_F(fixture, h2c_upgrade_turns_the_http1_request_into_stream_1) {
  start();
  h2_client c({.upgrade = true});
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
  std::uint8_t payload[64];
  auto len = nghttp2_pack_settings_payload(payload, sizeof payload, iv, 1);
  ASSERT_GT(len, 0);
  ASSERT_EQ(nghttp2_session_upgrade2(c.s, payload, static_cast<std::size_t>(len), 0, nullptr), 0);

  http::request<http::string_body> req{http::verb::get, "/events", 11};
  req.set(http::field::host, "herald.test");
  req.set(http::field::connection, "Upgrade, HTTP2-Settings");
  req.set(http::field::upgrade, "h2c");
  req.set("HTTP2-Settings", base64url({reinterpret_cast<char*>(payload), std::size_t(len)}));
  ASSERT_TRUE(server->upgrade(req, req["HTTP2-Settings"]));
  auto reqs = server->take_requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].stream_id, 1);
  EXPECT_EQ(reqs[0].message.target(), "/events");
  EXPECT_EQ(reqs[0].message[http::field::upgrade], "");
  auto sub = server->open_stream(1, sse_start());
  ASSERT_TRUE(sub);
  server->channel_ready(1);
  (*sub)->deliver(event(1));
  pump(*server, c);
  EXPECT_EQ(c.streams[1].status, 200);
  EXPECT_EQ(c.streams[1].body, preamble() + *event(1));

  EXPECT_FALSE(h2_session(limits, opts).upgrade(req, "not base64!"));
}

TEST_F(fixture, a_bad_preface_fails_the_connection) {
  start();
  const std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_FALSE(server->feed(boost::asio::buffer(junk)));
  EXPECT_TRUE(server->done());
}

TEST(h2_preface, matches_prior_knowledge_bytes) {
  const std::string p = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  EXPECT_EQ(match_h2_preface(p), h2_preface::yes);
  EXPECT_EQ(match_h2_preface(p + std::string("\0\0", 2)), h2_preface::yes);
  EXPECT_EQ(match_h2_preface("PRI * HT"), h2_preface::partial);
  EXPECT_EQ(match_h2_preface(""), h2_preface::partial);
  EXPECT_EQ(match_h2_preface("GET / HTTP/1.1\r\n"), h2_preface::no);
  EXPECT_EQ(match_h2_preface("PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n"), h2_preface::no);
}

TEST(h2_options, validate_refuses_what_the_protocol_does) {
  h2_options o;
  EXPECT_TRUE(o.validate());
  o.max_concurrent_streams = 0;
  EXPECT_FALSE(o.validate());
  o = {};
  o.stream_window_bytes = 0x80000000u;
  EXPECT_FALSE(o.validate());
  o = {};
  o.connection_window_bytes = 1000;
  EXPECT_FALSE(o.validate());
  o = {};
  o.output_buffer_bytes = 100;
  EXPECT_FALSE(o.validate());
}

}  // namespace
}  // namespace herald::net

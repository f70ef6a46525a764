// The gateway over real loopback sockets: SQLite store in a temp dir, RS256 keys made at test time,
// the in-process bus. Exact bytes for streams, JSON error bodies, CORS, publishing, the live
// re-check, and graceful shutdown.
#include "app/gateway.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "app/demo.hpp"
#include "auth/api_key.hpp"
#include "config/config_loader.hpp"
#include "core/metrics.hpp"
#include "core/uuid.hpp"
#include "net/test_client.hpp"
#include "sse/encoder.hpp"
#include "tenancy/channel_name.hpp"

namespace herald::app {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

const std::string kPublisherKey = "test-publisher-key-0123456789";

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

using conn = net::testing::test_client;
using net::testing::eventually;

struct reply {
  unsigned status = 0;
  std::string head, body;
};

reply request(std::uint16_t port, const std::string& raw) {
  conn c(port);
  c.send(raw);
  std::string all = c.read_to_eof();
  reply r;
  auto split = all.find("\r\n\r\n");
  r.head = all.substr(0, split);
  r.body = split == std::string::npos ? "" : all.substr(split + 4);
  if (all.size() > 12) r.status = static_cast<unsigned>(std::stoi(all.substr(9, 3)));
  return r;
}

// A C++ endpoint (the library interface) that misbehaves on purpose.
struct rogue_endpoint final : stream_endpoint {
  url_template route_{"/rogue/{what}"};
  const url_template& route() const override { return route_; }
  asio::awaitable<result<std::vector<std::string>>> resolve(const stream_request& r) override {
    if (r.param("what") == "empty") co_return std::vector<std::string>{};
    if (r.param("what") == "foreign")  // a channel of another tenant: the gate must refuse it
      co_return std::vector<std::string>{*tenancy::make_channel_name("x", random_uuid(), "1")};
    // Failures whose messages quote the request: a 5xx body must not repeat them.
    if (r.param("what").starts_with("internal-"))
      co_return make_error(errc::internal, "failed on " + std::string(r.param("what")));
    if (r.param("what").starts_with("unavailable-"))
      co_return make_error(errc::unavailable,
                           "store down while reading " + std::string(r.param("what")));
    co_return make_error(errc::forbidden, "Nope.");
  }
};

class gateway_test : public ::testing::Test {
 protected:
  fs::path dir;
  std::string user = random_uuid(), other_user = random_uuid();
  std::string tenant = random_uuid(), tenant2 = random_uuid(), foreign = random_uuid();
  std::string scan = random_uuid(), foreign_scan = random_uuid();
  std::unique_ptr<gateway> gw;
  std::unique_ptr<auth::token_minter> minter;
  config::gateway_config cfg;
  unsigned shutdown_deadline_ms = 2000;  // set before start()
  std::string server_keys;               // more [server] keys ("k = v\n"), set before start()
  std::string auth_extra;                // more [auth] keys, set before start()

  void SetUp() override {
    dir = fs::temp_directory_path() / ("herald-gw-" + random_uuid());
    fs::create_directories(dir);
    ensure_rsa_keys(dir.string());
  }

  void start(const std::string& extra = "", unsigned keepalive = 20, unsigned connect_cache = 5,
             unsigned threads = 2) {
    std::string toml =
        "[server]\nlisten = \"127.0.0.1:0\"\nthreads = " + std::to_string(threads) +
        "\nkeepalive_seconds = " + std::to_string(keepalive) +
        "\nretry_base_ms = 1000\nretry_jitter_ms = 500\nshutdown_deadline_ms = " +
        std::to_string(shutdown_deadline_ms) + "\n" + server_keys +
        "[internal]\nlisten = \"127.0.0.1:0\"\npublisher_key = \"" + kPublisherKey +
        "\"\nmax_body_bytes = 2048\n"
        "[auth]\nalgorithm = \"RS256\"\nverify_key_file = \"keys/public.pem\"\n"
        "signing_key_file = \"keys/private.pem\"\naudience = \"herald-test\"\nissuer = "
        "\"herald-test\"\n" +
        auth_extra +
        "[store]\npath = \"herald.db\"\n"
        "[cors]\nallow_origins = [\"https://app.example.com\"]\n"
        "[tenancy]\nrecheck_interval_seconds = 0\nconnect_cache_seconds = " +
        std::to_string(connect_cache) +
        "\n"
        "[[endpoints]]\npath = \"/api/v1/scans/{scan_pk:uuid}/event-stream\"\n"
        "channels = [\"scan-progress:{tenant_id}:{scan_pk}\"]\n"
        "lookup = \"SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id\"\n" +
        extra;
    auto c = config::load_config_string(toml, dir.string(), true);
    ASSERT_TRUE(c) << c.err().message;
    cfg = *c;
    auto created = gateway::create(cfg);
    ASSERT_TRUE(created) << created.err().message;
    gw = std::move(*created);
    auto& db = *gw->sqlite();
    ASSERT_TRUE(db.add_tenant(tenant, "t1"));
    ASSERT_TRUE(db.add_tenant(tenant2, "t2"));
    ASSERT_TRUE(db.add_tenant(foreign, "t3"));
    ASSERT_TRUE(db.add_user(user, "u@x.io", true));
    ASSERT_TRUE(db.add_user(other_user, "o@x.io", true));
    ASSERT_TRUE(db.add_membership(user, tenant, "member"));
    ASSERT_TRUE(db.add_membership(user, tenant2, "member"));
    ASSERT_TRUE(db.add_membership(other_user, foreign, "member"));
    ASSERT_TRUE(db.add_scan(scan, tenant, "s", "executing"));
    ASSERT_TRUE(db.add_scan(foreign_scan, foreign, "f", "executing"));
    gw->add_endpoint(std::make_unique<rogue_endpoint>());
    auto r = gw->start();
    ASSERT_TRUE(r) << r.err().message;
    minter = std::make_unique<auth::token_minter>(auth::jwt_algorithm::rs256,
                                                  read_file(dir / "keys/private.pem"));
  }

  void TearDown() override {
    gw.reset();
    fs::remove_all(dir);
  }

  std::string token(const std::string& sub, const std::string& ten, std::int64_t exp_in = 3600) {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    return minter->mint("{\"sub\":\"" + sub + "\",\"tenant_id\":\"" + ten +
                        "\",\"exp\":" + std::to_string(now + exp_in) +
                        ",\"aud\":\"herald-test\",\"iss\":\"herald-test\"}");
  }

  std::string stream_path(const std::string& s) { return "/api/v1/scans/" + s + "/event-stream"; }
  std::string channel(const std::string& s) { return "scan-progress:" + tenant + ":" + s; }

  std::string get(const std::string& target, const std::string& headers = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: t\r\n" + headers + "\r\n";
  }

  reply publish(const std::string& body, const std::string& key = kPublisherKey) {
    return request(
        gw->internal_port(),
        "POST /publish HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer " + key +
            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body);
  }

  // Opens a stream and consumes the head and preamble.
  std::unique_ptr<conn> open(const std::string& target, const std::string& headers) {
    auto c = std::make_unique<conn>(gw->public_port());
    c->send(get(target, headers));
    auto got = c->read_until("event: stream-open\ndata:\n\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got.substr(0, 300);
    c->buf.erase(0, got.find("\r\n\r\n") + 4 + sse::stream_preamble().size());
    return c;
  }
};

TEST_F(gateway_test, stream_headers_preamble_and_published_event_bytes) {
  start();
  auto c = std::make_unique<conn>(gw->public_port());
  c->send(get(stream_path(scan), "Authorization: Bearer " + token(user, tenant) +
                                     "\r\nOrigin: https://app.example.com\r\n"));
  auto got = c->read_until("event: stream-open\ndata:\n\n");
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n"
      "Access-Control-Allow-Origin: https://app.example.com\r\nVary: Origin\r\n"
      "Access-Control-Allow-Credentials: true\r\n"
      "Access-Control-Allow-Headers: Cache-Control, Last-Event-ID\r\n";
  // Then the request id (app/access_log.hpp): 32 hex digits of Herald's own.
  const std::string id_header = "X-Request-Id: ";
  ASSERT_EQ(got.substr(0, head.size()), head);
  ASSERT_EQ(got.substr(head.size(), id_header.size()), id_header);
  const std::string id = got.substr(head.size() + id_header.size(), 32);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  EXPECT_EQ(got.substr(head.size() + id_header.size() + 32),
            "\r\n\r\n" + std::string(sse::stream_preamble()));
  c->buf.clear();
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 1; }));
  auto r = publish("{\"channel\":\"" + channel(scan) +
                   "\",\"event\":\"scan.progress\",\"data\":{\"checked\": 42, \"total\": 100}}");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.body, "{\"published\":1}");
  EXPECT_EQ(c->next_block(), "event: scan.progress\ndata: {\"checked\":42,\"total\":100}\n\n");
  r = publish("{\"events\":[{\"channel\":\"" + channel(scan) +
              "\",\"event\":\"scan.end\",\"data\":{\"scan_id\":\"" + scan + "\"},\"id\":\"9\"}]}");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(c->next_block(), "event: scan.end\nid: 9\ndata: {\"scan_id\":\"" + scan + "\"}\n\n");
}

TEST_F(gateway_test, unlisted_origin_gets_no_cors_headers) {
  start();
  auto c = std::make_unique<conn>(gw->public_port());
  c->send(get(stream_path(scan),
              "Authorization: Bearer " + token(user, tenant) +
                  "\r\nOrigin: https://evil.example.com\r\nReferer: https://app.example.com/\r\n"));
  auto got = c->read_until("event: stream-open");
  EXPECT_EQ(got.find("Access-Control-Allow-Origin"), std::string::npos);
  EXPECT_EQ(got.find("Access-Control-Allow-Credentials"), std::string::npos);
  EXPECT_EQ(got.find("Vary: Origin"), std::string::npos);
  // django-eventstream sends EVENTSTREAM_ALLOW_HEADERS on every response, whatever the origin.
  EXPECT_NE(got.find("\r\nAccess-Control-Allow-Headers: Cache-Control, Last-Event-ID\r\n"),
            std::string::npos);
}

// As the Prowler API's settings (EVENTSTREAM_ALLOW_HEADERS = "Cache-Control, Last-Event-ID") make
// django-eventstream answer: the header on streams and on errors, with or without an Origin; the
// origin headers only for a listed Origin.
TEST_F(gateway_test, allow_headers_on_every_stream_endpoint_answer) {
  start();
  const std::string allow = "\r\nAccess-Control-Allow-Headers: Cache-Control, Last-Event-ID\r\n";
  const std::string good = "Authorization: Bearer " + token(user, tenant) + "\r\n";
  for (const std::string origin :
       {"", "Origin: https://app.example.com\r\n", "Origin: https://evil.example.com\r\n"}) {
    const bool listed = origin.find("app.example.com") != std::string::npos;
    auto c = std::make_unique<conn>(gw->public_port());
    c->send(get(stream_path(scan), good + origin));
    auto head = c->read_until("event: stream-open");
    head = head.substr(0, head.find("\r\n\r\n") + 2);
    EXPECT_NE(head.find(allow), std::string::npos) << origin << head;
    EXPECT_EQ(head.find("Access-Control-Allow-Origin") != std::string::npos, listed) << head;
    for (const auto& [target, headers] : std::vector<std::pair<std::string, std::string>>{
             {stream_path(scan), ""},            // 401
             {stream_path(foreign_scan), good},  // 404
             {"/no/such/endpoint", good}}) {     // 404 (no endpoint)
      auto r = request(gw->public_port(), get(target, headers + origin + "Connection: close\r\n"));
      EXPECT_GE(r.status, 400u);
      EXPECT_NE((r.head + "\r\n").find(allow), std::string::npos) << target << origin << r.head;
      EXPECT_EQ(r.head.find("Access-Control-Allow-Origin") != std::string::npos, listed);
    }
  }
}

TEST_F(gateway_test, preflight) {
  start();
  auto r =
      request(gw->public_port(),
              "OPTIONS " + stream_path(scan) +
                  " HTTP/1.1\r\nHost: t\r\nConnection: close\r\nOrigin: https://app.example.com\r\n"
                  "Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: "
                  "last-event-id\r\n\r\n");
  EXPECT_EQ(r.status, 204u);
  EXPECT_NE(r.head.find("Access-Control-Allow-Origin: https://app.example.com"), std::string::npos);
  EXPECT_NE(r.head.find("Access-Control-Allow-Methods: GET, OPTIONS"), std::string::npos);
  EXPECT_NE(r.head.find("Access-Control-Allow-Headers: Cache-Control, Last-Event-ID"),
            std::string::npos);
  EXPECT_NE(r.head.find("Access-Control-Allow-Credentials: true"), std::string::npos);
}

TEST_F(gateway_test, keep_alive_after_the_configured_idle_interval) {
  start("", 1);
  // Taken before the stream opens, so a slow test thread can only lengthen the measured interval:
  // the lower bound holds however loaded the machine is (keep-alive due after 1 s, swept every
  // 250 ms).
  auto t0 = std::chrono::steady_clock::now();
  auto c = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n");
  EXPECT_EQ(c->next_block(), "event: keep-alive\ndata:\n\n");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 700ms);
}

TEST_F(gateway_test, access_token_query_parameter_works_without_a_header) {
  start();
  auto c = open(stream_path(scan) + "?access_token=" + token(user, tenant), "");
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 1; }));
  publish("{\"channel\":\"" + channel(scan) + "\",\"event\":\"scan.start\",\"data\":{}}");
  EXPECT_EQ(c->next_block(), "event: scan.start\ndata: {}\n\n");
}

TEST_F(gateway_test, error_bodies_401_403_404) {
  start();
  struct tc {
    std::string target, headers;
    unsigned status;
    std::string body;
  };
  const std::string good = token(user, tenant);
  const std::vector<tc> cases = {
      {stream_path(scan), "", 401,
       R"({"error":{"code":"unauthenticated","message":"Authentication credentials were not provided."}})"},
      // An invalid query token is a 401, never anonymous.
      {stream_path(scan) + "?access_token=not.a.jwt", "", 401, ""},
      // The header wins: an invalid header with a valid query token is still 401.
      {stream_path(scan) + "?access_token=" + good, "Authorization: Bearer garbage\r\n", 401, ""},
      {stream_path(scan), "Authorization: Basic dXNlcjpwYXNz\r\n", 401, ""},
      {stream_path(scan), "Authorization: Bearer " + token(user, tenant, -10) + "\r\n", 401,
       "expired"},
      // Token scoped to a tenant the user is not a member of.
      {stream_path(scan), "Authorization: Bearer " + token(user, foreign) + "\r\n", 403,
       "forbidden"},
      // Another tenant's scan: not found (the lookup is bound to the caller's tenant).
      {stream_path(foreign_scan), "Authorization: Bearer " + good + "\r\n", 404,
       R"({"error":{"code":"not_found","message":"Not found."}})"},
      {"/api/v1/scans/not-a-uuid/event-stream", "Authorization: Bearer " + good + "\r\n", 404, ""},
      {"/rogue/foreign", "Authorization: Bearer " + good + "\r\n", 403, "another tenant"},
      // A 5xx body never carries the error's own text (issue 15 item 5).
      {"/rogue/empty", "Authorization: Bearer " + good + "\r\n", 500,
       R"({"error":{"code":"internal","message":"Internal server error."}})"},
      {"/rogue/other", "Authorization: Bearer " + good + "\r\n", 403, "Nope."},
      {stream_path(scan), "Authorization: Bearer " + good + "\r\nLast-Event-ID: error\r\n", 400,
       "stream-error"},
  };
  for (const auto& c : cases) {
    auto r = request(gw->public_port(), get(c.target, c.headers + "Connection: close\r\n"));
    EXPECT_EQ(r.status, c.status) << c.target << " " << c.headers << "\n" << r.head << r.body;
    EXPECT_NE(r.head.find("Content-Type: application/json"), std::string::npos) << c.target;
    if (c.body.front() == '{')
      EXPECT_EQ(r.body, c.body);
    else
      EXPECT_NE(r.body.find(c.body), std::string::npos) << r.body;
  }
  EXPECT_EQ(gw->stream_count(), 0u);
}

// Issue 15 item 5: a resource id that makes the channel longer than its limit is the client's
// error (400, never a 500 echoing the channel), and no 5xx body anywhere echoes request input. An
// endpoint with a lookup runs it first, in the connect hop: a missing resource is a 404 as always.
TEST_F(gateway_test, a_resource_id_too_long_for_a_channel_is_400_and_5xx_bodies_echo_nothing) {
  start(
      "[[endpoints]]\npath = \"/api/v1/jobs/{job}/event-stream\"\n"
      "channels = [\"job-progress:{tenant_id}:{job}\"]\n"
      "lookup = \"SELECT 1 FROM scans WHERE id = :job AND tenant_id = :tenant_id\"\n"
      // Finds any id in a tenant with a scan: the resource exists, its channel cannot.
      "[[endpoints]]\npath = \"/api/v1/any/{job}/event-stream\"\n"
      "channels = [\"job-progress:{tenant_id}:{job}\"]\n"
      "lookup = \"SELECT 1 FROM scans WHERE tenant_id = :tenant_id AND length(:job) > 0\"\n"
      "[[endpoints]]\npath = \"/api/v1/tasks/{task}/event-stream\"\n"
      "channels = [\"task-progress:{tenant_id}:{task}\"]\n");
  const std::string auth = "Authorization: Bearer " + token(user, tenant) + "\r\n";
  const std::string marker = "Echo-Marker-7f3a";
  // The channel is "job-progress:" (13) + tenant (36) + ":" + id: 205 bytes of id fit in 255.
  const std::string long_id = marker + std::string(200, 'x');
  for (const auto& path : {"/api/v1/any/" + long_id + "/event-stream",       // found by the lookup
                           "/api/v1/tasks/" + long_id + "/event-stream"}) {  // no lookup
    auto too_long = request(gw->public_port(), get(path, auth + "Connection: close\r\n"));
    EXPECT_EQ(too_long.status, 400u) << path << "\n" << too_long.head << too_long.body;
    EXPECT_EQ(too_long.body,
              R"({"error":{"code":"bad_request","message":"The resource id is too long."}})");
  }
  // Not in the database: the lookup's 404, which echoes nothing either.
  auto missing = request(gw->public_port(), get("/api/v1/jobs/" + long_id + "y/event-stream",
                                                auth + "Connection: close\r\n"));
  EXPECT_EQ(missing.status, 404u) << missing.body;
  EXPECT_EQ(missing.body.find(marker), std::string::npos) << missing.body;
  // At the limit it is an ordinary resource id: looked up, not found.
  auto fits =
      request(gw->public_port(), get("/api/v1/jobs/" + std::string(205, 'x') + "/event-stream",
                                     auth + "Connection: close\r\n"));
  EXPECT_EQ(fits.status, 404u) << fits.body;

  // Every 5xx the public listener can give has a fixed text, whatever the error said.
  for (
      const auto& [what, status, body] :
      std::vector<std::tuple<std::string, unsigned, std::string>>{
          {"internal-" + marker, 500u,
           R"({"error":{"code":"internal","message":"Internal server error."}})"},
          {"unavailable-" + marker, 503u,
           R"({"error":{"code":"unavailable","message":"Temporarily unavailable; retry later."}})"},
      }) {
    auto r = request(gw->public_port(), get("/rogue/" + what, auth + "Connection: close\r\n"));
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.body, body);
    EXPECT_EQ(r.body.find(marker), std::string::npos) << r.body;
  }
}

// Issue 15 item 6: a publish to the upper-case spelling of a tenant (and scan) UUID reaches the
// streams of that channel, over the publish API and through the library's publish().
TEST_F(gateway_test, publish_with_upper_case_uuids_reaches_the_stream) {
  start();
  auto c = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n");
  auto upper = [](std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
  };
  const std::string loud = "scan-progress:" + upper(tenant) + ":" + upper(scan);
  auto r = publish("{\"channel\":\"" + loud + "\",\"event\":\"scan.progress\",\"data\":{\"n\":1}}");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(c->next_block(), "event: scan.progress\ndata: {\"n\":1}\n\n");
  std::promise<result<void>> done;
  gw->publish(sse::event{loud, "scan.progress", "{\"n\":2}", ""},
              [&](result<void> ok) { done.set_value(std::move(ok)); });
  EXPECT_TRUE(done.get_future().get());
  EXPECT_EQ(c->next_block(), "event: scan.progress\ndata: {\"n\":2}\n\n");
  // A name that is no channel at all is refused, never a success that reaches no one.
  std::promise<result<void>> refused;
  gw->publish(sse::event{"scan-progress:" + tenant, "scan.progress", "{}", ""},
              [&](result<void> ok) { refused.set_value(std::move(ok)); });
  auto outcome = refused.get_future().get();
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.err().code, errc::unprocessable);
}

// Issue 15 item 8: numbers reach clients as the publisher wrote them (Boost.JSON alone would write
// 0.5 as 5E-1 and 12.0 as 1.2E1).
TEST_F(gateway_test, published_numbers_reach_the_stream_as_written) {
  start();
  auto c = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n");
  auto r = publish("{\"channel\":\"" + channel(scan) +
                   "\",\"event\":\"scan.progress\",\"data\":{\"ratio\": 0.5, \"size\": 12.0, "
                   "\"big\": 123456789012345678901234567890, \"tiny\": 1e-7, \"exp\": 2.5E+3, "
                   "\"neg\": -0.0, \"count\": 42, \"list\": [0.1, 2, 3.50], \"s\": \"0.5\"}}");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(c->next_block(),
            "event: scan.progress\ndata: {\"ratio\":0.5,\"size\":12.0,"
            "\"big\":123456789012345678901234567890,\"tiny\":1e-7,\"exp\":2.5E+3,\"neg\":-0.0,"
            "\"count\":42,\"list\":[0.1,2,3.50],\"s\":\"0.5\"}\n\n");
}

// ---- limits that keep tenants apart (issue 15) ----------------------------------------------

// A 429 with Retry-After and the JSON body naming the limit.
void expect_refused(const reply& r, std::string_view reason, std::string_view retry_after) {
  EXPECT_EQ(r.status, 429u) << r.head << r.body;
  EXPECT_NE(r.head.find("\r\nRetry-After: " + std::string(retry_after) + "\r\n"), std::string::npos)
      << r.head;
  EXPECT_NE(r.head.find("Content-Type: application/json"), std::string::npos) << r.head;
  auto v = boost::json::parse(r.body);
  const auto& body = v.as_object().at("error").as_object();
  EXPECT_EQ(body.at("code").as_string(), "too_many_requests");
  EXPECT_EQ(body.at("reason").as_string(), reason);
}

std::int64_t refused_metric(const std::string& reason) {
  return metrics_registry::instance()
      .counter("herald_streams_refused_total{reason=\"" + reason + "\"}", "")
      .get();
}

TEST_F(gateway_test, a_tenant_at_its_stream_cap_does_not_stop_another_tenant) {
  server_keys = "max_streams_per_tenant = 2\nbusy_retry_after_seconds = 7\n";
  start();
  const std::string scan2 = random_uuid();
  ASSERT_TRUE(gw->sqlite()->add_scan(scan2, tenant2, "s2", "executing"));
  const std::string in_tenant = "Authorization: Bearer " + token(user, tenant) + "\r\n";
  const auto before = refused_metric("per_tenant");
  auto a1 = open(stream_path(scan), in_tenant);
  auto a2 = open(stream_path(scan), in_tenant);
  expect_refused(
      request(gw->public_port(), get(stream_path(scan), in_tenant + "Connection: close\r\n")),
      "per_tenant", "7");
  EXPECT_EQ(refused_metric("per_tenant"), before + 1);
  // The same user in another tenant: that tenant has room.
  auto b = open(stream_path(scan2), "Authorization: Bearer " + token(user, tenant2) + "\r\n");
  EXPECT_EQ(gw->limits().caps().open_for_tenant(tenant), 2u);
  EXPECT_EQ(gw->limits().caps().open_for_tenant(tenant2), 1u);
  // A stream of the full tenant ends (the client goes away): its slot comes back.
  a1.reset();
  ASSERT_TRUE(eventually([&] { return gw->limits().caps().open_for_tenant(tenant) == 1u; }));
  auto a3 = open(stream_path(scan), in_tenant);
  EXPECT_EQ(gw->limits().caps().open_for_tenant(tenant), 2u);
}

TEST_F(gateway_test, a_user_at_its_stream_cap_does_not_stop_another_user_or_tenant) {
  server_keys = "max_streams_per_user = 2\n";
  start();
  ASSERT_TRUE(gw->sqlite()->add_membership(other_user, tenant, "member"));
  const std::string alice = "Authorization: Bearer " + token(user, tenant) + "\r\n";
  const auto before = refused_metric("per_user");
  auto a1 = open(stream_path(scan), alice);
  auto a2 = open(stream_path(scan), alice);
  expect_refused(
      request(gw->public_port(), get(stream_path(scan), alice + "Connection: close\r\n")),
      "per_user", "2");
  EXPECT_EQ(refused_metric("per_user"), before + 1);
  // Another user of the same tenant, and a user of another tenant, are not affected.
  auto bob = open(stream_path(scan), "Authorization: Bearer " + token(other_user, tenant) + "\r\n");
  auto carol = open(stream_path(foreign_scan),
                    "Authorization: Bearer " + token(other_user, foreign) + "\r\n");
  EXPECT_EQ(gw->limits().caps().open_for_user(user), 2u);
  EXPECT_EQ(gw->limits().caps().open_for_user(other_user), 2u);
}

TEST_F(gateway_test, the_total_stream_cap_lets_other_tenants_in_until_the_node_is_full) {
  server_keys = "max_streams = 3\nmax_streams_per_tenant = 2\n";
  start();
  const std::string scan2 = random_uuid();
  ASSERT_TRUE(gw->sqlite()->add_scan(scan2, tenant2, "s2", "executing"));
  const std::string t1 = "Authorization: Bearer " + token(user, tenant) + "\r\n";
  const std::string t2 = "Authorization: Bearer " + token(user, tenant2) + "\r\n";
  auto a1 = open(stream_path(scan), t1);
  auto a2 = open(stream_path(scan), t1);
  // The first tenant is at its own cap; the second still gets in...
  expect_refused(request(gw->public_port(), get(stream_path(scan), t1 + "Connection: close\r\n")),
                 "per_tenant", "2");
  auto b1 = open(stream_path(scan2), t2);
  // ... until the node is full, for everyone.
  const auto before = refused_metric("total");
  expect_refused(request(gw->public_port(), get(stream_path(scan2), t2 + "Connection: close\r\n")),
                 "total", "2");
  EXPECT_EQ(refused_metric("total"), before + 1);
  EXPECT_EQ(gw->limits().caps().open_total(), 3u);
  b1.reset();
  ASSERT_TRUE(eventually([&] { return gw->limits().caps().open_total() == 2u; }));
  auto b2 = open(stream_path(scan2), t2);
}

// Requests a second per client address, the address taken from X-Forwarded-For behind a trusted
// proxy: one client at its limit does not stop another, and a forged left-hand hop changes nothing.
TEST_F(gateway_test, a_client_address_at_its_request_rate_does_not_stop_another) {
  server_keys =
      "connect_rate_per_address = 1\nconnect_burst_per_address = 2\n"
      "trusted_proxies = [\"127.0.0.1\"]\n";
  start();
  auto from = [&](const std::string& xff) {
    return request(gw->public_port(),
                   get(stream_path(scan), "X-Forwarded-For: " + xff + "\r\nConnection: close\r\n"));
  };
  const auto before = refused_metric("connect_rate");
  // Two at once (the burst) are let through (to the 401 of a request without credentials)...
  EXPECT_EQ(from("198.51.100.1").status, 401u);
  EXPECT_EQ(from("198.51.100.1").status, 401u);
  // ... and one a second after that: of ten more in a row, at least one is refused (all ten
  // would pass only if they took eight seconds).
  std::optional<reply> refused;
  for (int i = 0; i < 10 && !refused; ++i) {
    auto r = from("203.0.113.66, 198.51.100.1");  // the client's own claim on the left is ignored
    if (r.status == 429) refused = r;
  }
  ASSERT_TRUE(refused);
  expect_refused(*refused, "connect_rate", "1");
  EXPECT_GE(refused_metric("connect_rate"), before + 1);
  // Another client behind the same proxy, and the proxy itself, have their own buckets.
  EXPECT_EQ(from("198.51.100.2").status, 401u);
  EXPECT_EQ(request(gw->public_port(), get(stream_path(scan), "Connection: close\r\n")).status,
            401u);
}

// Counting is exact across the event-loop threads and every stream's slot comes back however the
// stream ends (the client leaves, the live re-check closes it, the gateway stops): after churn from
// several client threads, nothing is counted and nothing is kept.
TEST_F(gateway_test, stream_caps_leak_nothing_under_churn_across_shards) {
  server_keys = "max_streams_per_user = 3\nmax_streams_per_tenant = 5\nmax_streams = 8\n";
  start("", 20, 0, 2);  // no connect cache: the re-check's removal takes effect at once
  std::vector<std::string> users;
  for (int i = 0; i < 4; ++i) {
    users.push_back(random_uuid());
    ASSERT_TRUE(gw->sqlite()->add_user(users.back(), "c" + std::to_string(i) + "@x.io", true));
    ASSERT_TRUE(gw->sqlite()->add_membership(users.back(), tenant, "member"));
  }
  std::vector<std::string> tokens;
  tokens.reserve(users.size());
  for (const auto& u : users) tokens.push_back(token(u, tenant));
  std::atomic<bool> over_cap{false};
  std::atomic<int> opened{0}, refused{0};
  std::vector<std::unique_ptr<conn>> kept[4];
  std::vector<std::thread> clients;
  clients.reserve(4);
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      const std::string auth = "Authorization: Bearer " + tokens[t] + "\r\n";
      auto& mine = kept[t];
      for (int i = 0; i < 25; ++i) {
        auto c = std::make_unique<conn>(gw->public_port());
        c->send(get(stream_path(scan), auth));
        auto head = c->read_until("\r\n\r\n");
        if (head.rfind("HTTP/1.1 200", 0) == 0) {
          c->read_until("event: stream-open\ndata:\n\n");
          mine.push_back(std::move(c));
          ++opened;
        } else if (head.rfind("HTTP/1.1 429", 0) == 0) {
          ++refused;
        }
        const auto& caps = gw->limits().caps();
        if (caps.open_total() > 8 || caps.open_for_tenant(tenant) > 5 ||
            caps.open_for_user(users[static_cast<std::size_t>(t)]) > 3)
          over_cap = true;
        if (i % 2 == 1 && !mine.empty()) mine.erase(mine.begin());  // the client leaves
      }
    });
  for (auto& th : clients) th.join();
  EXPECT_FALSE(over_cap.load());
  EXPECT_GT(opened.load(), 0);
  EXPECT_GT(refused.load(), 0);  // 4 users x 3 streams is more than the tenant's 5
  ASSERT_TRUE(eventually([&] { return gw->limits().caps().open_total() == gw->stream_count(); }));
  // The re-check closes the streams of a user who lost the tenant.
  ASSERT_TRUE(gw->sqlite()->remove_membership(users[0], tenant));
  gw->recheck_now();
  ASSERT_TRUE(eventually([&] { return gw->limits().caps().open_for_user(users[0]) == 0u; }));
  // Half the remaining clients leave; the gateway's stop ends the rest.
  kept[1].clear();
  kept[2].clear();
  ASSERT_TRUE(eventually([&] { return gw->limits().caps().open_total() == gw->stream_count(); }));
  gw->stop();
  EXPECT_EQ(gw->stream_count(), 0u);
  EXPECT_EQ(gw->limits().caps().open_total(), 0u);
  EXPECT_EQ(gw->limits().caps().tracked_keys(), 0u);
}

TEST_F(gateway_test, api_key_in_header_works_and_is_refused_in_the_query) {
  start();
  auto key = auth::generate_api_key();
  store::api_key_record rec{random_uuid(), key.prefix, key.key_hash, tenant, user, "k", 0, false};
  ASSERT_TRUE(gw->sqlite()->insert_api_key(rec));
  auto c = open(stream_path(scan), "Authorization: Api-Key " + key.full_key + "\r\n");
  auto r = request(gw->public_port(), get(stream_path(scan) + "?access_token=" + key.full_key,
                                          "Connection: close\r\n"));
  EXPECT_EQ(r.status, 401u);
  EXPECT_NE(r.body.find("API keys are not accepted"), std::string::npos) << r.body;
}

// Publishers pipeline: every request in one write is answered, in order, in one or more writes,
// and the events reach the stream in the order they were published. Every fourth request carries
// about 1.9 KB, so the batch (about 18 KB) is more than one 16 KiB read and a request straddles it.
TEST_F(gateway_test, pipelined_publishes_are_all_answered_and_delivered_in_order) {
  start();
  auto c = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n");
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 1; }));
  constexpr int n = 25;
  std::string requests, expected;
  for (int i = 0; i < n; ++i) {
    const std::string data = "{\"i\":" + std::to_string(i) +
                             (i % 4 == 0 ? ",\"pad\":\"" + std::string(1800, 'p') + "\"" : "") +
                             "}";
    const std::string body =
        "{\"channel\":\"" + channel(scan) + "\",\"event\":\"scan.progress\",\"data\":" + data + "}";
    requests.append("POST /publish HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ")
        .append(kPublisherKey)
        .append("\r\nContent-Type: application/json\r\n")
        .append(i + 1 == n ? "Connection: close\r\n" : "")
        .append("Content-Length: ")
        .append(std::to_string(body.size()))
        .append("\r\n\r\n")
        .append(body);
    expected += "event: scan.progress\ndata: " + data + "\n\n";
  }
  conn pub(gw->internal_port());
  pub.send(requests);
  const std::string replies = pub.read_to_eof();
  std::size_t answered = 0;
  for (auto pos = replies.find("HTTP/1.1 200 OK"); pos != std::string::npos;
       pos = replies.find("HTTP/1.1 200 OK", pos + 1))
    ++answered;
  EXPECT_EQ(answered, static_cast<std::size_t>(n)) << replies;
  EXPECT_EQ(replies.find("HTTP/1.1 4"), std::string::npos);
  EXPECT_EQ(c->read_at_least(expected.size()), expected);
}

// A publish with a small audience on the event loop that read it is written to those subscribers
// before it is answered: once the publisher has its 200, the event is already in each subscriber's
// socket (on loopback a write lands in the receiver's queue before send() returns). One event loop,
// so every connection shares it (with several, a subscriber on another loop is written by that
// loop, concurrently).
TEST_F(gateway_test, small_publish_reaches_subscribers_before_its_answer) {
  start("", 20, 5, 1);
  // 200 subscribers: writing them takes the event loop about a millisecond, far longer than the
  // publisher takes to see an answer written first, so the order shows.
  constexpr int n = 200;
  std::vector<std::unique_ptr<conn>> subs;
  subs.reserve(n);
  for (int i = 0; i < n; ++i)
    subs.push_back(
        open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n"));
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == n; }));
  const auto unread = [&] {
    int missing = 0;
    for (auto& c : subs) {
      pollfd p{c->sock.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 0) != 1) ++missing;
    }
    return missing;
  };
  conn pub(gw->internal_port());
  for (int i = 0; i < 5; ++i) {
    const std::string body = "{\"channel\":\"" + channel(scan) +
                             "\",\"event\":\"scan.progress\",\"data\":{\"i\":" + std::to_string(i) +
                             "}}";
    std::string request = "POST /publish HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ";
    request.append(kPublisherKey)
        .append("\r\nContent-Type: application/json\r\nContent-Length: ")
        .append(std::to_string(body.size()))
        .append("\r\n\r\n")
        .append(body);
    pub.send(request);
    pub.read_until("{\"published\":1}");
    pub.buf.clear();
    EXPECT_EQ(unread(), 0) << "subscribers without publish " << i << " when it was answered";
    const std::string expected =
        "event: scan.progress\ndata: {\"i\":" + std::to_string(i) + "}\n\n";
    for (auto& c : subs) ASSERT_EQ(c->next_block(), expected);
  }
}

TEST_F(gateway_test, publish_api_refuses_bad_input_with_json_errors) {
  start();
  const std::string ch = channel(scan);
  EXPECT_EQ(publish("{}", "wrong-key-wrong-key-wrong").status, 401u);
  EXPECT_EQ(publish("not json").status, 400u);
  auto r = publish("{\"channel\":\"" + ch + "\",\"event\":\"scan.finished\",\"data\":{}}");
  EXPECT_EQ(r.status, 422u);
  EXPECT_NE(r.body.find("finished"), std::string::npos);
  r = publish("{\"channel\":\"garbage\",\"event\":\"scan.end\",\"data\":{}}");
  EXPECT_EQ(r.status, 422u);
  r = publish("{\"channel\":\"" + ch + "\",\"event\":\"scan.end\",\"data\":[1]}");
  EXPECT_EQ(r.status, 422u);
  r = publish("{\"channel\":\"" + ch + "\",\"event\":\"scan.end\",\"data\":{\"x\":\"" +
              std::string(4000, 'a') + "\"}}");
  EXPECT_EQ(r.status, 413u) << r.body;
  auto get_pub =
      request(gw->internal_port(), "GET /publish HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(get_pub.status, 405u);
}

TEST_F(gateway_test, health_ready_and_metrics) {
  start();
  auto h =
      request(gw->internal_port(), "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(h.status, 200u);
  auto r =
      request(gw->internal_port(), "GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.status, 200u);
  EXPECT_NE(r.body.find("\"bus\":\"local\""), std::string::npos) << r.body;
  auto c = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n");
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 1; }));
  auto m =
      request(gw->internal_port(), "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(m.status, 200u);
  for (const char* name :
       {"herald_connections ", "herald_events_published_total ", "herald_events_delivered_total ",
        "herald_slow_consumer_drops_total ", "herald_errors_total "})
    EXPECT_NE(m.body.find(name), std::string::npos) << name;
  EXPECT_NE(m.body.find("\nherald_connections 1\n"), std::string::npos) << m.body;
  c.reset();
  EXPECT_TRUE(eventually([&] { return gw->stream_count() == 0; }));
  EXPECT_EQ(core_metrics::get().connections.get(), 0);
}

// The Prometheus text format: every sample's family has # HELP and # TYPE lines before it, served
// as text/plain; version=0.0.4. Counters end in _total.
TEST_F(gateway_test, metrics_follow_the_prometheus_text_format) {
  start();
  auto m =
      request(gw->internal_port(), "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(m.status, 200u);
  EXPECT_NE(m.head.find("\r\nContent-Type: text/plain; version=0.0.4\r\n"), std::string::npos)
      << m.head;
  std::map<std::string, std::string> type_of;
  std::set<std::string> helped;
  std::size_t samples = 0;
  std::istringstream lines(m.body);
  for (std::string line; std::getline(lines, line);) {
    SCOPED_TRACE(line);
    ASSERT_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      auto name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helped.insert(name).second) << "two HELP lines";
      EXPECT_GT(line.size(), 7 + name.size() + 1) << "HELP without text";
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream f(line.substr(7));
      std::string name, type;
      f >> name >> type;
      EXPECT_TRUE(helped.contains(name)) << "TYPE before HELP";
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram" ||
                  type == "summary" || type == "untyped");
      EXPECT_TRUE(type_of.emplace(name, type).second) << "two TYPE lines";
      if (type == "counter") {
        EXPECT_TRUE(name.ends_with("_total")) << name;
      }
      continue;
    }
    ASSERT_NE(line[0], '#') << "an unknown comment";
    std::string name = line.substr(0, line.find_first_of("{ "));
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (!type_of.contains(family) && name.ends_with(suffix))
        family = name.substr(0, name.size() - std::strlen(suffix));
    EXPECT_TRUE(type_of.contains(family)) << "a sample before its TYPE line";
    const std::string value = line.substr(line.rfind(' ') + 1);
    EXPECT_NO_THROW((void)std::stod(value)) << value;
    ++samples;
  }
  EXPECT_GT(samples, 0u);
  EXPECT_EQ(type_of["herald_connections"], "gauge");
  EXPECT_EQ(type_of["herald_events_published_total"], "counter");
}

// /metrics, /healthz, /readyz and /publish live only on the internal listener: the public one
// answers 404 (JSON) and leaks none of them.
TEST_F(gateway_test, internal_endpoints_are_absent_on_the_public_listener) {
  start();
  for (const char* path : {"/metrics", "/healthz", "/readyz", "/publish"}) {
    auto r = request(gw->public_port(), std::string("GET ") + path +
                                            " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r.status, 404u) << path;
    EXPECT_EQ(r.body, R"({"error":{"code":"not_found","message":"Not found."}})") << path;
    EXPECT_EQ(r.body.find("herald_"), std::string::npos) << path;
  }
  auto post = publish("{\"channel\":\"" + channel(scan) +
                      "\",\"event\":\"scan.end\",\"data\":{}}");  // internal: accepted
  EXPECT_EQ(post.status, 200u);
  auto pub = request(gw->public_port(),
                     "POST /publish HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: "
                     "Bearer " +
                         kPublisherKey + "\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(pub.status, 404u);
}

// The flat payload rule at publish: a nested object is a 422 naming the field, and nothing of the
// request reaches a stream; the flat event published next does.
TEST_F(gateway_test, publish_refuses_a_nested_payload) {
  start();
  auto c = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n");
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 1; }));
  auto r = publish("{\"events\":[{\"channel\":\"" + channel(scan) +
                   "\",\"event\":\"scan.progress\",\"data\":{\"checked\":1}},{\"channel\":\"" +
                   channel(scan) +
                   "\",\"event\":\"scan.progress\",\"data\":{\"type\":\"scan.progress\","
                   "\"data\":{\"checked\":2}}}]}");
  EXPECT_EQ(r.status, 422u);
  EXPECT_EQ(
      r.body,
      R"j({"error":{"code":"unprocessable","message":"events[1].data.data: a flat payload has )j"
      R"j(no nested objects (values are strings, numbers, booleans, null, or arrays of those)"}})j");
  r = publish("{\"channel\":\"" + channel(scan) +
              "\",\"event\":\"scan.progress\",\"data\":{\"checked\":3,\"ids\":[\"a\",\"b\"]}}");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(c->next_block(),
            "event: scan.progress\ndata: {\"checked\":3,\"ids\":[\"a\",\"b\"]}\n\n");
}

TEST_F(gateway_test, recheck_closes_streams_whose_membership_was_removed) {
  start();
  auto kept = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n");
  // The other user joins the tenant, opens a stream, then loses the membership.
  ASSERT_TRUE(gw->sqlite()->add_membership(other_user, tenant, "member"));
  auto lost =
      open(stream_path(scan), "Authorization: Bearer " + token(other_user, tenant) + "\r\n");
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 2; }));
  ASSERT_TRUE(gw->sqlite()->remove_membership(other_user, tenant));
  gw->recheck_now();
  auto rest = lost->read_to_eof();
  EXPECT_EQ(rest,
            sse::encode_stream_error("forbidden", "User is no longer a member of this tenant"));
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 1; }));
  publish("{\"channel\":\"" + channel(scan) + "\",\"event\":\"scan.end\",\"data\":{}}");
  EXPECT_EQ(kept->next_block(), "event: scan.end\ndata: {}\n\n");
}

TEST_F(gateway_test, recheck_verdict_covers_every_stream_of_the_same_caller) {
  start();
  // Two streams of the same caller with different tokens (separate principals, different expiry)
  // share one check: both must be closed, and the other caller's stream must stay.
  ASSERT_TRUE(gw->sqlite()->add_membership(other_user, tenant, "member"));
  auto kept = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n");
  auto first =
      open(stream_path(scan), "Authorization: Bearer " + token(other_user, tenant) + "\r\n");
  auto second =
      open(stream_path(scan), "Authorization: Bearer " + token(other_user, tenant, 7200) + "\r\n");
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 3; }));
  gw->recheck_now();  // all allowed: nothing happens
  ASSERT_TRUE(gw->sqlite()->remove_membership(other_user, tenant));
  gw->recheck_now();
  const std::string forbidden =
      sse::encode_stream_error("forbidden", "User is no longer a member of this tenant");
  EXPECT_EQ(first->read_to_eof(), forbidden);
  EXPECT_EQ(second->read_to_eof(), forbidden);
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 1; }));
  publish("{\"channel\":\"" + channel(scan) + "\",\"event\":\"scan.end\",\"data\":{}}");
  EXPECT_EQ(kept->next_block(), "event: scan.end\ndata: {}\n\n");
}

TEST_F(gateway_test, recheck_closes_streams_of_a_revoked_api_key) {
  start();
  auto key = auth::generate_api_key();
  store::api_key_record rec{random_uuid(), key.prefix, key.key_hash, tenant, user, "k", 0, false};
  ASSERT_TRUE(gw->sqlite()->insert_api_key(rec));
  auto c = open(stream_path(scan), "Authorization: Api-Key " + key.full_key + "\r\n");
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 1; }));
  gw->recheck_now();  // still valid: nothing happens
  ASSERT_TRUE(gw->sqlite()->revoke_api_key(key.prefix));
  gw->recheck_now();
  EXPECT_EQ(c->read_to_eof(),
            sse::encode_stream_error("forbidden", "This API Key has been revoked."));
}

TEST_F(gateway_test, recheck_ends_a_jwt_stream_past_its_exp_with_token_expired) {
  start();
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const std::int64_t issued = now();
  auto short_lived =
      open(stream_path(scan), "Authorization: Bearer " + token(user, tenant, 2) + "\r\n");
  auto kept = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n");
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 2; }));
  gw->recheck_now();  // not expired yet: nothing happens
  // The token's exp passes (a clock condition, polled; the deadline is only a failure guard).
  ASSERT_TRUE(eventually([&] { return now() >= issued + 3; }, 10s));
  gw->recheck_now();
  EXPECT_EQ(short_lived->read_to_eof(),
            sse::encode_stream_error("token-expired", "Token is expired"));
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 1; }));
  publish("{\"channel\":\"" + channel(scan) + "\",\"event\":\"scan.end\",\"data\":{}}");
  EXPECT_EQ(kept->next_block(), "event: scan.end\ndata: {}\n\n");
}

TEST_F(gateway_test, token_expiry_keeps_streams_open_when_switched_off) {
  auth_extra = "end_streams_at_token_expiry = false\n";
  start();
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const std::int64_t issued = now();
  auto c = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant, 2) + "\r\n");
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 1; }));
  ASSERT_TRUE(eventually([&] { return now() >= issued + 3; }, 10s));
  auto& passes = metrics_registry::instance().counter("herald_recheck_passes_total", "");
  const auto before = passes.get();
  gw->recheck_now();
  ASSERT_TRUE(eventually([&] { return passes.get() > before; }));  // the pass judged the stream
  publish("{\"channel\":\"" + channel(scan) + "\",\"event\":\"scan.progress\",\"data\":{}}");
  EXPECT_EQ(c->next_block(), "event: scan.progress\ndata: {}\n\n");
  EXPECT_EQ(gw->stream_count(), 1u);
}

TEST_F(gateway_test, connect_cache_lets_a_confirmed_caller_reconnect_without_the_database) {
  start();  // connect_cache_seconds = 5
  const std::string t = token(user, tenant);
  open(stream_path(scan), "Authorization: Bearer " + t + "\r\n");  // confirms (user, tenant)
  ASSERT_TRUE(gw->sqlite()->remove_membership(user, tenant));
  // Within the TTL a new stream still opens (the documented bound on revocation for new streams;
  // open ones are closed by the re-check)...
  auto again = open(stream_path(scan), "Authorization: Bearer " + t + "\r\n");
  // ...but the signature is always checked: a tampered token is refused.
  auto r = request(gw->public_port(), get(stream_path(scan), "Authorization: Bearer " + t +
                                                                 "x\r\n"
                                                                 "Connection: close\r\n"));
  EXPECT_EQ(r.status, 401u);
  // An API key never uses the cache.
  auto key = auth::generate_api_key();
  store::api_key_record rec{random_uuid(), key.prefix, key.key_hash, tenant, user, "k", 0, false};
  ASSERT_TRUE(gw->sqlite()->insert_api_key(rec));
  r = request(gw->public_port(), get(stream_path(scan), "Authorization: Api-Key " + key.full_key +
                                                            "\r\nConnection: close\r\n"));
  EXPECT_EQ(r.status, 403u) << r.body;
}

TEST_F(gateway_test, connect_cache_keeps_found_resources_for_its_ttl_only) {
  start();  // connect_cache_seconds = 5
  const std::string t = "Authorization: Bearer " + token(user, tenant) + "\r\n";
  const std::string gone = random_uuid(), later = random_uuid();
  ASSERT_TRUE(gw->sqlite()->add_scan(gone, tenant, "g", "executing"));
  open(stream_path(gone), t);  // the lookup found it: kept for the TTL
  ASSERT_TRUE(gw->sqlite()->exec("DELETE FROM scans WHERE id = '" + gone + "'"));
  // Within the TTL a deleted resource still opens (the documented staleness bound)...
  open(stream_path(gone), t);
  // ...a refusal is never kept: a scan not found once is looked up again.
  auto r = request(gw->public_port(), get(stream_path(later), t + "Connection: close\r\n"));
  EXPECT_EQ(r.status, 404u) << r.body;
  ASSERT_TRUE(gw->sqlite()->add_scan(later, tenant, "l", "executing"));
  open(stream_path(later), t);
  // Another tenant's view of the same scan id is its own entry: the foreign user is not a member
  // of this tenant, and the foreign tenant has no such scan.
  r = request(gw->public_port(),
              get(stream_path(later), "Authorization: Bearer " + token(other_user, foreign) +
                                          "\r\nConnection: close\r\n"));
  EXPECT_EQ(r.status, 404u) << r.body;
}

TEST_F(gateway_test, without_the_connect_cache_a_deleted_resource_is_404_at_once) {
  start("", 20, 0);
  const std::string t = "Authorization: Bearer " + token(user, tenant) + "\r\n";
  const std::string gone = random_uuid();
  ASSERT_TRUE(gw->sqlite()->add_scan(gone, tenant, "g", "executing"));
  open(stream_path(gone), t);
  ASSERT_TRUE(gw->sqlite()->exec("DELETE FROM scans WHERE id = '" + gone + "'"));
  auto r = request(gw->public_port(), get(stream_path(gone), t + "Connection: close\r\n"));
  EXPECT_EQ(r.status, 404u) << r.body;
}

TEST_F(gateway_test, without_the_connect_cache_a_removed_member_is_refused_at_once) {
  start("", 20, 0);
  const std::string t = token(user, tenant);
  open(stream_path(scan), "Authorization: Bearer " + t + "\r\n");
  ASSERT_TRUE(gw->sqlite()->remove_membership(user, tenant));
  auto r = request(gw->public_port(), get(stream_path(scan), "Authorization: Bearer " + t +
                                                                 "\r\nConnection: close\r\n"));
  EXPECT_EQ(r.status, 403u) << r.body;
}

// stop() returns once every stream has flushed its retry hint and closed, not at the deadline: with
// a ten-minute deadline this test ends only if that holds (ctest's timeout is the failure guard).
TEST_F(gateway_test, graceful_stop_sends_a_jittered_retry_hint_and_closes) {
  shutdown_deadline_ms = 600'000;
  start();
  std::vector<std::unique_ptr<conn>> streams;
  streams.reserve(20);
  for (int i = 0; i < 20; ++i)
    streams.push_back(
        open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n"));
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 20; }));
  gw->stop();
  EXPECT_EQ(gw->stream_count(), 0u);
  std::set<std::string> hints;
  for (auto& c : streams) {
    auto rest = c->read_to_eof();
    ASSERT_EQ(rest.rfind("retry: ", 0), 0u) << rest;
    int ms = std::stoi(rest.substr(7));
    EXPECT_GE(ms, 1000);
    EXPECT_LT(ms, 1500);
    hints.insert(rest);
  }
  EXPECT_GT(hints.size(), 1u);  // jitter: not every client reconnects at the same moment
}

TEST_F(gateway_test, cross_tenant_streams_never_see_each_others_events) {
  start();
  std::string other_scan = random_uuid();
  ASSERT_TRUE(gw->sqlite()->add_scan(other_scan, foreign, "o", "executing"));
  auto mine = open(stream_path(scan), "Authorization: Bearer " + token(user, tenant) + "\r\n");
  auto theirs =
      open(stream_path(other_scan), "Authorization: Bearer " + token(other_user, foreign) + "\r\n");
  ASSERT_TRUE(eventually([&] { return gw->stream_count() == 2; }));
  publish("{\"channel\":\"scan-progress:" + foreign + ":" + other_scan +
          "\",\"event\":\"scan.progress\",\"data\":{\"n\":1}}");
  publish("{\"channel\":\"" + channel(scan) + "\",\"event\":\"scan.progress\",\"data\":{\"n\":2}}");
  EXPECT_EQ(mine->next_block(), "event: scan.progress\ndata: {\"n\":2}\n\n");
  EXPECT_EQ(theirs->next_block(), "event: scan.progress\ndata: {\"n\":1}\n\n");
}

// ---- Reliable channels (docs/reconnects.md): exact bytes of resume, reset, error and the seam
// ----

class replay_gateway_test : public gateway_test {
 protected:
  // The scans endpoint made reliable; `replay` is the rest of the [replay] table.
  void start_reliable(const std::string& replay = "max_events = 1000\n") {
    start("reliable = true\n[replay]\n" + replay);
  }
  std::string quoted(const std::string& s) { return "scan-progress%3A" + tenant + "%3A" + s; }
  std::string auth() { return "Authorization: Bearer " + token(user, tenant) + "\r\n"; }

  // Publishes one scan.progress {"n": n}; the acknowledgement's id.
  std::string publish_n(int n, const std::string& s) {
    auto r = publish("{\"channel\":\"" + channel(s) +
                     "\",\"event\":\"scan.progress\",\"data\":{\"n\":" + std::to_string(n) + "}}");
    EXPECT_EQ(r.status, 200u) << r.body;
    auto v = boost::json::parse(r.body);
    EXPECT_EQ(v.at("published").as_int64(), 1);
    return std::string(v.at("ids").as_array().at(0).as_string());
  }
  // An id as a query parameter value: its '%' escaped (encodeURIComponent).
  static std::string query_encoded(const std::string& id) {
    std::string out;
    for (char ch : id) out += ch == '%' ? std::string("%25") : std::string(1, ch);
    return out;
  }
  // A complete request (the server closes after its answer).
  std::string get_once(const std::string& target, const std::string& headers) {
    return get(target, headers + "Connection: close\r\n");
  }
  static std::uint64_t position(const std::string& id) {
    return std::stoull(id.substr(id.rfind(':') + 1));
  }
  std::string event(int n, const std::string& id) {
    return "event: scan.progress\nid: " + id + "\ndata: {\"n\":" + std::to_string(n) + "}\n\n";
  }
  // Connects and reads the head and the padding; the stream-open event is left in the buffer.
  std::unique_ptr<conn> connect(const std::string& target, const std::string& headers) {
    auto c = std::make_unique<conn>(gw->public_port());
    c->send(get(target, headers));
    auto got = c->read_until(std::string(sse::padding_comment()));
    EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got.substr(0, 300);
    c->buf.erase(0, got.find("\r\n\r\n") + 4 + sse::padding_comment().size());
    return c;
  }
  std::string open_event(const std::string& id) {
    return "event: stream-open\nid: " + id + "\ndata:\n\n";
  }
};

TEST_F(replay_gateway_test, a_fresh_stream_starts_from_now_with_ids_and_the_ack_carries_the_id) {
  start_reliable();
  const std::string first = publish_n(1, scan);  // before the stream: not replayed
  EXPECT_EQ(first.rfind(quoted(scan) + ":", 0), 0u) << first;
  auto c = connect(stream_path(scan), auth());
  EXPECT_EQ(c->next_block(), open_event(first));
  const std::string second = publish_n(2, scan);
  EXPECT_EQ(position(second), position(first) + 1);
  EXPECT_EQ(c->next_block(), event(2, second));
}

TEST_F(replay_gateway_test, resume_replays_what_was_missed_once_in_order_then_live) {
  start_reliable();
  std::vector<std::string> ids;
  ids.reserve(5);
  for (int i = 0; i < 5; ++i) ids.push_back(publish_n(i, scan));
  // Header form: after event 1, events 2..4 are replayed, then a live one follows with no gap.
  auto c = connect(stream_path(scan), auth() + "Last-Event-ID: " + ids[1] + "\r\n");
  EXPECT_EQ(c->next_block(), open_event(ids[1]));
  for (int i = 2; i < 5; ++i) EXPECT_EQ(c->next_block(), event(i, ids[i]));
  const std::string live = publish_n(5, scan);
  EXPECT_EQ(c->next_block(), event(5, live));
  // Query form (the bundled ReconnectingEventSource, encodeURIComponent): the last non-empty
  // lastEventId wins.
  auto q = connect(stream_path(scan) + "?lastEventId=" + query_encoded(ids[0]) +
                       "&lastEventId=" + query_encoded(ids[3]) + "&lastEventId=",
                   auth());
  EXPECT_EQ(q->next_block(), open_event(ids[3]));
  EXPECT_EQ(q->next_block(), event(4, ids[4]));
  EXPECT_EQ(q->next_block(), event(5, live));
  // The header wins over the query parameter.
  auto h = connect(stream_path(scan) + "?lastEventId=" + query_encoded(ids[0]),
                   auth() + "Last-Event-ID: " + ids[4] + "\r\n");
  EXPECT_EQ(h->next_block(), open_event(ids[4]));
  EXPECT_EQ(h->next_block(), event(5, live));
}

TEST_F(replay_gateway_test, a_position_no_longer_kept_gets_stream_reset_then_live) {
  start_reliable("max_events = 3\n");
  std::vector<std::string> ids;
  ids.reserve(6);
  for (int i = 0; i < 6; ++i) ids.push_back(publish_n(i, scan));
  auto c = connect(stream_path(scan), auth() + "Last-Event-ID: " + ids[0] + "\r\n");
  EXPECT_EQ(c->next_block(), open_event(ids[0]));
  // django-eventstream's bytes: the id is the new position (the head), the data names the channel.
  EXPECT_EQ(c->next_block(), "event: stream-reset\nid: " + ids[5] +
                                 "\ndata: {\"channels\": [\"scan-progress:" + tenant + ":" + scan +
                                 "\"]}\n\n");
  const std::string live = publish_n(6, scan);
  EXPECT_EQ(c->next_block(), event(6, live));
  // A position ahead of anything published is no position either.
  auto ahead = connect(stream_path(scan), auth() + "Last-Event-ID: " + quoted(scan) + ":" +
                                              std::to_string(position(live) + 100) + "\r\n");
  EXPECT_EQ(ahead->next_block(),
            open_event(quoted(scan) + ":" + std::to_string(position(live) + 100)));
  EXPECT_EQ(ahead->next_block(), "event: stream-reset\nid: " + live +
                                     "\ndata: {\"channels\": [\"scan-progress:" + tenant + ":" +
                                     scan + "\"]}\n\n");
}

TEST_F(replay_gateway_test, an_unparseable_id_gets_django_eventstreams_stream_error) {
  start_reliable();
  const std::string error_bytes =
      "event: stream-error\nid: error\ndata: {\"condition\": \"bad-request\", \"text\": \"Invalid "
      "request: Failed to parse Last-Event-ID or lastEventId.\"}\n\n";
  for (const std::string& bad : {std::string("garbage"), std::string("a:b:c"),
                                 quoted(scan) + ":abc", std::string("x:1,,y:2")}) {
    auto r = request(gw->public_port(),
                     get_once(stream_path(scan), auth() + "Last-Event-ID: " + bad + "\r\n"));
    EXPECT_EQ(r.status, 200u) << bad;
    EXPECT_NE(r.head.find("Content-Type: text/event-stream"), std::string::npos) << r.head;
    EXPECT_EQ(r.body, error_bytes) << bad;
  }
  auto q = request(gw->public_port(), get_once(stream_path(scan) + "?lastEventId=nope", auth()));
  EXPECT_EQ(q.body, error_bytes);
  // After a stream-error (id: error), resuming is refused, in the header or the query.
  auto e = request(gw->public_port(), get_once(stream_path(scan) + "?lastEventId=error", auth()));
  EXPECT_EQ(e.status, 400u) << e.body;
}

TEST_F(replay_gateway_test, replay_reads_pass_the_tenant_gate) {
  start_reliable();
  std::string other_scan = random_uuid();
  ASSERT_TRUE(gw->sqlite()->add_scan(other_scan, foreign, "o", "executing"));
  const std::string foreign_channel = "scan-progress:" + foreign + ":" + other_scan;
  auto r = publish("{\"channel\":\"" + foreign_channel +
                   "\",\"event\":\"scan.progress\",\"data\":{\"secret\":1}}");
  ASSERT_EQ(r.status, 200u);
  const std::string foreign_id =
      std::string(boost::json::parse(r.body).at("ids").as_array().at(0).as_string());
  // Another tenant's stream is refused before anything is read.
  auto refused =
      request(gw->public_port(),
              get_once(stream_path(other_scan), auth() + "Last-Event-ID: " + foreign_id + "\r\n"));
  EXPECT_EQ(refused.status, 404u) << refused.body;
  // A position of another tenant's channel in the id is ignored: nothing of it is read.
  const std::string mine = publish_n(1, scan);
  const std::string before = quoted(scan) + ":" + std::to_string(position(mine) - 1);
  auto c =
      connect(stream_path(scan), auth() + "Last-Event-ID: " + foreign_id + "," + before + "\r\n");
  EXPECT_EQ(c->next_block(), open_event(before));
  EXPECT_EQ(c->next_block(), event(1, mine));
  const std::string live = publish_n(2, scan);
  EXPECT_EQ(c->next_block(), event(2, live));
  EXPECT_EQ(c->buf.find("secret"), std::string::npos);
}

// The seam: events published while a stream resumes (some before its subscription, some while
// its log read is under way, some after) reach it each exactly once, in order, ids consecutive.
TEST_F(replay_gateway_test, events_published_during_a_resume_are_neither_lost_nor_repeated) {
  start_reliable();
  const std::string start_id = publish_n(0, scan);
  constexpr int total = 400;
  std::atomic<int> published{0};
  std::thread publisher([&] {
    for (int i = 1; i <= total; ++i) {
      publish_n(i, scan);
      published.store(i);
    }
  });
  // Each stream connects while the publisher is at a different point (its first ones at once).
  std::vector<std::unique_ptr<conn>> streams;
  for (int k = 0; k < 4; ++k) {
    EXPECT_TRUE(eventually([&] { return published.load() >= k * 80; }, 30s));
    streams.push_back(connect(stream_path(scan), auth() + "Last-Event-ID: " + start_id + "\r\n"));
  }
  publisher.join();
  for (auto& c : streams) {
    EXPECT_EQ(c->next_block(), open_event(start_id));
    for (int i = 1; i <= total; ++i) {
      const std::string id = quoted(scan) + ":" + std::to_string(position(start_id) + i);
      ASSERT_EQ(c->next_block(), event(i, id));
    }
  }
}

// Herald numbers a reliable channel's events itself: a publisher's own id is refused, not dropped.
TEST_F(replay_gateway_test, a_publisher_may_not_set_the_id_of_a_reliable_channels_event) {
  start_reliable();
  auto r = publish("{\"channel\":\"" + channel(scan) +
                   "\",\"event\":\"scan.progress\",\"data\":{\"n\":1},\"id\":\"7\"}");
  EXPECT_EQ(r.status, 422u) << r.body;
  EXPECT_NE(r.body.find("leave id out"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace herald::app

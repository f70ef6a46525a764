#include "config/config_loader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sse/event_type.hpp"

namespace herald::config {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// Fake PEM text: the loader checks the armour, the token verifier parses the key.
constexpr const char* kPublicPem =
    "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
    "-----END PUBLIC KEY-----\n";
constexpr const char* kPrivatePem =
    "-----BEGIN PRIVATE "
    "KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n"
    "-----END PRIVATE KEY-----\n";
constexpr const char* kHsSecret = "0123456789abcdef0123456789abcdef-hs256";

constexpr const char* kScanEndpoint = R"(
[[endpoints]]
path = "/api/v1/scans/{scan_pk:uuid}/event-stream"
channels = ["scan-progress:{tenant_id}:{scan_pk}"]
lookup = "SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id"
)";

class config_loader_test : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : kEnvVars) unsetenv(v);
    char tmpl[] = "/tmp/herald-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "keys");
    write("keys/public.pem", kPublicPem);
    write("keys/private.pem", kPrivatePem);
  }
  void TearDown() override {
    for (const char* v : kEnvVars) unsetenv(v);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void write(const std::string& rel, const std::string& text) {
    std::ofstream(dir_ / rel, std::ios::binary) << text;
  }

  // The smallest valid config: a verification key.
  static std::string with_key(const std::string& rest) {
    return "[auth]\nverify_key_file = \"keys/public.pem\"\n" + rest;
  }

  result<gateway_config> load(const std::string& toml, bool require_endpoints = false) {
    return load_config_string(toml, dir_.string(), require_endpoints, "test.toml");
  }

  gateway_config ok(const std::string& toml) {
    auto r = load(toml);
    EXPECT_TRUE(r) << (r ? "" : r.err().message);
    return r ? *r : gateway_config{};
  }

  std::string fails(const std::string& toml, bool require_endpoints = false) {
    auto r = load(toml, require_endpoints);
    EXPECT_FALSE(r) << "expected a refusal for:\n" << toml;
    if (r) return "";
    EXPECT_EQ(r.err().code, errc::invalid_config);
    return r.err().message;
  }

  static constexpr const char* kEnvVars[] = {"VALKEY_HOST",
                                             "VALKEY_PORT",
                                             "VALKEY_USERNAME",
                                             "VALKEY_PASSWORD",
                                             "VALKEY_SCHEME",
                                             "HERALD_TEST_PUBLISHER_KEY",
                                             "HERALD_TEST_SECRET",
                                             "HERALD_TEST_BUS_PASSWORD",
                                             "HERALD_PUBLISHER_KEY",
                                             "HERALD_JWT_VERIFY_KEY",
                                             "POSTGRES_HOST",
                                             "POSTGRES_PORT",
                                             "POSTGRES_DB",
                                             "POSTGRES_USER",
                                             "POSTGRES_PASSWORD",
                                             "POSTGRES_ADMIN_USER",
                                             "POSTGRES_ADMIN_PASSWORD",
                                             "DJANGO_TOKEN_VERIFYING_KEY",
                                             "DJANGO_SECRETS_ENCRYPTION_KEY",
                                             "DJANGO_JWT_AUDIENCE",
                                             "DJANGO_JWT_ISSUER"};
  fs::path dir_;
};

TEST_F(config_loader_test, DefaultsMatchConfigHpp) {
  gateway_config c = ok(with_key(""));
  gateway_config d;
  EXPECT_EQ(c.server.listen.address, "127.0.0.1");
  EXPECT_EQ(c.server.listen.port, 8080);
  EXPECT_EQ(c.server.http.threads, d.server.http.threads);
  EXPECT_EQ(c.server.http.keepalive, std::chrono::seconds(20));
  EXPECT_EQ(c.server.http.max_header_bytes, d.server.http.max_header_bytes);
  EXPECT_EQ(c.server.http.header_timeout, d.server.http.header_timeout);
  EXPECT_EQ(c.server.http.max_connections, d.server.http.max_connections);
  EXPECT_EQ(c.server.http.queue_max_events, d.server.http.queue_max_events);
  EXPECT_EQ(c.server.http.queue_max_bytes, d.server.http.queue_max_bytes);
  EXPECT_EQ(c.server.shutdown_deadline_ms, d.server.shutdown_deadline_ms);
  EXPECT_EQ(c.server.retry_base_ms, d.server.retry_base_ms);
  EXPECT_EQ(c.server.retry_jitter_ms, d.server.retry_jitter_ms);
  EXPECT_EQ(c.internal.listen.address, "127.0.0.1");
  EXPECT_EQ(c.internal.listen.port, 8081);
  EXPECT_EQ(c.internal.publisher_key, "");
  EXPECT_EQ(c.internal.http.max_body_bytes, d.internal.http.max_body_bytes);
  EXPECT_EQ(c.internal.max_batch_events, d.internal.max_batch_events);
  EXPECT_TRUE(c.cors.allow_origins.empty());
  EXPECT_TRUE(c.cors.allow_credentials);
  EXPECT_EQ(c.cors.allow_headers, "Cache-Control, Last-Event-ID");
  EXPECT_EQ(c.cors.max_age_seconds, d.cors.max_age_seconds);
  EXPECT_EQ(c.auth.jwt.algorithm, auth::jwt_algorithm::rs256);
  EXPECT_EQ(c.auth.jwt.verify_key, kPublicPem);
  EXPECT_EQ(c.auth.jwt.signing_key, "");
  EXPECT_EQ(c.auth.jwt.leeway_seconds, 0);
  EXPECT_EQ(c.auth.jwt.user_claim, "sub");
  EXPECT_EQ(c.auth.jwt.tenant_claim, "tenant_id");
  EXPECT_EQ(c.auth.jwt.cache_entries, d.auth.jwt.cache_entries);
  EXPECT_TRUE(c.auth.api_keys_enabled);
  EXPECT_TRUE(c.auth.check_user_active);
  EXPECT_EQ(c.store.driver, "sqlite");
  EXPECT_EQ(c.store.path, (dir_ / "herald.db").string());  // relative to the config dir
  EXPECT_EQ(c.store.pool_threads, d.store.pool_threads);
  EXPECT_EQ(c.bus.kind, bus::bus_kind::local);
  EXPECT_EQ(c.bus.mode, bus::bus_mode::native);
  EXPECT_EQ(c.bus.host, "127.0.0.1");
  EXPECT_EQ(c.bus.port, 6379);
  EXPECT_EQ(c.events.verbs, sse::default_verbs());
  EXPECT_EQ(c.events.max_data_bytes, d.events.max_data_bytes);
  EXPECT_EQ(c.tenancy.recheck_interval_seconds, 60u);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_TRUE(c.endpoints.empty());
  EXPECT_EQ(c.base_dir, dir_.string());
}

TEST_F(config_loader_test, MissingVerifyKeyIsAnError) {
  EXPECT_THAT(fails(""), HasSubstr("no JWT verification key"));
  EXPECT_THAT(fails("[auth]\nalgorithm = \"ES256\"\n"), HasSubstr("no JWT verification key"));
  EXPECT_THAT(fails("[auth]\nalgorithm = \"HS256\"\n"), HasSubstr("no secret is configured"));
}

TEST_F(config_loader_test, ReadsEverySection) {
  setenv("HERALD_TEST_BUS_PASSWORD", "bus-pw", 1);
  gateway_config c = ok(R"(
[server]
listen = "0.0.0.0:9000"
threads = 3
keepalive_seconds = 5
max_header_bytes = 4096
header_timeout_ms = 2500
max_connections = 100
queue_max_events = 16
queue_max_bytes = 65536
shutdown_deadline_ms = 1500
retry_base_ms = 100
retry_jitter_ms = 50

[internal]
listen = "[::1]:9001"
publisher_key = "0123456789abcdef-publisher"
max_body_bytes = 2048
max_batch_events = 10

[cors]
allow_origins = ["https://App.Example.com", "http://localhost:3000", "https://app.example.com"]
allow_credentials = false
allow_headers = ["Cache-Control", "Last-Event-ID", "X-Requested-With"]
max_age_seconds = 60

[auth]
algorithm = "EdDSA"
verify_key_file = "keys/public.pem"
signing_key_file = "keys/private.pem"
audience = "herald"
issuer = "https://auth.example.com"
leeway_seconds = 30
user_claim = "uid"
tenant_claim = "tid"
required_type = "access"
cache_entries = 0
api_keys = false
check_user_active = false

[store]
driver = "sqlite"
path = "data/herald.db"
pool_threads = 4

[bus]
kind = "redis"
mode = "native"
host = "valkey"
port = 6380
username = "herald"
password_env = "HERALD_TEST_BUS_PASSWORD"
scheme = "redis"
prefix = "hx:"
compat_channel = "my_events"
cluster = true
cluster_nodes = ["valkey-0:6379", "10.0.0.2:6379", "[fd00::1]:6379"]
reconnect_min_ms = 50
reconnect_max_ms = 1000
max_pending_publishes = 99
connect_timeout_ms = 250
command_timeout_ms = 400
max_message_bytes = 4096

[events]
extra_verbs = ["retried", "paused"]
max_data_bytes = 1024

[tenancy]
recheck_interval_seconds = 0

[log]
level = "debug"
)" + std::string(kScanEndpoint));
  EXPECT_EQ(c.server.listen.address, "0.0.0.0");
  EXPECT_EQ(c.server.listen.port, 9000);
  EXPECT_EQ(c.server.http.threads, 3u);
  EXPECT_EQ(c.server.http.keepalive, std::chrono::seconds(5));
  EXPECT_EQ(c.server.http.max_header_bytes, 4096u);
  EXPECT_EQ(c.server.http.header_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(c.server.http.max_connections, 100u);
  EXPECT_EQ(c.server.http.queue_max_events, 16u);
  EXPECT_EQ(c.server.http.queue_max_bytes, 65536u);
  EXPECT_EQ(c.server.shutdown_deadline_ms, 1500u);
  EXPECT_EQ(c.server.retry_base_ms, 100u);
  EXPECT_EQ(c.server.retry_jitter_ms, 50u);
  EXPECT_EQ(c.internal.listen.address, "::1");
  EXPECT_EQ(c.internal.listen.port, 9001);
  EXPECT_EQ(c.internal.publisher_key, "0123456789abcdef-publisher");
  EXPECT_EQ(c.internal.http.max_body_bytes, 2048u);
  EXPECT_EQ(c.internal.max_batch_events, 10u);
  EXPECT_EQ(c.cors.allow_origins,
            (std::vector<std::string>{"https://app.example.com", "http://localhost:3000"}));
  EXPECT_FALSE(c.cors.allow_credentials);
  EXPECT_EQ(c.cors.allow_headers, "Cache-Control, Last-Event-ID, X-Requested-With");
  EXPECT_EQ(c.cors.max_age_seconds, 60u);
  EXPECT_EQ(c.auth.jwt.algorithm, auth::jwt_algorithm::eddsa);
  EXPECT_EQ(c.auth.jwt.verify_key, kPublicPem);
  EXPECT_EQ(c.auth.jwt.signing_key, kPrivatePem);
  EXPECT_EQ(c.auth.jwt.audience, "herald");
  EXPECT_EQ(c.auth.jwt.issuer, "https://auth.example.com");
  EXPECT_EQ(c.auth.jwt.leeway_seconds, 30);
  EXPECT_EQ(c.auth.jwt.user_claim, "uid");
  EXPECT_EQ(c.auth.jwt.tenant_claim, "tid");
  EXPECT_EQ(c.auth.jwt.required_type, "access");
  EXPECT_EQ(c.auth.jwt.cache_entries, 0u);
  EXPECT_FALSE(c.auth.api_keys_enabled);
  EXPECT_FALSE(c.auth.check_user_active);
  EXPECT_EQ(c.store.path, (dir_ / "data/herald.db").string());
  EXPECT_EQ(c.store.pool_threads, 4u);
  EXPECT_EQ(c.bus.kind, bus::bus_kind::redis);
  EXPECT_EQ(c.bus.mode, bus::bus_mode::native);
  EXPECT_EQ(c.bus.host, "valkey");
  EXPECT_EQ(c.bus.port, 6380);
  EXPECT_EQ(c.bus.username, "herald");
  EXPECT_EQ(c.bus.password, "bus-pw");
  EXPECT_EQ(c.bus.prefix, "hx:");
  EXPECT_EQ(c.bus.compat_channel, "my_events");
  EXPECT_TRUE(c.bus.cluster);
  EXPECT_EQ(c.bus.cluster_nodes.size(), 3u);
  EXPECT_EQ(c.bus.reconnect_min_ms, 50u);
  EXPECT_EQ(c.bus.reconnect_max_ms, 1000u);
  EXPECT_EQ(c.bus.max_pending_publishes, 99u);
  EXPECT_EQ(c.bus.connect_timeout_ms, 250u);
  EXPECT_EQ(c.bus.command_timeout_ms, 400u);
  EXPECT_EQ(c.bus.max_message_bytes, 4096u);
  EXPECT_TRUE(c.events.verbs.contains("retried"));
  EXPECT_TRUE(c.events.verbs.contains("paused"));
  EXPECT_TRUE(c.events.verbs.contains("progress"));
  EXPECT_EQ(c.events.verbs.size(), sse::default_verbs().size() + 2);
  EXPECT_EQ(c.events.max_data_bytes, 1024u);
  EXPECT_EQ(c.tenancy.recheck_interval_seconds, 0u);
  EXPECT_EQ(c.log.level, "debug");
  ASSERT_EQ(c.endpoints.size(), 1u);
}

TEST_F(config_loader_test, TheProwlerGuidesScanEndpoint) {
  gateway_config c = ok(with_key(kScanEndpoint));
  ASSERT_EQ(c.endpoints.size(), 1u);
  const route::endpoint_config& e = c.endpoints[0];
  EXPECT_EQ(e.path, "/api/v1/scans/{scan_pk:uuid}/event-stream");
  ASSERT_EQ(e.params.size(), 1u);
  EXPECT_EQ(e.params[0].name, "scan_pk");
  EXPECT_EQ(e.params[0].type, route::param_type::uuid);
  EXPECT_EQ(e.segments.size(), 5u);
  EXPECT_EQ(e.channels, (std::vector<std::string>{"scan-progress:{tenant_id}:{scan_pk}"}));
  EXPECT_EQ(e.lookup, "SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id");
  EXPECT_TRUE(validate_for_serve(c));
}

TEST_F(config_loader_test, RefusesTheSameLookupWithoutTheTenantBinding) {
  std::string msg = fails(with_key(R"(
[[endpoints]]
path = "/api/v1/scans/{scan_pk:uuid}/event-stream"
channels = ["scan-progress:{tenant_id}:{scan_pk}"]
lookup = "SELECT 1 FROM scans WHERE id = :scan_pk"
)"));
  EXPECT_THAT(
      msg, HasSubstr("test.toml:7:10: endpoints[0] (/api/v1/scans/{scan_pk:uuid}/event-stream)"));
  EXPECT_THAT(msg, HasSubstr("must bind the caller's tenant with :tenant_id"));
}

TEST_F(config_loader_test, EndpointRefusals) {
  EXPECT_THAT(fails(with_key("[endpoints]\npath = \"/x\"\n")),
              HasSubstr("endpoints must be an array of tables"));
  EXPECT_THAT(fails(with_key("[[endpoints]]\nchannels = [\"a:{tenant_id}:b\"]\n")),
              HasSubstr("endpoints[0] needs a path"));
  EXPECT_THAT(fails(with_key("[[endpoints]]\npath = \"/x\"\n")), HasSubstr("needs channels"));
  EXPECT_THAT(fails(with_key("[[endpoints]]\npath = \"/x\"\nchannels = []\n")),
              HasSubstr("at least one channel"));
  EXPECT_THAT(
      fails(with_key(
          "[[endpoints]]\npath = \"/x\"\nchannels = [\"a:{tenant_id}:b\"]\nlokup = \"\"\n")),
      HasSubstr("unknown key 'endpoints[0].lokup'"));
  EXPECT_THAT(
      fails(with_key("[[endpoints]]\npath = \"/x/{id:int}\"\nchannels = [\"a:{tenant_id}:b\"]\n")),
      HasSubstr("unknown type 'int'"));
  EXPECT_THAT(
      fails(with_key("[[endpoints]]\npath = \"/x/{id}\"\nchannels = [\"a:{tenant_id}:{scan}\"]\n")),
      HasSubstr("references {scan}, which is not a parameter"));
  EXPECT_THAT(
      fails(with_key(
          "[[endpoints]]\npath = \"/x\"\nchannels = [\"a:{tenant_id}:b\", \"a:{tenant_id}:b\"]\n")),
      HasSubstr("listed twice"));
  std::string dup = fails(with_key(R"(
[[endpoints]]
path = "/scans/{scan_pk:uuid}"
channels = ["a:{tenant_id}:{scan_pk}"]
[[endpoints]]
path = "/scans/{id}"
channels = ["a:{tenant_id}:{id}"]
)"));
  EXPECT_THAT(
      dup, HasSubstr(
               "endpoints[1]: path '/scans/{id}' duplicates the endpoint '/scans/{scan_pk:uuid}'"));
}

TEST_F(config_loader_test, EndpointsAreOptionalUnlessServing) {
  EXPECT_TRUE(load(with_key("")));
  EXPECT_THAT(fails(with_key(""), /*require_endpoints=*/true), HasSubstr("no stream endpoints"));
  EXPECT_TRUE(load(with_key(kScanEndpoint), true));
  gateway_config c = ok(with_key(""));
  EXPECT_FALSE(validate_for_serve(c));
}

TEST_F(config_loader_test, UnknownKeysAndSectionsAreNamed) {
  EXPECT_THAT(fails(with_key("[server]\nlisten = \"127.0.0.1:8080\"\nthread = 4\n")),
              HasSubstr("test.toml:5:1: unknown key 'server.thread'"));
  EXPECT_THAT(fails(with_key("[sever]\nthreads = 4\n")), HasSubstr("unknown section 'sever'"));
  EXPECT_THAT(fails(with_key("verbose = true\n")), HasSubstr("unknown key 'auth.verbose'"));
  EXPECT_THAT(fails("top = 1\n" + with_key("")), HasSubstr("test.toml:1:1: unknown section 'top'"));
  EXPECT_THAT(fails(with_key("[bus]\nhots = \"x\"\n")), HasSubstr("unknown key 'bus.hots'"));
  EXPECT_THAT(fails(with_key("[cors]\nallow_origin = []\n")),
              HasSubstr("unknown key 'cors.allow_origin'"));
  EXPECT_THAT(fails(with_key("[events]\nverbs = []\n")), HasSubstr("unknown key 'events.verbs'"));
  EXPECT_THAT(fails(with_key("[tenancy]\nrecheck = 1\n")),
              HasSubstr("unknown key 'tenancy.recheck'"));
  EXPECT_THAT(fails(with_key("[log]\nlvl = \"x\"\n")), HasSubstr("unknown key 'log.lvl'"));
  // [demo] page_dir was accepted but never served; the section is gone (the demo serves its page
  // from memory).
  EXPECT_THAT(fails(with_key("[demo]\npage_dir = \"x\"\n")), HasSubstr("unknown section 'demo'"));
  EXPECT_THAT(fails(with_key("[store]\nfile = \"x\"\n")), HasSubstr("unknown key 'store.file'"));
  EXPECT_THAT(fails(with_key("[internal]\nkey = \"x\"\n")),
              HasSubstr("unknown key 'internal.key'"));
}

TEST_F(config_loader_test, TypeAndRangeErrors) {
  EXPECT_THAT(fails(with_key("[server]\nthreads = \"4\"\n")),
              HasSubstr("test.toml:4:11: server.threads must be an integer, not a string"));
  EXPECT_THAT(fails(with_key("[server]\nthreads = 5000\n")),
              HasSubstr("server.threads must be between 0 and 1024 (got 5000)"));
  EXPECT_THAT(fails(with_key("[server]\nkeepalive_seconds = 0\n")),
              HasSubstr("server.keepalive_seconds"));
  EXPECT_THAT(fails(with_key("[server]\nqueue_max_bytes = -1\n")),
              HasSubstr("server.queue_max_bytes"));
  EXPECT_THAT(fails(with_key("[server]\nthreads = 1.5\n")),
              HasSubstr("must be an integer, not a float"));
  EXPECT_THAT(fails(with_key("[cors]\nallow_credentials = \"yes\"\n")),
              HasSubstr("cors.allow_credentials must be a boolean"));
  EXPECT_THAT(fails(with_key("[cors]\nallow_origins = \"https://a.com\"\n")),
              HasSubstr("cors.allow_origins must be an array of strings"));
  EXPECT_THAT(fails(with_key("[cors]\nallow_origins = [1]\n")),
              HasSubstr("cors.allow_origins must be an array of strings, not an integer"));
  EXPECT_THAT(fails("server = 1\n" + with_key("")), HasSubstr("'server' must be a table"));
  EXPECT_THAT(fails(with_key("[log]\nlevel = \"verbose\"\n")), HasSubstr("log.level 'verbose'"));
  EXPECT_THAT(fails(with_key("[store]\npool_threads = 0\n")), HasSubstr("store.pool_threads"));
  EXPECT_THAT(fails(with_key("[store]\npath = \"\"\n")), HasSubstr("store.path must not be empty"));
}

TEST_F(config_loader_test, Http2Keys) {
  auto c =
      ok(with_key("[server]\nhttp2 = false\nh2c = false\nhttp2_max_concurrent_streams = 20\n"
                  "http2_stream_window_bytes = 1000\nhttp2_connection_window_bytes = 100000\n"
                  "http2_output_buffer_bytes = 32768\n"));
  const auto& h2 = c.server.http.http2;
  EXPECT_FALSE(h2.enabled);
  EXPECT_FALSE(h2.cleartext);
  EXPECT_EQ(h2.max_concurrent_streams, 20u);
  EXPECT_EQ(h2.stream_window_bytes, 1000u);
  EXPECT_EQ(h2.connection_window_bytes, 100000u);
  EXPECT_EQ(h2.output_buffer_bytes, 32768u);
  EXPECT_TRUE(h2.validate());
  auto d = ok(with_key(""));
  EXPECT_TRUE(d.server.http.http2.enabled);
  EXPECT_TRUE(d.server.http.http2.h2c());
  EXPECT_THAT(fails(with_key("[server]\nhttp2_max_concurrent_streams = 0\n")),
              HasSubstr("server.http2_max_concurrent_streams must be between 1 and"));
  EXPECT_THAT(fails(with_key("[server]\nhttp2_connection_window_bytes = 100\n")),
              HasSubstr("server.http2_connection_window_bytes must be between 65535 and"));
  EXPECT_THAT(fails(with_key("[server]\nhttp2_output_buffer_bytes = 1024\n")),
              HasSubstr("server.http2_output_buffer_bytes"));
}

TEST_F(config_loader_test, ReloadRefusesWhatIsFixedWhileRunning) {
  const auto running = ok(with_key(kScanEndpoint));
  // Keys, endpoints, CORS, limits and certificates may change.
  auto next =
      ok(with_key("[server]\nqueue_max_events = 7\nkeepalive_seconds = 5\nhttp2 = false\n"
                  "[cors]\nallow_origins = [\"https://app.example\"]\n"
                  "[events]\nmax_data_bytes = 100\n"));
  EXPECT_TRUE(reload_refusal(running, next));
  // Listeners, threads, the store and the bus may not: every such key is named.
  auto fixed =
      ok(with_key("[server]\nlisten = \"127.0.0.1:9090\"\nthreads = 3\n"
                  "[internal]\nlisten = \"127.0.0.1:9091\"\n"
                  "[bus]\nkind = \"redis\"\n"));
  auto r = reload_refusal(running, fixed);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.err().message,
              HasSubstr("server.listen, server.threads, internal.listen, bus.kind: cannot change "
                        "on reload"));
  EXPECT_THAT(r.err().message, HasSubstr("restart Herald"));
}

// Reliable channels (docs/reconnects.md): an endpoint's `reliable = true` makes its channels'
// prefixes reliable, next to [replay] channels; the [replay] keys are fixed while Herald runs.
TEST_F(config_loader_test, ReliableEndpointsAndReplayOptions) {
  const auto plain = ok(with_key(kScanEndpoint));
  EXPECT_TRUE(plain.bus.replay.channels.empty());
  EXPECT_EQ(plain.bus.replay.max_events, 1000u);
  EXPECT_EQ(plain.bus.replay.max_age_seconds, 3600u);
  const auto reliable =
      ok(with_key(std::string(kScanEndpoint) + "reliable = true\n[replay]\nchannels = [\"llm\"]\n"
                                               "max_events = 50\nmax_age_seconds = 60\n"));
  EXPECT_EQ(reliable.bus.replay.channels, (std::vector<std::string>{"llm", "scan-progress"}));
  EXPECT_EQ(reliable.bus.replay.max_events, 50u);
  ASSERT_EQ(reliable.endpoints.size(), 1u);
  EXPECT_TRUE(reliable.endpoints[0].reliable);
  // Listed twice (by the endpoint and in [replay]): once.
  const auto both = ok(with_key(std::string(kScanEndpoint) +
                                "reliable = true\n[replay]\nchannels = [\"scan-progress\"]\n"));
  EXPECT_EQ(both.bus.replay.channels, (std::vector<std::string>{"scan-progress"}));

  EXPECT_THAT(fails(with_key(std::string(kScanEndpoint) + "reliable = \"yes\"\n")),
              HasSubstr("reliable"));
  EXPECT_THAT(fails(with_key("[replay]\nchannels = [\"a:b\"]\n")),
              HasSubstr("'a:b' is not a channel prefix"));
  EXPECT_THAT(fails(with_key("[replay]\nmax_events = 0\n")), HasSubstr("replay.max_events"));
  // django-eventstream's send_event numbers events in its own storage: no reliable channels in
  // compat mode.
  EXPECT_THAT(fails(with_key(std::string("[bus]\nkind = \"redis\"\nmode = \"compat\"\n") +
                             kScanEndpoint + "reliable = true\n")),
              HasSubstr("replay.channels needs bus.mode = \"native\""));
  // A reload may not make a channel reliable (the bus keeps its logs from the start).
  auto r = reload_refusal(plain, reliable);
  ASSERT_FALSE(r);
  EXPECT_THAT(
      r.err().message,
      HasSubstr("replay.channels, replay.max_events, replay.max_age_seconds: cannot change"));
  EXPECT_TRUE(reload_refusal(reliable, reliable));
}

TEST_F(config_loader_test, TomlSyntaxErrorsCarryFileLineColumn) {
  std::string msg = fails("[server]\nthreads = = 4\n");
  EXPECT_THAT(msg, HasSubstr("test.toml:2:"));
}

// The address grammar is net/'s (net_options_test); here, how the loader reports it.
TEST_F(config_loader_test, ListenAddresses) {
  gateway_config c = ok(with_key("[server]\nlisten = \"[::1]:8080\"\n"));
  EXPECT_EQ(c.server.listen.address, "::1");
  EXPECT_EQ(c.server.listen.port, 8080);
  EXPECT_THAT(fails(with_key("[server]\nlisten = \"localhost:8080\"\n")),
              HasSubstr("test.toml:4:10: server.listen 'localhost:8080' must use an IP address"));
}

TEST_F(config_loader_test, InternalListenerMustDifferFromPublic) {
  EXPECT_THAT(fails(with_key("[internal]\nlisten = \"127.0.0.1:8080\"\n")),
              HasSubstr("internal.listen (127.0.0.1:8080) must differ from server.listen"));
  EXPECT_THAT(
      fails(with_key(
          "[server]\nlisten = \"0.0.0.0:9000\"\n[internal]\nlisten = \"127.0.0.1:9000\"\n")),
      HasSubstr("must differ"));
  EXPECT_TRUE(load(with_key(
      "[server]\nlisten = \"127.0.0.1:9000\"\n[internal]\nlisten = \"127.0.0.2:9000\"\n")));
  // Port 0 (tests): the OS picks two different ports.
  EXPECT_TRUE(
      load(with_key("[server]\nlisten = \"127.0.0.1:0\"\n[internal]\nlisten = \"127.0.0.1:0\"\n")));
}

TEST_F(config_loader_test, PublisherKeySources) {
  EXPECT_EQ(
      ok(with_key("[internal]\npublisher_key = \"0123456789abcdef\"\n")).internal.publisher_key,
      "0123456789abcdef");
  write("publisher.key", "from-a-file-0123456789\n");
  gateway_config f = ok(with_key("[internal]\npublisher_key_file = \"publisher.key\"\n"));
  EXPECT_EQ(f.internal.publisher_key, "from-a-file-0123456789");  // trailing newline trimmed
  setenv("HERALD_TEST_PUBLISHER_KEY", "from-the-environment-123", 1);
  gateway_config e =
      ok(with_key("[internal]\npublisher_key_env = \"HERALD_TEST_PUBLISHER_KEY\"\n"));
  EXPECT_EQ(e.internal.publisher_key, "from-the-environment-123");
  EXPECT_THAT(describe(e),
              HasSubstr("publisher_key = \"[set]\"  # from env HERALD_TEST_PUBLISHER_KEY"));

  EXPECT_THAT(fails(with_key("[internal]\npublisher_key = \"0123456789abcdef\"\n"
                             "publisher_key_env = \"HERALD_TEST_PUBLISHER_KEY\"\n")),
              HasSubstr("give only one of internal.publisher_key, internal.publisher_key_env"));
  unsetenv("HERALD_TEST_PUBLISHER_KEY");
  EXPECT_THAT(fails(with_key("[internal]\npublisher_key_env = \"HERALD_TEST_PUBLISHER_KEY\"\n")),
              HasSubstr("environment variable HERALD_TEST_PUBLISHER_KEY is not set"));
  EXPECT_THAT(fails(with_key("[internal]\npublisher_key_env = \"not a name\"\n")),
              HasSubstr("must name an environment variable"));
  EXPECT_THAT(fails(with_key("[internal]\npublisher_key = \"short\"\n")),
              HasSubstr("at least 16 characters"));
  EXPECT_THAT(
      fails(with_key("[internal]\npublisher_key_file = \"missing.key\"\n")),
      HasSubstr("internal.publisher_key_file: cannot read " + (dir_ / "missing.key").string()));
  write("empty.key", "\n");
  EXPECT_THAT(fails(with_key("[internal]\npublisher_key_file = \"empty.key\"\n")),
              HasSubstr("gives an empty value"));
}

TEST_F(config_loader_test, CorsRules) {
  EXPECT_THAT(fails(with_key("[cors]\nallow_origins = [\"https://app.example.com/\"]\n")),
              HasSubstr("must not have a path"));
  EXPECT_THAT(fails(with_key("[cors]\nallow_origins = [\"https://app.example.com/sse\"]\n")),
              HasSubstr("must not have a path"));
  EXPECT_THAT(fails(with_key("[cors]\nallow_origins = [\"app.example.com\"]\n")),
              HasSubstr("scheme://host[:port]"));
  EXPECT_THAT(fails(with_key("[cors]\nallow_origins = [\"https://a.com:99999\"]\n")),
              HasSubstr("invalid port"));
  EXPECT_THAT(fails(with_key("[cors]\nallow_origins = [\"*\"]\n")),
              HasSubstr("cannot be combined with cors.allow_credentials = true"));
  gateway_config any = ok(with_key("[cors]\nallow_origins = [\"*\"]\nallow_credentials = false\n"));
  EXPECT_EQ(any.cors.allow_origins, (std::vector<std::string>{"*"}));
  gateway_config v6 = ok(with_key("[cors]\nallow_origins = [\"http://[::1]:3000\"]\n"));
  EXPECT_EQ(v6.cors.allow_origins, (std::vector<std::string>{"http://[::1]:3000"}));
  gateway_config hdr =
      ok(with_key("[cors]\nallow_headers = \"Cache-Control,Last-Event-ID , X-Y\"\n"));
  EXPECT_EQ(hdr.cors.allow_headers, "Cache-Control, Last-Event-ID, X-Y");
  EXPECT_THAT(fails(with_key("[cors]\nallow_headers = \"X-A\\r\\nSet-Cookie: a=b\"\n")),
              HasSubstr("is not a valid header name"));
}

TEST_F(config_loader_test, AuthAlgorithmsAndKeys) {
  EXPECT_EQ(ok(with_key("algorithm = \"RS256\"\n")).auth.jwt.algorithm, auth::jwt_algorithm::rs256);
  EXPECT_EQ(ok(with_key("algorithm = \"ES256\"\n")).auth.jwt.algorithm, auth::jwt_algorithm::es256);
  EXPECT_EQ(ok(with_key("algorithm = \"eddsa\"\n")).auth.jwt.algorithm, auth::jwt_algorithm::eddsa);
  EXPECT_THAT(fails(with_key("algorithm = \"none\"\n")),
              HasSubstr("auth.algorithm 'none' is not supported"));
  EXPECT_THAT(fails(with_key("algorithm = \"RS512\"\n")), HasSubstr("is not supported"));
  // Inline PEM.
  gateway_config inl = ok("[auth]\nverify_key = '''\n" + std::string(kPublicPem) + "'''\n");
  EXPECT_EQ(inl.auth.jwt.verify_key, kPublicPem);
  EXPECT_THAT(fails("[auth]\nverify_key = \"abc\"\n"), HasSubstr("is not a PEM key"));
  EXPECT_THAT(fails("[auth]\nverify_key_file = \"keys/private.pem\"\n"),
              HasSubstr("auth.verify_key holds a PRIVATE key"));
  EXPECT_THAT(fails("[auth]\nverify_key_file = \"keys/nope.pem\"\n"),
              HasSubstr("auth.verify_key_file: cannot read " + (dir_ / "keys/nope.pem").string()));
  EXPECT_THAT(fails(with_key("signing_key_file = \"keys/public.pem\"\n")),
              HasSubstr("is not a PEM private key"));
  EXPECT_THAT(fails(with_key("secret = \"x\"\n")), HasSubstr("auth.secret is only for HS256"));
  EXPECT_THAT(fails("[auth]\nverify_key_file = \"keys/public.pem\"\nverify_key = \"x\"\n"),
              HasSubstr("give only one of"));
  EXPECT_THAT(fails(with_key("leeway_seconds = -1\n")), HasSubstr("auth.leeway_seconds"));
  EXPECT_THAT(fails(with_key("user_claim = \"\"\n")),
              HasSubstr("auth.user_claim must not be empty"));
}

// A PEM in an environment variable may hold its newlines as literal "\n" (a .env file, the
// Prowler API's DJANGO_TOKEN_VERIFYING_KEY); real newlines work too.
TEST_F(config_loader_test, VerifyKeyFromTheEnvironment) {
  std::string escaped;
  for (char c : std::string(kPublicPem))
    escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
  setenv("HERALD_TEST_SECRET", escaped.c_str(), 1);
  gateway_config c = ok("[auth]\nverify_key_env = \"HERALD_TEST_SECRET\"\n");
  EXPECT_EQ(c.auth.jwt.verify_key, kPublicPem);
  EXPECT_THAT(describe(c), HasSubstr("verify_key = \"[set]\"  # from env HERALD_TEST_SECRET"));
  setenv("HERALD_TEST_SECRET", kPublicPem, 1);
  EXPECT_EQ(ok("[auth]\nverify_key_env = \"HERALD_TEST_SECRET\"\n").auth.jwt.verify_key,
            kPublicPem);
}

TEST_F(config_loader_test, Hs256Secret) {
  gateway_config c =
      ok("[auth]\nalgorithm = \"HS256\"\nsecret = \"" + std::string(kHsSecret) + "\"\n");
  EXPECT_EQ(c.auth.jwt.algorithm, auth::jwt_algorithm::hs256);
  EXPECT_EQ(c.auth.jwt.verify_key, kHsSecret);
  EXPECT_EQ(c.auth.jwt.signing_key, kHsSecret);
  write("hs.secret", std::string(kHsSecret) + "\n");
  EXPECT_EQ(ok("[auth]\nalgorithm = \"HS256\"\nsecret_file = \"hs.secret\"\n").auth.jwt.verify_key,
            kHsSecret);
  setenv("HERALD_TEST_SECRET", kHsSecret, 1);
  EXPECT_EQ(ok("[auth]\nalgorithm = \"HS256\"\nsecret_env = \"HERALD_TEST_SECRET\"\n")
                .auth.jwt.verify_key,
            kHsSecret);
  EXPECT_THAT(fails("[auth]\nalgorithm = \"HS256\"\nsecret = \"too-short\"\n"),
              HasSubstr("at least 32 bytes"));
  EXPECT_THAT(fails("[auth]\nalgorithm = \"HS256\"\nverify_key_file = \"keys/public.pem\"\n"),
              HasSubstr("with HS256 give secret"));
  EXPECT_THAT(fails("[auth]\nalgorithm = \"HS256\"\nsecret = \"" + std::string(kHsSecret) +
                    "\"\nsigning_key_file = \"keys/private.pem\"\n"),
              HasSubstr("the secret both signs and verifies"));
}

TEST_F(config_loader_test, RelativeKeyPathsResolveAgainstTheConfigFile) {
  // Load from a file in a sub-directory while the working directory is elsewhere.
  fs::create_directories(dir_ / "etc/keys");
  std::ofstream(dir_ / "etc/keys/public.pem") << kPublicPem;
  std::ofstream(dir_ / "etc/herald.toml") << "[auth]\nverify_key_file = \"keys/public.pem\"\n"
                                          << "[store]\npath = \"../var/herald.db\"\n";
  auto r = load_config_file((dir_ / "etc/herald.toml").string());
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->auth.jwt.verify_key, kPublicPem);
  EXPECT_EQ(r->store.path, (dir_ / "var/herald.db").string());
  EXPECT_EQ(r->config_file, (dir_ / "etc/herald.toml").string());
  EXPECT_EQ(r->base_dir, (dir_ / "etc").string());
  // Absolute paths and :memory: are kept.
  gateway_config abs = ok(with_key("[store]\npath = \"/var/lib/herald/h.db\"\n"));
  EXPECT_EQ(abs.store.path, "/var/lib/herald/h.db");
  EXPECT_EQ(ok(with_key("[store]\npath = \":memory:\"\n")).store.path, ":memory:");
  gateway_config absk =
      ok("[auth]\nverify_key_file = \"" + (dir_ / "keys/public.pem").string() + "\"\n");
  EXPECT_EQ(absk.auth.jwt.verify_key, kPublicPem);
}

TEST_F(config_loader_test, FileErrorsNameTheFile) {
  auto missing = load_config_file((dir_ / "nope.toml").string());
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.err().message, HasSubstr("nope.toml: cannot read the config file"));
  std::ofstream(dir_ / "bad.toml") << "[server]\nthreads = 4\nthreads = 5\n";
  auto bad = load_config_file((dir_ / "bad.toml").string());
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.err().message, HasSubstr((dir_ / "bad.toml").string() + ":3:"));
}

TEST_F(config_loader_test, StoreDriver) {
  EXPECT_THAT(fails(with_key("[store]\ndriver = \"mysql\"\n")),
              HasSubstr("store.driver 'mysql' is not supported (use \"sqlite\" or \"postgres\")"));
}

TEST_F(config_loader_test, BusRefusals) {
  EXPECT_THAT(fails(with_key("[bus]\nkind = \"kafka\"\n")),
              HasSubstr("bus.kind 'kafka' is not supported"));
  EXPECT_THAT(fails(with_key("[bus]\nmode = \"fast\"\n")),
              HasSubstr("bus.mode 'fast' is not supported"));
  EXPECT_THAT(fails(with_key("[bus]\nport = 0\n")),
              HasSubstr("bus.port must be between 1 and 65535"));
  EXPECT_THAT(fails(with_key("[bus]\nscheme = \"http\"\n")), HasSubstr("bus.scheme 'http'"));
  EXPECT_THAT(fails(with_key("[bus]\nkind = \"redis\"\nscheme = \"rediss\"\n"
                             "tls_cert_file = \"client.pem\"\n")),
              HasSubstr("bus.tls_cert_file and bus.tls_key_file go together"));
  EXPECT_THAT(fails(with_key("[bus]\ncluster_nodes = [\"valkey-0\"]\n")),
              HasSubstr("must be host:port"));
  EXPECT_THAT(fails(with_key("[bus]\nhost = \"a b\"\n")), HasSubstr("not a host name"));
  EXPECT_THAT(fails(with_key("[bus]\nreconnect_min_ms = 500\nreconnect_max_ms = 100\n")),
              HasSubstr("must not exceed bus.reconnect_max_ms"));
  EXPECT_THAT(fails(with_key("[bus]\npassword = \"a\"\npassword_env = \"B\"\n")),
              HasSubstr("give only one of bus.password, bus.password_env"));
  EXPECT_THAT(fails(with_key("[bus]\ncompat_channel = \"\"\n")), HasSubstr("bus.compat_channel"));
}

// The bus's own rules (bus/bus_options.hpp) run at load, so check-config, serve, publish and token
// all refuse what the bus cannot run.
TEST_F(config_loader_test, BusRulesAcrossKeysRunAtLoad) {
  EXPECT_EQ(ok(with_key("[bus]\nkind = \"redis\"\nmode = \"compat\"\n")).bus.mode,
            bus::bus_mode::compat);
  EXPECT_THAT(fails(with_key("[bus]\nkind = \"redis\"\nmode = \"compat\"\ncluster = true\n")),
              HasSubstr("test.toml:5:8: bus.mode \"compat\" cannot be combined with bus.cluster"));
}

TEST_F(config_loader_test, ClusterSeedsDefaultToHostAndPort) {
  gateway_config c = ok(with_key("[bus]\nkind = \"redis\"\ncluster = true\nhost = \"valkey\"\n"));
  EXPECT_EQ(c.bus.cluster_nodes, (std::vector<std::string>{"valkey:6379"}));
}

TEST_F(config_loader_test, ValkeyEnvironmentOverrides) {
  setenv("VALKEY_HOST", "valkey.internal", 1);
  setenv("VALKEY_PORT", "6390", 1);
  setenv("VALKEY_USERNAME", "svc", 1);
  setenv("VALKEY_PASSWORD", "s3cret-valkey", 1);
  setenv("VALKEY_SCHEME", "redis", 1);
  gateway_config c =
      ok(with_key("[bus]\nkind = \"redis\"\nhost = \"file-host\"\nport = 1234\n"
                  "password = \"file-password\"\n"));
  EXPECT_EQ(c.bus.host, "valkey.internal");
  EXPECT_EQ(c.bus.port, 6390);
  EXPECT_EQ(c.bus.username, "svc");
  EXPECT_EQ(c.bus.password, "s3cret-valkey");
  EXPECT_EQ(c.bus.scheme, "redis");
  std::string d = describe(c);
  EXPECT_THAT(d, HasSubstr("host = \"valkey.internal\"  # from env VALKEY_HOST"));
  EXPECT_THAT(d, HasSubstr("password = \"[set]\"  # from env VALKEY_PASSWORD"));
  EXPECT_THAT(d, Not(HasSubstr("s3cret-valkey")));
  EXPECT_THAT(d, Not(HasSubstr("file-password")));

  // Empty variables count as unset (the Prowler API's settings default them to "").
  setenv("VALKEY_HOST", "", 1);
  EXPECT_EQ(ok(with_key("[bus]\nhost = \"file-host\"\n")).bus.host, "file-host");

  setenv("VALKEY_PORT", "sixty", 1);
  EXPECT_THAT(fails(with_key("")), HasSubstr("VALKEY_PORT='sixty' is not a port number"));
  setenv("VALKEY_PORT", "6379", 1);

  setenv("VALKEY_SCHEME", "rediss", 1);
  EXPECT_EQ(ok(with_key("[bus]\nkind = \"redis\"\n")).bus.scheme, "rediss");
  // With the in-process bus the Valkey settings are unused, so the Prowler API's environment is
  // harmless.
  EXPECT_TRUE(load(with_key("")));
  setenv("VALKEY_SCHEME", "unix", 1);
  EXPECT_THAT(fails(with_key("")), HasSubstr("VALKEY_SCHEME='unix' is not supported"));
}

TEST_F(config_loader_test, PostgresStoreFromTheProwlerApisEnvironment) {
  setenv("POSTGRES_HOST", "postgres-db", 1);
  setenv("POSTGRES_PORT", "5433", 1);
  setenv("POSTGRES_DB", "prowler_db", 1);
  setenv("POSTGRES_USER", "prowler", 1);
  setenv("POSTGRES_PASSWORD", "s3cret-api-pw", 1);
  setenv("POSTGRES_ADMIN_USER", "herald_keys", 1);
  setenv("POSTGRES_ADMIN_PASSWORD", "s3cret-admin-pw", 1);
  gateway_config c =
      ok(with_key("[store]\ndriver = \"postgres\"\npostgres_host = \"file-host\"\n"
                  "postgres_pool_size = 8\npostgres_health_interval_ms = 250\n"
                  "postgres_dsn = \"postgresql://u:dsn-pw@h/db?sslmode=require\"\n"));
  EXPECT_EQ(c.store.driver, "postgres");
  EXPECT_EQ(c.store.postgres.host, "postgres-db");
  EXPECT_EQ(c.store.postgres.port, 5433);
  EXPECT_EQ(c.store.postgres.user, "prowler");
  EXPECT_EQ(c.store.postgres.password, "s3cret-api-pw");
  EXPECT_EQ(c.store.postgres.admin_user, "herald_keys");
  EXPECT_EQ(c.store.postgres.admin_password, "s3cret-admin-pw");
  EXPECT_EQ(c.store.postgres.pool_size, 8u);
  EXPECT_EQ(c.store.postgres.health_interval_ms, 250u);
  EXPECT_EQ(c.store.call_threads(), 8u);  // the db_pool follows the API role's pool
  const std::string d = describe(c);
  EXPECT_THAT(d, HasSubstr("postgres_host = \"postgres-db\"  # from env POSTGRES_HOST"));
  EXPECT_THAT(d, HasSubstr("postgres_password = \"[set]\"  # from env POSTGRES_PASSWORD"));
  EXPECT_THAT(d, HasSubstr("postgres_dsn = \"[set]\""));
  EXPECT_THAT(d, HasSubstr("postgres_admin_dsn = \"[unset]\""));
  EXPECT_THAT(d, Not(HasSubstr("path = ")));  // SQLite's key does not apply
  for (const char* secret : {"s3cret-api-pw", "s3cret-admin-pw", "dsn-pw"}) {
    EXPECT_THAT(d, Not(HasSubstr(secret)));
    EXPECT_THAT(c.store.describe(), Not(HasSubstr(secret)));
  }
  // The rules of store_options::validate, naming the key.
  setenv("POSTGRES_ADMIN_USER", "prowler", 1);
  EXPECT_THAT(fails(with_key("[store]\ndriver = \"postgres\"\n")),
              HasSubstr("store.postgres_admin_user must differ from store.postgres_user"));
  unsetenv("POSTGRES_ADMIN_USER");
  setenv("POSTGRES_PORT", "fifty", 1);
  EXPECT_THAT(fails(with_key("[store]\ndriver = \"postgres\"\n")),
              HasSubstr("POSTGRES_PORT='fifty' is not a port number"));
  unsetenv("POSTGRES_PORT");
  EXPECT_THAT(fails(with_key("[store]\ndriver = \"postgres\"\npostgres_sslmode = \"maybe\"\n")),
              HasSubstr("store.postgres_sslmode 'maybe' is not a libpq sslmode"));
  EXPECT_THAT(
      fails(with_key("[store]\ndriver = \"postgres\"\npostgres_dsn = \"host='unterminated\"\n")),
      HasSubstr("store.postgres_dsn is not a valid libpq connection string"));
  EXPECT_THAT(fails(with_key("[store]\ndriver = \"mysql\"\n")),
              HasSubstr("store.driver 'mysql' is not supported"));
}

TEST_F(config_loader_test, PostgresLookupsAreScopedByRowLevelSecurity) {
  const std::string no_tenant = R"(
[[endpoints]]
path = "/api/v1/scans/{scan_pk:uuid}/event-stream"
channels = ["scan-progress:{tenant_id}:{scan_pk}"]
lookup = "SELECT 1 FROM scans WHERE id = :scan_pk"
)";
  // SQLite has no row-level security: the lookup must name the tenant.
  EXPECT_THAT(fails(with_key(no_tenant)), HasSubstr("must bind the caller's tenant"));
  gateway_config c = ok(with_key("[store]\ndriver = \"postgres\"\n" + no_tenant));
  ASSERT_EQ(c.endpoints.size(), 1u);
  EXPECT_EQ(c.endpoints[0].lookup, "SELECT 1 FROM scans WHERE id = :scan_pk");
}

TEST_F(config_loader_test, ProwlerProfileKeys) {
  setenv("DJANGO_TOKEN_VERIFYING_KEY", kPublicPem, 1);
  setenv("DJANGO_SECRETS_ENCRYPTION_KEY", "oE/ltOhp/n1TdbHjVmzcjDPLcLA41CVI/4Rk+UB5ESc=", 1);
  gateway_config c = ok("[auth]\nprofile = \"prowler\"\nend_streams_at_token_expiry = false\n");
  EXPECT_EQ(c.auth.profile, auth::auth_profile::prowler);
  EXPECT_EQ(c.auth.jwt.verify_key, kPublicPem);
  EXPECT_EQ(c.auth.fernet_key, "oE/ltOhp/n1TdbHjVmzcjDPLcLA41CVI/4Rk+UB5ESc=");
  EXPECT_EQ(c.auth.jwt.audience, "https://api.prowler.com");
  EXPECT_FALSE(c.auth.end_streams_at_token_expiry);
  const std::string d = describe(c);
  EXPECT_THAT(d, HasSubstr("fernet_key = \"[set]\"  # from env DJANGO_SECRETS_ENCRYPTION_KEY"));
  EXPECT_THAT(d, HasSubstr("verify_key = \"[set]\"  # from env DJANGO_TOKEN_VERIFYING_KEY"));
  EXPECT_THAT(d, Not(HasSubstr("oE/ltOhp")));
  // The file wins over the environment.
  write("fernet.key", "ZmVybmV0LWtleS1mcm9tLWEtZmlsZS0wMTIzNDU2Nzg=\n");
  c = ok("[auth]\nprofile = \"prowler\"\nfernet_key_file = \"fernet.key\"\n");
  EXPECT_EQ(c.auth.fernet_key, "ZmVybmV0LWtleS1mcm9tLWEtZmlsZS0wMTIzNDU2Nzg=");
  // A Fernet key means nothing to the generic profile: refused where it is given.
  EXPECT_THAT(fails(with_key("fernet_key = \"x\"\n")),
              HasSubstr("auth.fernet_key is used only with auth.profile = \"prowler\""));
  // The generic profile ignores the Prowler API's variables.
  gateway_config g = ok(with_key(""));
  EXPECT_TRUE(g.auth.fernet_key.empty());
  EXPECT_THAT(fails("[auth]\nprofile = \"django\"\n"), HasSubstr("'django' is not known"));
}

TEST_F(config_loader_test, EventVerbs) {
  EXPECT_THAT(fails(with_key("[events]\nextra_verbs = [\"Retried\"]\n")),
              HasSubstr("'Retried' must be 1-32 lowercase letters"));
  EXPECT_THAT(fails(with_key("[events]\nextra_verbs = [\"re-tried\"]\n")),
              HasSubstr("lowercase letters"));
  EXPECT_THAT(fails(with_key("[events]\nextra_verbs = [\"\"]\n")), HasSubstr("lowercase letters"));
  EXPECT_THAT(fails(with_key("[events]\nmax_data_bytes = 0\n")),
              HasSubstr("events.max_data_bytes"));
  gateway_config c = ok(with_key("[events]\nextra_verbs = [\"progress\", \"retried\"]\n"));
  EXPECT_EQ(c.events.verbs.size(), sse::default_verbs().size() + 1);
  EXPECT_TRUE(sse::validate_event_type("scan.retried", c.events.verbs));
}

TEST_F(config_loader_test, DescribeHidesSecrets) {
  setenv("HERALD_TEST_BUS_PASSWORD", "bus-password-value", 1);
  gateway_config rs =
      ok(with_key("signing_key_file = \"keys/private.pem\"\n"
                  "[internal]\npublisher_key = \"publisher-key-value-0123\"\n"
                  "[bus]\nkind = \"redis\"\npassword_env = \"HERALD_TEST_BUS_PASSWORD\"\n" +
                  std::string(kScanEndpoint)));
  std::string d = describe(rs);
  EXPECT_THAT(d, Not(HasSubstr("publisher-key-value-0123")));
  EXPECT_THAT(d, Not(HasSubstr("bus-password-value")));
  EXPECT_THAT(d, Not(HasSubstr("PRIVATE KEY")));
  EXPECT_THAT(d, Not(HasSubstr("BEGIN")));
  EXPECT_THAT(d, HasSubstr("publisher_key = \"[set]\"  # from inline"));
  EXPECT_THAT(d, HasSubstr("password = \"[set]\"  # from env HERALD_TEST_BUS_PASSWORD"));
  EXPECT_THAT(
      d, HasSubstr("verify_key = \"[set]\"  # from file " + (dir_ / "keys/public.pem").string()));
  EXPECT_THAT(
      d, HasSubstr("signing_key = \"[set]\"  # from file " + (dir_ / "keys/private.pem").string()));
  EXPECT_THAT(d, HasSubstr("algorithm = \"RS256\""));
  EXPECT_THAT(d, HasSubstr("path = \"/api/v1/scans/{scan_pk:uuid}/event-stream\""));
  EXPECT_THAT(d, HasSubstr("channels = [\"scan-progress:{tenant_id}:{scan_pk}\"]"));

  gateway_config hs =
      ok("[auth]\nalgorithm = \"HS256\"\nsecret = \"" + std::string(kHsSecret) + "\"\n");
  std::string h = describe(hs);
  EXPECT_THAT(h, Not(HasSubstr(kHsSecret)));
  EXPECT_THAT(h, HasSubstr("secret = \"[set]\""));
  EXPECT_THAT(h, HasSubstr("publisher_key = \"[unset]\""));
  EXPECT_THAT(h, HasSubstr("no [[endpoints]]"));

  // The description is itself valid TOML-ish text that names every section.
  for (const char* s : {"[server]", "[internal]", "[cors]", "[auth]", "[store]", "[bus]",
                        "[events]", "[tenancy]", "[log]"})
    EXPECT_THAT(d, HasSubstr(s));
}

// The checked-in configs must load (with keys and the publisher key supplied as the docs describe).
TEST_F(config_loader_test, CheckedInExampleConfigsLoad) {
  auto read = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const std::string src = HERALD_SOURCE_DIR;
  setenv("HERALD_PUBLISHER_KEY", "example-publisher-key-0123456789", 1);
  setenv("HERALD_JWT_VERIFY_KEY", kPublicPem, 1);
  write("publisher.key", "demo-publisher-key-0123456789\n");
  for (const char* name : {"config/herald.example.toml", "config/demo.toml"}) {
    std::string text = read(src + "/" + name);
    ASSERT_FALSE(text.empty()) << name;
    auto r = load_config_string(text, dir_.string(), /*require_endpoints=*/true, name);
    ASSERT_TRUE(r) << r.err().message;
    ASSERT_FALSE(r->endpoints.empty());
    EXPECT_EQ(r->endpoints[0].path, "/api/v1/scans/{scan_pk:uuid}/event-stream");
    EXPECT_EQ(r->endpoints[0].channels[0], "scan-progress:{tenant_id}:{scan_pk}");
  }
  // As shipped, the example takes its secrets from the documented variables and says which one
  // is missing.
  unsetenv("HERALD_JWT_VERIFY_KEY");
  auto missing = load_config_string(read(src + "/config/herald.example.toml"), dir_.string(), true,
                                    "herald.example.toml");
  ASSERT_FALSE(missing);
  EXPECT_THAT(
      missing.err().message,
      HasSubstr("auth.verify_key_env: environment variable HERALD_JWT_VERIFY_KEY is not set "
                "(or is empty); set it to the PEM public key that verifies JWTs"));
  auto demo = load_config_string(read(src + "/config/demo.toml"), dir_.string(), true, "demo.toml");
  ASSERT_TRUE(demo);
  EXPECT_EQ(demo->bus.kind, bus::bus_kind::local);
  EXPECT_EQ(demo->auth.jwt.algorithm, auth::jwt_algorithm::rs256);
  EXPECT_EQ(demo->auth.jwt.signing_key, kPrivatePem);
  EXPECT_EQ(demo->store.path, (dir_ / "herald.db").string());
  EXPECT_EQ(demo->internal.publisher_key, "demo-publisher-key-0123456789");
  EXPECT_EQ(demo->auth.jwt.audience, "herald-demo");
}

}  // namespace
}  // namespace herald::config

// THE table of configuration keys. Adding an option is one row here plus a field (with its default)
// in the owning module's options struct; its rules live in that module (bus/bus_options.hpp, ...).
// Reading, unknown-key errors, environment overrides, redaction, `herald check-config` and the
// generated reference (docs/configuration.md, config/herald.example.toml; a test compares them with
// this table) all follow from the rows. See option.hpp for what a row holds.
#include <algorithm>
#include <chrono>
#include <filesystem>

#include "auth/auth_options.hpp"
#include "bus/bus_options.hpp"
#include "config/option.hpp"
#include "net/cors_options.hpp"
#include "net/ip_network.hpp"
#include "net/listen_address.hpp"
#include "sse/events_options.hpp"
#include "store/store_options.hpp"

namespace herald::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::size_t kMinPublisherKeyBytes = 16;

result<void> check_publisher_key(std::string_view key) {
  if (key.size() < kMinPublisherKeyBytes)
    return make_error(errc::invalid_config, "must be at least " +
                                                std::to_string(kMinPublisherKeyBytes) +
                                                " characters (try: openssl rand -hex 32)");
  return {};
}

// A file named in the config: relative paths resolve against the config file's directory.
std::string resolve_path(const std::string& path, const std::string& base_dir) {
  std::filesystem::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

bool redis_bus(const gateway_config& c) { return c.bus.kind == bus::bus_kind::redis; }
bool postgres_store(const gateway_config& c) { return c.store.driver == "postgres"; }
bool sqlite_store(const gateway_config& c) { return c.store.driver != "postgres"; }
bool prowler_profile(const gateway_config& c) {
  return c.auth.profile == auth::auth_profile::prowler;
}
bool shared_secret(const gateway_config& c) { return auth::uses_shared_secret(c.auth.jwt); }
bool public_key(const gateway_config& c) { return !auth::uses_shared_secret(c.auth.jwt); }

std::string default_verbs_text() {
  std::string out;
  for (const auto& v : sse::default_verbs()) out += (out.empty() ? "" : ", ") + ("`" + v + "`");
  return out;
}

std::vector<section_doc> make_sections() {
  return {
      {"server", "the public listener",
       "Public listener: the SSE streams (and the CORS preflight). Put it behind your "
       "TLS-terminating proxy.",
       "", false},
      {"internal", "publishing, health and metrics",
       "Internal listener: `POST /publish`, `/healthz`, `/readyz`, `/metrics`. Keep it on a "
       "private "
       "interface. It is served by the same event-loop threads as the streams, shares their header "
       "limits and timeouts, and takes at most 1,024 connections.",
       "", false},
      {"cors", "browsers on other origins",
       "CORS for browsers on other origins, matched against the request's `Origin` header.",
       "`allow_origins = [\"*\"]` together with `allow_credentials = true` is refused: browsers "
       "reject that combination. List the origins, or set `allow_credentials = false`.",
       false},
      {"auth", "who may connect",
       "Authentication: `Authorization: Bearer <jwt>`, `Authorization: Api-Key <key>`, or "
       "(browsers, only without an Authorization header) `?access_token=<jwt>`.",
       "The verification key is required: Herald does not start without one. A private key given "
       "as `verify_key` is refused (deploy only the public key to gateways); the public-key "
       "options "
       "are refused with HS256 and the secret options with the other algorithms.",
       false},
      {"store", "users, tenants, memberships, API keys, lookup tables",
       "The store: users, tenants, memberships, api_keys and the tables your lookups read.",
       "**Environment overrides.** With `driver = \"postgres\"` the Prowler API's own variables "
       "override the file when they are set and non-empty: `POSTGRES_HOST`, `POSTGRES_PORT`, "
       "`POSTGRES_DB`, `POSTGRES_USER`, `POSTGRES_PASSWORD`, `POSTGRES_ADMIN_USER`, "
       "`POSTGRES_ADMIN_PASSWORD`. Like the Valkey variables they are read whatever the driver, so "
       "an invalid value (a non-numeric `POSTGRES_PORT`) is reported even with SQLite. Passwords "
       "and DSNs are secrets: `check-config` shows them as `[set]`, logs never carry them. See "
       "[Running Herald beside the Prowler API](prowler.md).",
       false},
      {"bus", "how published events reach every gateway",
       "The bus carries published events to every gateway process (see "
       "docs/scaling-and-bus.md). With `kind = \"local\"` the other keys are unused.",
       std::string(
           "**Environment overrides.** The variables of the Prowler API's deployment override the "
           "file when they are set and non-empty: `VALKEY_HOST`, `VALKEY_PORT`, "
           "`VALKEY_USERNAME`, `VALKEY_PASSWORD`, `VALKEY_SCHEME`. They do not change `kind`: with "
           "the local bus their values are unused, but an invalid value (a non-numeric "
           "`VALKEY_PORT`, an unknown `VALKEY_SCHEME`) is still reported.\n\n"
           "`scheme = \"rediss\"` (or `VALKEY_SCHEME=rediss`, as the Prowler API's "
           "`EVENTSTREAM_REDIS` `ssl=True`) connects over TLS in every mode; the `tls_*` keys set "
           "the "
           "CA, a client certificate and the expected server name (checked by default)."),
       false},
      {"replay", "reliable channels: ids and replay on reconnect",
       "Reliable channels (see [Reconnects](reconnects.md)): events on a reliable channel get a "
       "position and django-eventstream's ids (`<channel>:<n>`), the last ones are kept (in "
       "process on the local bus, in Valkey Streams on the redis bus), and a client that "
       "reconnects with `Last-Event-ID` gets what it missed. A channel is reliable when an "
       "endpoint that uses it says `reliable = true`, or when its prefix is listed here. None (the "
       "default): no ids, no replay, streams exactly as without this section.",
       "Every gateway (and every publisher's configuration) must agree on the reliable channels. "
       "Replay needs `bus.mode = \"native\"` on the redis bus.",
       false},
      {"events", "event names and sizes",
       "Event names are `<resource>.<verb>`; the verbs are " + default_verbs_text() +
           ", plus `extra_verbs`.",
       "", false},
      {"tenancy", "checks while streams are open", "", "", false},
      {"log", "logging", "", "", false},
      {"endpoints", "stream URLs",
       "Stream endpoints: one `[[endpoints]]` table each. `herald serve` needs at least one.",
       "Two endpoints whose paths match the same URLs (`/scans/{a}` and `/scans/{b:uuid}`) are "
       "refused. See [Adding an endpoint](adding-an-endpoint.md) for the full explanation.",
       true},
  };
}

std::vector<option> make_options() {
  const secret_forms any_form{true, true, true};
  std::vector<option> t;

  // ---- [server] -------------------------------------------------------------------------------
  t.push_back(
      parsed(
          "server.listen", [](auto& c) -> auto& { return c.server.listen; },
          net::parse_listen_address, [](const net::listen_address& a) { return net::to_string(a); },
          "`\"host:port\"` or `\"[ipv6]:port\"`; the host is an IP address (`0.0.0.0` = all IPv4 "
          "interfaces, `[::]` = all IPv6). Port 0 lets the OS pick a free port (tests).")
          .type("address")
          .example("\"127.0.0.1:8080\"")
          .needs_restart());
  t.push_back(integer(
                  "server.threads", [](auto& c) -> auto& { return c.server.http.threads; }, 0, 1024,
                  "Event-loop threads; 0 = one per CPU core. No thread and no timer per "
                  "connection.")
                  .needs_restart());
  t.push_back(integer<seconds>(
      "server.keepalive_seconds", [](auto& c) -> auto& { return c.server.http.keepalive; }, 1, 3600,
      "Seconds without an event before `event: keep-alive` is sent (keeps proxies from closing "
      "the stream)."));
  t.push_back(integer(
      "server.max_header_bytes", [](auto& c) -> auto& { return c.server.http.max_header_bytes; },
      512, 1 << 20, "Request line + headers limit, bytes; larger requests are refused."));
  t.push_back(integer<milliseconds>(
      "server.header_timeout_ms", [](auto& c) -> auto& { return c.server.http.header_timeout; }, 1,
      600'000, "Time a client has to send its request headers, milliseconds."));
  t.push_back(integer(
      "server.max_connections", [](auto& c) -> auto& { return c.server.http.max_connections; }, 1,
      10'000'000,
      "Open TCP connections allowed on this listener; beyond it new connections "
      "are refused."));
  t.push_back(integer(
      "server.queue_max_events", [](auto& c) -> auto& { return c.server.http.queue_max_events; }, 1,
      10'000'000,
      "Per-stream queue bound: events waiting to be written to one slow client. A "
      "stream that exceeds it or queue_max_bytes gets `stream-error` "
      "`{\"condition\":\"slow-consumer\"}` and is closed."));
  t.push_back(integer(
      "server.queue_max_bytes", [](auto& c) -> auto& { return c.server.http.queue_max_bytes; }, 1,
      std::int64_t{1} << 30, "Per-stream queue bound in bytes."));
  t.push_back(integer(
      "server.shutdown_deadline_ms", [](auto& c) -> auto& { return c.server.shutdown_deadline_ms; },
      0, 3'600'000,
      "On SIGTERM/SIGINT: stop accepting, send each stream `retry:` and close it; "
      "exit at the latest after this many milliseconds."));
  t.push_back(integer(
      "server.retry_base_ms", [](auto& c) -> auto& { return c.server.retry_base_ms; }, 0, 3'600'000,
      "The `retry:` hint sent to each stream on shutdown, ms ..."));
  t.push_back(integer(
      "server.retry_jitter_ms", [](auto& c) -> auto& { return c.server.retry_jitter_ms; }, 0,
      3'600'000,
      "... plus a uniform random jitter in [0, retry_jitter_ms), so clients do not "
      "all reconnect at once."));

  t.push_back(
      integer(
          "server.send_buffer_bytes",
          [](auto& c) -> auto& { return c.server.http.send_buffer_bytes; }, 0, 64 << 20,
          "Kernel send buffer per connection (SO_SNDBUF), bytes; 0 = the kernel's autotuning. "
          "Bounds what a slow reader holds outside the stream's queue, so the slow-consumer policy "
          "ends the stream at an event boundary. 0 or 4096 and more.")
          .needs_restart());
  t.push_back(
      integer(
          "server.spare_descriptors",
          [](auto& c) -> auto& { return c.server.http.spare_descriptors; }, 0, 1 << 20,
          "File descriptors the public listener leaves free under the process's limit "
          "(RLIMIT_NOFILE) for the internal listener, the bus and the store; a connection that "
          "would take one gets 503 with Retry-After.")
          .needs_restart());
  t.push_back(integer<seconds>(
      "server.busy_retry_after_seconds",
      [](auto& c) -> auto& { return c.server.http.busy_retry_after; }, 1, 3600,
      "The Retry-After of the 503 a connection over a limit gets, and of the 429 a stream over "
      "one of the stream caps gets, seconds."));
  t.push_back(
      flag(
          "server.reuse_port", [](auto& c) -> auto& { return c.server.http.reuse_port; },
          "Share the port with other `herald serve` processes (SO_REUSEPORT): run one process per "
          "core, each with its own file budget, behind one port. Off: a port already bound by "
          "another process is refused at start.")
          .needs_restart());
  t.push_back(
      integer(
          "server.max_streams", [](auto& c) -> auto& { return c.server.max_streams; }, 0,
          10'000'000,
          "Open streams on this node, all tenants together; past it a new stream gets 429 with "
          "Retry-After (`busy_retry_after_seconds`). 0 = no cap.")
          .needs_restart());
  t.push_back(integer(
                  "server.max_streams_per_tenant",
                  [](auto& c) -> auto& { return c.server.max_streams_per_tenant; }, 0, 10'000'000,
                  "Open streams of one tenant on this node; past it that tenant's new streams get "
                  "429, other tenants' are not affected. 0 = no cap.")
                  .needs_restart());
  t.push_back(
      integer(
          "server.max_streams_per_user",
          [](auto& c) -> auto& { return c.server.max_streams_per_user; }, 0, 10'000'000,
          "Open streams of one user (any tenant) on this node; past it that user's new streams get "
          "429. 0 = no cap.")
          .needs_restart());
  t.push_back(
      integer(
          "server.connect_rate_per_address",
          [](auto& c) -> auto& { return c.server.connect_rate_per_address; }, 0, 1'000'000,
          "Requests a second one client address may make on the public listener (a token bucket; "
          "IPv6 addresses count per /64); past it 429 with Retry-After. Behind a proxy, see "
          "`trusted_proxies`. 0 = no limit.")
          .needs_restart());
  t.push_back(
      integer(
          "server.connect_burst_per_address",
          [](auto& c) -> auto& { return c.server.connect_burst_per_address; }, 1, 1'000'000,
          "Requests one client address may make at once before `connect_rate_per_address` applies "
          "(the bucket's size).")
          .needs_restart());
  t.push_back(list(
                  "server.trusted_proxies",
                  [](auto& c) -> auto& { return c.server.trusted_proxies; },
                  net::normalize_ip_network,
                  "Networks of your own proxies and load balancers (CIDRs such as "
                  "`\"10.0.0.0/8\"`, `\"fd00::/8\"`, or single addresses). When the peer is one of "
                  "them, the client address is the right-most `X-Forwarded-For` hop that is not; "
                  "otherwise the header is ignored. Empty = the peer is the client.")
                  .example("[\"10.0.0.0/8\"]")
                  .needs_restart());
  t.push_back(text(
      "server.tls_certificate_file",
      [](auto& c) -> auto& { return c.server.http.tls.certificate_file; },
      "TLS on the public listener: the PEM certificate chain, leaf first (relative to the "
      "config file's directory). Empty = plain HTTP. Re-read on reload."));
  t.push_back(text(
      "server.tls_private_key_file",
      [](auto& c) -> auto& { return c.server.http.tls.private_key_file; },
      "The PEM private key of the certificate (unencrypted); required with "
      "server.tls_certificate_file."));
  t.push_back(flag(
      "server.http2", [](auto& c) -> auto& { return c.server.http.http2.enabled; },
      "HTTP/2 on the public listener: over TLS, ALPN offers `h2` (then `http/1.1`), so a browser "
      "opens all its EventSources to this origin on one connection instead of at most six; "
      "without TLS, see server.h2c. Same SSE bytes, queues and slow-consumer policy as "
      "HTTP/1.1."));
  t.push_back(flag(
      "server.h2c", [](auto& c) -> auto& { return c.server.http.http2.cleartext; },
      "HTTP/2 without TLS (h2c, with server.http2): a connection that starts with the HTTP/2 "
      "preface (prior knowledge), or an HTTP/1.1 request with `Upgrade: h2c`, continues as "
      "HTTP/2. Browsers never use h2c; proxies and other clients may."));
  t.push_back(integer(
      "server.http2_max_concurrent_streams",
      [](auto& c) -> auto& { return c.server.http.http2.max_concurrent_streams; }, 1, 1'000'000,
      "Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); "
      "more are refused with RST_STREAM REFUSED_STREAM. The connection counts once against "
      "max_connections."));
  t.push_back(integer(
      "server.http2_stream_window_bytes",
      [](auto& c) -> auto& { return c.server.http.http2.stream_window_bytes; }, 0, 0x7fffffff,
      "HTTP/2 receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE), bytes: what a client may "
      "send on one stream before Herald grants more (stream requests have no body)."));
  t.push_back(integer(
      "server.http2_connection_window_bytes",
      [](auto& c) -> auto& { return c.server.http.http2.connection_window_bytes; }, 65535,
      0x7fffffff, "HTTP/2 receive window of a whole connection, bytes."));
  t.push_back(integer(
      "server.http2_output_buffer_bytes",
      [](auto& c) -> auto& { return c.server.http.http2.output_buffer_bytes; }, 16384, 64 << 20,
      "Bytes an HTTP/2 connection prepares before writing them; beyond it, events wait in their "
      "streams' queues (where queue_max_events / queue_max_bytes apply to each stream)."));

  // ---- [internal] -----------------------------------------------------------------------------
  t.push_back(parsed(
                  "internal.listen", [](auto& c) -> auto& { return c.internal.listen; },
                  net::parse_listen_address,
                  [](const net::listen_address& a) { return net::to_string(a); },
                  "As `server.listen`; must differ from it (the same port on a wildcard address "
                  "counts as the same).")
                  .type("address")
                  .example("\"127.0.0.1:8081\"")
                  .needs_restart());
  t.push_back(secret(
                  "internal.publisher_key",
                  [](auto& c) -> auto& { return c.internal.publisher_key; }, any_form,
                  "the key publishers send (at least 16 characters)", check_publisher_key,
                  "The key publishers send as `Authorization: Bearer <key>`, at least 16 "
                  "characters (generate one: `openssl rand -hex 32`). Without a key, `POST "
                  "/publish` answers 401.")
                  .trimmed()
                  .example("\"HERALD_PUBLISHER_KEY\"", "env"));
  t.push_back(integer(
      "internal.max_body_bytes", [](auto& c) -> auto& { return c.internal.http.max_body_bytes; }, 1,
      std::int64_t{1} << 30, "`POST /publish` body limit, bytes."));
  t.push_back(integer(
      "internal.max_batch_events", [](auto& c) -> auto& { return c.internal.max_batch_events; }, 1,
      1'000'000, "Events per `{\"events\": [...]}` request."));

  // ---- [cors] ---------------------------------------------------------------------------------
  {
    option o = list(
        "cors.allow_origins", [](auto& c) -> auto& { return c.cors.allow_origins; },
        net::normalize_origin,
        "Exact origins `\"scheme://host[:port]\"` (no path, no trailing `/`; scheme and "
        "host are lower-cased) matched against the request's `Origin` header, or `\"*\"`. "
        "Empty = no CORS headers.");
    o.set = [](const value& v, gateway_config& c, const load_scope&) -> result<void> {
      c.cors.allow_origins.clear();
      for (const auto& origin : std::get<std::vector<std::string>>(v))
        if (std::find(c.cors.allow_origins.begin(), c.cors.allow_origins.end(), origin) ==
            c.cors.allow_origins.end())
          c.cors.allow_origins.push_back(origin);
      return {};
    };
    t.push_back(std::move(o));
  }
  t.push_back(flag(
      "cors.allow_credentials", [](auto& c) -> auto& { return c.cors.allow_credentials; },
      "Send `Access-Control-Allow-Credentials: true` (EventSource with `{ "
      "withCredentials: true }`)."));
  {
    option o = detail::make(
        "cors.allow_headers", value_kind::string_list, "string or array of strings",
        "`Access-Control-Allow-Headers`: a string `\"A, B\"` or an array of header names.");
    o.string_or_list = true;
    o.item = net::check_header_name;
    o.set = [](const value& v, gateway_config& c, const load_scope&) -> result<void> {
      c.cors.allow_headers = net::join_header_list(std::get<std::vector<std::string>>(v));
      return {};
    };
    o.get = [](const gateway_config& c) -> std::optional<value> {
      return value{c.cors.allow_headers};
    };
    t.push_back(std::move(o));
  }
  t.push_back(integer(
      "cors.max_age_seconds", [](auto& c) -> auto& { return c.cors.max_age_seconds; }, 0, 86'400,
      "Preflight cache lifetime (`Access-Control-Max-Age`), seconds."));

  // ---- [auth] ---------------------------------------------------------------------------------
  t.push_back(choice(
      "auth.profile", [](auto& c) -> auto& { return c.auth.profile; }, auth::parse_auth_profile,
      [](auth::auth_profile p) { return auth::to_string(p); }, {"generic", "prowler"},
      "Whose credential rules apply. \"generic\": the JWT settings below as configured and "
      "Herald's own `hk_` API keys. \"prowler\": the Prowler API's (its RS256 access tokens "
      "with `typ`, `jti`, `tenant_id` and `hash_password`; its `pk_` API keys), reading "
      "DJANGO_TOKEN_VERIFYING_KEY, DJANGO_JWT_AUDIENCE, DJANGO_JWT_ISSUER and "
      "DJANGO_SECRETS_ENCRYPTION_KEY for what this file leaves unset (see docs/prowler.md)."));
  t.push_back(choice(
                  "auth.algorithm", [](auto& c) -> auto& { return c.auth.jwt.algorithm; },
                  auth::parse_jwt_algorithm,
                  [](auth::jwt_algorithm a) { return auth::to_string(a); },
                  {"RS256", "ES256", "EdDSA", "HS256"},
                  "The JWT algorithm, pinned here and never taken from the token.")
                  .example("\"RS256\""));
  t.push_back(secret(
                  "auth.verify_key", [](auto& c) -> auto& { return c.auth.jwt.verify_key; },
                  any_form, "the PEM public key that verifies JWTs", auth::check_verify_key,
                  "Required for RS256, ES256 and EdDSA: the PEM public key that verifies "
                  "tokens, as a file (relative to this file), inline text (a TOML multi-line "
                  "string) or an environment variable (where a literal \\n is a newline).")
                  .only_when(public_key,
                             "is for public-key algorithms; with HS256 give secret, secret_file "
                             "or secret_env")
                  .decode_env(auth::pem_from_env)
                  .example("\"HERALD_JWT_VERIFY_KEY\"", "env"));
  t.push_back(secret(
                  "auth.secret", [](auto& c) -> auto& { return c.auth.jwt.verify_key; }, any_form,
                  "the HS256 secret (at least 32 bytes)", auth::check_hs256_secret,
                  "Required for HS256 instead of verify_key: the shared secret, at least 32 "
                  "bytes. It both verifies and signs.")
                  .only_when(shared_secret,
                             "is only for HS256; with RS256, ES256 or EdDSA give verify_key, "
                             "verify_key_file or verify_key_env")
                  .trimmed());
  t.push_back(secret(
                  "auth.signing_key", [](auto& c) -> auto& { return c.auth.jwt.signing_key; },
                  secret_forms{false, true, false}, "the PEM private key that signs tokens",
                  auth::check_signing_key,
                  "Optional PEM private key used by `herald token` to mint development tokens "
                  "(not needed to serve).")
                  .only_when(public_key,
                             "is for public-key algorithms; with HS256 the secret both signs and "
                             "verifies"));
  t.push_back(text(
      "auth.audience", [](auto& c) -> auto& { return c.auth.jwt.audience; },
      "Required `aud` value; empty = not checked."));
  t.push_back(text(
      "auth.issuer", [](auto& c) -> auto& { return c.auth.jwt.issuer; },
      "Required `iss` value; empty = not checked."));
  t.push_back(integer(
      "auth.leeway_seconds", [](auto& c) -> auto& { return c.auth.jwt.leeway_seconds; }, 0, 86'400,
      "Clock skew allowed on exp, nbf and iat, seconds."));
  t.push_back(text(
                  "auth.user_claim", [](auto& c) -> auto& { return c.auth.jwt.user_claim; },
                  "Claim holding the user id.")
                  .non_empty());
  t.push_back(text(
                  "auth.tenant_claim", [](auto& c) -> auto& { return c.auth.jwt.tenant_claim; },
                  "Claim holding the tenant id (a UUID); every token must carry it.")
                  .non_empty());
  t.push_back(text(
      "auth.required_type", [](auto& c) -> auto& { return c.auth.jwt.required_type; },
      "Required value of the token's `typ` claim (e.g. \"access\" to refuse refresh "
      "tokens); empty = not checked."));
  t.push_back(integer(
      "auth.cache_entries", [](auto& c) -> auto& { return c.auth.jwt.cache_entries; }, 0,
      100'000'000, "Verified tokens cached by hash until they expire; 0 disables the cache."));
  t.push_back(flag(
      "auth.api_keys", [](auto& c) -> auto& { return c.auth.api_keys_enabled; },
      "Accept API keys in `Authorization: Api-Key <key>`: Herald's `hk_` keys (stored hashed "
      "in the store's api_keys table), or with profile \"prowler\" the Prowler API's `pk_` "
      "keys (its api_keys table)."));
  t.push_back(secret(
                  "auth.fernet_key", [](auto& c) -> auto& { return c.auth.fernet_key; }, any_form,
                  "the Prowler API's Fernet key (DJANGO_SECRETS_ENCRYPTION_KEY)", nullptr,
                  "Profile \"prowler\": the Prowler API's DJANGO_SECRETS_ENCRYPTION_KEY (32 "
                  "bytes in base64, either alphabet), which decrypts its `pk_` API keys. Unset, "
                  "Herald reads DJANGO_SECRETS_ENCRYPTION_KEY.")
                  .only_when(prowler_profile, "is used only with auth.profile = \"prowler\"")
                  .trimmed());
  t.push_back(flag(
      "auth.end_streams_at_token_expiry",
      [](auto& c) -> auto& { return c.auth.end_streams_at_token_expiry; },
      "At the live re-check, end a stream opened with a JWT once the token's `exp` has passed "
      "(`stream-error` `{\"condition\": \"token-expired\"}`); false keeps it open until the "
      "client leaves."));
  t.push_back(flag(
      "auth.check_user_active", [](auto& c) -> auto& { return c.auth.check_user_active; },
      "The caller's user row must exist and be active (checked at connect and on "
      "every re-check)."));

  // ---- [store] --------------------------------------------------------------------------------
  t.push_back(choice(
      "store.driver", [](auto& c) -> auto& { return c.store.driver; }, store::parse_driver,
      [](const std::string& d) { return d; }, {"sqlite", "postgres"},
      "The store: \"sqlite\" (embedded, Herald's own file) or \"postgres\" (the Prowler "
      "API's PostgreSQL, read with its row-level security; see docs/prowler.md)."));
  {
    option o = text(
        "store.path", [](auto& c) -> auto& { return c.store.path; },
        "SQLite database file, relative to this file (\":memory:\" for a throw-away "
        "database).");
    t.push_back(std::move(o.non_empty().shown_when(sqlite_store).example("\"herald.db\"")));
  }
  t.push_back(integer(
      "store.pool_threads", [](auto& c) -> auto& { return c.store.pool_threads; }, 1, 256,
      "Threads that run database calls, so the event loops never block on the "
      "store; with the postgres driver also each role's connections unless "
      "postgres_pool_size / postgres_admin_pool_size say otherwise."));
  const secret_forms pg_secret{true, true, true};
  t.push_back(text(
                  "store.postgres_host", [](auto& c) -> auto& { return c.store.postgres.host; },
                  "PostgreSQL host name, IP address or socket directory.")
                  .from_env("POSTGRES_HOST")
                  .non_empty()
                  .shown_when(postgres_store));
  t.push_back(integer(
                  "store.postgres_port", [](auto& c) -> auto& { return c.store.postgres.port; }, 1,
                  65535, "PostgreSQL port.")
                  .from_env("POSTGRES_PORT")
                  .noun("a port number (1-65535)")
                  .shown_when(postgres_store));
  t.push_back(text(
                  "store.postgres_database",
                  [](auto& c) -> auto& { return c.store.postgres.database; },
                  "The Prowler API's database.")
                  .from_env("POSTGRES_DB")
                  .non_empty()
                  .shown_when(postgres_store));
  t.push_back(text(
                  "store.postgres_user", [](auto& c) -> auto& { return c.store.postgres.user; },
                  "The API role: the role the Prowler API's row-level security policies name. "
                  "Users, memberships and every endpoint lookup are read as it.")
                  .from_env("POSTGRES_USER")
                  .non_empty()
                  .shown_when(postgres_store));
  t.push_back(secret(
                  "store.postgres_password",
                  [](auto& c) -> auto& { return c.store.postgres.password; }, pg_secret,
                  "the API role's password", nullptr, "The API role's password.")
                  .from_env("POSTGRES_PASSWORD")
                  .shown_when(postgres_store));
  t.push_back(text(
                  "store.postgres_admin_user",
                  [](auto& c) -> auto& { return c.store.postgres.admin_user; },
                  "The admin role: reads only the api_keys row a `pk_` key names, before the "
                  "tenant is known (a BYPASSRLS role with SELECT on api_keys, see "
                  "docs/prowler.md). Must differ from postgres_user.")
                  .from_env("POSTGRES_ADMIN_USER")
                  .non_empty()
                  .shown_when(postgres_store));
  t.push_back(secret(
                  "store.postgres_admin_password",
                  [](auto& c) -> auto& { return c.store.postgres.admin_password; }, pg_secret,
                  "the admin role's password", nullptr, "The admin role's password.")
                  .from_env("POSTGRES_ADMIN_PASSWORD")
                  .shown_when(postgres_store));
  t.push_back(secret(
                  "store.postgres_dsn", [](auto& c) -> auto& { return c.store.postgres.dsn; },
                  pg_secret, "the API role's libpq connection string", nullptr,
                  "Optional libpq connection string or `postgresql://` URI for the API role; "
                  "what it names overrides the keys above (host, TLS settings, even the "
                  "password). Secret: it may hold a password.")
                  .shown_when(postgres_store));
  t.push_back(secret(
                  "store.postgres_admin_dsn",
                  [](auto& c) -> auto& { return c.store.postgres.admin_dsn; }, pg_secret,
                  "the admin role's libpq connection string", nullptr,
                  "The same for the admin role.")
                  .shown_when(postgres_store));
  t.push_back(choice(
                  "store.postgres_sslmode",
                  [](auto& c) -> auto& { return c.store.postgres.sslmode; }, store::parse_sslmode,
                  [](const std::string& m) { return m; },
                  {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"},
                  "libpq `sslmode` of both roles' connections.")
                  .shown_when(postgres_store));
  t.push_back(integer(
                  "store.postgres_pool_size",
                  [](auto& c) -> auto& { return c.store.postgres.pool_size; }, 0, 256,
                  "API-role connections; 0 = store.pool_threads. The gateway runs as many "
                  "database calls at once.")
                  .shown_when(postgres_store));
  t.push_back(integer(
                  "store.postgres_admin_pool_size",
                  [](auto& c) -> auto& { return c.store.postgres.admin_pool_size; }, 0, 256,
                  "Admin-role connections; 0 = store.pool_threads.")
                  .shown_when(postgres_store));
  t.push_back(integer(
                  "store.postgres_connect_timeout_ms",
                  [](auto& c) -> auto& { return c.store.postgres.connect_timeout_ms; }, 100,
                  600'000, "Per connection attempt (TCP, TLS and login), milliseconds.")
                  .shown_when(postgres_store));
  t.push_back(integer(
                  "store.postgres_statement_timeout_ms",
                  [](auto& c) -> auto& { return c.store.postgres.statement_timeout_ms; }, 10,
                  3'600'000,
                  "Every statement's timeout (the server's statement_timeout, with a client-side "
                  "deadline behind it), milliseconds.")
                  .shown_when(postgres_store));
  t.push_back(integer(
                  "store.postgres_health_interval_ms",
                  [](auto& c) -> auto& { return c.store.postgres.health_interval_ms; }, 50, 600'000,
                  "While PostgreSQL is unreachable, calls fail at once (new connects get 503) and "
                  "one probe per role reconnects this often; while it is reachable, idle pools "
                  "are pinged this often so /readyz notices an outage. Milliseconds.")
                  .shown_when(postgres_store));

  // ---- [bus] ----------------------------------------------------------------------------------
  t.push_back(choice(
      "bus.kind", [](auto& c) -> auto& { return c.bus.kind; }, bus::parse_kind,
      [](bus::bus_kind k) { return bus::to_string(k); }, {"local", "redis"},
      "\"local\" = in-process (one gateway); \"redis\" = Valkey/Redis pub/sub "
      "(several gateways)."));
  t.push_back(choice(
                  "bus.mode", [](auto& c) -> auto& { return c.bus.mode; }, bus::parse_mode,
                  [](bus::bus_mode m) { return bus::to_string(m); }, {"native", "compat"},
                  "\"native\": one pub/sub channel per Herald channel (`<prefix><channel>`); "
                  "\"compat\": django-eventstream's single channel and message format, so "
                  "existing `send_event()` publishers keep working.")
                  .shown_when(redis_bus));
  t.push_back(parsed(
                  "bus.host", [](auto& c) -> auto& { return c.bus.host; }, bus::parse_host,
                  [](const std::string& h) { return h; }, "Valkey/Redis host name or IP address.")
                  .from_env(bus::kValkeyHostEnv)
                  .shown_when(redis_bus));
  t.push_back(
      integer(
          "bus.port", [](auto& c) -> auto& { return c.bus.port; }, 1, 65535, "Valkey/Redis port.")
          .from_env(bus::kValkeyPortEnv)
          .noun("a port number (1-65535)")
          .shown_when(redis_bus));
  t.push_back(text(
                  "bus.username", [](auto& c) -> auto& { return c.bus.username; },
                  "ACL user; empty = the default user.")
                  .from_env(bus::kValkeyUsernameEnv)
                  .shown_when(redis_bus));
  t.push_back(secret(
                  "bus.password", [](auto& c) -> auto& { return c.bus.password; },
                  secret_forms{true, false, true}, "the Valkey/Redis password", nullptr,
                  "Password (AUTH); empty = none.")
                  .from_env(bus::kValkeyPasswordEnv)
                  .shown_when(redis_bus));
  t.push_back(parsed(
                  "bus.scheme", [](auto& c) -> auto& { return c.bus.scheme; }, bus::parse_scheme,
                  [](const std::string& s) { return s; },
                  "\"redis\" (plain TCP) or \"rediss\" (TLS, see bus.tls_*).")
                  .from_env(bus::kValkeySchemeEnv)
                  .shown_when(redis_bus));
  t.push_back(text(
                  "bus.tls_ca_file", [](auto& c) -> auto& { return c.bus.tls.ca_file; },
                  "scheme \"rediss\": PEM CA certificate(s) that sign the server's certificate "
                  "(relative to the config file's directory); empty = the system trust store.")
                  .shown_when(redis_bus));
  t.push_back(text(
                  "bus.tls_cert_file", [](auto& c) -> auto& { return c.bus.tls.cert_file; },
                  "scheme \"rediss\": PEM client certificate (chain), for servers with "
                  "`tls-auth-clients`; requires bus.tls_key_file.")
                  .shown_when(redis_bus));
  t.push_back(text(
                  "bus.tls_key_file", [](auto& c) -> auto& { return c.bus.tls.key_file; },
                  "scheme \"rediss\": the unencrypted PEM private key of bus.tls_cert_file.")
                  .shown_when(redis_bus));
  t.push_back(text(
                  "bus.tls_server_name", [](auto& c) -> auto& { return c.bus.tls.server_name; },
                  "scheme \"rediss\": the name the server certificate must carry, also sent as "
                  "SNI; empty = the host connected to. Checked unless bus.tls_insecure.")
                  .shown_when(redis_bus));
  t.push_back(flag(
                  "bus.tls_insecure", [](auto& c) -> auto& { return c.bus.tls.insecure; },
                  "scheme \"rediss\": accept any server certificate, unchecked (tests only; "
                  "logged at start).")
                  .shown_when(redis_bus));
  t.push_back(text(
                  "bus.prefix", [](auto& c) -> auto& { return c.bus.prefix; },
                  "native mode: prefix of every pub/sub channel name.")
                  .shown_when(redis_bus));
  t.push_back(text(
                  "bus.compat_channel", [](auto& c) -> auto& { return c.bus.compat_channel; },
                  "compat mode: the single pub/sub channel django-eventstream uses.")
                  .non_empty()
                  .shown_when(redis_bus));
  t.push_back(flag(
                  "bus.cluster", [](auto& c) -> auto& { return c.bus.cluster; },
                  "Valkey/Redis Cluster: sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`), one connection "
                  "per shard.")
                  .shown_when(redis_bus));
  t.push_back(list(
                  "bus.cluster_nodes", [](auto& c) -> auto& { return c.bus.cluster_nodes; },
                  bus::check_node_address,
                  "Cluster seed nodes `\"host:port\"`; empty = `host:port`.")
                  .shown_when(redis_bus));
  t.push_back(integer(
                  "bus.reconnect_min_ms", [](auto& c) -> auto& { return c.bus.reconnect_min_ms; },
                  1, 3'600'000,
                  "Reconnect backoff start, milliseconds; it doubles per failure (with "
                  "jitter) ...")
                  .shown_when(redis_bus));
  t.push_back(integer(
                  "bus.reconnect_max_ms", [](auto& c) -> auto& { return c.bus.reconnect_max_ms; },
                  1, 3'600'000, "... up to this ceiling, milliseconds; not below reconnect_min_ms.")
                  .shown_when(redis_bus));
  t.push_back(integer(
                  "bus.max_pending_publishes",
                  [](auto& c) -> auto& { return c.bus.max_pending_publishes; }, 1, 10'000'000,
                  "PUBLISHes awaiting a reply before `POST /publish` answers 503.")
                  .shown_when(redis_bus));
  t.push_back(integer(
                  "bus.connect_timeout_ms",
                  [](auto& c) -> auto& { return c.bus.connect_timeout_ms; }, 1, 600'000,
                  "Per connection attempt: resolve, connect, AUTH and PING, milliseconds.")
                  .shown_when(redis_bus));
  t.push_back(integer(
                  "bus.command_timeout_ms",
                  [](auto& c) -> auto& { return c.bus.command_timeout_ms; }, 1, 600'000,
                  "A connection whose oldest pending reply is this late is dropped and "
                  "reconnected, milliseconds.")
                  .shown_when(redis_bus));
  t.push_back(choice(
                  "bus.thread", [](auto& c) -> auto& { return c.bus.thread; }, bus::parse_thread,
                  [](bus::bus_thread v) { return bus::to_string(v); },
                  {"auto", "own", "event-loop"},
                  "Which thread runs the Valkey connections. \"event-loop\": the (first) event "
                  "loop's, so a publish, its PUBLISH, the message read back and the answer never "
                  "change threads; \"own\": a thread of their own; \"auto\": the event loop's "
                  "when `server.threads = 1`, else their own.")
                  .shown_when(redis_bus));
  t.push_back(integer(
                  "bus.max_message_bytes", [](auto& c) -> auto& { return c.bus.max_message_bytes; },
                  1024, std::int64_t{512} << 20,
                  "Largest bus message: bigger ones are refused when publishing and dropped "
                  "when received, bytes.")
                  .shown_when(redis_bus));

  // ---- [replay] -------------------------------------------------------------------------------
  t.push_back(list(
      "replay.channels", [](auto& c) -> auto& { return c.bus.replay.channels; },
      bus::check_replay_prefix,
      "More channel prefixes (the part before the first `:`) whose channels are "
      "reliable, e.g. `[\"llm\"]`, besides those of endpoints with `reliable = true`."));
  t.push_back(integer(
      "replay.max_events", [](auto& c) -> auto& { return c.bus.replay.max_events; }, 1, 1'000'000,
      "Events kept per reliable channel for replay (on Valkey at least this many: streams are "
      "trimmed with `MAXLEN ~`)."));
  t.push_back(integer(
      "replay.max_age_seconds", [](auto& c) -> auto& { return c.bus.replay.max_age_seconds; }, 1,
      std::int64_t{30} * 86'400,
      "Events older than this are not replayed, seconds; a channel without events for this long "
      "is forgotten (its positions restart higher)."));

  // ---- [events] -------------------------------------------------------------------------------
  {
    option o = detail::make("events.extra_verbs", value_kind::string_list, "array of strings",
                            "Verbs added to the platform's vocabulary; each 1-32 lower-case "
                            "letters.");
    o.item = sse::check_extra_verb;
    o.set = [](const value& v, gateway_config& c, const load_scope&) -> result<void> {
      c.events.verbs = sse::default_verbs();
      for (const auto& verb : std::get<std::vector<std::string>>(v)) c.events.verbs.insert(verb);
      return {};
    };
    o.get = [](const gateway_config& c) -> std::optional<value> {
      std::vector<std::string> extra;
      for (const auto& v : c.events.verbs)
        if (!sse::default_verbs().contains(v)) extra.push_back(v);
      return value{std::move(extra)};
    };
    t.push_back(std::move(o));
  }
  t.push_back(integer(
      "events.max_data_bytes", [](auto& c) -> auto& { return c.events.max_data_bytes; }, 1,
      std::int64_t{16} << 20, "Limit on one event's serialized JSON `data` object, bytes."));

  // ---- [tenancy] ------------------------------------------------------------------------------
  t.push_back(
      integer(
          "tenancy.recheck_interval_seconds",
          [](auto& c) -> auto& { return c.tenancy.recheck_interval_seconds; }, 0, 86'400,
          "While a stream is open, re-check every N seconds (one batched query per table for all "
          "streams) that the user is still active (and, with profile \"prowler\", has the same "
          "password), still a member of the channel's tenant, and (for API keys) that the key is "
          "not "
          "revoked or expired; a failed re-check ends the stream with stream-error \"forbidden\", "
          "a "
          "JWT past its exp with \"token-expired\" (auth.end_streams_at_token_expiry). A store "
          "that "
          "cannot be reached closes nothing. 0 disables the re-check.")
          .needs_restart());
  t.push_back(
      integer(
          "tenancy.connect_cache_seconds",
          [](auto& c) -> auto& { return c.tenancy.connect_cache_seconds; }, 0, 300,
          "A JWT caller whose user row and membership passed the database checks within N seconds "
          "(the key includes the token's password stamp), and a resource an endpoint's lookup "
          "found "
          "within N seconds, are not asked again: a caller with both connects without a database "
          "round trip (reconnect storms, dashboards opening many streams). The bound on staleness: "
          "a "
          "removed membership, deactivated user, changed password or deleted resource can still "
          "open NEW streams for N seconds; open ones are ended by the re-check. API keys never use "
          "it. 0 disables.")
          .needs_restart());

  // ---- [log] ----------------------------------------------------------------------------------
  t.push_back(choice(
      "log.level", [](auto& c) -> auto& { return c.log.level; }, parse_log_level,
      [](const std::string& l) { return l; },
      {"trace", "debug", "info", "warn", "error", "critical", "off"},
      "Log level. Secrets (access_token, Authorization) are redacted."));
  t.push_back(choice(
      "log.format", [](auto& c) -> auto& { return c.log.format; }, parse_log_format,
      [](log_format f) { return std::string(to_string(f)); }, {"text", "json"},
      "`text`: `time level message key=value ...`; `json`: one JSON object a line with "
      "`time` (UTC, RFC 3339), `level`, `message` and the line's fields (`request_id`, "
      "`tenant`, `user`, `endpoint`, `status`, `duration_ms`, ...). Secrets are redacted in "
      "both."));
  t.push_back(flag(
      "log.accept_request_id", [](auto& c) -> auto& { return c.log.accept_request_id; },
      "Take a well-formed incoming `X-Request-Id` (1-64 letters, digits, `-`, `_`, `.`, `:`) "
      "instead of generating one; enable when a proxy in front of Herald sets it. Off: every "
      "request gets Herald's own id (a client cannot choose the id its lines carry). The id "
      "is echoed as `X-Request-Id` either way."));

  // ---- [[endpoints]] (read by the loader with route/'s grammar; these rows name and document) --
  option path = detail::make("endpoints.path", value_kind::string, "string",
                             "URL template: literal segments (`A-Z a-z 0-9 - . _ ~`) and "
                             "whole-segment parameters `{name}` (a slug: letters, digits, `-`, "
                             "`_`), `{name:slug}` or `{name:uuid}`; names `[a-z_][a-z0-9_]*`, "
                             "unique, not `tenant_id` or `user_id` (they come from the caller's "
                             "credentials). `/` alone is reserved.");
  t.push_back(std::move(path.mandatory().example("\"/api/v1/scans/{scan_pk:uuid}/event-stream\"")));
  option channels = detail::make(
      "endpoints.channels", value_kind::string_list, "array of strings",
      "Channel templates `<prefix>:{tenant_id}:<resource>`: a literal prefix (`A-Z a-z "
      "0-9 - . _`), the middle segment exactly `{tenant_id}` (the caller's tenant), a "
      "resource made of text, `{user_id}` and the path's parameters.");
  t.push_back(std::move(channels.mandatory().example("[\"scan-progress:{tenant_id}:{scan_pk}\"]")));
  option lookup = detail::make(
      "endpoints.lookup", value_kind::string, "string",
      "Optional SQL that must return a row, else 404: one `SELECT` (or `WITH ... SELECT`) that "
      "may use `:tenant_id`, `:user_id` and the path's parameters; named parameters only. With "
      "the sqlite store it must bind `:tenant_id` (so a resource of another tenant is never "
      "found); with the postgres store it runs under the Prowler API's row-level security with "
      "the caller's tenant set, which hides other tenants' rows by itself.");
  t.push_back(std::move(
      lookup.example("\"SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id\"")));
  option reliable = detail::make(
      "endpoints.reliable", value_kind::boolean, "boolean",
      "Optional: `true` makes this endpoint's channels reliable (their prefixes join "
      "`replay.channels`): events get django-eventstream's ids and a client that reconnects with "
      "`Last-Event-ID` gets what it missed. Default false.");
  t.push_back(std::move(reliable.example("true")));
  // The store and the bus (with its event logs) are opened once: a reload keeps them (and refuses
  // a change).
  for (auto& o : t)
    if (o.section == "store" || o.section == "bus" || o.section == "replay") o.restart = true;
  return t;
}

std::vector<check> make_checks() {
  return {
      {"auth",
       [](gateway_config& c) {
         // The prowler profile fills what the file left unset from the Prowler API's variables;
         // check-config names where each came from (never the value).
         const bool had_key = !c.auth.jwt.verify_key.empty();
         const bool had_fernet = !c.auth.fernet_key.empty();
         auth::complete(c.auth);
         if (prowler_profile(c)) {
           if (!had_key && !c.auth.jwt.verify_key.empty())
             c.sources.emplace_back("auth.verify_key", "env DJANGO_TOKEN_VERIFYING_KEY");
           if (!had_fernet && !c.auth.fernet_key.empty())
             c.sources.emplace_back("auth.fernet_key", "env DJANGO_SECRETS_ENCRYPTION_KEY");
         }
         return auth::validate(c.auth);
       }},
      {"internal",
       [](gateway_config& c) -> result<void> {
         if (net::same_listener(c.server.listen, c.internal.listen))
           return make_error(errc::invalid_config,
                             "internal.listen (" + net::to_string(c.internal.listen) +
                                 ") must differ from server.listen (" +
                                 net::to_string(c.server.listen) +
                                 "): the publish API and metrics must never be reachable on the "
                                 "public port");
         return {};
       }},
      {"cors", [](gateway_config& c) { return net::validate(c.cors); }},
      {"store",
       [](gateway_config& c) -> result<void> {
         // Given or not, the SQLite file is relative to the config file's directory.
         c.store.path = store::resolve_sqlite_path(c.store.path, c.base_dir);
         return c.store.validate();
       }},
      {"files",
       [](gateway_config& c) -> result<void> {
         // Like the SQLite file, certificate and key files are relative to the config file.
         for (std::string* f :
              {&c.server.http.tls.certificate_file, &c.server.http.tls.private_key_file,
               &c.bus.tls.ca_file, &c.bus.tls.cert_file, &c.bus.tls.key_file})
           if (!f->empty()) *f = resolve_path(*f, c.base_dir);
         return {};
       }},
      {"replay",
       [](gateway_config& c) -> result<void> {
         // Reliability belongs to a channel (the bus numbers and keeps what is published to it,
         // whoever subscribes), so a reliable endpoint makes its channels' prefixes reliable.
         // Channel templates start with a literal prefix (route/'s grammar).
         auto& prefixes = c.bus.replay.channels;
         for (const auto& ep : c.endpoints) {
           if (!ep.reliable) continue;
           for (const auto& ch : ep.channels) {
             std::string prefix = ch.substr(0, ch.find(':'));
             if (std::find(prefixes.begin(), prefixes.end(), prefix) == prefixes.end())
               prefixes.push_back(std::move(prefix));
           }
         }
         return {};
       }},
      {"bus",
       [](gateway_config& c) {
         bus::complete(c.bus);
         return bus::validate(c.bus);
       }},
  };
}

}  // namespace

const std::vector<section_doc>& sections() {
  static const std::vector<section_doc> s = make_sections();
  return s;
}

const std::vector<option>& options() {
  static const std::vector<option> t = make_options();
  return t;
}

const std::vector<check>& checks() {
  static const std::vector<check> c = make_checks();
  return c;
}

}  // namespace herald::config

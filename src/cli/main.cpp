// `herald`: one binary, subcommands serve, demo, publish, reload, subscribe, token, check-config,
// config-reference, api-key, member. Exit codes: 0 success, 1 runtime failure (server unreachable,
// 5xx), 2 invalid input/config.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/demo.hpp"
#include "app/gateway.hpp"
#include "app/publish_request.hpp"
#include "app/run.hpp"
#include "auth/api_key.hpp"
#include "auth/auth_config.hpp"
#include "auth/token_verifier.hpp"
#include "cli/http_client.hpp"
#include "config/config_loader.hpp"
#include "config/reference.hpp"
#include "core/uuid.hpp"
#include "sse/events_options.hpp"
#include "store/sqlite_store.hpp"
#include "store/store_options.hpp"

namespace {

using namespace herald;
namespace json = boost::json;

int fail(int code, const std::string& message) {
  std::cerr << "herald: " << message << "\n";
  return code;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void set_log_level(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
}

result<config::gateway_config> load(const std::string& path, bool require_endpoints) {
  return config::load_config_file(path, require_endpoints);
}

int cmd_serve(const std::string& config_path) {
  auto cfg = load(config_path, true);
  if (!cfg) return fail(2, cfg.err().message);
  set_log_level(cfg->log.level);
  auto g = app::gateway::create(std::move(*cfg));
  if (!g) return fail(1, g.err().message);
  // Before "listening" is logged: an early SIGTERM still shuts down cleanly. SIGHUP reloads.
  app::stop_signal stop(true);
  if (auto r = (*g)->start(); !r) return fail(1, r.err().message);
  int sig = 0;
  while ((sig = stop.wait()) == SIGHUP) {
    spdlog::info("SIGHUP received: reloading the configuration");
    (void)(*g)->reload();  // logs the outcome; a refused configuration changes nothing
  }
  spdlog::info("signal {} received", sig);
  (*g)->stop();
  return 0;
}

int cmd_check_config(const std::string& config_path) {
  auto cfg = load(config_path, false);
  if (!cfg) return fail(2, cfg.err().message);
  if (auto ok = config::validate_for_serve(*cfg); !ok) return fail(2, ok.err().message);
  // Loads the PEM keys and the Prowler API's Fernet key as serve would (no side effects).
  if (auto ok = auth::check_keys(cfg->auth); !ok) return fail(2, ok.err().message);
  if (cfg->store.driver == "postgres") {
    // No connection is made: check-config reads nothing from the network. serve prepares each
    // lookup against PostgreSQL as the API role before it listens.
    std::cout << config::describe(*cfg) << "\n";
    std::cout << "# store: " << cfg->store.describe() << "\n"
              << "# lookups are checked against PostgreSQL when serve starts\n";
    std::cout << "configuration OK\n";
    return 0;
  }
  // No side effects: a database file that does not exist yet is not created. Its lookups are
  // checked against Herald's schema in memory, which is what `serve` would create.
  const bool exists =
      store::is_sqlite_file(cfg->store.path) && std::filesystem::exists(cfg->store.path);
  auto db = store::sqlite_store::open(exists ? cfg->store.path : ":memory:", 1);
  if (!db) return fail(2, "store: " + db.err().message);
  for (const auto& e : cfg->endpoints)
    if (!e.lookup.empty())
      if (auto ok = (*db)->check_lookup(e.lookup); !ok)
        return fail(2, "endpoint " + e.path + ": " + ok.err().message);
  std::cout << config::describe(*cfg) << "\n";
  if (!exists && store::is_sqlite_file(cfg->store.path))
    std::cout << "# " << cfg->store.path
              << " does not exist yet: serve creates it; lookups were checked against Herald's "
                 "schema\n";
  std::cout << "configuration OK\n";
  return 0;
}

int cmd_config_reference(const std::string& format) {
  if (format == "markdown") {
    std::cout << config::reference_markdown() << "\n";
    return 0;
  }
  if (format == "toml") {
    std::cout << config::example_toml();
    return 0;
  }
  return fail(2, "--format must be markdown or toml");
}

struct publish_args {
  std::string config, url, key, channel, event, data, id, file;
};

int cmd_publish(const publish_args& a) {
  std::string url = a.url, key = a.key;
  app::publish_limits limits;
  auto verbs = sse::events_options{}.verbs;
  limits.verbs = &verbs;
  bus::replay_options replay;
  if (!a.config.empty()) {
    auto cfg = load(a.config, false);
    if (!cfg) return fail(2, cfg.err().message);
    verbs = cfg->events.verbs;
    replay = cfg->bus.replay;
    limits.replay = &replay;
    limits.max_data_bytes = cfg->events.max_data_bytes;
    limits.max_batch_events = cfg->internal.max_batch_events;
    if (url.empty()) {
      std::string host = cfg->internal.listen.address;
      if (host.find(':') != std::string::npos) host = "[" + host + "]";
      url = "http://" + host + ":" + std::to_string(cfg->internal.listen.port) + "/publish";
    }
    if (key.empty()) key = cfg->internal.publisher_key;
  }
  if (url.empty()) return fail(2, "give --config or --url");
  if (key.empty())
    return fail(2, "no publisher key (give --config with [internal] publisher_key, or --key)");
  std::string body;
  if (!a.file.empty()) {
    std::ifstream in(a.file == "-" ? "/dev/stdin" : a.file);
    if (!in) return fail(2, "cannot read " + a.file);
    std::stringstream ss;
    ss << in.rdbuf();
    body = ss.str();
    auto ok =
        app::parse_publish_body(body, limits);  // same validation as the server, before sending
    if (!ok) return fail(2, ok.err().message);
  } else {
    if (a.channel.empty() || a.event.empty())
      return fail(2, "give --channel, --event and --data (or --file)");
    auto e =
        app::make_publish_event(a.channel, a.event, a.data.empty() ? "{}" : a.data, a.id, limits);
    if (!e) return fail(2, e.err().message);
    json::object request{
        {"channel", e->channel}, {"event", e->type}, {"data", json::parse(e->data)}};
    if (!e->id.empty()) request["id"] = e->id;
    body = json::serialize(request);
  }
  auto u = cli::parse_http_url(url);
  if (!u) return fail(2, u.err().message);
  auto reply = cli::http_post(*u, {{"Authorization", "Bearer " + key}}, body);
  if (!reply) return fail(1, reply.err().message);
  if (reply->status == 200) {
    std::cout << reply->body << "\n";
    return 0;
  }
  return fail(reply->status >= 500 ? 1 : 2,
              "publish refused (HTTP " + std::to_string(reply->status) + "): " + reply->body);
}

// The internal listener's URL for `path`, from the configuration's [internal] listen.
std::string internal_url(const config::gateway_config& cfg, const std::string& path) {
  std::string host = cfg.internal.listen.address;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(cfg.internal.listen.port) + path;
}

// `herald reload`: asks a running `herald serve` to re-read its configuration file (POST /reload on
// the internal listener, authenticated with the publisher key). The server reads its own file, the
// one it was started with; --config here only gives the URL and the key.
int cmd_reload(const std::string& config_path, std::string url, std::string key) {
  if (!config_path.empty()) {
    auto cfg = load(config_path, false);
    if (!cfg) return fail(2, cfg.err().message);
    if (url.empty()) url = internal_url(*cfg, "/reload");
    if (key.empty()) key = cfg->internal.publisher_key;
  }
  if (url.empty()) return fail(2, "give --config or --url");
  if (key.empty())
    return fail(2, "no publisher key (give --config with [internal] publisher_key, or --key)");
  auto u = cli::parse_http_url(url);
  if (!u) return fail(2, u.err().message);
  auto reply = cli::http_post(*u, {{"Authorization", "Bearer " + key}}, "");
  if (!reply) return fail(1, reply.err().message);
  std::string message = reply->body;
  try {
    auto doc = json::parse(reply->body).as_object();
    if (auto* m = doc.if_contains("message")) message = std::string(m->as_string());
    if (auto* e = doc.if_contains("error"))
      message = std::string(e->as_object().at("message").as_string());
  } catch (const std::exception&) {
    // not JSON: the body as it is
  }
  if (reply->status == 200) {
    std::cout << message << "\n";
    return 0;
  }
  return fail(reply->status >= 500 ? 1 : 2,
              "reload refused (HTTP " + std::to_string(reply->status) + "): " + message);
}

int cmd_subscribe(const std::string& url, const std::string& token, const std::string& api_key,
                  int count) {
  auto u = cli::parse_http_url(url);
  if (!u) return fail(2, u.err().message);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  if (!api_key.empty()) headers.emplace_back("Authorization", "Api-Key " + api_key);
  int events = 0;
  std::string pending;
  auto reply = cli::http_stream(*u, headers, [&](std::string_view chunk) {
    std::cout << chunk << std::flush;
    if (count <= 0) return true;
    pending.append(chunk);
    // Count complete events other than the preamble's comment, stream-open and keep-alives.
    for (auto pos = pending.find("\n\n"); pos != std::string::npos; pos = pending.find("\n\n")) {
      std::string block = pending.substr(0, pos);
      pending.erase(0, pos + 2);
      if (block.rfind("event: ", 0) == 0 && block.rfind("event: stream-open", 0) != 0 &&
          block.rfind("event: keep-alive", 0) != 0)
        ++events;
    }
    return events < count;
  });
  if (!reply) return fail(1, reply.err().message);
  if (reply->status != 200)
    return fail(reply->status >= 500 ? 1 : 2,
                "HTTP " + std::to_string(reply->status) + ": " + reply->body);
  return 0;
}

int cmd_token(const std::string& config_path, const std::string& sub, const std::string& tenant,
              std::int64_t ttl, const std::vector<std::string>& extra) {
  auto cfg = load(config_path, false);
  if (!cfg) return fail(2, cfg.err().message);
  if (cfg->auth.jwt.signing_key.empty())
    return fail(2, "no signing key: set [auth] signing_key_file (or the HS256 secret)");
  if (!is_uuid(tenant)) return fail(2, "--tenant must be a UUID");
  const auto now = unix_now();
  json::object claims{{"typ", "access"}, {"sub", sub},       {"tenant_id", tenant}, {"iat", now},
                      {"nbf", now},      {"exp", now + ttl}, {"jti", random_uuid()}};
  if (!cfg->auth.jwt.audience.empty()) claims["aud"] = cfg->auth.jwt.audience;
  if (!cfg->auth.jwt.issuer.empty()) claims["iss"] = cfg->auth.jwt.issuer;
  for (const auto& kv : extra) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) return fail(2, "--claim takes key=value");
    claims[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  try {
    auth::token_minter minter(cfg->auth.jwt.algorithm, cfg->auth.jwt.signing_key);
    std::cout << minter.mint(json::serialize(claims)) << "\n";
  } catch (const std::exception& e) {
    return fail(2, e.what());
  }
  return 0;
}

// Herald's own keys and memberships live in its SQLite store; the Prowler API's are its own.
result<std::unique_ptr<store::sqlite_store>> open_store(const std::string& config_path) {
  auto cfg = load(config_path, false);
  if (!cfg) return cfg.err();
  if (cfg->store.driver != "sqlite")
    return make_error(
        errc::invalid_config,
        "this command manages Herald's own SQLite store; with store.driver = "
        "\"postgres\" users, memberships and API keys are managed in the Prowler API");
  return store::sqlite_store::open(cfg->store.path, 1);
}

int cmd_api_key_create(const std::string& config_path, const std::string& user,
                       const std::string& tenant, const std::string& name, int ttl_days) {
  auto db = open_store(config_path);
  if (!db) return fail(2, db.err().message);
  auto key = auth::generate_api_key();
  store::api_key_record rec;
  rec.id = random_uuid();
  rec.prefix = key.prefix;
  rec.key_hash = key.key_hash;
  rec.tenant_id = tenant;
  rec.user_id = user;
  rec.name = name;
  rec.expires_at = ttl_days > 0 ? unix_now() + std::int64_t{ttl_days} * 86400 : 0;
  if (auto r = (*db)->insert_api_key(rec); !r) return fail(2, r.err().message);
  std::cout << key.full_key << "\n";
  std::cerr << "API key " << key.prefix << " created; the key is shown once.\n";
  return 0;
}

int cmd_api_key_revoke(const std::string& config_path, const std::string& prefix) {
  auto db = open_store(config_path);
  if (!db) return fail(2, db.err().message);
  if (auto r = (*db)->revoke_api_key(prefix); !r) return fail(2, r.err().message);
  std::cout << "revoked " << prefix << "\n";
  return 0;
}

int cmd_member(const std::string& config_path, const std::string& action, const std::string& user,
               const std::string& tenant, const std::string& email, const std::string& role) {
  auto db = open_store(config_path);
  if (!db) return fail(2, db.err().message);
  auto& s = **db;
  if (action == "remove") {
    if (auto r = s.remove_membership(user, tenant); !r) return fail(2, r.err().message);
    std::cout << "removed " << user << " from " << tenant << "\n";
    return 0;
  }
  if (auto r = s.add_tenant(tenant, "tenant " + tenant.substr(0, 8)); !r)
    return fail(2, r.err().message);
  if (auto r = s.add_user(user, email.empty() ? user + "@herald.local" : email, true); !r)
    return fail(2, r.err().message);
  if (auto r = s.add_membership(user, tenant, role); !r) return fail(2, r.err().message);
  std::cout << "member " << user << " of " << tenant << " (" << role << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Herald: a multi-tenant Server-Sent Events gateway"};
  app.require_subcommand(1);
  std::string config_path;

  auto* serve = app.add_subcommand("serve", "Run the gateway");
  serve->add_option("--config,-c", config_path, "TOML configuration file")->required();

  app::demo_options demo;
  auto* demo_cmd =
      app.add_subcommand("demo", "Run the demo on the embedded default (SQLite, in-process bus)");
  demo_cmd->add_option("--data-dir", demo.data_dir, "Where keys, config and the database go");
  demo_cmd->add_option("--address", demo.address, "Listen address");
  demo_cmd->add_option("--port", demo.port, "Public (stream) port");
  demo_cmd->add_option("--internal-port", demo.internal_port, "Internal (publish/metrics) port");
  demo_cmd->add_option("--step-ms", demo.step_ms, "Milliseconds between progress events");
  demo_cmd->add_option("--duration", demo.duration_seconds,
                       "Stop after N seconds (0 = until Ctrl-C)");

  publish_args pub;
  auto* publish = app.add_subcommand(
      "publish", "Publish an event through a running gateway's internal listener");
  publish->add_option("--config,-c", pub.config, "Configuration (gives the URL and publisher key)");
  publish->add_option("--url", pub.url, "Publish URL, e.g. http://127.0.0.1:8081/publish");
  publish->add_option("--key", pub.key,
                      "Publisher key (prefer --config: argv is visible to other users)");
  publish->add_option("--channel", pub.channel, "<prefix>:<tenant_id>:<resource_id>");
  publish->add_option("--event", pub.event, "<resource>.<verb>, e.g. scan.progress");
  publish->add_option("--data", pub.data, "JSON object payload");
  publish->add_option("--id", pub.id, "Optional SSE id");
  publish->add_option("--file", pub.file,
                      "A whole request body ({...} or {\"events\":[...]}); - for stdin");

  std::string reload_url, reload_key;
  auto* reload = app.add_subcommand(
      "reload",
      "Make a running `herald serve` re-read its configuration file (keys, endpoints, CORS, "
      "limits, TLS certificate); open streams stay");
  reload->add_option("--config,-c", config_path,
                     "Configuration (gives the internal listener's URL and the publisher key)");
  reload->add_option("--url", reload_url, "Reload URL, e.g. http://127.0.0.1:8081/reload");
  reload->add_option("--key", reload_key,
                     "Publisher key in force (prefer --config: argv is visible to other users)");

  std::string sub_url, sub_token, sub_key;
  int sub_count = 0;
  auto* subscribe = app.add_subcommand("subscribe", "Open a stream and print its raw SSE bytes");
  subscribe->add_option("--url", sub_url, "Stream URL")->required();
  subscribe->add_option("--token", sub_token, "JWT for Authorization: Bearer");
  subscribe->add_option("--api-key", sub_key, "API key for Authorization: Api-Key");
  subscribe->add_option("--count", sub_count, "Exit after N events (0 = until the stream ends)");

  std::string tok_sub, tok_tenant;
  std::int64_t tok_ttl = 3600;
  std::vector<std::string> tok_claims;
  auto* token =
      app.add_subcommand("token", "Mint a JWT with the configured signing key (development)");
  token->add_option("--config,-c", config_path)->required();
  token->add_option("--sub", tok_sub, "User id (sub)")->required();
  token->add_option("--tenant", tok_tenant, "Tenant id (tenant_id claim)")->required();
  token->add_option("--ttl", tok_ttl, "Lifetime in seconds");
  token->add_option("--claim", tok_claims, "Extra string claim key=value (repeatable)");

  auto* check =
      app.add_subcommand("check-config", "Validate a configuration and print it without secrets");
  check->add_option("--config,-c", config_path)->required();

  std::string ref_format = "markdown";
  auto* reference = app.add_subcommand(
      "config-reference", "Print every configuration key (the reference, or an example config)");
  reference->add_option("--format", ref_format, "markdown (docs/configuration.md) or toml")
      ->check(CLI::IsMember({"markdown", "toml"}));

  std::string key_user, key_tenant, key_name = "cli", key_prefix;
  int key_ttl_days = 365;
  auto* api_key = app.add_subcommand("api-key", "Manage Herald API keys");
  api_key->require_subcommand(1);
  auto* key_create = api_key->add_subcommand("create", "Create a key (printed once)");
  key_create->add_option("--config,-c", config_path)->required();
  key_create->add_option("--user", key_user)->required();
  key_create->add_option("--tenant", key_tenant)->required();
  key_create->add_option("--name", key_name);
  key_create->add_option("--ttl-days", key_ttl_days, "0 = never expires");
  auto* key_revoke = api_key->add_subcommand("revoke", "Revoke a key by prefix");
  key_revoke->add_option("--config,-c", config_path)->required();
  key_revoke->add_option("--prefix", key_prefix)->required();

  std::string m_user, m_tenant, m_email, m_role = "member";
  auto* member = app.add_subcommand("member", "Manage tenant memberships in the store");
  member->require_subcommand(1);
  auto* m_add =
      member->add_subcommand("add", "Add a membership (creates the user and tenant if missing)");
  auto* m_remove = member->add_subcommand("remove", "Remove a membership");
  for (auto* c : {m_add, m_remove}) {
    c->add_option("--config,-c", config_path)->required();
    c->add_option("--user", m_user)->required();
    c->add_option("--tenant", m_tenant)->required();
  }
  m_add->add_option("--email", m_email);
  m_add->add_option("--role", m_role);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  set_log_level("info");

  try {
    if (*serve) return cmd_serve(config_path);
    if (*demo_cmd) return app::run_demo(demo);
    if (*publish) return cmd_publish(pub);
    if (*reload) return cmd_reload(config_path, reload_url, reload_key);
    if (*subscribe) return cmd_subscribe(sub_url, sub_token, sub_key, sub_count);
    if (*token) return cmd_token(config_path, tok_sub, tok_tenant, tok_ttl, tok_claims);
    if (*check) return cmd_check_config(config_path);
    if (*reference) return cmd_config_reference(ref_format);
    if (*key_create)
      return cmd_api_key_create(config_path, key_user, key_tenant, key_name, key_ttl_days);
    if (*key_revoke) return cmd_api_key_revoke(config_path, key_prefix);
    if (*m_add) return cmd_member(config_path, "add", m_user, m_tenant, m_email, m_role);
    if (*m_remove) return cmd_member(config_path, "remove", m_user, m_tenant, m_email, m_role);
  } catch (const std::exception& e) {  // start-up edge
    return fail(1, e.what());
  }
  return 2;
}

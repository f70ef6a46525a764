// `herald`: one binary, subcommands serve, demo, publish, reload, subscribe, token, check-config,
// config-reference, api-key, member, healthcheck (the command line itself: cli_app.cpp). Exit
// codes: 0 success, 1 runtime failure (server unreachable, 5xx), 2 invalid input/config.
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
#include "app/service.hpp"
#include "auth/api_key.hpp"
#include "auth/auth_config.hpp"
#include "auth/token_verifier.hpp"
#include "cli/cli_app.hpp"
#include "cli/http_client.hpp"
#include "config/config_loader.hpp"
#include "config/reference.hpp"
#include "core/log_format.hpp"
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

result<config::gateway_config> load(const std::string& path, bool require_endpoints) {
  return config::load_config_file(path, require_endpoints);
}

int cmd_serve(const std::string& config_path) {
  auto cfg = load(config_path, true);
  if (!cfg) return fail(2, cfg.err().message);
  setup_logging(cfg->log);
  auto g = app::gateway::create(std::move(*cfg));
  if (!g) return fail(1, g.err().message);
  // Before "listening" is logged: an early SIGTERM still shuts down cleanly. SIGHUP reloads.
  app::stop_signal stop(true);
  if (auto r = (*g)->start(); !r) return fail(1, r.err().message);
  app::service::ready("serving");  // systemd Type=notify: the listeners accept from now on
  int sig = 0;
  {
    app::service_watchdog watchdog(**g);
    while ((sig = stop.wait()) == SIGHUP) {
      spdlog::info("SIGHUP received: reloading the configuration");
      app::service::reloading notify;  // RELOADING=1 now, READY=1 when done
      (void)(*g)->reload();            // logs the outcome; a refused configuration changes nothing
    }
  }
  app::service::stopping();
  spdlog::info("signal {} received", sig);
  (*g)->stop();
  return 0;
}

// The internal listener's URL for `path`, from the configuration's [internal] listen.
std::string internal_url(const config::gateway_config& cfg, const std::string& path) {
  std::string host = cfg.internal.listen.address;
  if (host == "0.0.0.0") host = "127.0.0.1";  // a wildcard listener answers on loopback
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(cfg.internal.listen.port) + path;
}

// GET the readiness URL: 0 when it answers 200.
int cmd_healthcheck(const std::string& config_path, const cli::cli_args& a) {
  std::string url = a.healthcheck.url;
  if (url.empty()) {
    if (config_path.empty()) return fail(2, "give --config or --url");
    auto cfg = load(config_path, false);
    if (!cfg) return fail(2, cfg.err().message);
    url = internal_url(*cfg, "/readyz");
  }
  auto u = cli::parse_http_url(url);
  if (!u) return fail(2, u.err().message);
  auto reply = cli::http_get(*u, a.healthcheck.timeout_seconds);
  if (!reply) return fail(1, reply.err().message);
  if (reply->status != 200)
    return fail(1, url + " answered " + std::to_string(reply->status) + ": " + reply->body);
  std::cout << reply->body << "\n";
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

using publish_args = decltype(cli::cli_args{}.publish);

int cmd_publish(const publish_args& a) {
  auto given_key = cli::read_secret(a.key, "publisher key");
  if (!given_key) return fail(2, given_key.err().message);
  std::string url = a.url, key = *given_key;
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
    return fail(2,
                "no publisher key (give --key-file, $HERALD_PUBLISHER_KEY, or --config with "
                "[internal] publisher_key)");
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
    body = app::publish_body(*e);  // data as validated: numbers as written, not re-serialised
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

// `herald reload`: asks a running `herald serve` to re-read its configuration file (POST /reload on
// the internal listener, authenticated with the publisher key). The server reads its own file, the
// one it was started with; --config here only gives the URL and the key.
int cmd_reload(const std::string& config_path, const cli::cli_args& a) {
  std::string url = a.reload.url;
  auto given = cli::read_secret(a.reload.key, "publisher key");
  if (!given) return fail(2, given.err().message);
  std::string key = *given;
  if (!config_path.empty()) {
    auto cfg = load(config_path, false);
    if (!cfg) return fail(2, cfg.err().message);
    if (url.empty()) url = internal_url(*cfg, "/reload");
    if (key.empty()) key = cfg->internal.publisher_key;
  }
  if (url.empty()) return fail(2, "give --config or --url");
  if (key.empty())
    return fail(2,
                "no publisher key (give --config with [internal] publisher_key, --key-file or "
                "HERALD_PUBLISHER_KEY)");
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

int cmd_subscribe(const std::string& url, const cli::secret_arg& token_arg,
                  const cli::secret_arg& api_key_arg, int count) {
  auto token = cli::read_secret(token_arg, "token");
  if (!token) return fail(2, token.err().message);
  auto api_key = cli::read_secret(api_key_arg, "API key");
  if (!api_key) return fail(2, api_key.err().message);
  auto u = cli::parse_http_url(url);
  if (!u) return fail(2, u.err().message);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token->empty() && !api_key->empty()) return fail(2, "give a token or an API key, not both");
  if (!token->empty()) headers.emplace_back("Authorization", "Bearer " + *token);
  if (!api_key->empty()) headers.emplace_back("Authorization", "Api-Key " + *api_key);
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
  cli::cli_args a;
  cli::cli_commands c{};
  auto app = cli::make_cli(a, c);
  try {
    app->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app->exit(e);  // --help and --version print and exit 0; usage errors exit 2
    return rc == 0 ? 0 : 2;
  }
  if (app->get_subcommands().empty()) {  // bare `herald`: the help, on stdout, exit 0
    std::cout << app->help();
    return 0;
  }
  setup_logging("info", log_format::text);

  const auto& config_path = a.config_path;
  try {
    if (*c.serve) return cmd_serve(config_path);
    if (*c.demo) return app::run_demo(a.demo);
    if (*c.publish) return cmd_publish(a.publish);
    if (*c.reload) return cmd_reload(config_path, a);
    if (*c.subscribe)
      return cmd_subscribe(a.subscribe.url, a.subscribe.token, a.subscribe.api_key,
                           a.subscribe.count);
    if (*c.token)
      return cmd_token(config_path, a.token.sub, a.token.tenant, a.token.ttl, a.token.claims);
    if (*c.check_config) return cmd_check_config(config_path);
    if (*c.config_reference) return cmd_config_reference(a.reference_format);
    if (*c.api_key_create)
      return cmd_api_key_create(config_path, a.api_key.user, a.api_key.tenant, a.api_key.name,
                                a.api_key.ttl_days);
    if (*c.api_key_revoke) return cmd_api_key_revoke(config_path, a.api_key.prefix);
    if (*c.member_add)
      return cmd_member(config_path, "add", a.member.user, a.member.tenant, a.member.email,
                        a.member.role);
    if (*c.member_remove)
      return cmd_member(config_path, "remove", a.member.user, a.member.tenant, a.member.email,
                        a.member.role);
    if (*c.healthcheck) return cmd_healthcheck(config_path, a);
  } catch (const std::exception& e) {  // start-up edge
    return fail(1, e.what());
  }
  return 2;
}

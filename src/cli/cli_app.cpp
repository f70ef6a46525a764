#include "cli/cli_app.hpp"

#include <fstream>
#include <sstream>

#include "core/build_info.hpp"

namespace herald::cli {

std::string version_line() {
  return "herald " + std::string(version()) + " (commit " + std::string(git_commit()) + ")";
}

result<std::string> read_secret(const secret_arg& s, const std::string& what) {
  if (s.file.empty()) return s.value;
  std::ifstream in(s.file, std::ios::binary);
  if (!in) return make_error(errc::bad_request, "cannot read " + what + " file " + s.file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string v = ss.str();
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  if (v.empty()) return make_error(errc::bad_request, what + " file " + s.file + " is empty");
  return v;
}

namespace {

// --NAME (also from $ENV) and --NAME-file, exclusive; the help says where each form comes from.
void add_secret(CLI::App* cmd, const std::string& name, secret_arg& s, const std::string& env,
                const std::string& what, const std::string& fallback = "") {
  auto* value = cmd->add_option("--" + name, s.value,
                                what + " (default: $" + env + fallback + "; prefer --" + name +
                                    "-file or the variable: argv is visible to other users)")
                    ->envname(env);
  auto* file = cmd->add_option("--" + name + "-file", s.file,
                               "File holding the " + what + " (default: none)");
  value->excludes(file);
}

}  // namespace

std::unique_ptr<CLI::App> make_cli(cli_args& a, cli_commands& c) {
  auto app = std::make_unique<CLI::App>(
      "Herald: a multi-tenant Server-Sent Events gateway.\n"
      "Run `herald <command> --help` for a command's options.",
      "herald");
  app->option_defaults()->always_capture_default();
  app->require_subcommand(0, 1);
  app->set_version_flag("--version,-V", version_line(),
                        "Print the version and git commit, then exit");
  app->footer(
      "Exit status: 0 success, 1 runtime failure (server unreachable, 5xx), 2 invalid "
      "input or configuration.");

  auto config_option = [&](CLI::App* cmd, const std::string& help) {
    return cmd->add_option("--config,-c", a.config_path, help)->required();
  };

  c.serve = app->add_subcommand("serve", "Run the gateway");
  config_option(c.serve, "TOML configuration file");

  auto& d = a.demo;
  c.demo =
      app->add_subcommand("demo", "Run the demo on the embedded default (SQLite, in-process bus)");
  c.demo->add_option("--data-dir", d.data_dir, "Where keys, config and the database go");
  c.demo->add_option("--address", d.address, "Listen address of both listeners");
  c.demo->add_option("--port", d.port, "Public (stream and page) port");
  c.demo->add_option("--internal-port", d.internal_port, "Internal (publish/metrics) port");
  c.demo->add_option("--step-ms", d.step_ms, "Milliseconds between simulated events");
  c.demo->add_option("--duration", d.duration_seconds, "Stop after N seconds (0 = until Ctrl-C)");

  auto& p = a.publish;
  c.publish = app->add_subcommand("publish",
                                  "Publish an event through a running gateway's internal listener");
  c.publish->add_option("--config,-c", p.config,
                        "Configuration giving the URL and publisher key (default: none)");
  c.publish->add_option("--url", p.url,
                        "Publish URL, e.g. http://127.0.0.1:8081/publish (default: from "
                        "--config's [internal] listen)");
  add_secret(c.publish, "key", p.key, "HERALD_PUBLISHER_KEY", "Publisher key",
             ", else --config's [internal] publisher_key");
  c.publish->add_option("--channel", p.channel,
                        "<prefix>:<tenant_id>:<resource_id> (default: none; required without "
                        "--file)");
  c.publish->add_option("--event", p.event,
                        "<resource>.<verb>, e.g. scan.progress (default: none; required without "
                        "--file)");
  c.publish->add_option("--data", p.data, "JSON object payload (default: {})");
  c.publish->add_option("--id", p.id, "SSE id of the event (default: none)");
  c.publish->add_option("--file", p.file,
                        "A whole request body ({...} or {\"events\":[...]}); - for stdin "
                        "(default: none)");

  c.reload = app->add_subcommand(
      "reload",
      "Make a running `herald serve` re-read its configuration file (keys, endpoints, CORS, "
      "limits, TLS certificate); open streams stay");
  c.reload->add_option("--config,-c", a.config_path,
                       "Configuration giving the internal listener's URL and the publisher key "
                       "(default: none)");
  c.reload->add_option("--url", a.reload.url,
                       "Reload URL, e.g. http://127.0.0.1:8081/reload (default: from --config's "
                       "[internal] listen)");
  add_secret(c.reload, "key", a.reload.key, "HERALD_PUBLISHER_KEY", "Publisher key in force",
             ", else --config's [internal] publisher_key");

  auto& s = a.subscribe;
  c.subscribe = app->add_subcommand("subscribe", "Open a stream and print its raw SSE bytes");
  c.subscribe->add_option("--url", s.url, "Stream URL")->required();
  add_secret(c.subscribe, "token", s.token, "HERALD_TOKEN", "JWT for Authorization: Bearer");
  add_secret(c.subscribe, "api-key", s.api_key, "HERALD_API_KEY",
             "API key for Authorization: Api-Key");
  c.subscribe->add_option("--count", s.count, "Exit after N events (0 = until the stream ends)");

  auto& t = a.token;
  c.token =
      app->add_subcommand("token", "Mint a JWT with the configured signing key (development)");
  config_option(c.token, "Configuration with [auth] signing_key_file (or the HS256 secret)");
  c.token->add_option("--sub", t.sub, "User id (sub claim)")->required();
  c.token->add_option("--tenant", t.tenant, "Tenant id (tenant_id claim, a UUID)")->required();
  c.token->add_option("--ttl", t.ttl, "Lifetime in seconds");
  c.token->add_option("--claim", t.claims,
                      "Extra string claim key=value, repeatable (default: none)");

  c.check_config = app->add_subcommand(
      "check-config", "Validate a configuration and print it without secrets (no side effects)");
  config_option(c.check_config, "TOML configuration file to check");

  c.config_reference = app->add_subcommand(
      "config-reference", "Print every configuration key (the reference, or an example config)");
  c.config_reference
      ->add_option("--format", a.reference_format, "markdown (docs/configuration.md) or toml")
      ->check(CLI::IsMember({"markdown", "toml"}));

  auto& k = a.api_key;
  auto* api_key = app->add_subcommand("api-key", "Manage Herald API keys in the store");
  api_key->require_subcommand(1);
  c.api_key_create = api_key->add_subcommand("create", "Create a key (printed once)");
  config_option(c.api_key_create, "Configuration naming the store");
  c.api_key_create->add_option("--user", k.user, "The key's user id")->required();
  c.api_key_create->add_option("--tenant", k.tenant, "The key's tenant id")->required();
  c.api_key_create->add_option("--name", k.name, "A name to recognise the key by");
  c.api_key_create->add_option("--ttl-days", k.ttl_days, "Days until it expires (0 = never)");
  c.api_key_revoke = api_key->add_subcommand("revoke", "Revoke a key by prefix");
  config_option(c.api_key_revoke, "Configuration naming the store");
  c.api_key_revoke->add_option("--prefix", k.prefix, "The key's public prefix (hk_...)")
      ->required();

  auto& m = a.member;
  auto* member = app->add_subcommand("member", "Manage tenant memberships in the store");
  member->require_subcommand(1);
  c.member_add =
      member->add_subcommand("add", "Add a membership (creates the user and tenant if missing)");
  c.member_remove = member->add_subcommand("remove", "Remove a membership");
  for (auto* cmd : {c.member_add, c.member_remove}) {
    config_option(cmd, "Configuration naming the store");
    cmd->add_option("--user", m.user, "User id")->required();
    cmd->add_option("--tenant", m.tenant, "Tenant id")->required();
  }
  c.member_add->add_option("--email", m.email, "The user's email (default: <user>@herald.local)");
  c.member_add->add_option("--role", m.role, "The membership's role");

  auto& h = a.healthcheck;
  c.healthcheck = app->add_subcommand(
      "healthcheck",
      "Exit 0 if a gateway's /readyz answers 200, else 1 (a container HEALTHCHECK, a probe)");
  c.healthcheck->add_option("--config,-c", a.config_path,
                            "Configuration giving the internal listener (default: none)");
  c.healthcheck->add_option("--url", h.url,
                            "URL to ask (default: http://<[internal] listen>/readyz)");
  c.healthcheck->add_option("--timeout", h.timeout_seconds, "Seconds to wait for the answer");
  return app;
}

}  // namespace herald::cli

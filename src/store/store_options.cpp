#include "store/store_options.hpp"

#include <libpq-fe.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string_view>

namespace herald::store {
namespace {

constexpr unsigned kMaxPool = 256;
constexpr std::array<std::string_view, 6> kSslModes = {"disable", "allow",     "prefer",
                                                       "require", "verify-ca", "verify-full"};

error config_error(std::string msg) { return make_error(errc::invalid_config, std::move(msg)); }

struct conninfo_free {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
using conninfo_ptr = std::unique_ptr<PQconninfoOption, conninfo_free>;

// Parses a DSN with libpq itself (key=value strings and postgresql:// URIs). libpq's own message
// may quote parts of the string, passwords included, so it is dropped: the caller names the key.
conninfo_ptr parse_dsn(const std::string& dsn) {
  char* errmsg = nullptr;
  conninfo_ptr opts(PQconninfoParse(dsn.c_str(), &errmsg));
  PQfreemem(errmsg);
  return opts;
}

bool is_password_option(const PQconninfoOption& o) {
  return o.dispchar != nullptr && std::string_view(o.dispchar) == "*";
}

std::string_view role_key(pg_role role) { return role == pg_role::api ? "dsn" : "admin_dsn"; }

// The effective login role of `role` (the DSN's user if it names one).
std::string effective_user(const postgres_options& o, pg_role role) {
  auto params = connection_params(o, role);
  if (!params) return {};
  std::string user;
  for (const auto& [k, v] : *params)
    if (k == "user") user = v;
  return user;
}

}  // namespace

result<std::vector<std::pair<std::string, std::string>>> connection_params(
    const postgres_options& o, pg_role role) {
  const bool api = role == pg_role::api;
  std::vector<std::pair<std::string, std::string>> out;
  auto set = [&](std::string_view key, std::string value) {
    for (auto& [k, v] : out) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    out.emplace_back(std::string(key), std::move(value));
  };
  if (!o.host.empty()) set("host", o.host);
  set("port", std::to_string(o.port));
  if (!o.database.empty()) set("dbname", o.database);
  const std::string& user = api ? o.user : o.admin_user;
  const std::string& password = api ? o.password : o.admin_password;
  if (!user.empty()) set("user", user);
  if (!password.empty()) set("password", password);
  if (!o.sslmode.empty()) set("sslmode", o.sslmode);
  const std::string& dsn = api ? o.dsn : o.admin_dsn;
  if (!dsn.empty()) {
    conninfo_ptr parsed = parse_dsn(dsn);
    if (!parsed) {
      return config_error("store.postgres_" + std::string(role_key(role)) +
                          " is not a valid libpq connection string or postgresql:// URI");
    }
    for (const PQconninfoOption* p = parsed.get(); p->keyword != nullptr; ++p)
      if (p->val != nullptr) set(p->keyword, p->val);
  }
  return out;
}

result<void> store_options::validate() const {
  if (driver != "sqlite" && driver != "postgres") {
    return config_error("store.driver \"" + driver +
                        "\" is not supported (\"sqlite\" or \"postgres\")");
  }
  if (pool_threads < 1 || pool_threads > kMaxPool)
    return config_error("store.pool_threads must be between 1 and 256");
  if (driver == "sqlite") {
    if (path.empty()) return config_error("store.path must not be empty");
    return {};
  }
  const postgres_options& p = postgres;
  for (pg_role role : {pg_role::api, pg_role::admin}) {
    auto params = connection_params(p, role);
    if (!params) return std::move(params).err();
    bool has_host = false, has_user = false, has_db = false;
    for (const auto& [k, v] : *params) {
      has_host |= (k == "host" || k == "hostaddr") && !v.empty();
      has_user |= k == "user" && !v.empty();
      has_db |= k == "dbname" && !v.empty();
    }
    const std::string which = role == pg_role::api ? "" : "admin_";
    if (!has_host) return config_error("store.postgres_host (or a host in its DSN) must be set");
    if (!has_db)
      return config_error("store.postgres_database (or a dbname in its DSN) must be set");
    if (!has_user)
      return config_error("store.postgres_" + which + "user (or a user in its DSN) must be set");
  }
  if (p.port == 0) return config_error("store.postgres_port must be between 1 and 65535");
  // One role for both pools would read api_keys under row-level security with no tenant set: every
  // Prowler API key would be "not found". Refuse it rather than fail every key at run time.
  if (effective_user(p, pg_role::api) == effective_user(p, pg_role::admin)) {
    return config_error(
        "store.postgres_admin_user must differ from store.postgres_user: the API role sees "
        "api_keys "
        "only inside a tenant, so API keys are read with a separate role (see "
        "docs/prowler.md)");
  }
  bool known_ssl = false;
  for (auto m : kSslModes) known_ssl |= p.sslmode == m;
  if (!known_ssl) {
    return config_error("store.postgres_sslmode \"" + p.sslmode +
                        "\" is not one of disable, allow, prefer, require, verify-ca, verify-full");
  }
  if (p.pool_size > kMaxPool || p.admin_pool_size > kMaxPool)
    return config_error(
        "store.postgres_pool_size and store.postgres_admin_pool_size must be at most 256");
  if (p.connect_timeout_ms < 100 || p.connect_timeout_ms > 600'000)
    return config_error("store.postgres_connect_timeout_ms must be between 100 and 600000");
  if (p.statement_timeout_ms < 10 || p.statement_timeout_ms > 3'600'000)
    return config_error("store.postgres_statement_timeout_ms must be between 10 and 3600000");
  if (p.health_interval_ms < 50 || p.health_interval_ms > 600'000)
    return config_error("store.postgres_health_interval_ms must be between 50 and 600000");
  return {};
}

std::string store_options::describe() const {
  if (driver != "postgres") {
    return "driver=" + driver + " path=" + path + " pool_threads=" + std::to_string(pool_threads);
  }
  const postgres_options& p = postgres;
  auto role_text = [&](pg_role role) {
    std::string s;
    auto params = connection_params(p, role);
    if (!params) return std::string("(invalid DSN)");
    // Which keys are passwords is libpq's knowledge (dispchar "*"), so a future secret keyword is
    // hidden too.
    conninfo_ptr defaults(PQconndefaults());
    auto secret = [&](const std::string& key) {
      if (key == "password") return true;
      for (const PQconninfoOption* d = defaults.get(); d && d->keyword; ++d)
        if (key == d->keyword) return is_password_option(*d);
      return false;
    };
    bool has_password = false;
    for (const auto& [k, v] : *params) {
      if (secret(k)) {
        has_password |= !v.empty();
        continue;
      }
      if (!s.empty()) s += ' ';
      s.append(k).append(1, '=').append(v);
    }
    s += has_password ? " password=[set]" : " password=[not set]";
    return s;
  };
  auto pool = [&](unsigned n) { return std::to_string(n == 0 ? pool_threads : n); };
  return "driver=postgres pool_threads=" + std::to_string(pool_threads) + " api={" +
         role_text(pg_role::api) + "} admin={" + role_text(pg_role::admin) +
         "} pool_size=" + pool(p.pool_size) + " admin_pool_size=" + pool(p.admin_pool_size) +
         " connect_timeout_ms=" + std::to_string(p.connect_timeout_ms) +
         " statement_timeout_ms=" + std::to_string(p.statement_timeout_ms) +
         " health_interval_ms=" + std::to_string(p.health_interval_ms);
}

unsigned store_options::call_threads() const {
  const unsigned n =
      driver == "postgres" && postgres.pool_size != 0 ? postgres.pool_size : pool_threads;
  return n == 0 ? 1 : n;
}

result<void> apply_postgres_env(postgres_options& o) {
  return apply_postgres_env(o, [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
}

result<void> apply_postgres_env(postgres_options& o, const env_lookup& getenv) {
  auto get = [&](std::string_view name) -> std::optional<std::string> {
    auto v = getenv(name);
    if (!v || v->empty()) return std::nullopt;
    return v;
  };
  postgres_options out = o;  // parse everything first so a bad variable leaves `o` untouched
  if (auto v = get("POSTGRES_HOST")) out.host = *v;
  if (auto v = get("POSTGRES_PORT")) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), port);
    if (ec != std::errc() || end != v->data() + v->size() || port == 0 || port > 65535)
      return config_error("POSTGRES_PORT=\"" + *v + "\" is not a port number (1-65535)");
    out.port = static_cast<std::uint16_t>(port);
  }
  if (auto v = get("POSTGRES_DB")) out.database = *v;
  if (auto v = get("POSTGRES_USER")) out.user = *v;
  if (auto v = get("POSTGRES_PASSWORD")) out.password = *v;
  if (auto v = get("POSTGRES_ADMIN_USER")) out.admin_user = *v;
  if (auto v = get("POSTGRES_ADMIN_PASSWORD")) out.admin_password = *v;
  o = std::move(out);
  return {};
}

result<std::string> parse_driver(std::string_view s) {
  if (s == "sqlite" || s == "postgres") return std::string(s);
  return make_error(errc::invalid_config,
                    "'" + std::string(s) + "' is not supported (use \"sqlite\" or \"postgres\")");
}

result<std::string> parse_sslmode(std::string_view s) {
  for (auto m : kSslModes)
    if (s == m) return std::string(s);
  return make_error(errc::invalid_config,
                    "'" + std::string(s) +
                        "' is not a libpq sslmode (disable, allow, prefer, require, verify-ca, "
                        "verify-full)");
}

bool is_sqlite_file(std::string_view path) { return !path.empty() && path != ":memory:"; }

std::string resolve_sqlite_path(std::string_view path, std::string_view base_dir) {
  if (!is_sqlite_file(path)) return std::string(path);
  std::filesystem::path p{std::string(path)};
  if (p.is_absolute()) return p.lexically_normal().string();
  return (std::filesystem::path(std::string(base_dir)) / p).lexically_normal().string();
}

}  // namespace herald::store

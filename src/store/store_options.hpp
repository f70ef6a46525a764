// The store's settings: which driver, the SQLite file, and the PostgreSQL connections of the
// postgres driver (the Prowler API's database). Plain data filled by config/ (TOML keys and the
// Prowler API's POSTGRES_* environment variables, see apply_postgres_env); validate() holds every
// rule, describe() prints them with passwords as [set].
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace herald::store {

// The postgres driver's two roles (see docs/prowler.md):
//  - the API role (`user`): the role the Prowler API's row-level security policies name
//    (POSTGRES_USER, e.g. `prowler`); every user, membership and endpoint lookup runs as it, inside
//    a transaction that first sets api.tenant_id;
//  - the admin role (`admin_user`): only for the one read that happens before the tenant is known,
//    the api_keys row named by a Prowler API key's `_pk` (POSTGRES_ADMIN_USER, or a dedicated
//    BYPASSRLS role with SELECT on api_keys only).
// Each role's connection is built from host/port/database/user/password; a non-empty `dsn` /
// `admin_dsn` (a libpq connection string or postgresql:// URI) overrides any of those it names.
struct postgres_options {
  std::string host = "localhost";            // POSTGRES_HOST; host name, IP or socket directory
  std::uint16_t port = 5432;                 // POSTGRES_PORT
  std::string database = "prowler_db";       // POSTGRES_DB
  std::string user = "prowler";              // POSTGRES_USER: the API role (RLS applies to it)
  std::string password;                      // POSTGRES_PASSWORD (secret; never printed)
  std::string admin_user = "prowler_admin";  // POSTGRES_ADMIN_USER: reads api_keys by id
  std::string admin_password;                // POSTGRES_ADMIN_PASSWORD (secret; never printed)
  std::string dsn;        // API role: libpq connection string / URI overriding the above (secret)
  std::string admin_dsn;  // admin role: the same (secret)
  std::string sslmode =
      "prefer";            // libpq sslmode: disable|allow|prefer|require|verify-ca|verify-full
  unsigned pool_size = 0;  // API-role connections; 0 = store.pool_threads
  unsigned admin_pool_size = 0;               // admin-role connections; 0 = store.pool_threads
  std::uint32_t connect_timeout_ms = 3000;    // per connection attempt (TCP + TLS + login)
  std::uint32_t statement_timeout_ms = 2000;  // server-side statement_timeout of every query, ms
  // While PostgreSQL is unreachable calls fail at once, and one probe per role reconnects this
  // often; while reachable, an idle role is pinged this often so /readyz notices an outage.
  std::uint32_t health_interval_ms = 1000;
};

struct store_options {
  std::string driver = "sqlite";   // "sqlite" (embedded default) or "postgres"
  std::string path = "herald.db";  // sqlite: the database file
  unsigned pool_threads = 2;       // db_pool threads (blocking store calls); sqlite connections
  postgres_options postgres;       // driver "postgres" only

  // Refuses (errc::invalid_config, one sentence naming the key) an unknown driver, an empty path,
  // a pool outside 1..256, a malformed DSN, the same role for both pools, an unknown sslmode,
  // timeouts outside their ranges. Never echoes a DSN or password.
  result<void> validate() const;
  // One line for check-config and the start-up log; passwords (and DSN passwords) as [set].
  std::string describe() const;
  // How many blocking store calls can run at once, so app/ sizes its db_pool to it: pool_threads,
  // or with the postgres driver the API role's pool (postgres.pool_size when set; every call takes
  // one of its connections, so more threads would only wait).
  unsigned call_threads() const;
};

// The libpq connection parameters (keyword, value) for one role, before Herald's own additions
// (timeouts, read-only sessions, application name). errc::invalid_config if the DSN does not parse.
enum class pg_role { api, admin };
result<std::vector<std::pair<std::string, std::string>>> connection_params(
    const postgres_options& o, pg_role role);

// Reads the Prowler API's variables into `o`: POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB,
// POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_ADMIN_USER, POSTGRES_ADMIN_PASSWORD. A variable counts
// only when set and non-empty. Does not change the driver. On error (a bad port) `o` is unchanged.
using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;
result<void> apply_postgres_env(postgres_options& o);
result<void> apply_postgres_env(postgres_options& o, const env_lookup& getenv);

// The drivers this build has: "sqlite" and "postgres" (a refusal names them).
result<std::string> parse_driver(std::string_view s);
// A libpq sslmode: disable, allow, prefer, require, verify-ca or verify-full.
result<std::string> parse_sslmode(std::string_view s);
// A SQLite path as configured: relative paths resolve against `base_dir`; ":memory:" stays as is.
std::string resolve_sqlite_path(std::string_view path, std::string_view base_dir);
// Whether a SQLite path names a file on disk (not ":memory:" or a private temporary database).
bool is_sqlite_file(std::string_view path);

}  // namespace herald::store

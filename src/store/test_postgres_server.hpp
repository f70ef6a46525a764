// Test support: a real PostgreSQL 15 server (Debian's `postgresql` package) on loopback in a temp
// directory, started and stopped by the test itself, loaded with the Prowler API's tables,
// row-level security, roles and data (store/testdata/prowler_schema.sql) plus the key-reader role
// an operator creates for Herald (store/testdata/herald_roles.sql). Test-only code, usable by any
// test or bench (it throws std::runtime_error instead of using GoogleTest, so it links without it):
//
//   store::testing::postgres_server pg;              // initdb + start + fixture (about 2 s)
//   auto opts = pg.store_options();                  // driver "postgres", both roles, this port
//   pg.exec("UPDATE users SET is_active = false");   // as the bootstrap superuser
//   pg.stop(); pg.start();                           // an outage and the recovery, same port/data
//
// initdb and postgres refuse to run as root (CI runs as root): then the server runs as `nobody`
// (the child drops to it between fork and exec) and the temp directory is handed to that user.
// Binaries come from $HERALD_PG_BINDIR, else the newest /usr/lib/postgresql/<v>/bin.
//
// Ownership and threads: one test thread owns a postgres_server; its methods are not thread-safe.
// The server dies with the test process (PR_SET_PDEATHSIG), so a crashed test leaks no postgres.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "store/store_options.hpp"

namespace herald::store::testing {

// The fixture's roles and passwords (test-only values) and ids (mirroring prowler_schema.sql).
namespace fixture {
inline constexpr std::string_view kDatabase = "prowler_db";
inline constexpr std::string_view kSuperuser =
    "prowler_admin";  // bootstrap superuser (as in compose)
inline constexpr std::string_view kSuperuserPassword = "prowler-admin-pw";
inline constexpr std::string_view kApiRole = "prowler";  // the role the RLS policies name
inline constexpr std::string_view kApiPassword = "prowler-api-pw";
inline constexpr std::string_view kKeysRole = "herald_keys";  // BYPASSRLS, SELECT on api_keys only
inline constexpr std::string_view kKeysPassword = "herald-keys-pw";

inline constexpr std::string_view kTenant1 = "12646005-9067-4d2a-a098-8bb378604362";
inline constexpr std::string_view kTenant2 = "0412980b-06e3-436a-ab98-3c9b1d0333d3";
inline constexpr std::string_view kTenant3 = "d2a0f4b6-1c3e-4f59-9b7a-5e6d8c0a2b41";
inline constexpr std::string_view kAlice = "8b38e2eb-6689-4f1e-a4ba-95b275130200";  // T1 owner, T2
inline constexpr std::string_view kBob = "b6493a3a-c997-489b-8b99-278bf74de9f6";    // T2 owner
inline constexpr std::string_view kCarol = "6d4f8a91-3c2e-4b5a-8f7d-1e9c5b2a4d6f";  // T3, inactive
inline constexpr std::string_view kDave = "3f1c9a7e-5b2d-4e8f-a6c4-9d0b1e2f3a4b";   // no tenant
inline constexpr std::string_view kAlicePassword =
    "pbkdf2_sha256$870000$Z63pGJ7nre48hfcGbk5S0O$rQpKczAmijs96xa+gPVJifpT3Fetb8DOusl5Eq6gxac=";
inline constexpr std::string_view kScan1 = "01890f3a-7c1e-7a2b-8c3d-4e5f60718291";  // in T1
inline constexpr std::string_view kScan2 = "01890f3a-7c1e-7a2b-8c3d-4e5f60718292";  // in T2
inline constexpr std::string_view kScan3 = "01890f3a-7c1e-7a2b-8c3d-4e5f60718293";  // in T3
inline constexpr std::string_view kKeyAlice =
    "c0ffee00-0001-4000-8000-000000000001";  // pk_K2AAAAAA
inline constexpr std::string_view kKeyRevoked = "c0ffee00-0002-4000-8000-000000000002";  // bob, T2
inline constexpr std::string_view kKeyOrphan = "c0ffee00-0003-4000-8000-000000000003";  // no entity
inline constexpr std::string_view kKeyIps = "c0ffee00-0004-4000-8000-000000000004";     // IP lists
}  // namespace fixture

// The directory holding prowler_schema.sql and herald_roles.sql (compiled in).
std::filesystem::path testdata_dir();

class postgres_server {
 public:
  // initdb, start on a free loopback port, create prowler_db and (if `load_fixture`) load the two
  // fixture files. Throws std::runtime_error with the server's log on failure.
  explicit postgres_server(bool load_fixture = true);
  ~postgres_server();  // fast shutdown, then removes the temp directory
  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  std::uint16_t port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }

  // Store options for Herald's postgres driver against this server: API role `prowler`, key reader
  // `herald_keys`, short timeouts suited to tests.
  postgres_options store_options() const;
  // A libpq connection string for `user` on prowler_db.
  std::string dsn(std::string_view user, std::string_view password) const;

  void stop();   // fast shutdown (SIGINT, as `pg_ctl stop -m fast`) and reap; idempotent
  void start();  // (re)starts on the same port and data directory; returns once it accepts logins

  // Runs SQL (any number of statements) as the bootstrap superuser on prowler_db; throws on error.
  void exec(std::string_view sql) const;
  // The first column of the first row (empty if no row); throws on error.
  std::string query_value(std::string_view sql) const;
  std::string log() const;

 private:
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  uid_t run_uid_ = 0;  // the unprivileged user the server runs as when we are root
  gid_t run_gid_ = 0;
  bool drop_privileges_ = false;
};

}  // namespace herald::store::testing

// The embedded SQLite implementation of store (the default driver). One database file, opened in
// WAL mode so readers never wait for the writer, with the Prowler API's table names and columns
// (users, tenants, memberships, api_keys, scans); see kSchema in sqlite_store.cpp for the exact
// DDL.
//
// Ownership and threads: app/ owns the store (the unique_ptr from open()) and must keep it alive
// until the db_pool whose threads call it has stopped. Every method may be called concurrently from
// any thread: each call leases one of `connections` SQLite connections (waiting if all are leased),
// and each connection keeps its own prepared statements, so no statement is shared between threads.
// Writes are also serialised in-process (write_mu_) so concurrent writers queue on a mutex instead
// of sleeping in SQLite's busy handler; busy_timeout still covers other processes (e.g. the CLI).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/store.hpp"

namespace herald::store {

class sqlite_store final : public store {
 public:
  // Opens (creating if needed) the database at `path` with `connections` connections (0 is taken as
  // 1; ":memory:" always gets exactly one, since each in-memory connection is a separate database),
  // turns on WAL, foreign keys and a busy timeout, and creates the schema if absent. Size
  // `connections` to the db_pool's thread count. Errors: errc::unavailable with SQLite's message;
  // errc::invalid_config if the file's schema version is newer than this build's.
  static result<std::unique_ptr<sqlite_store>> open(const std::string& path, unsigned connections);

  ~sqlite_store() override;
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  // store interface.
  result<std::optional<user_record>> find_user(std::string_view user_id) override;
  result<bool> is_member(std::string_view user_id, std::string_view tenant_id) override;
  // A key whose user was deleted comes back with an empty user_id (and revoked, see the triggers).
  result<std::optional<api_key_record>> find_api_key(std::string_view prefix) override;
  // Writes at most once per key per second from this process: every connect touches its key, and
  // a write per connect would serialise the hot path on SQLite's single writer for no information.
  result<void> touch_api_key(std::string_view api_key_id) override;
  // An empty id gets a random UUID. Duplicate prefix or unknown tenant/user: errc::unprocessable.
  result<void> insert_api_key(const api_key_record& key) override;
  // errc::not_found if no key has that prefix.
  result<void> revoke_api_key(std::string_view prefix) override;
  // The lookup must be a single SELECT with only named parameters; statements are cached per
  // connection by SQL text. Non-SELECT / multiple statements / unnamed or unbound parameters:
  // errc::internal (check_lookup should have refused them at config load).
  result<bool> row_exists(std::string_view sql, const lookup_params& params) override;
  // Refuses (errc::invalid_config) SQL that does not compile against the schema, is not a single
  // SELECT, has an unnamed parameter, or does not bind :tenant_id.
  result<void> check_lookup(std::string_view sql) override;

  // Seeding helpers for `herald demo`, tests and benchmarks. Ids must be canonical UUIDs (stored
  // lower-cased, as principals carry them); errc::bad_request otherwise. Each is an upsert on its
  // key, so a seed can be re-run and a test can flip e.g. is_active by calling add_user again.
  result<void> add_tenant(std::string_view id, std::string_view name);
  result<void> add_user(std::string_view id, std::string_view email, bool active = true);
  // role: "member" or "owner" (as in the Prowler API). Upsert on (user_id, tenant_id).
  result<void> add_membership(std::string_view user_id, std::string_view tenant_id,
                              std::string_view role = "member");
  // Deleting a membership revokes that user's API keys in that tenant (the Prowler API's signal).
  result<void> remove_membership(std::string_view user_id, std::string_view tenant_id);
  result<void> add_scan(std::string_view id, std::string_view tenant_id, std::string_view name,
                        std::string_view state = "available");
  // Runs any number of ';'-separated statements (bulk seeding, tests). Not for request paths. For
  // bulk seeds put BEGIN ... COMMIT inside one script; a script that leaves a transaction open is
  // rolled back and refused (errc::bad_request), since the pooled connection would keep the lock.
  result<void> exec(std::string_view sql);

 private:
  struct connection;
  class lease;

  sqlite_store() = default;
  lease acquire();
  void release(connection* c);

  std::mutex pool_mu_;  // guards free_
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<connection>> all_;  // fixed after open()
  std::vector<connection*> free_;

  std::mutex write_mu_;  // held for every write statement (see the header comment)

  std::mutex touch_mu_;                                       // guards last_touch_
  std::unordered_map<std::string, std::int64_t> last_touch_;  // key id -> unix second last written
};

}  // namespace herald::store

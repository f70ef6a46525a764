// The PostgreSQL implementation of store: reads the Prowler API's own tables (users, memberships,
// tenants, api_keys and the resource tables endpoints name, e.g. scans) as its migrations made
// them. Herald never creates, alters or writes them: every session is read-only
// (default_transaction_read_only) and the write calls of the interface are refused.
//
// Written on libpq 15 directly (Debian libpq-dev): no packaged C++ wrapper serves better. Debian
// 12's libpqxx 6.4 has no libpq pipeline mode for prepared statements (its pqxx::pipeline joins
// plain query strings) and reports errors by exception; the one-round-trip pipeline of prepared
// statements the hot path relies on needs libpq's own API, wrapped here in a few RAII helpers.
//
// Two roles, two pools (see store_options.hpp and docs/prowler.md):
//  - API role: users, memberships and every endpoint lookup. A lookup always runs in a transaction
//    whose first statement is exactly `SELECT set_config('api.tenant_id', $1::text, true)`, so the
//    API's row-level security policies decide what it sees (even a lookup with no tenant predicate
//    cannot see another tenant's row). No RLS read ever runs outside such a transaction (after a
//    transaction-local set_config, PostgreSQL reads the setting as '' and the policies' uuid cast
//    raises 22P02).
//  - admin role: only find_prowler_api_key (and its batched re-check), the read that happens
//    before the tenant is known.
//
// One round trip per call: each call's statements go out as one libpq pipeline ending in one Sync.
// The extended protocol runs everything before a Sync as one implicit transaction: the tenant set
// by set_config(..., true) holds for exactly those statements, an error rolls them all back, and no
// transaction state is left on the pooled connection (an explicit BEGIN would leave an aborted
// block behind after an error). connect_check is one round trip; a Prowler API key connect is
// find_prowler_api_key (admin, 1) + connect_check (1). Statements are prepared once per connection
// (the fixed ones when it connects; a lookup in the same pipeline as its first use).
//
// Outage: every wait is bounded (connect_timeout_ms per connection attempt; statement_timeout_ms
// on the server plus a client-side deadline), a connection that fails is replaced, and a reused one
// that fails is retried once on a fresh connection. When a fresh connection fails too the role is
// marked down: calls fail at once with errc::unavailable, healthy() is false, and a monitor thread
// probes every health_interval_ms until it connects again (it also pings idle pools, so an outage
// is noticed without traffic). Each transition is logged once. Passwords never appear in messages.
//
// Ownership and threads: app/ owns the store (the unique_ptr from open_store) and keeps it alive
// until the db_pool has stopped. Every method may be called concurrently from the db_pool's
// threads (each call leases one connection of one pool; size the pools to the db_pool's threads so
// no call waits); healthy() and round_trips() from any thread. The monitor thread is the store's
// own; the destructor stops it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/store.hpp"
#include "store/store_options.hpp"

namespace herald::store {

namespace pg_detail {
class pool;
struct lookup_plan;
}  // namespace pg_detail

class pg_store final : public store {
 public:
  // Connects every connection of both pools (so bad credentials or an unreachable server refuse to
  // start, with errc::unavailable and libpq's reason) and prepares the fixed statements. Options
  // must have passed store_options::validate().
  static result<std::unique_ptr<pg_store>> open(const store_options& options);

  ~pg_store() override;
  pg_store(const pg_store&) = delete;
  pg_store& operator=(const pg_store&) = delete;

  // store interface. Ids that are not canonical UUIDs are simply not found (never sent).
  result<std::optional<user_record>> find_user(std::string_view user_id) override;
  result<bool> is_member(std::string_view user_id, std::string_view tenant_id) override;
  // Herald's own hk_ keys do not exist in the Prowler API's database: always "not found".
  result<std::optional<api_key_record>> find_api_key(std::string_view prefix) override;
  // A no-op: Herald does not write the API's tables (the API itself stamps last_used_at).
  result<void> touch_api_key(std::string_view api_key_id) override;
  // errc::bad_request: keys are made and revoked in the Prowler API.
  result<void> insert_api_key(const api_key_record& key) override;
  result<void> revoke_api_key(std::string_view prefix) override;
  // `params` must hold the caller's tenant as "tenant_id" (row-level security is set from it; the
  // SQL need not use it). A malformed value for a typed parameter (e.g. a non-UUID scan id) is "no
  // row". SQL errors: errc::internal; PostgreSQL unreachable or too slow: errc::unavailable.
  result<bool> row_exists(std::string_view sql, const lookup_params& params) override;
  // Translates the named parameters, prepares and describes the statement and runs it once with
  // NULL parameters under a nil tenant, as the API role: refuses (errc::invalid_config) SQL that is
  // not a single SELECT, does not compile, returns no columns, writes, or that the API role may not
  // read. Unlike SQLite it does not require :tenant_id (row-level security scopes the lookup).
  result<void> check_lookup(std::string_view sql) override;
  result<std::optional<prowler_api_key_record>> find_prowler_api_key(std::string_view id) override;
  // One API-role round trip (set_config, user, membership, lookup), see the header comment.
  result<connect_answer> connect_check(const connect_query& q) override;
  // One API-role round trip (memberships and users, one query per table over unnest()ed arrays)
  // plus, if keys are asked, one admin-role round trip.
  result<caller_facts> recheck_facts(
      const std::vector<std::pair<std::string, std::string>>& user_tenant_pairs,
      const std::vector<std::string>& user_ids,
      const std::vector<std::string>& prowler_api_key_ids = {}) override;
  bool healthy() const noexcept override;

  // Pipelines (network round trips) sent by calls so far, excluding connection set-up: tests and
  // benchmarks check the per-call count with it.
  std::uint64_t round_trips() const noexcept override;

 private:
  pg_store() = default;
  void monitor_loop();

  std::unique_ptr<pg_detail::pool> api_;
  std::unique_ptr<pg_detail::pool> admin_;

  // Endpoint lookups, translated once each and named store-wide (herald_lookup_<n>) so every
  // connection prepares the same name. Locked only when a connection meets a lookup for the first
  // time; connections keep their own pointer to the plan afterwards.
  std::shared_ptr<const pg_detail::lookup_plan> plan_for(std::string_view sql, result<void>* err);
  std::mutex plans_mu_;
  std::unordered_map<std::string, std::shared_ptr<const pg_detail::lookup_plan>> plans_;

  std::uint32_t health_interval_ms_ = 1000;
  std::mutex monitor_mu_;  // guards stopping_
  std::condition_variable monitor_cv_;
  bool stopping_ = false;
  std::thread monitor_;  // started last in open(), joined first in the destructor
};

}  // namespace herald::store

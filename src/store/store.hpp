// The store interface: users, tenants, memberships, Herald API keys and endpoint resource lookups,
// with the Prowler API's table names (users, tenants, memberships, api_keys, scans).
// Implementations: sqlite_store (embedded, the default) and pg_store (the Prowler API's PostgreSQL,
// read-only, row-level security); open_store() in store/store_factory.hpp picks one.
//
// Calls are BLOCKING. They never run on an event-loop thread: app/ runs them on the database pool
// (see store/db_pool.hpp). Implementations must be safe to call concurrently from the pool's
// threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace herald::store {

struct user_record {
  std::string id;
  std::string email;
  bool is_active = true;
  // The stored password hash as the Prowler API keeps it (Django's "pbkdf2_sha256$..." string).
  // The Prowler API's tokens carry upper-case hex MD5 of it (`hash_password`), so a password change
  // invalidates them. Empty where the store has none.
  std::string password;
};

struct api_key_record {
  std::string id;        // UUID
  std::string prefix;    // public part shown to humans, e.g. "hk_7KQ2M9XA"
  std::string key_hash;  // hex SHA-256 of the secret part
  std::string tenant_id;
  std::string user_id;
  std::string name;
  std::int64_t expires_at = 0;  // unix seconds; 0 = never
  bool revoked = false;
};

// An API key of the Prowler API (table api_keys, drf-simple-apikey): the secret is a Fernet token
// holding the row's id (`_pk`), so the row is found by id, and its prefix is compared afterwards.
struct prowler_api_key_record {
  std::string id;         // UUID (the Fernet payload's `_pk`)
  std::string prefix;     // "pk_XXXXXXXX"
  std::string tenant_id;  // canonical lower-case UUID
  std::string entity_id;  // the user; empty when the column is NULL (user deleted)
  bool revoked = false;
  std::vector<std::string> whitelisted_ips;  // JSON list; empty or NULL = no allow-list
  std::vector<std::string> blacklisted_ips;  // JSON list; empty or NULL = no block-list
};

// Named parameters for a lookup, e.g. {{"tenant_id", "..."}, {"scan_pk", "..."}}; bound to `:name`.
using lookup_params = std::vector<std::pair<std::string, std::string>>;

class store {
 public:
  virtual ~store() = default;

  virtual result<std::optional<user_record>> find_user(std::string_view user_id) = 0;
  virtual result<bool> is_member(std::string_view user_id, std::string_view tenant_id) = 0;
  virtual result<std::optional<api_key_record>> find_api_key(std::string_view prefix) = 0;
  virtual result<void> touch_api_key(std::string_view api_key_id) = 0;  // last_used_at = now
  virtual result<void> insert_api_key(const api_key_record& key) = 0;
  virtual result<void> revoke_api_key(std::string_view prefix) = 0;

  // Runs an endpoint's resource lookup: true if it returns at least one row. Every `:name` in the
  // SQL must have a parameter; parameters the SQL does not use are ignored.
  virtual result<bool> row_exists(std::string_view sql, const lookup_params& params) = 0;
  // Prepares (without running) a lookup, to refuse a broken one at config load.
  virtual result<void> check_lookup(std::string_view sql) = 0;

  // The Prowler API's key row by id (read with the role that may see every tenant's keys, before
  // the tenant is known). Stores without Prowler's api_keys table answer errc::internal.
  virtual result<std::optional<prowler_api_key_record>> find_prowler_api_key(std::string_view id);

  // Everything one connect needs from the database, asked together so that a networked store can
  // answer in one transaction and one round trip (PostgreSQL: pipelined, with the tenant set for
  // row-level security before the lookup). The default composes the calls above.
  struct connect_query {
    std::string user_id;
    std::string tenant_id;
    bool want_user = true;                  // fill connect_answer::user
    bool want_membership = true;            // fill connect_answer::member
    std::string_view lookup_sql;            // the endpoint's resource lookup; empty = none
    const lookup_params* params = nullptr;  // its parameters (tenant_id among them)
  };
  struct connect_answer {
    std::optional<user_record> user;  // nullopt: no such user (or not asked)
    bool member = false;
    bool resource_found = true;  // false: the lookup returned no row (a 404)
  };
  virtual result<connect_answer> connect_check(const connect_query& q);

  // The live re-check of open streams, batched: one call per interval answers for every distinct
  // caller (PostgreSQL: one query per table, not one per stream). `member`, `users` and `api_keys`
  // come back in the order asked. `prowler_api_key_ids` are api_keys ids (the Fernet `_pk`); leave
  // it empty on stores without them. The default loops over the calls above.
  struct caller_facts {
    std::vector<bool> member;                                     // per (user_id, tenant_id) asked
    std::vector<std::optional<user_record>> users;                // per user id asked
    std::vector<std::optional<prowler_api_key_record>> api_keys;  // per key id asked
  };
  virtual result<caller_facts> recheck_facts(
      const std::vector<std::pair<std::string, std::string>>& user_tenant_pairs,
      const std::vector<std::string>& user_ids,
      const std::vector<std::string>& prowler_api_key_ids = {});

  // False while the store's database is unreachable (the gateway's /readyz). Calls made meanwhile
  // fail fast with errc::unavailable; recovery is detected by the store itself. Embedded stores are
  // always healthy. Thread-safe and non-blocking (may be called from an event loop).
  virtual bool healthy() const noexcept { return true; }

  // Network round trips sent to the database so far (the gateway's
  // herald_store_round_trips_total; benchmarks divide it by connects). Embedded stores: 0.
  // Thread-safe and non-blocking.
  virtual std::uint64_t round_trips() const noexcept { return 0; }
};

}  // namespace herald::store

// The store interface: users, tenants, memberships, Herald API keys and endpoint resource lookups,
// with the seed's table names (users, tenants, memberships, api_keys, scans).
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
};

}  // namespace herald::store

// The tenancy options ([tenancy]): how often open streams are checked again, and how long a
// confirmed caller may connect without a database round trip. config/ maps the keys (and their
// ranges) onto tenancy_options; app/ schedules the re-check and sizes its connect cache with them.
#pragma once

#include <cstdint>

namespace herald::tenancy {

struct tenancy_options {
  std::uint32_t recheck_interval_seconds = 60;  // live streams re-check membership/keys; 0 disables
  // A JWT caller whose (user, tenant, password stamp) passed the database checks (user row,
  // member), and a resource an endpoint's lookup found, are not asked again for this many seconds
  // (app/connect_cache.hpp); 0 disables. Bounds how long a revocation can still open new streams
  // (open ones are closed by the re-check).
  std::uint32_t connect_cache_seconds = 5;
};

}  // namespace herald::tenancy

// Opening the configured store, so app/ and cli/ need not name implementations.
#pragma once

#include <memory>

#include "core/result.hpp"
#include "store/store.hpp"
#include "store/store_options.hpp"

namespace herald::store {

// Validates `options` (store_options::validate) and opens the driver it names: sqlite_store
// (options.path, options.pool_threads connections) or pg_store (options.postgres; its pools default
// to options.pool_threads connections per role). Size the db_pool to options.pool_threads.
// Errors: errc::invalid_config for refused options, errc::unavailable when the database cannot be
// opened or reached (with the reason, never a password).
result<std::unique_ptr<store>> open_store(const store_options& options);

}  // namespace herald::store

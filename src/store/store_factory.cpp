#include "store/store_factory.hpp"

#include "store/pg_store.hpp"
#include "store/sqlite_store.hpp"

namespace herald::store {

result<std::unique_ptr<store>> open_store(const store_options& options) {
  if (auto ok = options.validate(); !ok) return std::move(ok).err();
  if (options.driver == "postgres") {
    auto pg = pg_store::open(options);
    if (!pg) return std::move(pg).err();
    return std::unique_ptr<store>(std::move(*pg));
  }
  auto db = sqlite_store::open(options.path, options.pool_threads);
  if (!db) return std::move(db).err();
  return std::unique_ptr<store>(std::move(*db));
}

}  // namespace herald::store

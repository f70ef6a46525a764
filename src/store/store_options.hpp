// The store options ([store]) and their rules. config/ maps the keys onto store_options; app/ opens
// the store they name. Pure (part of the store interface library, no SQLite).
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace herald::store {

struct store_options {
  std::string driver = "sqlite";   // "sqlite" (embedded default)
  std::string path = "herald.db";  // SQLite file; relative to the config file's directory
  unsigned pool_threads = 2;       // database pool threads; event loops never block on the store
};

// The drivers this build has: "sqlite".
result<std::string> parse_driver(std::string_view s);
// A SQLite path as configured: relative paths resolve against `base_dir`; ":memory:" stays as is.
std::string resolve_sqlite_path(std::string_view path, std::string_view base_dir);
// Whether a SQLite path names a file on disk (not ":memory:" or a private temporary database).
bool is_sqlite_file(std::string_view path);

}  // namespace herald::store

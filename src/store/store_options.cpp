#include "store/store_options.hpp"

#include <filesystem>

namespace herald::store {

result<std::string> parse_driver(std::string_view s) {
  if (s == "sqlite") return std::string(s);
  return make_error(errc::invalid_config, "'" + std::string(s) +
                                              "' is not supported (this build supports \"sqlite\" "
                                              "only)");
}

bool is_sqlite_file(std::string_view path) { return !path.empty() && path != ":memory:"; }

std::string resolve_sqlite_path(std::string_view path, std::string_view base_dir) {
  if (!is_sqlite_file(path)) return std::string(path);
  std::filesystem::path p{std::string(path)};
  if (p.is_absolute()) return p.lexically_normal().string();
  return (std::filesystem::path(std::string(base_dir)) / p).lexically_normal().string();
}

}  // namespace herald::store

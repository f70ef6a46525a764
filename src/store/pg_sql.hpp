// SQL text handling for the postgres driver, pure functions (no connection): endpoint lookups are
// written with named parameters (`:tenant_id`, `:scan_pk`), as the SQLite store takes them, and
// PostgreSQL wants positional ones ($1, $2). libpq has no named-parameter support, so a small
// lexer hand-written here skips what PostgreSQL's own lexer skips (string and dollar-quoted
// literals, quoted identifiers, comments, `::` casts) and numbers the names in order of first use.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace herald::store {

struct named_sql {
  std::string text;                // the SQL with $1..$n in place of the names
  std::vector<std::string> names;  // names[i] is bound to $(i+1); each name once
};

// Translates one SELECT (or WITH ... SELECT) written with `:name` parameters. Refuses
// (errc::invalid_config) empty SQL, anything but SELECT/WITH first, a second statement after `;`,
// positional `$1` parameters, and unterminated literals or comments. A trailing `;` is dropped.
result<named_sql> translate_named_parameters(std::string_view sql);

}  // namespace herald::store

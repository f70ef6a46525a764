#include "store/pg_sql.hpp"

#include <algorithm>
#include <cctype>

namespace herald::store {
namespace {

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool ident_char(char c) {
  return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$';
}

error refuse(const std::string& msg) { return make_error(errc::invalid_config, "lookup " + msg); }

bool keyword_at(std::string_view s, std::size_t i, std::string_view kw) {
  if (s.size() - i < kw.size()) return false;
  for (std::size_t k = 0; k < kw.size(); ++k)
    if (std::toupper(static_cast<unsigned char>(s[i + k])) != kw[k]) return false;
  return i + kw.size() == s.size() || !ident_char(s[i + kw.size()]);
}

}  // namespace

result<named_sql> translate_named_parameters(std::string_view sql) {
  named_sql out;
  out.text.reserve(sql.size() + 8);
  const std::size_t n = sql.size();
  std::size_t i = 0;
  bool seen_token = false;  // any SQL token (not space/comment) so far
  bool ended = false;       // a top-level `;` was seen
  auto copy = [&](std::size_t from, std::size_t to) {
    out.text.append(sql.substr(from, to - from));
  };

  while (i < n) {
    const char c = sql[i];
    // Whitespace and comments are copied; they may follow the final `;`.
    if (std::isspace(static_cast<unsigned char>(c))) {
      out.text.push_back(c);
      ++i;
      continue;
    }
    if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      std::size_t e = sql.find('\n', i);
      e = e == std::string_view::npos ? n : e;
      copy(i, e);
      i = e;
      continue;
    }
    if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      // PostgreSQL block comments nest.
      std::size_t j = i + 2;
      int depth = 1;
      while (j < n && depth > 0) {
        if (sql[j] == '/' && j + 1 < n && sql[j + 1] == '*') {
          ++depth;
          j += 2;
        } else if (sql[j] == '*' && j + 1 < n && sql[j + 1] == '/') {
          --depth;
          j += 2;
        } else {
          ++j;
        }
      }
      if (depth > 0) return refuse("has an unterminated /* comment");
      copy(i, j);
      i = j;
      continue;
    }
    if (ended) return refuse("must be a single SELECT statement (found more after ';')");
    if (!seen_token) {
      if (!keyword_at(sql, i, "SELECT") && !keyword_at(sql, i, "WITH"))
        return refuse("must be a single SELECT statement");
      seen_token = true;
    }
    if (c == ';') {
      ended = true;
      ++i;
      continue;
    }
    if (c == '\'') {
      // E'...' strings take backslash escapes; standard strings only ''.
      const bool escapes =
          i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !ident_char(sql[i - 2]));
      std::size_t j = i + 1;
      for (;;) {
        if (j >= n) return refuse("has an unterminated string literal");
        if (escapes && sql[j] == '\\') {
          j += 2;
          continue;
        }
        if (sql[j] == '\'') {
          if (j + 1 < n && sql[j + 1] == '\'') {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      copy(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c == '"') {
      std::size_t j = i + 1;
      for (;;) {
        if (j >= n) return refuse("has an unterminated quoted identifier");
        if (sql[j] == '"') {
          if (j + 1 < n && sql[j + 1] == '"') {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      copy(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c == '$') {
      if (i + 1 < n && std::isdigit(static_cast<unsigned char>(sql[i + 1])))
        return refuse("parameters must be named (:name), found $" + std::string(1, sql[i + 1]));
      // A dollar quote: $tag$ ... $tag$ (tag empty or an identifier without '$').
      std::size_t j = i + 1;
      while (j < n && sql[j] != '$' && ident_char(sql[j])) ++j;
      if (j < n && sql[j] == '$' && (j == i + 1 || ident_start(sql[i + 1]))) {
        const std::string_view tag = sql.substr(i, j - i + 1);
        const std::size_t close = sql.find(tag, j + 1);
        if (close == std::string_view::npos) return refuse("has an unterminated $-quoted string");
        copy(i, close + tag.size());
        i = close + tag.size();
        continue;
      }
      out.text.push_back(c);
      ++i;
      continue;
    }
    if (c == ':') {
      if (i + 1 < n && sql[i + 1] == ':') {  // a cast
        out.text.append("::");
        i += 2;
        continue;
      }
      if (i + 1 < n && ident_start(sql[i + 1])) {
        std::size_t j = i + 1;
        while (j < n && ident_char(sql[j]) && sql[j] != '$') ++j;
        std::string name(sql.substr(i + 1, j - i - 1));
        auto it = std::find(out.names.begin(), out.names.end(), name);
        std::size_t index = static_cast<std::size_t>(it - out.names.begin());
        if (it == out.names.end()) out.names.push_back(std::move(name));
        out.text += '$';
        out.text += std::to_string(index + 1);
        i = j;
        continue;
      }
      out.text.push_back(c);
      ++i;
      continue;
    }
    if (ident_start(c)) {  // a whole identifier or keyword, so `E'` and `x$` are seen in context
      std::size_t j = i + 1;
      while (j < n && ident_char(sql[j])) ++j;
      copy(i, j);
      i = j;
      continue;
    }
    out.text.push_back(c);
    ++i;
  }
  if (!seen_token) return refuse("is empty");
  // Trailing whitespace after a dropped `;` is harmless; trim it for tidy logs.
  while (!out.text.empty() && std::isspace(static_cast<unsigned char>(out.text.back())))
    out.text.pop_back();
  return out;
}

}  // namespace herald::store

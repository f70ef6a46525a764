#include "route/endpoint_template.hpp"

#include <algorithm>

#include "core/uuid.hpp"

namespace herald::route {
namespace {

error bad(std::string msg) { return make_error(errc::invalid_config, std::move(msg)); }

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return is_lower(c) || (c >= 'A' && c <= 'Z'); }

// Parameter names: [a-z_][a-z0-9_]*, so they are valid SQL `:name` parameters as they stand.
bool is_param_name(std::string_view s) {
  if (s.empty() || !(is_lower(s[0]) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_lower(c) || is_digit(c) || c == '_'; });
}

// Literal path segments are restricted to RFC 3986 unreserved characters, so comparing them with
// the raw (not percent-decoded) request path is exact.
bool is_literal_path_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// Literal parts of channel templates (the prefix, text around placeholders).
bool is_channel_literal_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_';
}

// The Django `slug` converter's alphabet, which the Prowler API's URLs use.
bool is_slug(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_';
  });
}

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

bool names_param(const std::vector<endpoint_param>& params, std::string_view name) {
  return std::any_of(params.begin(), params.end(),
                     [&](const endpoint_param& p) { return p.name == name; });
}

std::string allowed_names(const std::vector<endpoint_param>& params, std::string_view open,
                          std::string_view close) {
  std::string out = std::string(open) + "tenant_id" + std::string(close) + ", " +
                    std::string(open) + "user_id" + std::string(close);
  for (const auto& p : params) out += ", " + std::string(open) + p.name + std::string(close);
  return out;
}

// Splits the third channel segment into literal text and {name} placeholders, checking each.
result<void> check_resource_segment(std::string_view channel, std::string_view seg,
                                    const std::vector<endpoint_param>& params) {
  if (seg.empty())
    return bad("channel " + in_quotes(channel) +
               ": the resource segment (after the second ':') is empty");
  std::size_t i = 0;
  while (i < seg.size()) {
    char c = seg[i];
    if (c == '{') {
      auto close = seg.find('}', i);
      if (close == std::string_view::npos)
        return bad("channel " + in_quotes(channel) + ": '{' without a matching '}'");
      std::string_view name = seg.substr(i + 1, close - i - 1);
      if (!is_param_name(name))
        return bad("channel " + in_quotes(channel) + ": placeholder {" + std::string(name) +
                   "} is not a valid name ([a-z_][a-z0-9_]*; channel placeholders take no type)");
      if (name != kTenantIdName && name != kUserIdName && !names_param(params, name))
        return bad("channel " + in_quotes(channel) + " references {" + std::string(name) +
                   "}, which is not a parameter of the endpoint path (allowed: " +
                   allowed_names(params, "{", "}") + ")");
      i = close + 1;
      continue;
    }
    if (c == '}') return bad("channel " + in_quotes(channel) + ": '}' without a matching '{'");
    if (!is_channel_literal_char(c))
      return bad("channel " + in_quotes(channel) + ": character " +
                 in_quotes(std::string_view(&c, 1)) +
                 " is not allowed (literal text is [A-Za-z0-9._-])");
    ++i;
  }
  return {};
}

bool starts_with_keyword(std::string_view sql, std::string_view kw) {
  if (sql.size() < kw.size()) return false;
  for (std::size_t i = 0; i < kw.size(); ++i) {
    char c = sql[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != kw[i]) return false;
  }
  return sql.size() == kw.size() ||
         !(is_alpha(sql[kw.size()]) || is_digit(sql[kw.size()]) || sql[kw.size()] == '_');
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

}  // namespace

std::string_view to_string(param_type t) noexcept {
  return t == param_type::uuid ? "uuid" : "slug";
}

std::string path_shape(const endpoint_config& endpoint) {
  std::string out;
  for (const auto& seg : endpoint.segments)
    out += "/" + (seg.param < 0 ? seg.literal : std::string("{}"));
  return out;
}

result<path_template> parse_path_template(std::string_view path) {
  if (path.empty() || path[0] != '/')
    return bad("endpoint path " + in_quotes(path) + " must start with '/'");
  if (path.size() == 1)
    return bad("endpoint path '/' is reserved (the demo page and health checks)");
  path_template out;
  std::string_view rest = path.substr(1);
  while (true) {
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (seg.empty())
      return bad("endpoint path " + in_quotes(path) +
                 " has an empty segment ('//' or a trailing '/')");
    if (seg.front() == '{') {
      if (seg.back() != '}' || seg.find('}') != seg.size() - 1)
        return bad("endpoint path " + in_quotes(path) + ": parameter " + in_quotes(seg) +
                   " must be a whole path segment like {name} or {name:uuid}");
      std::string_view inner = seg.substr(1, seg.size() - 2);
      std::string_view name = inner;
      param_type type = param_type::slug;
      if (auto colon = inner.find(':'); colon != std::string_view::npos) {
        name = inner.substr(0, colon);
        std::string_view t = inner.substr(colon + 1);
        if (t == "uuid") {
          type = param_type::uuid;
        } else if (t == "slug") {
          type = param_type::slug;
        } else {
          return bad("endpoint path " + in_quotes(path) + ": parameter {" + std::string(inner) +
                     "} has unknown type " + in_quotes(t) + " (use uuid or slug)");
        }
      }
      if (!is_param_name(name))
        return bad("endpoint path " + in_quotes(path) + ": parameter name " + in_quotes(name) +
                   " must match [a-z_][a-z0-9_]*");
      if (name == kTenantIdName || name == kUserIdName)
        return bad("endpoint path " + in_quotes(path) + ": parameter name " + in_quotes(name) +
                   " is reserved (it comes from the caller's credentials, never from the URL)");
      if (names_param(out.params, name))
        return bad("endpoint path " + in_quotes(path) + ": parameter " + in_quotes(name) +
                   " appears twice");
      out.segments.push_back(path_segment{"", static_cast<int>(out.params.size())});
      out.params.push_back(endpoint_param{std::string(name), type});
    } else {
      for (char c : seg) {
        if (c == '{' || c == '}')
          return bad("endpoint path " + in_quotes(path) + ": segment " + in_quotes(seg) +
                     " mixes text and a parameter; a parameter must be a whole path segment");
        if (!is_literal_path_char(c))
          return bad("endpoint path " + in_quotes(path) + ": character " +
                     in_quotes(std::string_view(&c, 1)) +
                     " is not allowed in a literal segment (use [A-Za-z0-9._~-])");
      }
      out.segments.push_back(path_segment{std::string(seg), -1});
    }
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return out;
}

result<void> check_channel_template(std::string_view channel,
                                    const std::vector<endpoint_param>& params) {
  auto first = channel.find(':');
  auto second = first == std::string_view::npos ? first : channel.find(':', first + 1);
  if (second == std::string_view::npos || channel.find(':', second + 1) != std::string_view::npos)
    return bad("channel " + in_quotes(channel) +
               " must have exactly three ':'-separated segments: <prefix>:{tenant_id}:<resource>");
  std::string_view prefix = channel.substr(0, first);
  std::string_view middle = channel.substr(first + 1, second - first - 1);
  std::string_view resource = channel.substr(second + 1);
  if (prefix.empty()) return bad("channel " + in_quotes(channel) + " has an empty prefix");
  for (char c : prefix) {
    if (c == '{' || c == '}')
      return bad("channel " + in_quotes(channel) +
                 ": the prefix must be literal text (no placeholders), e.g. scan-progress");
    if (!is_channel_literal_char(c))
      return bad("channel " + in_quotes(channel) + ": character " +
                 in_quotes(std::string_view(&c, 1)) +
                 " is not allowed in the prefix (use [A-Za-z0-9._-])");
  }
  // The tenant gate trusts the middle segment, so it must always be the caller's own tenant.
  if (middle != "{tenant_id}")
    return bad("channel " + in_quotes(channel) +
               ": the middle segment must be exactly {tenant_id}");
  return check_resource_segment(channel, resource, params);
}

result<std::vector<std::string>> lookup_parameter_names(std::string_view sql) {
  std::vector<std::string> names;
  std::size_t i = 0;
  const std::size_t n = sql.size();
  auto skip_quoted = [&](char close) -> bool {  // i at the opening quote; false if unterminated
    for (++i; i < n; ++i) {
      if (sql[i] == close) {
        if (close != ']' && i + 1 < n && sql[i + 1] == close) {  // doubled quote = escaped quote
          ++i;
          continue;
        }
        ++i;
        return true;
      }
    }
    return false;
  };
  while (i < n) {
    char c = sql[i];
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
      if (!skip_quoted(c == '[' ? ']' : c))
        return bad("lookup has an unterminated quote starting " +
                   in_quotes(std::string_view(&c, 1)));
      continue;
    }
    if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      auto eol = sql.find('\n', i);
      i = eol == std::string_view::npos ? n : eol + 1;
      continue;
    }
    if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      auto end = sql.find("*/", i + 2);
      if (end == std::string_view::npos) return bad("lookup has an unterminated /* comment");
      i = end + 2;
      continue;
    }
    if (c == ':' && i + 1 < n &&
        sql[i + 1] == ':') {  // a PostgreSQL cast (x::text), not a parameter
      i += 2;
      continue;
    }
    if (c == ':' && i + 1 < n && (is_alpha(sql[i + 1]) || sql[i + 1] == '_')) {
      std::size_t j = i + 1;
      while (j < n && (is_alpha(sql[j]) || is_digit(sql[j]) || sql[j] == '_')) ++j;
      std::string name(sql.substr(i + 1, j - i - 1));
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      i = j;
      continue;
    }
    if (c == '?' ||
        ((c == '@' || c == '$') && i + 1 < n && (is_alpha(sql[i + 1]) || sql[i + 1] == '_'))) {
      return bad("lookup uses a " + in_quotes(std::string_view(&c, 1)) +
                 " parameter; use named :name parameters (e.g. :tenant_id)");
    }
    if (c == ';') {
      // Only trailing whitespace may follow: a second statement would be silently ignored by
      // prepare.
      std::size_t j = i + 1;
      while (j < n && is_space(sql[j])) ++j;
      if (j != n) return bad("lookup must be a single SQL statement (text follows ';')");
      break;
    }
    ++i;
  }
  return names;
}

result<void> check_lookup(std::string_view sql, const std::vector<endpoint_param>& params,
                          bool rls_scoped) {
  std::size_t start = 0;
  while (start < sql.size() && is_space(sql[start])) ++start;
  std::string_view body = sql.substr(start);
  if (body.empty()) return bad("lookup is empty (leave the key out to have no lookup)");
  if (!starts_with_keyword(body, "SELECT") && !starts_with_keyword(body, "WITH"))
    return bad("lookup must be a SELECT (or WITH ... SELECT) statement");
  auto names = lookup_parameter_names(body);
  if (!names) return std::move(names).err();
  for (const auto& name : *names) {
    if (name != kTenantIdName && name != kUserIdName && !names_param(params, name))
      return bad("lookup references :" + name + ", which is not a parameter of the endpoint path " +
                 "(allowed: " + allowed_names(params, ":", "") + ")");
  }
  // The isolation rule: a lookup that ignores the caller's tenant would confirm resources of other
  // tenants (and leak their existence through 403-vs-404). Under row-level security the database
  // itself hides them.
  if (!rls_scoped && std::find(names->begin(), names->end(), kTenantIdName) == names->end())
    return bad(
        "lookup must bind the caller's tenant with :tenant_id (e.g. AND tenant_id = :tenant_id)");
  return {};
}

std::optional<param_values> match_path(const endpoint_config& endpoint, std::string_view path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  param_values values(endpoint.params.size());
  std::string_view rest = path.substr(1);
  std::size_t k = 0;
  while (true) {
    if (k == endpoint.segments.size()) return std::nullopt;
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    const path_segment& want = endpoint.segments[k];
    if (want.param < 0) {
      if (seg != want.literal) return std::nullopt;
    } else {
      const endpoint_param& p = endpoint.params[static_cast<std::size_t>(want.param)];
      std::string value;
      if (p.type == param_type::uuid) {
        auto u = parse_uuid(seg);
        if (!u) return std::nullopt;
        value = std::move(*u);
      } else {
        if (!is_slug(seg)) return std::nullopt;
        value = std::string(seg);
      }
      values[static_cast<std::size_t>(want.param)] = {p.name, std::move(value)};
    }
    ++k;
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  if (k != endpoint.segments.size()) return std::nullopt;
  return values;
}

result<std::string> expand_channel(std::string_view channel_template, const param_values& values) {
  std::string out;
  out.reserve(channel_template.size() + 48);
  std::size_t i = 0;
  while (i < channel_template.size()) {
    char c = channel_template[i];
    if (c != '{') {
      out.push_back(c);
      ++i;
      continue;
    }
    auto close = channel_template.find('}', i);
    if (close == std::string_view::npos)
      return make_error(errc::internal,
                        "channel template " + in_quotes(channel_template) + " has '{' without '}'");
    std::string_view name = channel_template.substr(i + 1, close - i - 1);
    auto it = std::find_if(values.begin(), values.end(),
                           [&](const auto& kv) { return kv.first == name; });
    if (it == values.end())
      return make_error(errc::internal, "no value for {" + std::string(name) + "} in channel " +
                                            in_quotes(channel_template));
    if (it->second.empty() || it->second.find(':') != std::string::npos)
      return make_error(errc::forbidden, "the value for {" + std::string(name) +
                                             "} cannot be used in a channel name");
    out += it->second;
    i = close + 1;
  }
  return out;
}

}  // namespace herald::route

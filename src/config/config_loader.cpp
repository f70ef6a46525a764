#include "config/config_loader.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "config/option.hpp"
#include "config/toml_text.hpp"
#include "route/endpoint_template.hpp"

namespace herald::config {
namespace fs = std::filesystem;

namespace {

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string join_key(std::string_view section, std::string_view key) {
  return section.empty() ? std::string(key) : std::string(section) + "." + std::string(key);
}

std::string_view type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

std::string trim_trailing_space(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  return s;
}

bool is_env_name(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// An environment variable counts as set only when non-empty: the Prowler API's settings default
// the VALKEY_* variables to "" and mean "not configured" by it.
std::optional<std::string> env_value(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// "a, b" -> {"a", "b"} (a list key given as one string, or a list from the environment).
std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  return out;
}

// A module's value message starts with the value in quotes ("'kafka' is not supported"): the key
// goes in front with a space, or the variable with '='.
std::string with_key(std::string_view key, const std::string& message) {
  return std::string(key) + " " + message;
}
std::string with_variable(std::string_view var, const std::string& message) {
  return std::string(var) + (!message.empty() && message.front() == '\'' ? "=" : " ") + message;
}

// Collects the first error (with its file position) and ignores the rest: one clear message beats a
// cascade. Every call is a no-op after the first failure.
class reader {
 public:
  explicit reader(std::string source) : source_(std::move(source)) {}

  bool ok() const { return !err_.has_value(); }
  error take() { return std::move(*err_); }

  void fail(const toml::source_region& where, const std::string& msg) {
    if (err_) return;
    std::string prefix = source_;
    if (where.begin.line > 0)
      prefix += ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column);
    err_ = make_error(errc::invalid_config, prefix + ": " + msg);
  }
  void fail(const toml::node& where, const std::string& msg) { fail(where.source(), msg); }
  void fail(const std::string& msg) {
    if (err_) return;
    err_ = make_error(errc::invalid_config, source_ + ": " + msg);
  }

  // Refuses keys outside `allowed`, naming the first unknown one.
  void check_keys(const toml::table& t, std::string_view section,
                  const std::vector<std::string>& allowed) {
    if (!ok()) return;
    for (auto&& [k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      if (section.empty())
        fail(k.source(), "unknown section " + in_quotes(k.str()) + " (known: " + list + ")");
      else
        fail(k.source(), "unknown key " + in_quotes(join_key(section, k.str())) +
                             " (known keys of [" + std::string(section) + "]: " + list + ")");
      return;
    }
  }

  const toml::table* section(const toml::table& root, std::string_view name) {
    if (!ok()) return nullptr;
    const toml::node* n = root.get(name);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) {
      fail(*n, in_quotes(name) + " must be a table ([" + std::string(name) + "]), not " +
                   std::string(type_name(n->type())));
      return nullptr;
    }
    return n->as_table();
  }

  bool type_error(const toml::node& n, std::string_view key, std::string_view want) {
    fail(n, std::string(key) + " must be " + std::string(want) + ", not " +
                std::string(type_name(n.type())));
    return false;
  }

 private:
  std::string source_;
  std::optional<error> err_;
};

// Reads the rows of the table into a configuration. One per load.
class table_reader {
 public:
  table_reader(reader& r, fs::path base_dir, gateway_config& cfg)
      : r_(r), base_(std::move(base_dir)), cfg_(cfg) {
    scope_.base_dir = base_.string();
  }

  // One row: its file value (if `t` gives it), then its environment override.
  void read(const option& o, const toml::table* t) {
    if (!r_.ok()) return;
    if (t != nullptr && given(o, *t)) read_file_value(o, *t);
    if (r_.ok() && !o.env.empty()) read_env_override(o);
  }

  // Where a key named by a rule's message sits in the file, if it is given there.
  const toml::node* node_of(const option& o, const toml::table& root) const {
    const toml::node* sec = root.get(o.section);
    if (sec == nullptr || !sec->is_table()) return nullptr;
    for (const auto& k : o.spellings())
      if (const toml::node* n = sec->as_table()->get(k)) return n;
    return nullptr;
  }

  std::string resolve(const std::string& p) const {
    fs::path path(p);
    if (path.is_absolute()) return path.lexically_normal().string();
    return (base_ / path).lexically_normal().string();
  }

 private:
  static bool given(const option& o, const toml::table& t) {
    for (const auto& k : o.spellings())
      if (t.get(k) != nullptr) return true;
    return false;
  }

  void note(const option& o, std::string from) {
    cfg_.sources.emplace_back(o.name(), std::move(from));
  }

  void store(const option& o, const value& v, const toml::node& where) {
    if (o.not_empty && std::holds_alternative<std::string>(v) && std::get<std::string>(v).empty()) {
      r_.fail(where, o.name() + " must not be empty");
      return;
    }
    if (auto ok = o.set(v, cfg_, scope_); !ok) r_.fail(where, with_key(o.name(), ok.err().message));
  }

  void read_file_value(const option& o, const toml::table& t) {
    if (o.applies && !o.refusal.empty() && !o.applies(cfg_)) {
      for (const auto& k : o.spellings()) {
        if (const toml::node* n = t.get(k)) {
          r_.fail(*n, join_key(o.section, k) + " " + o.refusal);
          return;
        }
      }
    }
    if (o.kind == value_kind::secret) {
      read_secret(o, t);
      return;
    }
    const toml::node& n = *t.get(o.key);
    const std::string key = o.name();
    switch (o.kind) {
      case value_kind::boolean:
        if (!n.is_boolean()) return (void)r_.type_error(n, key, "a boolean (true or false)");
        store(o, value{n.as_boolean()->get()}, n);
        return;
      case value_kind::integer: {
        if (!n.is_integer()) return (void)r_.type_error(n, key, "an integer");
        const std::int64_t v = n.as_integer()->get();
        if (v < o.min || v > o.max) {
          r_.fail(n, key + " must be between " + std::to_string(o.min) + " and " +
                         std::to_string(o.max) + " (got " + std::to_string(v) + ")");
          return;
        }
        store(o, value{v}, n);
        return;
      }
      case value_kind::string:
        if (!n.is_string()) return (void)r_.type_error(n, key, "a string");
        store(o, value{std::string(n.as_string()->get())}, n);
        return;
      case value_kind::string_list:
        read_list(o, n);
        return;
      case value_kind::secret:
        return;
    }
  }

  void read_list(const option& o, const toml::node& n) {
    const std::string key = o.name();
    std::vector<std::string> items;
    std::vector<const toml::node*> where;
    if (o.string_or_list && n.is_string()) {
      items = split_list(n.as_string()->get());
      where.assign(items.size(), &n);
    } else if (n.is_array()) {
      for (const toml::node& el : *n.as_array()) {
        if (!el.is_string()) return (void)r_.type_error(el, key, "an array of strings");
        items.emplace_back(el.as_string()->get());
        where.push_back(&el);
      }
    } else {
      return (void)r_.type_error(n, key, "an array of strings");
    }
    if (o.item) {
      for (std::size_t i = 0; i < items.size(); ++i) {
        auto checked = o.item(items[i]);
        if (!checked) {
          r_.fail(*where[i], key + ": " + checked.err().message);
          return;
        }
        items[i] = std::move(*checked);
      }
    }
    store(o, value{std::move(items)}, n);
  }

  // One secret from exactly one of its forms: `key`, `key_file`, `key_env`.
  void read_secret(const option& o, const toml::table& t) {
    std::vector<std::string> given_keys;
    for (const auto& k : o.spellings())
      if (t.get(k) != nullptr) given_keys.push_back(k);
    if (given_keys.size() > 1) {
      std::string list;
      for (const auto& k : given_keys) list += (list.empty() ? "" : ", ") + join_key(o.section, k);
      r_.fail(*t.get(given_keys[1]), "give only one of " + list);
      return;
    }
    const std::string& k = given_keys.front();
    const std::string shown = join_key(o.section, k);
    const toml::node& where = *t.get(k);
    if (!where.is_string()) return (void)r_.type_error(where, shown, "a string");
    std::string text(where.as_string()->get());
    std::string from;
    if (k == o.key) {
      from = "inline";
    } else if (k == o.key + "_file") {
      std::string path = resolve(text);
      auto content = read_file(where, shown, path);
      if (!content) return;
      text = o.trim ? trim_trailing_space(std::move(*content)) : std::move(*content);
      from = "file " + path;
    } else {
      if (!is_env_name(text)) {
        r_.fail(where, shown + " must name an environment variable ([A-Za-z_][A-Za-z0-9_]*), got " +
                           in_quotes(text));
        return;
      }
      auto content = env_value(text);
      if (!content) {
        r_.fail(where, shown + ": environment variable " + text + " is not set (or is empty)" +
                           (o.what.empty() ? "" : "; set it to " + o.what));
        return;
      }
      from = "env " + text;
      if (o.env_decode) *content = o.env_decode(std::move(*content));
      text = o.trim ? trim_trailing_space(std::move(*content)) : std::move(*content);
    }
    if (text.empty()) {
      r_.fail(where, shown + " gives an empty value");
      return;
    }
    note(o, std::move(from));
    if (auto ok = o.set(value{std::move(text)}, cfg_, scope_); !ok)
      r_.fail(where, with_key(o.name(), ok.err().message));
  }

  std::optional<std::string> read_file(const toml::node& where, const std::string& key,
                                       const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      int e = errno;
      r_.fail(where,
              key + ": cannot read " + path + ": " + (e != 0 ? std::strerror(e) : "open failed"));
      return std::nullopt;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // The variable overrides the file when it is set and non-empty.
  void read_env_override(const option& o) {
    auto text = env_value(o.env);
    if (!text) return;
    if (o.env_decode) *text = o.env_decode(std::move(*text));
    std::optional<value> v;
    switch (o.kind) {
      case value_kind::boolean:
        if (*text == "true" || *text == "1") v = value{true};
        if (*text == "false" || *text == "0") v = value{false};
        if (!v) return r_.fail(o.env + "=" + in_quotes(*text) + " is not true or false");
        break;
      case value_kind::integer: {
        std::int64_t n = 0;
        const char* b = text->data();
        auto [p, ec] = std::from_chars(b, b + text->size(), n);
        if (ec != std::errc() || p != b + text->size() || n < o.min || n > o.max)
          return r_.fail(o.env + "=" + in_quotes(*text) + " is not " +
                         (o.noun_text.empty() ? "an integer between " + std::to_string(o.min) +
                                                    " and " + std::to_string(o.max)
                                              : o.noun_text));
        v = value{n};
        break;
      }
      case value_kind::string:
        v = value{*text};
        break;
      case value_kind::secret:
        v = value{o.trim ? trim_trailing_space(*text) : *text};
        break;
      case value_kind::string_list: {
        auto items = split_list(*text);
        for (auto& item : items) {
          if (!o.item) continue;
          auto checked = o.item(item);
          if (!checked) return r_.fail(with_variable(o.env, checked.err().message));
          item = std::move(*checked);
        }
        v = value{std::move(items)};
        break;
      }
    }
    if (auto ok = o.set(*v, cfg_, scope_); !ok)
      return r_.fail(with_variable(o.env, ok.err().message));
    note(o, "env " + o.env);
  }

  reader& r_;
  fs::path base_;
  gateway_config& cfg_;
  load_scope scope_;
};

std::vector<std::string> keys_of(std::string_view section) {
  std::vector<std::string> keys;
  for (const auto& o : options())
    if (o.section == section)
      for (auto& k : o.spellings()) keys.push_back(std::move(k));
  return keys;
}

void read_endpoints(reader& r, gateway_config& cfg, const toml::node& n) {
  if (!n.is_array()) {
    r.fail(n, "endpoints must be an array of tables (write each one as [[endpoints]])");
    return;
  }
  const std::vector<std::string> known = keys_of("endpoints");
  const toml::array& arr = *n.as_array();
  for (std::size_t i = 0; i < arr.size() && r.ok(); ++i) {
    const toml::node& el = *arr.get(i);
    const std::string sec = "endpoints[" + std::to_string(i) + "]";
    if (!el.is_table()) {
      r.fail(el, sec + " must be a table (write each endpoint as [[endpoints]])");
      return;
    }
    const toml::table& t = *el.as_table();
    r.check_keys(t, sec, known);
    if (!r.ok()) return;
    route::endpoint_config ep;
    const toml::node* path = t.get("path");
    if (path == nullptr) {
      r.fail(el, sec + " needs a path, e.g. path = \"/api/v1/scans/{scan_pk:uuid}/event-stream\"");
      return;
    }
    if (!path->is_string()) return (void)r.type_error(*path, sec + ".path", "a string");
    ep.path = path->as_string()->get();
    auto tmpl = route::parse_path_template(ep.path);
    if (!tmpl) {
      r.fail(*path, sec + ": " + tmpl.err().message);
      return;
    }
    ep.params = std::move(tmpl->params);
    ep.segments = std::move(tmpl->segments);
    const toml::node* channels = t.get("channels");
    if (channels == nullptr) {
      r.fail(el, sec + " (" + ep.path +
                     ") needs channels, e.g. channels = [\"scan-progress:{tenant_id}:{scan_pk}\"]");
      return;
    }
    if (!channels->is_array())
      return (void)r.type_error(*channels, sec + ".channels", "an array of strings");
    for (const toml::node& c : *channels->as_array()) {
      if (!c.is_string()) return (void)r.type_error(c, sec + ".channels", "an array of strings");
      ep.channels.emplace_back(c.as_string()->get());
    }
    if (ep.channels.empty()) {
      r.fail(*channels, sec + " (" + ep.path + ") needs at least one channel");
      return;
    }
    for (std::size_t k = 0; k < ep.channels.size(); ++k) {
      auto ok = route::check_channel_template(ep.channels[k], ep.params);
      if (!ok) {
        r.fail(*channels->as_array()->get(k), sec + " (" + ep.path + "): " + ok.err().message);
        return;
      }
      if (std::find(ep.channels.begin(), ep.channels.begin() + static_cast<std::ptrdiff_t>(k),
                    ep.channels[k]) != ep.channels.begin() + static_cast<std::ptrdiff_t>(k)) {
        r.fail(*channels, sec + " (" + ep.path + "): channel " + in_quotes(ep.channels[k]) +
                              " is listed twice");
        return;
      }
    }
    if (const toml::node* lookup = t.get("lookup")) {
      if (!lookup->is_string()) return (void)r.type_error(*lookup, sec + ".lookup", "a string");
      ep.lookup = lookup->as_string()->get();
      auto ok = route::check_lookup(ep.lookup, ep.params, cfg.store.driver == "postgres");
      if (!ok) {
        r.fail(*lookup, sec + " (" + ep.path + "): " + ok.err().message);
        return;
      }
    }
    if (const toml::node* rr = t.get("reliable")) {
      if (!rr->is_boolean())
        return (void)r.type_error(*rr, sec + ".reliable", "a boolean (true or false)");
      ep.reliable = rr->as_boolean()->get();
    }
    // Same shape = same URLs: /a/{x} and /a/{y} would match the same requests.
    for (const auto& prev : cfg.endpoints) {
      if (route::path_shape(prev) == route::path_shape(ep)) {
        r.fail(*path, sec + ": path " + in_quotes(ep.path) + " duplicates the endpoint " +
                          in_quotes(prev.path) + " (they match the same URLs)");
        return;
      }
    }
    cfg.endpoints.push_back(std::move(ep));
  }
}

// A rule's message names its key first ("bus.reconnect_min_ms (500) must not exceed ..."): point at
// that key when the file gives it.
void report_rule(reader& r, const table_reader& tr, const toml::table& root, const error& e) {
  const option* named = nullptr;
  for (const auto& o : options()) {
    const std::string name = o.name();
    if (e.message.compare(0, name.size(), name) != 0) continue;
    if (e.message.size() > name.size() && e.message[name.size()] != ' ' &&
        e.message[name.size()] != ':')
      continue;
    if (named == nullptr || name.size() > named->name().size()) named = &o;
  }
  if (named != nullptr)
    if (const toml::node* n = tr.node_of(*named, root)) return r.fail(*n, e.message);
  r.fail(e.message);
}

result<gateway_config> load_table(const toml::table& root, const std::string& base_dir,
                                  bool require_endpoints, const std::string& source_name,
                                  const std::string& config_file) {
  reader r(source_name);
  gateway_config cfg;
  std::error_code ec;
  fs::path base = base_dir.empty() ? fs::current_path(ec) : fs::absolute(base_dir, ec);
  if (ec)
    return make_error(errc::invalid_config, source_name + ": cannot resolve base directory " +
                                                in_quotes(base_dir) + ": " + ec.message());
  base = base.lexically_normal();
  cfg.base_dir = base.string();
  if (cfg.base_dir.size() > 1 && cfg.base_dir.back() == '/') cfg.base_dir.pop_back();
  cfg.config_file = config_file;

  std::vector<std::string> section_names;
  for (const auto& s : sections()) section_names.push_back(s.name);
  r.check_keys(root, "", section_names);
  table_reader tr(r, base, cfg);
  for (const auto& s : sections()) {
    if (s.array) continue;
    const toml::table* t = r.section(root, s.name);
    if (t != nullptr) r.check_keys(*t, s.name, keys_of(s.name));
    for (const auto& o : options())
      if (o.section == s.name) tr.read(o, t);
  }
  if (r.ok())
    if (const toml::node* n = root.get("endpoints")) read_endpoints(r, cfg, *n);
  for (const auto& c : checks()) {
    if (!r.ok()) break;
    if (auto ok = c.run(cfg); !ok) report_rule(r, tr, root, ok.err());
  }
  if (!r.ok()) return r.take();
  if (require_endpoints) {
    auto v = validate_for_serve(cfg);
    if (!v) return make_error(errc::invalid_config, source_name + ": " + v.err().message);
  }
  return cfg;
}

result<toml::table> parse_toml(std::string_view text, const std::string& source_name) {
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return make_error(errc::invalid_config, source_name + ":" + std::to_string(b.line) + ":" +
                                                std::to_string(b.column) + ": " +
                                                std::string(e.description()));
  }
}

}  // namespace

std::vector<std::string> option::spellings() const {
  if (kind != value_kind::secret) return {key};
  std::vector<std::string> out;
  if (forms.inline_text) out.push_back(key);
  if (forms.file) out.push_back(key + "_file");
  if (forms.env) out.push_back(key + "_env");
  return out;
}

option detail::make(std::string_view name, value_kind kind, std::string type_name,
                    std::string help) {
  option o;
  auto dot = name.find('.');
  o.section = std::string(name.substr(0, dot));
  o.key = std::string(name.substr(dot + 1));
  o.kind = kind;
  o.type_name = std::move(type_name);
  o.help = std::move(help);
  return o;
}

result<void> validate_for_serve(const gateway_config& cfg) {
  if (cfg.endpoints.empty())
    return make_error(errc::invalid_config,
                      "no stream endpoints: add at least one [[endpoints]] section (see "
                      "config/herald.example.toml)");
  return {};
}

result<gateway_config> load_config_string(std::string_view toml_text, const std::string& base_dir,
                                          bool require_endpoints, const std::string& source_name) {
  auto root = parse_toml(toml_text, source_name);
  if (!root) return std::move(root).err();
  return load_table(*root, base_dir, require_endpoints, source_name, "");
}

result<gateway_config> load_config_file(const std::string& path, bool require_endpoints) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) return make_error(errc::invalid_config, path + ": " + ec.message());
  abs = abs.lexically_normal();
  std::ifstream in(abs, std::ios::binary);
  if (!in) {
    int e = errno;
    return make_error(errc::invalid_config, path + ": cannot read the config file: " +
                                                (e != 0 ? std::strerror(e) : "open failed"));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  auto root = parse_toml(ss.str(), path);
  if (!root) return std::move(root).err();
  return load_table(*root, abs.parent_path().string(), require_endpoints, path, abs.string());
}

result<void> reload_refusal(const gateway_config& running, const gateway_config& next) {
  std::string keys;
  for (const auto& o : options()) {
    if (!o.restart || !o.get) continue;
    if (o.get(running) != o.get(next)) keys += (keys.empty() ? "" : ", ") + o.name();
  }
  if (keys.empty()) return {};
  return make_error(errc::invalid_config,
                    keys +
                        ": cannot change on reload (listener addresses and threads, socket "
                        "options, the store and the bus are fixed while Herald runs); restart "
                        "Herald to change them");
}

std::string describe(const gateway_config& cfg) {
  auto source_of = [&](const std::string& key) -> std::string {
    std::string from;
    for (const auto& [k, v] : cfg.sources)
      if (k == key) from = v;  // last one wins (env overrides come after the file)
    return from.empty() ? "" : "  # from " + from;
  };
  std::ostringstream o;
  o << "# Herald effective configuration (secrets shown as [set]/[unset])\n";
  if (!cfg.config_file.empty()) o << "# file: " << cfg.config_file << "\n";
  o << "# relative paths resolved against: " << cfg.base_dir << "\n";
  for (const auto& s : sections()) {
    if (s.array) continue;
    o << "\n[" << s.name << "]\n";
    for (const auto& opt : options()) {
      if (opt.section != s.name || (opt.applies && !opt.applies(cfg))) continue;
      auto v = opt.get(cfg);
      o << opt.key << " = ";
      if (opt.secret)
        o << (v ? "\"[set]\"" : "\"[unset]\"");
      else
        o << (v ? toml_value(*v) : "\"\"");
      o << source_of(opt.name()) << "\n";
    }
  }
  o << "\n";
  if (cfg.endpoints.empty()) o << "# no [[endpoints]] (herald serve needs at least one)\n";
  for (const auto& ep : cfg.endpoints) {
    o << "[[endpoints]]\n"
      << "path = " << toml_string(ep.path) << "\n"
      << "channels = " << toml_value(value{ep.channels}) << "\n";
    if (!ep.lookup.empty()) o << "lookup = " << toml_string(ep.lookup) << "\n";
    if (ep.reliable) o << "reliable = true\n";
    o << "\n";
  }
  std::string text = o.str();
  while (text.size() >= 2 && text[text.size() - 1] == '\n' && text[text.size() - 2] == '\n')
    text.pop_back();
  return text;
}

}  // namespace herald::config

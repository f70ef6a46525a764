#include "config/config_loader.hpp"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>

#include "route/endpoint_template.hpp"
#include "sse/event_type.hpp"

namespace herald::config {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMinPublisherKeyBytes = 16;
constexpr std::size_t kMinHs256SecretBytes = 32;  // RFC 7518 §3.2: key >= hash output size

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

// An environment variable counts as set only when non-empty: Prowler's settings default the
// VALKEY_* variables to "" and mean "not configured" by it.
std::optional<std::string> env_value(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::optional<std::uint16_t> parse_port(std::string_view s, bool allow_zero) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535 || (v == 0 && !allow_zero)) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

bool is_wildcard(std::string_view address) { return address == "0.0.0.0" || address == "::"; }

std::string format_listener(const listener_config& l) {
  if (l.address.find(':') != std::string::npos)
    return "[" + l.address + "]:" + std::to_string(l.port);
  return l.address + ":" + std::to_string(l.port);
}

// A hostname or IP for host:port fields that go to a resolver (the bus), not to bind().
bool is_host(std::string_view h) {
  return !h.empty() && h.size() <= 253 && std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == ':';
  });
}

// Collects the first error (with its file position) and ignores the rest: one clear message beats a
// cascade. Every getter is a no-op after the first failure.
class reader {
 public:
  explicit reader(std::string source) : source_(std::move(source)) {}

  bool ok() const { return !err_.has_value(); }
  error take() { return std::move(*err_); }
  const std::string& source() const { return source_; }

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
                  std::initializer_list<std::string_view> allowed) {
    if (!ok()) return;
    for (auto&& [k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        if (section.empty())
          fail(k.source(), "unknown section " + in_quotes(k.str()) + " (known: " + list + ")");
        else
          fail(k.source(), "unknown key " + in_quotes(join_key(section, k.str())) +
                               " (known keys of [" + std::string(section) + "]: " + list + ")");
        return;
      }
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

  const toml::node* node(const toml::table& t, std::string_view key) {
    return ok() ? t.get(key) : nullptr;
  }

  bool get(const toml::table& t, std::string_view sec, std::string_view key, std::string& out) {
    const toml::node* n = node(t, key);
    if (n == nullptr) return false;
    if (!n->is_string()) return type_error(*n, sec, key, "a string");
    out = n->as_string()->get();
    return true;
  }

  bool get(const toml::table& t, std::string_view sec, std::string_view key, bool& out) {
    const toml::node* n = node(t, key);
    if (n == nullptr) return false;
    if (!n->is_boolean()) return type_error(*n, sec, key, "a boolean (true or false)");
    out = n->as_boolean()->get();
    return true;
  }

  template <class U>
  bool get_int(const toml::table& t, std::string_view sec, std::string_view key, U& out,
               std::int64_t lo, std::int64_t hi) {
    const toml::node* n = node(t, key);
    if (n == nullptr) return false;
    if (!n->is_integer()) return type_error(*n, sec, key, "an integer");
    std::int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) {
      fail(*n, join_key(sec, key) + " must be between " + std::to_string(lo) + " and " +
                   std::to_string(hi) + " (got " + std::to_string(v) + ")");
      return false;
    }
    out = static_cast<U>(v);
    return true;
  }

  bool get(const toml::table& t, std::string_view sec, std::string_view key,
           std::vector<std::string>& out) {
    const toml::node* n = node(t, key);
    if (n == nullptr) return false;
    if (!n->is_array()) return type_error(*n, sec, key, "an array of strings");
    std::vector<std::string> v;
    for (const toml::node& el : *n->as_array()) {
      if (!el.is_string()) return type_error(el, sec, key, "an array of strings");
      v.push_back(el.as_string()->get());
    }
    out = std::move(v);
    return true;
  }

 private:
  bool type_error(const toml::node& n, std::string_view sec, std::string_view key,
                  std::string_view want) {
    fail(n, join_key(sec, key) + " must be " + std::string(want) + ", not " +
                std::string(type_name(n.type())));
    return false;
  }

  std::string source_;
  std::optional<error> err_;
};

// State shared by the section readers: where relative paths resolve, and provenance for describe().
struct load_context {
  reader& r;
  fs::path base_dir;
  gateway_config& cfg;

  std::string resolve(const std::string& p) const {
    fs::path path(p);
    if (path.is_absolute()) return path.lexically_normal().string();
    return (base_dir / path).lexically_normal().string();
  }

  void note(std::string key, std::string from) {
    cfg.sources.emplace_back(std::move(key), std::move(from));
  }

  // Reads a whole file named by `key`; the error names the key and the resolved path.
  std::optional<std::string> read_file(const toml::node& where, std::string_view key,
                                       const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      int e = errno;
      r.fail(where, std::string(key) + ": cannot read " + path + ": " +
                        (e != 0 ? std::strerror(e) : "open failed"));
      return std::nullopt;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::optional<std::string> read_env(const toml::node& where, std::string_view key,
                                      const std::string& name) {
    if (!is_env_name(name)) {
      r.fail(where, std::string(key) +
                        " must name an environment variable ([A-Za-z_][A-Za-z0-9_]*), got " +
                        in_quotes(name));
      return std::nullopt;
    }
    auto v = env_value(name.c_str());
    if (!v) {
      r.fail(where,
             std::string(key) + ": environment variable " + name + " is not set (or is empty)");
      return std::nullopt;
    }
    return v;
  }

  // One secret from exactly one of `inline_key`, `<file_key>`, `<env_key>`. Empty result if none
  // given. Files and variables are trimmed of trailing whitespace (an `echo secret > file` leaves a
  // newline).
  std::optional<std::string> one_of(const toml::table& t, std::string_view sec,
                                    std::string_view inline_key, std::string_view file_key,
                                    std::string_view env_key, std::string_view provenance_key,
                                    bool trim) {
    std::vector<std::string_view> given;
    for (auto k : {inline_key, file_key, env_key})
      if (!k.empty() && t.get(k) != nullptr) given.push_back(k);
    if (given.size() > 1) {
      std::string list;
      for (auto k : given) list += (list.empty() ? "" : ", ") + join_key(sec, k);
      r.fail(*t.get(given[1]), "give only one of " + list);
      return std::nullopt;
    }
    if (given.empty()) return std::string();
    std::string value;
    std::string_view k = given.front();
    const toml::node& where = *t.get(k);
    if (!r.get(t, sec, k, value)) return std::nullopt;
    if (k == inline_key) {
      note(std::string(provenance_key), "inline");
    } else if (k == file_key) {
      std::string path = resolve(value);
      auto content = read_file(where, join_key(sec, k), path);
      if (!content) return std::nullopt;
      value = trim ? trim_trailing_space(std::move(*content)) : std::move(*content);
      note(std::string(provenance_key), "file " + path);
    } else {
      auto content = read_env(where, join_key(sec, k), value);
      if (!content) return std::nullopt;
      value = trim ? trim_trailing_space(std::move(*content)) : std::move(*content);
      note(std::string(provenance_key), "env " + std::string(where.as_string()->get()));
    }
    if (value.empty()) {
      r.fail(where, join_key(sec, k) + " gives an empty value");
      return std::nullopt;
    }
    return value;
  }
};

void read_listen(load_context& c, const toml::table& t, std::string_view sec,
                 listener_config& out) {
  std::string text;
  if (!c.r.get(t, sec, "listen", text)) return;
  auto l = parse_listen_address(text);
  if (!l) {
    c.r.fail(*t.get("listen"), join_key(sec, "listen") + ": " + l.err().message);
    return;
  }
  out = *l;
}

void read_server(load_context& c, const toml::table& t) {
  reader& r = c.r;
  const std::string_view s = "server";
  r.check_keys(t, s,
               {"listen", "threads", "keepalive_seconds", "max_header_bytes", "header_timeout_ms",
                "max_connections", "queue_max_events", "queue_max_bytes", "shutdown_deadline_ms",
                "retry_base_ms", "retry_jitter_ms"});
  server_config& o = c.cfg.server;
  read_listen(c, t, s, o.listen);
  r.get_int(t, s, "threads", o.threads, 0, 1024);
  r.get_int(t, s, "keepalive_seconds", o.keepalive_seconds, 1, 3600);
  r.get_int(t, s, "max_header_bytes", o.max_header_bytes, 512, 1 << 20);
  r.get_int(t, s, "header_timeout_ms", o.header_timeout_ms, 1, 600'000);
  r.get_int(t, s, "max_connections", o.max_connections, 1, 10'000'000);
  r.get_int(t, s, "queue_max_events", o.queue_max_events, 1, 10'000'000);
  r.get_int(t, s, "queue_max_bytes", o.queue_max_bytes, 1, std::int64_t{1} << 30);
  r.get_int(t, s, "shutdown_deadline_ms", o.shutdown_deadline_ms, 0, 3'600'000);
  r.get_int(t, s, "retry_base_ms", o.retry_base_ms, 0, 3'600'000);
  r.get_int(t, s, "retry_jitter_ms", o.retry_jitter_ms, 0, 3'600'000);
}

void read_internal(load_context& c, const toml::table& t) {
  reader& r = c.r;
  const std::string_view s = "internal";
  r.check_keys(t, s,
               {"listen", "publisher_key", "publisher_key_file", "publisher_key_env",
                "max_body_bytes", "max_batch_events"});
  internal_config& o = c.cfg.internal;
  read_listen(c, t, s, o.listen);
  auto key = c.one_of(t, s, "publisher_key", "publisher_key_file", "publisher_key_env",
                      "internal.publisher_key", /*trim=*/true);
  if (key && !key->empty()) {
    if (key->size() < kMinPublisherKeyBytes) {
      const toml::node* where = t.get("publisher_key");
      if (where == nullptr) where = t.get("publisher_key_file");
      if (where == nullptr) where = t.get("publisher_key_env");
      r.fail(*where, "internal.publisher_key must be at least " +
                         std::to_string(kMinPublisherKeyBytes) +
                         " characters (try: openssl rand -hex 32)");
    }
    o.publisher_key = std::move(*key);
  }
  r.get_int(t, s, "max_body_bytes", o.max_body_bytes, 1, std::int64_t{1} << 30);
  r.get_int(t, s, "max_batch_events", o.max_batch_events, 1, 1'000'000);
}

// "https://app.example.com[:port]" -> lower-cased scheme and host (browsers serialize Origin that
// way), or "*". No path, query, fragment or userinfo.
result<std::string> normalize_origin(std::string_view o) {
  if (o == "*") return std::string("*");
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_config, "origin " + in_quotes(o) + " " + why);
  };
  auto sep = o.find("://");
  if (sep == std::string_view::npos || sep == 0)
    return bad("must look like scheme://host[:port], e.g. https://app.example.com");
  std::string out;
  for (char ch : o.substr(0, sep)) {
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
      return bad("has an invalid scheme");
    out.push_back(c);
  }
  out += "://";
  std::string_view authority = o.substr(sep + 3);
  if (authority.empty()) return bad("has no host");
  if (authority.find('/') != std::string_view::npos)
    return bad("must not have a path (not even a trailing '/')");
  if (authority.find_first_of("?#@ ") != std::string_view::npos)
    return bad("must be only scheme://host[:port]");
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("has an unterminated '['");
    host = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("has text after the IPv6 address");
      port = rest.substr(1);
      if (!parse_port(port, false)) return bad("has an invalid port");
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (!parse_port(port, false)) return bad("has an invalid port");
  }
  if (host.empty()) return bad("has no host");
  for (char ch : host)
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  if (!port.empty()) out += ":" + std::string(port);
  return out;
}

// Header names for Access-Control-Allow-Headers: RFC 9110 tokens only (no CR/LF injection).
bool is_header_token(std::string_view s) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           extra.find(c) != std::string_view::npos;
  });
}

void read_cors(load_context& c, const toml::table& t) {
  reader& r = c.r;
  const std::string_view s = "cors";
  r.check_keys(t, s, {"allow_origins", "allow_credentials", "allow_headers", "max_age_seconds"});
  cors_config& o = c.cfg.cors;
  std::vector<std::string> origins;
  if (r.get(t, s, "allow_origins", origins)) {
    const toml::array& arr = *t.get("allow_origins")->as_array();
    o.allow_origins.clear();
    for (std::size_t i = 0; i < origins.size() && r.ok(); ++i) {
      auto n = normalize_origin(origins[i]);
      if (!n) {
        r.fail(*arr.get(i), "cors.allow_origins: " + n.err().message);
        break;
      }
      if (std::find(o.allow_origins.begin(), o.allow_origins.end(), *n) == o.allow_origins.end())
        o.allow_origins.push_back(std::move(*n));
    }
  }
  r.get(t, s, "allow_credentials", o.allow_credentials);
  if (const toml::node* n = r.node(t, "allow_headers")) {
    std::vector<std::string> names;
    if (n->is_string()) {
      std::string_view text = n->as_string()->get();
      while (!text.empty()) {
        auto comma = text.find(',');
        std::string_view part = text.substr(0, comma);
        while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
        while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
        names.emplace_back(part);
        if (comma == std::string_view::npos) break;
        text = text.substr(comma + 1);
      }
    } else if (!r.get(t, s, "allow_headers", names)) {
      return;
    }
    std::string joined;
    for (const auto& h : names) {
      if (!is_header_token(h)) {
        r.fail(*n, "cors.allow_headers: " + in_quotes(h) + " is not a valid header name");
        return;
      }
      joined += (joined.empty() ? "" : ", ") + h;
    }
    o.allow_headers = joined;
  }
  r.get_int(t, s, "max_age_seconds", o.max_age_seconds, 0, 86'400);
}

std::optional<auth::jwt_algorithm> parse_algorithm(std::string_view s) {
  std::string up;
  for (char ch : s) up.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  if (up == "RS256") return auth::jwt_algorithm::rs256;
  if (up == "ES256") return auth::jwt_algorithm::es256;
  if (up == "EDDSA") return auth::jwt_algorithm::eddsa;
  if (up == "HS256") return auth::jwt_algorithm::hs256;
  return std::nullopt;
}

void read_auth(load_context& c, const toml::table* tp) {
  reader& r = c.r;
  const std::string_view s = "auth";
  static const toml::table empty;
  const toml::table& t = tp != nullptr ? *tp : empty;
  r.check_keys(t, s,
               {"algorithm", "verify_key", "verify_key_file", "secret", "secret_file", "secret_env",
                "signing_key_file", "audience", "issuer", "leeway_seconds", "user_claim",
                "tenant_claim", "required_type", "cache_entries", "api_keys", "check_user_active"});
  auth::jwt_config& j = c.cfg.auth.jwt;
  std::string alg;
  if (r.get(t, s, "algorithm", alg)) {
    auto a = parse_algorithm(alg);
    if (!a) {
      r.fail(*t.get("algorithm"), "auth.algorithm " + in_quotes(alg) +
                                      " is not supported (use RS256, ES256, EdDSA or HS256)");
      return;
    }
    j.algorithm = *a;
  }
  const bool hs = j.algorithm == auth::jwt_algorithm::hs256;
  if (!r.ok()) return;

  if (hs) {
    for (auto k : {"verify_key", "verify_key_file"}) {
      if (const toml::node* n = t.get(k)) {
        r.fail(*n, std::string("auth.") + k +
                       " is for public-key algorithms; with HS256 give secret, secret_file or "
                       "secret_env");
        return;
      }
    }
    if (const toml::node* n = t.get("signing_key_file")) {
      r.fail(*n,
             "auth.signing_key_file is for public-key algorithms; with HS256 the secret both "
             "signs and verifies");
      return;
    }
    auto secret = c.one_of(t, s, "secret", "secret_file", "secret_env", "auth.secret", true);
    if (!secret) return;
    if (secret->empty()) {
      r.fail(
          "auth.algorithm is HS256 but no secret is configured (set auth.secret, auth.secret_file "
          "or auth.secret_env)");
      return;
    }
    if (secret->size() < kMinHs256SecretBytes) {
      r.fail("auth: the HS256 secret must be at least " + std::to_string(kMinHs256SecretBytes) +
             " bytes (try: openssl rand -base64 48)");
      return;
    }
    j.verify_key = *secret;
    j.signing_key = std::move(*secret);  // `herald token` signs with the same secret
  } else {
    for (auto k : {"secret", "secret_file", "secret_env"}) {
      if (const toml::node* n = t.get(k)) {
        r.fail(*n, std::string("auth.") + k + " is only for HS256; auth.algorithm is " +
                       std::string(to_string(j.algorithm)) +
                       ", so give verify_key or verify_key_file");
        return;
      }
    }
    auto key = c.one_of(t, s, "verify_key", "verify_key_file", "", "auth.verify_key", false);
    if (!key) return;
    if (key->empty()) {
      r.fail(
          "auth: no JWT verification key (set auth.verify_key_file to a PEM public key, or "
          "auth.verify_key to its text)");
      return;
    }
    const toml::node& where =
        t.get("verify_key") ? *t.get("verify_key") : *t.get("verify_key_file");
    if (key->find("-----BEGIN ") == std::string::npos) {
      r.fail(where, "auth.verify_key is not a PEM key (expected -----BEGIN PUBLIC KEY-----)");
      return;
    }
    // A private key here would work for verification with some libraries, but it means the secret
    // signing key is deployed to every gateway; refuse it.
    if (key->find("PRIVATE KEY") != std::string::npos) {
      r.fail(where,
             "auth.verify_key holds a PRIVATE key; give the public key (openssl pkey -pubout)");
      return;
    }
    j.verify_key = std::move(*key);
    std::string signing_path;
    if (r.get(t, s, "signing_key_file", signing_path)) {
      const toml::node& sw = *t.get("signing_key_file");
      std::string path = c.resolve(signing_path);
      auto content = c.read_file(sw, "auth.signing_key_file", path);
      if (!content) return;
      if (content->find("PRIVATE KEY-----") == std::string::npos) {
        r.fail(sw, "auth.signing_key_file " + path + " is not a PEM private key");
        return;
      }
      j.signing_key = std::move(*content);
      c.note("auth.signing_key", "file " + path);
    }
  }
  r.get(t, s, "audience", j.audience);
  r.get(t, s, "issuer", j.issuer);
  r.get_int(t, s, "leeway_seconds", j.leeway_seconds, 0, 86'400);
  if (r.get(t, s, "user_claim", j.user_claim) && j.user_claim.empty())
    r.fail(*t.get("user_claim"), "auth.user_claim must not be empty");
  if (r.get(t, s, "tenant_claim", j.tenant_claim) && j.tenant_claim.empty())
    r.fail(*t.get("tenant_claim"), "auth.tenant_claim must not be empty");
  r.get(t, s, "required_type", j.required_type);
  r.get_int(t, s, "cache_entries", j.cache_entries, 0, 100'000'000);
  r.get(t, s, "api_keys", c.cfg.auth.api_keys_enabled);
  r.get(t, s, "check_user_active", c.cfg.auth.check_user_active);
}

void read_store(load_context& c, const toml::table& t) {
  reader& r = c.r;
  const std::string_view s = "store";
  r.check_keys(t, s, {"driver", "path", "pool_threads"});
  store_config& o = c.cfg.store;
  if (r.get(t, s, "driver", o.driver) && o.driver != "sqlite") {
    r.fail(*t.get("driver"), "store.driver " + in_quotes(o.driver) +
                                 " is not supported (this build supports \"sqlite\" only)");
    return;
  }
  if (r.get(t, s, "path", o.path) && o.path.empty())
    r.fail(*t.get("path"), "store.path must not be empty");
  r.get_int(t, s, "pool_threads", o.pool_threads, 1, 256);
}

void read_bus(load_context& c, const toml::table& t) {
  reader& r = c.r;
  const std::string_view s = "bus";
  r.check_keys(
      t, s,
      {"kind", "mode", "host", "port", "username", "password", "password_env", "scheme", "prefix",
       "compat_channel", "cluster", "cluster_nodes", "reconnect_min_ms", "reconnect_max_ms",
       "max_pending_publishes", "connect_timeout_ms", "command_timeout_ms", "max_message_bytes"});
  bus::bus_config& o = c.cfg.bus;
  std::string v;
  if (r.get(t, s, "kind", v)) {
    if (v == "local") {
      o.kind = bus::bus_kind::local;
    } else if (v == "redis") {
      o.kind = bus::bus_kind::redis;
    } else {
      r.fail(*t.get("kind"),
             "bus.kind " + in_quotes(v) + " is not supported (use \"local\" or \"redis\")");
      return;
    }
  }
  if (r.get(t, s, "mode", v)) {
    if (v == "native") {
      o.mode = bus::bus_mode::native;
    } else if (v == "compat") {
      o.mode = bus::bus_mode::compat;
    } else {
      r.fail(*t.get("mode"),
             "bus.mode " + in_quotes(v) + " is not supported (use \"native\" or \"compat\")");
      return;
    }
  }
  if (r.get(t, s, "host", o.host) && !is_host(o.host))
    r.fail(*t.get("host"), "bus.host " + in_quotes(o.host) + " is not a host name or IP address");
  r.get_int(t, s, "port", o.port, 1, 65535);
  r.get(t, s, "username", o.username);
  if (auto pw = c.one_of(t, s, "password", "", "password_env", "bus.password", false);
      pw && !pw->empty())
    o.password = std::move(*pw);
  if (r.get(t, s, "scheme", o.scheme) && o.scheme != "redis" && o.scheme != "rediss")
    r.fail(*t.get("scheme"),
           "bus.scheme " + in_quotes(o.scheme) + " is not supported (use \"redis\")");
  r.get(t, s, "prefix", o.prefix);
  if (r.get(t, s, "compat_channel", o.compat_channel) && o.compat_channel.empty())
    r.fail(*t.get("compat_channel"), "bus.compat_channel must not be empty");
  r.get(t, s, "cluster", o.cluster);
  std::vector<std::string> nodes;
  if (r.get(t, s, "cluster_nodes", nodes)) {
    for (const auto& node : nodes) {
      std::string_view hp = node;
      auto colon = hp.rfind(':');
      std::string_view host = colon == std::string_view::npos ? hp : hp.substr(0, colon);
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
      if (colon == std::string_view::npos || !is_host(host) ||
          !parse_port(hp.substr(colon + 1), false)) {
        r.fail(*t.get("cluster_nodes"),
               "bus.cluster_nodes: " + in_quotes(node) + " must be host:port (e.g. valkey-0:6379)");
        return;
      }
    }
    o.cluster_nodes = std::move(nodes);
  }
  r.get_int(t, s, "reconnect_min_ms", o.reconnect_min_ms, 1, 3'600'000);
  r.get_int(t, s, "reconnect_max_ms", o.reconnect_max_ms, 1, 3'600'000);
  r.get_int(t, s, "max_pending_publishes", o.max_pending_publishes, 1, 10'000'000);
  r.get_int(t, s, "connect_timeout_ms", o.connect_timeout_ms, 1, 600'000);
  r.get_int(t, s, "command_timeout_ms", o.command_timeout_ms, 1, 600'000);
  r.get_int(t, s, "max_message_bytes", o.max_message_bytes, 1024, std::int64_t{512} << 20);
}

// The seed's deployment variables (config/settings/celery.py). They win over the file so one image
// can run in every environment.
void apply_valkey_env(load_context& c) {
  reader& r = c.r;
  bus::bus_config& o = c.cfg.bus;
  if (auto v = env_value("VALKEY_HOST")) {
    if (!is_host(*v)) {
      r.fail("VALKEY_HOST=" + in_quotes(*v) + " is not a host name or IP address");
      return;
    }
    o.host = *v;
    c.note("bus.host", "env VALKEY_HOST");
  }
  if (auto v = env_value("VALKEY_PORT")) {
    auto p = parse_port(*v, false);
    if (!p) {
      r.fail("VALKEY_PORT=" + in_quotes(*v) + " is not a port number (1-65535)");
      return;
    }
    o.port = *p;
    c.note("bus.port", "env VALKEY_PORT");
  }
  if (auto v = env_value("VALKEY_USERNAME")) {
    o.username = *v;
    c.note("bus.username", "env VALKEY_USERNAME");
  }
  if (auto v = env_value("VALKEY_PASSWORD")) {
    o.password = *v;
    c.note("bus.password", "env VALKEY_PASSWORD");
  }
  if (auto v = env_value("VALKEY_SCHEME")) {
    if (*v != "redis" && *v != "rediss") {
      r.fail("VALKEY_SCHEME=" + in_quotes(*v) + " is not supported (use \"redis\")");
      return;
    }
    o.scheme = *v;
    c.note("bus.scheme", "env VALKEY_SCHEME");
  }
}

void read_events(load_context& c, const toml::table& t) {
  reader& r = c.r;
  const std::string_view s = "events";
  r.check_keys(t, s, {"extra_verbs", "max_data_bytes"});
  std::vector<std::string> extra;
  if (r.get(t, s, "extra_verbs", extra)) {
    for (const auto& verb : extra) {
      bool ok =
          !verb.empty() && verb.size() <= 32 &&
          std::all_of(verb.begin(), verb.end(), [](char ch) { return ch >= 'a' && ch <= 'z'; });
      if (!ok) {
        r.fail(*t.get("extra_verbs"),
               "events.extra_verbs: " + in_quotes(verb) + " must be 1-32 lowercase letters [a-z]");
        return;
      }
      c.cfg.events.verbs.insert(verb);
    }
  }
  r.get_int(t, s, "max_data_bytes", c.cfg.events.max_data_bytes, 1, std::int64_t{16} << 20);
}

void read_endpoints(load_context& c, const toml::node& n) {
  reader& r = c.r;
  if (!n.is_array()) {
    r.fail(n, "endpoints must be an array of tables (write each one as [[endpoints]])");
    return;
  }
  const toml::array& arr = *n.as_array();
  for (std::size_t i = 0; i < arr.size() && r.ok(); ++i) {
    const toml::node& el = *arr.get(i);
    const std::string sec = "endpoints[" + std::to_string(i) + "]";
    if (!el.is_table()) {
      r.fail(el, sec + " must be a table (write each endpoint as [[endpoints]])");
      return;
    }
    const toml::table& t = *el.as_table();
    r.check_keys(t, sec, {"path", "channels", "lookup"});
    route::endpoint_config ep;
    if (!r.get(t, sec, "path", ep.path)) {
      r.fail(el, sec + " needs a path, e.g. path = \"/api/v1/scans/{scan_pk:uuid}/event-stream\"");
      return;
    }
    auto tmpl = route::parse_path_template(ep.path);
    if (!tmpl) {
      r.fail(*t.get("path"), sec + ": " + tmpl.err().message);
      return;
    }
    ep.params = std::move(tmpl->params);
    ep.segments = std::move(tmpl->segments);
    if (!r.get(t, sec, "channels", ep.channels)) {
      r.fail(el, sec + " (" + ep.path +
                     ") needs channels, e.g. channels = [\"scan-progress:{tenant_id}:{scan_pk}\"]");
      return;
    }
    if (ep.channels.empty()) {
      r.fail(*t.get("channels"), sec + " (" + ep.path + ") needs at least one channel");
      return;
    }
    for (std::size_t k = 0; k < ep.channels.size(); ++k) {
      auto ok = route::check_channel_template(ep.channels[k], ep.params);
      if (!ok) {
        r.fail(*t.get("channels")->as_array()->get(k),
               sec + " (" + ep.path + "): " + ok.err().message);
        return;
      }
      if (std::find(ep.channels.begin(), ep.channels.begin() + static_cast<std::ptrdiff_t>(k),
                    ep.channels[k]) != ep.channels.begin() + static_cast<std::ptrdiff_t>(k)) {
        r.fail(*t.get("channels"), sec + " (" + ep.path + "): channel " +
                                       in_quotes(ep.channels[k]) + " is listed twice");
        return;
      }
    }
    if (r.get(t, sec, "lookup", ep.lookup)) {
      auto ok = route::check_lookup(ep.lookup, ep.params);
      if (!ok) {
        r.fail(*t.get("lookup"), sec + " (" + ep.path + "): " + ok.err().message);
        return;
      }
    }
    if (!r.ok()) return;
    // Same shape = same URLs: /a/{x} and /a/{y} would match the same requests.
    for (const auto& prev : c.cfg.endpoints) {
      if (route::path_shape(prev) == route::path_shape(ep)) {
        r.fail(*t.get("path"), sec + ": path " + in_quotes(ep.path) + " duplicates the endpoint " +
                                   in_quotes(prev.path) + " (they match the same URLs)");
        return;
      }
    }
    c.cfg.endpoints.push_back(std::move(ep));
  }
}

bool same_listener(const listener_config& a, const listener_config& b) {
  if (a.port == 0 || a.port != b.port) return false;  // port 0 = two different ephemeral ports
  return a.address == b.address || is_wildcard(a.address) || is_wildcard(b.address);
}

void cross_checks(load_context& c) {
  reader& r = c.r;
  gateway_config& cfg = c.cfg;
  if (same_listener(cfg.server.listen, cfg.internal.listen)) {
    r.fail("internal.listen (" + format_listener(cfg.internal.listen) +
           ") must differ from server.listen (" + format_listener(cfg.server.listen) +
           "): the publish API and metrics must never be reachable on the public port");
    return;
  }
  const auto& origins = cfg.cors.allow_origins;
  if (cfg.cors.allow_credentials &&
      std::find(origins.begin(), origins.end(), "*") != origins.end()) {
    r.fail(
        "cors.allow_origins = [\"*\"] cannot be combined with cors.allow_credentials = true "
        "(browsers reject it); list the exact origins, or set allow_credentials = false");
    return;
  }
  bus::bus_config& b = cfg.bus;
  if (b.kind == bus::bus_kind::redis && b.scheme == "rediss") {
    r.fail(
        "bus.scheme (or VALKEY_SCHEME) is \"rediss\": TLS to Valkey/Redis is not supported by the "
        "packaged hiredis; use \"redis\" on a private network, or a local TLS tunnel (e.g. "
        "stunnel)");
    return;
  }
  if (b.reconnect_min_ms > b.reconnect_max_ms) {
    r.fail("bus.reconnect_min_ms (" + std::to_string(b.reconnect_min_ms) +
           ") must not exceed bus.reconnect_max_ms (" + std::to_string(b.reconnect_max_ms) + ")");
    return;
  }
  // Cluster mode discovers the shards from any seed; host:port is the natural one.
  if (b.cluster && b.cluster_nodes.empty())
    b.cluster_nodes.push_back(
        (b.host.find(':') != std::string::npos ? "[" + b.host + "]" : b.host) + ":" +
        std::to_string(b.port));
}

result<gateway_config> load_table(const toml::table& root, const std::string& base_dir,
                                  bool require_endpoints, const std::string& source_name,
                                  const std::string& config_file) {
  reader r(source_name);
  gateway_config cfg;
  cfg.events.verbs = sse::default_verbs();
  std::error_code ec;
  fs::path base = base_dir.empty() ? fs::current_path(ec) : fs::absolute(base_dir, ec);
  if (ec)
    return make_error(errc::invalid_config, source_name + ": cannot resolve base directory " +
                                                in_quotes(base_dir) + ": " + ec.message());
  base = base.lexically_normal();
  cfg.base_dir = base.string();
  if (!cfg.base_dir.empty() && cfg.base_dir.size() > 1 && cfg.base_dir.back() == '/')
    cfg.base_dir.pop_back();
  cfg.config_file = config_file;
  load_context c{r, base, cfg};

  r.check_keys(root, "",
               {"server", "internal", "cors", "auth", "store", "bus", "events", "tenancy", "log",
                "demo", "endpoints"});
  if (auto* t = r.section(root, "server")) read_server(c, *t);
  if (auto* t = r.section(root, "internal")) read_internal(c, *t);
  if (auto* t = r.section(root, "cors")) read_cors(c, *t);
  const toml::table* auth_t = r.section(root, "auth");
  if (r.ok()) read_auth(c, auth_t);  // runs without the section too: the verify key is required
  if (auto* t = r.section(root, "store")) read_store(c, *t);
  if (auto* t = r.section(root, "bus")) read_bus(c, *t);
  if (r.ok()) apply_valkey_env(c);
  if (auto* t = r.section(root, "events")) read_events(c, *t);
  if (auto* t = r.section(root, "tenancy")) {
    r.check_keys(*t, "tenancy", {"recheck_interval_seconds", "connect_cache_seconds"});
    r.get_int(*t, "tenancy", "recheck_interval_seconds", cfg.tenancy.recheck_interval_seconds, 0,
              86'400);
    r.get_int(*t, "tenancy", "connect_cache_seconds", cfg.tenancy.connect_cache_seconds, 0, 300);
  }
  if (auto* t = r.section(root, "log")) {
    r.check_keys(*t, "log", {"level"});
    if (r.get(*t, "log", "level", cfg.log.level)) {
      static constexpr std::string_view levels[] = {"trace", "debug",    "info", "warn",
                                                    "error", "critical", "off"};
      if (std::find(std::begin(levels), std::end(levels), cfg.log.level) == std::end(levels))
        r.fail(*t->get("level"),
               "log.level " + in_quotes(cfg.log.level) +
                   " is not one of trace, debug, info, warn, error, critical, off");
    }
  }
  if (auto* t = r.section(root, "demo")) {
    r.check_keys(*t, "demo", {"page_dir"});
    std::string dir;
    if (r.get(*t, "demo", "page_dir", dir)) {
      if (dir.empty())
        r.fail(*t->get("page_dir"), "demo.page_dir must not be empty (leave it out instead)");
      else
        cfg.demo_page_dir = c.resolve(dir);
    }
  }
  if (r.ok()) {
    if (const toml::node* n = root.get("endpoints")) read_endpoints(c, *n);
  }
  // The SQLite path resolves against the config directory; ":memory:" stays as is.
  if (r.ok() && cfg.store.driver == "sqlite" && cfg.store.path != ":memory:")
    cfg.store.path = c.resolve(cfg.store.path);
  if (r.ok()) cross_checks(c);
  if (!r.ok()) return r.take();
  if (require_endpoints) {
    auto v = validate_for_serve(cfg);
    if (!v) return make_error(errc::invalid_config, source_name + ": " + v.err().message);
  }
  return cfg;
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x",
                        static_cast<unsigned>(static_cast<unsigned char>(ch)));
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  return out + "\"";
}

std::string toml_array(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + toml_string(v[i]);
  return out + "]";
}

}  // namespace

std::string_view to_string(auth::jwt_algorithm a) noexcept {
  switch (a) {
    case auth::jwt_algorithm::rs256:
      return "RS256";
    case auth::jwt_algorithm::es256:
      return "ES256";
    case auth::jwt_algorithm::eddsa:
      return "EdDSA";
    case auth::jwt_algorithm::hs256:
      return "HS256";
  }
  return "?";
}

std::string_view to_string(bus::bus_kind k) noexcept {
  return k == bus::bus_kind::redis ? "redis" : "local";
}

std::string_view to_string(bus::bus_mode m) noexcept {
  return m == bus::bus_mode::compat ? "compat" : "native";
}

result<listener_config> parse_listen_address(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_config, in_quotes(text) + " " + why);
  };
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("must be [ipv6]:port, e.g. [::1]:8080");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1)
      return bad("has an invalid IPv6 address");
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("must be host:port, e.g. 127.0.0.1:8080");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return bad("has an IPv6 address without brackets; write [addr]:port");
    in_addr a4{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &a4) != 1)
      return bad("must use an IP address as host (e.g. 127.0.0.1, 0.0.0.0, [::1]), not a name");
  }
  auto p = parse_port(port, /*allow_zero=*/true);
  if (!p) return bad("has an invalid port (0-65535)");
  return listener_config{std::string(host), *p};
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
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return make_error(errc::invalid_config, source_name + ":" + std::to_string(b.line) + ":" +
                                                std::to_string(b.column) + ": " +
                                                std::string(e.description()));
  }
  return load_table(root, base_dir, require_endpoints, source_name, "");
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
  std::string text = ss.str();
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    return make_error(errc::invalid_config, path + ":" + std::to_string(b.line) + ":" +
                                                std::to_string(b.column) + ": " +
                                                std::string(e.description()));
  }
  return load_table(root, abs.parent_path().string(), require_endpoints, path, abs.string());
}

std::string describe(const gateway_config& cfg) {
  auto source_of = [&](std::string_view key) -> std::string {
    std::string from;
    for (const auto& [k, v] : cfg.sources)
      if (k == key) from = v;  // last one wins (env overrides come after the file)
    return from.empty() ? "" : "  # from " + from;
  };
  auto secret = [](const std::string& v) {
    return std::string(v.empty() ? "\"[unset]\"" : "\"[set]\"");
  };
  std::ostringstream o;
  o << "# Herald effective configuration (secrets shown as [set]/[unset])\n";
  if (!cfg.config_file.empty()) o << "# file: " << cfg.config_file << "\n";
  o << "# relative paths resolved against: " << cfg.base_dir << "\n\n";

  const server_config& s = cfg.server;
  o << "[server]\n"
    << "listen = " << toml_string(format_listener(s.listen)) << "\n"
    << "threads = " << s.threads << (s.threads == 0 ? "  # 0 = one per core" : "") << "\n"
    << "keepalive_seconds = " << s.keepalive_seconds << "\n"
    << "max_header_bytes = " << s.max_header_bytes << "\n"
    << "header_timeout_ms = " << s.header_timeout_ms << "\n"
    << "max_connections = " << s.max_connections << "\n"
    << "queue_max_events = " << s.queue_max_events << "\n"
    << "queue_max_bytes = " << s.queue_max_bytes << "\n"
    << "shutdown_deadline_ms = " << s.shutdown_deadline_ms << "\n"
    << "retry_base_ms = " << s.retry_base_ms << "\n"
    << "retry_jitter_ms = " << s.retry_jitter_ms << "\n\n";

  const internal_config& in = cfg.internal;
  o << "[internal]\n"
    << "listen = " << toml_string(format_listener(in.listen)) << "\n"
    << "publisher_key = " << secret(in.publisher_key) << source_of("internal.publisher_key") << "\n"
    << "max_body_bytes = " << in.max_body_bytes << "\n"
    << "max_batch_events = " << in.max_batch_events << "\n\n";

  const cors_config& co = cfg.cors;
  o << "[cors]\n"
    << "allow_origins = " << toml_array(co.allow_origins)
    << (co.allow_origins.empty() ? "  # no cross-origin access" : "") << "\n"
    << "allow_credentials = " << (co.allow_credentials ? "true" : "false") << "\n"
    << "allow_headers = " << toml_string(co.allow_headers) << "\n"
    << "max_age_seconds = " << co.max_age_seconds << "\n\n";

  const auth::jwt_config& j = cfg.auth.jwt;
  const bool hs = j.algorithm == auth::jwt_algorithm::hs256;
  o << "[auth]\n"
    << "algorithm = " << toml_string(to_string(j.algorithm)) << "\n";
  if (hs) {
    o << "secret = " << secret(j.verify_key) << source_of("auth.secret") << "\n";
  } else {
    o << "verify_key = " << secret(j.verify_key) << source_of("auth.verify_key") << "\n"
      << "signing_key = " << secret(j.signing_key) << source_of("auth.signing_key") << "\n";
  }
  o << "audience = " << toml_string(j.audience) << (j.audience.empty() ? "  # not checked" : "")
    << "\n"
    << "issuer = " << toml_string(j.issuer) << (j.issuer.empty() ? "  # not checked" : "") << "\n"
    << "leeway_seconds = " << j.leeway_seconds << "\n"
    << "user_claim = " << toml_string(j.user_claim) << "\n"
    << "tenant_claim = " << toml_string(j.tenant_claim) << "\n"
    << "required_type = " << toml_string(j.required_type)
    << (j.required_type.empty() ? "  # not checked" : "") << "\n"
    << "cache_entries = " << j.cache_entries << "\n"
    << "api_keys = " << (cfg.auth.api_keys_enabled ? "true" : "false") << "\n"
    << "check_user_active = " << (cfg.auth.check_user_active ? "true" : "false") << "\n\n";

  o << "[store]\n"
    << "driver = " << toml_string(cfg.store.driver) << "\n"
    << "path = " << toml_string(cfg.store.path) << "\n"
    << "pool_threads = " << cfg.store.pool_threads << "\n\n";

  const bus::bus_config& b = cfg.bus;
  o << "[bus]\n"
    << "kind = " << toml_string(to_string(b.kind)) << "\n";
  if (b.kind == bus::bus_kind::redis) {
    o << "mode = " << toml_string(to_string(b.mode)) << "\n"
      << "host = " << toml_string(b.host) << source_of("bus.host") << "\n"
      << "port = " << b.port << source_of("bus.port") << "\n"
      << "username = " << toml_string(b.username) << source_of("bus.username") << "\n"
      << "password = " << secret(b.password) << source_of("bus.password") << "\n"
      << "scheme = " << toml_string(b.scheme) << source_of("bus.scheme") << "\n"
      << "prefix = " << toml_string(b.prefix) << "\n"
      << "compat_channel = " << toml_string(b.compat_channel) << "\n"
      << "cluster = " << (b.cluster ? "true" : "false") << "\n"
      << "cluster_nodes = " << toml_array(b.cluster_nodes) << "\n"
      << "reconnect_min_ms = " << b.reconnect_min_ms << "\n"
      << "reconnect_max_ms = " << b.reconnect_max_ms << "\n"
      << "max_pending_publishes = " << b.max_pending_publishes << "\n"
      << "connect_timeout_ms = " << b.connect_timeout_ms << "\n"
      << "command_timeout_ms = " << b.command_timeout_ms << "\n"
      << "max_message_bytes = " << b.max_message_bytes << "\n";
  } else {
    o << "# in-process bus: events published to this process reach this process's streams only\n";
  }
  o << "\n";

  std::vector<std::string> verbs(cfg.events.verbs.begin(), cfg.events.verbs.end());
  o << "[events]\n"
    << "verbs = " << toml_array(verbs) << "  # defaults + extra_verbs\n"
    << "max_data_bytes = " << cfg.events.max_data_bytes << "\n\n";

  o << "[tenancy]\n"
    << "recheck_interval_seconds = " << cfg.tenancy.recheck_interval_seconds
    << (cfg.tenancy.recheck_interval_seconds == 0 ? "  # re-check disabled" : "") << "\n"
    << "connect_cache_seconds = " << cfg.tenancy.connect_cache_seconds << "\n\n";

  o << "[log]\nlevel = " << toml_string(cfg.log.level) << "\n\n";

  if (!cfg.demo_page_dir.empty())
    o << "[demo]\npage_dir = " << toml_string(cfg.demo_page_dir) << "\n\n";

  if (cfg.endpoints.empty()) o << "# no [[endpoints]] (herald serve needs at least one)\n";
  for (const auto& ep : cfg.endpoints) {
    o << "[[endpoints]]\n"
      << "path = " << toml_string(ep.path) << "\n"
      << "channels = " << toml_array(ep.channels) << "\n";
    if (!ep.lookup.empty()) o << "lookup = " << toml_string(ep.lookup) << "\n";
    o << "\n";
  }
  std::string text = o.str();
  while (text.size() >= 2 && text[text.size() - 1] == '\n' && text[text.size() - 2] == '\n')
    text.pop_back();
  return text;
}

}  // namespace herald::config

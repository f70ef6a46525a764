#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <array>
#include <cctype>
#include <chrono>
#include <functional>
#include <optional>
#include <utility>

#include "core/uuid.hpp"

namespace herald::store {
namespace {

constexpr int kSchemaVersion = 1;  // PRAGMA user_version written on creation
constexpr int kBusyTimeoutMs = 5000;
// Lookups come from configured endpoints, so a handful per connection; the bound only matters if a
// caller feeds ever-new SQL, in which case the cache is flushed rather than grown.
constexpr std::size_t kMaxCachedLookups = 64;
constexpr std::size_t kMaxTouchEntries = 1u << 16;

// Table and column names follow the Prowler API's Django models. Timestamps mirrored from Django
// are ISO-8601 UTC text; the api_keys times are unix seconds because Herald compares them as
// numbers. The two triggers reproduce the Prowler API's revoke_user_api_keys /
// revoke_membership_api_keys signals, so "key not revoked" keeps implying "owner still a member".
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS users (
  id          TEXT PRIMARY KEY NOT NULL,
  email       TEXT NOT NULL UNIQUE,
  password    TEXT NOT NULL DEFAULT '',
  name        TEXT NOT NULL DEFAULT '',
  is_active   INTEGER NOT NULL DEFAULT 1,
  date_joined TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS tenants (
  id          TEXT PRIMARY KEY NOT NULL,
  name        TEXT NOT NULL,
  inserted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS memberships (
  id          TEXT PRIMARY KEY NOT NULL,
  user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  role        TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
  date_joined TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  UNIQUE (user_id, tenant_id)
);
CREATE INDEX IF NOT EXISTS memberships_tenant_id ON memberships (tenant_id);
CREATE TABLE IF NOT EXISTS api_keys (
  id           TEXT PRIMARY KEY NOT NULL,
  name         TEXT NOT NULL DEFAULT '',
  prefix       TEXT NOT NULL UNIQUE,
  key_hash     TEXT NOT NULL,
  tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id      TEXT REFERENCES users (id) ON DELETE SET NULL,
  expires_at   INTEGER NOT NULL DEFAULT 0,
  revoked      INTEGER NOT NULL DEFAULT 0,
  created      INTEGER NOT NULL DEFAULT (unixepoch()),
  last_used_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_user_tenant ON api_keys (user_id, tenant_id);
CREATE INDEX IF NOT EXISTS api_keys_tenant_id ON api_keys (tenant_id);
CREATE TABLE IF NOT EXISTS scans (
  id          TEXT PRIMARY KEY NOT NULL,
  tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  provider_id TEXT,
  name        TEXT,
  state       TEXT NOT NULL DEFAULT 'available',
  progress    INTEGER NOT NULL DEFAULT 0,
  "trigger"   TEXT NOT NULL DEFAULT 'manual',
  inserted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS scans_tenant_id ON scans (tenant_id);
CREATE TRIGGER IF NOT EXISTS memberships_revoke_api_keys AFTER DELETE ON memberships BEGIN
  UPDATE api_keys SET revoked = 1 WHERE user_id = OLD.user_id AND tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER IF NOT EXISTS users_revoke_api_keys BEFORE DELETE ON users BEGIN
  UPDATE api_keys SET revoked = 1 WHERE user_id = OLD.id;
END;
)sql";

// The fixed statements, prepared on every connection at open() (which also proves that an existing
// database has the columns Herald needs).
enum q : std::size_t {
  q_find_user,
  q_is_member,
  q_find_api_key,
  q_touch_api_key,
  q_insert_api_key,
  q_revoke_api_key,
  q_upsert_tenant,
  q_upsert_user,
  q_upsert_membership,
  q_delete_membership,
  q_upsert_scan,
  q_count,
};

constexpr std::array<std::string_view, q_count> kSql = {
    "SELECT id, email, is_active, password FROM users WHERE id = ?1",
    "SELECT 1 FROM memberships WHERE user_id = ?1 AND tenant_id = ?2",
    "SELECT id, prefix, key_hash, tenant_id, coalesce(user_id, ''), name, expires_at, revoked "
    "FROM api_keys WHERE prefix = ?1",
    "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
    "INSERT INTO api_keys (id, name, prefix, key_hash, tenant_id, user_id, expires_at, revoked) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "UPDATE api_keys SET revoked = 1 WHERE prefix = ?1",
    "INSERT INTO tenants (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET "
    "name = excluded.name, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    "INSERT INTO users (id, email, is_active) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET "
    "email = excluded.email, is_active = excluded.is_active",
    "INSERT INTO memberships (id, user_id, tenant_id, role) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = excluded.role",
    "DELETE FROM memberships WHERE user_id = ?1 AND tenant_id = ?2",
    "INSERT INTO scans (id, tenant_id, name, state) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO "
    "UPDATE SET tenant_id = excluded.tenant_id, name = excluded.name, state = excluded.state, "
    "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
};

struct sv_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

// Database failures are errc::unavailable (503); a constraint violation is the caller's data.
error db_error(sqlite3* db, int rc, std::string_view what) {
  errc code = (rc & 0xff) == SQLITE_CONSTRAINT ? errc::unprocessable : errc::unavailable;
  return make_error(code, std::string(what) + ": " + sqlite3_errmsg(db));
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Resets a cached statement and drops its bindings when a call is done with it, so the next user
// starts clean and no SQLITE_STATIC binding outlives the string it points into.
struct reset_on_exit {
  sqlite3_stmt* s;
  ~reset_on_exit() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

// Binds without copying (SQLITE_STATIC): the views outlive the statement's use (see reset_on_exit).
// An empty view may have a null data(), which SQLite would bind as NULL rather than ''.
int bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  return sqlite3_bind_text(s, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()),
                           SQLITE_STATIC);
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

// Runs statements that return no rows we need (PRAGMAs that echo a value are fine).
result<void> exec_on(sqlite3* db, const char* sql, std::string_view what) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return {};
  std::string text = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  return make_error(errc::unavailable, std::string(what) + ": " + text);
}

result<std::string> query_text(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
  if (rc != SQLITE_OK) return db_error(db, rc, sql);
  rc = sqlite3_step(s);
  std::string out = rc == SQLITE_ROW ? column_text(s, 0) : std::string();
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(db, rc, sql);
  return out;
}

result<sqlite3*> open_connection(const std::string& path) {
  sqlite3* db = nullptr;
  // NOMUTEX: a connection is only ever used by the thread holding its lease.
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return make_error(errc::unavailable, "cannot open database " + path + ": " + msg);
  }
  auto fail = [&](error e) {
    sqlite3_close_v2(db);
    return e;
  };
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  auto mode = query_text(db, "PRAGMA journal_mode = WAL");
  if (!mode) return fail(mode.err());
  // "memory" for in-memory databases, which have no journal file to put in WAL mode.
  if (*mode != "wal" && *mode != "memory") {
    return fail(make_error(errc::unavailable, "cannot use WAL mode on " + path +
                                                  " (journal_mode is " + *mode +
                                                  "); is it on a network filesystem?"));
  }
  // synchronous=NORMAL is durable across crashes of Herald in WAL mode; only a power loss can drop
  // the last commits, which for keys and seeds is an acceptable price for cheap commits.
  if (auto r = exec_on(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL",
                       "cannot configure database " + path);
      !r) {
    return fail(r.err());
  }
  return db;
}

result<void> create_schema(sqlite3* db) {
  // IMMEDIATE: two processes creating the same new file serialise here (busy_timeout applies).
  if (auto r = exec_on(db, "BEGIN IMMEDIATE", "cannot create schema"); !r) return r;
  auto rollback = [&](error e) -> result<void> {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  };
  auto version = query_text(db, "PRAGMA user_version");
  if (!version) return rollback(version.err());
  if (std::stoi(*version) > kSchemaVersion) {
    return rollback(make_error(errc::invalid_config, "database schema version " + *version +
                                                         " is newer than this Herald supports (" +
                                                         std::to_string(kSchemaVersion) + ")"));
  }
  if (auto r = exec_on(db, kSchema, "cannot create schema"); !r) return rollback(r.err());
  if (*version == "0") {
    std::string set = "PRAGMA user_version = " + std::to_string(kSchemaVersion);
    if (auto r = exec_on(db, set.c_str(), "cannot create schema"); !r) return rollback(r.err());
  }
  if (auto r = exec_on(db, "COMMIT", "cannot create schema"); !r) return rollback(r.err());
  return {};
}

std::string_view skip_space_and_comments(std::string_view s) {
  for (;;) {
    std::size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    s.remove_prefix(i);
    if (s.starts_with("--")) {
      auto nl = s.find('\n');
      s = nl == std::string_view::npos ? std::string_view() : s.substr(nl + 1);
    } else if (s.starts_with("/*")) {
      auto end = s.find("*/", 2);
      s = end == std::string_view::npos ? std::string_view() : s.substr(end + 2);
    } else {
      return s;
    }
  }
}

bool starts_with_keyword(std::string_view s, std::string_view kw) {
  if (s.size() < kw.size()) return false;
  for (std::size_t i = 0; i < kw.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(s[i])) != kw[i]) return false;
  }
  if (s.size() == kw.size()) return true;
  unsigned char next = static_cast<unsigned char>(s[kw.size()]);
  return !(std::isalnum(next) || next == '_');
}

// Prepares an endpoint lookup and proves it is one read-only SELECT with only named parameters.
// Problems with the SQL itself are reported as `bad` (invalid_config at load, internal at run
// time); SQLite failing for other reasons (busy, I/O) stays unavailable.
result<sqlite3_stmt*> prepare_lookup(sqlite3* db, std::string_view sql, unsigned flags, errc bad) {
  std::string_view body = skip_space_and_comments(sql);
  if (body.empty()) return make_error(bad, "lookup is empty");
  sqlite3_stmt* s = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), flags, &s, &tail);
  if (rc != SQLITE_OK) {
    errc code = (rc & 0xff) == SQLITE_ERROR ? bad : errc::unavailable;
    return make_error(code, std::string("lookup does not compile: ") + sqlite3_errmsg(db));
  }
  auto refuse = [&](std::string msg) {
    sqlite3_finalize(s);
    return make_error(bad, std::move(msg));
  };
  if (s == nullptr) return refuse("lookup is empty");
  // Anything after the first statement other than whitespace, comments or ';' is a second statement
  // (or garbage): SQLite would silently ignore it, which hides mistakes and injection attempts.
  std::string_view rest = sql.substr(static_cast<std::size_t>(tail - sql.data()));
  sqlite3_stmt* extra = nullptr;
  int rc2 = sqlite3_prepare_v2(db, rest.data(), static_cast<int>(rest.size()), &extra, nullptr);
  bool more = rc2 != SQLITE_OK || extra != nullptr;
  sqlite3_finalize(extra);
  if (more) return refuse("lookup must be a single SELECT statement (found more after the first)");
  // The keyword check rules out PRAGMA/EXPLAIN/VALUES; readonly rules out WITH ... INSERT.
  if (!(starts_with_keyword(body, "SELECT") || starts_with_keyword(body, "WITH")) ||
      !sqlite3_stmt_readonly(s) || sqlite3_column_count(s) == 0) {
    return refuse("lookup must be a single SELECT statement");
  }
  int n = sqlite3_bind_parameter_count(s);
  for (int i = 1; i <= n; ++i) {
    if (sqlite3_bind_parameter_name(s, i) == nullptr) {
      return refuse("lookup parameters must be named (:name), found ?" + std::to_string(i));
    }
  }
  return s;
}

}  // namespace

struct sqlite_store::connection {
  sqlite3* db = nullptr;
  std::array<sqlite3_stmt*, q_count> fixed{};
  std::unordered_map<std::string, sqlite3_stmt*, sv_hash, std::equal_to<>> lookups;

  explicit connection(sqlite3* d) : db(d) {}
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() {
    for (sqlite3_stmt* s : fixed) sqlite3_finalize(s);
    for (auto& [sql, s] : lookups) sqlite3_finalize(s);
    sqlite3_close_v2(db);
  }
  void clear_lookups() {
    for (auto& [sql, s] : lookups) sqlite3_finalize(s);
    lookups.clear();
  }
};

// Exclusive use of one connection for the duration of a call; returned to the pool on destruction.
class sqlite_store::lease {
 public:
  lease(sqlite_store* owner, connection* c) : owner_(owner), c_(c) {}
  lease(lease&& o) noexcept : owner_(o.owner_), c_(std::exchange(o.c_, nullptr)) {}
  lease& operator=(lease&&) = delete;
  ~lease() {
    if (c_) owner_->release(c_);
  }
  connection& operator*() const { return *c_; }
  connection* operator->() const { return c_; }

 private:
  sqlite_store* owner_;
  connection* c_;
};

result<std::unique_ptr<sqlite_store>> sqlite_store::open(const std::string& path,
                                                         unsigned connections) {
  if (sqlite3_threadsafe() == 0) {
    return make_error(errc::unavailable, "SQLite was built without thread support");
  }
  if (connections == 0) connections = 1;
  // Each connection to ":memory:" (or "", a private temp file) would be a different database.
  if (path.empty() || path == ":memory:") connections = 1;

  std::unique_ptr<sqlite_store> st(new sqlite_store());
  for (unsigned i = 0; i < connections; ++i) {
    auto db = open_connection(path);
    if (!db) return std::move(db).err();
    auto c = std::make_unique<connection>(*db);
    if (i == 0) {
      if (auto r = create_schema(c->db); !r) return std::move(r).err();
    }
    for (std::size_t k = 0; k < q_count; ++k) {
      int rc = sqlite3_prepare_v3(c->db, kSql[k].data(), static_cast<int>(kSql[k].size()),
                                  SQLITE_PREPARE_PERSISTENT, &c->fixed[k], nullptr);
      if (rc != SQLITE_OK) {
        return make_error(errc::unavailable,
                          "database " + path +
                              " does not have the schema Herald expects: " + sqlite3_errmsg(c->db));
      }
    }
    st->free_.push_back(c.get());
    st->all_.push_back(std::move(c));
  }
  return st;
}

sqlite_store::~sqlite_store() = default;

sqlite_store::lease sqlite_store::acquire() {
  std::unique_lock lk(pool_mu_);
  pool_cv_.wait(lk, [this] { return !free_.empty(); });
  connection* c = free_.back();
  free_.pop_back();
  return lease(this, c);
}

void sqlite_store::release(connection* c) {
  {
    std::lock_guard lk(pool_mu_);
    free_.push_back(c);
  }
  pool_cv_.notify_one();
}

result<std::optional<user_record>> sqlite_store::find_user(std::string_view user_id) {
  auto c = acquire();
  sqlite3_stmt* s = c->fixed[q_find_user];
  reset_on_exit reset{s};
  int rc = bind_text(s, 1, user_id);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<user_record>();
  if (rc != SQLITE_ROW) return db_error(c->db, rc, "find_user");
  return std::optional<user_record>(user_record{column_text(s, 0), column_text(s, 1),
                                                sqlite3_column_int(s, 2) != 0, column_text(s, 3)});
}

result<bool> sqlite_store::is_member(std::string_view user_id, std::string_view tenant_id) {
  auto c = acquire();
  sqlite3_stmt* s = c->fixed[q_is_member];
  reset_on_exit reset{s};
  int rc = bind_text(s, 1, user_id);
  if (rc == SQLITE_OK) rc = bind_text(s, 2, tenant_id);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_error(c->db, rc, "is_member");
}

result<std::optional<api_key_record>> sqlite_store::find_api_key(std::string_view prefix) {
  auto c = acquire();
  sqlite3_stmt* s = c->fixed[q_find_api_key];
  reset_on_exit reset{s};
  int rc = bind_text(s, 1, prefix);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<api_key_record>();
  if (rc != SQLITE_ROW) return db_error(c->db, rc, "find_api_key");
  api_key_record k;
  k.id = column_text(s, 0);
  k.prefix = column_text(s, 1);
  k.key_hash = column_text(s, 2);
  k.tenant_id = column_text(s, 3);
  k.user_id = column_text(s, 4);
  k.name = column_text(s, 5);
  k.expires_at = sqlite3_column_int64(s, 6);
  k.revoked = sqlite3_column_int(s, 7) != 0;
  return std::optional<api_key_record>(std::move(k));
}

result<void> sqlite_store::touch_api_key(std::string_view api_key_id) {
  const std::int64_t now = unix_now();
  {
    std::lock_guard lk(touch_mu_);
    auto it = last_touch_.find(std::string(api_key_id));
    if (it != last_touch_.end() && it->second >= now) return {};
  }
  {
    auto c = acquire();
    std::lock_guard w(write_mu_);
    sqlite3_stmt* s = c->fixed[q_touch_api_key];
    reset_on_exit reset{s};
    int rc = bind_text(s, 1, api_key_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 2, now);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) return db_error(c->db, rc, "touch_api_key");
  }
  std::lock_guard lk(touch_mu_);
  if (last_touch_.size() >= kMaxTouchEntries) last_touch_.clear();
  last_touch_[std::string(api_key_id)] = now;
  return {};
}

result<void> sqlite_store::insert_api_key(const api_key_record& key) {
  std::string id = key.id.empty() ? random_uuid() : parse_uuid(key.id).value_or("");
  auto tenant = parse_uuid(key.tenant_id);
  auto user = parse_uuid(key.user_id);
  if (id.empty() || !tenant || !user) {
    return make_error(errc::bad_request, "API key id, tenant_id and user_id must be UUIDs");
  }
  if (key.prefix.empty() || key.key_hash.empty()) {
    return make_error(errc::bad_request, "API key prefix and key_hash must not be empty");
  }
  auto c = acquire();
  std::lock_guard w(write_mu_);
  sqlite3_stmt* s = c->fixed[q_insert_api_key];
  reset_on_exit reset{s};
  int rc = bind_text(s, 1, id);
  if (rc == SQLITE_OK) rc = bind_text(s, 2, key.name);
  if (rc == SQLITE_OK) rc = bind_text(s, 3, key.prefix);
  if (rc == SQLITE_OK) rc = bind_text(s, 4, key.key_hash);
  if (rc == SQLITE_OK) rc = bind_text(s, 5, *tenant);
  if (rc == SQLITE_OK) rc = bind_text(s, 6, *user);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 7, key.expires_at);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 8, key.revoked ? 1 : 0);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return db_error(c->db, rc, "insert_api_key");
  return {};
}

result<void> sqlite_store::revoke_api_key(std::string_view prefix) {
  auto c = acquire();
  std::lock_guard w(write_mu_);
  sqlite3_stmt* s = c->fixed[q_revoke_api_key];
  reset_on_exit reset{s};
  int rc = bind_text(s, 1, prefix);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return db_error(c->db, rc, "revoke_api_key");
  if (sqlite3_changes(c->db) == 0) {
    return make_error(errc::not_found, "no API key with prefix " + std::string(prefix));
  }
  return {};
}

result<bool> sqlite_store::row_exists(std::string_view sql, const lookup_params& params) {
  auto c = acquire();
  sqlite3_stmt* s = nullptr;
  if (auto it = c->lookups.find(sql); it != c->lookups.end()) {
    s = it->second;
  } else {
    auto prepared = prepare_lookup(c->db, sql, SQLITE_PREPARE_PERSISTENT, errc::internal);
    if (!prepared) return std::move(prepared).err();
    if (c->lookups.size() >= kMaxCachedLookups) c->clear_lookups();
    s = *prepared;
    c->lookups.emplace(std::string(sql), s);
  }
  reset_on_exit reset{s};
  const int n = sqlite3_bind_parameter_count(s);
  for (int i = 1; i <= n; ++i) {
    const char* full = sqlite3_bind_parameter_name(s, i);      // non-null: prepare_lookup checked
    std::string_view name = std::string_view(full).substr(1);  // drop the ':' / '@' / '$'
    const std::string* value = nullptr;
    for (const auto& [k, v] : params) {
      if (k == name) {
        value = &v;
        break;
      }
    }
    if (value == nullptr) {
      return make_error(errc::internal, "lookup parameter " + std::string(full) + " has no value");
    }
    if (int rc = bind_text(s, i, *value); rc != SQLITE_OK) return db_error(c->db, rc, "lookup");
  }
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_error(c->db, rc, "lookup");
}

result<void> sqlite_store::check_lookup(std::string_view sql) {
  auto c = acquire();
  auto prepared = prepare_lookup(c->db, sql, 0, errc::invalid_config);
  if (!prepared) return std::move(prepared).err();
  const bool scoped = sqlite3_bind_parameter_index(*prepared, ":tenant_id") > 0;
  sqlite3_finalize(*prepared);
  if (!scoped) {
    return make_error(errc::invalid_config,
                      "lookup must bind :tenant_id so it is scoped to the caller's tenant");
  }
  return {};
}

namespace {

// Ids given to the seeding helpers are stored in the canonical lower-case form principals carry, or
// matches would miss.
result<std::string> seed_uuid(std::string_view v, std::string_view what) {
  auto id = parse_uuid(v);
  if (!id) return make_error(errc::bad_request, std::string(what) + " must be a UUID");
  return std::move(*id);
}

}  // namespace

result<void> sqlite_store::add_tenant(std::string_view id, std::string_view name) {
  auto tid = seed_uuid(id, "tenant id");
  if (!tid) return std::move(tid).err();
  auto c = acquire();
  std::lock_guard w(write_mu_);
  sqlite3_stmt* s = c->fixed[q_upsert_tenant];
  reset_on_exit reset{s};
  int rc = bind_text(s, 1, *tid);
  if (rc == SQLITE_OK) rc = bind_text(s, 2, name);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return db_error(c->db, rc, "add_tenant");
  return {};
}

result<void> sqlite_store::add_user(std::string_view id, std::string_view email, bool active) {
  auto uid = seed_uuid(id, "user id");
  if (!uid) return std::move(uid).err();
  std::string lower(email);  // the Prowler API lower-cases emails
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto c = acquire();
  std::lock_guard w(write_mu_);
  sqlite3_stmt* s = c->fixed[q_upsert_user];
  reset_on_exit reset{s};
  int rc = bind_text(s, 1, *uid);
  if (rc == SQLITE_OK) rc = bind_text(s, 2, lower);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 3, active ? 1 : 0);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return db_error(c->db, rc, "add_user");
  return {};
}

result<void> sqlite_store::add_membership(std::string_view user_id, std::string_view tenant_id,
                                          std::string_view role) {
  auto uid = seed_uuid(user_id, "user id");
  if (!uid) return std::move(uid).err();
  auto tid = seed_uuid(tenant_id, "tenant id");
  if (!tid) return std::move(tid).err();
  const std::string id = random_uuid();
  auto c = acquire();
  std::lock_guard w(write_mu_);
  sqlite3_stmt* s = c->fixed[q_upsert_membership];
  reset_on_exit reset{s};
  int rc = bind_text(s, 1, id);
  if (rc == SQLITE_OK) rc = bind_text(s, 2, *uid);
  if (rc == SQLITE_OK) rc = bind_text(s, 3, *tid);
  if (rc == SQLITE_OK) rc = bind_text(s, 4, role);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return db_error(c->db, rc, "add_membership");
  return {};
}

result<void> sqlite_store::remove_membership(std::string_view user_id, std::string_view tenant_id) {
  auto uid = seed_uuid(user_id, "user id");
  if (!uid) return std::move(uid).err();
  auto tid = seed_uuid(tenant_id, "tenant id");
  if (!tid) return std::move(tid).err();
  auto c = acquire();
  std::lock_guard w(write_mu_);
  sqlite3_stmt* s = c->fixed[q_delete_membership];
  reset_on_exit reset{s};
  int rc = bind_text(s, 1, *uid);
  if (rc == SQLITE_OK) rc = bind_text(s, 2, *tid);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return db_error(c->db, rc, "remove_membership");
  return {};
}

result<void> sqlite_store::add_scan(std::string_view id, std::string_view tenant_id,
                                    std::string_view name, std::string_view state) {
  auto sid = seed_uuid(id, "scan id");
  if (!sid) return std::move(sid).err();
  auto tid = seed_uuid(tenant_id, "tenant id");
  if (!tid) return std::move(tid).err();
  auto c = acquire();
  std::lock_guard w(write_mu_);
  sqlite3_stmt* s = c->fixed[q_upsert_scan];
  reset_on_exit reset{s};
  int rc = bind_text(s, 1, *sid);
  if (rc == SQLITE_OK) rc = bind_text(s, 2, *tid);
  if (rc == SQLITE_OK) rc = bind_text(s, 3, name);
  if (rc == SQLITE_OK) rc = bind_text(s, 4, state);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return db_error(c->db, rc, "add_scan");
  return {};
}

result<void> sqlite_store::exec(std::string_view sql) {
  const std::string text(sql);  // sqlite3_exec wants a NUL-terminated string
  auto c = acquire();
  std::lock_guard w(write_mu_);
  char* msg = nullptr;
  int rc = sqlite3_exec(c->db, text.c_str(), nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) {
    if (sqlite3_get_autocommit(c->db)) return {};
    // An open transaction would keep this pooled connection holding the write lock for whoever
    // leases it next; refusing is safer than guessing that COMMIT was meant.
    sqlite3_exec(c->db, "ROLLBACK", nullptr, nullptr, nullptr);
    return make_error(errc::bad_request, "exec: script left a transaction open (missing COMMIT?)");
  }
  std::string detail = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  // A failed multi-statement script may leave an explicit transaction open on this pooled
  // connection; end it so the next caller does not inherit it.
  if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", nullptr, nullptr, nullptr);
  errc code = (rc & 0xff) == SQLITE_CONSTRAINT ? errc::unprocessable
              : (rc & 0xff) == SQLITE_ERROR    ? errc::bad_request
                                               : errc::unavailable;
  return make_error(code, "exec: " + detail);
}

}  // namespace herald::store

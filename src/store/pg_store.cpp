#include "store/pg_store.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <functional>
#include <utility>

#include "core/uuid.hpp"
#include "store/pg_sql.hpp"

namespace herald::store {
namespace pg_detail {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kMaxLookupParams = 16;
// Lookups come from configured endpoints, a handful. Past this many distinct SQL texts a lookup is
// prepared unnamed on every use instead of growing the caches without bound.
constexpr std::size_t kMaxNamedLookups = 256;
// Passwords shorter than this are not scrubbed from messages: replacing every "ab" in a libpq
// message would garble it, and libpq does not echo passwords anyway (scrubbing is a second line).
constexpr std::size_t kMinScrubbedSecret = 4;
constexpr std::string_view kNilTenant = "00000000-0000-0000-0000-000000000000";

struct result_free {
  void operator()(PGresult* r) const { PQclear(r); }
};
using pg_result = std::unique_ptr<PGresult, result_free>;

// The fixed statements. Each role prepares its own on every new connection.
enum stmt : unsigned {
  s_set_tenant,
  s_find_user,
  s_is_member,
  s_members_batch,
  s_users_batch,
  s_find_key,
  s_keys_batch,
  s_count,
};

// A JSON list column of drf-simple-apikey (whitelisted_ips / blacklisted_ips) as newline-separated
// text, so no JSON parser is needed here: an array gives its elements, NULL / JSON null nothing,
// any other value itself as one entry (it then matches no address, so an allow-list fails closed).
#define HERALD_IP_LIST(col)                                                             \
  "coalesce((SELECT string_agg(e, E'\\n') FROM jsonb_array_elements_text(CASE "         \
  "WHEN k." col " IS NULL OR jsonb_typeof(k." col                                       \
  ") = 'null' THEN '[]'::jsonb "                                                        \
  "WHEN jsonb_typeof(k." col ") = 'array' THEN k." col " ELSE jsonb_build_array(k." col \
  " #>> '{}') END) AS e), '')"
#define HERALD_KEY_COLUMNS                                                     \
  "k.id::text, k.prefix, k.tenant_id::text, coalesce(k.entity_id::text, ''), " \
  "k.revoked, " HERALD_IP_LIST("whitelisted_ips") ", " HERALD_IP_LIST("blacklisted_ips")
#define HERALD_USER_COLUMNS "u.id::text, u.email, u.is_active, u.password"

struct stmt_def {
  const char* name;
  const char* sql;
};

constexpr std::array<stmt_def, s_count> kStatements = {{
    // Exactly the Prowler API's SET_CONFIG_QUERY with POSTGRES_TENANT_VAR (api/db_utils.py).
    {"herald_set_tenant", "SELECT set_config('api.tenant_id', $1::text, true)"},
    {"herald_find_user", "SELECT " HERALD_USER_COLUMNS " FROM users u WHERE u.id = $1::uuid"},
    {"herald_is_member",
     "SELECT 1 FROM memberships WHERE user_id = $1::uuid AND tenant_id = $2::uuid"},
    // The re-check: the 1-based positions of the asked (user, tenant) pairs that are members.
    {"herald_members_batch",
     "SELECT p.ord FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS p(user_id, tenant_id, "
     "ord) WHERE EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = p.user_id AND "
     "m.tenant_id = p.tenant_id)"},
    {"herald_users_batch",
     "SELECT " HERALD_USER_COLUMNS " FROM users u WHERE u.id = ANY($1::uuid[])"},
    {"herald_find_key", "SELECT " HERALD_KEY_COLUMNS " FROM api_keys k WHERE k.id = $1::uuid"},
    {"herald_keys_batch",
     "SELECT " HERALD_KEY_COLUMNS " FROM api_keys k WHERE k.id = ANY($1::uuid[])"},
}};

#undef HERALD_IP_LIST
#undef HERALD_KEY_COLUMNS
#undef HERALD_USER_COLUMNS

constexpr std::array<stmt, 5> kApiStatements = {s_set_tenant, s_find_user, s_is_member,
                                                s_members_batch, s_users_batch};
constexpr std::array<stmt, 2> kAdminStatements = {s_find_key, s_keys_batch};

struct sv_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::string text_at(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
}
bool bool_at(const PGresult* r, int row, int col) { return PQgetvalue(r, row, col)[0] == 't'; }

user_record user_at(const PGresult* r, int row) {
  return user_record{text_at(r, row, 0), text_at(r, row, 1), bool_at(r, row, 2),
                     text_at(r, row, 3)};
}

std::vector<std::string> split_lines(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto nl = s.find('\n');
    out.emplace_back(s.substr(0, nl));
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

prowler_api_key_record key_at(const PGresult* r, int row) {
  prowler_api_key_record k;
  k.id = text_at(r, row, 0);
  k.prefix = text_at(r, row, 1);
  k.tenant_id = text_at(r, row, 2);
  k.entity_id = text_at(r, row, 3);
  k.revoked = bool_at(r, row, 4);
  k.whitelisted_ips = split_lines(text_at(r, row, 5));
  k.blacklisted_ips = split_lines(text_at(r, row, 6));
  return k;
}

// PostgreSQL's array literal of canonical UUIDs ({a,b,c}); UUIDs need no quoting.
std::string uuid_array(const std::vector<std::string>& ids) {
  std::string s = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += ids[i];
  }
  s += '}';
  return s;
}

std::string sqlstate_of(const PGresult* r) {
  const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return s ? s : "";
}

}  // namespace

// One endpoint lookup, translated once.
struct lookup_plan {
  named_sql sql;
  std::string name;  // prepared statement name; empty = prepare unnamed on every use
};

// One libpq connection of a pool. Used only by the thread holding its lease.
struct connection {
  PGconn* pg = nullptr;
  std::uint64_t generation = 0;  // the pool's generation when it connected
  bool broken = false;           // set by an exchange when the connection itself failed
  std::string failure;           // why, for the log and the caller
  struct lookup_entry {
    std::shared_ptr<const lookup_plan> plan;
    bool prepared = false;
  };
  std::unordered_map<std::string, lookup_entry, sv_hash, std::equal_to<>> lookups;
  std::atomic<std::uint64_t> round_trips{0};  // read by round_trips() from any thread

  connection() = default;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() { close(); }
  void close() {
    if (pg) PQfinish(pg);
    pg = nullptr;
    lookups.clear();
  }
};

namespace {

// One call's exchange on a connection: statements are queued, sent with one Sync (one round
// trip), and their results read back in order. Every wait is bounded by `deadline`. A failure of
// the connection itself (I/O, EOF, timeout, server shutdown, protocol surprise) marks it broken;
// SQL errors come back as results.
class exchange {
 public:
  exchange(connection& c, clock::time_point deadline, bool count = true)
      : c_(c), deadline_(deadline), count_(count) {}

  void query(const char* name, int n, const char* const* values) {
    if (!c_.broken && !PQsendQueryPrepared(c_.pg, name, n, values, nullptr, nullptr, 0))
      fail("cannot send a query");
  }
  void query_text(const char* sql) {
    if (!c_.broken && !PQsendQueryParams(c_.pg, sql, 0, nullptr, nullptr, nullptr, nullptr, 0))
      fail("cannot send a query");
  }
  void prepare(const char* name, const char* sql) {
    if (!c_.broken && !PQsendPrepare(c_.pg, name, sql, 0, nullptr)) fail("cannot send a prepare");
  }
  void describe(const char* name) {
    if (!c_.broken && !PQsendDescribePrepared(c_.pg, name)) fail("cannot send a describe");
  }

  // Sync and flush: from here the server works on the whole pipeline.
  bool send() {
    if (c_.broken) return false;
    if (!PQpipelineSync(c_.pg)) return fail("cannot send");
    if (count_) c_.round_trips.fetch_add(1, std::memory_order_relaxed);
    for (;;) {
      int r = PQflush(c_.pg);
      if (r == 0) return true;
      if (r < 0) return fail("cannot send");
      if (!wait(POLLOUT | POLLIN)) return false;
      if (!PQconsumeInput(c_.pg)) return fail("cannot read");
    }
  }

  // The result of the next queued item, in order; null if the connection broke.
  pg_result next() {
    if (!ready()) return nullptr;
    pg_result r(PQgetResult(c_.pg));
    if (!r) {
      fail("the server sent no result");
      return nullptr;
    }
    // Each item's results end with a NULL (nothing else comes first: no single-row mode).
    while (true) {
      if (!ready()) return nullptr;
      PGresult* more = PQgetResult(c_.pg);
      if (more == nullptr) break;
      PQclear(more);
    }
    if (PQstatus(c_.pg) == CONNECTION_BAD || is_connection_error(r.get())) {
      fail(PQresultErrorMessage(r.get()));
      return nullptr;
    }
    return r;
  }

  // Reads through the Sync; the connection is then idle again.
  bool finish() {
    if (!ready()) return false;
    pg_result r(PQgetResult(c_.pg));
    if (!r || PQresultStatus(r.get()) != PGRES_PIPELINE_SYNC)
      return fail(r ? PQresultErrorMessage(r.get()) : "the pipeline lost its sync point");
    return true;
  }

 private:
  // Errors that end the session rather than the statement: the server is shutting down or the
  // connection is gone.
  static bool is_connection_error(const PGresult* r) {
    if (PQresultStatus(r) != PGRES_FATAL_ERROR) return false;
    const std::string st = sqlstate_of(r);
    return st.empty() || st.starts_with("08") || st == "57P01" || st == "57P02" || st == "57P03";
  }

  bool fail(std::string_view why) {
    if (!c_.broken) {
      c_.broken = true;
      const char* lib = c_.pg ? PQerrorMessage(c_.pg) : "";
      c_.failure = one_line(lib && *lib ? std::string(lib) : std::string(why));
      if (c_.failure.empty()) c_.failure = std::string(why);
    }
    return false;
  }

  bool wait(short events) {
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline_ - clock::now()).count();
      if (left <= 0) {
        c_.broken = true;
        c_.failure = "PostgreSQL did not answer in time";
        return false;
      }
      pollfd p{PQsocket(c_.pg), events, 0};
      int n = ::poll(&p, 1, static_cast<int>(left));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return fail("poll failed");
    }
  }

  // Reads until libpq has a whole result to hand out.
  bool ready() {
    if (c_.broken) return false;
    while (PQisBusy(c_.pg)) {
      if (!wait(POLLIN)) return false;
      if (!PQconsumeInput(c_.pg)) return fail("connection lost");
    }
    return true;
  }

  connection& c_;
  clock::time_point deadline_;
  bool count_;
};

}  // namespace

// A pool of connections for one role. See pg_store.hpp for the outage behaviour it implements.
// Thread-safety: acquire/release/mark_* from any thread (mu_); a leased connection belongs to the
// thread holding the lease; health_tick only from the store's monitor thread.
class pool {
 public:
  pool(std::string label, std::vector<std::pair<std::string, std::string>> params, unsigned size,
       const postgres_options& o, std::vector<stmt> statements, std::vector<std::string> secrets)
      : label_(std::move(label)),
        params_(std::move(params)),
        statements_(std::move(statements)),
        secrets_(std::move(secrets)),
        connect_timeout_(o.connect_timeout_ms),
        statement_timeout_(o.statement_timeout_ms),
        health_interval_(o.health_interval_ms) {
    for (unsigned i = 0; i < std::max(size, 1u); ++i) {
      all_.push_back(std::make_unique<connection>());
      free_.push_back(all_.back().get());
    }
    keywords_.reserve(params_.size() + 2);
    values_.reserve(params_.size() + 2);
    for (const auto& [k, v] : params_) {
      keywords_.push_back(k.c_str());
      values_.push_back(v.c_str());
    }
    keywords_.push_back("fallback_application_name");
    values_.push_back("herald");
    keywords_.push_back(nullptr);
    values_.push_back(nullptr);
  }

  class lease {
   public:
    lease(pool* p, connection* c, bool fresh) : p_(p), c_(c), fresh_(fresh) {}
    lease(lease&& o) noexcept : p_(o.p_), c_(std::exchange(o.c_, nullptr)), fresh_(o.fresh_) {}
    lease& operator=(lease&&) = delete;
    ~lease() {
      if (c_) p_->release(c_);
    }
    connection& operator*() const { return *c_; }
    connection* operator->() const { return c_; }
    bool fresh() const { return fresh_; }

   private:
    pool* p_;
    connection* c_;
    bool fresh_;
  };

  // Connects every connection now (start-up).
  result<void> open_all() {
    for (auto& c : all_) {
      if (auto r = connect(*c); !r) return r;
      c->generation = generation_;
    }
    return {};
  }

  // A connection for one call: fails at once while the role is down; waits (bounded) when every
  // connection is leased; (re)connects an empty, stale or (force_new) any connection first.
  result<lease> acquire(bool force_new) {
    std::unique_lock lk(mu_);
    if (!up_.load(std::memory_order_relaxed)) return unavailable(down_reason_);
    const auto give_up = clock::now() + milliseconds(connect_timeout_ + statement_timeout_);
    if (!cv_.wait_until(lk, give_up, [&] { return !free_.empty(); })) {
      return make_error(errc::unavailable,
                        "PostgreSQL (" + label_ + "): all " + std::to_string(all_.size()) +
                            " connections stayed busy; raise store.pool_threads or the pool size");
    }
    connection* c = free_.back();
    free_.pop_back();
    const std::uint64_t gen = generation_;
    lk.unlock();
    if (!force_new && c->pg != nullptr && c->generation == gen) return lease(this, c, false);
    c->close();
    auto r = connect(*c);
    if (!r) {
      release(c);
      mark_down(r.err().message);
      return unavailable(r.err().message);
    }
    c->generation = gen;
    return lease(this, c, true);
  }

  void release(connection* c) {
    if (c->broken) c->close();
    c->broken = false;
    c->failure.clear();
    {
      std::lock_guard lk(mu_);
      free_.push_back(c);
    }
    cv_.notify_one();
  }

  // Logged once per transition; bumps the generation so connections from before are replaced.
  void mark_down(const std::string& why) {
    {
      std::lock_guard lk(mu_);
      down_reason_ = why;
      if (!up_.load(std::memory_order_relaxed)) return;
      up_.store(false, std::memory_order_release);
      ++generation_;
      down_since_ = clock::now();
    }
    spdlog::error(
        "store: PostgreSQL ({}) is unreachable: {}; calls fail at once, reconnecting every {} ms",
        label_, why, health_interval_);
  }

  void mark_up() {
    double seconds = 0;
    {
      std::lock_guard lk(mu_);
      if (up_.load(std::memory_order_relaxed)) return;
      up_.store(true, std::memory_order_release);
      seconds = std::chrono::duration<double>(clock::now() - down_since_).count();
    }
    spdlog::info("store: PostgreSQL ({}) is reachable again after {:.1f} s", label_, seconds);
  }

  bool up() const noexcept { return up_.load(std::memory_order_acquire); }
  void note_used() noexcept { used_.store(true, std::memory_order_relaxed); }

  error unavailable(const std::string& why) const {
    return make_error(errc::unavailable, "PostgreSQL (" + label_ + ") is unavailable: " + why);
  }

  // The monitor's turn: reconnect a down role; ping an idle one (so /readyz notices an outage
  // without traffic). Never waits for a busy connection: a busy pool is proving itself.
  void health_tick() {
    if (!up()) {
      connection probe;
      auto r = connect(probe);
      if (r) {
        mark_up();
      } else {
        std::lock_guard lk(mu_);
        down_reason_ = r.err().message;
      }
      return;
    }
    if (used_.exchange(false, std::memory_order_relaxed)) return;
    connection* c = nullptr;
    std::uint64_t gen = 0;
    {
      std::lock_guard lk(mu_);
      if (free_.empty()) return;
      c = free_.back();
      free_.pop_back();
      gen = generation_;
    }
    bool ok = false;
    if (c->pg != nullptr && c->generation == gen) {
      exchange e(*c, clock::now() + milliseconds(statement_timeout_ + 1000), false);
      ok = e.send() && e.finish();
      if (!ok) c->close();
      c->broken = false;
    }
    std::string why;
    if (!ok) {
      auto r = connect(*c);
      ok = r.has_value();
      if (ok)
        c->generation = gen;
      else
        why = r.err().message;
    }
    release(c);
    if (!ok) mark_down(why);
  }

  std::uint64_t round_trips() const noexcept {
    std::uint64_t n = 0;
    for (const auto& c : all_) n += c->round_trips.load(std::memory_order_relaxed);
    return n;
  }

  // The client-side deadline of a call with `items` statements: the server's statement_timeout
  // applies to each, so it fires first and the connection survives; the second covers the network.
  clock::time_point deadline(int items) const {
    return clock::now() + milliseconds(std::uint64_t(statement_timeout_) * items + 1000);
  }

  std::string scrub(std::string s) const {
    for (const auto& secret : secrets_) {
      if (secret.size() < kMinScrubbedSecret) continue;
      for (auto at = s.find(secret); at != std::string::npos; at = s.find(secret, at))
        s.replace(at, secret.size(), "[redacted]");
    }
    return s;
  }

  std::uint32_t statement_timeout_ms() const { return statement_timeout_; }

 private:
  // Opens `c` (non-blocking, bounded by connect_timeout_ms: libpq's own connect_timeout has a
  // one-second granularity and a two-second minimum), enters pipeline mode, makes the session
  // read-only with the statement timeout, and prepares the role's statements: one round trip
  // after the login.
  result<void> connect(connection& c) {
    c.close();
    c.broken = false;
    const auto deadline = clock::now() + milliseconds(connect_timeout_);
    c.pg = PQconnectStartParams(keywords_.data(), values_.data(), 0);
    auto failed = [&](std::string why) -> result<void> {
      if (c.pg && *PQerrorMessage(c.pg)) why += ": " + one_line(PQerrorMessage(c.pg));
      c.close();
      return make_error(errc::unavailable, scrub(why));
    };
    if (c.pg == nullptr) return failed("cannot allocate a connection");
    if (PQstatus(c.pg) == CONNECTION_BAD) return failed("cannot connect");
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
      if (st == PGRES_POLLING_FAILED) return failed("cannot connect");
      auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now()).count();
      if (left <= 0)
        return failed("connecting timed out after " + std::to_string(connect_timeout_) + " ms");
      pollfd p{PQsocket(c.pg), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT),
               0};
      int n = ::poll(&p, 1, static_cast<int>(left));
      if (n < 0 && errno != EINTR) return failed("poll failed");
      if (n == 0) continue;  // the deadline check above ends it
      st = PQconnectPoll(c.pg);
    }
    if (PQsetnonblocking(c.pg, 1) != 0 || PQenterPipelineMode(c.pg) != 1)
      return failed("cannot enter pipeline mode");
    exchange e(c, deadline, false);
    const std::string timeout = "SET statement_timeout = " + std::to_string(statement_timeout_);
    e.query_text(timeout.c_str());
    // Herald never writes the API's tables: every transaction of these sessions is read-only.
    e.query_text("SET default_transaction_read_only = on");
    for (stmt s : statements_) e.prepare(kStatements[s].name, kStatements[s].sql);
    e.send();
    const std::size_t items = 2 + statements_.size();
    for (std::size_t i = 0; i < items; ++i) {
      pg_result r = e.next();
      if (!r) break;
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        std::string why =
            "cannot prepare Herald's statements (is this the Prowler API's database?)";
        why += ": " + one_line(PQresultErrorMessage(r.get()));
        c.close();
        return make_error(errc::unavailable, scrub(why));
      }
    }
    if (c.broken || !e.finish()) return failed("connection set-up failed: " + c.failure);
    return {};
  }

  const std::string label_;
  const std::vector<std::pair<std::string, std::string>> params_;
  std::vector<const char*> keywords_, values_;  // point into params_; null-terminated
  const std::vector<stmt> statements_;
  const std::vector<std::string> secrets_;
  const std::uint32_t connect_timeout_, statement_timeout_, health_interval_;

  mutable std::mutex mu_;  // guards free_, generation_, down_reason_, down_since_
  std::condition_variable cv_;
  std::vector<std::unique_ptr<connection>> all_;  // fixed after construction
  std::vector<connection*> free_;
  std::uint64_t generation_ = 1;
  std::string down_reason_;
  clock::time_point down_since_;
  std::atomic<bool> up_{true};
  std::atomic<bool> used_{false};
};

namespace {

// Runs `f(connection&)` on a connection of `p`. A reused connection that turns out broken is
// replaced and the call retried once (reads are idempotent); a fresh connection that fails means
// PostgreSQL is down.
template <class T, class F>
result<T> on_connection(pool& p, F&& f) {
  for (int attempt = 0;; ++attempt) {
    auto l = p.acquire(attempt > 0);
    if (!l) return std::move(l).err();
    connection& c = **l;
    result<T> r = f(c);
    if (!c.broken) {
      p.note_used();
      if (!r) return make_error(r.err().code, p.scrub(r.err().message));
      return r;
    }
    const std::string why = p.scrub(c.failure);
    const bool reused = !l->fresh();
    { auto done = std::move(*l); }  // back to the pool now (closed, since broken)
    if (attempt == 0 && reused) continue;
    p.mark_down(why);
    return p.unavailable(why);
  }
}

// A SQL error of a fixed statement or a lookup, as the caller sees it.
error sql_error(const PGresult* r, std::string_view what, std::uint32_t statement_timeout_ms) {
  const std::string st = sqlstate_of(r);
  if (st == "57014") {
    return make_error(errc::unavailable, std::string(what) + ": PostgreSQL cancelled it (" +
                                             "statement_timeout " +
                                             std::to_string(statement_timeout_ms) + " ms)");
  }
  errc code = st.starts_with("53") || st.starts_with("40") ? errc::unavailable : errc::internal;
  return make_error(code, std::string(what) + ": " + one_line(PQresultErrorMessage(r)) +
                              (st.empty() ? "" : " (SQLSTATE " + st + ")"));
}

bool rows_ok(const PGresult* r) { return PQresultStatus(r) == PGRES_TUPLES_OK; }

// Lookups whose parameter value cannot be read as its type (a non-UUID scan id) find no row.
bool is_data_exception(const PGresult* r) {
  return PQresultStatus(r) == PGRES_FATAL_ERROR && sqlstate_of(r).starts_with("22");
}

}  // namespace
}  // namespace pg_detail

using pg_detail::connection;
using pg_detail::exchange;
using pg_detail::kStatements;
using pg_detail::one_line;
using pg_detail::pg_result;

namespace {

// The lookup's parameter values in its $n order, from the named parameters.
result<std::array<const char*, pg_detail::kMaxLookupParams>> bind_lookup(
    const pg_detail::lookup_plan& plan, const lookup_params& params) {
  std::array<const char*, pg_detail::kMaxLookupParams> values{};
  for (std::size_t i = 0; i < plan.sql.names.size(); ++i) {
    const std::string& name = plan.sql.names[i];
    for (const auto& [k, v] : params) {
      if (k == name) {
        values[i] = v.c_str();
        break;
      }
    }
    if (values[i] == nullptr)
      return make_error(errc::internal, "lookup parameter :" + name + " has no value");
  }
  return values;
}

}  // namespace

result<std::unique_ptr<pg_store>> pg_store::open(const store_options& options) {
  const postgres_options& o = options.postgres;
  auto api_params = connection_params(o, pg_role::api);
  if (!api_params) return std::move(api_params).err();
  auto admin_params = connection_params(o, pg_role::admin);
  if (!admin_params) return std::move(admin_params).err();
  std::vector<std::string> secrets;
  auto label = [&](const std::vector<std::pair<std::string, std::string>>& params,
                   std::string_view role) {
    std::string user, host, port, db;
    for (const auto& [k, v] : params) {
      if (k == "user") user = v;
      if (k == "host") host = v;
      if (k == "port") port = v;
      if (k == "dbname") db = v;
      if (k == "password" && !v.empty()) secrets.push_back(v);
    }
    return std::string(role) + " role " + user + " at " + host + ":" + port + "/" + db;
  };
  std::string api_label = label(*api_params, "API");
  std::string admin_label = label(*admin_params, "admin");
  const unsigned threads = std::max(options.pool_threads, 1u);

  std::unique_ptr<pg_store> st(new pg_store());
  st->health_interval_ms_ = o.health_interval_ms;
  st->api_ = std::make_unique<pg_detail::pool>(
      std::move(api_label), std::move(*api_params), o.pool_size ? o.pool_size : threads, o,
      std::vector<pg_detail::stmt>(pg_detail::kApiStatements.begin(),
                                   pg_detail::kApiStatements.end()),
      secrets);
  st->admin_ = std::make_unique<pg_detail::pool>(
      std::move(admin_label), std::move(*admin_params),
      o.admin_pool_size ? o.admin_pool_size : threads, o,
      std::vector<pg_detail::stmt>(pg_detail::kAdminStatements.begin(),
                                   pg_detail::kAdminStatements.end()),
      secrets);
  for (auto* p : {st->api_.get(), st->admin_.get()}) {
    if (auto r = p->open_all(); !r)
      return make_error(errc::unavailable, "cannot connect to PostgreSQL: " + r.err().message);
  }
  st->monitor_ = std::thread([s = st.get()] { s->monitor_loop(); });
  return st;
}

pg_store::~pg_store() {
  {
    std::lock_guard lk(monitor_mu_);
    stopping_ = true;
  }
  monitor_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

void pg_store::monitor_loop() {
  std::unique_lock lk(monitor_mu_);
  while (!stopping_) {
    monitor_cv_.wait_for(lk, std::chrono::milliseconds(health_interval_ms_),
                         [&] { return stopping_; });
    if (stopping_) break;
    lk.unlock();
    api_->health_tick();
    admin_->health_tick();
    lk.lock();
  }
}

bool pg_store::healthy() const noexcept { return api_->up() && admin_->up(); }

std::uint64_t pg_store::round_trips() const noexcept {
  return api_->round_trips() + admin_->round_trips();
}

std::shared_ptr<const pg_detail::lookup_plan> pg_store::plan_for(std::string_view sql,
                                                                 result<void>* err) {
  {
    std::lock_guard lk(plans_mu_);
    if (auto it = plans_.find(std::string(sql)); it != plans_.end()) return it->second;
  }
  auto translated = translate_named_parameters(sql);
  if (!translated) {
    *err = std::move(translated).err();
    return nullptr;
  }
  if (translated->names.size() > pg_detail::kMaxLookupParams) {
    *err = make_error(errc::invalid_config, "lookup has more than 16 parameters");
    return nullptr;
  }
  auto plan = std::make_shared<pg_detail::lookup_plan>();
  plan->sql = std::move(*translated);
  std::lock_guard lk(plans_mu_);
  if (auto it = plans_.find(std::string(sql)); it != plans_.end()) return it->second;
  if (plans_.size() >= pg_detail::kMaxNamedLookups) return plan;  // unnamed, not cached
  plan->name = "herald_lookup_" + std::to_string(plans_.size() + 1);
  plans_.emplace(std::string(sql), plan);
  return plan;
}

result<std::optional<user_record>> pg_store::find_user(std::string_view user_id) {
  auto uid = parse_uuid(user_id);
  if (!uid) return std::optional<user_record>();
  return pg_detail::on_connection<std::optional<user_record>>(
      *api_, [&](connection& c) -> result<std::optional<user_record>> {
        exchange e(c, api_->deadline(1));
        const char* v[] = {uid->c_str()};
        e.query(kStatements[pg_detail::s_find_user].name, 1, v);
        e.send();
        pg_result r = e.next();
        if (!r || !e.finish()) return std::optional<user_record>();
        if (!pg_detail::rows_ok(r.get()))
          return pg_detail::sql_error(r.get(), "find_user", api_->statement_timeout_ms());
        if (PQntuples(r.get()) == 0) return std::optional<user_record>();
        return std::optional<user_record>(pg_detail::user_at(r.get(), 0));
      });
}

result<bool> pg_store::is_member(std::string_view user_id, std::string_view tenant_id) {
  auto uid = parse_uuid(user_id);
  auto tid = parse_uuid(tenant_id);
  if (!uid || !tid) return false;
  return pg_detail::on_connection<bool>(*api_, [&](connection& c) -> result<bool> {
    exchange e(c, api_->deadline(1));
    const char* v[] = {uid->c_str(), tid->c_str()};
    e.query(kStatements[pg_detail::s_is_member].name, 2, v);
    e.send();
    pg_result r = e.next();
    if (!r || !e.finish()) return false;
    if (!pg_detail::rows_ok(r.get()))
      return pg_detail::sql_error(r.get(), "is_member", api_->statement_timeout_ms());
    return PQntuples(r.get()) > 0;
  });
}

result<std::optional<api_key_record>> pg_store::find_api_key(std::string_view) {
  return std::optional<api_key_record>();
}

result<void> pg_store::touch_api_key(std::string_view) { return {}; }

result<void> pg_store::insert_api_key(const api_key_record&) {
  return make_error(errc::bad_request,
                    "the postgres store is read-only: create API keys in the Prowler API");
}

result<void> pg_store::revoke_api_key(std::string_view) {
  return make_error(errc::bad_request,
                    "the postgres store is read-only: revoke API keys in the Prowler API");
}

result<std::optional<prowler_api_key_record>> pg_store::find_prowler_api_key(std::string_view id) {
  auto kid = parse_uuid(id);
  if (!kid) return std::optional<prowler_api_key_record>();
  return pg_detail::on_connection<std::optional<prowler_api_key_record>>(
      *admin_, [&](connection& c) -> result<std::optional<prowler_api_key_record>> {
        exchange e(c, admin_->deadline(1));
        const char* v[] = {kid->c_str()};
        e.query(kStatements[pg_detail::s_find_key].name, 1, v);
        e.send();
        pg_result r = e.next();
        if (!r || !e.finish()) return std::optional<prowler_api_key_record>();
        if (!pg_detail::rows_ok(r.get()))
          return pg_detail::sql_error(r.get(), "find_prowler_api_key",
                                      admin_->statement_timeout_ms());
        if (PQntuples(r.get()) == 0) return std::optional<prowler_api_key_record>();
        return std::optional<prowler_api_key_record>(pg_detail::key_at(r.get(), 0));
      });
}

result<store::connect_answer> pg_store::connect_check(const connect_query& q) {
  connect_answer a;
  const auto uid = parse_uuid(q.user_id);
  const auto tid = parse_uuid(q.tenant_id);
  const bool ask_user = q.want_user && uid.has_value();
  const bool ask_member = q.want_membership && uid && tid;
  bool ask_lookup = !q.lookup_sql.empty();
  // A tenant that is not a UUID owns nothing (the API's rls_transaction refuses it too).
  if (ask_lookup && !tid) {
    a.resource_found = false;
    ask_lookup = false;
  }
  if (!ask_user && !ask_member && !ask_lookup) return a;

  return pg_detail::on_connection<connect_answer>(
      *api_, [&](connection& c) -> result<connect_answer> {
        connect_answer out = a;
        // The lookup's plan: this connection's entry (no lock, no allocation once warm), else the
        // store's registry on the first use here.
        const pg_detail::lookup_plan* plan = nullptr;
        connection::lookup_entry* entry = nullptr;
        std::shared_ptr<const pg_detail::lookup_plan> uncached;
        std::array<const char*, pg_detail::kMaxLookupParams> lookup_values{};
        if (ask_lookup) {
          if (auto it = c.lookups.find(q.lookup_sql); it != c.lookups.end()) {
            entry = &it->second;
          } else {
            result<void> err;
            auto p = plan_for(q.lookup_sql, &err);
            if (!p) return make_error(errc::internal, err.err().message);
            if (p->name.empty()) {
              uncached = std::move(p);
            } else {
              entry = &c.lookups.emplace(std::string(q.lookup_sql), connection::lookup_entry{p})
                           .first->second;
            }
          }
          plan = entry ? entry->plan.get() : uncached.get();
          static const lookup_params none;
          auto bound = bind_lookup(*plan, q.params ? *q.params : none);
          if (!bound) return std::move(bound).err();
          lookup_values = *bound;
        }
        const char* lookup_name = ask_lookup ? plan->name.c_str() : "";
        exchange e(c, api_->deadline(4));
        // The transaction's first statement sets the tenant for row-level security.
        const bool set_tenant = tid.has_value();
        if (set_tenant) {
          const char* v[] = {tid->c_str()};
          e.query(kStatements[pg_detail::s_set_tenant].name, 1, v);
        }
        if (ask_user) {
          const char* v[] = {uid->c_str()};
          e.query(kStatements[pg_detail::s_find_user].name, 1, v);
        }
        if (ask_member) {
          const char* v[] = {uid->c_str(), tid->c_str()};
          e.query(kStatements[pg_detail::s_is_member].name, 2, v);
        }
        const bool prepare = ask_lookup && (entry == nullptr || !entry->prepared);
        if (prepare) e.prepare(lookup_name, plan->sql.text.c_str());
        if (ask_lookup)
          e.query(lookup_name, static_cast<int>(plan->sql.names.size()), lookup_values.data());
        e.send();

        std::optional<error> failure;
        auto note = [&](const PGresult* r, std::string_view what) {
          if (!failure) failure = pg_detail::sql_error(r, what, api_->statement_timeout_ms());
        };
        if (set_tenant) {
          pg_result r = e.next();
          if (!r) return out;
          if (!pg_detail::rows_ok(r.get())) note(r.get(), "set_config");
        }
        if (ask_user) {
          pg_result r = e.next();
          if (!r) return out;
          if (!pg_detail::rows_ok(r.get()))
            note(r.get(), "find_user");
          else if (PQntuples(r.get()) > 0)
            out.user = pg_detail::user_at(r.get(), 0);
        }
        if (ask_member) {
          pg_result r = e.next();
          if (!r) return out;
          if (!pg_detail::rows_ok(r.get()))
            note(r.get(), "is_member");
          else
            out.member = PQntuples(r.get()) > 0;
        }
        if (prepare) {
          pg_result r = e.next();
          if (!r) return out;
          if (PQresultStatus(r.get()) == PGRES_COMMAND_OK) {
            if (entry) entry->prepared = true;
          } else {
            note(r.get(), "lookup");
          }
        }
        if (ask_lookup) {
          pg_result r = e.next();
          if (!r) return out;
          if (pg_detail::rows_ok(r.get())) {
            out.resource_found = PQntuples(r.get()) > 0;
          } else if (!failure && pg_detail::is_data_exception(r.get())) {
            out.resource_found = false;
          } else {
            note(r.get(), "lookup");
          }
        }
        if (!e.finish()) return out;
        if (failure) return *failure;
        return out;
      });
}

result<bool> pg_store::row_exists(std::string_view sql, const lookup_params& params) {
  const std::string* tenant = nullptr;
  for (const auto& [k, v] : params)
    if (k == "tenant_id") tenant = &v;
  if (tenant == nullptr) {
    return make_error(
        errc::internal,
        "lookup parameters must include tenant_id (row-level security is set from it)");
  }
  connect_query q;
  q.tenant_id = *tenant;
  q.want_user = false;
  q.want_membership = false;
  q.lookup_sql = sql;
  q.params = &params;
  auto a = connect_check(q);
  if (!a) return std::move(a).err();
  return a->resource_found;
}

result<void> pg_store::check_lookup(std::string_view sql) {
  result<void> err;
  auto plan = plan_for(sql, &err);
  if (!plan) return err;
  return pg_detail::on_connection<void>(*api_, [&](connection& c) -> result<void> {
    const char* name = plan->name.c_str();
    exchange e(c, api_->deadline(4));
    const char* tenant[] = {pg_detail::kNilTenant.data()};
    e.query(kStatements[pg_detail::s_set_tenant].name, 1, tenant);
    e.prepare(name, plan->sql.text.c_str());
    e.describe(name);
    // Run once with NULL parameters under the nil tenant: proves the API role may read what it
    // names and that it does not write (the session is read-only), without matching any row.
    std::array<const char*, pg_detail::kMaxLookupParams> nulls{};
    e.query(name, static_cast<int>(plan->sql.names.size()), nulls.data());
    e.send();
    pg_result set = e.next(), prepared = set ? e.next() : nullptr;
    pg_result described = prepared ? e.next() : nullptr;
    pg_result ran = described ? e.next() : nullptr;
    if (!ran || !e.finish()) return {};
    auto refuse = [](std::string msg) { return make_error(errc::invalid_config, std::move(msg)); };
    if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK)
      return refuse("lookup does not compile: " + one_line(PQresultErrorMessage(prepared.get())));
    if (!plan->name.empty()) {
      auto [it, fresh] = c.lookups.try_emplace(std::string(sql));
      it->second.plan = plan;
      it->second.prepared = true;
    }
    if (PQresultStatus(described.get()) != PGRES_COMMAND_OK || PQnfields(described.get()) == 0)
      return refuse("lookup must be a single SELECT statement returning rows");
    if (!pg_detail::rows_ok(ran.get()) && !pg_detail::is_data_exception(ran.get())) {
      return refuse("lookup cannot run as the API role: " +
                    one_line(PQresultErrorMessage(ran.get())));
    }
    if (std::find(plan->sql.names.begin(), plan->sql.names.end(), "tenant_id") ==
        plan->sql.names.end()) {
      spdlog::info("store: lookup has no :tenant_id predicate; row-level security alone scopes it");
    }
    return {};
  });
}

result<store::caller_facts> pg_store::recheck_facts(
    const std::vector<std::pair<std::string, std::string>>& user_tenant_pairs,
    const std::vector<std::string>& user_ids, const std::vector<std::string>& prowler_api_key_ids) {
  caller_facts f;
  f.member.assign(user_tenant_pairs.size(), false);
  f.users.assign(user_ids.size(), std::nullopt);
  f.api_keys.assign(prowler_api_key_ids.size(), std::nullopt);

  // Only well-formed ids are asked; `slot` maps each asked pair back to its place.
  std::vector<std::string> pair_users, pair_tenants;
  std::vector<std::size_t> slot;
  for (std::size_t i = 0; i < user_tenant_pairs.size(); ++i) {
    auto u = parse_uuid(user_tenant_pairs[i].first);
    auto t = parse_uuid(user_tenant_pairs[i].second);
    if (!u || !t) continue;
    pair_users.push_back(std::move(*u));
    pair_tenants.push_back(std::move(*t));
    slot.push_back(i);
  }
  std::vector<std::string> users;
  for (const auto& id : user_ids)
    if (auto u = parse_uuid(id)) users.push_back(std::move(*u));
  std::vector<std::string> keys;
  for (const auto& id : prowler_api_key_ids)
    if (auto k = parse_uuid(id)) keys.push_back(std::move(*k));

  if (!pair_users.empty() || !users.empty()) {
    const std::string a_users = pg_detail::uuid_array(pair_users);
    const std::string a_tenants = pg_detail::uuid_array(pair_tenants);
    const std::string a_ids = pg_detail::uuid_array(users);
    auto done = pg_detail::on_connection<void>(*api_, [&](connection& c) -> result<void> {
      exchange e(c, api_->deadline(2));
      if (!pair_users.empty()) {
        const char* v[] = {a_users.c_str(), a_tenants.c_str()};
        e.query(kStatements[pg_detail::s_members_batch].name, 2, v);
      }
      if (!users.empty()) {
        const char* v[] = {a_ids.c_str()};
        e.query(kStatements[pg_detail::s_users_batch].name, 1, v);
      }
      e.send();
      pg_result members = pair_users.empty() ? nullptr : e.next();
      if (!pair_users.empty() && !members) return {};
      pg_result found = users.empty() ? nullptr : e.next();
      if (!users.empty() && !found) return {};
      if (!e.finish()) return {};
      if (members) {
        if (!pg_detail::rows_ok(members.get()))
          return pg_detail::sql_error(members.get(), "recheck memberships",
                                      api_->statement_timeout_ms());
        for (int row = 0; row < PQntuples(members.get()); ++row) {
          const auto ord = std::stoul(pg_detail::text_at(members.get(), row, 0));
          if (ord >= 1 && ord <= slot.size()) f.member[slot[ord - 1]] = true;
        }
      }
      if (found) {
        if (!pg_detail::rows_ok(found.get()))
          return pg_detail::sql_error(found.get(), "recheck users", api_->statement_timeout_ms());
        std::unordered_map<std::string, user_record> by_id;
        for (int row = 0; row < PQntuples(found.get()); ++row) {
          user_record u = pg_detail::user_at(found.get(), row);
          by_id.emplace(u.id, std::move(u));
        }
        for (std::size_t i = 0; i < user_ids.size(); ++i) {
          auto id = parse_uuid(user_ids[i]);
          if (!id) continue;
          if (auto it = by_id.find(*id); it != by_id.end()) f.users[i] = it->second;
        }
      }
      return {};
    });
    if (!done) return std::move(done).err();
  }

  if (!keys.empty()) {
    const std::string a_keys = pg_detail::uuid_array(keys);
    auto done = pg_detail::on_connection<void>(*admin_, [&](connection& c) -> result<void> {
      exchange e(c, admin_->deadline(1));
      const char* v[] = {a_keys.c_str()};
      e.query(kStatements[pg_detail::s_keys_batch].name, 1, v);
      e.send();
      pg_result r = e.next();
      if (!r || !e.finish()) return {};
      if (!pg_detail::rows_ok(r.get()))
        return pg_detail::sql_error(r.get(), "recheck api_keys", admin_->statement_timeout_ms());
      std::unordered_map<std::string, prowler_api_key_record> by_id;
      for (int row = 0; row < PQntuples(r.get()); ++row) {
        prowler_api_key_record k = pg_detail::key_at(r.get(), row);
        by_id.emplace(k.id, std::move(k));
      }
      for (std::size_t i = 0; i < prowler_api_key_ids.size(); ++i) {
        auto id = parse_uuid(prowler_api_key_ids[i]);
        if (!id) continue;
        if (auto it = by_id.find(*id); it != by_id.end()) f.api_keys[i] = it->second;
      }
      return {};
    });
    if (!done) return std::move(done).err();
  }
  return f;
}

}  // namespace herald::store

// pg_store against a real PostgreSQL 15 that the test starts itself (store/test_postgres_server),
// loaded with the Prowler API's tables, row-level security, roles and data.
#include "store/pg_store.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/uuid.hpp"
#include "store/store_factory.hpp"
#include "store/test_postgres_server.hpp"

namespace herald::store {
namespace {

namespace fx = testing::fixture;
using namespace std::chrono_literals;

// The API's example endpoint, scans/{scan_pk}/event-stream, with and without its tenant predicate.
constexpr std::string_view kScanLookup =
    "SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id";
constexpr std::string_view kScanLookupNoTenant = "SELECT 1 FROM scans WHERE id = :scan_pk";

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

store_options options_for(const testing::postgres_server& pg, unsigned threads = 2) {
  store_options o;
  o.driver = "postgres";
  o.pool_threads = threads;
  o.postgres = pg.store_options();
  return o;
}

std::unique_ptr<pg_store> open_or_die(const store_options& o) {
  auto r = pg_store::open(o);
  if (!r) ADD_FAILURE() << r.err().message;
  return r ? std::move(*r) : nullptr;
}

lookup_params scan_params(std::string_view tenant, std::string_view scan) {
  return {{"tenant_id", std::string(tenant)}, {"scan_pk", std::string(scan)}};
}

store::connect_answer check(pg_store& db, std::string_view user, std::string_view tenant,
                            std::string_view lookup, const lookup_params& params) {
  store::connect_query q;
  q.user_id = std::string(user);
  q.tenant_id = std::string(tenant);
  q.lookup_sql = lookup;
  q.params = &params;
  auto a = db.connect_check(q);
  EXPECT_TRUE(a) << a.err().message;
  return a ? *a : store::connect_answer{};
}

// Collects log lines for the duration of a test.
struct log_capture {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096);
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  log_capture() { spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink)); }
  ~log_capture() { spdlog::set_default_logger(previous); }
  std::vector<std::string> lines() const { return sink->last_formatted(); }
  int count(std::string_view needle) const {
    int n = 0;
    for (const auto& l : lines()) n += l.find(needle) != std::string::npos;
    return n;
  }
};

// One server for the read-only tests (each mutating test starts its own).
class pg_store_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_server = new testing::postgres_server(); }
  static void TearDownTestSuite() {
    delete shared_server;
    shared_server = nullptr;
  }
  void SetUp() override {
    db_ = open_or_die(options_for(*shared_server));
    ASSERT_NE(db_, nullptr);
  }
  static testing::postgres_server* shared_server;
  std::unique_ptr<pg_store> db_;
};
testing::postgres_server* pg_store_test::shared_server = nullptr;

TEST_F(pg_store_test, connect_check_answers_user_membership_and_lookup_in_one_round_trip) {
  ASSERT_TRUE(db_->check_lookup(kScanLookup));
  const auto params = scan_params(fx::kTenant1, fx::kScan1);
  check(*db_, fx::kAlice, fx::kTenant1, kScanLookup, params);  // first use prepares, same trip
  const auto before = db_->round_trips();
  auto a = check(*db_, fx::kAlice, fx::kTenant1, kScanLookup, params);
  EXPECT_EQ(db_->round_trips() - before, 1u);
  ASSERT_TRUE(a.user.has_value());
  EXPECT_EQ(a.user->id, fx::kAlice);
  EXPECT_EQ(a.user->email, "dev@prowler.com");
  EXPECT_TRUE(a.user->is_active);
  EXPECT_EQ(a.user->password, fx::kAlicePassword);
  EXPECT_TRUE(a.member);
  EXPECT_TRUE(a.resource_found);

  // Bob is not in T1; Carol is inactive; Dave belongs nowhere; an unknown id is no user.
  a = check(*db_, fx::kBob, fx::kTenant1, kScanLookup, params);
  EXPECT_TRUE(a.user.has_value());
  EXPECT_FALSE(a.member);
  a = check(*db_, fx::kCarol, fx::kTenant3, "", {});
  ASSERT_TRUE(a.user.has_value());
  EXPECT_FALSE(a.user->is_active);
  EXPECT_TRUE(a.member);
  a = check(*db_, fx::kDave, fx::kTenant1, "", {});
  EXPECT_FALSE(a.member);
  a = check(*db_, random_uuid(), fx::kTenant1, "", {});
  EXPECT_FALSE(a.user.has_value());
  EXPECT_FALSE(a.member);
}

TEST_F(pg_store_test, the_first_use_of_a_lookup_on_a_connection_is_still_one_round_trip) {
  const auto before = db_->round_trips();
  auto a = check(*db_, fx::kBob, fx::kTenant2, "SELECT 1 FROM scans WHERE id = :scan_pk -- new",
                 scan_params(fx::kTenant2, fx::kScan2));
  EXPECT_EQ(db_->round_trips() - before, 1u);
  EXPECT_TRUE(a.member);
  EXPECT_TRUE(a.resource_found);
}

TEST_F(pg_store_test, row_level_security_alone_hides_another_tenants_scan) {
  // The lookup has no tenant predicate; only the policies on scans scope it.
  ASSERT_TRUE(db_->check_lookup(kScanLookupNoTenant));
  EXPECT_TRUE(*db_->row_exists(kScanLookupNoTenant, scan_params(fx::kTenant1, fx::kScan1)));
  EXPECT_FALSE(*db_->row_exists(kScanLookupNoTenant, scan_params(fx::kTenant1, fx::kScan2)));
  EXPECT_FALSE(*db_->row_exists(kScanLookupNoTenant, scan_params(fx::kTenant1, fx::kScan3)));
  EXPECT_TRUE(*db_->row_exists(kScanLookupNoTenant, scan_params(fx::kTenant2, fx::kScan2)));
  // Alice is a member of T1 and T2: asking for T2's scan from T1 is still a 404.
  auto a = check(*db_, fx::kAlice, fx::kTenant1, kScanLookupNoTenant,
                 scan_params(fx::kTenant1, fx::kScan2));
  EXPECT_TRUE(a.member);
  EXPECT_FALSE(a.resource_found);
  // Even a lookup that matches every row sees only the caller's tenant.
  constexpr std::string_view any_scan = "SELECT 1 FROM scans WHERE tenant_id <> :tenant_id";
  EXPECT_FALSE(*db_->row_exists(any_scan, {{"tenant_id", std::string(fx::kTenant1)}}));
}

TEST_F(pg_store_test, the_two_roles_differ_the_admin_pool_sees_keys_across_tenants) {
  // api_keys has the same FORCEd policies as scans: the API role sees T2's key only inside T2...
  constexpr std::string_view key_lookup = "SELECT 1 FROM api_keys WHERE id = :key_id";
  auto params = [](std::string_view tenant) {
    return lookup_params{{"tenant_id", std::string(tenant)},
                         {"key_id", std::string(fx::kKeyRevoked)}};
  };
  EXPECT_FALSE(*db_->row_exists(key_lookup, params(fx::kTenant1)));
  EXPECT_TRUE(*db_->row_exists(key_lookup, params(fx::kTenant2)));
  // ...while the admin role reads it before any tenant is known.
  auto k = db_->find_prowler_api_key(fx::kKeyRevoked);
  ASSERT_TRUE(k) << k.err().message;
  ASSERT_TRUE(k->has_value());
  EXPECT_EQ((*k)->tenant_id, fx::kTenant2);
  // And the database agrees about who may bypass row-level security.
  EXPECT_EQ(
      shared_server->query_value("SELECT rolbypassrls FROM pg_roles WHERE rolname = 'prowler'"),
      "f");
  EXPECT_EQ(
      shared_server->query_value("SELECT rolbypassrls FROM pg_roles WHERE rolname = 'herald_keys'"),
      "t");
}

TEST_F(pg_store_test, the_tenant_setting_is_visible_inside_and_gone_after_each_transaction) {
  // One connection, so every call reuses it across tenants: the pitfall (a later statement reading
  // '' and the policy's cast raising 22P02) would show up here as an error.
  auto one = open_or_die(options_for(*shared_server, 1));
  ASSERT_NE(one, nullptr);
  constexpr std::string_view sees_tenant =
      "SELECT 1 WHERE current_setting('api.tenant_id', true) = :tenant_id";
  for (int i = 0; i < 30; ++i) {
    for (auto t : {fx::kTenant1, fx::kTenant2, fx::kTenant3}) {
      auto seen = one->row_exists(sees_tenant, {{"tenant_id", std::string(t)}});
      ASSERT_TRUE(seen) << seen.err().message;
      EXPECT_TRUE(*seen);
      auto member = one->is_member(fx::kAlice, t);
      ASSERT_TRUE(member) << member.err().message;
      auto found = one->row_exists(kScanLookupNoTenant, scan_params(t, fx::kScan1));
      ASSERT_TRUE(found) << found.err().message;
      EXPECT_EQ(*found, t == fx::kTenant1);
    }
  }
}

TEST_F(pg_store_test, finds_prowler_api_keys_by_id_with_their_lists) {
  auto k = db_->find_prowler_api_key(fx::kKeyAlice);
  ASSERT_TRUE(k && k->has_value());
  EXPECT_EQ((*k)->id, fx::kKeyAlice);
  EXPECT_EQ((*k)->prefix, "pk_K2AAAAAA");
  EXPECT_EQ((*k)->tenant_id, fx::kTenant1);
  EXPECT_EQ((*k)->entity_id, fx::kAlice);
  EXPECT_FALSE((*k)->revoked);
  EXPECT_TRUE((*k)->whitelisted_ips.empty());
  EXPECT_TRUE((*k)->blacklisted_ips.empty());

  k = db_->find_prowler_api_key(fx::kKeyRevoked);
  ASSERT_TRUE(k && k->has_value());
  EXPECT_TRUE((*k)->revoked);
  k = db_->find_prowler_api_key(fx::kKeyOrphan);
  ASSERT_TRUE(k && k->has_value());
  EXPECT_EQ((*k)->entity_id, "");
  k = db_->find_prowler_api_key(fx::kKeyIps);
  ASSERT_TRUE(k && k->has_value());
  EXPECT_EQ((*k)->whitelisted_ips, (std::vector<std::string>{"10.0.0.1", "2001:db8::1"}));
  EXPECT_EQ((*k)->blacklisted_ips, (std::vector<std::string>{"192.0.2.7"}));

  k = db_->find_prowler_api_key(random_uuid());
  ASSERT_TRUE(k);
  EXPECT_FALSE(k->has_value());
  const auto before = db_->round_trips();
  k = db_->find_prowler_api_key("not-a-uuid");
  ASSERT_TRUE(k);
  EXPECT_FALSE(k->has_value());
  EXPECT_EQ(db_->round_trips(), before);  // never sent
}

TEST_F(pg_store_test, the_prowler_admin_superuser_works_as_the_admin_role_too) {
  // The API's docker-compose.yml makes POSTGRES_ADMIN_USER the bootstrap superuser.
  store_options o = options_for(*shared_server);
  o.postgres.admin_user = std::string(fx::kSuperuser);
  o.postgres.admin_password = std::string(fx::kSuperuserPassword);
  auto db = open_or_die(o);
  ASSERT_NE(db, nullptr);
  auto k = db->find_prowler_api_key(fx::kKeyIps);
  ASSERT_TRUE(k && k->has_value());
  EXPECT_EQ((*k)->tenant_id, fx::kTenant1);
}

TEST_F(pg_store_test, malformed_ids_are_not_found_and_not_errors) {
  auto a =
      check(*db_, "not-a-uuid", fx::kTenant1, kScanLookup, scan_params(fx::kTenant1, fx::kScan1));
  EXPECT_FALSE(a.user.has_value());
  EXPECT_FALSE(a.member);
  EXPECT_TRUE(a.resource_found);
  a = check(*db_, fx::kAlice, fx::kTenant1, kScanLookup, scan_params(fx::kTenant1, "1; DROP"));
  EXPECT_TRUE(a.member);  // answered before the lookup's cast failed
  EXPECT_FALSE(a.resource_found);
  a = check(*db_, fx::kAlice, "tenant'; --", kScanLookup, scan_params("x", fx::kScan1));
  EXPECT_FALSE(a.member);
  EXPECT_FALSE(a.resource_found);
  auto r = db_->row_exists(kScanLookup, {{"scan_pk", std::string(fx::kScan1)}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::internal);
  EXPECT_NE(r.err().message.find("tenant_id"), std::string::npos);
  r = db_->row_exists(kScanLookup, {{"tenant_id", std::string(fx::kTenant1)}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find(":scan_pk"), std::string::npos);
}

TEST_F(pg_store_test, check_lookup_refuses_broken_lookups_before_serving) {
  auto refused = [&](std::string_view sql, std::string_view why) {
    auto r = db_->check_lookup(sql);
    ASSERT_FALSE(r) << "accepted: " << sql;
    EXPECT_EQ(r.err().code, errc::invalid_config);
    EXPECT_NE(r.err().message.find(why), std::string::npos) << r.err().message;
  };
  refused("SELECT 1 FROM scanz WHERE id = :scan_pk", "does not compile");
  refused("SELECT FROM scans WHERE id = :scan_pk", "returning rows");
  refused("DELETE FROM scans WHERE id = :scan_pk", "single SELECT");
  refused("SELECT 1 FROM scans WHERE id = $1", "named");
  // Compiles, but the API role may not read it, or it writes (the session is read-only).
  refused("SELECT 1 FROM pg_authid WHERE rolname = :name", "cannot run as the API role");
  refused("WITH d AS (DELETE FROM scans WHERE id = :scan_pk RETURNING 1) SELECT 1 FROM d",
          "cannot run as the API role");
  EXPECT_TRUE(db_->check_lookup(kScanLookup));
  EXPECT_EQ(shared_server->query_value("SELECT count(*) FROM scans"), "3");
}

TEST_F(pg_store_test, herald_writes_nothing) {
  auto k = db_->insert_api_key(api_key_record{});
  ASSERT_FALSE(k);
  EXPECT_EQ(k.err().code, errc::bad_request);
  EXPECT_FALSE(db_->revoke_api_key("pk_K2AAAAAA"));
  EXPECT_TRUE(db_->touch_api_key(fx::kKeyAlice));
  auto hk = db_->find_api_key("hk_ABCDEFGH");
  ASSERT_TRUE(hk);
  EXPECT_FALSE(hk->has_value());
  EXPECT_EQ(
      shared_server->query_value("SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL"),
      "0");
  EXPECT_EQ(shared_server->query_value("SELECT revoked FROM api_keys WHERE prefix = 'pk_K2AAAAAA'"),
            "f");
}

TEST_F(pg_store_test, open_store_picks_postgres_and_reports_health) {
  auto s = open_store(options_for(*shared_server));
  ASSERT_TRUE(s) << s.err().message;
  EXPECT_TRUE((*s)->healthy());
  auto m = (*s)->is_member(fx::kBob, fx::kTenant2);
  ASSERT_TRUE(m);
  EXPECT_TRUE(*m);
}

TEST_F(pg_store_test, wrong_passwords_are_refused_without_being_echoed) {
  log_capture logs;
  store_options o = options_for(*shared_server);
  o.postgres.password = "wrong-password-7f3a";
  auto r = pg_store::open(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unavailable);
  EXPECT_NE(r.err().message.find("password authentication failed"), std::string::npos)
      << r.err().message;
  EXPECT_EQ(r.err().message.find("wrong-password-7f3a"), std::string::npos) << r.err().message;
  o = options_for(*shared_server);
  o.postgres.admin_dsn =
      "postgresql://herald_keys:dsn-wrong-9c1e@127.0.0.1:" + std::to_string(shared_server->port()) +
      "/prowler_db";
  r = pg_store::open(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().message.find("dsn-wrong-9c1e"), std::string::npos) << r.err().message;
  EXPECT_EQ(r.err().message.find(fx::kKeysPassword), std::string::npos) << r.err().message;
  for (const auto& line : logs.lines()) {
    EXPECT_EQ(line.find("wrong-password-7f3a"), std::string::npos) << line;
    EXPECT_EQ(line.find("dsn-wrong-9c1e"), std::string::npos) << line;
  }
}

TEST_F(pg_store_test, a_terminated_connection_is_replaced_without_an_error) {
  ASSERT_TRUE(*db_->is_member(fx::kAlice, fx::kTenant1));
  shared_server->exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename IN ('prowler', "
      "'herald_keys')");
  for (int i = 0; i < 4; ++i) {  // every pooled connection was killed
    auto m = db_->is_member(fx::kAlice, fx::kTenant1);
    ASSERT_TRUE(m) << m.err().message;
    EXPECT_TRUE(*m);
    auto k = db_->find_prowler_api_key(fx::kKeyAlice);
    ASSERT_TRUE(k) << k.err().message;
  }
  EXPECT_TRUE(db_->healthy());
}

TEST_F(pg_store_test, the_statement_timeout_fires_and_the_store_stays_healthy) {
  store_options o = options_for(*shared_server);
  o.postgres.statement_timeout_ms = 100;
  auto db = open_or_die(o);
  ASSERT_NE(db, nullptr);
  constexpr std::string_view slow =
      "SELECT 1 FROM scans, pg_sleep(5) WHERE scans.id::text = :scan_pk";
  auto r = db->row_exists(slow, scan_params(fx::kTenant1, fx::kScan1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unavailable);
  EXPECT_NE(r.err().message.find("statement_timeout 100 ms"), std::string::npos) << r.err().message;
  EXPECT_TRUE(db->healthy());
  auto m = db->is_member(fx::kAlice, fx::kTenant1);
  ASSERT_TRUE(m) << m.err().message;
  EXPECT_TRUE(*m);
}

// A digest of the catalog: tables, columns, grants, policies, row-level security flags, roles.
std::string catalog_digest(const testing::postgres_server& pg) {
  return pg.query_value(R"sql(
    SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
      SELECT c.relname || ':' || c.relkind::text || ':' || coalesce(c.relacl::text, '') || ':' ||
             c.relrowsecurity || c.relforcerowsecurity || ':' || c.relowner::regrole::text AS x
        FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
      UNION ALL SELECT a.attrelid::regclass::text || '.' || a.attname || ':' ||
             format_type(a.atttypid, a.atttypmod) || coalesce(a.attacl::text, '')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0
      UNION ALL SELECT p.polname || ':' || pg_get_expr(p.polqual, p.polrelid) FROM pg_policy p
      UNION ALL SELECT r.rolname || ':' || r.rolsuper || r.rolbypassrls FROM pg_roles r
      UNION ALL SELECT 'fn:' || p.proname FROM pg_proc p
       WHERE p.pronamespace = 'public'::regnamespace) t)sql");
}

// A digest of every row Herald reads.
constexpr const char* kDataDigest =
    "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (SELECT u::text AS x FROM users u UNION ALL "
    "SELECT m::text FROM memberships m UNION ALL SELECT s::text FROM scans s UNION ALL "
    "SELECT k::text FROM api_keys k UNION ALL SELECT t::text FROM tenants t) d";

TEST(pg_store_writes, herald_issues_no_ddl_and_no_writes) {
  testing::postgres_server pg;
  const std::string before = catalog_digest(pg);
  const std::string data_before = pg.query_value(kDataDigest);
  {
    auto db = open_or_die(options_for(pg));
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->check_lookup(kScanLookup));
    (void)db->check_lookup("WITH d AS (DELETE FROM scans RETURNING 1) SELECT 1 FROM d");
    check(*db, fx::kAlice, fx::kTenant1, kScanLookup, scan_params(fx::kTenant1, fx::kScan1));
    (void)db->find_prowler_api_key(fx::kKeyAlice);
    (void)db->recheck_facts({{std::string(fx::kAlice), std::string(fx::kTenant1)}},
                            {std::string(fx::kAlice)}, {std::string(fx::kKeyAlice)});
  }
  EXPECT_EQ(catalog_digest(pg), before);
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM scans"), "3");
  EXPECT_EQ(pg.query_value(kDataDigest), data_before);
  // Herald's roles own nothing and may create nothing.
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                           "WHERE r.rolname IN ('prowler', 'herald_keys')"),
            "0");
  EXPECT_EQ(pg.query_value("SELECT has_schema_privilege('prowler', 'public', 'CREATE') OR "
                           "has_schema_privilege('herald_keys', 'public', 'CREATE')"),
            "f");
}

TEST(pg_store_recheck, sees_membership_activity_password_and_revocation_changes_in_one_batch) {
  testing::postgres_server pg;
  auto db = open_or_die(options_for(pg));
  ASSERT_NE(db, nullptr);
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {std::string(fx::kAlice), std::string(fx::kTenant1)},
      {std::string(fx::kAlice), std::string(fx::kTenant2)},
      {std::string(fx::kBob), std::string(fx::kTenant2)},
      {std::string(fx::kDave), std::string(fx::kTenant1)},
      {"junk", std::string(fx::kTenant1)},
  };
  const std::vector<std::string> users = {std::string(fx::kAlice), std::string(fx::kBob),
                                          random_uuid(), "junk"};
  const std::vector<std::string> keys = {std::string(fx::kKeyAlice), std::string(fx::kKeyIps),
                                         random_uuid()};

  auto before = db->round_trips();
  auto f = db->recheck_facts(pairs, users, keys);
  ASSERT_TRUE(f) << f.err().message;
  EXPECT_EQ(db->round_trips() - before, 2u);  // one API-role and one admin-role round trip
  EXPECT_EQ(f->member, (std::vector<bool>{true, true, true, false, false}));
  ASSERT_EQ(f->users.size(), 4u);
  ASSERT_TRUE(f->users[0] && f->users[1]);
  EXPECT_FALSE(f->users[2] || f->users[3]);
  EXPECT_TRUE(f->users[1]->is_active);
  EXPECT_EQ(f->users[0]->password, fx::kAlicePassword);
  ASSERT_EQ(f->api_keys.size(), 3u);
  ASSERT_TRUE(f->api_keys[0] && f->api_keys[1]);
  EXPECT_FALSE(f->api_keys[2]);
  EXPECT_FALSE(f->api_keys[0]->revoked);

  // What the Prowler API does when a member is removed, a user deactivated, a password changed and
  // a key revoked.
  pg.exec(std::string("DELETE FROM memberships WHERE user_id = '") + std::string(fx::kAlice) +
          "' AND tenant_id = '" + std::string(fx::kTenant2) + "'");
  pg.exec(std::string("UPDATE users SET is_active = false WHERE id = '") + std::string(fx::kBob) +
          "'");
  pg.exec(std::string("UPDATE users SET password = 'pbkdf2_sha256$870000$new$hash=' WHERE id = '") +
          std::string(fx::kAlice) + "'");
  pg.exec(std::string("UPDATE api_keys SET revoked = true WHERE id = '") +
          std::string(fx::kKeyAlice) + "'");

  before = db->round_trips();
  f = db->recheck_facts(pairs, users, keys);
  ASSERT_TRUE(f) << f.err().message;
  EXPECT_EQ(db->round_trips() - before, 2u);
  EXPECT_EQ(f->member, (std::vector<bool>{true, false, true, false, false}));
  EXPECT_FALSE(f->users[1]->is_active);
  EXPECT_EQ(f->users[0]->password, "pbkdf2_sha256$870000$new$hash=");
  EXPECT_TRUE(f->api_keys[0]->revoked);
  EXPECT_FALSE(f->api_keys[1]->revoked);

  // Without keys only the API role is asked.
  before = db->round_trips();
  ASSERT_TRUE(db->recheck_facts(pairs, users));
  EXPECT_EQ(db->round_trips() - before, 1u);
}

TEST(pg_store_outage, fails_fast_while_down_reports_unhealthy_and_recovers_by_itself) {
  log_capture logs;
  testing::postgres_server pg;
  auto db = open_or_die(options_for(pg));
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->check_lookup(kScanLookup));
  const auto params = scan_params(fx::kTenant1, fx::kScan1);
  EXPECT_TRUE(check(*db, fx::kAlice, fx::kTenant1, kScanLookup, params).resource_found);
  EXPECT_TRUE(db->healthy());

  pg.stop();
  // The monitor notices without any traffic (/readyz turns false on its own).
  ASSERT_TRUE(wait_until([&] { return !db->healthy(); }));
  // healthy() turns false with the first role found down; the other one is found by the next
  // probe or call. From then on nothing is sent.
  ASSERT_FALSE(db->find_prowler_api_key(fx::kKeyAlice));
  ASSERT_FALSE(db->is_member(fx::kAlice, fx::kTenant1));
  const auto trips = db->round_trips();
  for (int i = 0; i < 50; ++i) {
    store::connect_query q;
    q.user_id = std::string(fx::kAlice);
    q.tenant_id = std::string(fx::kTenant1);
    q.lookup_sql = kScanLookup;
    q.params = &params;
    auto a = db->connect_check(q);
    ASSERT_FALSE(a);
    EXPECT_EQ(a.err().code, errc::unavailable);
    EXPECT_NE(a.err().message.find("PostgreSQL (API role prowler"), std::string::npos)
        << a.err().message;
    EXPECT_EQ(a.err().message.find(fx::kApiPassword), std::string::npos);
    auto k = db->find_prowler_api_key(fx::kKeyAlice);
    ASSERT_FALSE(k);
    EXPECT_EQ(k.err().code, errc::unavailable);
  }
  EXPECT_EQ(db->round_trips(), trips);  // failed fast: nothing was sent

  pg.start();
  ASSERT_TRUE(wait_until([&] { return db->healthy(); }));
  auto a = check(*db, fx::kAlice, fx::kTenant1, kScanLookup, params);
  EXPECT_TRUE(a.member);
  EXPECT_TRUE(a.resource_found);
  auto k = db->find_prowler_api_key(fx::kKeyAlice);
  ASSERT_TRUE(k) << k.err().message;
  EXPECT_TRUE(k->has_value());

  // Each role's transition was logged once each way, not per call, and never with a password.
  EXPECT_EQ(logs.count("(API role prowler at 127.0.0.1:" + std::to_string(pg.port()) +
                       "/prowler_db) is unreachable"),
            1);
  EXPECT_EQ(logs.count("(admin role herald_keys at"), 2);  // down once, up once
  EXPECT_EQ(logs.count("is reachable again"), 2);
  for (const auto& line : logs.lines()) {
    EXPECT_EQ(line.find(fx::kApiPassword), std::string::npos) << line;
    EXPECT_EQ(line.find(fx::kKeysPassword), std::string::npos) << line;
  }
}

TEST(pg_store_outage, a_store_opened_while_postgres_is_down_says_why) {
  testing::postgres_server pg;
  pg.stop();
  store_options o = options_for(pg);
  o.postgres.connect_timeout_ms = 500;
  auto r = pg_store::open(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unavailable);
  EXPECT_NE(r.err().message.find("cannot connect to PostgreSQL"), std::string::npos)
      << r.err().message;
  EXPECT_EQ(r.err().message.find(fx::kApiPassword), std::string::npos);
}

// Many tenants, users, memberships and scans; thousands of connect checks from several threads
// with a lookup that has no tenant predicate: every answer must match the ground truth, so no
// membership and no scan of another tenant is ever reported.
TEST(pg_store_isolation, randomized_connect_checks_never_cross_tenants) {
  testing::postgres_server pg;
  std::mt19937 rng(20260821);
  constexpr int tenant_count = 12, user_count = 40, scan_count = 120;
  std::vector<std::string> tenants, users, scans;
  std::map<std::string, std::string> scan_tenant;
  std::set<std::pair<std::string, std::string>> member;
  std::string sql = "BEGIN;";
  for (int i = 0; i < tenant_count; ++i) {
    tenants.push_back(random_uuid());
    sql += "INSERT INTO tenants VALUES ('" + tenants.back() + "', now(), now(), 't" +
           std::to_string(i) + "');";
    sql += "INSERT INTO providers VALUES ('" + tenants.back() +
           "', now(), now(), false, 'aws', 'p', NULL, true, '" + tenants.back() + "');";
  }
  for (int i = 0; i < user_count; ++i) {
    users.push_back(random_uuid());
    sql += "INSERT INTO users VALUES ('" + users.back() +
           "', 'u', 'pbkdf2_sha256$1$s$h', NULL, 'u" + std::to_string(i) +
           "@example.com', '', true, now());";
    for (const auto& t : tenants) {
      if (rng() % 4 != 0) continue;
      member.emplace(users.back(), t);
      sql += "INSERT INTO memberships VALUES ('" + random_uuid() + "', 'member', now(), '" + t +
             "', '" + users.back() + "');";
    }
  }
  for (int i = 0; i < scan_count; ++i) {
    scans.push_back(random_uuid());
    const std::string& t = tenants[rng() % tenant_count];
    scan_tenant[scans.back()] = t;
    sql +=
        "INSERT INTO scans (id, trigger, state, unique_resource_count, progress, scanner_args, "
        "inserted_at, updated_at, provider_id, tenant_id) VALUES ('";
    sql.append(scans.back()).append("', 'manual', 'available', 0, 0, '{}', now(), now(), '");
    sql.append(t).append("', '").append(t).append("');");
  }
  sql += "COMMIT;";
  pg.exec(sql);

  auto db = open_or_die(options_for(pg, 3));
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->check_lookup(kScanLookupNoTenant));
  constexpr int thread_count = 3, trials_per_thread = 1500;
  std::atomic<int> wrong_member{0}, wrong_scan{0}, cross_tenant_positive{0}, failures{0};
  std::atomic<int> positives{0};
  std::vector<std::thread> threads;
  threads.reserve(thread_count);
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, seed = rng()] {
      std::mt19937 r(seed);
      for (int i = 0; i < trials_per_thread; ++i) {
        const std::string& u = users[r() % users.size()];
        const std::string& tenant = tenants[r() % tenants.size()];
        const std::string& scan = scans[r() % scans.size()];
        const auto params = scan_params(tenant, scan);
        store::connect_query q;
        q.user_id = u;
        q.tenant_id = tenant;
        q.lookup_sql = kScanLookupNoTenant;
        q.params = &params;
        auto a = db->connect_check(q);
        if (!a) {
          ++failures;
          continue;
        }
        const bool is_member = member.count({u, tenant}) > 0;
        const bool same_tenant = scan_tenant.at(scan) == tenant;
        if (a->member != is_member) ++wrong_member;
        if (a->resource_found != same_tenant) ++wrong_scan;
        if (a->resource_found && !same_tenant) ++cross_tenant_positive;
        if (a->member && a->resource_found) ++positives;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(wrong_member.load(), 0);
  EXPECT_EQ(wrong_scan.load(), 0);
  EXPECT_EQ(cross_tenant_positive.load(), 0);
  EXPECT_GT(positives.load(), 0);  // the trials did exercise allowed connects too
}

}  // namespace
}  // namespace herald::store

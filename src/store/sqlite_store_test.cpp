#include "store/sqlite_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "core/uuid.hpp"

namespace herald::store {
namespace {

namespace fs = std::filesystem;

// The Prowler API guide's worked example: a scan's event stream is visible only inside the scan's
// tenant.
constexpr std::string_view kScanLookup =
    "SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id";

struct sqlite_store_test : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / ("herald_store_test_" + random_uuid());
  std::string path = (dir / "herald.db").string();
  std::unique_ptr<sqlite_store> db;

  std::string t1 = random_uuid(), t2 = random_uuid();
  std::string alice = random_uuid(), bob = random_uuid();

  void SetUp() override {
    fs::create_directories(dir);
    db = open_or_die(2);
    ASSERT_TRUE(db->add_tenant(t1, "Tenant One"));
    ASSERT_TRUE(db->add_tenant(t2, "Tenant Two"));
    ASSERT_TRUE(db->add_user(alice, "Alice@Example.com", true));
    ASSERT_TRUE(db->add_user(bob, "bob@example.com", false));
    ASSERT_TRUE(db->add_membership(alice, t1, "owner"));
    ASSERT_TRUE(db->add_membership(bob, t2));
  }
  void TearDown() override {
    db.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  std::unique_ptr<sqlite_store> open_or_die(unsigned connections) {
    auto r = sqlite_store::open(path, connections);
    EXPECT_TRUE(r) << (r ? "" : r.err().message);
    return r ? std::move(r).value() : nullptr;
  }

  api_key_record key(std::string prefix, const std::string& tenant, const std::string& user) {
    api_key_record k;
    k.prefix = std::move(prefix);
    k.key_hash = std::string(64, 'a');
    k.tenant_id = tenant;
    k.user_id = user;
    k.name = "ci";
    k.expires_at = 2'000'000'000;
    return k;
  }

  // True if the SELECT returns a row; a test-only shortcut over row_exists.
  bool has_row(std::string_view sql, const lookup_params& params) {
    auto r = db->row_exists(sql, params);
    EXPECT_TRUE(r) << (r ? "" : r.err().message);
    return r && *r;
  }
};

// ---- opening and schema ----

TEST_F(sqlite_store_test, schema_creation_is_idempotent_and_data_survives_reopen) {
  // A second store on the same file while the first is open, then a reopen after closing both.
  auto second = open_or_die(1);
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(*second->is_member(alice, t1));
  second.reset();
  db.reset();
  db = open_or_die(2);
  ASSERT_NE(db, nullptr);
  EXPECT_TRUE(*db->is_member(alice, t1));
  EXPECT_TRUE(has_row("SELECT 1 FROM tenants WHERE id = :tenant_id AND name = :name",
                      {{"tenant_id", t2}, {"name", "Tenant Two"}}));
}

TEST_F(sqlite_store_test, uses_wal_journal) { EXPECT_TRUE(fs::exists(path + "-wal")); }

TEST_F(sqlite_store_test, refuses_a_newer_schema_version) {
  ASSERT_TRUE(db->exec("PRAGMA user_version = 99"));
  db.reset();
  auto r = sqlite_store::open(path, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid_config);
  EXPECT_NE(r.err().message.find("99"), std::string::npos) << r.err().message;
}

TEST_F(sqlite_store_test, refuses_a_database_with_a_foreign_schema) {
  db.reset();
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    auto raw = open_or_die(1);  // creates the schema; then replace users with an unrelated table
    ASSERT_TRUE(
        raw->exec("PRAGMA foreign_keys = OFF; DROP TABLE users;"
                  "CREATE TABLE users (id TEXT PRIMARY KEY, login TEXT);"));
  }
  auto r = sqlite_store::open(path, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unavailable);
}

TEST_F(sqlite_store_test, open_reports_an_unusable_path) {
  auto r = sqlite_store::open((dir / "missing" / "sub" / "x.db").string(), 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unavailable);
  EXPECT_NE(r.err().message.find("cannot open database"), std::string::npos) << r.err().message;
}

TEST(sqlite_store_memory, in_memory_database_works_with_one_connection) {
  auto r = sqlite_store::open(":memory:", 4);  // forced to one connection
  ASSERT_TRUE(r) << r.err().message;
  auto& db = **r;
  auto t = random_uuid(), u = random_uuid();
  ASSERT_TRUE(db.add_tenant(t, "t"));
  ASSERT_TRUE(db.add_user(u, "u@example.com"));
  ASSERT_TRUE(db.add_membership(u, t));
  EXPECT_TRUE(*db.is_member(u, t));
}

// ---- users and memberships ----

TEST_F(sqlite_store_test, is_member_true_only_for_own_tenants) {
  EXPECT_TRUE(*db->is_member(alice, t1));
  EXPECT_FALSE(*db->is_member(alice, t2));
  EXPECT_TRUE(*db->is_member(bob, t2));
  EXPECT_FALSE(*db->is_member(random_uuid(), t1));
  EXPECT_FALSE(*db->is_member(alice, ""));
}

TEST_F(sqlite_store_test, find_user_active_inactive_missing) {
  auto a = db->find_user(alice);
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->id, alice);
  EXPECT_EQ((*a)->email, "alice@example.com");  // lower-cased like the Prowler API
  EXPECT_TRUE((*a)->is_active);

  auto b = db->find_user(bob);
  ASSERT_TRUE(b && b->has_value());
  EXPECT_FALSE((*b)->is_active);

  auto missing = db->find_user(random_uuid());
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TEST_F(sqlite_store_test, seeding_is_an_upsert) {
  ASSERT_TRUE(db->add_user(bob, "bob@example.com", true));  // re-run flips is_active
  EXPECT_TRUE((*db->find_user(bob))->is_active);
  ASSERT_TRUE(db->add_membership(alice, t1, "member"));  // same pair: role updated, no duplicate
  EXPECT_TRUE(
      has_row("SELECT 1 FROM memberships WHERE tenant_id = :tenant_id AND role = 'member'"
              " AND user_id = :u",
              {{"tenant_id", t1}, {"u", alice}}));
  ASSERT_TRUE(db->add_tenant(t1, "Renamed"));
  EXPECT_TRUE(has_row("SELECT 1 FROM tenants WHERE id = :tenant_id AND name = 'Renamed'",
                      {{"tenant_id", t1}}));
}

TEST_F(sqlite_store_test, seed_ids_must_be_uuids_and_are_lower_cased) {
  EXPECT_EQ(db->add_tenant("tenant-one", "x").err().code, errc::bad_request);
  EXPECT_EQ(db->add_user("u1", "u1@example.com").err().code, errc::bad_request);
  EXPECT_EQ(db->add_membership(alice, "nope").err().code, errc::bad_request);
  EXPECT_EQ(db->add_scan(random_uuid(), "nope", "s", "available").err().code, errc::bad_request);

  std::string upper = "6F8B1C3A-2D4E-4F60-9A7B-0C1D2E3F4A5B";
  ASSERT_TRUE(db->add_tenant(upper, "upper"));
  ASSERT_TRUE(db->add_membership(alice, upper));
  EXPECT_TRUE(*db->is_member(alice, *parse_uuid(upper)));
}

TEST_F(sqlite_store_test, membership_needs_existing_user_and_tenant) {
  auto r = db->add_membership(alice, random_uuid());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::unprocessable);  // foreign key
  auto bad_role = db->add_membership(alice, t2, "admin");
  ASSERT_FALSE(bad_role);
  EXPECT_EQ(bad_role.err().code, errc::unprocessable);  // CHECK (role IN ('owner', 'member'))
}

// ---- API keys ----

TEST_F(sqlite_store_test, api_key_insert_find_revoke) {
  auto k = key("hk_7KQ2M9XA", t1, alice);
  ASSERT_TRUE(db->insert_api_key(k));

  auto found = db->find_api_key("hk_7KQ2M9XA");
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  const api_key_record& f = **found;
  EXPECT_TRUE(is_uuid(f.id));  // generated when empty
  EXPECT_EQ(f.prefix, k.prefix);
  EXPECT_EQ(f.key_hash, k.key_hash);
  EXPECT_EQ(f.tenant_id, t1);
  EXPECT_EQ(f.user_id, alice);
  EXPECT_EQ(f.name, "ci");
  EXPECT_EQ(f.expires_at, 2'000'000'000);
  EXPECT_FALSE(f.revoked);

  ASSERT_TRUE(db->revoke_api_key("hk_7KQ2M9XA"));
  EXPECT_TRUE((*db->find_api_key("hk_7KQ2M9XA"))->revoked);

  auto missing = db->find_api_key("hk_NOPE0000");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  EXPECT_EQ(db->revoke_api_key("hk_NOPE0000").err().code, errc::not_found);
}

TEST_F(sqlite_store_test, api_key_duplicates_and_bad_references_are_refused) {
  ASSERT_TRUE(db->insert_api_key(key("hk_AAAAAAAA", t1, alice)));
  EXPECT_EQ(db->insert_api_key(key("hk_AAAAAAAA", t1, alice)).err().code, errc::unprocessable);
  EXPECT_EQ(db->insert_api_key(key("hk_BBBBBBBB", random_uuid(), alice)).err().code,
            errc::unprocessable);
  EXPECT_EQ(db->insert_api_key(key("hk_CCCCCCCC", "t1", alice)).err().code, errc::bad_request);
  EXPECT_EQ(db->insert_api_key(key("", t1, alice)).err().code, errc::bad_request);
}

TEST_F(sqlite_store_test, api_key_touch_sets_last_used_at) {
  auto k = key("hk_TOUCH000", t1, alice);
  k.id = random_uuid();
  ASSERT_TRUE(db->insert_api_key(k));
  constexpr std::string_view used =
      "SELECT 1 FROM api_keys WHERE id = :id AND tenant_id = :tenant_id AND last_used_at > 0";
  EXPECT_FALSE(has_row(used, {{"id", k.id}, {"tenant_id", t1}}));
  ASSERT_TRUE(db->touch_api_key(k.id));
  EXPECT_TRUE(has_row(used, {{"id", k.id}, {"tenant_id", t1}}));
  ASSERT_TRUE(db->touch_api_key(k.id));           // throttled within the second: still fine
  EXPECT_TRUE(db->touch_api_key(random_uuid()));  // unknown key: nothing to do, not an error
}

TEST_F(sqlite_store_test, removing_a_membership_or_user_revokes_their_keys) {
  ASSERT_TRUE(db->add_membership(alice, t2));
  ASSERT_TRUE(db->insert_api_key(key("hk_ALICET1X", t1, alice)));
  ASSERT_TRUE(db->insert_api_key(key("hk_ALICET2X", t2, alice)));
  ASSERT_TRUE(db->remove_membership(alice, t2));
  EXPECT_FALSE(*db->is_member(alice, t2));
  EXPECT_TRUE((*db->find_api_key("hk_ALICET2X"))->revoked);
  EXPECT_FALSE((*db->find_api_key("hk_ALICET1X"))->revoked);

  ASSERT_TRUE(db->exec("DELETE FROM users WHERE id = '" + alice + "'"));
  auto k = db->find_api_key("hk_ALICET1X");
  ASSERT_TRUE(k && k->has_value());
  EXPECT_TRUE((*k)->revoked);
  EXPECT_EQ((*k)->user_id, "");             // ON DELETE SET NULL (the Prowler API's entity)
  EXPECT_FALSE(*db->is_member(alice, t1));  // memberships cascade
}

// ---- endpoint lookups ----

TEST_F(sqlite_store_test, row_exists_scopes_the_scan_lookup_to_the_tenant) {
  std::string scan1 = random_uuid(), scan2 = random_uuid();
  ASSERT_TRUE(db->add_scan(scan1, t1, "nightly", "executing"));
  ASSERT_TRUE(db->add_scan(scan2, t2, "weekly", "completed"));

  EXPECT_TRUE(has_row(kScanLookup, {{"tenant_id", t1}, {"scan_pk", scan1}}));
  // t1 asking for t2's scan: no row, i.e. 404, exactly as for a scan that does not exist.
  EXPECT_FALSE(has_row(kScanLookup, {{"tenant_id", t1}, {"scan_pk", scan2}}));
  EXPECT_FALSE(has_row(kScanLookup, {{"tenant_id", t1}, {"scan_pk", random_uuid()}}));
  EXPECT_TRUE(has_row(kScanLookup, {{"tenant_id", t2}, {"scan_pk", scan2}}));
  // Parameters the SQL does not use are ignored; order does not matter.
  EXPECT_TRUE(has_row(kScanLookup, {{"user_id", alice}, {"scan_pk", scan1}, {"tenant_id", t1}}));
}

TEST_F(sqlite_store_test, row_exists_refuses_a_parameter_without_value) {
  auto r = db->row_exists(kScanLookup, {{"tenant_id", t1}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::internal);
  EXPECT_NE(r.err().message.find(":scan_pk"), std::string::npos) << r.err().message;
  // The cached statement is left clean for the next call.
  std::string scan = random_uuid();
  ASSERT_TRUE(db->add_scan(scan, t1, "s", "available"));
  EXPECT_TRUE(has_row(kScanLookup, {{"tenant_id", t1}, {"scan_pk", scan}}));
}

TEST_F(sqlite_store_test, row_exists_refuses_statements_that_write) {
  auto r =
      db->row_exists("DELETE FROM memberships WHERE tenant_id = :tenant_id", {{"tenant_id", t1}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::internal);
  auto two = db->row_exists("SELECT 1 WHERE :tenant_id = 'x'; DELETE FROM memberships",
                            {{"tenant_id", t1}});
  ASSERT_FALSE(two);
  EXPECT_TRUE(*db->is_member(alice, t1));
}

TEST_F(sqlite_store_test, row_exists_many_distinct_lookups_stay_correct) {
  // More distinct SQL texts than the per-connection cache holds: it is flushed, not grown.
  for (int i = 0; i < 200; ++i) {
    std::string sql = "SELECT " + std::to_string(i) + " FROM tenants WHERE id = :tenant_id";
    EXPECT_TRUE(has_row(sql, {{"tenant_id", t1}}));
  }
}

TEST_F(sqlite_store_test, check_lookup_accepts_a_scoped_select) {
  EXPECT_TRUE(db->check_lookup(kScanLookup));
  EXPECT_TRUE(
      db->check_lookup("  -- comment\n select 1 from scans where tenant_id = :tenant_id;"
                       "  /* trailing */  "));
  EXPECT_TRUE(
      db->check_lookup("WITH s AS (SELECT id FROM scans WHERE tenant_id = :tenant_id)"
                       " SELECT 1 FROM s WHERE id = :scan_pk"));
}

TEST_F(sqlite_store_test, check_lookup_refuses_a_lookup_without_tenant_id) {
  auto r = db->check_lookup("SELECT 1 FROM scans WHERE id = :scan_pk");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid_config);
  EXPECT_EQ(r.err().message, "lookup must bind :tenant_id so it is scoped to the caller's tenant");
}

TEST_F(sqlite_store_test, check_lookup_refuses_two_statements) {
  for (std::string_view sql :
       {"SELECT 1 FROM scans WHERE tenant_id = :tenant_id; SELECT 2",
        "SELECT 1 FROM scans WHERE tenant_id = :tenant_id; DELETE FROM scans",
        "SELECT 1 FROM scans WHERE tenant_id = :tenant_id; garbage"}) {
    auto r = db->check_lookup(sql);
    ASSERT_FALSE(r) << sql;
    EXPECT_EQ(r.err().code, errc::invalid_config) << sql;
    EXPECT_NE(r.err().message.find("single SELECT"), std::string::npos) << r.err().message;
  }
}

TEST_F(sqlite_store_test, check_lookup_refuses_bad_sql) {
  for (std::string_view sql : {"SELEC 1 FROM scans WHERE tenant_id = :tenant_id",
                               "SELECT 1 FROM providers WHERE tenant_id = :tenant_id",
                               "SELECT nope FROM scans WHERE tenant_id = :tenant_id", "", "  ;"}) {
    auto r = db->check_lookup(sql);
    ASSERT_FALSE(r) << sql;
    EXPECT_EQ(r.err().code, errc::invalid_config) << sql;
  }
}

TEST_F(sqlite_store_test, check_lookup_refuses_non_select_and_positional_parameters) {
  for (std::string_view sql :
       {"DELETE FROM scans WHERE tenant_id = :tenant_id",
        "UPDATE scans SET state = 'x' WHERE tenant_id = :tenant_id", "PRAGMA table_info(scans)",
        "WITH x AS (SELECT 1) INSERT INTO tenants (id, name) SELECT :tenant_id, 'x'",
        "SELECT 1 FROM scans WHERE tenant_id = :tenant_id AND id = ?"}) {
    auto r = db->check_lookup(sql);
    ASSERT_FALSE(r) << sql;
    EXPECT_EQ(r.err().code, errc::invalid_config) << sql;
  }
}

// ---- exec ----

TEST_F(sqlite_store_test, exec_reports_errors_and_never_leaves_a_transaction_open) {
  EXPECT_EQ(db->exec("NOT SQL").err().code, errc::bad_request);
  auto open_tx = db->exec("BEGIN; UPDATE tenants SET name = 'x' WHERE id = '" + t1 + "'");
  ASSERT_FALSE(open_tx);
  EXPECT_EQ(open_tx.err().code, errc::bad_request);
  EXPECT_TRUE(has_row("SELECT 1 FROM tenants WHERE id = :tenant_id AND name = 'Tenant One'",
                      {{"tenant_id", t1}}));  // rolled back
  // Writes through every pooled connection still work (no connection kept the write lock).
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(db->add_tenant(random_uuid(), "after"));
}

// ---- concurrency ----

TEST_F(sqlite_store_test, concurrent_is_member_from_four_threads) {
  // Four callers share two connections (so some wait for a lease) while a fifth thread writes.
  db.reset();
  db = open_or_die(2);
  std::string api_key_id = random_uuid();
  auto k = key("hk_CONCURR0", t1, alice);
  k.id = api_key_id;
  ASSERT_TRUE(db->insert_api_key(k));

  constexpr int k_iterations = 5000;
  std::atomic<int> wrong{0}, errors{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  readers.reserve(4);
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; i < k_iterations; ++i) {
        const bool expect = (i + t) % 2 == 0;
        auto r = expect ? db->is_member(alice, t1) : db->is_member(alice, t2);
        if (!r) {
          ++errors;
        } else if (*r != expect) {
          ++wrong;
        }
      }
    });
  }
  std::thread writer([&] {
    while (!done.load()) {
      if (!db->touch_api_key(api_key_id) || !db->add_tenant(random_uuid(), "churn")) ++errors;
    }
  });
  for (auto& r : readers) r.join();
  done = true;
  writer.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

}  // namespace
}  // namespace herald::store

// Test-only: the real in-memory SQLite store (hs::sqlite_store on ":memory:"), wrapped only
// for what it cannot do itself: hold the Prowler API's api_keys rows (the SQLite schema has
// Herald's own keys), inject faults (a store that is down, a touch that throws), and count calls
// (to show that the live re-check is batched).
// Thread-safety: like sqlite_store for the delegated calls; the extra members are for one test
// thread.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/sqlite_store.hpp"

namespace herald::auth::testing {

namespace hs = herald::store;

class test_store final : public hs::store {
 public:
  test_store() {
    auto db = hs::sqlite_store::open(":memory:", 1);
    if (!db) throw std::runtime_error(db.err().message);
    db_ = std::move(*db);
  }

  hs::sqlite_store& sqlite() { return *db_; }

  // Seeding (SQL text literals; test data only).
  void exec(const std::string& sql) {
    auto r = db_->exec(sql);
    if (!r) throw std::runtime_error(r.err().message + " in: " + sql);
  }
  static std::string quoted(std::string_view s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  }
  void add_user(std::string_view id, std::string_view email, std::string_view password,
                bool active = true) {
    exec("INSERT INTO users (id, email, password, is_active) VALUES (" + quoted(id) + ", " +
         quoted(email) + ", " + quoted(password) + ", " + (active ? "1" : "0") + ")");
  }
  void set_password(std::string_view user, std::string_view password) {
    exec("UPDATE users SET password = " + quoted(password) + " WHERE id = " + quoted(user));
  }
  void set_active(std::string_view user, bool active) {
    exec(std::string("UPDATE users SET is_active = ") + (active ? "1" : "0") +
         " WHERE id = " + quoted(user));
  }

  std::map<std::string, hs::prowler_api_key_record, std::less<>> prowler_keys;  // by id
  bool down = false;          // every call fails with errc::unavailable
  bool touch_throws = false;  // touch_api_key throws (a store breaking its contract)
  bool touch_fails = false;
  int recheck_facts_calls = 0;
  int prowler_key_reads = 0;
  int herald_key_reads = 0;
  int user_reads = 0;
  std::vector<std::string> touched;  // key ids whose last_used_at was written

  result<std::optional<hs::user_record>> find_user(std::string_view id) override {
    ++user_reads;
    if (down) return unavailable();
    return db_->find_user(id);
  }
  result<bool> is_member(std::string_view u, std::string_view t) override {
    if (down) return unavailable();
    return db_->is_member(u, t);
  }
  result<std::optional<hs::api_key_record>> find_api_key(std::string_view prefix) override {
    ++herald_key_reads;
    if (down) return unavailable();
    return db_->find_api_key(prefix);
  }
  result<void> touch_api_key(std::string_view id) override {
    if (touch_throws) throw std::runtime_error("disk full");
    if (touch_fails || down) return unavailable();
    auto r = db_->touch_api_key(id);
    if (r) touched.emplace_back(id);
    return r;
  }
  result<void> insert_api_key(const hs::api_key_record& k) override {
    return db_->insert_api_key(k);
  }
  result<void> revoke_api_key(std::string_view prefix) override {
    return db_->revoke_api_key(prefix);
  }
  result<bool> row_exists(std::string_view sql, const hs::lookup_params& p) override {
    if (down) return unavailable();
    return db_->row_exists(sql, p);
  }
  result<void> check_lookup(std::string_view sql) override { return db_->check_lookup(sql); }
  result<std::optional<hs::prowler_api_key_record>> find_prowler_api_key(
      std::string_view id) override {
    ++prowler_key_reads;
    if (down) return unavailable();
    auto it = prowler_keys.find(id);
    if (it == prowler_keys.end()) return std::optional<hs::prowler_api_key_record>{};
    return std::optional<hs::prowler_api_key_record>{it->second};
  }
  result<connect_answer> connect_check(const connect_query& q) override {
    if (down) return unavailable();
    return db_->connect_check(q);
  }
  // The base class's loop (not the SQLite store's), so the API's key rows come from prowler_keys.
  result<caller_facts> recheck_facts(const std::vector<std::pair<std::string, std::string>>& pairs,
                                     const std::vector<std::string>& users,
                                     const std::vector<std::string>& keys) override {
    ++recheck_facts_calls;
    if (down) return unavailable();
    return hs::store::recheck_facts(pairs, users, keys);
  }

 private:
  static error unavailable() { return make_error(errc::unavailable, "database is down"); }
  std::unique_ptr<hs::sqlite_store> db_;
};

}  // namespace herald::auth::testing

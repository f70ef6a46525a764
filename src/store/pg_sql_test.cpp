#include "store/pg_sql.hpp"

#include <gtest/gtest.h>

namespace herald::store {
namespace {

named_sql ok(std::string_view sql) {
  auto r = translate_named_parameters(sql);
  EXPECT_TRUE(r) << (r ? "" : r.err().message);
  return r ? *r : named_sql{};
}

std::string refused(std::string_view sql) {
  auto r = translate_named_parameters(sql);
  EXPECT_FALSE(r) << "accepted: " << sql;
  if (r) return {};
  EXPECT_EQ(r.err().code, errc::invalid_config);
  return r.err().message;
}

TEST(pg_sql, numbers_names_in_order_of_first_use) {
  auto n = ok("SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id");
  EXPECT_EQ(n.text, "SELECT 1 FROM scans WHERE id = $1 AND tenant_id = $2");
  EXPECT_EQ(n.names, (std::vector<std::string>{"scan_pk", "tenant_id"}));
}

TEST(pg_sql, a_repeated_name_reuses_its_number) {
  auto n = ok("SELECT 1 WHERE :a = :b OR :a IS NULL");
  EXPECT_EQ(n.text, "SELECT 1 WHERE $1 = $2 OR $1 IS NULL");
  EXPECT_EQ(n.names.size(), 2u);
}

TEST(pg_sql, casts_literals_identifiers_and_comments_are_not_parameters) {
  auto n =
      ok("SELECT ':not', E'it\\'s :no', \"col:x\", $$ :nope $$, $tag$ :no $tag$ -- :comment\n"
         "FROM scans /* :c /* nested :d */ */ WHERE id = :id::uuid AND x::text = 'a''b:c'");
  EXPECT_EQ(n.names, (std::vector<std::string>{"id"}));
  EXPECT_NE(n.text.find("$1::uuid"), std::string::npos) << n.text;
  EXPECT_NE(n.text.find("x::text"), std::string::npos) << n.text;
  EXPECT_NE(n.text.find("$$ :nope $$"), std::string::npos) << n.text;
  EXPECT_NE(n.text.find("'a''b:c'"), std::string::npos) << n.text;
}

TEST(pg_sql, with_queries_and_a_trailing_semicolon_are_fine) {
  auto n = ok("  -- scans\n WITH s AS (SELECT id FROM scans) SELECT 1 FROM s WHERE id = :id ;  ");
  EXPECT_EQ(n.text.back(), '1');
  EXPECT_EQ(n.names, (std::vector<std::string>{"id"}));
}

TEST(pg_sql, refuses_what_is_not_one_select_with_named_parameters) {
  EXPECT_NE(refused("").find("empty"), std::string::npos);
  EXPECT_NE(refused("  -- only a comment").find("empty"), std::string::npos);
  EXPECT_NE(refused("DELETE FROM scans").find("single SELECT"), std::string::npos);
  EXPECT_NE(refused("SELECT 1; DROP TABLE scans").find("single SELECT"), std::string::npos);
  EXPECT_NE(refused("SELECT 1 WHERE id = $1").find("named"), std::string::npos);
  EXPECT_NE(refused("SELECT 'open").find("unterminated"), std::string::npos);
  EXPECT_NE(refused("SELECT \"open").find("unterminated"), std::string::npos);
  EXPECT_NE(refused("SELECT $q$ open").find("unterminated"), std::string::npos);
  EXPECT_NE(refused("SELECT 1 /* open").find("unterminated"), std::string::npos);
  EXPECT_NE(refused("SELECTX 1").find("single SELECT"), std::string::npos);
}

}  // namespace
}  // namespace herald::store

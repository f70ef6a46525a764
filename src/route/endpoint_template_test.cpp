#include "route/endpoint_template.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace herald::route {
namespace {

using ::testing::HasSubstr;

endpoint_config endpoint(std::string_view path) {
  auto t = parse_path_template(path);
  EXPECT_TRUE(t) << (t ? "" : t.err().message);
  endpoint_config e;
  e.path = std::string(path);
  e.params = t->params;
  e.segments = t->segments;
  return e;
}

std::string path_error(std::string_view path) {
  auto t = parse_path_template(path);
  EXPECT_FALSE(t) << path;
  return t ? "" : t.err().message;
}

std::string channel_error(std::string_view ch, const std::vector<endpoint_param>& params) {
  auto r = check_channel_template(ch, params);
  EXPECT_FALSE(r) << ch;
  if (r) return "";
  EXPECT_EQ(r.err().code, errc::invalid_config);
  return r.err().message;
}

std::string lookup_error(std::string_view sql, const std::vector<endpoint_param>& params) {
  auto r = check_lookup(sql, params);
  EXPECT_FALSE(r) << sql;
  return r ? "" : r.err().message;
}

const std::vector<endpoint_param> kScanParams = {{"scan_pk", param_type::uuid}};

TEST(PathTemplate, ParsesTheSeedsWorkedExample) {
  auto t = parse_path_template("/api/v1/scans/{scan_pk:uuid}/event-stream");
  ASSERT_TRUE(t);
  ASSERT_EQ(t->params.size(), 1u);
  EXPECT_EQ(t->params[0].name, "scan_pk");
  EXPECT_EQ(t->params[0].type, param_type::uuid);
  ASSERT_EQ(t->segments.size(), 5u);
  EXPECT_EQ(t->segments[0].literal, "api");
  EXPECT_EQ(t->segments[0].param, -1);
  EXPECT_EQ(t->segments[3].param, 0);
  EXPECT_EQ(t->segments[4].literal, "event-stream");
}

TEST(PathTemplate, UntypedParameterIsASlug) {
  auto t = parse_path_template("/rooms/{room}/{_x1:slug}");
  ASSERT_TRUE(t);
  ASSERT_EQ(t->params.size(), 2u);
  EXPECT_EQ(t->params[0].type, param_type::slug);
  EXPECT_EQ(t->params[1].name, "_x1");
  EXPECT_EQ(t->params[1].type, param_type::slug);
}

TEST(PathTemplate, RefusesMalformedTemplates) {
  EXPECT_THAT(path_error("api/x"), HasSubstr("must start with '/'"));
  EXPECT_THAT(path_error(""), HasSubstr("must start with '/'"));
  EXPECT_THAT(path_error("/"), HasSubstr("reserved"));
  EXPECT_THAT(path_error("/a//b"), HasSubstr("empty segment"));
  EXPECT_THAT(path_error("/a/b/"), HasSubstr("empty segment"));
  EXPECT_THAT(path_error("/scans/scan-{id}"), HasSubstr("whole path segment"));
  EXPECT_THAT(path_error("/scans/{id}x"), HasSubstr("whole path segment"));
  EXPECT_THAT(path_error("/scans/{id"), HasSubstr("whole path segment"));
  EXPECT_THAT(path_error("/scans/{Scan}"), HasSubstr("[a-z_][a-z0-9_]*"));
  EXPECT_THAT(path_error("/scans/{1a}"), HasSubstr("[a-z_][a-z0-9_]*"));
  EXPECT_THAT(path_error("/scans/{}"), HasSubstr("[a-z_][a-z0-9_]*"));
  EXPECT_THAT(path_error("/scans/{id:int}"), HasSubstr("unknown type 'int'"));
  EXPECT_THAT(path_error("/t/{tenant_id}"), HasSubstr("'tenant_id' is reserved"));
  EXPECT_THAT(path_error("/u/{user_id:uuid}"), HasSubstr("'user_id' is reserved"));
  EXPECT_THAT(path_error("/a/{x}/b/{x:uuid}"), HasSubstr("'x' appears twice"));
  EXPECT_THAT(path_error("/a b"), HasSubstr("not allowed in a literal segment"));
  EXPECT_THAT(path_error("/a%20b"), HasSubstr("not allowed in a literal segment"));
  EXPECT_THAT(path_error("/a?x=1"), HasSubstr("not allowed in a literal segment"));
}

TEST(ChannelTemplate, AcceptsTheConvention) {
  EXPECT_TRUE(check_channel_template("scan-progress:{tenant_id}:{scan_pk}", kScanParams));
  EXPECT_TRUE(check_channel_template("notifications:{tenant_id}:{user_id}", kScanParams));
  EXPECT_TRUE(check_channel_template("announcements:{tenant_id}:all", {}));
  EXPECT_TRUE(check_channel_template("scan.v2:{tenant_id}:scan-{scan_pk}-{user_id}", kScanParams));
  EXPECT_TRUE(check_channel_template("a:{tenant_id}:{tenant_id}", {}));
}

TEST(ChannelTemplate, RefusesBrokenConvention) {
  EXPECT_THAT(channel_error("scan-progress:{tenant_id}", kScanParams), HasSubstr("exactly three"));
  EXPECT_THAT(channel_error("scan-progress", kScanParams), HasSubstr("exactly three"));
  EXPECT_THAT(channel_error("a:{tenant_id}:{scan_pk}:x", kScanParams), HasSubstr("exactly three"));
  EXPECT_THAT(channel_error("a:{user_id}:{scan_pk}", kScanParams),
              HasSubstr("middle segment must be exactly {tenant_id}"));
  EXPECT_THAT(channel_error("a:tenant:{scan_pk}", kScanParams),
              HasSubstr("middle segment must be exactly {tenant_id}"));
  EXPECT_THAT(channel_error("a:x{tenant_id}:{scan_pk}", kScanParams),
              HasSubstr("middle segment must be exactly {tenant_id}"));
  EXPECT_THAT(channel_error("{scan_pk}:{tenant_id}:x", kScanParams),
              HasSubstr("prefix must be literal"));
  EXPECT_THAT(channel_error(":{tenant_id}:x", kScanParams), HasSubstr("empty prefix"));
  EXPECT_THAT(channel_error("a b:{tenant_id}:x", kScanParams),
              HasSubstr("not allowed in the prefix"));
  EXPECT_THAT(channel_error("a:{tenant_id}:", kScanParams), HasSubstr("resource segment"));
  EXPECT_THAT(channel_error("a:{tenant_id}:{other}", kScanParams),
              HasSubstr("references {other}, which is not a parameter"));
  EXPECT_THAT(channel_error("a:{tenant_id}:{scan_pk", kScanParams),
              HasSubstr("without a matching '}'"));
  EXPECT_THAT(channel_error("a:{tenant_id}:x}", kScanParams),
              HasSubstr("'}' without a matching '{'"));
  EXPECT_THAT(channel_error("a:{tenant_id}:{scan_pk:uuid}", kScanParams),
              HasSubstr("exactly three"));
  EXPECT_THAT(channel_error("a:{tenant_id}:{Scan}", kScanParams), HasSubstr("not a valid name"));
}

TEST(Lookup, AcceptsTheSeedsWorkedExample) {
  const char* sql = "SELECT 1 FROM scans WHERE id = :scan_pk AND tenant_id = :tenant_id";
  EXPECT_TRUE(check_lookup(sql, kScanParams));
  auto names = lookup_parameter_names(sql);
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::vector<std::string>{"scan_pk", "tenant_id"}));
}

TEST(Lookup, RefusesTheSameLookupWithoutTheTenantBinding) {
  EXPECT_THAT(lookup_error("SELECT 1 FROM scans WHERE id = :scan_pk", kScanParams),
              HasSubstr("must bind the caller's tenant with :tenant_id"));
}

TEST(Lookup, TenantIdInsideStringsOrCommentsDoesNotCount) {
  EXPECT_THAT(
      lookup_error("SELECT 1 FROM scans WHERE id = :scan_pk AND note = ':tenant_id'", kScanParams),
      HasSubstr(":tenant_id"));
  EXPECT_THAT(lookup_error("SELECT 1 FROM scans WHERE id = :scan_pk -- AND tenant_id = :tenant_id",
                           kScanParams),
              HasSubstr(":tenant_id"));
  EXPECT_THAT(lookup_error("SELECT 1 FROM scans /* tenant_id = :tenant_id */ WHERE id = :scan_pk",
                           kScanParams),
              HasSubstr(":tenant_id"));
  EXPECT_THAT(lookup_error("SELECT 1 FROM \":tenant_id\" WHERE id = :scan_pk", kScanParams),
              HasSubstr(":tenant_id"));
}

TEST(Lookup, ParametersMustBeKnownAndNamed) {
  EXPECT_TRUE(check_lookup(
      "SELECT 1 FROM memberships m JOIN scans s ON s.tenant_id = m.tenant_id "
      "WHERE s.id = :scan_pk AND m.user_id = :user_id AND m.tenant_id = :tenant_id;  \n",
      kScanParams));
  EXPECT_THAT(
      lookup_error("SELECT 1 FROM scans WHERE id = :id AND tenant_id = :tenant_id", kScanParams),
      HasSubstr("references :id, which is not a parameter"));
  EXPECT_THAT(
      lookup_error("SELECT 1 FROM scans WHERE id = ? AND tenant_id = :tenant_id", kScanParams),
      HasSubstr("named :name parameters"));
  EXPECT_THAT(
      lookup_error("SELECT 1 FROM scans WHERE id = ?1 AND tenant_id = :tenant_id", kScanParams),
      HasSubstr("named :name parameters"));
  EXPECT_THAT(lookup_error("SELECT 1 FROM scans WHERE id = @scan_pk AND tenant_id = :tenant_id",
                           kScanParams),
              HasSubstr("named :name parameters"));
  EXPECT_THAT(lookup_error("SELECT 1 FROM scans WHERE id = $scan_pk AND tenant_id = :tenant_id",
                           kScanParams),
              HasSubstr("named :name parameters"));
  // A '?' inside a string literal is text, not a parameter.
  EXPECT_TRUE(
      check_lookup("SELECT 1 FROM scans WHERE name <> 'why?' AND tenant_id = :tenant_id", {}));
  // Doubled quotes stay inside the literal.
  EXPECT_TRUE(
      check_lookup("SELECT 1 FROM scans WHERE name <> 'it''s :x' AND tenant_id = :tenant_id", {}));
  // PostgreSQL casts are not parameters.
  EXPECT_TRUE(check_lookup(
      "SELECT 1 FROM scans WHERE id::text = :scan_pk AND tenant_id = :tenant_id", kScanParams));
}

TEST(Lookup, OneReadOnlyStatement) {
  EXPECT_THAT(
      lookup_error("SELECT 1 FROM scans WHERE tenant_id = :tenant_id; DELETE FROM scans", {}),
      HasSubstr("single SQL statement"));
  EXPECT_THAT(lookup_error("DELETE FROM scans WHERE tenant_id = :tenant_id", {}),
              HasSubstr("must be a SELECT"));
  EXPECT_THAT(lookup_error("SELECTX 1 FROM scans WHERE tenant_id = :tenant_id", {}),
              HasSubstr("must be a SELECT"));
  EXPECT_THAT(lookup_error("   ", {}), HasSubstr("empty"));
  EXPECT_THAT(lookup_error("SELECT 1 FROM scans WHERE tenant_id = :tenant_id AND x = 'open", {}),
              HasSubstr("unterminated"));
  EXPECT_TRUE(check_lookup(
      "  with s as (select * from scans) select 1 from s where tenant_id = :tenant_id", {}));
}

TEST(MatchPath, MatchesAndCanonicalisesUuids) {
  auto ep = endpoint("/api/v1/scans/{scan_pk:uuid}/event-stream");
  auto m = match_path(ep, "/api/v1/scans/0F8FAD5B-D9CB-469F-A165-70867728950E/event-stream");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].first, "scan_pk");
  EXPECT_EQ((*m)[0].second, "0f8fad5b-d9cb-469f-a165-70867728950e");
}

TEST(MatchPath, RefusesWhatDoesNotFit) {
  auto ep = endpoint("/api/v1/scans/{scan_pk:uuid}/event-stream");
  const std::string id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  EXPECT_FALSE(match_path(ep, "/api/v1/scans/not-a-uuid/event-stream"));
  EXPECT_FALSE(match_path(ep, "/api/v1/scans/" + id));
  EXPECT_FALSE(match_path(ep, "/api/v1/scans/" + id + "/event-stream/"));
  EXPECT_FALSE(match_path(ep, "/api/v1/scans/" + id + "/event-stream/x"));
  EXPECT_FALSE(match_path(ep, "/api/v2/scans/" + id + "/event-stream"));
  EXPECT_FALSE(match_path(ep, "api/v1/scans/" + id + "/event-stream"));
  EXPECT_FALSE(match_path(ep, ""));
  auto slug = endpoint("/rooms/{room}");
  EXPECT_TRUE(match_path(slug, "/rooms/Lobby_2-b"));
  EXPECT_FALSE(match_path(slug, "/rooms/"));
  EXPECT_FALSE(match_path(slug, "/rooms/a.b"));
  EXPECT_FALSE(match_path(slug, "/rooms/a%3Ab"));
  EXPECT_FALSE(match_path(slug, "/rooms/a:b"));
}

TEST(ExpandChannel, SubstitutesPlaceholders) {
  param_values v = {{"scan_pk", "s1"}, {"tenant_id", "t1"}, {"user_id", "u1"}};
  auto ch = expand_channel("scan-progress:{tenant_id}:{scan_pk}", v);
  ASSERT_TRUE(ch);
  EXPECT_EQ(*ch, "scan-progress:t1:s1");
  auto mixed = expand_channel("x:{tenant_id}:scan-{scan_pk}-{user_id}", v);
  ASSERT_TRUE(mixed);
  EXPECT_EQ(*mixed, "x:t1:scan-s1-u1");
}

TEST(ExpandChannel, RefusesValuesThatWouldShiftTheTenantSegment) {
  param_values v = {{"tenant_id", "t1"}, {"user_id", "evil:other-tenant"}};
  auto ch = expand_channel("n:{tenant_id}:{user_id}", v);
  ASSERT_FALSE(ch);
  EXPECT_EQ(ch.err().code, errc::forbidden);
  auto empty = expand_channel("n:{tenant_id}:{user_id}", {{"tenant_id", "t1"}, {"user_id", ""}});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.err().code, errc::forbidden);
  auto missing = expand_channel("n:{tenant_id}:{scan_pk}", {{"tenant_id", "t1"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.err().code, errc::internal);
}

}  // namespace
}  // namespace herald::route

// The key table is the one source of the configuration reference: the committed reference in
// docs/configuration.md and config/herald.example.toml must be what the table generates, and the
// table's rows must be complete.
#include "config/reference.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "config/option.hpp"

namespace herald::config {
namespace {

std::string read(const std::string& rel) {
  std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr const char* kRegenerate = "run scripts/gen-config-docs.sh after changing the key table";

TEST(reference, the_example_config_is_generated_from_the_table) {
  // (EXPECT_TRUE, not EXPECT_EQ: a mismatch would print both files whole.)
  EXPECT_TRUE(read("config/herald.example.toml") == example_toml()) << kRegenerate;
}

TEST(reference, the_reference_in_the_docs_is_generated_from_the_table) {
  const std::string doc = read("docs/configuration.md");
  auto begin = doc.find(kReferenceBegin);
  auto end = doc.find(kReferenceEnd);
  ASSERT_NE(begin, std::string::npos) << "docs/configuration.md lacks " << kReferenceBegin;
  ASSERT_NE(end, std::string::npos) << "docs/configuration.md lacks " << kReferenceEnd;
  begin += kReferenceBegin.size();
  EXPECT_TRUE(doc.substr(begin, end - begin) == "\n\n" + reference_markdown() + "\n\n")
      << kRegenerate;
}

TEST(reference, every_row_is_complete_and_named_once) {
  std::set<std::string> section_names;
  for (const auto& s : sections()) section_names.insert(s.name);
  std::set<std::string> spelled;
  const gateway_config defaults;
  for (const auto& o : options()) {
    SCOPED_TRACE(o.name());
    EXPECT_TRUE(section_names.contains(o.section));
    EXPECT_FALSE(o.help.empty());
    EXPECT_FALSE(o.type_name.empty());
    for (const auto& k : o.spellings()) EXPECT_TRUE(spelled.insert(o.section + "." + k).second);
    if (o.section == "endpoints") continue;  // read with route/'s grammar
    ASSERT_TRUE(o.set);
    ASSERT_TRUE(o.get);
    if (o.secret) {
      EXPECT_FALSE(o.what.empty());
    }
    if (o.kind == value_kind::integer) {
      auto v = o.get(defaults);
      ASSERT_TRUE(v);
      EXPECT_GE(std::get<std::int64_t>(*v), o.min);
      EXPECT_LE(std::get<std::int64_t>(*v), o.max);
    }
  }
}

}  // namespace
}  // namespace herald::config

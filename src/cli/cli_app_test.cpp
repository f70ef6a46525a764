// The command line documents itself: every option of every subcommand has a help text and shows
// its default (or says what its absence means, or is required); secrets have file and variable
// forms; bare `herald` and --version behave as documented (main.cpp; the e2e cli test runs the
// binary).
#include "cli/cli_app.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <functional>

#include "core/build_info.hpp"

namespace herald::cli {
namespace {

void walk(const CLI::App* app, const std::string& path,
          const std::function<void(const std::string&, const CLI::Option*)>& f) {
  for (const auto* opt : app->get_options()) f(path, opt);
  for (const auto* sub : app->get_subcommands([](const CLI::App*) { return true; }))
    walk(sub, path + " " + sub->get_name(), f);
}

TEST(cli, every_option_has_help_and_shows_its_default) {
  cli_args a;
  cli_commands c{};
  auto app = make_cli(a, c);
  int options = 0;
  walk(app.get(), "herald", [&](const std::string& cmd, const CLI::Option* opt) {
    ++options;
    const auto name = cmd + " " + opt->get_name();
    EXPECT_FALSE(opt->get_description().empty()) << name << " has no help text";
    if (opt->get_expected_max() == 0) return;  // a flag (--help, --version): nothing to default
    const bool shown = !opt->get_default_str().empty() ||
                       opt->get_description().find("(default: ") != std::string::npos;
    EXPECT_TRUE(opt->get_required() || shown)
        << name << " shows no default: '" << opt->get_description() << "'";
  });
  EXPECT_GT(options, 40);
  // The help text itself shows them, e.g. the demo's port.
  EXPECT_NE(c.demo->help().find("--port UINT=8080"), std::string::npos) << c.demo->help();
}

TEST(cli, every_subcommand_has_a_description) {
  cli_args a;
  cli_commands c{};
  auto app = make_cli(a, c);
  for (const auto* sub : app->get_subcommands([](const CLI::App*) { return true; }))
    EXPECT_FALSE(sub->get_description().empty()) << sub->get_name();
}

TEST(cli, secrets_come_from_a_file_or_the_environment) {
  ::setenv("HERALD_TOKEN", "from-env", 1);
  {
    cli_args a;
    cli_commands c{};
    auto app = make_cli(a, c);
    app->parse("subscribe --url http://x/");
    EXPECT_EQ(*read_secret(a.subscribe.token, "token"), "from-env");
  }
  ::unsetenv("HERALD_TOKEN");
  const std::string file = ::testing::TempDir() + "herald-token";
  std::ofstream(file) << "from-file\n";
  cli_args a;
  cli_commands c{};
  auto app = make_cli(a, c);
  app->parse("subscribe --url http://x/ --token-file " + file);
  EXPECT_EQ(*read_secret(a.subscribe.token, "token"), "from-file");
  // Both forms at once are refused.
  cli_args b;
  cli_commands d{};
  auto app2 = make_cli(b, d);
  EXPECT_THROW(app2->parse("subscribe --url http://x/ --token x --token-file " + file),
               CLI::ExcludesError);
  auto missing = read_secret(secret_arg{"", "/nonexistent/token"}, "token");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.err().message, "cannot read token file /nonexistent/token");
}

TEST(cli, version_line_names_the_version_and_commit) {
  EXPECT_EQ(version_line(),
            "herald " + std::string(version()) + " (commit " + std::string(git_commit()) + ")");
}

}  // namespace
}  // namespace herald::cli

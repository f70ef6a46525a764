// The `herald` command line: every subcommand and option, with help texts and defaults shown
// (`herald <command> --help`). main.cpp runs what was chosen; cli_test walks this tree to check
// that every option documents itself.
//
// Conventions: bare `herald` prints the help on standard output and exits 0 (asking for nothing is
// asking for help, as with git's and cargo's siblings docker and kubectl); `herald --version`
// prints the version and commit; a usage error prints a message and exits 2. Secrets given to the
// CLI (a stream token, an API key, the publisher key) can come from a file or an environment
// variable, never only from argv (which other users of the machine can read).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/demo.hpp"
#include "core/result.hpp"

namespace herald::cli {

// A secret option's three forms: the value, a file holding it, an environment variable.
struct secret_arg {
  std::string value;  // --X (argv: visible to other users; prefer the file or the variable)
  std::string file;   // --X-file (trailing newline and spaces removed)
  // The variable is read by CLI11 into `value` when neither option is given.
};
// The secret, from whichever form was given (empty if none).
result<std::string> read_secret(const secret_arg& s, const std::string& what);

struct cli_args {
  std::string config_path;
  app::demo_options demo;
  struct {
    std::string config, url, channel, event, data, id, file;
    secret_arg key;
  } publish;
  struct {
    std::string url;
    secret_arg key;
  } reload;
  struct {
    std::string url;
    secret_arg token, api_key;
    int count = 0;
  } subscribe;
  struct {
    std::string sub, tenant;
    std::int64_t ttl = 3600;
    std::vector<std::string> claims;
  } token;
  std::string reference_format = "markdown";
  struct {
    std::string user, tenant, name = "cli", prefix;
    int ttl_days = 365;
  } api_key;
  struct {
    std::string user, tenant, email, role = "member";
  } member;
  struct {
    std::string url;
    unsigned timeout_seconds = 5;
  } healthcheck;
};

// The subcommands, by name, for main.cpp to test which one was chosen.
struct cli_commands {
  CLI::App* serve;
  CLI::App* demo;
  CLI::App* publish;
  CLI::App* reload;
  CLI::App* subscribe;
  CLI::App* token;
  CLI::App* check_config;
  CLI::App* config_reference;
  CLI::App* api_key_create;
  CLI::App* api_key_revoke;
  CLI::App* member_add;
  CLI::App* member_remove;
  CLI::App* healthcheck;
};

// Builds the whole command line over `args` (which must outlive the app).
std::unique_ptr<CLI::App> make_cli(cli_args& args, cli_commands& commands);

// "herald 0.1.0 (commit 0123abcd4567)".
std::string version_line();

}  // namespace herald::cli

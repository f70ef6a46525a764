// Test-only: the Prowler API's credentials made by independent tools (Debian's python3 with PyJWT
// and cryptography, keys from `openssl genrsa`), by src/auth/testdata/prowler_credentials.py, once
// per test process. A missing interpreter or module fails the tests that need them, loudly.
#pragma once

#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#ifndef HERALD_AUTH_TESTDATA_DIR
#error "HERALD_AUTH_TESTDATA_DIR must name src/auth/testdata"
#endif
#ifndef HERALD_TEST_PYTHON
#define HERALD_TEST_PYTHON "/usr/bin/python3"
#endif

namespace herald::auth::testing {

// The `now` every generated credential is relative to (2026-01-01T00:00:00Z minus 30 minutes).
inline constexpr std::int64_t kCredentialsNow = 1767223800;

inline std::string credentials_script() {
  return std::string(HERALD_AUTH_TESTDATA_DIR) + "/prowler_credentials.py";
}

// Runs `prowler_credentials.py <args>` (stdin from `input` when given) and returns its stdout.
inline std::string run_credentials_script(const std::string& args, const std::string& input = {}) {
  namespace fs = std::filesystem;
  std::string cmd = std::string(HERALD_TEST_PYTHON) + " " + credentials_script() + " " + args;
  fs::path in_file;
  if (!input.empty()) {
    in_file = fs::temp_directory_path() / ("herald-auth-stdin-" + std::to_string(::getpid()));
    std::ofstream(in_file) << input;
    cmd += " < " + in_file.string();
  }
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
  if (!pipe) throw std::runtime_error("cannot run " + cmd);
  std::string out;
  std::array<char, 65536> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0) out.append(buf.data(), n);
  const int status = ::pclose(pipe.release());
  if (!in_file.empty()) fs::remove(in_file);
  if (status != 0)
    throw std::runtime_error(cmd + " failed (exit status " + std::to_string(status) +
                             "); it needs Debian's python3-jwt and python3-cryptography "
                             "(scripts/install-deps.sh --test) and openssl");
  return out;
}

// The generated set (see the script's docstring): public_pem, fernet_key, fixture, tokens,
// api_keys, fernet_vectors. Made once; a failure is remembered and rethrown to every caller.
inline const boost::json::object& prowler_credentials() {
  static const std::pair<boost::json::object, std::string> made = [] {
    namespace fs = std::filesystem;
    try {
      std::string dir_template =
          (fs::temp_directory_path() / "herald-auth-credentials-XXXXXX").string();
      if (::mkdtemp(dir_template.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
      const fs::path dir(dir_template);
      std::string out;
      try {
        out =
            run_credentials_script("make " + dir.string() + " " + std::to_string(kCredentialsNow));
      } catch (...) {
        fs::remove_all(dir);
        throw;
      }
      fs::remove_all(dir);
      return std::pair{boost::json::parse(out).as_object(), std::string()};
    } catch (const std::exception& e) {
      return std::pair{boost::json::object(), std::string(e.what())};
    }
  }();
  if (!made.second.empty()) throw std::runtime_error(made.second);
  return made.first;
}

inline std::string str(const boost::json::value& v) {
  return std::string(v.as_string().data(), v.as_string().size());
}

}  // namespace herald::auth::testing

// What was built: the project version (CMakeLists.txt) and the git commit, filled in at build time
// by cmake/build_info.cmake (`herald --version`, herald_build_info on /metrics).
#pragma once

#include <string_view>

namespace herald {

std::string_view version();     // e.g. "0.1.0"
std::string_view git_commit();  // short hash, or "unknown" when built outside a git checkout

}  // namespace herald

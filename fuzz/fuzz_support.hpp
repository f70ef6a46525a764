// What the fuzz targets share: input as text, splitting it into fields, and invariant checks that
// abort (so libFuzzer records the input as a crash). Each target is one translation unit with
// LLVMFuzzerTestOneInput; see README.md.
#pragma once

#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace herald::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Up to `n` fields separated by `sep`; the last field keeps the rest (separators included).
inline std::vector<std::string_view> fields(std::string_view s, std::size_t n, char sep = '\n') {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    const auto at = s.find(sep);
    if (at == std::string_view::npos) break;
    out.push_back(s.substr(0, at));
    s.remove_prefix(at + 1);
  }
  out.push_back(s);
  out.resize(n);
  return out;
}

// Logging off: the code under test logs refusals, which would only slow the run down.
inline int quiet() {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

}  // namespace herald::fuzz

// An invariant of the code under test; failing it is a finding.
#define FUZZ_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

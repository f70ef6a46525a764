#!/usr/bin/env bash
# The whole test suite: installs what it needs (apt-get, npm), builds, and runs every test with CTest
# (unit tests, integration tests against real redis-server processes the tests start themselves on
# loopback, end-to-end tests with the npm `eventsource` client and headless Chromium, the module
# dependency check), then clang-tidy over src/, then a short run of every fuzz target (fuzz/, clang).
#   scripts/test.sh            # the CI build: RelWithDebInfo, warnings are errors, all tests, clang-tidy
#   scripts/test.sh --asan     # the same suite under ASan + UBSan (CMake preset "asan")
#   scripts/test.sh --tsan     # the multi-threaded tests (shards, bus thread, database pool) under
#                              # ThreadSanitizer (CMake preset "tsan")
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
preset=default
case "${1:-}" in
  "") ;;
  --asan) preset=asan ;;
  --tsan) preset=tsan ;;
  *)
    echo "usage: scripts/test.sh [--asan | --tsan]" >&2
    exit 2
    ;;
esac

"$here/scripts/install-deps.sh" --test

jobs="${HERALD_JOBS:-$(nproc)}"
configure=(cmake --preset "$preset")
# The CI build treats every warning of Herald's code as an error (the sanitizer builds do not: their
# instrumentation adds warnings of its own, e.g. -Wtsan on Boost.Asio's fences).
[ "$preset" = default ] && configure+=(-DHERALD_WERROR=ON)
"${configure[@]}" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
# Sockets: the 1,000-stream tests need more than the default 1,024 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
run=()
# GCC 12's ThreadSanitizer cannot map its shadow memory when the kernel randomizes more than 28 bits
# of mmap addresses ("unexpected memory mapping"): run its tests without address randomization.
if [ "$preset" = tsan ] && [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)" -gt 28 ]; then
  run=(setarch "$(uname -m)" -R)
fi
"${run[@]}" ctest --preset "$preset" -j 2 --timeout 600
if [ "$preset" = default ]; then
  "$here/scripts/clang-tidy.sh" "$here/build/default"
  # The fuzz targets, built with clang (preset "fuzz"), each run briefly from its seeds (fuzz/).
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j "$jobs"
  ctest --preset fuzz
fi

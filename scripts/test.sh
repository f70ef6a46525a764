#!/usr/bin/env bash
# The whole test suite: installs what it needs (apt-get, npm), builds, and runs every test with CTest
# (unit tests, integration tests against real redis-server processes the tests start themselves on
# loopback, and end-to-end tests with the npm `eventsource` client and headless Chromium).
#   scripts/test.sh            # RelWithDebInfo build, all tests
#   scripts/test.sh --asan     # the same suite under ASan + UBSan (CMake preset "asan")
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
preset=default
[ "${1:-}" = "--asan" ] && preset=asan

"$here/scripts/install-deps.sh" --test

jobs="${HERALD_JOBS:-$(nproc)}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
# Sockets: the 1,000-stream tests need more than the default 1,024 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ctest --preset "$preset" -j 2 --timeout 600

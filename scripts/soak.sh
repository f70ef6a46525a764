#!/usr/bin/env bash
# Soak test (not in CI: it takes minutes): churn against one herald node on a redis-server for
# MINUTES (default 30): streams opened and closed, bad tokens, publishes, never-reading clients,
# the live re-check, the stream caps, and a redis-server kill -9 and restart. Samples RSS,
# descriptors, threads, streams and queue depths every second into samples.csv, plots them
# (samples.png) and reports each one's slope (least-squares line) in summary.md.
#   scripts/soak.sh [MINUTES] [OUT_DIR]     (OUT_DIR default: build/soak/<date>-<minutes>min)
# Builds build/default/herald (the CMake preset default); installs redis-server and python3-matplotlib if missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
minutes="${1:-30}"
out="${2:-build/soak/$(date +%Y-%m-%d-%H%M)-${minutes}min}"
"$here/scripts/install-deps.sh" --soak
export CMAKE_CXX_COMPILER_LAUNCHER="${CMAKE_CXX_COMPILER_LAUNCHER:-$(command -v ccache || true)}"
cmake --preset default >/dev/null
cmake --build --preset default --target herald  # a no-op when it is up to date
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
rm -rf "$out/work"
mkdir -p "$out"
HERALD_BIN="$here/build/default/herald" /usr/bin/python3 "$here/scripts/soak.py" "$minutes" --out "$out"
rm -rf "$out/work"  # the node's and redis-server's own files

#!/usr/bin/env bash
# clang-tidy over every source in src/ (and the src/ headers they include) with the repository's
# .clang-tidy; any warning fails. Run by scripts/test.sh in CI; about 4 minutes on 2 cores.
#   scripts/clang-tidy.sh [build-dir]     (default build/default; needs its compile_commands.json)
# Debian's clang-tidy package; one file per process, $HERALD_JOBS (default: every core) at a time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build/default}"
jobs="${HERALD_JOBS:-$(nproc)}"
command -v clang-tidy >/dev/null 2>&1 || {
  echo "clang-tidy.sh: clang-tidy is missing (apt-get install clang-tidy, or scripts/install-deps.sh --test)" >&2
  exit 1
}
[ -f "$build/compile_commands.json" ] || {
  echo "clang-tidy.sh: $build/compile_commands.json is missing: configure first (cmake --preset default)" >&2
  exit 1
}
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
find "$root/src" -name '*.cpp' -print0 | sort -z |
  xargs -0 -n 1 -P "$jobs" clang-tidy -p "$build" --quiet --header-filter="^$root/src/" \
    --warnings-as-errors='*' >"$log" 2>&1 || status=$?
# Each file's report comes with clang's counts of suppressed system-header warnings: keep the rest.
grep -v -e '^[0-9]* warnings\? generated\.$' -e '^Suppressed [0-9]* warnings' \
  -e '^Use -header-filter=' -e '^$' "$log" || true
if [ "$status" -ne 0 ]; then
  echo "clang-tidy.sh: clang-tidy found problems (above)" >&2
  exit 1
fi
echo "clang-tidy.sh: src/ is clean"

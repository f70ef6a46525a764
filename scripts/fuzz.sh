#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset "fuzz": clang with ASan + UBSan) and runs each one for
# SECONDS (default 60) from its committed seeds, FUZZ_JOBS (default 2) at a time, then prints a
# table: executions, executions a second, corpus growth and the outcome per target. A finding
# (crash, sanitizer report, leak, timeout) leaves its input in build/fuzz/work/crashes/<target>/
# and makes the script exit 1; fix it and add the input to fuzz/corpus/<target>/ as a regression
# seed. The grown corpora stay in build/fuzz/work/corpus/ (not committed; reused by the next run).
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 3600   or   scripts/fuzz.sh 30 jwt
# A long run on a quiet machine (aim: 10^7 executions per target) is the lead's; ctest runs each
# target for 20 s as part of the suite (label "fuzz", scripts/test.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
seconds="${1:-60}"
[ $# -gt 0 ] && shift
jobs="${FUZZ_JOBS:-2}"

export CMAKE_CXX_COMPILER_LAUNCHER="${CMAKE_CXX_COMPILER_LAUNCHER:-$(command -v ccache || true)}"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${HERALD_JOBS:-$(nproc)}"

build=build/fuzz
work="$build/work"
logs="$work/logs"
mkdir -p "$logs"
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(sed -n 's/^ *"\([a-z0-9_]*\):.*/\1/p' fuzz/CMakeLists.txt)
fi

run_one() {
  local name="$1"
  local status=0
  fuzz/run-target.sh "$build/fuzz/fuzz_$name" "$name" "$seconds" "$work" >"$logs/$name.log" 2>&1 ||
    status=$?
  echo "$status" >"$logs/$name.status"
}

running=0
for t in "${targets[@]}"; do
  [ -x "$build/fuzz/fuzz_$t" ] || { echo "fuzz.sh: no target fuzz_$t" >&2; exit 2; }
  echo "fuzz.sh: $t (${seconds}s)"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

stat() {  # stat NAME LOG: libFuzzer's final statistic NAME (print_final_stats)
  sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -1
}
failed=0
printf '\n%-16s %14s %10s %8s %8s  %s\n' target executions "exec/s" seeds corpus outcome
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  status="$(cat "$logs/$t.status" 2>/dev/null || echo 1)"
  execs="$(stat number_of_executed_units "$log")"
  rate="$(stat average_exec_per_sec "$log")"
  seeds="$(find "fuzz/corpus/$t" -type f | wc -l)"
  corpus="$(find "$work/corpus/$t" -type f | wc -l)"
  outcome=ok
  if [ "$status" != 0 ]; then
    outcome="FAILED (exit $status): see $log and $work/crashes/$t/"
    failed=1
  fi
  printf '%-16s %14s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$seeds" "$corpus" "$outcome"
done
exit "$failed"

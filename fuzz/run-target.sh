#!/usr/bin/env bash
# Runs one fuzz target for a while from its committed seeds (fuzz/corpus/<name>/, read only) and a
# working corpus it may grow (<work>/corpus/<name>/), then prints libFuzzer's final statistics.
# A crash, leak, sanitizer report or timeout fails it (exit status non-zero), leaving the input in
# <work>/crashes/<name>/ to add to fuzz/corpus/<name>/ as a regression seed once fixed.
#   fuzz/run-target.sh BINARY NAME SECONDS WORK_DIR [extra libFuzzer flags...]
set -euo pipefail
bin="$1" name="$2" seconds="$3" work="$4"
shift 4
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seeds="$here/corpus/$name"
mkdir -p "$work/corpus/$name" "$work/crashes/$name"
# Dictionaries (token lists) help libFuzzer build valid syntax faster.
dict=()
[ -f "$here/dict/$name.dict" ] && dict=(-dict="$here/dict/$name.dict")
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
exec "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -print_final_stats=1 -artifact_prefix="$work/crashes/$name/" "${dict[@]}" "$@" \
  "$work/corpus/$name" "$seeds"

#!/bin/bash
# The A/B behind README.md: the same spread runs on two checkouts, interleaved old, new, new, old.
#   ab.sh OLD_TREE NEW_TREE OUT   (each tree with its Release build in build/bench; e.g. a
#   `git worktree add` of 84a547a as OLD_TREE and 92a743a as NEW_TREE)
set -u
old="$1" new="$2" out="$3"
mkdir -p "$out"
run() { # tree label
  (cd "$1" && BENCH_NO_BUILD=1 bench/run.sh scaleout --configs inproc-1,classic-1,sharded-1 \
     --scenarios spread --rounds 2 --results "$out/$2" >"$out/$2.log" 2>&1)
  echo "$2 rc=$?"
}
run "$old" old-a; run "$new" new-a; run "$new" new-b; run "$old" old-b

#!/usr/bin/env bash
# Retakes the README's demo screenshots (docs/demo-*.png) with the e2e browser test: headless
# Chromium on `herald demo`, exactly the states the test asserts.
#   scripts/update-screenshots.sh [path/to/herald]   (default: build/default/herald)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
HERALD_BIN="$(realpath "${1:-build/default/herald}")" HERALD_DEMO_SCREENSHOTS="$here/docs" \
  node --test --test-timeout=120000 --test-name-pattern="the demo shows" test/e2e/browser.test.mjs
ls -l docs/demo-*.png

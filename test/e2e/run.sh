#!/bin/sh
# Runs one end-to-end test file under `node --test` (CTest's e2e_* tests). Registered always: when a
# tool the test needs is missing, it fails here, saying which and how to install it, instead of the
# suite passing without the real clients.
#   test/e2e/run.sh <eventsource|browser|cli|reload|http2|replay>      (HERALD_BIN set by CTest)
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
name="$1"
missing() {
  echo "e2e_$name: $1 is missing; install the test dependencies with scripts/install-deps.sh --test" >&2
  exit 1
}
command -v node >/dev/null 2>&1 || missing "node (Debian package nodejs)"
[ -d "$here/../node/node_modules" ] || missing "test/node/node_modules (cd test/node && npm ci)"
[ -d "$here/../node/node_modules/eventsource" ] || missing "the npm package eventsource in test/node"
if [ "$name" = http2 ] || [ "$name" = replay ]; then
  command -v curl >/dev/null 2>&1 || missing "curl (Debian package curl)"
fi
if [ "$name" = reload ] || [ "$name" = http2 ]; then
  command -v openssl >/dev/null 2>&1 || missing "openssl (Debian package openssl)"
fi
if [ "$name" = browser ] || [ "$name" = http2 ]; then
  [ -d "$here/../node/node_modules/playwright-core" ] || missing "the npm package playwright-core in test/node"
  [ -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ] || missing "${CHROMIUM_BIN:-/usr/bin/chromium} (Debian package chromium)"
fi
[ -n "${HERALD_BIN:-}" ] || { echo "e2e_$name: HERALD_BIN is not set" >&2; exit 1; }
exec node --test --test-timeout=90000 "$here/$name.test.mjs"

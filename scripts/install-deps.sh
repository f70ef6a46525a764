#!/usr/bin/env bash
# Installs everything Herald needs to build, run the demo and run the test suite on Debian 12.
# Idempotent: packages already present are skipped by apt-get; npm packages are cached under test/node.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

pkgs=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libhiredis-dev libsqlite3-dev sqlite3 libpq-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  openssl curl ca-certificates procps
)
# Test-only packages: real third-party peers (redis-server, chromium, node, python redis client),
# and clang-tidy, which scripts/test.sh runs over src/.
if [ "${1:-}" = "--test" ]; then
  pkgs+=(redis-server chromium python3-redis nodejs npm clang-tidy)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs from another repository may already provide node+npm; don't fight it.
if command -v node >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" = "--test" ]; then
  # npm `eventsource` is the third-party SSE client the integration tests drive.
  if [ ! -d "$here/test/node/node_modules/eventsource" ]; then
    (cd "$here/test/node" && npm ci --no-audit --no-fund --silent)
  fi
fi

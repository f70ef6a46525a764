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
  libssl-dev libhiredis-dev libsqlite3-dev sqlite3 libpq-dev libnghttp2-dev libsystemd-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  openssl curl ca-certificates procps
)
# Test-only packages, one group per line (what uses them):
if [ "${1:-}" = "--test" ]; then
  pkgs+=(redis-server chromium python3-redis nodejs npm)            # real peers: bus, browser, Node clients
  pkgs+=(postgresql)                                                # the PostgreSQL 15 server the postgres store's tests start
  pkgs+=(nghttp2-client)                                            # HTTP/2 interop test (nghttp)
  pkgs+=(python3-jwt python3-cryptography)                          # the Prowler API's JWTs and Fernet keys
  pkgs+=(python3-venv python3-setuptools python3-wheel)             # offline install of clients/python
  pkgs+=(mypy python3-flake8)                                       # clients/python type and PEP 8 checks
  pkgs+=(python3-yaml python3-jsonschema)                           # docs/openapi.yaml against the server
  pkgs+=(clang-tidy)                                                # scripts/test.sh runs it over src/
  pkgs+=(systemd)                                                   # systemd-analyze verify of deploy/systemd/herald.service
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
  # clients/js (herald-client): its tests' eventsource, playwright-core and typescript.
  for m in eventsource playwright-core typescript; do
    if [ ! -d "$here/clients/js/node_modules/$m" ]; then
      (cd "$here/clients/js" && npm ci --no-audit --no-fund --silent)
      break
    fi
  done
fi

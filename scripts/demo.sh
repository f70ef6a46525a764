#!/usr/bin/env bash
# Installs what Herald needs, builds it, and runs the demo on the embedded default (SQLite,
# in-process bus). Extra arguments go to `herald demo` (e.g. --port 9090, --data-dir DIR).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
"$here/scripts/install-deps.sh"
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)" --target herald
exec "$here/build/default/herald" demo --data-dir "$here/build/demo-data" "$@"

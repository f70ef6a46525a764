#!/usr/bin/env bash
# Regenerates the configuration reference from the key table (src/config/option_table.cpp): the
# generated part of docs/configuration.md and the whole of config/herald.example.toml. config_test
# fails when the committed files differ from what the table gives; run this after changing a row.
#   scripts/gen-config-docs.sh [path/to/herald]    (default: build/default/herald, built if missing)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bin="${1:-build/default/herald}"
if [ ! -x "$bin" ]; then
  cmake --preset default >/dev/null
  cmake --build --preset default --target herald
fi
"$bin" config-reference --format toml >config/herald.example.toml
reference="$("$bin" config-reference --format markdown)"
begin='<!-- BEGIN GENERATED REFERENCE: herald config-reference --format markdown -->'
end='<!-- END GENERATED REFERENCE -->'
doc=docs/configuration.md
grep -qF -- "$begin" "$doc" && grep -qF -- "$end" "$doc" || {
  echo "gen-config-docs: $doc lacks the markers $begin / $end" >&2
  exit 1
}
tmp="$(mktemp)"
# Keep everything outside the markers; replace what is between them.
# (ENVIRON, not -v: awk would process the backslashes in the text.)
BEGIN_MARK="$begin" END_MARK="$end" REFERENCE="$reference" awk '
  BEGIN { begin = ENVIRON["BEGIN_MARK"]; end = ENVIRON["END_MARK"] }
  $0 == begin { print; print ""; print ENVIRON["REFERENCE"]; print ""; skip = 1; next }
  $0 == end { skip = 0 }
  !skip { print }
' "$doc" >"$tmp"
mv "$tmp" "$doc"
echo "gen-config-docs: wrote config/herald.example.toml and the reference in $doc"

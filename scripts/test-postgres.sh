#!/usr/bin/env bash
# A throwaway PostgreSQL (Debian's postgresql package) with the Prowler API's tables, row-level
# security, roles and data, for tests outside C++ (Python, Node): the script form of
# src/store/test_postgres_server.hpp, loading the same fixture files.
#   eval "$(scripts/test-postgres.sh start /tmp/pg.$$)"   # exports HERALD_PG_PORT and HERALD_PG_DIR
#   ...                                                  # API role prowler / prowler-api-pw,
#                                                        # key reader herald_keys / herald-keys-pw
#   scripts/test-postgres.sh halt /tmp/pg.$$             # fast shutdown, keeps the data (an outage)
#   scripts/test-postgres.sh resume /tmp/pg.$$           # starts again on the same port
#   scripts/test-postgres.sh stop /tmp/pg.$$             # fast shutdown, removes the directory
# Listens on 127.0.0.1 only. initdb refuses root, so as root the server runs as `nobody`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|halt|resume|stop DIR" >&2
  exit 2
fi
bindir="${HERALD_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [ ! -x "$bindir/postgres" ]; then
  echo "test-postgres: no PostgreSQL server (apt-get install postgresql, or set HERALD_PG_BINDIR)" >&2
  exit 1
fi
as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ "$(id -u)" -eq 0 ]; then
      chown nobody "$dir"
      runuser -u nobody -- test -x "$dir" ||
        { echo "test-postgres: nobody cannot reach $dir (use a directory under /tmp)" >&2; exit 1; }
    fi
    echo "prowler-admin-pw" >"$dir/pwfile"
    [ "$(id -u)" -eq 0 ] && chown nobody "$dir/pwfile"
    as_server "$bindir/initdb" -D "$dir/data" -U prowler_admin --pwfile="$dir/pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    started=""
    for _ in 1 2 3 4 5; do
      port=$((20000 + RANDOM % 30000))
      if as_server "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" \
        start >/dev/null; then
        started=1
        break
      fi
    done
    [ -n "$started" ] || { cat "$dir/postgres.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    export PGPASSWORD="prowler-admin-pw"
    psql() { command psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U prowler_admin "$@"; }
    psql -d postgres -c "CREATE DATABASE prowler_db" >/dev/null
    psql -d prowler_db -f "$here/src/store/testdata/prowler_schema.sql" \
      -f "$here/src/store/testdata/herald_roles.sql" >/dev/null
    echo "export HERALD_PG_PORT=$port HERALD_PG_DIR=$dir"
    ;;
  halt)
    as_server "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    port="$(cat "$dir/port")"
    as_server "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" \
      start >/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_server "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|halt|resume|stop DIR" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Start or stop nchan (nginx + libnginx-mod-nchan) for the benchmark, in its own temp dir, loopback only.
#   nchan.sh start DIR PORT [CPU] [REDIS_URL]   -> prints the worker PID (the process to measure)
#   nchan.sh stop DIR
# One worker, pinned with taskset to CPU (default 0). With REDIS_URL (redis://127.0.0.1:PORT) nchan keeps its
# messages in Redis (`nchan_use_redis on`): the "bus" scenario.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:?start|stop}"
dir="${2:?dir}"

find_module() {
  for m in /usr/lib/nginx/modules/ngx_nchan_module.so /usr/share/nginx/modules/ngx_nchan_module.so; do
    [ -f "$m" ] && { echo "$m"; return; }
  done
  echo "nchan.sh: ngx_nchan_module.so not found (apt-get install libnginx-mod-nchan)" >&2
  return 1
}

case "$cmd" in
  start)
    port="${3:?port}"
    cpu="${4:-0}"
    redis="${5:-}"
    command -v nginx >/dev/null || { echo "nchan.sh: nginx not installed (apt-get install nginx-light libnginx-mod-nchan)" >&2; exit 1; }
    module="$(find_module)"
    mkdir -p "$dir"
    redis_conf=""
    if [ -n "$redis" ]; then
      redis_conf="nchan_redis_url \"$redis\"; nchan_use_redis on;"
    fi
    sed -e "s|@NCHAN_MODULE@|$module|g" -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" \
        -e "s|@SHM@|${NCHAN_SHM:-512M}|g" -e "s|@REDIS@|$redis_conf|g" \
        "$here/nginx.conf.in" > "$dir/nginx.conf"
    ulimit -n "$(ulimit -Hn)"
    prio=()
    nice_v="${BENCH_NICE:--20}"
    if [ "$nice_v" != "0" ] && { [ "$(id -u)" -eq 0 ] || [ "${nice_v#-}" = "$nice_v" ]; }; then prio=(nice -n "$nice_v"); fi
    "${prio[@]}" taskset -c "$cpu" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
    for _ in $(seq 1 100); do
      [ -s "$dir/nginx.pid" ] && break
      sleep 0.05
    done
    master="$(cat "$dir/nginx.pid")"
    worker=""
    for _ in $(seq 1 100); do
      worker="$(pgrep -P "$master" | head -1 || true)"
      [ -n "$worker" ] && break
      sleep 0.05
    done
    [ -n "$worker" ] || { echo "nchan.sh: no worker process" >&2; exit 1; }
    echo "$worker"
    ;;
  stop)
    if [ -s "$dir/nginx.pid" ]; then
      master="$(cat "$dir/nginx.pid")"
      kill -TERM "$master" 2>/dev/null || true
      for _ in $(seq 1 100); do
        kill -0 "$master" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$master" 2>/dev/null || true
      rm -f "$dir/nginx.pid"
    fi
    ;;
  *) echo "usage: nchan.sh start DIR PORT [CPU] [REDIS_URL] | stop DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Herald benchmark: builds the tools (Release) and runs the scenarios against Herald, nchan and the floor.
#   bench/run.sh [scenario...] [--servers herald,nchan,floor] [--quick] [other driver options]
#   bench/run.sh scaleout [--quick] [--configs ...] [other bench/lib/scaleout.py options]
# Scenarios: idle fanout h2fanout spread connect connect-pg bus (default: all), replay (only when
# named). Results: bench/results/<date>/. scaleout: Herald nodes on redis-server / a 3-master
# Cluster (bench/results/<date>/scaleout/).
# See bench/README.md. Loopback only; every run is bounded in time and count.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${BENCH_BUILD_DIR:-$root/build/bench}"
jobs="${BENCH_JOBS:-2}"

scaleout=""
if [ "${1:-}" = "scaleout" ]; then
  scaleout=1
  shift
fi
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,7p' "$0"
  [ -n "$scaleout" ] && exec python3 "$here/lib/scaleout.py" --help
  exec python3 "$here/lib/driver.py" --help --bin /nonexistent
fi

# One process may open at most the hard cap of files (20,000 on these machines): use all of it.
ulimit -n "$(ulimit -Hn)"

need_pkgs=()
if [ -z "$scaleout" ]; then
  command -v gnuplot >/dev/null || need_pkgs+=(gnuplot-nox)
  command -v nginx >/dev/null || need_pkgs+=(nginx-light)
  [ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || need_pkgs+=(libnginx-mod-nchan)
fi
command -v ss >/dev/null || need_pkgs+=(iproute2)
command -v redis-server >/dev/null || command -v valkey-server >/dev/null || need_pkgs+=(redis-server)
command -v sqlite3 >/dev/null || need_pkgs+=(sqlite3)
command -v taskset >/dev/null || need_pkgs+=(util-linux)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_pkgs+=(postgresql)   # connect-pg
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "bench: installing ${need_pkgs[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2 || \
    echo "bench: could not install ${need_pkgs[*]}; the runs that need them are skipped" >&2
  # Debian starts nginx/redis services on install: the bench runs its own, so stop the packaged ones.
  for svc in nginx redis-server postgresql; do
    (command -v systemctl >/dev/null && $SUDO systemctl stop "$svc" 2>/dev/null) || \
      (command -v service >/dev/null && $SUDO service "$svc" stop >/dev/null 2>&1) || true
  done
fi

# Release build of the whole project (Herald + bench tools) in build/bench. Herald is being written in
# parallel: if the project does not configure or Herald does not build, the bench tools alone are built
# (standalone CMake project in bench/) and Herald runs are skipped unless HERALD_BIN or another build has one.
bin="$build/bench"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
mkdir -p "$root/build"
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  if cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DHERALD_BUILD_TESTS=OFF \
       -DHERALD_BUILD_BENCH=ON >"$root/build/bench-configure.log" 2>&1; then
    cmake --build "$build" -j "$jobs" --target herald-bench-tools >&2
    if cmake --build "$build" -j "$jobs" --target herald >"$root/build/bench-herald-build.log" 2>&1; then
      echo "bench: Herald built (Release) in $build" >&2
    else
      echo "bench: Herald did not build (see build/bench-herald-build.log); looking for another Herald binary" >&2
    fi
  else
    echo "bench: the project does not configure (see build/bench-configure.log); building the bench tools alone" >&2
    cmake -S "$here" -B "$root/build/bench-tools" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release >&2
    cmake --build "$root/build/bench-tools" -j "$jobs" >&2
    bin="$root/build/bench-tools"
  fi
else
  for d in "$build/bench" "$root/build/bench-tools"; do [ -x "$d/herald-loadgen" ] && { bin="$d"; break; }; done
fi

[ -n "$scaleout" ] && exec python3 "$here/lib/scaleout.py" --bin "$bin" "$@"
exec python3 "$here/lib/driver.py" --bin "$bin" "$@"

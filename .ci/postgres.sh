#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the relay's tests, on 127.0.0.1 only.
#
#   eval "$(.ci/postgres.sh start)"   # stdout: export GATEHOUSE_TEST_DATABASE_URL=… GATEHOUSE_TEST_PG_DIR=…
#   .ci/postgres.sh stop [dir]        # dir defaults to $GATEHOUSE_TEST_PG_DIR
#
# start installs Debian's `postgresql` when its binaries are missing (root only), runs initdb into
# a fresh temporary directory owned by an unprivileged user (as root: the `postgres` user the
# package creates; otherwise: the current user), starts it with pg_ctl on a free loopback port
# (from $GATEHOUSE_TEST_PG_PORT, default 55432) with a random password, and creates the database
# `gatehouse_test`. Only the export lines go to stdout; progress goes to stderr.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

find_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; return 0; fi
  return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local bindir
  if ! bindir=$(find_bindir); then
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed. Install it (Debian: sudo apt-get install -y postgresql) or set GATEHOUSE_TEST_DATABASE_URL to a database whose user may CREATE DATABASE."
    log "installing Debian's postgresql"
    apt-get update -qq >&2
    # As the official postgres image does: no default "main" cluster on 5432, only ours.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-common >&2
    sed -ri 's/^#?\s*(create_main_cluster)\s*=.*$/\1 = false/' /etc/postgresql-common/createcluster.conf
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bindir=$(find_bindir) || die "postgresql was installed but initdb/pg_ctl were not found under /usr/lib/postgresql/*/bin"
  fi

  # initdb refuses to run as root: as root, the cluster belongs to an unprivileged user.
  local owner run
  if [ "$(id -u)" = 0 ]; then
    owner=postgres
    if ! id "$owner" >/dev/null 2>&1; then
      owner=gatehouse-ci
      id "$owner" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
    fi
    run=(runuser -u "$owner" --)
  else
    owner=$(id -un)
    run=()
  fi

  local dir port password
  dir=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-pg.XXXXXX")
  chmod 700 "$dir"
  if [ "$(id -u)" = 0 ]; then chown "$owner" "$dir"; fi
  cd "$dir" # the cluster owner may not be able to read the caller's working directory
  port=${GATEHOUSE_TEST_PG_PORT:-55432}
  for _ in $(seq 1 50); do port_in_use "$port" || break; port=$((port + 1)); done
  port_in_use "$port" && die "no free port near ${GATEHOUSE_TEST_PG_PORT:-55432}"
  password=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')

  printf '%s\n' "$password" >"$dir/pwfile"
  if [ "$(id -u)" = 0 ]; then chown "$owner" "$dir/pwfile"; fi
  chmod 600 "$dir/pwfile"
  log "initdb in $dir (owner $owner, $("$bindir/postgres" --version))"
  "${run[@]}" "$bindir/initdb" -D "$dir/data" -U gatehouse --pwfile="$dir/pwfile" --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; die "initdb failed"; }
  rm -f "$dir/pwfile"

  # Another cluster can take the port between the check and the start: then try the next one.
  local attempt started=
  for attempt in 1 2 3 4 5; do
    log "starting on 127.0.0.1:$port"
    if "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >&2; then
      started=1
      break
    fi
    grep -q 'could not create any TCP/IP sockets' "$dir/server.log" 2>/dev/null || break
    log "port $port was taken meanwhile (attempt $attempt)"
    port=$((port + 1))
    while port_in_use "$port"; do port=$((port + 1)); done
  done
  [ -n "$started" ] || { cat "$dir/server.log" >&2 || true; rm -rf "$dir"; die "pg_ctl start failed"; }

  PGPASSWORD=$password "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U gatehouse -d postgres -c 'CREATE DATABASE gatehouse_test' >&2 \
    || { stop_dir "$dir"; die "could not create the database"; }

  echo "$bindir" >"$dir/bindir"
  echo "$owner" >"$dir/owner"
  echo "export GATEHOUSE_TEST_DATABASE_URL='postgres://gatehouse:$password@127.0.0.1:$port/gatehouse_test'"
  echo "export GATEHOUSE_TEST_PG_DIR='$dir'"
  log "ready: postgres://gatehouse:***@127.0.0.1:$port/gatehouse_test"
}

stop_dir() {
  local dir=$1
  cd / # the cluster owner may not be able to read the caller's working directory
  case "$dir" in
    */gatehouse-pg.*) ;;
    *) die "refusing to remove $dir (not a directory made by postgres.sh start)" ;;
  esac
  [ -d "$dir" ] || { log "$dir is already gone"; return 0; }
  if [ -f "$dir/data/postmaster.pid" ]; then
    local bindir owner
    bindir=$(cat "$dir/bindir" 2>/dev/null || find_bindir)
    owner=$(cat "$dir/owner" 2>/dev/null || id -un)
    if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
      runuser -u "$owner" -- "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    else
      "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    fi
  fi
  rm -rf "$dir"
  log "stopped and removed $dir"
}

case "${1:-}" in
  start) start ;;
  stop)
    dir=${2:-${GATEHOUSE_TEST_PG_DIR:-}}
    [ -n "$dir" ] || die "stop: pass the directory or set GATEHOUSE_TEST_PG_DIR (printed by start)"
    stop_dir "$dir"
    ;;
  *) die "usage: $0 start|stop [dir]" ;;
esac

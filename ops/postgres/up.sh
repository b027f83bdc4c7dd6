#!/usr/bin/env bash
# up.sh starts (or finds running) the throwaway Postgres cluster of this
# checkout: trust authentication on 127.0.0.1 only, on a port of this
# checkout's own (ops/ports.sh), data and socket in a folder of this checkout's
# own (ops/postgres/cluster.sh says where, and why: as root the cluster runs
# as `postgres`, outside the checkout, so a checkout under /root or a 0700
# folder works). It is idempotent and safe to run from several processes at
# once (flock), and prints the DATABASE_URL on stdout as an `export` line, so
# `eval "$(ops/postgres/up.sh)"` sets it; messages go to stderr. It never
# uses a cluster it did not find in this checkout's folder: a port held by
# anything else is passed over (or, when set explicitly, refused).
#
# Environment:
#   PGPORT_SETTLE   port. Default: this checkout's (ops/ports.sh postgres),
#                   or, when something else holds it, the first free one of
#                   the next candidates (logged). Set, it is used or refused.
#   PGFSYNC_SETTLE  on|off (default on). off is for tests only; a benchmark
#                   that claims durability keeps it on. Applied by reload when
#                   the cluster already runs, so the last caller's choice wins.
set -euo pipefail
pg_script=up.sh
# shellcheck source=cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

log() { echo "up.sh: $*" >&2; }
die() { echo "up.sh: ERROR: $*" >&2; exit 1; }

fsync="${PGFSYNC_SETTLE:-on}"
case "$fsync" in on|off) ;; *) die "PGFSYNC_SETTLE must be on or off, not '$fsync'" ;; esac
if [[ -n "${PGPORT_SETTLE:-}" ]]; then
  [[ "$PGPORT_SETTLE" =~ ^[0-9]+$ ]] && (( PGPORT_SETTLE >= 1024 && PGPORT_SETTLE <= 65535 )) ||
    die "PGPORT_SETTLE must be a port number 1024..65535, not '$PGPORT_SETTLE'"
fi

if [[ ! -x "$pgbin/pg_ctl" ]]; then
  [[ "$(id -u)" -eq 0 ]] || die "PostgreSQL 15 is not installed ($pgbin) and only root can install it: run 'apt-get install --no-install-recommends postgresql' as root"
  log "installing Debian postgresql (15)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2 || die "apt-get update failed (output above)"
  apt-get install -y --no-install-recommends postgresql >&2 || die "apt-get install postgresql failed (output above)"
  # The package starts Debian's own cluster on 5432; this project does not use it.
  [[ -x "$pgbin/pg_ctl" ]] || die "postgresql is installed but $pgbin/pg_ctl is missing (not version 15?)"
fi

pg_lock

if [[ -n "$pg_legacy" ]]; then
  log "note: $pg_legacy is a cluster of the earlier layout (data inside the checkout) and is not used; ops/postgres/down.sh --purge stops and removes it"
fi

# The cluster's folder, owned by the user the cluster runs as.
if [[ "$(id -u)" -eq 0 ]]; then
  install -d -o postgres -g postgres -m 0755 "$pg_home" || die "cannot make $pg_home"
  install -d -o postgres -g postgres -m 0700 "$pg_cluster" || die "cannot make $pg_cluster"
else
  mkdir -p "$pg_cluster"
fi
if [[ -f "$pg_cluster/checkout" ]]; then
  made_for="$(cat "$pg_cluster/checkout")"
  [[ "$made_for" == "$pg_root" ]] ||
    die "$pg_cluster was made for the checkout $made_for, not $pg_root (copied or moved?); ops/postgres/down.sh --purge here removes it"
fi

if [[ ! -s "$pg_data/PG_VERSION" ]]; then
  log "initdb $pg_data (as $pg_owner)"
  rm -rf "$pg_data"
  install -d -o "$pg_owner" -g "$(id -gn "$pg_owner")" -m 0700 "$pg_data" "$pg_sock"
  pg_as "$pgbin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$pg_run/initdb.log" 2>&1 ||
    { cat "$pg_run/initdb.log" >&2; die "initdb of $pg_data failed (output above, kept in $pg_run/initdb.log)"; }
  # A Unix socket path (DIR/.s.PGSQL.PORT) is at most 107 bytes: a deep
  # checkout (non-root) gets TCP only, which is all the scripts and tests use.
  sockdirs="$pg_sock"
  if (( ${#pg_sock} + 15 > 107 )); then
    log "note: $pg_sock is too long for a Unix socket; the cluster listens on TCP only"
    sockdirs=""
  fi
  cat >>"$pg_data/postgresql.conf" <<CONF || die "cannot write $pg_data/postgresql.conf"
# settle throwaway cluster of the checkout $pg_root
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdirs'
max_connections = 200
shared_buffers = 512MB
wal_buffers = 16MB
max_wal_size = 8GB
checkpoint_timeout = 30min
CONF
  echo "$pg_root" >"$pg_cluster/checkout"
fi
[[ -f "$pg_cluster/checkout" ]] || echo "$pg_root" >"$pg_cluster/checkout"

# sql Q: one query to this checkout's running cluster over TCP.
sql() { "$pgbin/psql" "host=127.0.0.1 port=$port user=postgres dbname=postgres connect_timeout=10" -XAtq -c "$1"; }

# apply_fsync sets the one setting that differs between test and benchmark
# runs with ALTER SYSTEM and a reload (not on the command line, which a
# reload could not change), and waits until the server reports it.
apply_fsync() {
  local now
  now="$(sql "show fsync")" || die "cannot query the cluster on port $port (see $pg_log)"
  [[ "$now" == "$fsync" ]] && return 0
  log "fsync -> $fsync (reload)"
  sql "alter system set fsync = $fsync" >/dev/null || die "alter system set fsync failed"
  sql "select pg_reload_conf()" >/dev/null || die "pg_reload_conf failed"
  for _ in $(seq 1 50); do
    [[ "$(sql "show fsync")" == "$fsync" ]] && return 0
    sleep 0.1
  done
  die "the server does not report fsync=$fsync after a reload; see $pg_log"
}

# choose_port sets port: PGPORT_SETTLE if free, or this checkout's port, or
# the first free one of the next candidates.
choose_port() {
  if [[ -n "${PGPORT_SETTLE:-}" ]]; then
    settle_port_free "$PGPORT_SETTLE" ||
      die "port $PGPORT_SETTLE (PGPORT_SETTLE) is taken by $(settle_port_owner "$PGPORT_SETTLE"); choose another with PGPORT_SETTLE=N, or unset it to let up.sh pick a free one"
    port=$PGPORT_SETTLE
    return 0
  fi
  local k p first
  first="$(settle_port postgres 0)" || die "no port plan (ops/ports.sh)"
  for (( k = 0; k < SETTLE_PORT_SLOTS; k++ )); do
    p="$(settle_port postgres "$k")" || die "no port plan (ops/ports.sh)"
    if settle_port_free "$p"; then
      (( k == 0 )) || log "port $first (this checkout's) is taken by $(settle_port_owner "$first"); using $p"
      port=$p
      return 0
    fi
  done
  die "none of this checkout's $SETTLE_PORT_SLOTS candidate ports for Postgres is free (first $first); set PGPORT_SETTLE=N"
}

if pg_running; then
  port="$(pg_running_port)"
  if [[ -n "${PGPORT_SETTLE:-}" && "$PGPORT_SETTLE" != "$port" ]]; then
    die "this checkout's cluster already runs on port $port, not PGPORT_SETTLE=$PGPORT_SETTLE; run ops/postgres/down.sh first"
  fi
else
  choose_port
  log "starting $pg_data on port $port (fsync=$fsync)"
  rm -f "$pg_data/postmaster.pid"
  # 9>&-: the postmaster must not inherit (and hold) the checkout's lock.
  pg_as "$pgbin/pg_ctl" -D "$pg_data" -l "$pg_log" -w -t 60 -o "-p $port" start >&2 9>&- ||
    { tail -20 "$pg_log" >&2; die "the cluster in $pg_data did not start on port $port (log above, in $pg_log)"; }
fi
apply_fsync

url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "$url" >"$pg_run/url"
echo "$pg_cluster" >"$pg_run/cluster"
echo "export DATABASE_URL='$url'"

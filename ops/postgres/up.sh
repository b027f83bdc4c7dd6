#!/usr/bin/env bash
# up.sh starts (or finds running) the throwaway Postgres cluster of this
# checkout: data and socket under <repo>/.run/postgres, its own port, trust
# authentication on 127.0.0.1 only. It is idempotent and safe to run from
# several processes at once (flock), and prints the DATABASE_URL on stdout as
# an `export` line, so `eval "$(ops/postgres/up.sh)"` sets it.
#
# Environment:
#   PGPORT_SETTLE   port (default 25432)
#   PGFSYNC_SETTLE  on|off (default on). off is for tests only; a benchmark
#                   that claims durability keeps it on. Applied by reload when
#                   the cluster already runs, so the last caller's choice wins.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
run="$root/.run/postgres"
data="$run/data"
sock="$run/sock"
port="${PGPORT_SETTLE:-25432}"
fsync="${PGFSYNC_SETTLE:-on}"
case "$fsync" in on|off) ;; *) echo "up.sh: PGFSYNC_SETTLE must be on or off, not '$fsync'" >&2; exit 2 ;; esac

log() { echo "up.sh: $*" >&2; }

pgbin=/usr/lib/postgresql/15/bin
if [ ! -x "$pgbin/pg_ctl" ]; then
	log "installing Debian postgresql (15)"
	if [ "$(id -u)" -ne 0 ]; then log "not root: cannot apt-get install postgresql"; exit 1; fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends postgresql >&2
	# The package starts Debian's own cluster on 5432; this project does not use it.
fi

mkdir -p "$run"
exec 9>"$run/lock"
if ! flock -w 120 9; then log "timed out waiting for $run/lock"; exit 1; fi

# as runs a Postgres tool as the owner of the data folder: initdb refuses root.
as() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" -eq 0 ]; then owner=postgres; else owner=$(id -un); fi

if [ ! -s "$data/PG_VERSION" ]; then
	log "initdb $data"
	rm -rf "$data"
	mkdir -p "$data" "$sock"
	if [ "$(id -u)" -eq 0 ]; then chown "$owner" "$data" "$sock"; fi
	chmod 700 "$data"
	as "$pgbin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$run/initdb.log" 2>&1 ||
		{ cat "$run/initdb.log" >&2; exit 1; }
	cat >>"$data/postgresql.conf" <<CONF
# settle throwaway cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
max_connections = 200
shared_buffers = 512MB
wal_buffers = 16MB
max_wal_size = 8GB
checkpoint_timeout = 30min
CONF
fi
mkdir -p "$sock" "$run/log"
if [ "$(id -u)" -eq 0 ]; then chown "$owner" "$sock" "$run/log"; fi
# The data folder's parents must be traversable by its owner.
if [ "$(id -u)" -eq 0 ]; then
	d="$run"; while [ "$d" != "/" ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
fi

# apply_fsync sets the one setting that differs between test and benchmark
# runs with ALTER SYSTEM and a reload (not on the command line, which a
# reload could not change), and waits until the server reports it.
apply_fsync() {
	sql() { as "$pgbin/psql" -h "$sock" -p "$port" -U postgres -XAtq -d postgres -c "$1"; }
	[ "$(sql "show fsync")" = "$fsync" ] && return 0
	log "fsync -> $fsync (reload)"
	sql "alter system set fsync = $fsync" >/dev/null
	sql "select pg_reload_conf()" >/dev/null
	for _ in $(seq 1 50); do
		[ "$(sql "show fsync")" = "$fsync" ] && return 0
		sleep 0.1
	done
	log "server does not report fsync=$fsync"; exit 1
}

url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"

if as "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
	running_port=$(head -4 "$data/postmaster.pid" | sed -n 4p)
	if [ "$running_port" != "$port" ]; then
		log "cluster already runs on port $running_port, not $port; run down.sh first"; exit 1
	fi
	apply_fsync
else
	log "starting on port $port (fsync=$fsync)"
	rm -f "$data/postmaster.pid"
	as "$pgbin/pg_ctl" -D "$data" -l "$run/log/server.log" -w -t 60 \
		-o "-p $port" start >&2 9>&- || { tail -20 "$run/log/server.log" >&2; exit 1; }
	apply_fsync
fi

echo "$url" >"$run/url"
echo "export DATABASE_URL='$url'"

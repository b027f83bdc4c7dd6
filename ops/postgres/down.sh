#!/usr/bin/env bash
# down.sh [--purge] stops the throwaway cluster that up.sh started for this
# checkout. With --purge it also removes the cluster's folder, wherever it
# lives (as root /var/lib/postgresql/settle/<id>, otherwise .run/postgres;
# see cluster.sh), and a cluster of the earlier layout (data inside the
# checkout even as root). Idempotent: nothing running is not an error. It
# acts only on this checkout's folders, never on a cluster it finds on a port.
set -euo pipefail
pg_script=down.sh
# shellcheck source=cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

log() { echo "down.sh: $*" >&2; }
die() { echo "down.sh: ERROR: $*" >&2; exit 1; }

purge=0
case "$#:${1:-}" in
  0:) ;;
  1:--purge) purge=1 ;;
  *) echo "usage: ops/postgres/down.sh [--purge]" >&2; exit 2 ;;
esac

pg_lock

# stop_cluster DATA: a fast shutdown (what pg_ctl -m fast sends: SIGINT),
# waiting until the postmaster is gone.
stop_cluster() {
  local d=$1 pid
  pg_running "$d" || return 0
  pid="$(head -1 "$d/postmaster.pid")"
  log "stopping the cluster in $d (pid $pid, port $(pg_running_port "$d"))"
  if [[ -x "$pgbin/pg_ctl" ]] && pg_as "$pgbin/pg_ctl" -D "$d" -m fast -w -t 60 stop >/dev/null 2>&1; then
    return 0
  fi
  # pg_ctl could not do it (the earlier layout's folder may not be reachable
  # by postgres any more): signal the postmaster directly.
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "the postmaster of $d (pid $pid) did not stop in 60 s"
}

stop_cluster "$pg_data"
rm -f "$pg_run/url"
if [[ -n "$pg_legacy" ]]; then stop_cluster "$pg_legacy"; fi

if (( purge )); then
  if [[ "$(id -u)" -eq 0 ]]; then
    rm -rf "$pg_cluster"
  else
    rm -rf "$pg_data" "$pg_sock" "$pg_log" "$pg_cluster/checkout"
  fi
  rm -rf "$pg_run/cluster" "$pg_run/initdb.log" "$pg_run/data" "$pg_run/sock" "$pg_run/log"
  log "removed the cluster's data ($pg_data)"
fi

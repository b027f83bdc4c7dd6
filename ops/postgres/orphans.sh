#!/usr/bin/env bash
# orphans.sh [--purge] lists the throwaway clusters in /var/lib/postgresql/settle
# (root's layout, cluster.sh) whose checkout no longer exists: a checkout
# removed without `make clean`. With --purge it stops each (a fast shutdown)
# and removes its folder. Clusters of checkouts that exist are never touched.
set -euo pipefail
pg_script=orphans.sh
# shellcheck source=cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
die() { echo "orphans.sh: ERROR: $*" >&2; exit 1; }
purge=0
case "$#:${1:-}" in
  0:) ;;
  1:--purge) purge=1 ;;
  *) echo "usage: ops/postgres/orphans.sh [--purge]" >&2; exit 2 ;;
esac
[[ "$(id -u)" -eq 0 ]] || die "only root's clusters live outside their checkout (in /var/lib/postgresql/settle); run it as root"
[[ -d "$pg_home" ]] || exit 0
for c in "$pg_home"/*/; do
  c=${c%/}
  [[ -f "$c/checkout" ]] || continue
  owner="$(cat "$c/checkout")"
  [[ -e "$owner" ]] && continue
  state=stopped
  if pg_running "$c/data"; then state="running (pid $(head -1 "$c/data/postmaster.pid"), port $(pg_running_port "$c/data"))"; fi
  echo "$c: checkout $owner is gone; $state"
  (( purge )) || continue
  if pg_running "$c/data"; then
    pid="$(head -1 "$c/data/postmaster.pid")"
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && die "the postmaster of $c (pid $pid) did not stop in 60 s"
  fi
  rm -rf "$c"
  echo "$c: removed"
done

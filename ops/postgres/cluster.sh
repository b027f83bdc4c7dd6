# ops/postgres/cluster.sh: where this checkout's throwaway cluster lives and
# who runs it; sourced by up.sh, down.sh and status.sh, not run.
#
# As root, the cluster runs as the `postgres` user (initdb refuses root),
# which may not pass through the checkout's parents (/root and mktemp -d
# folders are 0700). So its data, socket and server log live in a folder the
# postgres user owns, one per checkout, named by the checkout's id (a hash of
# its path, ops/ports.sh):
#
#   /var/lib/postgresql/settle/<id>/{data,sock,server.log,checkout}
#
# /var/lib/postgresql is the postgres user's home on Debian: it is not
# world-writable (no one else can plant a file or link there first, as in
# /tmp or /var/tmp), systemd-tmpfiles does not age it out under a running
# cluster, and it survives a reboot like the rest of a demo's state.
# `checkout` names the checkout a folder belongs to (orphans.sh finds the
# folders of checkouts removed without `make clean`).
#
# As any other user, the cluster runs as that user, in the checkout itself:
#
#   <checkout>/.run/postgres/{data,sock,server.log,checkout}
#
# Either way <checkout>/.run/postgres holds the lock, the url of the running
# cluster and `cluster`, the path of the cluster's folder.

pg_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
# shellcheck source=../ports.sh
source "$pg_root/ops/ports.sh"
pg_run="$pg_root/.run/postgres"
pgbin=/usr/lib/postgresql/15/bin
if [[ "$(id -u)" -eq 0 ]]; then
  pg_owner=postgres
  pg_home=/var/lib/postgresql/settle
  pg_cluster="$pg_home/$settle_checkout_id"
else
  pg_owner="$(id -un)"
  pg_home=""
  pg_cluster="$pg_run"
fi
pg_data="$pg_cluster/data"
pg_sock="$pg_cluster/sock"
pg_log="$pg_cluster/server.log"
# The layout before the per-checkout folder: data in the checkout even as root.
pg_legacy=""
if [[ "$(id -u)" -eq 0 && -s "$pg_run/data/PG_VERSION" ]]; then pg_legacy="$pg_run/data"; fi

# pg_as CMD...: run a Postgres tool as the cluster's owner, from the cluster's
# folder (its owner may not be able to enter the caller's working directory).
pg_as() {
  if [[ "$(id -u)" -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# pg_lock: take this checkout's lock (fd 9), so concurrent up.sh and down.sh
# calls (test packages start together) take turns.
pg_lock() {
  mkdir -p "$pg_run"
  exec 9>"$pg_run/lock"
  flock -w 120 9 || { echo "$pg_script: timed out after 120 s waiting for $pg_run/lock (another up.sh or down.sh of this checkout)" >&2; exit 1; }
}

# pg_running [DATA]: true if the postmaster of DATA (default this checkout's)
# is alive. Read from its postmaster.pid as the caller (root may read any),
# so it works where pg_ctl status would have to run as postgres.
pg_running() {
  local d=${1:-$pg_data} pid
  [[ -f "$d/postmaster.pid" ]] || return 1
  pid="$(head -1 "$d/postmaster.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # The pid must be that cluster's postmaster (its working directory is its
  # data directory), not a recycled pid of a cluster that died.
  local cwd; cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null || true)"
  [[ -z "$cwd" || "$cwd" == "$(cd "$d" && pwd -P)" ]]
}

# pg_running_port [DATA]: the port in DATA's postmaster.pid (line 4).
pg_running_port() { sed -n 4p "${1:-$pg_data}/postmaster.pid"; }

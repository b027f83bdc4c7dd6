#!/usr/bin/env bash
# down.sh stops the throwaway cluster started by up.sh. With --purge it also
# removes its data. Idempotent: nothing running is not an error.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
run="$root/.run/postgres"
data="$run/data"
pgbin=/usr/lib/postgresql/15/bin
as() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ -x "$pgbin/pg_ctl" ] && [ -s "$data/PG_VERSION" ]; then
	mkdir -p "$run"
	exec 9>"$run/lock"
	flock -w 120 9 || { echo "down.sh: timed out waiting for $run/lock" >&2; exit 1; }
	if as "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		as "$pgbin/pg_ctl" -D "$data" -m fast -w -t 60 stop >&2
	fi
fi
if [ "${1:-}" = "--purge" ]; then rm -rf "$data" "$run/url"; fi

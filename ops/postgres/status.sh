#!/usr/bin/env bash
# status.sh says whether this checkout's throwaway cluster runs, where its
# data lives and on which port: exit 0 and "running port P data D" when it
# runs, exit 3 and "stopped data D" when it does not. It takes no lock and
# starts nothing (`make test` asks it before and after the suite).
set -euo pipefail
pg_script=status.sh
# shellcheck source=cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
[[ $# -eq 0 ]] || { echo "usage: ops/postgres/status.sh" >&2; exit 2; }
if pg_running; then
  echo "running port $(pg_running_port) data $pg_data"
  exit 0
fi
echo "stopped data $pg_data"
exit 3

#!/usr/bin/env bash
# ops/test-suite.sh: what `make test` runs after deps and lint: the Go suite
# (go test ./...: unit tests, and integration tests whose harnesses start this
# checkout's Postgres cluster and Fabric networks of their own), then the
# chaincode's module and its network tests (ops/fabric/test.sh).
#
# When it ends, passed, failed or interrupted, it stops what it started:
#   - processes the Go suite left behind (it runs in a process group of its
#     own; a test binary killed by its timeout does not run its cleanups),
#   - the tests' Fabric networks (ops/fabric/.network-test, -client, -e2e),
#     stopped (their logs kept) if a harness could not stop its own,
#   - this checkout's Postgres cluster, unless it was already running when the
#     suite started (a demo's, say, which keeps running).
# It never touches the demo's network (.network-demo), `make fabric-up`'s
# (.network), nor anything of another checkout.
#
# SETTLE_KEEP=1 (`make test KEEP=1`) leaves the cluster and the test networks
# running and prints how to stop them.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
keep=${SETTLE_KEEP:-}
export SETTLE_KEEP="$keep"
log() { echo "make test: $*" >&2; }
trap 'log "ERROR: line $LINENO: \"$BASH_COMMAND\" failed (exit $?)"' ERR

nets=(ops/fabric/.network-test ops/fabric/.network-client ops/fabric/.network-e2e)
pg_before=stopped
if ops/postgres/status.sh >/dev/null; then pg_before=running; fi
group=""

# reap: end what is left of the Go suite's process group.
reap() {
  [[ -n "$group" ]] || return 0
  local g=$group
  group=""
  pgrep -g "$g" >/dev/null 2>&1 || return 0
  log "stopping what the Go suite left behind: $(pgrep -g "$g" -l | tr '\n' ' ')"
  kill -TERM -- "-$g" 2>/dev/null || true
  for _ in $(seq 1 50); do pgrep -g "$g" >/dev/null 2>&1 || return 0; sleep 0.1; done
  kill -KILL -- "-$g" 2>/dev/null || true
}

finish() {
  local rc=$?
  trap - ERR
  reap
  local n
  if [[ -n "$keep" ]]; then
    if ops/postgres/status.sh >/dev/null; then
      log "KEEP: this checkout's Postgres keeps running ($(ops/postgres/status.sh || true)); stop it with ops/postgres/down.sh"
    fi
    for n in "${nets[@]}"; do
      if compgen -G "$n/pids/*.pid" >/dev/null; then
        log "KEEP: the test network in $n keeps running; stop it with FABRIC_NETWORK_DIR=$PWD/$n ops/fabric/down.sh --clean"
      fi
    done
    exit "$rc"
  fi
  for n in "${nets[@]}"; do
    if compgen -G "$n/pids/*.pid" >/dev/null; then
      log "stopping the test network left in $n (its logs stay in $n/logs)"
      FABRIC_NETWORK_DIR="$PWD/$n" ops/fabric/down.sh || { log "ERROR: could not stop the network in $n"; rc=1; }
    fi
  done
  if [[ "$pg_before" == stopped ]]; then
    if ops/postgres/status.sh >/dev/null; then
      log "stopping this checkout's Postgres cluster, started for the suite (make test KEEP=1 keeps it)"
      ops/postgres/down.sh || { log "ERROR: could not stop this checkout's Postgres cluster"; rc=1; }
    fi
  else
    log "this checkout's Postgres cluster was running before the suite: left running"
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
setsid "$GO" test -count=1 -timeout 45m ./... &
group=$!
wait "$group" || rc=$?
reap
(( rc == 0 )) || { log "go test ./... failed (exit $rc)"; exit "$rc"; }
ops/fabric/test.sh || { rc=$?; log "ops/fabric/test.sh failed (exit $rc)"; exit "$rc"; }

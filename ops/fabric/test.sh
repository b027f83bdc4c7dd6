#!/usr/bin/env bash
# test.sh: the chaincode's unit tests, then the real-network tests against a network
# this script starts (and stops) itself. Used by `make fabric-test` and CI; needs
# no running network and no input. The test network has its own state directory
# (FABRIC_NETWORK_DIR, default .network-test) and this checkout's `test` port block
# (ops/ports.sh; FABRIC_BASE_PORT=N to choose), so a demo network, another package's
# test network and another checkout's can run beside it.
# On failure the stopped network's logs are kept in $FABRIC_NETWORK_DIR/logs.
# SETTLE_KEEP=1 (make test KEEP=1) leaves the network running when it is done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export FABRIC_NETWORK_DIR="${FABRIC_NETWORK_DIR:-$PWD/.network-test}"
export FABRIC_PORT_BLOCK=test
export FABRIC_BANKS=3 # the network tests name their majorities for three banks
source ./common.sh
check_settings

START=$SECONDS
ok=0
finish() {
  local rc=$?
  trap - ERR
  if [[ -n "${SETTLE_KEEP:-}" && -f "$NET/network.json" ]]; then
    (( ok )) && log "fabric-test passed in $(( SECONDS - START )) s" || log "fabric-test FAILED after $(( SECONDS - START )) s"
    log "SETTLE_KEEP: the test network keeps running; stop it with FABRIC_NETWORK_DIR=$NET $FABRIC_DIR/down.sh --clean"
  elif (( ok )); then
    ./down.sh --clean
    log "fabric-test passed in $(( SECONDS - START )) s"
  else
    ./down.sh || log "ERROR: down.sh could not stop the test network in $NET"
    log "fabric-test FAILED after $(( SECONDS - START )) s; node logs kept in $NET/logs (remove with FABRIC_NETWORK_DIR=$NET $FABRIC_DIR/down.sh --clean)"
  fi
  exit "$rc"
}
trap finish EXIT

./down.sh --clean # leftovers of an earlier, interrupted run
FABRIC_NETWORK_DIR="$NET-governed" FABRIC_BANKS=4 FABRIC_OPERATORS=2 ./down.sh --clean
./build.sh
(go vet ./cmd/... && go test -count=1 ./cmd/...)
log "chaincode unit tests"
(cd "$CHAINCODE_SRC" && env -u SETTLE_FABRIC_NETWORK go vet ./... && env -u SETTLE_FABRIC_NETWORK go test -count=1 ./...)
log "starting the test network ($BANKS banks, block $PORT_BLOCK, state in $NET)"
./up.sh
log "real-network tests"
(cd "$CHAINCODE_SRC" && SETTLE_FABRIC_NETWORK="$NET/network.json" go test -count=1 -v -timeout 15m -skip TestGovernedContract ./networktest/)
log "restart from saved state: down.sh, then up.sh must resume and commit a Ping"
./down.sh
./up.sh
./down.sh --clean
# The governed contract founds its ledger (once per channel), with four banks (three
# found it, the fourth is admitted) and a successor operator org the banks vote in:
# a network of its own, on the same ports once the first is down.
log "governed contract: a fresh network of 4 banks and 2 operator orgs"
(
  export FABRIC_BANKS=4 FABRIC_OPERATORS=2 FABRIC_NETWORK_DIR="$NET-governed"
  # Stopped explicitly, not by an EXIT trap: bash may exec a subshell's last
  # command, and the trap then never runs (it left this network running once).
  rc=0
  ./up.sh && (cd "$CHAINCODE_SRC" && SETTLE_FABRIC_NETWORK="$FABRIC_NETWORK_DIR/network.json" go test -count=1 -v -timeout 15m -run TestGovernedContract ./networktest/) || rc=$?
  if (( rc == 0 )); then
    ./down.sh --clean
  else
    ./down.sh || true
    log "the governed network's logs are kept in $FABRIC_NETWORK_DIR/logs (remove with FABRIC_NETWORK_DIR=$FABRIC_NETWORK_DIR FABRIC_BANKS=4 FABRIC_OPERATORS=2 $FABRIC_DIR/down.sh --clean)"
  fi
  exit "$rc"
)
ok=1

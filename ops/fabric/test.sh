#!/usr/bin/env bash
# test.sh: the chaincode's unit tests, then the real-network tests against a network
# this script starts (and stops) itself. Used by `make fabric-test` and CI; needs
# no running network and no input. The test network has its own state directory and
# ports (FABRIC_NETWORK_DIR, FABRIC_BASE_PORT), so a demo network can run beside it.
# On failure the stopped network's logs are kept in $FABRIC_NETWORK_DIR/logs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export FABRIC_NETWORK_DIR="${FABRIC_NETWORK_DIR:-$PWD/.network-test}"
export FABRIC_BASE_PORT="${FABRIC_BASE_PORT:-28050}"
export FABRIC_BANKS=3 # the network tests name their majorities for three banks
source ./common.sh
check_settings

START=$SECONDS
ok=0
finish() {
  if (( ok )); then
    ./down.sh --clean
    log "fabric-test passed in $(( SECONDS - START )) s"
  else
    ./down.sh || true
    log "fabric-test FAILED after $(( SECONDS - START )) s; node logs kept in $NET/logs (remove with FABRIC_NETWORK_DIR=$NET $FABRIC_DIR/down.sh --clean)"
  fi
}
trap finish EXIT

./down.sh --clean # leftovers of an earlier, interrupted run
./build.sh
(go vet ./cmd/... && go test -count=1 ./cmd/...)
log "chaincode unit tests"
(cd "$CHAINCODE_SRC" && env -u SETTLE_FABRIC_NETWORK go vet ./... && env -u SETTLE_FABRIC_NETWORK go test -count=1 ./...)
log "starting the test network ($BANKS banks, base port $BASE, state in $NET)"
./up.sh
log "real-network tests"
(cd "$CHAINCODE_SRC" && SETTLE_FABRIC_NETWORK="$NET/network.json" go test -count=1 -v -timeout 15m ./networktest/)
log "restart from saved state: down.sh, then up.sh must resume and commit a Ping"
./down.sh
./up.sh
ok=1

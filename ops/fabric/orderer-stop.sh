#!/usr/bin/env bash
# orderer-stop.sh: stop the network's orderer (peers and chaincode servers keep
# running), e.g. to test writes while nothing can be ordered. up.sh on the same
# network starts it again (it restarts whatever is stopped) and waits for a commit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh
check_settings
[[ $# -eq 0 ]] || die "usage: orderer-stop.sh (no arguments)"
[[ -f "$NET/network.json" ]] || die "no network in $NET; run up.sh first"
if ! running orderer; then log "the orderer is not running"; exit 0; fi
stop orderer

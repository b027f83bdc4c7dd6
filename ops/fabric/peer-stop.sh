#!/usr/bin/env bash
# peer-stop.sh N: stop bank N's peer (its chaincode server keeps running), e.g. to
# test "one peer down" or "a majority down". peer-start.sh N brings it back.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh
check_settings
n="${1:-}"
[[ "$n" =~ ^[0-9]+$ ]] && (( n >= 1 && n <= BANKS )) || die "usage: peer-stop.sh N (1..$BANKS)"
[[ -f "$NET/network.json" ]] || die "no network in $NET; run up.sh first"
if ! running "peer$n"; then log "peer$n is not running"; exit 0; fi
stop "peer$n"

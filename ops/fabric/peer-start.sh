#!/usr/bin/env bash
# peer-start.sh N: start bank N's peer again after peer-stop.sh N and wait until it
# serves requests; it catches up on missed blocks from the orderer by itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh
check_settings
n="${1:-}"
[[ "$n" =~ ^[0-9]+$ ]] && (( n >= 1 && n <= BANKS )) || die "usage: peer-start.sh N (1..$BANKS)"
[[ -f "$NET/network.json" ]] || die "no network in $NET; run up.sh first"
peer_start "$n"
peer_wait "$n"
running "cc$n" || cc_start "$n"
log "peer$n is up"

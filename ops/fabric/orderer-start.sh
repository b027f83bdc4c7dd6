#!/usr/bin/env bash
# orderer-start.sh O...: start orderers O again after orderer-stop.sh and wait until
# they listen. One whose data was wiped (orderer-stop.sh --wipe) joins the channel
# again with the genesis block and pulls the blocks it lacks from the others.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh
check_settings
(( $# > 0 )) || die "usage: orderer-start.sh O... (0..$(( ORDERERS - 1 )))"
[[ -f "$NET/network.json" ]] || die "no network in $NET; run up.sh first"
for o in "$@"; do
  [[ "$o" =~ ^[0-9]+$ ]] && (( o < ORDERERS )) || die "usage: orderer-start.sh O... (0..$(( ORDERERS - 1 )))"
done
for o in "$@"; do
  orderer_start "$o"
  orderer_join "$o"
  log "orderer$o is up"
done

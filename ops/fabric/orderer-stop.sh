#!/usr/bin/env bash
# orderer-stop.sh [--wipe] O...: stop orderers O (0 the operator's, i bank i's, or
# "leader" for the one the others follow now), e.g. to test ordering with a node down
# (one of four: BFT goes on) or two (no quorum: writes stall). Peers, chaincode
# servers and the other orderers keep running. --wipe also removes the stopped
# orderers' ledger and write-ahead log, as if their disk was lost.
# orderer-start.sh O... starts them again; up.sh restarts whatever is stopped.
# It prints the indexes it stopped, one a line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh
check_settings
wipe=0
if [[ "${1:-}" == --wipe ]]; then wipe=1; shift; fi
(( $# > 0 )) || die "usage: orderer-stop.sh [--wipe] O... (0..$(( ORDERERS - 1 )), or leader)"
[[ -f "$NET/network.json" ]] || die "no network in $NET; run up.sh first"
names=() picked=()
for o in "$@"; do
  if [[ "$o" == leader ]]; then
    o="$(orderer_leader)" || die "no running orderer names a leader (metrics on their operations ports)"
    log "orderer$o leads"
  fi
  [[ "$o" =~ ^[0-9]+$ ]] && (( o < ORDERERS )) || die "usage: orderer-stop.sh [--wipe] O... (0..$(( ORDERERS - 1 )), or leader)"
  picked+=("$o")
  if running "orderer$o"; then names+=("orderer$o"); else log "orderer$o is not running"; fi
done
(( ${#names[@]} == 0 )) || stop "${names[@]}"
if (( wipe )); then
  for o in "${picked[@]}"; do
    rm -rf "$NET/data/orderer$o"
    log "wiped orderer$o's ledger and write-ahead log"
  done
fi
printf '%s\n' "${picked[@]}"

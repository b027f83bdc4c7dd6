#!/usr/bin/env bash
# down.sh [--clean]: stop every process up.sh started (by pid file); --clean also
# removes the network's state (crypto, ledgers, logs) from FABRIC_NETWORK_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh

clean=0
case "${1:-}" in
  --clean) clean=1 ;;
  "") ;;
  *) die "usage: down.sh [--clean]" ;;
esac

if [[ -d "$NET/pids" ]]; then
  # Chaincode servers and peers together, the orderers last (together too).
  names=()
  for f in "$NET"/pids/cc*.pid "$NET"/pids/peer*.pid; do
    [[ -f "$f" ]] && names+=("$(basename "$f" .pid)")
  done
  (( ${#names[@]} == 0 )) || stop "${names[@]}"
  names=()
  for f in "$NET"/pids/orderer*.pid; do
    [[ -f "$f" ]] && names+=("$(basename "$f" .pid)")
  done
  (( ${#names[@]} == 0 )) || stop "${names[@]}"
fi
if (( clean )); then
  if [[ -d "$NET" ]]; then
    [[ -f "$NET/.settle-fabric-network" ]] || die "$NET was not made by up.sh; not removing it"
    rm -rf "$NET"
    log "removed $NET"
  fi
fi
log "network down"

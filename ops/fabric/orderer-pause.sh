#!/usr/bin/env bash
# orderer-pause.sh [--resume] O...: make orderers O silent (SIGSTOP: their sockets stay
# open, they answer nothing, as a hung or hostile node would), or let them go on
# (--resume, SIGCONT). O is 0..BANKS, or "leader". It prints the indexes, one a line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh
check_settings
sig=STOP
if [[ "${1:-}" == --resume ]]; then sig=CONT; shift; fi
(( $# > 0 )) || die "usage: orderer-pause.sh [--resume] O... (0..$(( ORDERERS - 1 )), or leader)"
[[ -f "$NET/network.json" ]] || die "no network in $NET; run up.sh first"
for o in "$@"; do
  if [[ "$o" == leader ]]; then
    o="$(orderer_leader)" || die "no running orderer names a leader"
  fi
  [[ "$o" =~ ^[0-9]+$ ]] && (( o < ORDERERS )) || die "usage: orderer-pause.sh [--resume] O... (0..$(( ORDERERS - 1 )), or leader)"
  running "orderer$o" || die "orderer$o is not running"
  kill -s "$sig" "$(cat "$(pidfile "orderer$o")")"
  log "orderer$o: SIG$sig"
  echo "$o"
done

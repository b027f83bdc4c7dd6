#!/usr/bin/env bash
# config-update.sh: change the BFT ordering service's part of the channel
# configuration, the way a consortium does it: one admin proposes, the admins of a
# majority of the orderer orgs sign, one submits. The orderers refuse an update whose
# signatures do not satisfy the Orderer group's Admins policy (MAJORITY Admins).
#
#   config-update.sh fetch OUT.block [O]        the latest config block (read as orderer org O's admin)
#   config-update.sh show [O]                   what it says of ordering (chconfig show)
#   config-update.sh propose OUT.tx CHANGE...   an unsigned update (chconfig update's CHANGEs)
#   config-update.sh sign FILE.tx O             add orderer org O's admin's signature to FILE
#   config-update.sh submit FILE.tx O           sign as O too and send it to an orderer
#
# O: 0 the operator's orderer org, i bank i's. Exit status 1 when the orderers refuse.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh
check_settings
[[ -f "$NET/network.json" ]] || die "no network in $NET; run up.sh first"

# as_ord_admin O: the peer CLI acting as orderer org O's admin.
as_ord_admin() {
  local o=$1
  [[ "$o" =~ ^[0-9]+$ ]] && (( o < ORDERERS )) || die "orderer org must be 0..$(( ORDERERS - 1 )), got '$o'"
  export FABRIC_CFG_PATH="$NET/config"
  export CORE_PEER_TLS_ENABLED=true
  export CORE_PEER_LOCALMSPID; CORE_PEER_LOCALMSPID="$(ord_msp_id "$o")"
  export CORE_PEER_MSPCONFIGPATH; CORE_PEER_MSPCONFIGPATH="$(ord_admin_msp "$o")"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  fetch)
    out="${1:?usage: config-update.sh fetch OUT.block [O]}"; o="${2:-0}"
    read -r -a oargs <<<"$(orderer_args)" || die "no orderer is running"
    ( as_ord_admin "$o"; peer channel fetch config "$out" -c "$CHANNEL" "${oargs[@]}" >>"$NET/logs/cli.log" 2>&1 ) \
      || die "fetching the config block failed; see $NET/logs/cli.log" ;;
  show)
    tmp="$(mktemp)"; trap 'rm -f "$tmp"' EXIT
    "$0" fetch "$tmp" "${1:-0}"
    chconfig show "$tmp" ;;
  propose)
    out="${1:?usage: config-update.sh propose OUT.tx CHANGE...}"; shift
    (( $# > 0 )) || die "usage: config-update.sh propose OUT.tx CHANGE..."
    tmp="$(mktemp)"; trap 'rm -f "$tmp"' EXIT
    "$0" fetch "$tmp"
    chconfig update "$tmp" "$out" "$@" ;;
  sign)
    f="${1:?usage: config-update.sh sign FILE.tx O}"; o="${2:?usage: config-update.sh sign FILE.tx O}"
    ( as_ord_admin "$o"; peer channel signconfigtx -f "$f" >>"$NET/logs/cli.log" 2>&1 ) || die "signing as $(ord_msp_id "$o") failed; see $NET/logs/cli.log"
    log "signed by $(ord_msp_id "$o")'s admin" ;;
  submit)
    f="${1:?usage: config-update.sh submit FILE.tx O}"; o="${2:?usage: config-update.sh submit FILE.tx O}"
    read -r -a oargs <<<"$(orderer_args)" || die "no orderer is running"
    if out="$( as_ord_admin "$o"; peer channel update -f "$f" -c "$CHANNEL" "${oargs[@]}" 2>&1 )"; then
      printf '%s\n' "$out" >>"$NET/logs/cli.log"
      log "config update accepted"
    else
      printf '%s\n' "$out" >>"$NET/logs/cli.log"
      printf '%s\n' "$out" | grep -o 'Error: .*' | tail -1 >&2 || true
      log "config update refused"
      exit 1
    fi ;;
  *) die "usage: config-update.sh fetch|show|propose|sign|submit ... (see the top of this file)" ;;
esac

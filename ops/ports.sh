#!/usr/bin/env bash
# ops/ports.sh: this checkout's identity and port plan, so that two checkouts
# on one machine never share a port or a data directory.
#
# Every checkout gets a slot of 600 ports, chosen by a hash of its absolute
# (physical) path: slot k starts at 10000 + 600*k, k in 0..36, so every port
# stays below Linux's ephemeral range (32768-60999), where an outgoing
# connection could take it. Within a slot each user of ports has a block:
#
#   +0    postgres        ops/postgres/up.sh
#   +10   demo-sftp       the demo's SFTP server (settle serve)
#   +11   demo-http       the demo's /healthz /readyz /metrics
#   +12   demo-console    the demo's web console (settle serve, console.listen)
#   +100  fabric-dev      ops/fabric/up.sh on its own (make fabric-up)
#   +200  fabric-demo     the demo's network (make demo)
#   +300  fabric-test     ops/fabric/test.sh (make fabric-test)
#   +400  fabric-client   the ledger/fabric tests
#   +500  fabric-e2e      the e2e tests
#
# A Fabric block holds a network of up to 9 banks and their 10 BFT orderers
# (BASE .. BASE+97, ops/fabric/common.sh). A network of 10 to 20 banks takes
# its block and the next one (BASE .. BASE+199: dev+demo, demo+test,
# test+client, client+e2e; not e2e, the slot's last block), so it cannot run
# beside the next block's network in the same candidate slot: whichever
# starts second finds a port taken and moves on, as below. Two
# checkouts can hash to one slot, and anything else may hold a port: the
# scripts check before they listen, and when their port is taken they try the
# same block in the next slot (candidate 1, 2, ...), unless the port was set
# explicitly (PGPORT_SETTLE, FABRIC_BASE_PORT, SETTLE_DEMO_*_PORT), in which
# case they stop and say who holds it. SETTLE_PORT_BASE=N moves the whole
# plan: candidate k of a block is then N + 600*k + its offset.
#
# Sourced: defines settle_checkout, settle_checkout_id, settle_port,
# settle_port_free, settle_port_pid, settle_port_owner. Run:
#
#   ops/ports.sh            the plan of this checkout, one "name port" a line
#   ops/ports.sh NAME [K]   NAME's port in candidate K (default 0)
#   ops/ports.sh --id       the checkout's id (12 hex digits of the path's SHA-256)
#   ops/ports.sh --owner P  who listens on 127.0.0.1:P, in words (exit 1 if nobody)

SETTLE_PORT_FIRST=10000
SETTLE_PORT_SLOT=600
SETTLE_PORT_SLOTS=37 # 10000 + 600*37 = 32200, below 32768

settle_checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
settle_checkout_id="$(printf '%s' "$settle_checkout" | sha256sum | cut -c1-12)"

# settle_port_offset NAME: the block's offset in a slot.
settle_port_offset() {
  case "$1" in
    postgres) echo 0 ;;
    demo-sftp) echo 10 ;;
    demo-http) echo 11 ;;
    demo-console) echo 12 ;;
    fabric-dev) echo 100 ;;
    fabric-demo) echo 200 ;;
    fabric-test) echo 300 ;;
    fabric-client) echo 400 ;;
    fabric-e2e) echo 500 ;;
    *) echo "ops/ports.sh: unknown port block '$1' (postgres, demo-sftp, demo-http, demo-console, fabric-dev, fabric-demo, fabric-test, fabric-client, fabric-e2e)" >&2; return 2 ;;
  esac
}

settle_port_names="postgres demo-sftp demo-http demo-console fabric-dev fabric-demo fabric-test fabric-client fabric-e2e"

# settle_port NAME [K]: NAME's port in candidate slot K (0: this checkout's own).
settle_port() {
  local name=$1 k=${2:-0} off slot
  off="$(settle_port_offset "$name")" || return 2
  [[ "$k" =~ ^[0-9]+$ ]] && (( k < SETTLE_PORT_SLOTS )) || { echo "ops/ports.sh: candidate must be 0..$(( SETTLE_PORT_SLOTS - 1 )), not '$k'" >&2; return 2; }
  if [[ -n "${SETTLE_PORT_BASE:-}" ]]; then
    [[ "$SETTLE_PORT_BASE" =~ ^[0-9]+$ ]] && (( SETTLE_PORT_BASE >= 1024 && SETTLE_PORT_BASE + SETTLE_PORT_SLOT * (k + 1) <= 65535 )) ||
      { echo "ops/ports.sh: SETTLE_PORT_BASE=$SETTLE_PORT_BASE leaves no room for candidate $k (1024 .. $(( 65535 - SETTLE_PORT_SLOT * (k + 1) )))" >&2; return 2; }
    echo $(( SETTLE_PORT_BASE + SETTLE_PORT_SLOT * k + off ))
    return 0
  fi
  slot=$(( (16#${settle_checkout_id:0:8} + k) % SETTLE_PORT_SLOTS ))
  echo $(( SETTLE_PORT_FIRST + SETTLE_PORT_SLOT * slot + off ))
}

# settle_port_free PORT: true if nothing listens on PORT (on 127.0.0.1 or any address).
settle_port_free() {
  local p=$1
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then return 1; fi
  if command -v ss >/dev/null 2>&1 && [[ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]]; then return 1; fi
  return 0
}

# settle_port_pid PORT: the pid of the process listening on PORT, when ss can
# tell (root, or the caller's own process); nothing otherwise.
settle_port_pid() {
  command -v ss >/dev/null 2>&1 || return 0
  (ss -Hltnp "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2) 2>/dev/null || true
}

# settle_port_owner PORT: one phrase naming what listens on PORT: a Postgres
# data directory, a Fabric network directory, or a process. Needs ss, and
# root to see other users' processes.
settle_port_owner() {
  local p=$1 line pid exe cwd net
  if ! command -v ss >/dev/null 2>&1; then echo "a process (install iproute2 for ss to see which)"; return 0; fi
  line="$(ss -Hltnp "sport = :$p" 2>/dev/null | head -1 || true)"
  pid="$(grep -o 'pid=[0-9]*' <<<"$line" | head -1 | cut -d= -f2 || true)"
  if [[ -z "$pid" ]]; then
    if [[ -n "$line" ]]; then echo "a process of another user (run as root to see which)"; else echo "a process"; fi
    return 0
  fi
  exe="$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || echo unknown)")"
  case "$exe" in
    postgres)
      # A postmaster's working directory is its data directory.
      cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null || true)"
      echo "the Postgres cluster with data directory ${cwd:-unknown} (pid $pid)" ;;
    orderer|peer|settlecc)
      # A node's configuration is NET/config; a chaincode server is NET/chaincode/settlecc.
      net="$( (tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's#^FABRIC_CFG_PATH=\(.*\)/config$#\1#p' | head -1) 2>/dev/null || true)"
      if [[ -z "$net" && "$exe" == settlecc ]]; then net="$(dirname "$(dirname "$(readlink "/proc/$pid/exe" 2>/dev/null || echo /unknown/x)")")"; fi
      if [[ -n "$net" ]]; then echo "a $exe of the Fabric network in $net (pid $pid)"; else echo "a Fabric $exe (pid $pid)"; fi ;;
    *)
      # The process may not be readable here (it went away, or /proc hides
      # it): a Postgres still answering on the port names its own data
      # directory.
      local data=""
      if command -v psql >/dev/null 2>&1; then
        data="$(PGCONNECT_TIMEOUT=3 psql "host=127.0.0.1 port=$p user=postgres dbname=postgres" -XAtqc "show data_directory" 2>/dev/null || true)"
      fi
      if [[ -n "$data" ]]; then
        echo "the Postgres cluster with data directory $data (pid $pid)"
      else
        echo "$exe (pid $pid: $( (tr '\0\n\t' '   ' <"/proc/$pid/cmdline" | cut -c1-120) 2>/dev/null || true))"
      fi ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case "${1:-}" in
    "")
      for n in $settle_port_names; do echo "$n $(settle_port "$n")"; done ;;
    --id) echo "$settle_checkout_id" ;;
    --owner)
      [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "usage: ops/ports.sh --owner PORT" >&2; exit 2; }
      if settle_port_free "$2"; then echo "nothing listens on port $2"; exit 1; fi
      settle_port_owner "$2" ;;
    -*) echo "usage: ops/ports.sh [NAME [K] | --id | --owner PORT]" >&2; exit 2 ;;
    *) settle_port "$1" "${2:-0}" ;;
  esac
fi

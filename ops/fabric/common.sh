# common.sh: settings and helpers shared by the ops/fabric scripts. Source it; do not run it.
# Every setting comes from the environment with a default, so tests and a demo can run
# side by side (different FABRIC_NETWORK_DIR and FABRIC_BASE_PORT).

FABRIC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$FABRIC_DIR/../.." && pwd)"
CHAINCODE_SRC="$REPO_ROOT/ledger/chaincode"
BIN="$FABRIC_DIR/bin"

NET="${FABRIC_NETWORK_DIR:-$FABRIC_DIR/.network}"
mkdir -p "$(dirname "$NET")"
NET="$(cd "$(dirname "$NET")" && pwd)/$(basename "$NET")"
BANKS="${FABRIC_BANKS:-3}"
BASE="${FABRIC_BASE_PORT:-27050}"
CHANNEL="${FABRIC_CHANNEL:-settlement}"
CC_NAME="${FABRIC_CHAINCODE:-settle}"
CC_VERSION="${FABRIC_CHAINCODE_VERSION:-1.0}"
DOMAIN="settle.local"

export PATH="$BIN:$PATH"

log() { printf '%s [fabric] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

check_settings() {
  [[ "$BANKS" =~ ^[0-9]+$ ]] && (( BANKS >= 1 && BANKS <= 9 )) || die "FABRIC_BANKS must be 1..9, got '$BANKS'"
  [[ "$BASE" =~ ^[0-9]+$ ]] && (( BASE >= 1024 && BASE + 10 * BANKS + 10 <= 65535 )) || die "FABRIC_BASE_PORT out of range: '$BASE'"
  [[ "$CHANNEL" =~ ^[a-z][a-z0-9.-]{0,48}$ ]] || die "FABRIC_CHANNEL must match [a-z][a-z0-9.-]*, got '$CHANNEL'"
  [[ "$CC_NAME" =~ ^[A-Za-z0-9_-]{1,40}$ ]] || die "FABRIC_CHAINCODE must match [A-Za-z0-9_-]+, got '$CC_NAME'"
}

# Port plan: orderer BASE (+1 admin, +2 operations); bank i at BASE+10*i:
# +0 peer, +1 peer chaincode listener, +3 operations, +4 chaincode server (ccaas).
orderer_port()     { echo $(( BASE )); }
orderer_admin()    { echo $(( BASE + 1 )); }
orderer_ops()      { echo $(( BASE + 2 )); }
peer_port()        { echo $(( BASE + 10 * $1 )); }
peer_cc_port()     { echo $(( BASE + 10 * $1 + 1 )); }
peer_ops()         { echo $(( BASE + 10 * $1 + 3 )); }
cc_port()          { echo $(( BASE + 10 * $1 + 4 )); }

org_name()   { echo "Bank$1"; }
msp_id()     { echo "Bank$1MSP"; }
org_domain() { echo "bank$1.$DOMAIN"; }
peer_host()  { echo "peer0.bank$1.$DOMAIN"; }

CRYPTO="$NET/crypto"
ORDERER_DIR="$CRYPTO/ordererOrganizations/$DOMAIN/orderers/orderer.$DOMAIN"
ORDERER_CA="$ORDERER_DIR/tls/ca.crt"
org_dir()     { echo "$CRYPTO/peerOrganizations/$(org_domain "$1")"; }
peer_dir()    { echo "$(org_dir "$1")/peers/$(peer_host "$1")"; }
peer_tls_ca() { echo "$(peer_dir "$1")/tls/ca.crt"; }
admin_msp()   { echo "$(org_dir "$1")/users/Admin@$(org_domain "$1")/msp"; }
user_msp()    { echo "$(org_dir "$1")/users/User1@$(org_domain "$1")/msp"; }

pidfile() { echo "$NET/pids/$1.pid"; }

# running NAME: true if the process recorded in NAME's pid file is alive.
running() {
  local f; f="$(pidfile "$1")"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# wait_port PORT SECONDS: wait until something listens on 127.0.0.1:PORT.
wait_port() {
  local port=$1 limit=$2 i
  for (( i = 0; i < limit * 4; i++ )); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.25
  done
  return 1
}

# port_free PORT: true if nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# as_admin I: environment for the peer CLI acting as bank I's admin on its own peer.
as_admin() {
  local i=$1
  export FABRIC_CFG_PATH="$NET/config"
  export CORE_PEER_TLS_ENABLED=true
  export CORE_PEER_LOCALMSPID; CORE_PEER_LOCALMSPID="$(msp_id "$i")"
  export CORE_PEER_MSPCONFIGPATH; CORE_PEER_MSPCONFIGPATH="$(admin_msp "$i")"
  export CORE_PEER_ADDRESS="127.0.0.1:$(peer_port "$i")"
  export CORE_PEER_TLS_ROOTCERT_FILE; CORE_PEER_TLS_ROOTCERT_FILE="$(peer_tls_ca "$i")"
}

# peer_start I: start bank I's peer in the background (no-op if running).
peer_start() {
  local i=$1 name="peer$1"
  if running "$name"; then log "$name already running (pid $(cat "$(pidfile "$name")"))"; return 0; fi
  port_free "$(peer_port "$i")" || die "port $(peer_port "$i") for $name is taken by another process"
  local pd; pd="$(peer_dir "$i")"
  mkdir -p "$NET/data/$name" "$NET/logs" "$NET/pids"
  (
    export FABRIC_CFG_PATH="$NET/config"
    export FABRIC_LOGGING_SPEC="${FABRIC_LOGGING_SPEC:-info}"
    export CORE_PEER_ID; CORE_PEER_ID="$(peer_host "$i")"
    export CORE_PEER_NETWORKID="settle"
    export CORE_PEER_ADDRESS="127.0.0.1:$(peer_port "$i")"
    export CORE_PEER_LISTENADDRESS="127.0.0.1:$(peer_port "$i")"
    export CORE_PEER_CHAINCODEADDRESS="127.0.0.1:$(peer_cc_port "$i")"
    export CORE_PEER_CHAINCODELISTENADDRESS="127.0.0.1:$(peer_cc_port "$i")"
    export CORE_PEER_GOSSIP_BOOTSTRAP="127.0.0.1:$(peer_port "$i")"
    export CORE_PEER_GOSSIP_EXTERNALENDPOINT="127.0.0.1:$(peer_port "$i")"
    export CORE_PEER_GOSSIP_USELEADERELECTION=false
    export CORE_PEER_GOSSIP_ORGLEADER=true
    export CORE_PEER_LOCALMSPID; CORE_PEER_LOCALMSPID="$(msp_id "$i")"
    export CORE_PEER_MSPCONFIGPATH="$pd/msp"
    export CORE_PEER_TLS_ENABLED=true
    export CORE_PEER_TLS_CERT_FILE="$pd/tls/server.crt"
    export CORE_PEER_TLS_KEY_FILE="$pd/tls/server.key"
    export CORE_PEER_TLS_ROOTCERT_FILE="$pd/tls/ca.crt"
    export CORE_PEER_FILESYSTEMPATH="$NET/data/$name"
    export CORE_LEDGER_SNAPSHOTS_ROOTDIR="$NET/data/$name/snapshots"
    export CORE_LEDGER_HISTORY_ENABLEHISTORYDATABASE=true
    export CORE_OPERATIONS_LISTENADDRESS="127.0.0.1:$(peer_ops "$i")"
    export CORE_METRICS_PROVIDER=disabled
    export CORE_CHAINCODE_EXECUTETIMEOUT=60s
    exec setsid peer node start </dev/null >>"$NET/logs/$name.log" 2>&1
  ) &
  echo $! >"$(pidfile "$name")"
  log "started $name (pid $!) on 127.0.0.1:$(peer_port "$i"), log $NET/logs/$name.log"
}

# peer_wait I: wait until bank I's peer answers.
peer_wait() {
  wait_port "$(peer_port "$1")" 60 || die "peer$1 did not open port $(peer_port "$1") in 60 s; see $NET/logs/peer$1.log"
}

# cc_start I: start bank I's chaincode server (the ccaas process that bank's peer dials).
cc_start() {
  local i=$1 name="cc$1"
  if running "$name"; then log "$name already running"; return 0; fi
  port_free "$(cc_port "$i")" || die "port $(cc_port "$i") for $name is taken by another process"
  local pkgid; pkgid="$(cat "$NET/chaincode/bank$i/package-id")" || die "no package id for bank $i"
  mkdir -p "$NET/logs" "$NET/pids"
  (
    export CHAINCODE_SERVER_ADDRESS="127.0.0.1:$(cc_port "$i")"
    export CHAINCODE_ID="$pkgid"
    export CHAINCODE_TLS_CERT="$NET/chaincode/bank$i/tls/server.crt"
    export CHAINCODE_TLS_KEY="$NET/chaincode/bank$i/tls/server.key"
    export CHAINCODE_TLS_CLIENT_CA="$NET/chaincode/bank$i/tls/client-ca.crt"
    exec setsid "$NET/chaincode/settlecc" </dev/null >>"$NET/logs/$name.log" 2>&1
  ) &
  echo $! >"$(pidfile "$name")"
  log "started $name (pid $!) on 127.0.0.1:$(cc_port "$i")"
}

# stop NAME...: stop the processes in the NAMEs' pid files: TERM to all, then KILL
# whatever is still alive after 10 s.
stop() {
  local name f pid i alive
  local -a pids=() names=()
  for name in "$@"; do
    f="$(pidfile "$name")"
    [[ -f "$f" ]] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
    fi
    rm -f "$f"
  done
  for (( i = 0; i < 40; i++ )); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.25
  done
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true; done
  (( ${#names[@]} == 0 )) || log "stopped ${names[*]}"
}

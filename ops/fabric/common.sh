# common.sh: settings and helpers shared by the ops/fabric scripts. Source it; do not run it.
# Every setting comes from the environment with a default, so tests and a demo can run
# side by side (different FABRIC_NETWORK_DIR and FABRIC_PORT_BLOCK or FABRIC_BASE_PORT).
#
# Ports: a network's base port is, in this order, FABRIC_BASE_PORT when set (used as
# given, refused by up.sh when taken), the base its state directory was made with (a
# network keeps its ports: its channel configuration names them), or this checkout's
# block FABRIC_PORT_BLOCK (dev, demo, test, client, e2e; default dev) of ops/ports.sh,
# from which up.sh moves on to the next candidate when another process holds a port.

FABRIC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$FABRIC_DIR/../.." && pwd)"
CHAINCODE_SRC="$REPO_ROOT/ledger/chaincode"
BIN="$FABRIC_DIR/bin"
# shellcheck source=../ports.sh
source "$REPO_ROOT/ops/ports.sh"

log() { printf '%s [fabric] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# A command that fails outside a test of its own (if, ||) names itself before the
# script stops, so the last line is never a bare exit status.
set -o errtrace
trap '_settle_rc=$?; log "ERROR: ${0##*/}: line $LINENO: \"$BASH_COMMAND\" failed (exit $_settle_rc)"' ERR

NET="${FABRIC_NETWORK_DIR:-$FABRIC_DIR/.network}"
mkdir -p "$(dirname "$NET")"
NET="$(cd "$(dirname "$NET")" && pwd)/$(basename "$NET")"
BANKS="${FABRIC_BANKS:-3}"
# OPERATORS: scheme-operator orgs (no peers; not endorsers). The first, OperatorMSP, is
# the operator the ledger is founded with; a second (Operator2MSP) is a successor the
# banks can vote in (the governed contract test changes the operator to it).
OPERATORS="${FABRIC_OPERATORS:-1}"
PORT_BLOCK="${FABRIC_PORT_BLOCK:-dev}"
settle_port_offset "fabric-$PORT_BLOCK" >/dev/null 2>&1 || die "FABRIC_PORT_BLOCK must be dev, demo, test, client or e2e, got '$PORT_BLOCK'"
BASE_EXPLICIT=0
if [[ -n "${FABRIC_BASE_PORT:-}" ]]; then
  BASE="$FABRIC_BASE_PORT"
  BASE_EXPLICIT=1
elif [[ -f "$NET/settings" ]] && BASE="$(sed -n 's/^.* base=\([0-9][0-9]*\) .*$/\1/p' "$NET/settings")" && [[ -n "$BASE" ]]; then
  : # the ports the network was made with
else
  BASE="$(settle_port "fabric-$PORT_BLOCK" 0)" || die "no port plan for block $PORT_BLOCK (ops/ports.sh)"
fi
CHANNEL="${FABRIC_CHANNEL:-settlement}"
CC_NAME="${FABRIC_CHAINCODE:-settle}"
CC_VERSION="${FABRIC_CHAINCODE_VERSION:-1.0}"
CC_EXTRA="${FABRIC_CHAINCODE_EXTRA:-}"
DOMAIN="settle.local"

export PATH="$BIN:$PATH"

check_settings() {
  [[ "$BANKS" =~ ^[0-9]+$ ]] && (( BANKS >= 1 && BANKS <= BANKS_MAX )) || die "FABRIC_BANKS must be 1..$BANKS_MAX, got '$BANKS'"
  [[ "$OPERATORS" =~ ^[12]$ ]] || die "FABRIC_OPERATORS must be 1 or 2, got '$OPERATORS'"
  [[ "$ORDERERS" =~ ^[1-9][0-9]*$ ]] && (( ORDERERS <= BANKS + 1 )) || die "FABRIC_ORDERERS must be 4..$(( BANKS + 1 )) (the operator's and at most one per bank), got '$ORDERERS'"
  (( ORDERERS >= 4 )) || die "BFT ordering needs at least 4 orderers (one per bank plus the operator's), so FABRIC_BANKS (and FABRIC_ORDERERS) must be 3 (4) or more, got $BANKS banks and $ORDERERS orderers"
  [[ "$BASE" =~ ^[0-9]+$ ]] && (( BASE >= 1024 && BASE + PORT_SPAN <= 65535 )) || die "FABRIC_BASE_PORT out of range: '$BASE'"
  # A network of more than 9 banks takes its block and the next one of the
  # slot (ops/ports.sh); the e2e block is the slot's last.
  (( PORT_SPAN <= 100 || BASE_EXPLICIT )) || [[ "$PORT_BLOCK" != e2e ]] ||
    die "a network of $BANKS banks takes two port blocks, and e2e is the last block of its slot: use another FABRIC_PORT_BLOCK (dev, demo, test or client) or FABRIC_BASE_PORT"
  [[ "$CHANNEL" =~ ^[a-z][a-z0-9.-]{0,48}$ ]] || die "FABRIC_CHANNEL must match [a-z][a-z0-9.-]*, got '$CHANNEL'"
  [[ "$CC_NAME" =~ ^[A-Za-z0-9_-]{1,40}$ ]] || die "FABRIC_CHAINCODE must match [A-Za-z0-9_-]+, got '$CC_NAME'"
  local x
  for x in $CC_EXTRA; do
    [[ "$x" =~ ^[A-Za-z0-9_-]{1,40}$ && "$x" != "$CC_NAME" ]] || die "FABRIC_CHAINCODE_EXTRA: names must match [A-Za-z0-9_-]+ and differ from FABRIC_CHAINCODE, got '$x'"
  done
}

# Ordering is BFT (SmartBFT): one orderer node per member org, each in an orderer
# org of that member's own (cryptogen cannot issue an orderer under a bank's peer CA):
# orderer 0 is the founding operator's (OperatorOrdererMSP), orderer i (1..BANKS) is
# bank i's (BankiOrdererMSP). ORDERERS = BANKS + 1, at least 4, so f = 1 may fail or lie.
# FABRIC_ORDERERS=K (4..BANKS+1) keeps K of them: the operator's and those of banks
# 1..K-1; the other banks then have a peer and no orderer. SmartBFT tolerates
# f = (K-1)/3 faulty nodes, and every node signs and checks every consensus message
# of every block, so on one machine its cost grows with K (README, the 20-bank run).
ORDERERS="${FABRIC_ORDERERS:-$(( BANKS + 1 ))}" # check_settings checks it

# Port plan, up to 9 banks: orderer 0 at BASE (+1 admin, +2 operations); bank i at
# BASE+10*i: +0 peer, +1 peer chaincode listener, +3 operations, +4 chaincode server
# (ccaas), +5 bank i's orderer, +6 its admin, +7 its operations. A 9-bank network
# uses BASE .. BASE+97, inside its 100-port block of ops/ports.sh.
#
# 10 to 20 banks do not fit 100 ports that way: such a network takes its block and
# the next one of the slot (dev+demo, demo+test, test+client, client+e2e; not e2e,
# the slot's last), BASE .. BASE+199, denser: orderer 0 at BASE (+1, +2) as before;
# bank i's peer at BASE+4*i (+1 chaincode listener, +2 operations, +3 chaincode
# server), bank i's orderer at BASE+100+4*i (+1 admin, +2 operations). 20 banks use
# BASE .. BASE+83 and BASE+104 .. BASE+182. The next block's own network, if one
# runs, holds some of these ports: up.sh checks every port before it starts anything
# and moves to the next candidate slot when one is taken, as for any taken port.
BANKS_MAX=20
if [[ "$BANKS" =~ ^[0-9]+$ ]] && (( 10#$BANKS > 9 )); then PORT_SPAN=200; else PORT_SPAN=100; fi
if (( PORT_SPAN == 100 )); then
  orderer_port()   { (( ${1:-0} == 0 )) && echo $(( BASE )) || echo $(( BASE + 10 * $1 + 5 )); }
  orderer_admin()  { (( ${1:-0} == 0 )) && echo $(( BASE + 1 )) || echo $(( BASE + 10 * $1 + 6 )); }
  orderer_ops()    { (( ${1:-0} == 0 )) && echo $(( BASE + 2 )) || echo $(( BASE + 10 * $1 + 7 )); }
  peer_port()      { echo $(( BASE + 10 * $1 )); }
  peer_cc_port()   { echo $(( BASE + 10 * $1 + 1 )); }
  peer_ops()       { echo $(( BASE + 10 * $1 + 3 )); }
  cc_port()        { echo $(( BASE + 10 * $1 + 4 )); }
else
  orderer_port()   { (( ${1:-0} == 0 )) && echo $(( BASE )) || echo $(( BASE + 100 + 4 * $1 )); }
  orderer_admin()  { (( ${1:-0} == 0 )) && echo $(( BASE + 1 )) || echo $(( BASE + 100 + 4 * $1 + 1 )); }
  orderer_ops()    { (( ${1:-0} == 0 )) && echo $(( BASE + 2 )) || echo $(( BASE + 100 + 4 * $1 + 2 )); }
  peer_port()      { echo $(( BASE + 4 * $1 )); }
  peer_cc_port()   { echo $(( BASE + 4 * $1 + 1 )); }
  peer_ops()       { echo $(( BASE + 4 * $1 + 2 )); }
  cc_port()        { echo $(( BASE + 4 * $1 + 3 )); }
fi

org_name()   { echo "Bank$1"; }
msp_id()     { echo "Bank$1MSP"; }
org_domain() { echo "bank$1.$DOMAIN"; }
peer_host()  { echo "peer0.bank$1.$DOMAIN"; }
# Operator org J (1..OPERATORS): Operator, Operator2.
op_suffix()     { (( $1 == 1 )) && echo "" || echo "$1"; }
op_name()       { echo "Operator$(op_suffix "$1")"; }
op_msp_id()     { echo "Operator$(op_suffix "$1")MSP"; }
op_domain()     { echo "operator$(op_suffix "$1").$DOMAIN"; }

# Orderer O (0..BANKS): its org, MSP, domain, node directory, TLS CA and admin.
ord_name()      { (( $1 == 0 )) && echo "OperatorOrderer" || echo "Bank$1Orderer"; }
ord_msp_id()    { echo "$(ord_name "$1")MSP"; }
ord_domain()    { (( $1 == 0 )) && echo "ord-operator.$DOMAIN" || echo "ord-bank$1.$DOMAIN"; }
ord_host()      { echo "orderer.$(ord_domain "$1")"; }
ord_org_dir()   { echo "$CRYPTO/ordererOrganizations/$(ord_domain "$1")"; }
ord_dir()       { echo "$(ord_org_dir "$1")/orderers/$(ord_host "$1")"; }
ord_tls_ca()    { echo "$(ord_dir "$1")/tls/ca.crt"; }
ord_admin_msp() { echo "$(ord_org_dir "$1")/users/Admin@$(ord_domain "$1")/msp"; }
# ord_tls_cas: every orderer's TLS CA, comma-separated (the orderers' cluster roots).
ord_tls_cas() {
  local o out=""
  for (( o = 0; o < ORDERERS; o++ )); do out+="${out:+,}$(ord_tls_ca "$o")"; done
  echo "$out"
}
# orderer_args: the peer CLI's orderer flags, for a running orderer (orderer 0 first).
orderer_args() {
  local o
  for (( o = 0; o < ORDERERS; o++ )); do
    if running "orderer$o"; then
      echo "-o 127.0.0.1:$(orderer_port "$o") --ordererTLSHostnameOverride $(ord_host "$o") --tls --cafile $(ord_tls_ca "$o")"
      return 0
    fi
  done
  return 1
}

CRYPTO="$NET/crypto"
org_dir()     { echo "$CRYPTO/peerOrganizations/$(org_domain "$1")"; }
peer_dir()    { echo "$(org_dir "$1")/peers/$(peer_host "$1")"; }
peer_tls_ca() { echo "$(peer_dir "$1")/tls/ca.crt"; }
admin_msp()   { echo "$(org_dir "$1")/users/Admin@$(org_domain "$1")/msp"; }
user_msp()    { echo "$(org_dir "$1")/users/User1@$(org_domain "$1")/msp"; }
op_dir()       { echo "$CRYPTO/peerOrganizations/$(op_domain "$1")"; }
op_admin_msp() { echo "$(op_dir "$1")/users/Admin@$(op_domain "$1")/msp"; }
op_user_msp()  { echo "$(op_dir "$1")/users/User1@$(op_domain "$1")/msp"; }

# majority: the number of bank orgs that is more than half of them. The channel's
# endorsement policies are "majority of the banks' peers" written out explicitly
# (OutOf), so that an operator org on the channel is never one more voter.
majority()      { echo $(( BANKS / 2 + 1 )); }
# bank_policy ROLE: OutOf(majority, 'Bank1MSP.ROLE', ...).
bank_policy() {
  local i out="OutOf($(majority)"
  for (( i = 1; i <= BANKS; i++ )); do out+=", '$(msp_id "$i").$1'"; done
  echo "$out)"
}

pidfile() { echo "$NET/pids/$1.pid"; }

# running NAME: true if the process recorded in NAME's pid file is alive.
running() {
  local f; f="$(pidfile "$1")"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# wait_port PORT SECONDS [NAME]: wait until something listens on 127.0.0.1:PORT. With
# NAME (a pid file), fail as soon as NAME's process is gone, and stop when the listener
# is another process than NAME's (it took the port first): never talk to someone else's
# node as if it were ours.
wait_port() {
  local port=$1 limit=$2 name=${3:-} i pid
  for (( i = 0; i < limit * 4; i++ )); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      [[ -n "$name" ]] || return 0
      pid="$(settle_port_pid "$port")"
      if [[ -n "$pid" && "$pid" != "$(cat "$(pidfile "$name")" 2>/dev/null || true)" ]]; then
        die "port $port answers for $(settle_port_owner "$port"), not for $name: it took the port while $name started; see $NET/logs/$name.log"
      fi
      return 0
    fi
    if [[ -n "$name" ]] && ! running "$name"; then return 1; fi
    sleep 0.25
  done
  return 1
}

# port_free PORT: true if nothing listens on PORT.
port_free() { settle_port_free "$1"; }

# network_ports: every port of the network's plan, one a line.
network_ports() {
  local i
  for (( i = 0; i < ORDERERS; i++ )); do
    echo "$(orderer_port "$i")"; echo "$(orderer_admin "$i")"; echo "$(orderer_ops "$i")"
  done
  for (( i = 1; i <= BANKS; i++ )); do
    echo "$(peer_port "$i")"; echo "$(peer_cc_port "$i")"; echo "$(peer_ops "$i")"; echo "$(cc_port "$i")"
  done
}

# first_taken: the first port of the network's plan that something listens on
# (prints nothing, and fails, when all are free).
first_taken() {
  local p
  for p in $(network_ports); do
    port_free "$p" || { echo "$p"; return 0; }
  done
  return 1
}

# taken_die PORT WHAT: stop, naming what holds PORT and what to do.
taken_die() {
  local p=$1 what=$2
  if [[ -f "$NET/network.json" ]]; then
    die "port $p ($what) is taken by $(settle_port_owner "$p"); this network's ports are fixed by its channel: stop that, or remove this network (FABRIC_NETWORK_DIR=$NET $FABRIC_DIR/down.sh --clean) and start it afresh"
  fi
  die "port $p ($what) is taken by $(settle_port_owner "$p"); choose another FABRIC_BASE_PORT, or unset it to let up.sh pick a free block"
}

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
  port_free "$(peer_port "$i")" || taken_die "$(peer_port "$i")" "$name"
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
    # FABRIC_HISTORY_DB=false (a benchmark knob) turns the history index off: the
    # chaincode's GetHistory then fails.
    export CORE_LEDGER_HISTORY_ENABLEHISTORYDATABASE="${FABRIC_HISTORY_DB:-true}"
    export CORE_OPERATIONS_LISTENADDRESS="127.0.0.1:$(peer_ops "$i")"
    export CORE_METRICS_PROVIDER=disabled
    export CORE_CHAINCODE_EXECUTETIMEOUT=60s
    # A peer pulls blocks from one orderer at a time, and this Fabric's peer has no
    # BFT block deliverer (one that watches the others' headers): a silent orderer
    # (hung, or withholding blocks) is noticed only when it stops answering gRPC
    # keepalive pings. Ping every 5 s, give up after 5 s more, then move to another.
    export CORE_PEER_KEEPALIVE_DELIVERYCLIENT_INTERVAL=5s
    export CORE_PEER_KEEPALIVE_DELIVERYCLIENT_TIMEOUT=5s
    exec setsid peer node start </dev/null >>"$NET/logs/$name.log" 2>&1
  ) &
  echo $! >"$(pidfile "$name")"
  log "started $name (pid $!) on 127.0.0.1:$(peer_port "$i"), log $NET/logs/$name.log"
}

# peer_wait I: wait until bank I's peer answers.
peer_wait() {
  wait_port "$(peer_port "$1")" 60 "peer$1" || die "peer$1 did not open port $(peer_port "$1") (it exited, or 60 s passed); see $NET/logs/peer$1.log"
}

# cc_start I: start bank I's chaincode server (the ccaas process that bank's peer dials).
cc_start() {
  local i=$1 name="cc$1"
  if running "$name"; then log "$name already running"; return 0; fi
  port_free "$(cc_port "$i")" || taken_die "$(cc_port "$i")" "$name"
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

# orderer_start O: start orderer O in the background (no-op if running) and wait for
# its ports. Its SmartBFT write-ahead log and its ledger live in NET/data/ordererO.
orderer_start() {
  local o=$1 name="orderer$1" d
  if running "$name"; then log "$name already running (pid $(cat "$(pidfile "$name")"))"; return 0; fi
  port_free "$(orderer_port "$o")" || taken_die "$(orderer_port "$o")" "$name"
  port_free "$(orderer_admin "$o")" || taken_die "$(orderer_admin "$o")" "$name's admin"
  port_free "$(orderer_ops "$o")" || taken_die "$(orderer_ops "$o")" "$name's operations"
  d="$(ord_dir "$o")"
  mkdir -p "$NET/data/$name" "$NET/logs" "$NET/pids"
  (
    export FABRIC_CFG_PATH="$NET/config"
    export FABRIC_LOGGING_SPEC="${FABRIC_LOGGING_SPEC:-info}"
    export ORDERER_GENERAL_LISTENADDRESS=127.0.0.1
    export ORDERER_GENERAL_LISTENPORT="$(orderer_port "$o")"
    export ORDERER_GENERAL_LOCALMSPID; ORDERER_GENERAL_LOCALMSPID="$(ord_msp_id "$o")"
    export ORDERER_GENERAL_LOCALMSPDIR="$d/msp"
    export ORDERER_GENERAL_TLS_ENABLED=true
    export ORDERER_GENERAL_TLS_PRIVATEKEY="$d/tls/server.key"
    export ORDERER_GENERAL_TLS_CERTIFICATE="$d/tls/server.crt"
    export ORDERER_GENERAL_TLS_ROOTCAS="[$(ord_tls_cas)]"
    export ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE="$d/tls/server.crt"
    export ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY="$d/tls/server.key"
    export ORDERER_GENERAL_CLUSTER_ROOTCAS="[$(ord_tls_cas)]"
    export ORDERER_GENERAL_BOOTSTRAPMETHOD=none
    # The peers ping every 5 s (peer_start); the default 60 s minimum would cut them off.
    export ORDERER_GENERAL_KEEPALIVE_SERVERMININTERVAL=4s
    export ORDERER_CHANNELPARTICIPATION_ENABLED=true
    export ORDERER_ADMIN_LISTENADDRESS="127.0.0.1:$(orderer_admin "$o")"
    export ORDERER_ADMIN_TLS_ENABLED=true
    export ORDERER_ADMIN_TLS_CERTIFICATE="$d/tls/server.crt"
    export ORDERER_ADMIN_TLS_PRIVATEKEY="$d/tls/server.key"
    export ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true
    export ORDERER_ADMIN_TLS_CLIENTROOTCAS="[$d/tls/ca.crt]"
    export ORDERER_FILELEDGER_LOCATION="$NET/data/$name/ledger"
    export ORDERER_CONSENSUS_WALDIR="$NET/data/$name/smartbft/wal"
    export ORDERER_CONSENSUS_SNAPDIR="$NET/data/$name/smartbft/snapshot"
    export ORDERER_OPERATIONS_LISTENADDRESS="127.0.0.1:$(orderer_ops "$o")"
    # Prometheus metrics on the operations port: consensus_smartbft_leader_id and
    # consensus_smartbft_is_leader say which node leads (orderer-leader.sh).
    export ORDERER_METRICS_PROVIDER=prometheus
    exec setsid orderer </dev/null >>"$NET/logs/$name.log" 2>&1
  ) &
  echo $! >"$(pidfile "$name")"
  log "started $name ($(ord_msp_id "$o"), pid $!) on 127.0.0.1:$(orderer_port "$o"), log $NET/logs/$name.log"
  wait_port "$(orderer_port "$o")" 60 "$name" || die "$name did not open port $(orderer_port "$o") (it exited, or 60 s passed); see $NET/logs/$name.log"
  wait_port "$(orderer_admin "$o")" 30 "$name" || die "$name's admin did not open port $(orderer_admin "$o"); see $NET/logs/$name.log"
}

# osn O ARGS...: osnadmin against orderer O's admin endpoint (mutual TLS with its own
# TLS identity, the only client its admin endpoint trusts).
osn() {
  local o=$1; shift
  local d; d="$(ord_dir "$o")"
  osnadmin "$@" -o "127.0.0.1:$(orderer_admin "$o")" --ca-file "$d/tls/ca.crt" \
    --client-cert "$d/tls/server.crt" --client-key "$d/tls/server.key"
}

# orderer_joined O: true if orderer O lists the channel.
orderer_joined() { osn "$1" channel list --channelID "$CHANNEL" 2>/dev/null | grep -q '"name": *"'"$CHANNEL"'"'; }

# orderer_join O: join orderer O to the channel with the genesis block (no-op when it
# has the channel). An orderer that lost its data joins the same way: it pulls the
# blocks it lacks from the others and becomes a consenter again once it holds the last.
orderer_join() {
  local o=$1 n
  orderer_joined "$o" && return 0
  for (( n = 1; n <= 10; n++ )); do
    if osn "$o" channel join --channelID "$CHANNEL" --config-block "$NET/channel/$CHANNEL.block" >>"$NET/logs/cli.log" 2>&1; then
      log "orderer$o joined channel $CHANNEL"
      return 0
    fi
    orderer_joined "$o" && return 0
    sleep 2
  done
  die "orderer$o did not join channel $CHANNEL; see $NET/logs/cli.log and $NET/logs/orderer$o.log"
}

# orderer_leader: the index of the orderer that most running orderers name as their
# leader (their consensus_BFT_leader_id metric for the channel; consenter id = index
# + 1), or nothing (and failure) when none names one.
orderer_leader() {
  local o id ids=""
  for (( o = 0; o < ORDERERS; o++ )); do
    running "orderer$o" || continue
    id="$( (curl -fsS --max-time 3 "http://127.0.0.1:$(orderer_ops "$o")/metrics" 2>/dev/null || true) |
      sed -n 's/^consensus_BFT_leader_id{channel="'"$CHANNEL"'"} \([0-9.e+]*\)$/\1/p' | head -1)"
    [[ -n "$id" ]] || continue
    id="$(printf '%.0f' "$id")"
    (( id >= 1 && id <= ORDERERS )) && ids+="$(( id - 1 ))"$'\n'
  done
  [[ -n "$ids" ]] || return 1
  printf '%s' "$ids" | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}'
}

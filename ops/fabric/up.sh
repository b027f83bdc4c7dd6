#!/usr/bin/env bash
# up.sh: start a Fabric network natively (no Docker) and deploy the settlement chaincode.
#
#   FABRIC_BANKS=3 FABRIC_PORT_BLOCK=dev FABRIC_CHANNEL=settlement ./up.sh
#
# Ports (common.sh): this checkout's block FABRIC_PORT_BLOCK of ops/ports.sh, or the
# same block of the next candidate slot when another process holds one of its ports
# (logged); FABRIC_BASE_PORT=N instead uses N or stops, saying what holds it.
#
# BFT ordering (SmartBFT, channel capability V3_0, channel participation, no system
# channel): one orderer per member, each in an orderer org of its own (the founding
# operator's OperatorOrdererMSP, and BankiOrdererMSP for bank i), so at least 4
# orderers and one of them may crash or lie; the orderer group's Admins is a majority
# of those orgs' admins. FABRIC_ORDERERS=K keeps the operator's and banks 1..K-1's
# (at least 4). FABRIC_BANKS is 1..20; more than 9 take two port blocks. One peer per
# bank org, and FABRIC_OPERATORS (1, or 2) operator orgs without peers; the channel's
# Endorsement and LifecycleEndorsement are OutOf(majority of banks, each bank's peer),
# its Application Admins OutOf(majority of banks, each bank's admin): the operator
# submits and reads, it never endorses or votes on the channel. The chaincode runs as an external service, one server per bank.
# State and logs live in FABRIC_NETWORK_DIR (default ops/fabric/.network); the
# description for clients is written last, to $FABRIC_NETWORK_DIR/network.json.
#
# Block cutting (benchmark knobs, read when the channel is made): FABRIC_BATCH_TIMEOUT
# (250ms), FABRIC_BATCH_MESSAGES (500; also SmartBFT's RequestBatchMaxCount), FABRIC_BATCH_PREFERRED
# (4 MB), FABRIC_BATCH_INTERVAL (50ms, SmartBFT's RequestBatchMaxInterval).
#
# Idempotent: when the network is already up it says so and exits 0; when its state
# exists but processes are stopped (down.sh without --clean), it restarts them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source ./common.sh
check_settings

MARKER="$NET/.settle-fabric-network"
# A network with fewer orderers than members says so in its settings (a network
# with one per member writes them as before).
ORDERERS_SETTING=""
(( ORDERERS == BANKS + 1 )) || ORDERERS_SETTING=" orderers=$ORDERERS"

# A failed start must not leave processes behind: stop what was started (by pid
# file), keep the state so its logs can be read; the next up.sh starts afresh.
# The trap is set only once up.sh starts something, so a refusal (wrong settings,
# ports taken) never touches a network that is running.
completed=0
on_exit() {
  (( completed )) && return
  [[ -d "$NET/pids" ]] || return 0
  log "up.sh did not finish; stopping the processes it started (logs kept in $NET/logs)"
  "$FABRIC_DIR/down.sh" >/dev/null 2>&1 || true
}

all_running() {
  local i
  for (( i = 0; i < ORDERERS; i++ )); do running "orderer$i" || return 1; done
  for (( i = 1; i <= BANKS; i++ )); do running "peer$i" && running "cc$i" || return 1; done
}

# retry TRIES DELAY CMD...: run CMD until it succeeds, at most TRIES times. The first
# lifecycle and join calls can fail with "no Raft leader" right after start.
retry() {
  local tries=$1 delay=$2 n out; shift 2
  for (( n = 1; ; n++ )); do
    if out="$("$@" 2>&1)"; then
      [[ -n "$out" ]] && printf '%s\n' "$out" >>"$NET/logs/cli.log"
      printf '%s' "$out"
      return 0
    fi
    printf '%s\n' "$out" >>"$NET/logs/cli.log"
    if (( n >= tries )); then
      log "failed after $n attempts: $*"
      printf '%s\n' "$out" | tail -5 >&2
      return 1
    fi
    log "attempt $n failed ($(printf '%s' "$out" | grep -o 'no Raft leader\|SERVICE_UNAVAILABLE\|connection refused\|deadline exceeded' | head -1 || true)); retrying in ${delay}s"
    sleep "$delay"
  done
}

start_all() {
  local i
  for (( i = 0; i < ORDERERS; i++ )); do orderer_start "$i"; done
  for (( i = 1; i <= BANKS; i++ )); do peer_start "$i"; done
  for (( i = 1; i <= BANKS; i++ )); do peer_wait "$i"; done
  if [[ -f "$NET/chaincode/settlecc" ]]; then
    for (( i = 1; i <= BANKS; i++ )); do
      [[ -f "$NET/chaincode/bank$i/package-id" ]] && cc_start "$i"
    done
    for (( i = 1; i <= BANKS; i++ )); do
      [[ -f "$NET/chaincode/bank$i/package-id" ]] || continue
      wait_port "$(cc_port "$i")" 30 "cc$i" || die "chaincode server $i did not open port $(cc_port "$i") (it exited, or 30 s passed); see $NET/logs/cc$i.log"
    done
  fi
}

# smoke: a majority-endorsed Ping must commit VALID; this is what "up" means. Right
# after a (re)start the orderers may not have agreed on a view yet, hence the bounded retry.
smoke() {
  local args=() i oargs
  for (( i = 1; i <= BANKS; i++ )); do
    running "peer$i" && args+=(--peerAddresses "127.0.0.1:$(peer_port "$i")" --tlsRootCertFiles "$(peer_tls_ca "$i")")
  done
  oargs="$(orderer_args)" || die "no orderer is running"
  # shellcheck disable=SC2086 # orderer_args is a list of flags without spaces inside
  ( as_admin 1
    retry 30 1 peer chaincode invoke $oargs \
      -C "$CHANNEL" -n "$CC_NAME" "${args[@]}" -c '{"Args":["Ping"]}' --waitForEvent --waitForEventTimeout 30s >/dev/null
  ) || die "a Ping transaction did not commit; see $NET/logs/cli.log and the node logs in $NET/logs"
  log "a Ping transaction committed VALID"
}

# ---- already up, or state to resume -------------------------------------------------
if [[ -f "$NET/network.json" ]]; then
  saved="$(cat "$NET/settings" 2>/dev/null || true)"
  want="banks=$BANKS base=$BASE channel=$CHANNEL chaincode=$CC_NAME operators=$OPERATORS extra=${CC_EXTRA// /,}$ORDERERS_SETTING"
  [[ "$saved" == "$want" ]] || die "$NET holds a network with '$saved', not '$want'; run down.sh --clean first"
  if all_running; then
    log "network already up ($want); nothing to do. Description: $NET/network.json"
    completed=1
    exit 0
  fi
  log "network state found in $NET; restarting stopped processes"
  mkdir -p "$NET/logs"
  trap on_exit EXIT
  start_all
  smoke
  log "network up again; description: $NET/network.json"
  completed=1
  exit 0
fi
if [[ -d "$NET" ]]; then
  [[ -f "$MARKER" ]] || die "$NET exists but was not made by up.sh; refusing to touch it"
  log "found an incomplete network in $NET (an earlier up.sh did not finish); stopping and removing it"
  "$FABRIC_DIR/down.sh" --clean
  if (( ! BASE_EXPLICIT )); then BASE="$(settle_port "fabric-$PORT_BLOCK" 0)"; fi
fi

START=$SECONDS
# Every port of the plan must be free before anything starts.
if taken="$(first_taken)"; then
  if (( BASE_EXPLICIT )); then taken_die "$taken" "FABRIC_BASE_PORT=$BASE"; fi
  first=$BASE owner="$(settle_port_owner "$taken")"
  for (( k = 1; k < SETTLE_PORT_SLOTS; k++ )); do
    BASE="$(settle_port "fabric-$PORT_BLOCK" "$k")" || die "no port plan for block $PORT_BLOCK (ops/ports.sh)"
    first_taken >/dev/null || break
  done
  (( k < SETTLE_PORT_SLOTS )) || die "no free block for a network of $BANKS banks among this checkout's $SETTLE_PORT_SLOTS candidates for '$PORT_BLOCK' (first $first); set FABRIC_BASE_PORT=N"
  log "port $taken of this checkout's block $PORT_BLOCK (base $first) is taken by $owner; using base $BASE"
fi
trap on_exit EXIT
mkdir -p "$NET"/{config,crypto,channel,chaincode,logs,pids,data}
touch "$MARKER"
echo "banks=$BANKS base=$BASE channel=$CHANNEL chaincode=$CC_NAME operators=$OPERATORS extra=${CC_EXTRA// /,}$ORDERERS_SETTING" >"$NET/settings"

# ---- binaries ------------------------------------------------------------------------
"$FABRIC_DIR/build.sh"
log "building the chaincode server from $CHAINCODE_SRC"
# The chaincode module requires the service's module (replace settle => ../..), so it
# is built here, from the checkout; the ccaas package carries only connection.json.
(cd "$CHAINCODE_SRC" && go build -o "$NET/chaincode/settlecc" ./cmd/settlecc)

# ---- configuration -------------------------------------------------------------------
SAMPLE="$(cd "$FABRIC_DIR" && go list -m -f '{{.Dir}}' github.com/hyperledger/fabric)/sampleconfig"
[[ -f "$SAMPLE/core.yaml" ]] || die "no core.yaml in $SAMPLE"
# Consensus.Type BFT: without a system channel an orderer builds only the consenter
# its orderer.yaml names (etcdraft by default), and no environment variable sets it.
sed -e 's/^Consensus:$/Consensus:\n    Type: BFT/' "$SAMPLE/orderer.yaml" >"$NET/config/orderer.yaml"
grep -q "^    Type: BFT$" "$NET/config/orderer.yaml" || die "could not set Consensus.Type BFT in orderer.yaml"
# The peer finds the ccaas builder through core.yaml (a list, which environment
# variables cannot override).
# No Docker: an empty vm.endpoint keeps the peer from registering a Docker health check
# (an empty CORE_VM_ENDPOINT does not override it).
sed -e "s#path: /opt/hyperledger/ccaas_builder#path: $FABRIC_DIR/ccaas#" \
    -e "s#^    endpoint: unix:///var/run/docker.sock#    endpoint:#" "$SAMPLE/core.yaml" >"$NET/config/core.yaml"
grep -q "path: $FABRIC_DIR/ccaas" "$NET/config/core.yaml" || die "could not point core.yaml at the ccaas builder"
grep -q "^    endpoint:$" "$NET/config/core.yaml" || die "could not unset vm.endpoint in core.yaml"
chmod 0644 "$NET/config/"*.yaml

# ---- crypto: one org at a time, regenerated until its CA certificates are low-S --------
gen_org() { # gen_org KIND NAME DOMAIN SPEC_YAML
  local kind=$1 name=$2 domain=$3 spec=$4 try tmp
  for (( try = 1; try <= 40; try++ )); do
    tmp="$NET/crypto/tmp-$name"
    rm -rf "$tmp"
    printf '%s\n' "$spec" >"$tmp.yaml"
    cryptogen generate --config="$tmp.yaml" --output="$tmp" >/dev/null
    if lows "$tmp" >/dev/null; then
      mkdir -p "$NET/crypto/$kind"
      rm -rf "$NET/crypto/$kind/$domain"
      mv "$tmp/$kind/$domain" "$NET/crypto/$kind/$domain"
      rm -rf "$tmp" "$tmp.yaml"
      log "crypto for $name: CA certificates low-S after $try attempt(s)"
      return 0
    fi
  done
  die "crypto for $name: no low-S CA certificates after 40 attempts"
}
for (( o = 0; o < ORDERERS; o++ )); do
  # One orderer org per member (the operator's, then each bank's), each with its CA.
  gen_org ordererOrganizations "$(ord_name "$o")" "$(ord_domain "$o")" "OrdererOrgs:
  - Name: $(ord_name "$o")
    Domain: $(ord_domain "$o")
    EnableNodeOUs: true
    Specs:
      - Hostname: orderer
        SANS: [127.0.0.1, localhost]"
done
for (( i = 1; i <= BANKS; i++ )); do
  gen_org peerOrganizations "$(org_name "$i")" "$(org_domain "$i")" "PeerOrgs:
  - Name: $(org_name "$i")
    Domain: $(org_domain "$i")
    EnableNodeOUs: true
    Template:
      Count: 1
      SANS: [127.0.0.1, localhost]
    Users:
      Count: 1"
done
for (( j = 1; j <= OPERATORS; j++ )); do
  # The scheme operator: an org of its own (NodeOUs: admin and client identities),
  # no peer: it endorses nothing.
  gen_org peerOrganizations "$(op_name "$j")" "$(op_domain "$j")" "PeerOrgs:
  - Name: $(op_name "$j")
    Domain: $(op_domain "$j")
    EnableNodeOUs: true
    Template:
      Count: 0
    Users:
      Count: 1"
done
lows "$NET/crypto" >/dev/null || die "a high-S CA certificate is left in $NET/crypto"

# ---- channel genesis block -------------------------------------------------------------
{
  cat <<YAML
Organizations:
YAML
  for (( o = 0; o < ORDERERS; o++ )); do
    m="$(ord_msp_id "$o")"
    cat <<YAML
  - &$(ord_name "$o")
    Name: $m
    ID: $m
    MSPDir: $(ord_org_dir "$o")/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('$m.member')"}
      Writers: {Type: Signature, Rule: "OR('$m.member')"}
      Admins: {Type: Signature, Rule: "OR('$m.admin')"}
    OrdererEndpoints: ["127.0.0.1:$(orderer_port "$o")"]
YAML
  done
  for (( i = 1; i <= BANKS; i++ )); do
    m="$(msp_id "$i")"
    cat <<YAML
  - &$(org_name "$i")
    Name: $m
    ID: $m
    MSPDir: $(org_dir "$i")/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('$m.admin', '$m.peer', '$m.client')"}
      Writers: {Type: Signature, Rule: "OR('$m.admin', '$m.client')"}
      Admins: {Type: Signature, Rule: "OR('$m.admin')"}
      Endorsement: {Type: Signature, Rule: "OR('$m.peer')"}
    AnchorPeers:
      - {Host: 127.0.0.1, Port: $(peer_port "$i")}
YAML
  done
  for (( j = 1; j <= OPERATORS; j++ )); do
    m="$(op_msp_id "$j")"
    # No Endorsement policy of its own: the channel's policies name the banks'
    # peers explicitly, and the operator has no peer.
    cat <<YAML
  - &$(op_name "$j")
    Name: $m
    ID: $m
    MSPDir: $(op_dir "$j")/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('$m.admin', '$m.client')"}
      Writers: {Type: Signature, Rule: "OR('$m.admin', '$m.client')"}
      Admins: {Type: Signature, Rule: "OR('$m.admin')"}
      Endorsement: {Type: Signature, Rule: "OR('$m.peer')"}
YAML
  done
  cat <<YAML
Capabilities:
  # V3_0 is what turns on BFT in the orderers, the peers' block checks and the Gateway.
  Channel: &ChannelCapabilities {V3_0: true}
  Orderer: &OrdererCapabilities {V2_0: true}
  Application: &ApplicationCapabilities {V2_5: true}
Application: &ApplicationDefaults
  Organizations:
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: Signature, Rule: "$(bank_policy admin)"}
    LifecycleEndorsement: {Type: Signature, Rule: "$(bank_policy peer)"}
    Endorsement: {Type: Signature, Rule: "$(bank_policy peer)"}
  Capabilities: *ApplicationCapabilities
# SmartBFT. BatchTimeout/BatchSize are kept for the tools; BFT cuts blocks by the
# SmartBFT options. Timeouts are shorter than the defaults so a silent leader is
# replaced in about 10 s, not a minute (ForwardTimeout <= ComplainTimeout <=
# AutoRemoveTimeout, ResendInterval <= ViewChangeTimeout). RequestMaxBytes is not
# read from here: this Fabric's SmartBFT fixes it at 512,000 bytes a transaction.
# Admins: a majority of the orderer orgs' admins (3 of 4) for any change of the
# consenters, the batch sizes or these options; one org or a minority cannot.
Orderer: &OrdererDefaults
  OrdererType: BFT
  BatchTimeout: ${FABRIC_BATCH_TIMEOUT:-250ms}
  BatchSize: {MaxMessageCount: ${FABRIC_BATCH_MESSAGES:-500}, AbsoluteMaxBytes: 10 MB, PreferredMaxBytes: ${FABRIC_BATCH_PREFERRED:-4 MB}}
  SmartBFT:
    RequestBatchMaxCount: ${FABRIC_BATCH_MESSAGES:-500}
    RequestBatchMaxBytes: 10485760
    RequestBatchMaxInterval: ${FABRIC_BATCH_INTERVAL:-50ms}
    IncomingMessageBufferSize: 200
    RequestPoolSize: 400
    RequestForwardTimeout: 100ms
    RequestComplainTimeout: 5s
    RequestAutoRemoveTimeout: 3m
    ViewChangeResendInterval: 5s
    ViewChangeTimeout: 10s
    LeaderHeartbeatTimeout: 10s
    LeaderHeartbeatCount: 10
    CollectTimeout: 1s
  ConsenterMapping:
YAML
  for (( o = 0; o < ORDERERS; o++ )); do
    d="$(ord_dir "$o")"
    cat <<YAML
    - {ID: $(( o + 1 )), Host: 127.0.0.1, Port: $(orderer_port "$o"), MSPID: $(ord_msp_id "$o"),
       Identity: $d/msp/signcerts/$(ord_host "$o")-cert.pem,
       ClientTLSCert: $d/tls/server.crt, ServerTLSCert: $d/tls/server.crt}
YAML
  done
  cat <<YAML
  Organizations:
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    BlockValidation: {Type: ImplicitMeta, Rule: "ANY Writers"}
  Capabilities: *OrdererCapabilities
Channel: &ChannelDefaults
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
  Capabilities: *ChannelCapabilities
Profiles:
  SettleChannel:
    <<: *ChannelDefaults
    Orderer:
      <<: *OrdererDefaults
      Organizations:
YAML
  for (( o = 0; o < ORDERERS; o++ )); do echo "        - *$(ord_name "$o")"; done
  cat <<YAML
    Application:
      <<: *ApplicationDefaults
      Organizations:
YAML
  for (( i = 1; i <= BANKS; i++ )); do echo "        - *$(org_name "$i")"; done
  for (( j = 1; j <= OPERATORS; j++ )); do echo "        - *$(op_name "$j")"; done
} >"$NET/config/configtx.yaml"
configtxgen -configPath "$NET/config" -profile SettleChannel -channelID "$CHANNEL" \
  -outputBlock "$NET/channel/$CHANNEL.block" >>"$NET/logs/cli.log" 2>&1 \
  || die "configtxgen failed; see $NET/logs/cli.log"

# ---- start and join ------------------------------------------------------------------
for (( o = 0; o < ORDERERS; o++ )); do orderer_start "$o"; done
for (( o = 0; o < ORDERERS; o++ )); do orderer_join "$o"; done

for (( i = 1; i <= BANKS; i++ )); do peer_start "$i"; done
for (( i = 1; i <= BANKS; i++ )); do peer_wait "$i"; done
for (( i = 1; i <= BANKS; i++ )); do
  ( as_admin "$i"; retry 15 2 peer channel join -b "$NET/channel/$CHANNEL.block" >/dev/null ) \
    || die "peer$i did not join channel $CHANNEL"
  log "peer$i joined channel $CHANNEL"
done

# ---- chaincode as an external service ---------------------------------------------------
read -r -a ORDERER_ARGS <<<"$(orderer_args)"
PEER_ARGS=()
for (( i = 1; i <= BANKS; i++ )); do
  PEER_ARGS+=(--peerAddresses "127.0.0.1:$(peer_port "$i")" --tlsRootCertFiles "$(peer_tls_ca "$i")")
done
LABEL="${CC_NAME}_${CC_VERSION}"
for (( i = 1; i <= BANKS; i++ )); do
  # Each bank runs its own chaincode server, so each has its own package (its
  # connection.json names that server) and approves its own package id.
  d="$NET/chaincode/bank$i"
  mkdir -p "$d/src"
  # Mutual TLS between the peer and its chaincode server: the server's certificate
  # comes from the bank's TLS CA, the peer shows its own TLS certificate.
  ccconn -tlsca "$(org_dir "$i")/tlsca" -peer-tls "$(peer_dir "$i")/tls" \
    -address "127.0.0.1:$(cc_port "$i")" -out "$d/tls" || die "ccconn failed for bank $i"
  cp "$d/tls/connection.json" "$d/src/connection.json"
  printf '{"type":"ccaas","label":"%s"}\n' "$LABEL" >"$d/src/metadata.json"
  tar -C "$d/src" -czf "$d/src/code.tar.gz" connection.json
  tar -C "$d/src" -czf "$d/$LABEL.tar.gz" metadata.json code.tar.gz
  (
    as_admin "$i"
    retry 5 3 peer lifecycle chaincode install "$d/$LABEL.tar.gz" >/dev/null || exit 1
    peer lifecycle chaincode calculatepackageid "$d/$LABEL.tar.gz" >"$d/package-id"
  ) || die "install on peer$i failed; see $NET/logs/cli.log"
  log "installed chaincode on peer$i: $(cat "$d/package-id")"
  cc_start "$i"
done
for (( i = 1; i <= BANKS; i++ )); do
  wait_port "$(cc_port "$i")" 30 "cc$i" || die "chaincode server $i did not open port $(cc_port "$i") (it exited, or 30 s passed); see $NET/logs/cc$i.log"
done
# FABRIC_CHAINCODE_EXTRA names more definitions of the same packages: the same
# chaincode servers serve them, each with a namespace (a ledger) of its own, so a
# test can found one without touching the others.
for name in $CC_NAME $CC_EXTRA; do
  for (( i = 1; i <= BANKS; i++ )); do
    ( as_admin "$i"
      retry 15 3 peer lifecycle chaincode approveformyorg "${ORDERER_ARGS[@]}" --channelID "$CHANNEL" \
        --name "$name" --version "$CC_VERSION" --package-id "$(cat "$NET/chaincode/bank$i/package-id")" \
        --sequence 1 --waitForEventTimeout 60s >/dev/null
    ) || die "approval by $(msp_id "$i") failed; see $NET/logs/cli.log"
    log "$(msp_id "$i") approved $name $CC_VERSION"
  done
  ( as_admin 1
    retry 5 3 peer lifecycle chaincode commit "${ORDERER_ARGS[@]}" --channelID "$CHANNEL" \
      --name "$name" --version "$CC_VERSION" --sequence 1 "${PEER_ARGS[@]}" --waitForEventTimeout 60s >/dev/null
  ) || die "chaincode commit failed; see $NET/logs/cli.log"
  log "committed chaincode $name $CC_VERSION on channel $CHANNEL"
done

# ---- description for clients -----------------------------------------------------------
{
  printf '{\n'
  printf '  "channel": "%s",\n  "chaincode": "%s",\n  "chaincodeVersion": "%s",\n' "$CHANNEL" "$CC_NAME" "$CC_VERSION"
  printf '  "basePort": %s,\n  "networkDir": "%s",\n  "fabricDir": "%s",\n  "binDir": "%s",\n  "peerConfigDir": "%s",\n' \
    "$BASE" "$NET" "$FABRIC_DIR" "$BIN" "$NET/config"
  # "orderer" is orderer 0 (the founding operator's), for tools that name one;
  # "orderers" lists every orderer: clients send each transaction to all of them.
  printf '  "orderer": {"mspId": "%s", "address": "127.0.0.1:%s", "hostOverride": "%s", "tlsCACert": "%s",\n' \
    "$(ord_msp_id 0)" "$(orderer_port 0)" "$(ord_host 0)" "$(ord_tls_ca 0)"
  printf '              "orgMspDir": "%s", "adminAddress": "127.0.0.1:%s", "operationsAddress": "127.0.0.1:%s"},\n' \
    "$(ord_org_dir 0)/msp" "$(orderer_admin 0)" "$(orderer_ops 0)"
  printf '  "ordering": "BFT",\n  "orderers": [\n'
  for (( o = 0; o < ORDERERS; o++ )); do
    am="$(ord_admin_msp "$o")"
    printf '    {"index": %d, "id": %d, "org": "%s", "mspId": "%s", "address": "127.0.0.1:%s", "hostOverride": "%s", "tlsCACert": "%s",\n' \
      "$o" "$(( o + 1 ))" "$(ord_name "$o")" "$(ord_msp_id "$o")" "$(orderer_port "$o")" "$(ord_host "$o")" "$(ord_tls_ca "$o")"
    printf '     "orgMspDir": "%s", "adminAddress": "127.0.0.1:%s", "operationsAddress": "127.0.0.1:%s",\n' \
      "$(ord_org_dir "$o")/msp" "$(orderer_admin "$o")" "$(orderer_ops "$o")"
    printf '     "admin": {"mspDir": "%s", "cert": "%s", "key": "%s"}}' "$am" "$(ls "$am"/signcerts/*.pem)" "$(ls "$am"/keystore/*)"
    (( o < ORDERERS - 1 )) && printf ',\n' || printf '\n'
  done
  printf '  ],\n'
  printf '  "banks": [\n'
  for (( i = 1; i <= BANKS; i++ )); do
    am="$(admin_msp "$i")"; um="$(user_msp "$i")"
    printf '    {"index": %d, "org": "%s", "mspId": "%s", "domain": "%s", "orgMspDir": "%s",\n' \
      "$i" "$(org_name "$i")" "$(msp_id "$i")" "$(org_domain "$i")" "$(org_dir "$i")/msp"
    printf '     "peer": {"address": "127.0.0.1:%s", "hostOverride": "%s", "tlsCACert": "%s", "operationsAddress": "127.0.0.1:%s"},\n' \
      "$(peer_port "$i")" "$(peer_host "$i")" "$(peer_tls_ca "$i")" "$(peer_ops "$i")"
    printf '     "admin": {"mspDir": "%s", "cert": "%s", "key": "%s"},\n' "$am" "$(ls "$am"/signcerts/*.pem)" "$(ls "$am"/keystore/*)"
    printf '     "user": {"mspDir": "%s", "cert": "%s", "key": "%s"},\n' "$um" "$(ls "$um"/signcerts/*.pem)" "$(ls "$um"/keystore/*)"
    printf '     "chaincodeServer": "127.0.0.1:%s", "packageId": "%s"}' "$(cc_port "$i")" "$(cat "$NET/chaincode/bank$i/package-id")"
    (( i < BANKS )) && printf ',\n' || printf '\n'
  done
  printf '  ],\n'
  printf '  "endorsementPolicy": "%s",\n' "$(bank_policy peer)"
  printf '  "extraChaincodes": [%s],\n' "$(for x in $CC_EXTRA; do printf '"%s"' "$x"; done | sed 's/""/", "/g')"
  printf '  "operators": [\n'
  for (( j = 1; j <= OPERATORS; j++ )); do
    am="$(op_admin_msp "$j")"; um="$(op_user_msp "$j")"
    printf '    {"index": %d, "org": "%s", "mspId": "%s", "domain": "%s", "orgMspDir": "%s",\n' \
      "$j" "$(op_name "$j")" "$(op_msp_id "$j")" "$(op_domain "$j")" "$(op_dir "$j")/msp"
    printf '     "admin": {"mspDir": "%s", "cert": "%s", "key": "%s"},\n' "$am" "$(ls "$am"/signcerts/*.pem)" "$(ls "$am"/keystore/*)"
    printf '     "user": {"mspDir": "%s", "cert": "%s", "key": "%s"}}' "$um" "$(ls "$um"/signcerts/*.pem)" "$(ls "$um"/keystore/*)"
    (( j < OPERATORS )) && printf ',\n' || printf '\n'
  done
  printf '  ]\n}\n'
} >"$NET/network.json.tmp"
smoke
mv "$NET/network.json.tmp" "$NET/network.json"
completed=1
log "network up in $(( SECONDS - START )) s; description: $NET/network.json"

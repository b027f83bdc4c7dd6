#!/usr/bin/env bash
# make demo: one business day (and the next) of the whole system, on this
# machine, from nothing: Postgres, a Fabric network of five banks (a majority
# is three), the settle service with its SFTP server; the banks upload signed
# files over SFTP with OpenSSH (a few bad ones among them), the nightly cycle
# nets them and writes them through the ledger, reconciliation compares, and a
# reversal of an earlier payment settles the next day. Everything lands under
# .run/demo; the services stay up so you can look around (see the end).
#
# Ports are this checkout's (ops/ports.sh: demo-sftp, demo-http, the fabric-demo
# block, Postgres's), so a second checkout's demo or tests can run beside it;
# SETTLE_DEMO_SFTP_PORT, SETTLE_DEMO_HTTP_PORT, FABRIC_BASE_PORT and PGPORT_SETTLE
# choose them. Any failed step stops the demo with a line saying which.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
S="$ROOT/bin/settle"
D="$ROOT/.run/demo"
BANKS=5
PAYMENTS=${SETTLE_DEMO_PAYMENTS:-5000}
# Payments a file (200: day 1 is 25 files); the ledger takes at most 5000 a file and
# 1000 files a cycle, so a day of 1,000,000 needs SETTLE_DEMO_FILE_PAYMENTS=5000.
FILE_PAYMENTS=${SETTLE_DEMO_FILE_PAYMENTS:-200}
export FABRIC_BANKS=$BANKS FABRIC_PORT_BLOCK=demo FABRIC_NETWORK_DIR="$ROOT/ops/fabric/.network-demo"
# A large day's blocks are cut at most every 200 ms: fuller blocks cost the
# peers less a payment (README, "The ledger stage after the redesign"); the
# small day keeps ops/fabric's 50 ms, which answers each write sooner.
if (( PAYMENTS >= 100000 )); then export FABRIC_BATCH_INTERVAL=${FABRIC_BATCH_INTERVAL:-200ms}; fi

STOP="kill \$(cat $D/serve.pid); FABRIC_NETWORK_DIR=$FABRIC_NETWORK_DIR ops/fabric/down.sh; ops/postgres/down.sh"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: ERROR: $*" >&2; exit 1; }
trap 'echo "demo: ERROR: line $LINENO: \"$BASH_COMMAND\" failed (exit $?)" >&2' ERR
trap 'rc=$?; if [ "$rc" -ne 0 ]; then echo "demo: stopped at the failed step above; what it started keeps running: $STOP" >&2; fi' EXIT
source ops/ports.sh

[ -x "$S" ] || die "$S is missing; run make demo (it builds it)"

# A previous demo's service holds the ports: stop it first.
if [ -f "$D/serve.pid" ]; then kill "$(cat "$D/serve.pid")" 2>/dev/null || true; sleep 1; fi

# demo_port NAME VAR: the port in VAR when set (used or refused), else this
# checkout's port NAME, or the first free one of the next candidates.
demo_port() {
  local name=$1 var=$2 k p first
  if [ -n "${!var:-}" ]; then
    settle_port_free "${!var}" || die "port ${!var} ($var) is taken by $(settle_port_owner "${!var}"); choose another with $var=N, or unset it"
    echo "${!var}"; return 0
  fi
  first=$(settle_port "$name" 0)
  for (( k = 0; k < SETTLE_PORT_SLOTS; k++ )); do
    p=$(settle_port "$name" "$k")
    if settle_port_free "$p"; then
      (( k == 0 )) || echo "demo: port $first ($name) is taken by $(settle_port_owner "$first"); using $p" >&2
      echo "$p"; return 0
    fi
  done
  die "no free port for $name among this checkout's candidates; set $var=N"
}
SFTP_PORT=$(demo_port demo-sftp SETTLE_DEMO_SFTP_PORT)
HTTP_PORT=$(demo_port demo-http SETTLE_DEMO_HTTP_PORT)
CONSOLE_PORT=$(demo_port demo-console SETTLE_DEMO_CONSOLE_PORT)

step "0. Services: Postgres, a 5-bank Fabric network, the settle schema"
pgenv=$(ops/postgres/up.sh) || die "ops/postgres/up.sh could not start this checkout's Postgres (its message is above)"
eval "$pgenv"
[ -n "${DATABASE_URL:-}" ] || die "ops/postgres/up.sh printed no DATABASE_URL"
DB_URL=$(echo "$DATABASE_URL" | sed 's#/postgres?#/settle_demo?#')
psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS settle_demo WITH (FORCE)" -c "CREATE DATABASE settle_demo" >/dev/null ||
  die "could not make the settle_demo database on $DATABASE_URL"
export DATABASE_URL="$DB_URL"
# A fresh ledger for a fresh database; up.sh picks this checkout's demo ports again.
ops/fabric/down.sh --clean >/dev/null || die "ops/fabric/down.sh --clean could not remove the previous demo network in $FABRIC_NETWORK_DIR"
ops/fabric/up.sh || die "the Fabric network did not start (its message is above; logs in $FABRIC_NETWORK_DIR/logs)"
rm -rf "$D" && mkdir -p "$D/ssh" "$D/up"
$S migrate up

# Business days in Seoul: today (or the next business day), and the one after.
days=$($S cycle days --count 2) || die "settle cycle days failed"
read -r DAY1 DAY2 <<<"$days" || true
[ -n "${DAY1:-}" ] && [ -n "${DAY2:-}" ] || die "settle cycle days printed '$days', not two dates"
echo "business days: $DAY1 and $DAY2"

step "1. Five member banks: signing keys (Ed25519 and ECDSA P-256), SFTP logins, caps, on Postgres and on the ledger"
$S gen --banks $BANKS --payments "$PAYMENTS" --date "$DAY1" --out "$D/day1" --xml-every 3 --file-payments "$FILE_PAYMENTS" >/dev/null
mapfile -t BICS < "$D/day1/members.txt"
# The settlement agent (a central bank's RTGS, played by `settle agent-sim`): an SFTP
# participant of its own with a key-only login, and a signing key of its own.
AGENT=BOKRKRSE
SETTLEMENT_ACCOUNT=SETTLE-SETTLEMENT-01
ssh-keygen -q -t ed25519 -N "" -C "$AGENT" -f "$D/ssh/$AGENT"
mkdir -p "$D/agent/keys" "$D/agent/in" "$D/agent/out"
openssl genpkey -algorithm ed25519 -out "$D/agent/agent.key" 2>/dev/null
openssl pkey -in "$D/agent/agent.key" -pubout -out "$D/agent/keys/$AGENT.k1.pem"
echo "[" > "$D/sftp-banks.json"
printf '  {"bic": "%s", "authorized_keys": ["%s"]},\n' "$AGENT" "$(cat "$D/ssh/$AGENT.pub")" >> "$D/sftp-banks.json"
i=0
for b in "${BICS[@]}"; do
  i=$((i + 1))
  $S bank add "$b" --name "Bank $i" --msp "Bank${i}MSP" >/dev/null
  $S bank key add "$b" --label 2026 --pem "$D/day1/keys/$b.pem" >/dev/null
  ssh-keygen -q -t ed25519 -N "" -C "$b" -f "$D/ssh/$b"
  sep=","; [ "$i" -eq "${#BICS[@]}" ] && sep=""
  printf '  {"bic": "%s", "authorized_keys": ["%s"]}%s\n' "$b" "$(cat "$D/ssh/$b.pub")" "$sep" >> "$D/sftp-banks.json"
done
echo "]" >> "$D/sftp-banks.json"
cat > "$D/settle.yaml" <<YAML
zone: Asia/Seoul
database: $DATABASE_URL
state_dir: $D/state
instance: demo
sftp: {listen: "127.0.0.1:$SFTP_PORT", banks: "$D/sftp-banks.json"}
intake: {poll: 1s, cutoff: "23:59"}
schedule: {cycle: "0 3 1 1 *"}   # the demo runs the cycle itself
ledger: {network: "$FABRIC_NETWORK_DIR/network.json", org: 1}
http: {listen: "127.0.0.1:$HTTP_PORT"}
agent:
  bic: $AGENT
  scheme_account: $SETTLEMENT_ACCOUNT
  keys: $D/agent/keys
  unfunded_after: 10m
  accounts:
$(for b in "${BICS[@]}"; do echo "    $b: RTGS-$b"; done)
console: {listen: "127.0.0.1:$CONSOLE_PORT"}
YAML
# The console's demo accounts: two operators (four eyes) and an auditor,
# each with a fresh random password kept beside the demo's state.
: > "$D/console-logins.txt"
chmod 600 "$D/console-logins.txt"
for u in demo-operator:operator demo-operator2:operator demo-auditor:auditor; do
  pw=$(openssl rand -base64 18)
  echo "$pw" | $S user add "${u%%:*}" --role "${u##*:}" --config "$D/settle.yaml" >/dev/null || die "settle user add ${u%%:*} failed"
  echo "${u%%:*} (${u##*:}): $pw" >> "$D/console-logins.txt"
done
# Net debit caps under four eyes: one operator requests each (a bank with no cap has a
# cap of zero, so its first cap is a raise), the other approves it.
# A larger day (SETTLE_DEMO_PAYMENTS) gets caps as many times larger: the integer
# part is multiplied in bash's 64-bit integers, the minor units kept as they are.
scale=$(( PAYMENTS > 5000 ? PAYMENTS / 5000 : 1 ))
while IFS=, read -r b c amt; do
  if (( scale > 1 )) && [ "$amt" != 0 ]; then
    int=${amt%%.*}; frac=${amt#"$int"}
    amt="$(( int * scale ))$frac"
  fi
  if [ "$amt" = 0 ]; then $S bank cap set "$b" "$c" 0 >/dev/null || die "settle bank cap set $b $c 0 failed"; continue; fi
  req=$($S bank cap raise "$b" "$c" "$amt" --note "the demo's opening cap" --by demo-operator --config "$D/settle.yaml") ||
    die "settle bank cap raise $b $c $amt failed"
  id=${req#request }; id=${id%%:*}
  $S approve "$id" --by demo-operator2 --config "$D/settle.yaml" >/dev/null || die "settle approve $id (the cap of $b in $c) failed"
done < <(tail -n +2 "$D/day1/caps.csv")
$S bank list

step "1a. The ledger is founded: the operator proposes, each bank's own admin approves and registers its keys"
# Each command signs with ONE identity: the operator's admin, then each bank's
# admin in turn (the demo network keeps every org's keys on this disk; in a
# consortium each bank runs its own two steps with its own certificate).
found=$($S ledger found --config "$D/settle.yaml") || die "settle ledger found (the operator's proposal) failed"
echo "$found"
FOUNDING=$(echo "$found" | grep -o 'founding [0-9a-f]\{32\}' | head -1 | cut -d' ' -f2)
if [ -n "$FOUNDING" ]; then
  for b in "${BICS[@]}"; do
    $S ledger approve-founding "$FOUNDING" --bank "$b" --config "$D/settle.yaml" || die "$b's admin could not approve the founding $FOUNDING"
  done
fi
for b in "${BICS[@]}"; do
  $S ledger register-keys --bank "$b" --config "$D/settle.yaml" || die "$b's admin could not register its keys on the ledger"
done
echo "  the operator admits the banks (already members) and sets their caps:"
$S ledger register-banks --from-store --config "$D/settle.yaml" | sed 's/^/  /'
$S ledger keys --config "$D/settle.yaml" || die "the store's key ring and the ledger's disagree"

step "2. settle serve: SFTP server, intake, event handlers, metrics"
$S serve --config "$D/settle.yaml" > "$D/serve.log" 2>&1 &
echo $! > "$D/serve.pid"
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" || die "service not ready; see $D/serve.log"
HOSTKEY="$D/state/sftp/state/ssh_host_ed25519_key"
for _ in $(seq 50); do [ -f "$HOSTKEY" ] && break; sleep 0.2; done
[ -f "$HOSTKEY" ] || die "the service wrote no SFTP host key ($HOSTKEY); see $D/serve.log"
hostpub=$(ssh-keygen -y -f "$HOSTKEY") || die "cannot read the SFTP host key $HOSTKEY"
echo "[127.0.0.1]:$SFTP_PORT $hostpub" > "$D/known_hosts"

# as_bank BIC BATCH: a bank's own OpenSSH session.
as_bank() {
  sftp -q -b "$2" -i "$D/ssh/$1" -P "$SFTP_PORT" -o UserKnownHostsFile="$D/known_hosts" \
    -o StrictHostKeyChecking=yes -o BatchMode=yes "$1@127.0.0.1"
}
# upload BIC FILE [NAME]: the payment file first, its signature last.
upload() {
  local name=${3:-$(basename "$2")}
  printf 'put %s inbox/%s\nput %s.sig inbox/%s.sig\n' "$2" "$name" "$2" "$name" > "$D/up/batch"
  as_bank "$1" "$D/up/batch" >/dev/null
}
# ack BIC NAME: wait for the acknowledgement and print its verdict.
ack() {
  local out="$D/up/$1-$2.ack.json"
  for _ in $(seq 60); do
    printf 'get outbox/%s.ack.json %s\n' "$2" "$out" > "$D/up/get"
    as_bank "$1" "$D/up/get" >/dev/null 2>&1 && break
    sleep 0.5
  done
  [ -s "$out" ] || die "no acknowledgement for $1/$2"
  printf '  %-9s %s\n' "$1" "$(jq -r '"\(.file) \(.status) entries=\(.entries) " + ([.errors[] | "line \(.line) \(.code) \(.message)"] | join("; "))' "$out" | cut -c1-190)"
}

step "3. $DAY1: each bank uploads its signed file over SFTP (OpenSSH), and reads its acknowledgement"
for f in "$D"/day1/files/*.csv "$D"/day1/files/*.xml; do
  b=$(basename "$f" | cut -d_ -f1)
  upload "$b" "$f"
done
for f in "$D"/day1/files/*.csv "$D"/day1/files/*.xml; do ack "$(basename "$f" | cut -d_ -f1)" "$(basename "$f")"; done

step "4. Bad input is refused whole, with every bad record, and changes nothing"
B0=${BICS[0]}
cat > "$D/up/broken.csv" <<CSV
H,F-BROKEN-1,$B0,$DAY1,${DAY1}T15:00:00+09:00
P,BROKEN-1,$B0,${BICS[1]},1500000.5,KRW
P,BROKEN-2,$B0,$B0,100,KRW
P,BROKEN-3,$B0,NOTABIC,100,USD
T,3,1500200
CSV
openssl pkeyutl -sign -rawin -inkey "$D/day1/private/$B0.key" -in "$D/up/broken.csv" | base64 -w0 > "$D/up/broken.csv.sig"
upload "$B0" "$D/up/broken.csv"
ack "$B0" broken.csv
cp "$D/day1/files/$(ls "$D/day1/files" | grep "^$B0" | grep -v sig$ | head -1)" "$D/up/resent.csv"
cp "$D/day1/files/$(ls "$D/day1/files" | grep "^$B0" | grep sig$ | head -1)" "$D/up/resent.csv.sig"
upload "$B0" "$D/up/resent.csv"
echo "  (the same bytes sent again under another name:)"
ack "$B0" resent.csv
echo "  (a file signed by someone else:)"
openssl genpkey -algorithm ed25519 -out "$D/up/mallory.key" 2>/dev/null
sed "s/F-BROKEN-1/F-FORGED-1/; /BROKEN-[23]/d; s/1500000.5/1500000/; s/T,3,1500200/T,1,1500000/" "$D/up/broken.csv" > "$D/up/forged.csv"
openssl pkeyutl -sign -rawin -inkey "$D/up/mallory.key" -in "$D/up/forged.csv" | base64 -w0 > "$D/up/forged.csv.sig"
upload "$B0" "$D/up/forged.csv"
ack "$B0" forged.csv

step "5. Night of $DAY1: the cycle runs: freeze, net, declare the files on the ledger, relay each file's bytes and signature (every endorsing peer verifies and parses them), settle on the ledger's own positions, reconcile, report"
$S cycle run --config "$D/settle.yaml" --date "$DAY1"

step "5a. After settlement: each bank's camt.053 statement and pacs.002 confirmations, signed by the scheme; a bank checks its statement with OpenSSL alone"
printf 'get outbox/C%s.camt053.xml %s/up/stmt.xml\nget outbox/C%s.camt053.xml.sig %s/up/stmt.xml.sig\nget outbox/scheme.k1.pem %s/up/scheme.k1.pem\nls outbox\n' \
  "$DAY1" "$D" "$DAY1" "$D" "$D" > "$D/up/get-stmt"
{ as_bank "$B0" "$D/up/get-stmt" | tr -s ' \n' '\n' | grep -E 'camt053|settled|scheme' | sed 's/^/  outbox: /' | head -8; } || true
(cd "$D/up" && base64 -d stmt.xml.sig > stmt.bin &&
  openssl pkeyutl -verify -pubin -inkey scheme.k1.pem -rawin -in stmt.xml -sigfile stmt.bin) ||
  die "the statement's signature did not verify with OpenSSL"
if [ -f ../shared/iso20022/xsd/camt.053.001.08.xsd ]; then
  xmllint --noout --huge --schema ../shared/iso20022/xsd/camt.053.001.08.xsd "$D/up/stmt.xml" || die "the statement is not valid camt.053.001.08"
fi
echo "  $B0's statement: $(grep -c '<Ntry>' "$D/up/stmt.xml") entries; closing balances:"
grep -A3 '<Cd>CLBD</Cd>' "$D/up/stmt.xml" | grep -E '<Amt|CdtDbtInd' | paste - - | sed 's/ *<[^>]*Ccy="\([A-Z]*\)">\([^<]*\)<\/Amt>.*<CdtDbtInd>\(....\).*/    \1 \2 \3/'

step "5b. The settlement agent (a SIMULATOR) takes its pacs.009 instructions over SFTP, books them, one with a wrong amount and one not at all, and answers with a signed camt.054"
printf 'get outbox/*.pacs009.xml %s/agent/in/\nget outbox/*.pacs009.xml.sig %s/agent/in/\nget outbox/scheme.*.pem %s/agent/in/\n' "$D" "$D" "$D" > "$D/up/agent-get"
as_bank "$AGENT" "$D/up/agent-get" >/dev/null
ls "$D/agent/in" | grep pacs009.xml$ | sed 's/^/  instructions: /'
$S agent-sim --in "$D/agent/in" --out "$D/agent/out" --key "$D/agent/agent.key" --account "$SETTLEMENT_ACCOUNT" \
  --wrong-amount 1 --skip 2 | sed 's/^/  answer: /'
for f in "$D"/agent/out/*.camt054.xml; do upload "$AGENT" "$f"; done
for f in "$D"/agent/out/*.camt054.xml; do ack "$AGENT" "$(basename "$f")"; done
for _ in $(seq 30); do
  $S breaks list --config "$D/settle.yaml" 2>/dev/null | grep -q AGENT_ && break
  sleep 1
done
echo "  the three-way reconciliation of $DAY1 (ledger, Postgres, agent): the two breaks, and the cycle partly confirmed"
$S breaks list --config "$D/settle.yaml" --date "$DAY1" | grep -E 'AGENT_' | sed 's/^/  /' ||
  die "no agent break in the register after the agent's answer; see $D/serve.log"
$S recon run --config "$D/settle.yaml" --date "$DAY1" | grep -E 'settlement agent|AGENT_' | sed 's/^/  /' || true

step "6. $DAY2: a bank reverses one of yesterday's payments (wrong amount), and that cycle runs"
orig=$(ls "$D"/day1/files/"${BICS[1]}"_*.csv | head -1)
line=$(grep -m1 "^P," "$orig") || die "no payment in $orig to reverse"
read -r RID ODEB OCRED AMT CUR <<<"$(echo "$line" | awk -F, '{print $2, $3, $4, $5, $6}')" || true
[ -n "${CUR:-}" ] || die "cannot read the payment to reverse from '$line'"
cat > "$D/up/reversal.csv" <<CSV
H,F-REV-$DAY2,${BICS[1]},$DAY2,${DAY2}T10:00:00+09:00
R,REV-$RID,$RID,$ODEB,$OCRED,$AMT,$CUR,AM09
T,1,$AMT
CSV
openssl pkey -in "$D/day1/private/${BICS[1]}.key" -out "$D/up/b1.key" 2>/dev/null
if grep -q "BEGIN PRIVATE KEY" "$D/up/b1.key" && openssl pkey -in "$D/up/b1.key" -noout -text 2>/dev/null | grep -q ED25519; then
  openssl pkeyutl -sign -rawin -inkey "$D/up/b1.key" -in "$D/up/reversal.csv" | base64 -w0 > "$D/up/reversal.csv.sig"
else
  openssl dgst -sha256 -sign "$D/up/b1.key" "$D/up/reversal.csv" | openssl base64 > "$D/up/reversal.csv.sig"
fi
upload "${BICS[1]}" "$D/up/reversal.csv"
ack "${BICS[1]}" reversal.csv
echo "  (and, as payment hubs send them: each bank's pacs.007 reversals of some of its $DAY1 payments,"
echo "   with new payments, some pacs.008 in a business application header envelope:)"
$S gen --banks $BANKS --payments 500 --date "$DAY2" --file-payments 200 --out "$D/day2" --keys-from "$D/day1" --xml-every 2 --apphdr-every 2 \
  --reverse "$DAY1" --reverse-payments "$PAYMENTS" --reversal-every 250 | sed -n 1p
for f in "$D"/day2/files/*.csv "$D"/day2/files/*.xml; do upload "$(basename "$f" | cut -d_ -f1)" "$f"; done
for f in "$D"/day2/files/*.csv "$D"/day2/files/*.xml; do ack "$(basename "$f" | cut -d_ -f1)" "$(basename "$f")"; done
$S cycle run --config "$D/settle.yaml" --date "$DAY2"

step "7. Net positions of $DAY1 (from Postgres; the ledger settled the same ones)"
$S cycle positions --config "$D/settle.yaml" --date "$DAY1"

step "8. Ledger transactions, reconciliation, and an auditor's trace of the reversed payment"
$S cycle ledger --config "$D/settle.yaml" --date "$DAY1" | sed -n 1,8p
$S recon run --config "$D/settle.yaml" --date "$DAY1" || echo "  ($DAY1 keeps the agent's two breaks of step 5b: exit 1 says so)"
$S recon run --config "$D/settle.yaml" --date "$DAY2"
$S audit trace --config "$D/settle.yaml" "${BICS[1]}/$RID"
trace=$($S audit trace --config "$D/settle.yaml" --format json "${BICS[1]}/REV-$RID") || die "audit trace of ${BICS[1]}/REV-$RID failed"
REVTX=$(echo "$trace" | grep -o '"tx_id": "[0-9a-f]*"' | sed -n 1p | cut -d'"' -f4)
[ -n "$REVTX" ] || die "the trace of ${BICS[1]}/REV-$RID names no ledger transaction"
echo
echo "and back, from the ledger transaction that verified the reversal's file (read from its block) to the bank's signed file:"
$S audit tx --config "$D/settle.yaml" "$REVTX"
$S audit verify --config "$D/settle.yaml" --date "$DAY1"

step "Where to look next"
cat <<TXT
  cycles and stages:     $S cycle status --config $D/settle.yaml [--date $DAY1]
  breaks:                $S breaks list --config $D/settle.yaml
  a ledger tx, traced:   $S audit tx --config $D/settle.yaml TX-ID   (ids: $S cycle ledger --config $D/settle.yaml --date $DAY1)
  a bank's outbox:       sftp -i $D/ssh/${BICS[0]} -P $SFTP_PORT -o UserKnownHostsFile=$D/known_hosts ${BICS[0]}@127.0.0.1
  the agent's outbox:    sftp -i $D/ssh/$AGENT -P $SFTP_PORT -o UserKnownHostsFile=$D/known_hosts $AGENT@127.0.0.1
  the scheme's key:      $S scheme key --config $D/settle.yaml
  metrics and health:    curl http://127.0.0.1:$HTTP_PORT/metrics ; curl http://127.0.0.1:$HTTP_PORT/readyz
  the web console:       http://127.0.0.1:$CONSOLE_PORT/   (logins in $D/console-logins.txt:)
$(sed 's/^/                           /' "$D/console-logins.txt")
  service log:           $D/serve.log        archive: $D/state/archive
  stop everything:       $STOP
TXT

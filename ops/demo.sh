#!/usr/bin/env bash
# make demo: a business day of signed payment files from five banks, one of
# them broken on purpose, validated and netted exactly as the nightly cycle
# does it. Everything lands under .run/demo.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
S=bin/settle
D=.run/demo-offline
DATE=${SETTLE_DEMO_DATE:-2026-11-24}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
trap 'echo "demo-offline: ERROR: line $LINENO: \"$BASH_COMMAND\" failed (exit $?)" >&2' ERR
[ -x "$S" ] || { echo "demo-offline: ERROR: $S is missing; run make demo-offline (it builds it)" >&2; exit 1; }
rm -rf "$D" && mkdir -p "$D"

step "1. Five banks send a day of signed payments (CSV and ISO 20022 pacs.008)"
$S gen --banks 5 --payments 5000 --date "$DATE" --out "$D/day" --xml-every 3 | sed -n 1p
ls -1 "$D/day/files"

step "2. A bank sends a broken file: wrong scale, a self-payment, a bad BIC, a wrong control sum"
bad="$D/day/bad/SHBKKRSE_F-BROKEN-001.csv"
mkdir -p "$(dirname "$bad")"
cat >"$bad" <<CSV
H,F-BROKEN-001,SHBKKRSE,$DATE,${DATE}T18:00:00+09:00
P,SH-B-1,SHBKKRSE,CZNBKRSE,1500000.5,KRW
P,SH-B-2,SHBKKRSE,SHBKKRSE,100,KRW
P,SH-B-3,SHBKKRSE,NOTABIC,100,USD
T,3,1500200
CSV
openssl genpkey -algorithm ed25519 -out "$D/day/bad/tmp.key" 2>/dev/null
openssl pkeyutl -sign -rawin -inkey "$D/day/bad/tmp.key" -in "$bad" | base64 -w0 >"$bad.sig"
echo "signed with openssl by a key the consortium does not know"
rc=0
$S validate --keys "$D/day/keys" --members "$D/day/members.txt" "$bad" || rc=$?
echo "exit status $rc (1: rejected whole, every bad record listed above)"
[ "$rc" -eq 1 ] || { echo "demo-offline: ERROR: settle validate of the broken file exited $rc, not 1" >&2; exit 1; }

step "3. The day's files are verified, validated and netted (exact decimals, zero-sum asserted)"
$S net --format text --keys "$D/day/keys" --members "$D/day/members.txt" --caps "$D/day/caps.csv" "$D"/day/files/*.csv "$D"/day/files/*.xml

step "4. The same as JSON for tools"
$S net --format json --keys "$D/day/keys" --members "$D/day/members.txt" --caps "$D/day/caps.csv" "$D"/day/files/*.csv "$D"/day/files/*.xml >"$D/net.json"
echo "$D/net.json: $(wc -c <"$D/net.json") bytes"

step "Where to look next"
echo "  files and signatures: $D/day/files   keys: $D/day/keys   members: $D/day/members.txt   caps: $D/day/caps.csv"
echo "  try: $S validate --keys $D/day/keys $D/day/files/*.csv"

#!/usr/bin/env bash
# make bench: the testing.B benchmarks, and the issue's headline figure
# measured as an operator sees it: `settle net` over a generated day of
# 1,000,000 payments from 20 banks, beside sha256sum reading the same files
# (the floor: nothing can check a file faster than it can be hashed).
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
die() { echo "bench: ERROR: $*" >&2; exit 1; }
trap 'echo "bench: ERROR: line $LINENO: \"$BASH_COMMAND\" failed (exit $?)" >&2' ERR
[ -x bin/settle ] || die "bin/settle is missing; run make bench (it builds it)"
mkdir -p .run/bench
PAYMENTS=${SETTLE_BENCH_PAYMENTS:-1000000}
BANKS=${SETTLE_BENCH_BANKS:-20}
RUNS=${SETTLE_BENCH_RUNS:-5}
day=.run/bench/day-$BANKS-$PAYMENTS
if [ ! -f "$day/caps.csv" ]; then
  rm -rf "$day"
  bin/settle gen --banks "$BANKS" --payments "$PAYMENTS" --date 2026-11-24 --out "$day" >/dev/null
fi
files=("$day"/files/*.csv)
bytes=$(cat "${files[@]}" | wc -c)
cat "${files[@]}" >/dev/null # warm the page cache for both contenders

best() { sort -n | head -1; }
measure() { # prints "seconds maxrss_kb" of the fastest of RUNS runs
  local out=() i
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o .run/bench/time.txt "$@" >/dev/null 2>.run/bench/stderr.txt || {
      cat .run/bench/stderr.txt; return 1; }
    out+=("$(cat .run/bench/time.txt)")
  done
  printf '%s\n' "${out[@]}" | sort -n | head -1
}
floor=$(measure sha256sum "${files[@]}") || die "sha256sum of the generated day failed"
net=$(measure bin/settle net --format json --keys "$day/keys" --members "$day/members.txt" --caps "$day/caps.csv" "${files[@]}") ||
  die "settle net over the generated day failed (its output is above)"
# Gridlock resolution as an operator sees it: the same day with a cap of one
# minor unit for every bank in every currency, so that the removal cascades
# through almost every queue (the files are read a second time for it).
tight=.run/bench/caps-tight.csv
awk -F, 'NR == 1 { print; next }
  { m = ($2 == "KWD") ? "0.001" : ($2 == "USD") ? "0.01" : "1"; print $1 "," $2 "," m }' "$day/caps.csv" >"$tight"
resolve=$(measure bin/settle net --resolve --format json --keys "$day/keys" --members "$day/members.txt" --caps "$tight" "${files[@]}") ||
  die "settle net --resolve over the generated day failed (its output is above)"
read -r floor_s floor_kb <<<"$floor"
read -r net_s net_kb <<<"$net"
read -r resolve_s resolve_kb <<<"$resolve"
[ -n "${floor_kb:-}" ] && [ -n "${net_kb:-}" ] && [ -n "${resolve_kb:-}" ] ||
  die "no time measured (/usr/bin/time wrote '$floor', '$net' and '$resolve')"

echo "== settle net: $PAYMENTS payments, $BANKS banks, $((bytes / 1000000)) MB of signed CSV, $(nproc) cores, best of $RUNS"
printf '%-44s %8s s  %8s MB peak RSS\n' "settle net (verify, parse, validate, net)" "$net_s" "$((net_kb / 1024))"
printf '%-44s %8s s  %8s MB peak RSS\n' "settle net --resolve, caps of one minor unit" "$resolve_s" "$((resolve_kb / 1024))"
printf '%-44s %8s s  %8s MB peak RSS\n' "sha256sum of the same files (floor)" "$floor_s" "$((floor_kb / 1024))"
echo

# A third of the day's files as ISO 20022 (every third bank sends pacs.008),
# read by today's strict reader (every token checked against the official
# schema) and by the reader before it (e3c892f, which decoded the same
# elements without the schema), built from this checkout's history.
xday=.run/bench/day-$BANKS-$PAYMENTS-xml3
if [ ! -f "$xday/caps.csv" ]; then
  rm -rf "$xday"
  bin/settle gen --banks "$BANKS" --payments "$PAYMENTS" --date 2026-11-24 --out "$xday" --xml-every 3 >/dev/null
fi
xfiles=("$xday"/files/*.csv "$xday"/files/*.xml)
xmlonly=("$xday"/files/*.xml)
cat "${xfiles[@]}" >/dev/null
lax=.run/bench/settle-lax-e3c892f
if [ ! -x "$lax" ] && git cat-file -e e3c892f^{commit} 2>/dev/null; then
  rm -rf .run/bench/lax-src
  git worktree add -q --detach .run/bench/lax-src e3c892f &&
    (cd .run/bench/lax-src && go build -o "$OLDPWD/$lax" ./cmd/settle) || echo "bench: could not build the reader before the schema checker" >&2
  git worktree remove --force .run/bench/lax-src 2>/dev/null || true
fi
args=(net --format json --keys "$xday/keys" --members "$xday/members.txt" --caps "$xday/caps.csv")
mixed=$(measure bin/settle "${args[@]}" "${xfiles[@]}") || die "settle net over the day with XML failed (its output is above)"
xstrict=$(measure bin/settle "${args[@]}" "${xmlonly[@]}") || die "settle net over the XML files failed"
read -r mixed_s mixed_kb <<<"$mixed"
read -r xstrict_s xstrict_kb <<<"$xstrict"
xbytes=$(cat "${xmlonly[@]}" | wc -c)
echo "== a third of the files as pacs.008: ${#xmlonly[@]} of ${#xfiles[@]} files, $((xbytes / 1000000)) MB of XML"
printf '%-44s %8s s  %8s MB peak RSS\n' "settle net, the whole day" "$mixed_s" "$((mixed_kb / 1024))"
printf '%-44s %8s s  %8s MB peak RSS\n' "settle net, its XML files (strict reader)" "$xstrict_s" "$((xstrict_kb / 1024))"
if [ -x "$lax" ]; then
  xlax=$(measure "$lax" "${args[@]}" "${xmlonly[@]}") || die "the reader before the schema checker failed on the XML files"
  read -r xlax_s xlax_kb <<<"$xlax"
  printf '%-44s %8s s  %8s MB peak RSS\n' "the same XML, reader before the checker" "$xlax_s" "$((xlax_kb / 1024))"
  awk -v a="$xstrict_s" -v b="$xlax_s" 'BEGIN { if (b > 0) printf "strict reader / reader before it: %.2fx (goal: at most 1.3x)\n", a / b }'
fi
echo

echo "== testing.B benchmarks"
rc=0
go test -run='^$' -bench=. -benchmem -benchtime=${SETTLE_BENCH_TIME:-1x} -timeout 60m \
  ./settlement/... ./signature/... ./formats/... ./adapters/sftp/... ./intake/... ./reconciliation/... ./jobs/... ./ledger/fabric/... 2>&1 |
  tee .run/bench/go-test.txt | { grep -E '^(Benchmark|ok|FAIL|---)' || true; } || rc=$?
[ "$rc" -eq 0 ] || die "the testing.B benchmarks failed (exit $rc); their whole output is in .run/bench/go-test.txt"
for t in pg-bench fabric-bench; do
  if make -n "$t" >/dev/null 2>&1; then echo "== make $t"; make --no-print-directory "$t"; fi
done

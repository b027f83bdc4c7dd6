#!/usr/bin/env bash
# make bench: the testing.B benchmarks, and the issue's headline figure
# measured as an operator sees it: `settle net` over a generated day of
# 1,000,000 payments from 20 banks, beside sha256sum reading the same files
# (the floor: nothing can check a file faster than it can be hashed).
set -euo pipefail
cd "$(dirname "$0")/../.."
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
read -r floor_s floor_kb < <(measure sha256sum "${files[@]}")
read -r net_s net_kb < <(measure bin/settle net --format json --keys "$day/keys" --members "$day/members.txt" --caps "$day/caps.csv" "${files[@]}")

echo "== settle net: $PAYMENTS payments, $BANKS banks, $((bytes / 1000000)) MB of signed CSV, $(nproc) cores, best of $RUNS"
printf '%-44s %8s s  %8s MB peak RSS\n' "settle net (verify, parse, validate, net)" "$net_s" "$((net_kb / 1024))"
printf '%-44s %8s s  %8s MB peak RSS\n' "sha256sum of the same files (floor)" "$floor_s" "$((floor_kb / 1024))"
echo

echo "== testing.B benchmarks"
go test -run='^$' -bench=. -benchmem -benchtime=${SETTLE_BENCH_TIME:-1x} -timeout 60m \
  ./settlement/... ./adapters/signature/... ./adapters/formats/... ./adapters/sftp/... ./intake/... ./reconciliation/... ./jobs/... ./ledger/fabric/... 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)' || true
for t in pg-bench fabric-bench; do
  if make -n "$t" >/dev/null 2>&1; then echo "== make $t"; make --no-print-directory "$t"; fi
done

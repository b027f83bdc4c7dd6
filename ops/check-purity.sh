#!/usr/bin/env bash
# The domain packages import the standard library, shopspring/decimal and
# each other only: no database, broker, SFTP, Fabric or os.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
for pkg in ./settlement/... ./reconciliation/... ./approval/...; do
  [ -n "$(go list "$pkg" 2>/dev/null)" ] || continue
  for p in $(go list "$pkg"); do
    imports=$(go list -f '{{join .Imports "\n"}}' "$p")
    while read -r imp; do
      [ -z "$imp" ] && continue
      case "$imp" in
        settle/settlement*|settle/reconciliation*|settle/approval*|github.com/shopspring/decimal) ;;
        os|os/*|net|net/*|database/*|syscall) echo "$p imports $imp: the domain does no I/O"; bad=1 ;;
        *.*/*) echo "$p imports $imp: the domain imports only the standard library and decimal"; bad=1 ;;
      esac
    done <<<"$imports"
  done
done
# The pure layer (parsers, signatures, the intake check) sits under the
# domain and above nothing that talks to the outside world: the jobs, the
# chaincode and the service import it, it imports none of them.
for p in $(go list ./formats/... ./signature/... ./intake/...); do
  imports=$(go list -f '{{join .Imports "\n"}}' "$p")
  while read -r imp; do
    [ -z "$imp" ] && continue
    case "$imp" in
      settle/settlement*|settle/formats*|settle/signature*|settle/intake*) ;;
      settle/*) echo "$p imports $imp: the pure layer imports only the domain and itself"; bad=1 ;;
      net|net/*|database/*) echo "$p imports $imp: the pure layer does no network or database I/O"; bad=1 ;;
      github.com/shopspring/decimal|filippo.io/edwards25519) ;;
      *.*/*) echo "$p imports $imp: not an allowed dependency of the pure layer"; bad=1 ;;
    esac
  done <<<"$imports"
done
exit $bad

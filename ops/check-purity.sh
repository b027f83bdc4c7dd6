#!/usr/bin/env bash
# The layering of ARCHITECTURE.md, checked on every package's imports (not
# its tests'): a forbidden import fails `make lint`.
#
#   domain    settlement, reconciliation, approval: the standard library
#             (no I/O), shopspring/decimal and each other
#   support   failpoint (crash injection for tests): the standard library
#   pure      formats/..., signature, intake: the domain and themselves; no
#             network or database
#   jobs      jobs/...: the domain, the pure layer and its own ports; no
#             adapter, no ledger client, no network or database
#   adapters  adapters/..., ledger/fabric: implement the jobs' ports; they
#             import the layers above and adapters/journal, never each
#             other or cmd (one listed exception, to be removed)
#   cmd       cmd/...: wires everything; anything goes
#
# and one importer per heavy dependency (lib/pq, fabric-sdk-go, watermill,
# nats, pkg/sftp, prometheus). The chaincode, its own module, imports the
# domain and the pure layer, never the jobs, an adapter or the client.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
fail() { echo "$1 imports $2: $3"; bad=1; }

layer() {
  case "$1" in
    settle/settlement*|settle/reconciliation*|settle/approval*) echo domain ;;
    settle/failpoint*) echo support ;;
    settle/formats*|settle/signature*|settle/intake*) echo pure ;;
    settle/jobs*) echo jobs ;;
    settle/adapters/*|settle/ledger/fabric*) echo adapter ;;
    settle/sql/migrations*) echo migrations ;;
    settle/cmd/*|settle/e2e*|settle/ops*) echo cmd ;;
    *) echo other ;;
  esac
}

# heavy dependency -> the one package that may import it
owner() {
  case "$1" in
    github.com/lib/pq*) echo settle/adapters/postgres ;;
    github.com/hyperledger/fabric-sdk-go*|github.com/hyperledger/fabric-protos-go/*) echo settle/ledger/fabric ;;
    github.com/ThreeDotsLabs/*|github.com/nats-io/*) echo settle/adapters/events ;;
    github.com/pkg/sftp*) echo settle/adapters/sftp ;;
    github.com/prometheus/*) echo settle/adapters/httpapi ;;
  esac
}

# Known exceptions, each to be removed: the console reads rows typed by the
# Postgres adapter.
exception() {
  case "$1 $2" in
    "settle/adapters/console settle/adapters/postgres") return 0 ;;
    "settle/adapters/postgres/pgtest settle/adapters/postgres") return 0 ;; # a test harness
  esac
  return 1
}

# go list fails on an import cycle (a forbidden import, often): so does this.
graph=$(go list -f '{{.ImportPath}}: {{join .Imports " "}}' ./...)
while read -r p imports; do
  p=${p%:}
  from=$(layer "$p")
  for imp in $imports; do
    o=$(owner "$imp")
    if [ -n "$o" ] && [ "$p" != "$o" ]; then
      fail "$p" "$imp" "only $o imports it"
    fi
    to=$(layer "$imp")
    case "$from" in
      domain)
        case "$imp" in
          settle/*) [ "$to" = domain ] || fail "$p" "$imp" "the domain imports only itself" ;;
          github.com/shopspring/decimal) ;;
          os|os/*|net|net/*|database/*|syscall) fail "$p" "$imp" "the domain does no I/O" ;;
          *.*/*) fail "$p" "$imp" "the domain imports only the standard library and decimal" ;;
        esac ;;
      pure)
        case "$imp" in
          settle/*) case "$to" in domain|pure) ;; *) fail "$p" "$imp" "the pure layer imports only the domain and itself" ;; esac ;;
          net|net/*|database/*) fail "$p" "$imp" "the pure layer does no network or database I/O" ;;
          github.com/shopspring/decimal|filippo.io/edwards25519) ;;
          *.*/*) fail "$p" "$imp" "not an allowed dependency of the pure layer" ;;
        esac ;;
      support)
        case "$imp" in
          settle/*) fail "$p" "$imp" "support code imports nothing of the project" ;;
        esac ;;
      jobs)
        case "$imp" in
          settle/*) case "$to" in domain|pure|jobs|support) ;; *) fail "$p" "$imp" "the jobs declare ports; they import no adapter, client or command" ;; esac ;;
          net|net/*|database/*) fail "$p" "$imp" "the jobs reach the outside world through their ports" ;;
          github.com/shopspring/decimal|github.com/robfig/cron/v3) ;;
          *.*/*) fail "$p" "$imp" "not an allowed dependency of the jobs" ;;
        esac ;;
      adapter)
        case "$imp" in
          settle/adapters/journal) ;;
          settle/*)
            case "$to" in
              domain|pure|jobs|migrations|support) ;;
              *) exception "$p" "$imp" || fail "$p" "$imp" "an adapter imports the layers above it, never another adapter or cmd" ;;
            esac ;;
        esac ;;
    esac
  done
done <<<"$graph"

# The chaincode module.
if [ -d ledger/chaincode ]; then
  ccgraph=$(cd ledger/chaincode && go list -f '{{.ImportPath}}: {{join .Imports " "}}' ./...)
  while read -r p imports; do
    p=${p%:}
    for imp in $imports; do
      case "$imp" in
        settle/ledger/chaincode*) ;;
        settle/*) case "$(layer "$imp")" in domain|pure) ;; *) fail "$p" "$imp" "the chaincode imports only the domain and the pure layer" ;; esac ;;
        net|net/*|database/*) fail "$p" "$imp" "the chaincode does no I/O of its own" ;;
      esac
    done
  done <<<"$ccgraph"
fi
exit $bad

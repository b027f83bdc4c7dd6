# settle: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what they need on a fresh Debian machine (ops/deps.sh).
SHELL := /bin/bash
GO    ?= go
export GOFLAGS := -buildvcs=false

.PHONY: build deps lint test test-unit test-attack bench demo demo-offline clean FORCE

build: bin/settle

bin/settle: FORCE
	$(GO) build -o bin/settle ./cmd/settle

deps:
	ops/deps.sh

# Formatting, vet, and the rule that the domain packages stay pure.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	ops/check-purity.sh

# Fast tier: pure unit tests, no servers.
test-unit:
	$(GO) test -short -count=1 ./...

# The whole suite: unit tests; integration tests on a real Postgres, the real
# OpenSSH sftp client against the built-in server, a real nats-server and the
# real Fabric network (each harness starts its own: pgtest, ops/nats, ops/fabric);
# then the chaincode's own module and its network tests (fabric-test). When it
# ends, pass or fail, it stops what it started (ops/test-suite.sh says what);
# `make test KEEP=1` leaves this checkout's Postgres and the test networks up.
test: deps lint
	$(if $(KEEP),SETTLE_KEEP=1) GO="$(GO)" ops/test-suite.sh

# The attack suite of issue 12 alone (make test runs it too, within go test
# ./...): hostile and clumsy callers against the real SFTP server and
# intake, driven by OpenSSH's sftp on loopback, bounded in time and traffic.
test-attack:
	$(GO) test -count=1 -timeout 10m -run 'TestAttack|TestJailCannotBeLeft|TestOnlySFTPIsServed|TestBanksAreIsolated|TestSubmittedPairIsFrozen' ./adapters/sftp/ ./jobs/

bench: deps build
	ops/bench/run.sh

demo: deps build
	ops/demo-cycle.sh

# Validation and netting of a generated day, with no service running.
demo-offline: deps build
	ops/demo.sh

# Stops everything of this checkout's and removes its state: the demo's
# service, every Fabric network under ops/fabric/.network*, the Postgres
# cluster and its data (outside the checkout as root: ops/postgres/cluster.sh),
# then bin and .run. Another checkout's services are never touched.
clean:
	@if [ -f .run/demo/serve.pid ]; then kill "$$(cat .run/demo/serve.pid)" 2>/dev/null || true; fi
	@for n in ops/fabric/.network*; do [ -d "$$n" ] || continue; \
		FABRIC_NETWORK_DIR="$$PWD/$$n" ops/fabric/down.sh --clean || exit 1; done
	ops/postgres/down.sh --purge
	rm -rf bin .run

include ops/postgres/postgres.mk
include ops/fabric/fabric.mk

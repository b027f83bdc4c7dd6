# settle: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what they need on a fresh Debian machine (ops/deps.sh).
SHELL := /bin/bash
GO    ?= go
export GOFLAGS := -buildvcs=false

.PHONY: build deps lint test test-unit bench demo demo-offline clean FORCE

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
# then the chaincode's own module and its network tests (fabric-test).
test: deps lint
	$(GO) test -count=1 -timeout 45m ./...
	$(MAKE) --no-print-directory fabric-test

bench: deps build
	ops/bench/run.sh

demo: deps build
	ops/demo-cycle.sh

# Validation and netting of a generated day, with no service running.
demo-offline: deps build
	ops/demo.sh

clean:
	rm -rf bin .run
	ops/fabric/down.sh --clean || true
	ops/postgres/down.sh || true

include ops/postgres/postgres.mk
include ops/fabric/fabric.mk

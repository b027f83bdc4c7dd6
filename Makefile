# settle: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what they need on a fresh Debian machine (ops/deps.sh).
SHELL := /bin/bash
GO    ?= go
export GOFLAGS := -buildvcs=false

.PHONY: build deps lint test test-unit bench demo clean FORCE

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

# The whole suite: unit, real Postgres, real OpenSSH sftp client against the
# built-in server, and the real Fabric network; each harness starts its own.
test: deps lint
	$(GO) test -count=1 ./...

bench: deps build
	ops/bench/run.sh

demo: deps build
	ops/demo.sh

clean:
	rm -rf bin .run

-include ops/postgres/postgres.mk
-include ops/fabric/fabric.mk

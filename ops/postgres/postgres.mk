# ops/postgres/postgres.mk: the throwaway Postgres of this checkout, and the
# store's integration tests and benchmark. Included by the root Makefile;
# paths are relative to the repository root.
#
#   make pg-up      start the cluster (fsync on unless PGFSYNC_SETTLE=off)
#   make pg-down    stop it
#   make pg-test    start it if needed (fsync off) and run the store's tests
#   make pg-bench   start it if needed (fsync on) and run the ingest benchmark
#
# With DATABASE_URL set, pg-test and pg-bench use that server instead.

PG_SCRIPTS     := ops/postgres
PG_TEST_PKGS   := ./adapters/postgres/... ./sql/migrations/...
PG_TEST_FLAGS  ?= -count=1 -timeout 15m
PG_BENCH_FLAGS ?= -run '^$$' -bench 'BenchmarkIngest' -benchtime 1x -count 1 -timeout 60m

.PHONY: pg-up pg-down pg-test pg-bench

pg-up:
	@$(PG_SCRIPTS)/up.sh

pg-down:
	@$(PG_SCRIPTS)/down.sh

pg-test:
	@if [ -n "$$DATABASE_URL" ]; then url="$$DATABASE_URL"; else \
		url=$$(PGFSYNC_SETTLE=$${PGFSYNC_SETTLE:-off} $(PG_SCRIPTS)/up.sh | sed -n "s/^export DATABASE_URL='\(.*\)'$$/\1/p"); fi; \
	DATABASE_URL="$$url" go test $(PG_TEST_FLAGS) $(PG_TEST_PKGS)

pg-bench:
	@if [ -n "$$DATABASE_URL" ]; then url="$$DATABASE_URL"; else \
		url=$$(PGFSYNC_SETTLE=on $(PG_SCRIPTS)/up.sh | sed -n "s/^export DATABASE_URL='\(.*\)'$$/\1/p"); fi; \
	DATABASE_URL="$$url" go test $(PG_BENCH_FLAGS) ./adapters/postgres/

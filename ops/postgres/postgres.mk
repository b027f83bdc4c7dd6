# ops/postgres/postgres.mk: the throwaway Postgres of this checkout, and the
# store's integration tests and benchmark. Included by the root Makefile;
# paths are relative to the repository root. Where the cluster's data lives
# (as root outside the checkout) is in ops/postgres/cluster.sh.
#
#   make pg-up      start the cluster (fsync on unless PGFSYNC_SETTLE=off);
#                   prints its DATABASE_URL
#   make pg-status  whether it runs, its port and data directory
#   make pg-down    stop it; `make pg-down PURGE=1` also removes its data
#   make pg-test    start it if needed (fsync off) and run the store's tests
#   make pg-bench   start it if needed (fsync on) and run the ingest benchmark
#
# With DATABASE_URL set, pg-test and pg-bench use that server instead.

PG_SCRIPTS     := ops/postgres
PG_TEST_PKGS   := ./adapters/postgres/... ./sql/migrations/...
PG_TEST_FLAGS  ?= -count=1 -timeout 15m
PG_BENCH_FLAGS ?= -run '^$$' -bench 'BenchmarkIngest' -benchtime 1x -count 1 -timeout 60m

.PHONY: pg-up pg-down pg-status pg-test pg-bench

pg-up:
	@$(PG_SCRIPTS)/up.sh

pg-down:
	@$(PG_SCRIPTS)/down.sh $(if $(PURGE),--purge)

pg-status:
	@$(PG_SCRIPTS)/status.sh || true

# up.sh's failure stops the target (its message says why); its one stdout
# line is `export DATABASE_URL='...'`.
pg-test:
	@if [ -z "$$DATABASE_URL" ]; then \
		env=$$(PGFSYNC_SETTLE=$${PGFSYNC_SETTLE:-off} $(PG_SCRIPTS)/up.sh) || exit 1; eval "$$env"; fi; \
	go test $(PG_TEST_FLAGS) $(PG_TEST_PKGS)

pg-bench:
	@if [ -z "$$DATABASE_URL" ]; then \
		env=$$(PGFSYNC_SETTLE=on $(PG_SCRIPTS)/up.sh) || exit 1; eval "$$env"; fi; \
	go test $(PG_BENCH_FLAGS) ./adapters/postgres/

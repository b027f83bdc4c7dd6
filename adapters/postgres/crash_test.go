package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"settle/adapters/postgres"
	"settle/settlement"
)

// TestCrashMidIngest kills the ingesting backend from another connection
// while COPY streams: nothing of the file may remain, and the same file
// can then be ingested whole.
func TestCrashMidIngest(t *testing.T) {
	f := newFixture(t)
	c := f.cycle("2026-11-24")
	const total, killAt = 200_000, 60_000
	es := make([]*settlement.Entry, total)
	for i := range es {
		es[i] = pay(i+2, fmt.Sprintf("P%d", i), bankA, bankB, "100")
	}
	fr, _ := file(bankA, "BIG", c, es[:10]...)
	fr.Entries = total
	killed := 0
	stream := func(kill bool) postgres.Entries {
		return func(yield func(*settlement.Entry) bool) error {
			for i, e := range es {
				if kill && i == killAt {
					// Wait until the server is inside the COPY, then kill it.
					deadline := time.Now().Add(10 * time.Second)
					for killed == 0 && time.Now().Before(deadline) {
						if err := f.s.DB().QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
							WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'COPY%'`).Scan(&killed); err != nil {
							t.Error(err)
							return nil
						}
						if killed == 0 {
							time.Sleep(10 * time.Millisecond)
						}
					}
				}
				if !yield(e) {
					return nil
				}
			}
			return nil
		}
	}
	_, err := f.s.IngestFile(context.Background(), fr, stream(true))
	if killed != 1 {
		t.Fatalf("killed %d backends", killed)
	}
	if err == nil {
		t.Fatal("ingest succeeded across a killed backend")
	}
	t.Logf("ingest failed as it should: %v", err)
	if n := f.count(`SELECT count(*) FROM payments`); n != 0 {
		t.Fatalf("%d payments remain after the crash", n)
	}
	if n := f.count(`SELECT count(*) FROM files`); n != 0 {
		t.Fatalf("%d file rows remain after the crash", n)
	}
	r := f.ingest(fr, stream(false))
	if r.Status != postgres.Accepted || r.Entries != total {
		t.Fatalf("retry: %+v", r)
	}
	if n := f.count(`SELECT count(*) FROM payments`); n != total {
		t.Fatalf("%d payments after the retry", n)
	}
}

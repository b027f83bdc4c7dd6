package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"settle/jobs"
)

// TestFollowLedgerResumesFromCheckpoint: events are recorded once each in
// Postgres with their checkpoint; a broken stream reconnects from the
// checkpoint (its block is delivered again and not recorded twice).
func TestFollowLedgerResumesFromCheckpoint(t *testing.T) {
	w := newPostgresWorld(t)
	events := []jobs.LedgerEvent{
		{Block: 10, TxID: "tx-a", Name: "CycleSettled", Cycle: "C2026-11-24", Payload: []byte(`{"cycleId":"C2026-11-24"}`)},
		{Block: 12, TxID: "tx-b", Name: "CycleSettled", Cycle: "C2026-11-25"},
		{Block: 12, TxID: "tx-c", Name: "CycleSettled", Cycle: "C2026-11-26"},
	}
	var froms []uint64
	calls := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	listen := func(ctx context.Context, from uint64, fn func(jobs.LedgerEvent) error) error {
		froms = append(froms, from)
		calls++
		for _, e := range events {
			if e.Block < from {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
			if calls == 1 && e.TxID == "tx-b" {
				return fmt.Errorf("%w: stream closed", jobs.ErrLedgerUnavailable) // break after tx-b
			}
		}
		cancel() // the second stream delivered everything
		return ctx.Err()
	}
	seen := 0
	if err := jobs.FollowLedger(ctx, "cycle-settled", listen, w.pgJobs, w.quiet, func(jobs.LedgerEvent) { seen++ }); err != nil {
		t.Fatal(err)
	}
	if len(froms) != 2 || froms[0] != 0 || froms[1] != 12 {
		t.Fatalf("resumed from %v, want [0 12]", froms)
	}
	var n int
	w.pgJobs.DB().QueryRowContext(w.ctx, `SELECT count(*) FROM ledger_events`).Scan(&n)
	if n != 3 || seen != 4 { // tx-b delivered twice, recorded once
		t.Fatalf("%d events recorded (%d seen)", n, seen)
	}
	b, ok, err := w.pgJobs.LedgerCheckpoint(w.ctx, "cycle-settled")
	if err != nil || !ok || b != 12 {
		t.Fatalf("checkpoint %d %v %v", b, ok, err)
	}
	if _, err := w.pgJobs.DB().ExecContext(w.ctx, `DELETE FROM ledger_events`); err == nil {
		t.Fatal("ledger events must be append-only")
	}
}

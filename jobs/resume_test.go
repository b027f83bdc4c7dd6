package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"settle/jobs"
	"settle/settlement"
)

// TestResumerCarriesOnAfterTheLedgerReturns: day 1 stops half-recorded
// with the ledger down; day 2 holds a reversal of a day-1 payment. A pass
// while the ledger is down leaves day 1 to the next pass and holds day 2
// for the operator. Once the ledger is back, a pass finishes day 1 with
// nobody acting; day 2 stays held until the operator runs it; then passes
// find nothing to do.
func TestResumerCarriesOnAfterTheLedgerReturns(t *testing.T) {
	w := newWorld(t)
	const d1, d2 = settlement.Date("2026-11-24"), settlement.Date("2026-11-25")
	day1 := w.day(d1, 30)
	w.intake.Collect(w.ctx)
	w.ledger.FailAfter = 1
	if _, err := w.pipeline().Run(w.ctx, d1); !errors.Is(err, jobs.ErrLedgerUnavailable) {
		t.Fatalf("day 1 with the ledger down: %v", err)
	}
	w.now = w.now.AddDate(0, 0, 1)
	orig := day1[0][0]
	w.upload(0, "rev.csv", w.reversalFile(0, orig, "AM05"))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("reversal intake: %+v %v", c, err)
	}
	if err := w.pipeline().Step(w.ctx, d2, settlement.StageFrozen); err != nil {
		t.Fatal(err)
	}

	r := &jobs.Resumer{P: w.pipeline(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Cycles: func(ctx context.Context) ([]settlement.Cycle, error) {
			var out []settlement.Cycle
			for _, d := range []settlement.Date{d2, d1} { // newest first, as the store lists them
				c, _, err := w.store.Cycle(ctx, d)
				if err != nil {
					return nil, err
				}
				out = append(out, c)
			}
			return out, nil
		},
	}
	held := func() (out []string) {
		for _, e := range w.published(jobs.TopicCycleHeld) {
			out = append(out, e.Cycle+" "+string(e.Stage.Prev()))
		}
		return out
	}
	stage := func(d settlement.Date) settlement.Stage {
		c, _, _ := w.store.Cycle(w.ctx, d)
		return c.Stage
	}
	done, err := r.Pass(w.ctx)
	if err != nil || len(done) != 0 || stage(d1) != settlement.StageNetted {
		t.Fatalf("pass with the ledger down: finished %v, %v, day 1 at %s", done, err, stage(d1))
	}
	if fmt.Sprint(held()) != "[C2026-11-25 FROZEN]" {
		t.Fatalf("held %v; want day 2, frozen, waiting for day 1", held())
	}

	w.ledger.FailAfter = 0                                           // the peers are back
	r = &jobs.Resumer{P: w.pipeline(), Log: r.Log, Cycles: r.Cycles} // the hold is the store's: a restarted service keeps it
	done, err = r.Pass(w.ctx)
	if err != nil || fmt.Sprint(done) != "[C2026-11-24]" || stage(d1) != settlement.StageReported {
		t.Fatalf("pass with the ledger back: finished %v, %v, day 1 at %s", done, err, stage(d1))
	}
	if stage(d2) != settlement.StageFrozen || len(held()) != 1 {
		t.Fatalf("day 2 at %s, held %v: a held cycle waits for the operator", stage(d2), held())
	}
	if _, err := w.pipeline().Run(w.ctx, d2); err != nil {
		t.Fatalf("the operator runs day 2: %v", err)
	}
	if done, err := r.Pass(w.ctx); err != nil || len(done) != 0 {
		t.Fatalf("a pass with nothing unfinished: %v %v", done, err)
	}
	if writes, payments := w.ledger.Count(); payments != 31 {
		t.Fatalf("ledger: %d writes, %d payments; want every payment once", writes, payments)
	}
}

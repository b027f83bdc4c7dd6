package jobs

import (
	"context"
	"errors"
	"log/slog"
	"sort"

	"settle/settlement"
)

// Resumer carries on, without an operator, the cycles a passing failure
// stopped: the ledger or the database down for longer than the broker's
// retries, or a crash between two steps. Each pass runs every unfinished
// cycle past its cut-off (FROZEN to RECONCILED), oldest first, as far as
// it goes, except those held for an operator at the stage they are at
// (the hold is the cycle's recorded attempt: whoever made it, the
// service, another instance or an operator's run, a pass leaves it).
type Resumer struct {
	P *Pipeline
	// Cycles lists the recent cycles (newest first is fine).
	Cycles func(ctx context.Context) ([]settlement.Cycle, error)
	Log    *slog.Logger
}

// Pass runs one pass and returns the cycles it moved to the end.
func (r *Resumer) Pass(ctx context.Context) (finished []string, err error) {
	cycles, err := r.Cycles(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(cycles, func(i, j int) bool { return cycles[i].BusinessDate < cycles[j].BusinessDate })
	for _, c := range cycles {
		if c.Stage == settlement.StageOpen || c.Stage.Next() == "" {
			continue
		}
		if err := r.carryOn(ctx, c.BusinessDate); err != nil {
			if ctx.Err() != nil {
				return finished, ctx.Err()
			}
			switch {
			case NeedsOperator(err):
				// Held: recorded (and announced) with the attempt, or
				// held already; the operator runs it.
			case errors.Is(err, ErrBusy):
				// Another instance is on it.
			default:
				now, _, cerr := r.P.Store.Cycle(ctx, c.BusinessDate)
				if cerr != nil {
					return finished, cerr
				}
				r.Log.Warn("resuming a cycle failed; next pass tries again", "cycle", c.ID, "stage", now.Stage, "err", err)
			}
			continue
		}
		finished = append(finished, c.ID)
	}
	return finished, nil
}

// carryOn steps the cycle to its end, giving up at the first failure
// (Run would wait for a busy cycle; a pass moves on).
func (r *Resumer) carryOn(ctx context.Context, date settlement.Date) error {
	for range settlement.Stages {
		c, ok, err := r.P.Store.Cycle(ctx, date)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoCycle
		}
		next := c.Stage.Next()
		if next == "" {
			return nil
		}
		if err := r.P.StepUnlessHeld(ctx, date, next); err != nil {
			return err
		}
	}
	return nil
}

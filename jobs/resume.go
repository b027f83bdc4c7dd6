package jobs

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"

	"settle/settlement"
)

// Holds are the cycles held for an operator, each at the stage it stopped
// at. A cycle that has moved on (the operator ran it) is no longer held.
type Holds struct {
	mu sync.Mutex
	m  map[settlement.Date]settlement.Stage
}

// Hold records that the cycle of date waits for an operator at stage.
func (h *Holds) Hold(date settlement.Date, stage settlement.Stage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[settlement.Date]settlement.Stage{}
	}
	h.m[date] = stage
}

// Held tells whether the cycle of date, now at stage, waits for an operator.
func (h *Holds) Held(date settlement.Date, stage settlement.Stage) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.m[date]
	return ok && s == stage
}

// Resumer carries on, without an operator, the cycles a passing failure
// stopped: the ledger or the database down for longer than the broker's
// retries, or a crash between two steps. Each pass runs every unfinished
// cycle past its cut-off (FROZEN to RECONCILED), oldest first, as far as
// it goes, except those held for an operator at the stage they are at.
type Resumer struct {
	P *Pipeline
	// Cycles lists the recent cycles (newest first is fine).
	Cycles func(ctx context.Context) ([]settlement.Cycle, error)
	Holds  *Holds
	// Held is told of a cycle this pass found needing an operator.
	Held func(c settlement.Cycle, err error)
	Log  *slog.Logger
}

// Pass runs one pass and returns the cycles it moved to the end.
func (r *Resumer) Pass(ctx context.Context) (finished []string, err error) {
	cycles, err := r.Cycles(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(cycles, func(i, j int) bool { return cycles[i].BusinessDate < cycles[j].BusinessDate })
	for _, c := range cycles {
		if c.Stage == settlement.StageOpen || c.Stage.Next() == "" || r.Holds.Held(c.BusinessDate, c.Stage) {
			continue
		}
		if err := r.carryOn(ctx, c.BusinessDate); err != nil {
			if ctx.Err() != nil {
				return finished, ctx.Err()
			}
			now, _, cerr := r.P.Store.Cycle(ctx, c.BusinessDate)
			switch {
			case cerr != nil:
				return finished, cerr
			case NeedsOperator(err):
				r.Holds.Hold(c.BusinessDate, now.Stage)
				if r.Held != nil {
					r.Held(now, err)
				}
			case errors.Is(err, ErrBusy):
				// Another instance is on it.
			default:
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
		if err := r.P.Step(ctx, date, next); err != nil {
			return err
		}
	}
	return nil
}

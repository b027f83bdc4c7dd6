package postgres

// Test-only helpers: the first cycle store, kept for the tests that open
// several cycles of one date or force a state; the service moves cycles
// only through JobStore.UpdateCycle.

import (
	"context"
	"fmt"
	"time"

	"settle/settlement"
)

// Cycle states, in the order a cycle goes through them (FAILED from any).
const (
	CycleClosed     = "CLOSED"
	CycleNetted     = "NETTED"
	CycleSettled    = "SETTLED"
	CycleReconciled = "RECONCILED"
	CycleFailed     = "FAILED"
)

// Cycle is one settlement cycle of a business date.
type Cycle struct {
	ID           int64
	BusinessDate settlement.Date
	Seq          int
	State        string
	OpenedAt     time.Time
}

// OpenCycle starts the next cycle of a business date.
func (s *Store) OpenCycle(ctx context.Context, date settlement.Date) (Cycle, error) {
	if _, err := settlement.ParseDate(string(date)); err != nil {
		return Cycle{}, err
	}
	for attempt := 0; ; attempt++ {
		var c Cycle
		var d time.Time
		err := s.db.QueryRowContext(ctx, `INSERT INTO cycles (business_date, seq)
			SELECT $1::date, coalesce(max(seq), 0) + 1 FROM cycles WHERE business_date = $1::date
			RETURNING id, business_date, seq, state, opened_at`, string(date)).
			Scan(&c.ID, &d, &c.Seq, &c.State, &c.OpenedAt)
		if sqlState(err) == codeUniqueViolation && attempt < 3 {
			continue // another instance opened one at the same moment
		}
		c.BusinessDate = settlement.Date(d.Format(time.DateOnly))
		return c, err
	}
}

// SetCycleState moves a cycle to state and stamps the matching time.
// The order of states is the cycle job's business; this only records it.
func (s *Store) SetCycleState(ctx context.Context, id int64, state string) error {
	col := map[string]string{CycleClosed: "closed_at", CycleNetted: "netted_at", CycleSettled: "settled_at",
		CycleReconciled: "reconciled_at", CycleFailed: "failed_at"}[state]
	if col == "" {
		return fmt.Errorf("cycle state %q cannot be set", state)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE cycles SET state = $2, `+col+` = now() WHERE id = $1`, id, state)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("cycle %d: %w", id, ErrNoCycle)
	}
	return nil
}

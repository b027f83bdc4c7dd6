package settlement

import (
	"errors"
	"fmt"
	"time"
)

// Stage is where a cycle stands in the nightly pipeline. Stages only move
// forward, one step at a time; each step is the durable record that the
// work before it is complete, so a restart resumes at the first step not
// recorded and never redoes one that was.
type Stage string

const (
	StageOpen       Stage = "OPEN"       // accepting files for its business date
	StageFrozen     Stage = "FROZEN"     // cut-off passed: its set of files is final
	StageNetted     Stage = "NETTED"     // positions and obligations computed and stored
	StageRecorded   Stage = "RECORDED"   // every payment written to the ledger in chunks
	StageSettled    Stage = "SETTLED"    // the ledger accepted the positions: final
	StageReconciled Stage = "RECONCILED" // compared against the ledger; breaks recorded
	StageReported   Stage = "REPORTED"   // reports in every bank's outbox
)

// Stages in order.
var Stages = []Stage{StageOpen, StageFrozen, StageNetted, StageRecorded, StageSettled, StageReconciled, StageReported}

// ErrStage reports a transition the state machine does not allow.
var ErrStage = errors.New("cycle stage transition not allowed")

func (s Stage) index() int {
	for i, st := range Stages {
		if st == s {
			return i
		}
	}
	return -1
}

// Valid tells a known stage.
func (s Stage) Valid() bool { return s.index() >= 0 }

// Before tells whether s comes before t.
func (s Stage) Before(t Stage) bool { return s.index() < t.index() }

// Next is the stage after s, or "" after the last.
func (s Stage) Next() Stage {
	i := s.index()
	if i < 0 || i+1 >= len(Stages) {
		return ""
	}
	return Stages[i+1]
}

// Prev is the stage before s, or "" before the first.
func (s Stage) Prev() Stage {
	i := s.index()
	if i < 1 {
		return ""
	}
	return Stages[i-1]
}

// Cycle is one business day's settlement.
type Cycle struct {
	ID           string // "C" + business date, e.g. C2026-11-24
	BusinessDate Date
	Stage        Stage
	StageAt      time.Time
	Files        int64
	Entries      int64
}

// CycleID names the cycle of a business date.
func CycleID(d Date) string { return "C" + string(d) }

// DateOfCycle is the business date a cycle id names: the inverse of CycleID.
func DateOfCycle(id string) (Date, error) {
	if len(id) < 2 || id[0] != 'C' {
		return "", fmt.Errorf("cycle id %q: want C and a date, e.g. C2026-11-24", id)
	}
	return ParseDate(id[1:])
}

// NewCycle opens the cycle of a business date.
func NewCycle(d Date, now time.Time) Cycle {
	return Cycle{ID: CycleID(d), BusinessDate: d, Stage: StageOpen, StageAt: now}
}

// Advance moves the cycle to stage to, which must be the next one and
// whose precondition (Precondition) must hold on the facts f. Moving to the
// stage it already has is a no-op (a resumed run re-announcing a step it
// finished), and reports false. It is the only way a cycle changes stage:
// the store runs it inside its transaction (UpdateCycle) and saves what it
// decided.
func (c *Cycle) Advance(to Stage, now time.Time, f Facts) (bool, error) {
	if !to.Valid() {
		return false, fmt.Errorf("%w: unknown stage %q", ErrStage, to)
	}
	if c.Stage == to {
		return false, nil
	}
	if c.Stage.Next() != to {
		return false, fmt.Errorf("%w: %s is %s, cannot go to %s", ErrStage, c.ID, c.Stage, to)
	}
	if err := Precondition(to, f); err != nil {
		return false, err
	}
	c.Stage, c.StageAt = to, now
	return true, nil
}

// Accepting tells whether the cycle still takes files.
func (c *Cycle) Accepting() bool { return c.Stage == StageOpen }

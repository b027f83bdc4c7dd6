// Package storetest is the contract of the store's ports: one suite a port
// (RunCycleStore, RunIntakeStore, RunReconcileStore, RunPipelineStore,
// RunResolutionStore, RunFileLister), each run on every implementation (memstore, and Postgres
// in adapters/postgres), so the in-memory store the jobs' tests may use
// behaves as the real one.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"settle/jobs"
	"settle/settlement"
)

// Subject is one implementation under test, fresh for each test.
type Subject struct {
	Store jobs.CycleStore
	// Events are the events the store wrote to its outbox so far.
	Events func() []jobs.Event
}

// now is the suite's clock for the domain's moves.
var now = time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)

// advance is the pipeline's update: the domain moves the cycle to to on
// facts f, and the move is announced.
func advance(to settlement.Stage, f settlement.Facts) func(*settlement.Cycle, jobs.CycleTx) ([]jobs.Event, error) {
	return func(c *settlement.Cycle, _ jobs.CycleTx) ([]jobs.Event, error) {
		moved, err := c.Advance(to, now, f)
		if err != nil || !moved {
			return nil, err
		}
		return []jobs.Event{jobs.NewEvent("settle.cycle."+strings.ToLower(string(to)), c.BusinessDate, now)}, nil
	}
}

// RunCycleStore runs the contract on fresh subjects from open.
func RunCycleStore(t *testing.T, open func(t *testing.T) Subject) {
	for _, c := range []struct {
		name string
		test func(*testing.T, Subject)
	}{
		{"EnsureCycleOpensOnce", testEnsureCycleOpensOnce},
		{"UpdateCycleUnknown", testUpdateCycleUnknown},
		{"UpdateCycleSavesTheMoveAndItsEvent", testUpdateCycleSavesTheMoveAndItsEvent},
		{"UpdateCycleRefusedKeepsNothing", testUpdateCycleRefusedKeepsNothing},
		{"UpdateCycleSerialises", testUpdateCycleSerialises},
		{"Failures", testFailures},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open(t)) })
	}
}

// day is the business date the contract works on.
const day = settlement.Date("2026-11-24")

func testEnsureCycleOpensOnce(t *testing.T, s Subject) {
	ctx := context.Background()
	if _, ok, err := s.Store.Cycle(ctx, day); err != nil || ok {
		t.Fatalf("before: ok %v, err %v", ok, err)
	}
	c, err := s.Store.EnsureCycle(ctx, day)
	if err != nil || c.Stage != settlement.StageOpen || c.ID != "C2026-11-24" || c.BusinessDate != day {
		t.Fatalf("opened: %+v %v", c, err)
	}
	mustAdvance(t, s, day, settlement.StageFrozen)
	again, err := s.Store.EnsureCycle(ctx, day)
	if err != nil || again.Stage != settlement.StageFrozen {
		t.Fatalf("ensure again must not reopen: %+v %v", again, err)
	}
	if _, err := s.Store.EnsureCycle(ctx, "2026-13-01"); err == nil {
		t.Fatal("a bad date opened a cycle")
	}
}

func testUpdateCycleUnknown(t *testing.T, s Subject) {
	ctx := context.Background()
	called := false
	err := s.Store.UpdateCycle(ctx, day, func(*settlement.Cycle, jobs.CycleTx) ([]jobs.Event, error) { called = true; return nil, nil })
	if !errors.Is(err, jobs.ErrNoCycle) || called {
		t.Fatalf("update of no cycle: %v, called %v", err, called)
	}
}

func testUpdateCycleSavesTheMoveAndItsEvent(t *testing.T, s Subject) {
	ctx := context.Background()
	s.Store.EnsureCycle(ctx, day)
	before := len(s.Events())
	var seen settlement.Stage
	err := s.Store.UpdateCycle(ctx, day, func(c *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		seen = c.Stage
		return advance(settlement.StageFrozen, settlement.Facts{})(c, tx)
	})
	if err != nil || seen != settlement.StageOpen {
		t.Fatalf("update: %v, saw %s", err, seen)
	}
	c, ok, err := s.Store.Cycle(ctx, day)
	if err != nil || !ok || c.Stage != settlement.StageFrozen {
		t.Fatalf("after: %+v %v %v", c, ok, err)
	}
	// The move's time is the caller's clock (given to Cycle.Advance), not
	// the store's.
	if !c.StageAt.Equal(now) {
		t.Fatalf("stage time %s, want the caller's %s", c.StageAt, now)
	}
	evs := s.Events()[before:]
	if len(evs) != 1 || evs[0].Topic != jobs.TopicCycleFrozen || evs[0].Date != day {
		t.Fatalf("events: %+v", evs)
	}
	// The same move again is the domain's no-op: nothing saved, nothing announced.
	if err := s.Store.UpdateCycle(ctx, day, advance(settlement.StageFrozen, settlement.Facts{})); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Events()) - before; n != 1 {
		t.Fatalf("a no-op announced something: %d events", n)
	}
}

func testUpdateCycleRefusedKeepsNothing(t *testing.T, s Subject) {
	ctx := context.Background()
	s.Store.EnsureCycle(ctx, day)
	mustAdvance(t, s, day, settlement.StageFrozen)
	before := len(s.Events())
	// A move the domain refuses (a waiting reversal), one it forbids
	// (skipping a stage), and one the update fails after moving.
	pending := settlement.Facts{Pending: []settlement.PendingReversal{{Sender: "BANKAAAA", ID: "R1", Original: "P1", OriginalCycle: "2026-11-23"}}}
	if err := s.Store.UpdateCycle(ctx, day, advance(settlement.StageNetted, pending)); !errors.Is(err, settlement.ErrOriginalPending) {
		t.Fatalf("refused: %v", err)
	}
	if err := s.Store.UpdateCycle(ctx, day, advance(settlement.StageRecorded, settlement.Facts{})); !errors.Is(err, settlement.ErrStage) {
		t.Fatalf("skip: %v", err)
	}
	boom := errors.New("work failed")
	err := s.Store.UpdateCycle(ctx, day, func(c *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		if _, err := advance(settlement.StageNetted, settlement.Facts{})(c, tx); err != nil {
			return nil, err
		}
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed work: %v", err)
	}
	// A move with nothing to announce it is refused by the store.
	err = s.Store.UpdateCycle(ctx, day, func(c *settlement.Cycle, _ jobs.CycleTx) ([]jobs.Event, error) {
		_, err := c.Advance(settlement.StageNetted, now, settlement.Facts{})
		return nil, err
	})
	if err == nil {
		t.Fatal("a silent move was saved")
	}
	if c, _, _ := s.Store.Cycle(ctx, day); c.Stage != settlement.StageFrozen {
		t.Fatalf("stage after refusals: %s", c.Stage)
	}
	if n := len(s.Events()) - before; n != 0 {
		t.Fatalf("refusals announced %d events", n)
	}
}

func testUpdateCycleSerialises(t *testing.T, s Subject) {
	ctx := context.Background()
	s.Store.EnsureCycle(ctx, day)
	// Each update moves the cycle one stage on from where it finds it:
	// under the store's lock, n updates make n moves, none lost.
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Store.UpdateCycle(ctx, day, func(c *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
				next := c.Stage.Next()
				time.Sleep(10 * time.Millisecond) // widen the window a lost update needs
				return advance(next, settlement.Facts{})(c, tx)
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c, _, _ := s.Store.Cycle(ctx, day); c.Stage != settlement.Stages[n] {
		t.Fatalf("after %d concurrent moves: %s, want %s", n, c.Stage, settlement.Stages[n])
	}
}

func testFailures(t *testing.T, s Subject) {
	ctx := context.Background()
	if err := s.Store.StepFailed(ctx, day, settlement.StageFrozen, errors.New("x"), false); !errors.Is(err, jobs.ErrNoCycle) {
		t.Fatalf("failure of no cycle: %v", err)
	}
	s.Store.EnsureCycle(ctx, day)
	if _, ok, err := s.Store.LastFailure(ctx, day); err != nil || ok {
		t.Fatalf("none yet: %v %v", ok, err)
	}
	before := len(s.Events())
	if err := s.Store.StepFailed(ctx, day, settlement.StageFrozen, errors.New("passing"), false); err != nil {
		t.Fatal(err)
	}
	first, ok, err := s.Store.LastFailure(ctx, day)
	if err != nil || !ok || first.Held || first.Err != "passing" || first.To != settlement.StageFrozen || first.Actor == "" {
		t.Fatalf("first: %+v %v %v", first, ok, err)
	}
	if n := len(s.Events()) - before; n != 0 {
		t.Fatalf("a passing failure announced %d events", n)
	}
	long := strings.Repeat("é", 3000) // 6000 bytes
	if err := s.Store.StepFailed(ctx, day, settlement.StageFrozen, fmt.Errorf("held: %w: %s", settlement.ErrCapBreach, long), true); err != nil {
		t.Fatal(err)
	}
	second, _, _ := s.Store.LastFailure(ctx, day)
	if second.ID <= first.ID || !second.Held || len(second.Err) > 4000 || !strings.HasPrefix(second.Err, "held: net debit cap exceeded") {
		t.Fatalf("second: id %d after %d, held %v, %d bytes", second.ID, first.ID, second.Held, len(second.Err))
	}
	if !second.HoldsAt(settlement.StageOpen) {
		t.Fatal("a hold at FROZEN does not hold an open cycle")
	}
	evs := s.Events()[before:]
	if len(evs) != 1 || evs[0].Topic != jobs.TopicCycleHeld || evs[0].Stage != settlement.StageFrozen || evs[0].Note != second.Err {
		t.Fatalf("held event: %+v", evs)
	}
}

func mustAdvance(t *testing.T, s Subject, d settlement.Date, to settlement.Stage) {
	t.Helper()
	if err := s.Store.UpdateCycle(context.Background(), d, advance(to, settlement.Facts{})); err != nil {
		t.Fatalf("advance to %s: %v", to, err)
	}
}

package postgres_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/jobs"
	"settle/jobs/storetest"
	"settle/settlement"
)

// TestCycleStoreContract runs jobs.CycleStore's contract, the one memstore
// passes, on a real Postgres.
func TestCycleStoreContract(t *testing.T) {
	storetest.RunCycleStore(t, func(t *testing.T) storetest.Subject {
		s, _ := pgtest.NewStore(t)
		var mu sync.Mutex
		var events []jobs.Event
		j := s.Jobs(func(_ context.Context, _ *sql.Tx, e jobs.Event) error {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
			return nil
		}, "contract")
		return storetest.Subject{Store: j, Events: func() []jobs.Event {
			mu.Lock()
			defer mu.Unlock()
			return append([]jobs.Event(nil), events...)
		}}
	})
}

// TestIntakeStoreContract runs jobs.IntakeStore's contract, the one
// memstore passes, on a real Postgres.
func TestIntakeStoreContract(t *testing.T) {
	storetest.RunIntakeStore(t, func(t *testing.T) storetest.IntakeSubject {
		s, _ := pgtest.NewStore(t)
		j := s.Jobs(nil, "contract")
		ctx := context.Background()
		return storetest.IntakeSubject{Store: j, Cycles: j, Files: j,
			AddBank: func(b settlement.BIC) error { return s.AddBank(ctx, postgres.Bank{BIC: b, Name: string(b)}) },
			AddKey: func(k storetest.Key) error {
				return s.AddKey(ctx, postgres.BankKey{Bank: k.Bank, Label: k.Label, PEM: k.PEM, ValidFrom: k.ValidFrom, ValidTo: k.ValidTo})
			},
			AcknowledgedAt: func(row int64) (time.Time, bool, error) {
				var at sql.NullTime
				err := s.DB().QueryRowContext(ctx, `SELECT acknowledged_at FROM files WHERE id = $1`, row).Scan(&at)
				return at.Time, at.Valid, err
			}}
	})
}

// pipelineSubject is a fresh Postgres as the pipeline's store.
func pipelineSubject(t *testing.T) storetest.PipelineSubject {
	s, _ := pgtest.NewStore(t)
	j := s.Jobs(nil, "contract")
	ctx := context.Background()
	return storetest.PipelineSubject{Store: j, Intake: j,
		AddBank:       func(b settlement.BIC) error { return s.AddBank(ctx, postgres.Bank{BIC: b, Name: string(b)}) },
		SetCap:        func(c settlement.Cap, from time.Time) error { return s.SetCap(ctx, c, from) },
		SetBreakState: func(key, state, note, actor string) error { return j.SetBreakState(ctx, key, state, note, actor) }}
}

// TestReconcileStoreContract runs jobs.ReconcileStore's contract, the one
// memstore passes, on a real Postgres.
func TestReconcileStoreContract(t *testing.T) { storetest.RunReconcileStore(t, pipelineSubject) }

// TestPipelineStoreContract runs the rest of jobs.PipelineStore's
// contract, the one memstore passes, on a real Postgres.
func TestPipelineStoreContract(t *testing.T) { storetest.RunPipelineStore(t, pipelineSubject) }

// TestResolutionStoreContract runs the contract of the ledger's gridlock
// resolution as the store keeps it (SaveResolution, CarriedEntries and
// what they change in PendingReversals and the intake), the one memstore
// passes, on a real Postgres.
func TestResolutionStoreContract(t *testing.T) { storetest.RunResolutionStore(t, pipelineSubject) }

// TestStageTimesAreTheCallersClock: the stage log and the cycle's stage
// time hold the time the domain was given (the pipeline's injected clock),
// here a night long past, not the database's now().
func TestStageTimesAreTheCallersClock(t *testing.T) {
	s, _ := pgtest.NewStore(t)
	ctx := context.Background()
	j := s.Jobs(func(context.Context, *sql.Tx, jobs.Event) error { return nil }, "test")
	const date = settlement.Date("2020-02-28")
	opened := time.Date(2020, 2, 27, 18, 0, 0, 0, time.UTC)
	j.Now = func() time.Time { return opened }
	if c, err := j.EnsureCycle(ctx, date); err != nil || !c.StageAt.Equal(opened) {
		t.Fatalf("opened at %s (%v), want the injected clock's %s", c.StageAt, err, opened)
	}
	// Opening again changes nothing, whatever the clock says.
	j.Now = func() time.Time { return opened.Add(time.Hour) }
	if c, err := j.EnsureCycle(ctx, date); err != nil || !c.StageAt.Equal(opened) {
		t.Fatalf("opened again: at %s (%v), want %s", c.StageAt, err, opened)
	}
	at := time.Date(2020, 2, 28, 18, 0, 1, 0, time.UTC)
	for i, to := range []settlement.Stage{settlement.StageFrozen, settlement.StageNetted} {
		when := at.Add(time.Duration(i) * time.Minute)
		err := j.UpdateCycle(ctx, date, func(c *settlement.Cycle, _ jobs.CycleTx) ([]jobs.Event, error) {
			if _, err := c.Advance(to, when, settlement.Facts{}); err != nil {
				return nil, err
			}
			return []jobs.Event{jobs.NewEvent("settle.cycle."+strings.ToLower(string(to)), date, when)}, nil
		})
		if err != nil {
			t.Fatalf("to %s: %v", to, err)
		}
	}
	st, err := j.CycleStages(ctx, date)
	if err != nil || len(st) != 2 {
		t.Fatalf("stages: %+v %v", st, err)
	}
	for i, r := range st {
		if want := at.Add(time.Duration(i) * time.Minute); !r.At.Equal(want) {
			t.Errorf("%s at %s, want the caller's %s", r.To, r.At, want)
		}
	}
	c, _, err := j.Cycle(ctx, date)
	if err != nil || !c.StageAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("stage_at %s (%v), want %s", c.StageAt, err, at.Add(time.Minute))
	}
	// A move with no time is a bug, refused before anything is saved.
	err = j.UpdateCycle(ctx, date, func(c *settlement.Cycle, _ jobs.CycleTx) ([]jobs.Event, error) {
		c.Stage, c.StageAt = settlement.StageRecorded, time.Time{}
		return []jobs.Event{jobs.NewEvent("settle.cycle.recorded", date, at)}, nil
	})
	if err == nil {
		t.Fatal("a move with no time was saved")
	}
	if c, _, _ := j.Cycle(ctx, date); c.Stage != settlement.StageNetted {
		t.Fatalf("after the refused move: %s", c.Stage)
	}
}

// TestFileListerContract runs jobs.FileLister's contract (part of
// jobs.PipelineStore: the governed path's files) on a real Postgres.
func TestFileListerContract(t *testing.T) {
	storetest.RunFileLister(t, func(t *testing.T) storetest.FileStore {
		s, _ := pgtest.NewStore(t)
		for _, b := range storetest.Members {
			if err := s.AddBank(context.Background(), postgres.Bank{BIC: b, Name: string(b)}); err != nil {
				t.Fatal(err)
			}
		}
		return s.Jobs(func(context.Context, *sql.Tx, jobs.Event) error { return nil }, "contract")
	})
}

// TestRunLogContract runs jobs.RunLog's contract (the scheduler's job runs)
// on a real Postgres, the suite memstore runs too.
func TestRunLogContract(t *testing.T) {
	storetest.RunRunLog(t, func(t *testing.T) jobs.RunLog {
		s, _ := pgtest.NewStore(t)
		return s.Jobs(nil, "contract")
	})
}

// Package memstore keeps the operational record in memory (the cycles and
// their stage machine's record, jobs.CycleStore; the intake's files and
// their verdicts, jobs.IntakeStore; what the pipeline's steps read and
// write, jobs.ReconcileStore, jobs.PipelineStore and jobs.FileLister; the
// scheduler's runs, jobs.RunLog), for tests that need no database: the
// same contract suites (jobs/storetest) run on it and on Postgres, so it
// behaves as the real store does. One mutex stands for the row locks and
// the transactions: an update sees the cycle as the last one left it, and
// nothing of a failed update or ingest is kept.
package memstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// Store is an in-memory jobs.Store: every port of the operational record
// (and jobs.FileLookup).
type Store struct {
	// Actor names who records the failures (as the Postgres store's).
	Actor string
	now   func() time.Time

	mu        sync.Mutex
	cycles    map[settlement.Date]settlement.Cycle
	failures  map[settlement.Date][]jobs.Failure
	lastID    int64
	events    []jobs.Event
	moves     []Move
	positions map[settlement.Date][]settlement.Position
	breaches  map[settlement.Date][]settlement.CapBreach
	breakRows []breakRow // the break register, append-only
	ledgerTxs map[settlement.Date]map[string]jobs.LedgerTx
	txIDs     map[string]bool
	caps      []capRow
	runs      []Run // the scheduler's job runs, in claim order

	// The intake's record: members and keys, files (by row, in order),
	// the id indexes of their entries, deferrals, verdicts.
	banks     map[settlement.BIC]bool // true: active
	keys      []Key
	files     []*file
	fileSeq   int64
	ids       map[idKey]rowRef // (sender, payment id) -> its row
	reversals map[idKey]rowRef // (sender, original id) -> its reversal
	deferrals []deferral
	acks      []ack
	// The ledger's gridlock resolutions: every move of an entry
	// (payment_deferrals) in order, and each moved entry's latest.
	payMoves []payMove
	lastMove map[idKey]int // index in payMoves
}

// deferral is one move of a file between cycles (file_deferrals).
type deferral struct {
	row      int64
	from, to settlement.Date
}

// Move is one recorded stage change, as the Postgres store logs it.
type Move struct {
	Date     settlement.Date
	From, To settlement.Stage
	EventID  string
}

var _ jobs.CycleStore = (*Store)(nil)

// New is an empty store on the clock now.
func New(now func() time.Time) *Store {
	return &Store{Actor: "settle", now: now, cycles: map[settlement.Date]settlement.Cycle{},
		failures: map[settlement.Date][]jobs.Failure{}, positions: map[settlement.Date][]settlement.Position{},
		breaches: map[settlement.Date][]settlement.CapBreach{}, ledgerTxs: map[settlement.Date]map[string]jobs.LedgerTx{},
		txIDs: map[string]bool{}, banks: map[settlement.BIC]bool{}, ids: map[idKey]rowRef{}, reversals: map[idKey]rowRef{},
		lastMove: map[idKey]int{}}
}

// Cycle returns the cycle of a business date; ok false if none.
func (s *Store) Cycle(_ context.Context, date settlement.Date) (settlement.Cycle, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cycle(date)
	return c, ok, nil
}

// cycle is the cycle of date with the files it holds now counted (as the
// Postgres store's filesOfCycle: accepted, and not deferred away).
func (s *Store) cycle(date settlement.Date) (settlement.Cycle, bool) {
	c, ok := s.cycles[date]
	if !ok {
		return c, false
	}
	c.Files, c.Entries = 0, 0
	for _, f := range s.files {
		if f.status == jobs.IngestAccepted && s.fileCycle(f) == date {
			c.Files++
			c.Entries += f.rec.Entries
		}
	}
	return c, true
}

// EnsureCycle opens the cycle of a business date if it has none.
func (s *Store) EnsureCycle(_ context.Context, date settlement.Date) (settlement.Cycle, error) {
	if _, err := settlement.ParseDate(string(date)); err != nil {
		return settlement.Cycle{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cycles[date]; !ok {
		s.cycles[date] = settlement.NewCycle(date, s.now())
	}
	c, _ := s.cycle(date)
	return c, nil
}

// UpdateCycle runs update on a copy of the cycle under the store's lock and
// keeps the copy, what update wrote and its events only if it succeeds.
func (s *Store) UpdateCycle(_ context.Context, date settlement.Date, update func(*settlement.Cycle, jobs.CycleTx) ([]jobs.Event, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cycle(date)
	if !ok {
		return fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	from := c.Stage
	tx := &cycleTx{s: s, date: date}
	events, err := update(&c, tx)
	if err != nil {
		return err
	}
	if c.Stage != from {
		if len(events) == 0 {
			return fmt.Errorf("cycle of %s moved to %s with no event to announce it", date, c.Stage)
		}
		// c.StageAt is the time the domain was given (Cycle.Advance), as
		// the Postgres store keeps it.
		s.moves = append(s.moves, Move{Date: date, From: from, To: c.Stage, EventID: events[0].ID})
	}
	if tx.plan != nil {
		kept := len(s.breakRows)
		if err := s.applyBreaks(date, *tx.plan); err != nil {
			s.breakRows = s.breakRows[:kept]
			return err
		}
	}
	s.cycles[date] = c
	s.keepResolution(tx)
	if tx.netted {
		s.positions[date], s.breaches[date] = tx.positions, tx.breaches
	}
	s.events = append(s.events, events...)
	return nil
}

// cycleTx buffers an update's writes until it succeeds. It reads the
// store (under the lock UpdateCycle holds) to check a resolution.
type cycleTx struct {
	s         *Store
	date      settlement.Date
	netted    bool
	positions []settlement.Position
	breaches  []settlement.CapBreach
	plan      *reconciliation.Plan
	moves     []payMove       // a resolution's
	open      settlement.Date // the cycle it moves entries to, if it has to be opened
}

func (t *cycleTx) SaveNetting(res *settlement.Result, breaches []settlement.CapBreach) error {
	t.netted, t.positions, t.breaches = true, append([]settlement.Position(nil), res.Positions...), breaches
	return nil
}

func (t *cycleTx) ApplyBreaks(plan reconciliation.Plan, _ reconciliation.Summary) error {
	t.plan = &plan
	return nil
}

// failureMsgMax is the Postgres store's bound on a recorded error.
const failureMsgMax = 4000

// StepFailed records a failed attempt; a held one is announced as the
// Postgres store announces it.
func (s *Store) StepFailed(_ context.Context, date settlement.Date, to settlement.Stage, cause error, held bool) error {
	msg := cause.Error()
	if len(msg) > failureMsgMax {
		msg = strings.ToValidUTF8(msg[:failureMsgMax], "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cycles[date]; !ok {
		return fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	s.lastID++
	f := jobs.Failure{ID: s.lastID, To: to, Err: msg, Actor: s.Actor, At: s.now(), Held: held}
	s.failures[date] = append(s.failures[date], f)
	if held {
		s.events = append(s.events, jobs.HeldEvent(date, to, f.ID, msg, s.Actor, f.At))
	}
	return nil
}

// LastFailure is the cycle's latest failed attempt.
func (s *Store) LastFailure(_ context.Context, date settlement.Date) (jobs.Failure, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.failures[date]
	if len(fs) == 0 {
		return jobs.Failure{}, false, nil
	}
	return fs[len(fs)-1], true, nil
}

// Failures are a cycle's failed attempts, oldest first (what the
// Postgres store's StepErrors lists).
func (s *Store) Failures(date settlement.Date) []jobs.Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]jobs.Failure(nil), s.failures[date]...)
}

// Events are the events written to the outbox so far, in order.
func (s *Store) Events() []jobs.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]jobs.Event(nil), s.events...)
}

// Moves are the recorded stage changes, in order.
func (s *Store) Moves() []Move {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Move(nil), s.moves...)
}

// Netted is the last netting an update kept for a cycle.
func (s *Store) Netted(date settlement.Date) ([]settlement.Position, []settlement.CapBreach) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.positions[date], s.breaches[date]
}

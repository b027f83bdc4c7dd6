package jobs

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"settle/reconciliation"
	"settle/settlement"
)

// Outbox delivers reports into a bank's outbox (its SFTP tree).
type Outbox interface {
	Put(ctx context.Context, bank settlement.BIC, name string, body []byte) error
}

// PipelineOutbox is the pipeline's outbox: reports as bytes, statements and
// confirmations from disk (too large for memory).
type PipelineOutbox interface {
	Outbox
	FileOutbox
}

// OperatorReports keeps the operators' per-cycle reports.
type OperatorReports interface {
	Write(ctx context.Context, cycle, name string, body []byte) error
}

// Pipeline runs the stages of a cycle. Each step reads what the stage
// before it stored, does its work, and records its stage together with the
// event that announces it; a step whose stage is already recorded does
// nothing. So the same pipeline serves a broker delivering events, an
// operator running `settle cycle run`, and a restart after a crash.
type Pipeline struct {
	Store   PipelineStore
	Ledger  Ledger
	Outbox  PipelineOutbox
	Reports OperatorReports // optional
	// Agent, if set, is the settlement agent's side: reconciliation
	// compares the cycle's instructions with its bookings, and a cycle it
	// has not confirmed UnfundedAfter after settling is overdue.
	Agent         AgentStore
	UnfundedAfter time.Duration
	// After, if set, has the report step write the ISO 20022 statements,
	// settlement confirmations and settlement instructions too.
	After     *AfterSettlement
	ChunkSize int // payments per ledger transaction; 0: ChunkSizeDefault
	Workers   int // chunks written at once; 0: ChunkWorkersDefault
	Now       func() time.Time
	Log       *slog.Logger
	// Progress, if set, is told how far a long step got.
	Progress func(step string, done, total int)
	// Lock, if set, is taken around each step so that across instances
	// only one works on a cycle at a time (the ledger would make a second
	// writer harmless, but not free). A busy cycle returns ErrBusy: the
	// event is retried later.
	Lock func(ctx context.Context, name string) (unlock func(), ok bool, err error)
	// Governed, when set, switches the ledger writes to the governed path
	// (recordGoverned): the cycle's files are declared and relayed from
	// Files, the archive, and the ledger settles on its own positions. Nil:
	// the legacy path (chunks of payments, settle on the system's positions).
	Governed GovernedLedger
	Files    ArchiveReader
	// Calendar names the business day after a cycle's, where what the
	// ledger's gridlock resolution defers moves (nil: the next weekday).
	Calendar BusinessDays
	// GridlockAskAfter: over its caps, a cycle carrying a payment the
	// ledger's resolution deferred this many times already is held for the
	// operator instead of resolving by itself (Resolve goes on); 0: never.
	GridlockAskAfter int

	locks sync.Map // business date -> *sync.Mutex: one step per cycle at a time in this process
}

// Defaults chosen by measurement on a 3-bank network (README, ledger
// benchmark): 1000 payments a transaction got most of 2000's throughput on
// a single orderer, but BFT ordering (SmartBFT) takes at most 500 KiB a
// transaction, about 720 payments (ledger/fabric.RequestBytesMax,
// TestTransactionAtTheOrderersLimit), so a chunk is 500: room for long
// fields. 8 chunks in flight keep the orderers' blocks full.
const (
	ChunkSizeDefault    = 500
	ChunkWorkersDefault = 8
	// breaksMax bounds the breaks one reconciliation keeps in memory; past
	// it the cycle is so far off that listing more helps nobody.
	breaksMax = 100_000
)

// Errors a cycle stops on; an operator acts, then re-runs. The rules that
// raise them are the domain's (settlement.Precondition).
var (
	ErrCapBreach = settlement.ErrCapBreach
	// ErrOriginalPending: the cycle holds a reversal whose original's
	// cycle has not settled; the ledger would refuse it.
	ErrOriginalPending = settlement.ErrOriginalPending
	// ErrNotOnLedger: a bank of the cycle is not in the ledger's registry.
	ErrNotOnLedger = settlement.ErrNotOnLedger
	ErrNoCycle     = errors.New("no cycle for that business date")
	ErrBusy        = errors.New("another instance is working on this cycle")
	// ErrHeld: the cycle is held for the operator by an attempt already
	// recorded (see HeldError); nothing was attempted again.
	ErrHeld = errors.New("held for the operator")
)

// HeldError is a hold in force that a step left alone instead of making
// the same attempt again.
type HeldError struct {
	Date    settlement.Date
	Failure Failure
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s: %s since %s (by %s, to %s): %s", settlement.CycleID(e.Date), ErrHeld,
		e.Failure.At.UTC().Format(time.RFC3339), e.Failure.Actor, e.Failure.To, e.Failure.Err)
}

func (e *HeldError) Unwrap() error { return ErrHeld }

// holdPolicy says what a step does with a hold in force on its cycle.
type holdPolicy int64

const (
	// attempt: the operator's run; the operator has acted (or wants the
	// attempt made again), so the hold does not stop it.
	attempt holdPolicy = -1
	// respectHolds: events and the resume pass leave a held cycle to the
	// operator.
	respectHolds holdPolicy = 0
	// a positive policy n respects only holds recorded after failure n:
	// a run that waited for another instance does not repeat an attempt
	// that instance made meanwhile and found needing the operator.
)

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pipeline) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// busyWaitMax bounds how long Run waits for another instance working on
// the same cycle (its step may be a long ledger write).
const busyWaitMax = 30 * time.Minute

// Run drives the cycle of date from wherever it stands to REPORTED: the
// operator's run, which makes its attempts even on a held cycle. When
// another instance holds the cycle, Run waits for it and carries on from
// wherever it left the cycle; if that instance found the step needing an
// operator meanwhile, Run reports that hold instead of repeating the
// attempt.
func (p *Pipeline) Run(ctx context.Context, date settlement.Date) (settlement.Cycle, error) {
	waited := time.Duration(0)
	policy := attempt
	for steps := 0; steps < len(settlement.Stages); {
		c, ok, err := p.Store.Cycle(ctx, date)
		if err != nil {
			return c, err
		}
		if !ok {
			return c, fmt.Errorf("%s: %w", date, ErrNoCycle)
		}
		next := c.Stage.Next()
		if next == "" {
			return c, nil
		}
		err = p.step(ctx, date, next, policy)
		if errors.Is(err, ErrBusy) && waited < busyWaitMax {
			if policy == attempt {
				// Holds recorded from now on are the other instance's.
				f, _, ferr := p.Store.LastFailure(ctx, date)
				if ferr != nil {
					return c, ferr
				}
				policy = holdPolicy(f.ID) // 0 (respectHolds) if none
			}
			select {
			case <-ctx.Done():
				return c, ctx.Err()
			case <-time.After(time.Second):
			}
			waited += time.Second
			continue
		}
		if err != nil {
			return c, err
		}
		policy = attempt
		steps++
	}
	c, _, err := p.Store.Cycle(ctx, date)
	return c, err
}

// lock takes the cycle's lock: in this process, and across instances when
// Lock is set (ErrBusy if another holds it).
func (p *Pipeline) lock(ctx context.Context, date settlement.Date) (func(), error) {
	mu, _ := p.locks.LoadOrStore(date, &sync.Mutex{})
	m := mu.(*sync.Mutex)
	m.Lock()
	if p.Lock == nil {
		return m.Unlock, nil
	}
	unlock, ok, err := p.Lock(ctx, "cycle:"+string(date))
	if err != nil {
		m.Unlock()
		return nil, err
	}
	if !ok {
		m.Unlock()
		return nil, fmt.Errorf("%s: %w", date, ErrBusy)
	}
	return func() { unlock(); m.Unlock() }, nil
}

// Handle runs the step after the stage an event announces.
func (p *Pipeline) Handle(ctx context.Context, e Event) error {
	s, ok := topicStage(e.Topic)
	if !ok {
		return fmt.Errorf("event %s: unknown topic %q", e.ID, e.Topic)
	}
	next := s.Next()
	if next == "" {
		return nil
	}
	return p.step(ctx, e.Date, next, respectHolds)
}

// Step moves the cycle of date to stage to, if it stands just before it:
// the operator's step (or the scheduler's freeze), made even on a held
// cycle.
func (p *Pipeline) Step(ctx context.Context, date settlement.Date, to settlement.Stage) error {
	return p.step(ctx, date, to, attempt)
}

// StepUnlessHeld is Step for those who leave a held cycle to the operator
// (the resume pass): a hold in force returns a *HeldError and nothing is
// attempted.
func (p *Pipeline) StepUnlessHeld(ctx context.Context, date settlement.Date, to settlement.Stage) error {
	return p.step(ctx, date, to, respectHolds)
}

func (p *Pipeline) step(ctx context.Context, date settlement.Date, to settlement.Stage, holds holdPolicy) error {
	unlock, err := p.lock(ctx, date)
	if err != nil {
		return err
	}
	defer unlock()

	c, ok, err := p.Store.Cycle(ctx, date)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", date, ErrNoCycle)
	}
	if !c.Stage.Before(to) {
		return nil // done already: a redelivered event or a re-run
	}
	if c.Stage.Next() != to {
		return fmt.Errorf("%w: %s is %s, not ready for %s", settlement.ErrStage, c.ID, c.Stage, to)
	}
	if holds != attempt {
		// Under the cycle's lock: no attempt can be recorded meanwhile.
		f, ok, err := p.Store.LastFailure(ctx, date)
		if err != nil {
			return err
		}
		if ok && f.HoldsAt(c.Stage) && f.ID > int64(holds) {
			return &HeldError{Date: date, Failure: f}
		}
	}
	start := p.now()
	p.log().Info("cycle step", "cycle", c.ID, "from", c.Stage, "to", to)
	switch to {
	case settlement.StageFrozen:
		err = p.advance(ctx, date, c.Stage, to, nil)
	case settlement.StageNetted:
		err = p.net(ctx, date)
	case settlement.StageRecorded:
		err = p.record(ctx, date)
	case settlement.StageSettled:
		err = p.settle(ctx, date)
	case settlement.StageReconciled:
		err = p.reconcileStep(ctx, date)
	case settlement.StageReported:
		err = p.report(ctx, date)
	default:
		err = fmt.Errorf("%w: no step to %s", settlement.ErrStage, to)
	}
	if err != nil {
		p.log().Error("cycle step failed", "cycle", c.ID, "to", to, "err", err)
		// Kept for the operator even if this run's context is gone.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if rerr := p.Store.StepFailed(rctx, date, to, err, NeedsOperator(err)); rerr != nil {
			p.log().Error("cannot record the failure", "cycle", c.ID, "err", rerr)
		}
		cancel()
		return fmt.Errorf("%s to %s: %w", c.ID, to, err)
	}
	p.log().Info("cycle step done", "cycle", c.ID, "stage", to, "took", p.now().Sub(start))
	return nil
}

// advance moves the cycle from one stage to the next with no facts beyond
// the stage order (see advanceWith).
func (p *Pipeline) advance(ctx context.Context, date settlement.Date, from, to settlement.Stage, work func(CycleTx) error) error {
	return p.advanceWith(ctx, date, to, settlement.Facts{}, work)
}

// advanceWith moves the cycle to stage to if the domain allows it on the
// facts (settlement.Cycle.Advance), inside the store's transaction, with
// work and the event that announces the stage. A cycle at to already is
// left alone: the step was done by a run before this one.
func (p *Pipeline) advanceWith(ctx context.Context, date settlement.Date, to settlement.Stage, f settlement.Facts, work func(CycleTx) error) error {
	return p.Store.UpdateCycle(ctx, date, func(c *settlement.Cycle, tx CycleTx) ([]Event, error) {
		now := p.now()
		moved, err := c.Advance(to, now, f)
		if err != nil || !moved {
			return nil, err
		}
		if work != nil {
			if err := work(tx); err != nil {
				return nil, err
			}
		}
		return []Event{NewEvent(stageTopic[to], date, now)}, nil
	})
}

// net computes the cycle's positions from the stored entries. A cycle whose
// reversals wait for an earlier cycle to settle stays frozen.
func (p *Pipeline) net(ctx context.Context, date settlement.Date) error {
	pending, err := p.Store.PendingReversals(ctx, date, settlement.PendingShown+1)
	if err != nil {
		return err
	}
	// Checked before a single entry is read.
	if err := settlement.Precondition(settlement.StageNetted, settlement.Facts{Pending: pending}); err != nil {
		return err
	}
	// The cycle's own entries and those an earlier cycle's resolution on
	// the ledger carried into it (settled first there).
	res, long, err := p.netEntries(ctx, date, nil)
	if err != nil {
		return err
	}
	caps, err := p.Store.Caps(ctx)
	if err != nil {
		return err
	}
	breaches := settlement.CapBreaches(res.Positions, caps)
	resolves, hold := false, error(nil)
	if len(breaches) > 0 {
		asked := false
		if resolves, asked, err = p.ledgerResolves(ctx, date); err != nil {
			return err
		}
		switch {
		case !resolves:
			hold = p.heldOverCaps(date, breaches)
		case !asked:
			hold = p.deferredTooLong(date, breaches, long)
		}
	}
	if hold != nil {
		// The cycle stays frozen: the operator raises a cap once the bank
		// has funded, or defers files (Defer), and runs it again. The
		// positions that breached are kept for `cycle positions`.
		if err := p.Store.UpdateCycle(ctx, date, func(c *settlement.Cycle, tx CycleTx) ([]Event, error) {
			if err := c.CheckNetAttempt(); err != nil {
				return nil, err
			}
			return nil, tx.SaveNetting(res, breaches)
		}); err != nil {
			return err
		}
		return hold
	}
	// Over its caps with the ledger resolving: the gross positions and
	// their breaches are kept (what the ledger will resolve); the split is
	// the ledger's, read back when it settles (settleResolved).
	f := settlement.Facts{Pending: pending, Positions: res.Positions, Caps: caps, LedgerResolves: resolves}
	if resolves {
		p.log().Warn("cycle over its caps: the ledger's gridlock resolution will defer what does not fit", "cycle", settlement.CycleID(date), "breaches", len(breaches))
	}
	return p.advanceWith(ctx, date, settlement.StageNetted, f, func(tx CycleTx) error {
		return tx.SaveNetting(res, nil)
	})
}

// netEntries nets the cycle's own entries and those carried into it,
// without the entries skip names (sender/id; nil: none). It returns too
// the carried entries the ledger has deferred GridlockAskAfter times
// already (none when there is no such limit).
func (p *Pipeline) netEntries(ctx context.Context, date settlement.Date, skip map[string]bool) (*settlement.Result, overdue, error) {
	var n settlement.Netting
	add := func(se *StoredEntry) error {
		if skip[string(se.Sender)+"/"+se.Entry.ID] {
			return nil
		}
		if err := n.Add(&se.Entry); err != nil {
			return fmt.Errorf("entry %s/%s: %w", se.Sender, se.Entry.ID, err)
		}
		return nil
	}
	for se, err := range p.Store.CycleEntries(ctx, date) {
		if err != nil {
			return nil, overdue{}, err
		}
		if err := add(&se); err != nil {
			return nil, overdue{}, err
		}
	}
	var long overdue
	for ce, err := range p.Store.CarriedEntries(ctx, date) {
		if err != nil {
			return nil, overdue{}, err
		}
		if err := add(&ce.StoredEntry); err != nil {
			return nil, overdue{}, fmt.Errorf("carried from %s: %w", settlement.CycleID(ce.From), err)
		}
		if p.GridlockAskAfter > 0 && ce.Times >= p.GridlockAskAfter {
			long.add(ce)
		}
	}
	res, err := n.Result()
	if err != nil {
		return nil, overdue{}, err
	}
	if err := settlement.AssertBalanced(res.Positions); err != nil {
		return nil, overdue{}, err
	}
	return res, long, nil
}

// chunks cuts the cycle's entries, in their stored order, into chunks of
// ChunkSize: the same frozen cycle always gives the same chunks.
func (p *Pipeline) chunks(ctx context.Context, date settlement.Date) iter.Seq2[Chunk, error] {
	size := p.ChunkSize
	if size <= 0 {
		size = ChunkSizeDefault
	}
	return func(yield func(Chunk, error) bool) {
		cur := Chunk{Cycle: settlement.CycleID(date), ID: chunkID(0)}
		n := 0
		for se, err := range p.Store.CycleEntries(ctx, date) {
			if err != nil {
				yield(Chunk{}, err)
				return
			}
			cur.Entries = append(cur.Entries, ChunkEntry{Sender: se.Sender, Entry: se.Entry, FileSHA256: se.FileSHA256})
			if len(cur.Entries) == size {
				if !yield(cur, nil) {
					return
				}
				n++
				cur = Chunk{Cycle: cur.Cycle, ID: chunkID(n)}
			}
		}
		if len(cur.Entries) > 0 {
			yield(cur, nil)
		}
	}
}

func chunkID(i int) string { return fmt.Sprintf("%06d", i) }

// record writes every chunk the ledger does not hold yet, Workers at a
// time (chunks touch disjoint keys), and records each commit.
func (p *Pipeline) record(ctx context.Context, date settlement.Date) error {
	if p.Governed != nil {
		return p.recordGoverned(ctx, date)
	}
	positions, err := p.Store.Positions(ctx, date)
	if err != nil {
		return err
	}
	if err := settlement.AssertBalanced(positions); err != nil { // relied upon from here on
		return err
	}
	// A cycle that cannot settle does not go to the ledger: its payments
	// would sit there in a cycle that never settles.
	caps, err := p.Store.Caps(ctx)
	if err != nil {
		return err
	}
	unregistered, err := p.unregistered(ctx, positions)
	if err != nil {
		return err
	}
	f := settlement.Facts{Positions: positions, Caps: caps, Unregistered: unregistered}
	if err := settlement.Precondition(settlement.StageRecorded, f); err != nil {
		return err
	}
	if err := p.syncCaps(ctx, positions, caps, false); err != nil {
		return err
	}
	done, err := p.Store.LedgerTxs(ctx, date)
	if err != nil {
		return err
	}
	written, skipped := 0, 0 // written: under inParallel's lock; skipped: by the feeding loop, read after it
	var skippedNow atomic.Int64
	chunks := func(yield func(Chunk, error) bool) {
		for c, err := range p.chunks(ctx, date) {
			if err == nil {
				if _, ok := done[c.ID]; ok {
					skippedNow.Add(1)
					continue
				}
			}
			if !yield(c, err) {
				return
			}
		}
	}
	err = inParallel(ctx, p.Workers, chunks, func(ctx context.Context, c Chunk) error {
		tx, err := p.Ledger.RecordChunk(ctx, c)
		if err == nil {
			err = p.Store.SaveLedgerTx(ctx, date, c.ID, len(c.Entries), tx)
		}
		if err != nil {
			return fmt.Errorf("chunk %s: %w", c.ID, err)
		}
		return nil
	}, func() {
		written++
		if p.Progress != nil {
			p.Progress("record", written+int(skippedNow.Load()), -1)
		}
	})
	if err != nil {
		return err
	}
	skipped = int(skippedNow.Load())
	p.log().Info("chunks recorded", "date", date, "written", written, "already_on_ledger", skipped)
	return p.advanceWith(ctx, date, settlement.StageRecorded, f, nil)
}

// settleChunk is the chunk id under which the settling transaction is kept.
const settleChunk = "settle"

// settle asks the ledger to settle the stored positions, after checking
// them once more and against the caps in force now.
func (p *Pipeline) settle(ctx context.Context, date settlement.Date) error {
	positions, err := p.Store.Positions(ctx, date)
	if err != nil {
		return err
	}
	if err := settlement.AssertBalanced(positions); err != nil {
		return err
	}
	if len(positions) == 0 {
		// A day with no payments: there is nothing to settle, and the
		// ledger refuses an empty cycle. It closes here, with no ledger
		// transaction, and reconciliation expects none.
		p.log().Info("empty cycle: nothing to settle on the ledger", "date", date)
		return p.advanceWith(ctx, date, settlement.StageSettled, settlement.Facts{Positions: positions}, nil)
	}
	caps, err := p.Store.Caps(ctx)
	if err != nil {
		return err
	}
	f := settlement.Facts{Positions: positions, Caps: caps}
	if p.Governed != nil {
		// The ledger computes the positions from the verified files (and
		// resolves a gridlock when it may); the step follows its answer.
		return p.settleGoverned(ctx, date, f)
	}
	if err := settlement.Precondition(settlement.StageSettled, f); err != nil {
		return err
	}
	tx, err := p.Ledger.SettleCycle(ctx, settlement.CycleID(date), positions)
	if err != nil {
		return err
	}
	if err := p.Store.SaveLedgerTx(ctx, date, settleChunk, 0, tx); err != nil {
		return err
	}
	return p.advanceWith(ctx, date, settlement.StageSettled, f, nil)
}

// checkCaps refuses positions that breach the caps in force now.
func checkCaps(positions []settlement.Position, caps []settlement.Cap) error {
	return settlement.CheckCaps(positions, caps)
}

// syncCaps brings the ledger the caps in force for every net debtor of
// the cycle, before anything of it is written: the chaincode checks the
// caps it holds at settle, and a cap an operator raised (`bank cap set`,
// the bank has funded) must not leave the ledger refusing a settlement
// Postgres allows. SetCap is idempotent: a cap the ledger already has at
// that amount writes nothing.
// With every, the caps of all the banks of the positions go, net
// creditors too: the ledger's gridlock resolution may make one a debtor.
func (p *Pipeline) syncCaps(ctx context.Context, positions []settlement.Position, caps []settlement.Cap, every bool) error {
	byKey := make(map[string]settlement.Cap, len(caps))
	for _, c := range caps {
		byKey[string(c.Bank)+"/"+c.Currency.Code()] = c
	}
	for _, pos := range positions {
		c, ok := byKey[string(pos.Bank)+"/"+pos.Currency.Code()]
		if !ok || !pos.Net.IsNegative() && !every {
			continue
		}
		tx, err := p.Ledger.SetCap(ctx, c)
		if err != nil {
			return fmt.Errorf("cap of %s in %s to the ledger: %w", c.Bank, c.Currency, err)
		}
		if !tx.Existing && tx.ID != "" {
			p.log().Info("cap brought to the ledger", "bank", c.Bank, "currency", c.Currency.Code(),
				"cap", settlement.FormatAmount(c.Amount, c.Currency), "tx", tx.ID, "block", tx.Block)
		}
	}
	return nil
}

// unregistered are the banks of the positions that the ledger's registry
// lacks: the domain stops the cycle before the ledger on them
// (settlement.RegistryError).
func (p *Pipeline) unregistered(ctx context.Context, positions []settlement.Position) ([]settlement.BIC, error) {
	reg := p.Ledger
	seen := map[settlement.BIC]bool{}
	var missing []settlement.BIC
	for _, pos := range positions {
		if seen[pos.Bank] {
			continue
		}
		seen[pos.Bank] = true
		known, err := reg.Registered(ctx, pos.Bank)
		if err != nil {
			return nil, err
		}
		if !known {
			missing = append(missing, pos.Bank)
		}
	}
	return missing, nil
}

// Reconcile compares the cycle in Postgres with the ledger and returns the
// breaks found, the plan for the register, and a summary.
func (p *Pipeline) Reconcile(ctx context.Context, date settlement.Date) ([]reconciliation.Break, reconciliation.Plan, reconciliation.Summary, error) {
	cycle := settlement.CycleID(date)
	var breaks breakList
	sum, err := p.reconcilePayments(ctx, date, &breaks)
	if err != nil {
		return nil, reconciliation.Plan{}, sum, err
	}
	positions, err := p.Store.Positions(ctx, date)
	if err != nil {
		return nil, reconciliation.Plan{}, sum, err
	}
	lc, onLedger, err := p.Ledger.Cycle(ctx, cycle)
	if err != nil {
		return nil, reconciliation.Plan{}, sum, err
	}
	var sp []reconciliation.NetPosition
	for _, x := range positions {
		sp = append(sp, reconciliation.NetPosition{Bank: x.Bank, Currency: x.Currency, Net: x.Net})
	}
	for _, b := range reconciliation.Positions(cycle, sp, lc.Positions) {
		breaks.emit(b)
	}
	if err := p.reconcileAgent(ctx, date, positions, &sum, &breaks); err != nil {
		return nil, reconciliation.Plan{}, sum, err
	}
	if err := p.reconcileStatus(ctx, date, lc, onLedger, &breaks); err != nil {
		return nil, reconciliation.Plan{}, sum, err
	}
	if breaks.truncated > 0 {
		p.log().Warn("reconciliation found more breaks than it keeps", "cycle", cycle, "kept", breaksMax, "more", breaks.truncated)
	}
	sum.Breaks = int64(len(breaks.found) + breaks.truncated)
	active, err := p.Store.ActiveBreaks(ctx, date)
	if err != nil {
		return nil, reconciliation.Plan{}, sum, err
	}
	return breaks.found, reconciliation.PlanRun(breaks.found, active), sum, nil
}

// breakList keeps the first breaksMax breaks of one reconciliation and
// counts the rest, so a badly broken cycle cannot exhaust memory.
type breakList struct {
	found     []reconciliation.Break
	truncated int
}

// emit is reconciliation's callback; it never fails.
func (l *breakList) emit(b reconciliation.Break) error {
	if len(l.found) >= breaksMax {
		l.truncated++
		return nil
	}
	l.found = append(l.found, b)
	return nil
}

// reconcilePayments matches the cycle's payments in Postgres with the
// ledger's, then checks every ledger transaction that recorded one is
// among those Postgres recorded (from the commit answers): one that is
// not means the system lost track of a ledger write.
func (p *Pipeline) reconcilePayments(ctx context.Context, date settlement.Date, breaks *breakList) (reconciliation.Summary, error) {
	cycle := settlement.CycleID(date)
	recorded, err := p.Store.LedgerTxs(ctx, date)
	if err != nil {
		return reconciliation.Summary{}, err
	}
	known := make(map[string]bool, len(recorded))
	var top uint64
	for _, tx := range recorded {
		known[tx.ID] = true
		top = max(top, tx.Block)
	}
	readAfter(p.Ledger, top) // the writes may be another process's
	unrecorded := map[string]int{}
	ledgerSide := func(yield func(reconciliation.Record, error) bool) {
		for r, err := range p.Ledger.CyclePayments(ctx, cycle) {
			if err == nil && r.TxID != "" && !known[r.TxID] {
				unrecorded[r.TxID]++
			}
			if !yield(r, err) {
				return
			}
		}
	}
	sum, err := reconciliation.Payments(cycle, reconciliation.Prefetch(p.storeRecords(ctx, date)), reconciliation.Prefetch(ledgerSide), breaks.emit)
	if err != nil {
		return sum, err
	}
	txIDs := make([]string, 0, len(unrecorded))
	for id := range unrecorded {
		txIDs = append(txIDs, id)
	}
	sort.Strings(txIDs)
	for _, id := range txIDs {
		breaks.emit(reconciliation.Break{Kind: reconciliation.TxUnrecorded, Cycle: cycle, Subject: id, Field: "tx_id",
			Ledger: fmt.Sprintf("recorded %d payments of the cycle", unrecorded[id])})
	}
	return sum, nil
}

// storeRecords streams the cycle's payments from Postgres in the
// ledger's record shape, so reconciliation compares like with like.
func (p *Pipeline) storeRecords(ctx context.Context, date settlement.Date) iter.Seq2[reconciliation.Record, error] {
	cycle := settlement.CycleID(date)
	return func(yield func(reconciliation.Record, error) bool) {
		for se, err := range p.Store.CycleEntries(ctx, date) {
			if err != nil {
				yield(reconciliation.Record{}, err)
				return
			}
			e := se.Entry
			if !yield(reconciliation.Record{Sender: se.Sender, ID: e.ID, Kind: e.Kind, Debtor: e.Debtor, Creditor: e.Creditor,
				Amount: e.Amount, Currency: e.Currency, FileSHA256: se.FileSHA256, Cycle: cycle, Original: e.Original}, nil) {
				return
			}
		}
	}
}

// reconcileAgent is the third side: what the settlement agent booked of
// the cycle's instructions, once the cycle has settled; its summary goes
// into sum and its breaks into breaks.
func (p *Pipeline) reconcileAgent(ctx context.Context, date settlement.Date, positions []settlement.Position, sum *reconciliation.Summary, breaks *breakList) error {
	cy, _, err := p.Store.Cycle(ctx, date)
	if err != nil {
		return err
	}
	if cy.Stage.Before(settlement.StageSettled) {
		return nil
	}
	ag, err := p.agentSide(ctx, date, positions)
	if err != nil {
		return fmt.Errorf("agent side: %w", err)
	}
	if ag != nil {
		sum.Agent = ag
		for _, b := range ag.Breaks {
			breaks.emit(b)
		}
	}
	return nil
}

// reconcileStatus compares whether Postgres and the ledger (lc, absent
// unless onLedger) each hold the cycle settled.
func (p *Pipeline) reconcileStatus(ctx context.Context, date settlement.Date, lc LedgerCycle, onLedger bool, breaks *breakList) error {
	c, _, err := p.Store.Cycle(ctx, date)
	if err != nil {
		return err
	}
	status := "absent"
	if onLedger {
		status = lc.Status
	}
	storeSettled := !c.Stage.Before(settlement.StageSettled)
	if c.Entries == 0 && !onLedger {
		storeSettled = false // an empty cycle is never written to the ledger
	}
	for _, b := range reconciliation.Status(settlement.CycleID(date), storeSettled, lc.Settled(), string(c.Stage), status) {
		breaks.emit(b)
	}
	return nil
}

func (p *Pipeline) reconcileStep(ctx context.Context, date settlement.Date) error {
	_, plan, sum, err := p.Reconcile(ctx, date)
	if err != nil {
		return err
	}
	return p.advance(ctx, date, settlement.StageSettled, settlement.StageReconciled, func(tx CycleTx) error {
		return tx.ApplyBreaks(plan, sum)
	})
}

// PositionReport is what each bank finds in its outbox after a cycle: its
// own positions and obligations, and the cycle's totals, all as the ledger
// settled them.
type PositionReport struct {
	Cycle        string                  `json:"cycle"`
	BusinessDate settlement.Date         `json:"business_date"`
	Bank         settlement.BIC          `json:"bank"`
	SettledTx    string                  `json:"settled_tx"`
	Positions    []settlement.Position   `json:"positions"`
	GeneratedAt  string                  `json:"generated_at"`
	Bilateral    []settlement.Obligation `json:"bilateral,omitempty"`
	// Deferred are the bank's own payments and reversals that the cycle
	// deferred to a later one (at most deferredListedMax of them);
	// DeferredCount is how many there are in all.
	Deferred      []DeferredPayment `json:"deferred"`
	DeferredCount int               `json:"deferred_count"`
}

// ReportName is the outbox name of a bank's position report.
func ReportName(date settlement.Date) string { return "positions-" + string(date) + ".json" }

func (p *Pipeline) report(ctx context.Context, date settlement.Date) error {
	positions, err := p.Store.Positions(ctx, date)
	if err != nil {
		return err
	}
	txs, err := p.Store.LedgerTxs(ctx, date)
	if err != nil {
		return err
	}
	byBank := map[settlement.BIC][]settlement.Position{}
	for _, x := range positions {
		byBank[x.Bank] = append(byBank[x.Bank], x)
	}
	members, err := p.Store.Members(ctx)
	if err != nil {
		return err
	}
	deferred, deferredCount, err := p.deferredByBank(ctx, date)
	if err != nil {
		return err
	}
	for bank := range members {
		r := PositionReport{Cycle: settlement.CycleID(date), BusinessDate: date, Bank: bank, SettledTx: txs[settleChunk].ID,
			Positions: byBank[bank], GeneratedAt: p.now().UTC().Format(time.RFC3339),
			Deferred: deferred[bank], DeferredCount: deferredCount[bank]}
		if r.Positions == nil {
			r.Positions = []settlement.Position{}
		}
		if r.Deferred == nil {
			r.Deferred = []DeferredPayment{}
		}
		body, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		if p.Outbox != nil {
			if err := p.Outbox.Put(ctx, bank, ReportName(date), append(body, '\n')); err != nil {
				return fmt.Errorf("report to %s: %w", bank, err)
			}
		}
	}
	if err := p.afterSettlement(ctx, date, positions, txs); err != nil {
		return err
	}
	if p.Reports != nil {
		if err := p.operatorReport(ctx, date, positions, txs); err != nil {
			return fmt.Errorf("operator report: %w", err)
		}
	}
	return p.advance(ctx, date, settlement.StageReconciled, settlement.StageReported, nil)
}

// CycleSummary is the operators' one-page view of a settled cycle.
type CycleSummary struct {
	Cycle        string          `json:"cycle"`
	BusinessDate settlement.Date `json:"business_date"`
	Files        int64           `json:"files"`
	Entries      int64           `json:"entries"`
	Positions    int             `json:"positions"`
	LedgerTxs    int             `json:"ledger_transactions"`
	SettledTx    string          `json:"settled_tx"`
	OpenBreaks   int             `json:"open_breaks"`
	GeneratedAt  string          `json:"generated_at"`
}

func (p *Pipeline) operatorReport(ctx context.Context, date settlement.Date, positions []settlement.Position, txs map[string]LedgerTx) error {
	c, _, err := p.Store.Cycle(ctx, date)
	if err != nil {
		return err
	}
	breaks, err := p.Store.OpenBreaks(ctx, date)
	if err != nil {
		return err
	}
	id := settlement.CycleID(date)
	sum := CycleSummary{Cycle: id, BusinessDate: date, Files: c.Files, Entries: c.Entries, Positions: len(positions),
		LedgerTxs: len(txs), SettledTx: txs[settleChunk].ID, OpenBreaks: len(breaks), GeneratedAt: p.now().UTC().Format(time.RFC3339)}
	body, _ := json.MarshalIndent(map[string]any{"summary": sum, "positions": positions, "breaks": breaks}, "", "  ")
	if err := p.Reports.Write(ctx, id, "summary.json", append(body, '\n')); err != nil {
		return err
	}
	var pc bytes.Buffer
	w := csv.NewWriter(&pc)
	w.Write([]string{"currency", "bank", "sent", "received", "net"})
	for _, x := range positions {
		w.Write([]string{x.Currency.Code(), string(x.Bank), settlement.FormatAmount(x.Sent, x.Currency),
			settlement.FormatAmount(x.Received, x.Currency), settlement.FormatAmount(x.Net, x.Currency)})
	}
	w.Flush()
	if err := p.Reports.Write(ctx, id, "positions.csv", pc.Bytes()); err != nil {
		return err
	}
	var bc bytes.Buffer
	w = csv.NewWriter(&bc)
	w.Write([]string{"key", "kind", "subject", "field", "postgres", "ledger"})
	for _, b := range breaks {
		w.Write([]string{b.Key(), string(b.Kind), b.Subject, b.Field, b.Store, b.Ledger})
	}
	w.Flush()
	return p.Reports.Write(ctx, id, "breaks.csv", bc.Bytes())
}

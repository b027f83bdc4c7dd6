package memstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"settle/intake"
	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

var _ jobs.Store = (*Store)(nil)

// capRow is one cap as set: a new cap is a new row; the latest effective
// one wins (net_debit_caps).
type capRow struct {
	cap  settlement.Cap
	from time.Time
}

// breakRow is one step of a break's life (recon_breaks): the latest row of
// a key is its state.
type breakRow struct {
	key   string
	cycle settlement.Date
	b     reconciliation.Break // kind and evidence
	state string
	note  string
	actor string
}

// SetCap records a net debit cap in force from from (zero: the store's
// now), as `settle cap set` does.
func (s *Store) SetCap(c settlement.Cap, from time.Time) error {
	if !c.Currency.Valid() {
		return settlement.ErrCurrency
	}
	if c.Amount.IsNegative() || !c.Amount.Equal(c.Amount.Truncate(int32(c.Currency.MinorUnit()))) {
		return fmt.Errorf("cap %s %s: %w", c.Amount, c.Currency, settlement.ErrAmountScale)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.banks[c.Bank]; !ok {
		return fmt.Errorf("%s: no such bank", c.Bank)
	}
	if from.IsZero() {
		from = s.now()
	}
	c.Amount = decimal.RequireFromString(settlement.FormatAmount(c.Amount, c.Currency))
	s.caps = append(s.caps, capRow{cap: c, from: from})
	return nil
}

// Caps are the caps in force at the store's now, by bank and currency: of
// each, the latest effective (the latest set among equals).
func (s *Store) Caps(context.Context) ([]settlement.Cap, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	type key struct {
		bank settlement.BIC
		cur  string
	}
	cur := map[key]int{}
	for i, r := range s.caps {
		if r.from.After(now) {
			continue
		}
		k := key{r.cap.Bank, r.cap.Currency.Code()}
		if j, ok := cur[k]; !ok || !r.from.Before(s.caps[j].from) {
			cur[k] = i
		}
	}
	out := make([]settlement.Cap, 0, len(cur))
	for _, i := range cur {
		out = append(out, s.caps[i].cap)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bank != out[j].Bank {
			return out[i].Bank < out[j].Bank
		}
		return out[i].Currency.Code() < out[j].Currency.Code()
	})
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// CycleEntries streams the entries of the files a cycle holds now, in
// (sender, payment id) byte order. They are read under the lock at the
// start: the stream is the cycle as it was then.
func (s *Store) CycleEntries(_ context.Context, date settlement.Date) iter.Seq2[jobs.StoredEntry, error] {
	return func(yield func(jobs.StoredEntry, error) bool) {
		s.mu.Lock()
		if _, ok := s.cycles[date]; !ok {
			s.mu.Unlock()
			yield(jobs.StoredEntry{}, fmt.Errorf("%s: %w", date, jobs.ErrNoCycle))
			return
		}
		var out []jobs.StoredEntry
		for _, f := range s.files {
			if f.status != jobs.IngestAccepted || s.fileCycle(f) != date {
				continue
			}
			for _, e := range f.entries {
				out = append(out, jobs.StoredEntry{Sender: f.rec.Sender, Entry: e, FileSHA256: f.rec.SHA256, FileName: f.rec.Name})
			}
		}
		s.mu.Unlock()
		sort.Slice(out, func(i, j int) bool {
			if out[i].Sender != out[j].Sender {
				return out[i].Sender < out[j].Sender
			}
			return out[i].Entry.ID < out[j].Entry.ID
		})
		for _, se := range out {
			if !yield(se, nil) {
				return
			}
		}
	}
}

// Positions are the positions the cycle's last netting saved, by currency
// code and bank, as numbers read back from their text (the Postgres
// store's NUMERIC), asserted again to balance.
func (s *Store) Positions(_ context.Context, date settlement.Date) ([]settlement.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cycles[date]; !ok {
		return nil, fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	var out []settlement.Position
	for _, p := range s.positions[date] {
		out = append(out, settlement.Position{Bank: p.Bank, Currency: p.Currency,
			Sent: reread(p.Sent), Received: reread(p.Received), Net: reread(p.Net)})
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].Currency.Code(), out[j].Currency.Code(); a != b {
			return a < b
		}
		return out[i].Bank < out[j].Bank
	})
	return out, settlement.AssertBalanced(out)
}

// reread is d as a NUMERIC column gives it back.
func reread(d decimal.Decimal) decimal.Decimal { return decimal.RequireFromString(d.String()) }

// LedgerTxs are the ledger transactions recorded for a cycle, by chunk id.
func (s *Store) LedgerTxs(_ context.Context, date settlement.Date) (map[string]jobs.LedgerTx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cycles[date]; !ok {
		return nil, fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	out := map[string]jobs.LedgerTx{}
	for chunk, tx := range s.ledgerTxs[date] {
		tx.Endorsers = append([]string{}, tx.Endorsers...)
		out[chunk] = tx
	}
	return out, nil
}

// ledgerTxIDMax is the ledger_txs.tx_id column's bound.
const ledgerTxIDMax = 128

// SaveLedgerTx records that a chunk (or the settle) committed. The same
// chunk again is a no-op (the first record stays); a transaction id is
// recorded once, whatever the chunk.
func (s *Store) SaveLedgerTx(_ context.Context, date settlement.Date, chunkID string, _ int, tx jobs.LedgerTx) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cycles[date]; !ok {
		return fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	if _, ok := s.ledgerTxs[date][chunkID]; ok {
		return nil
	}
	if n := utf8.RuneCountInString(tx.ID); n == 0 || n > ledgerTxIDMax {
		return fmt.Errorf("ledger transaction id %q: 1 to %d characters", tx.ID, ledgerTxIDMax)
	}
	if s.txIDs[tx.ID] {
		return fmt.Errorf("ledger transaction %s is recorded already", tx.ID)
	}
	if s.ledgerTxs[date] == nil {
		s.ledgerTxs[date] = map[string]jobs.LedgerTx{}
	}
	// What the record keeps: not who submitted it, nor whether it existed.
	s.ledgerTxs[date][chunkID] = jobs.LedgerTx{ID: tx.ID, Block: tx.Block, Endorsers: append([]string{}, tx.Endorsers...)}
	s.txIDs[tx.ID] = true
	return nil
}

// applyBreaks is CycleTx.ApplyBreaks kept: the new breaks opened in the
// cycle, the vanished ones closed if the lifecycle still allows it (an
// operator may have resolved one since the run read the register: the
// run leaves it as the operator left it).
func (s *Store) applyBreaks(date settlement.Date, plan reconciliation.Plan) error {
	for _, b := range plan.Open {
		s.breakRows = append(s.breakRows, breakRow{key: b.Key(), cycle: date, b: b, state: reconciliation.StateOpen, actor: s.Actor})
	}
	for _, k := range plan.Close {
		err := s.moveBreak(reconciliation.Move{Key: k, To: reconciliation.StateClosed, By: reconciliation.ByRun,
			Note: reconciliation.ClosedGone, Actor: s.Actor})
		if errors.Is(err, reconciliation.ErrBreakState) || errors.Is(err, reconciliation.ErrNoBreak) {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// currentBreak is the latest row of a break; ok false if none.
func (s *Store) currentBreak(key string) (breakRow, bool) {
	for i := len(s.breakRows) - 1; i >= 0; i-- {
		if s.breakRows[i].key == key {
			return s.breakRows[i], true
		}
	}
	return breakRow{}, false
}

// moveBreak appends move m to its break's life if the lifecycle allows it
// from the state the register has.
func (s *Store) moveBreak(m reconciliation.Move) error {
	cur, ok := s.currentBreak(m.Key)
	m.From = cur.state
	if err := reconciliation.CheckMove(m); err != nil {
		return err
	}
	if !ok {
		return nil // nothing to copy the break from: no row, as the Postgres store's INSERT ... SELECT
	}
	cur.state, cur.note, cur.actor = m.To, m.Note, m.Actor
	s.breakRows = append(s.breakRows, cur)
	return nil
}

// SetBreakState appends an operator's step to a break's life, as the
// console does, if the lifecycle allows it.
func (s *Store) SetBreakState(key, state, note, actor string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moveBreak(reconciliation.Move{Key: key, To: state, By: reconciliation.ByOperator, Note: note, Actor: actor})
}

// activeRows are the current rows of a cycle's active breaks, by kind and
// key (the Postgres store's listing order).
func (s *Store) activeRows(date settlement.Date) []breakRow {
	seen := map[string]bool{}
	var out []breakRow
	for i := len(s.breakRows) - 1; i >= 0; i-- {
		r := s.breakRows[i]
		if seen[r.key] {
			continue
		}
		seen[r.key] = true
		if r.cycle == date && reconciliation.Active(r.state) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].b.Kind != out[j].b.Kind {
			return out[i].b.Kind < out[j].b.Kind
		}
		return out[i].key < out[j].key
	})
	return out
}

// ActiveBreaks are the keys of a cycle's breaks that are open,
// acknowledged or under investigation.
func (s *Store) ActiveBreaks(_ context.Context, date settlement.Date) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cycles[date]; !ok {
		return nil, fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	out := map[string]bool{}
	for _, r := range s.activeRows(date) {
		out[r.key] = true
	}
	return out, nil
}

// OpenBreaks are a cycle's active breaks with their evidence.
func (s *Store) OpenBreaks(_ context.Context, date settlement.Date) ([]reconciliation.Break, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []reconciliation.Break
	for _, r := range s.activeRows(date) {
		b := r.b
		b.Cycle = settlement.CycleID(date)
		out = append(out, b)
	}
	return out, nil
}

// settled are the stages after which a cycle's payments are on the ledger
// for good: a reversal of one of them may be recorded.
var settled = []settlement.Stage{settlement.StageSettled, settlement.StageReconciled, settlement.StageReported}

// PendingReversals lists, at most max, the reversals a cycle holds now
// (of its files and not moved out, or carried into it: entryCycle) whose
// original settles in another cycle that has not settled, by sender and
// reversal id. An original in this very cycle is not pending: it is there
// only because the ledger carried it in, and the ledger settles a
// reversal with its carried original, or defers it with it.
func (s *Store) PendingReversals(_ context.Context, date settlement.Date, max int) ([]jobs.PendingReversal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cycles[date]; !ok {
		return nil, fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	if max < 0 {
		return nil, fmt.Errorf("LIMIT must not be negative: %d", max)
	}
	var out []jobs.PendingReversal
	for _, f := range s.files {
		if f.status != jobs.IngestAccepted {
			continue
		}
		for i, r := range f.entries {
			if r.Kind != settlement.KindReversal || s.entryCycle(rowRef{f, i}) != date {
				continue
			}
			o, ok := s.ids[idKey{f.rec.Sender, r.Original}]
			if !ok || o.entry().Kind != settlement.KindPayment {
				continue
			}
			oc := s.entryCycle(o)
			if stage := s.cycles[oc].Stage; oc != date && !contains(settled, stage) {
				out = append(out, jobs.PendingReversal{Sender: f.rec.Sender, ID: r.ID, Original: r.Original, OriginalCycle: oc, Stage: stage})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Sender != out[j].Sender {
			return out[i].Sender < out[j].Sender
		}
		return out[i].ID < out[j].ID
	})
	return out[:min(len(out), max)], nil
}

func contains(ss []settlement.Stage, s settlement.Stage) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Bounds of a deferral's free text (file_deferrals' checks).
const (
	deferReasonMax = 500
	deferActorMax  = 200
)

// DeferFile moves an accepted file from a cycle not netted to another one
// if the domain allows it (settlement.CheckDeferral), on the facts read
// under the store's lock; the target cycle is opened if there is none,
// and only if the deferral is made.
func (s *Store) DeferFile(_ context.Context, d jobs.Deferral) (jobs.DeferredFile, error) {
	var out jobs.DeferredFile
	if _, err := settlement.ParseDate(string(d.To)); err != nil {
		return out, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, ok := s.cycles[d.From]
	if !ok {
		return out, fmt.Errorf("%s: %w", d.From, jobs.ErrNoCycle)
	}
	to, exists := s.cycles[d.To]
	if !exists {
		to = settlement.NewCycle(d.To, s.now())
	}
	facts := settlement.DeferralFacts{Sender: d.Sender, FileID: d.FileID,
		From: settlement.Cycle{ID: settlement.CycleID(d.From), BusinessDate: d.From, Stage: from.Stage},
		To:   settlement.Cycle{ID: settlement.CycleID(d.To), BusinessDate: d.To, Stage: to.Stage}}
	f := s.deferralFacts(d, &facts)
	if err := settlement.CheckDeferral(facts); err != nil {
		return out, err
	}
	if n := utf8.RuneCountInString(d.Reason); n < 1 || n > deferReasonMax {
		return out, fmt.Errorf("deferral reason of %d characters: 1 to %d", n, deferReasonMax)
	}
	if n := utf8.RuneCountInString(d.Actor); n < 1 || n > deferActorMax {
		return out, fmt.Errorf("deferral actor of %d characters: 1 to %d", n, deferActorMax)
	}
	if !exists {
		s.cycles[d.To] = to
	}
	s.deferrals = append(s.deferrals, deferral{row: f.row, from: d.From, to: d.To})
	out = jobs.DeferredFile{Name: f.rec.Name, SHA256: f.rec.SHA256, Entries: f.rec.Entries, At: s.now()}
	for _, x := range s.deferrals {
		if x.row == f.row {
			out.Move++
		}
	}
	base := f.rec.Name + ".ack.json"
	for _, a := range s.acks {
		if a.fileRow == f.row {
			base = a.name
			break
		}
	}
	out.OutboxBase = strings.TrimSuffix(base, ".ack.json")
	return out, nil
}

// deferralFacts reads what the deferral rules look at into facts: the
// sender's accepted file of that id, the cycle it is in and the one it
// was accepted into, and its reversals (forward: a payment of it reversed
// already; back: a reversal that would come before its original's
// settlement in d.To). It returns the file, nil if none.
func (s *Store) deferralFacts(d jobs.Deferral, facts *settlement.DeferralFacts) *file {
	var f *file
	for _, x := range s.files {
		if x.status == jobs.IngestAccepted && x.rec.Sender == d.Sender && x.rec.FileID == d.FileID {
			f = x
		}
	}
	if f == nil {
		return nil
	}
	facts.Found, facts.In, facts.Accepted = true, s.fileCycle(f), f.rec.Cycle
	back := d.To < d.From
	for _, e := range f.entries {
		if back && e.Kind == settlement.KindReversal {
			o, ok := s.ids[idKey{f.rec.Sender, e.Original}]
			if ok && o.entry().Kind == settlement.KindPayment && (o.f == f || !(s.entryCycle(o) < d.To)) {
				facts.EarlyReversal, facts.Original = e.ID, e.Original
				break
			}
		}
		if !back && e.Kind == settlement.KindPayment {
			if r, ok := s.reversals[idKey{f.rec.Sender, e.ID}]; ok {
				facts.Reversed, facts.By = e.ID, r.entry().ID
				break
			}
		}
	}
	return f
}

// LedgerFiles lists a cycle's accepted files as they settle now (deferrals
// counted), in (sender, file id) byte order, each with the format its name
// says, as the Postgres store does for the governed ledger path.
func (s *Store) LedgerFiles(_ context.Context, date settlement.Date) ([]jobs.LedgerFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cycles[date]; !ok {
		return nil, fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	var out []jobs.LedgerFile
	for _, f := range s.files {
		if f.status != jobs.IngestAccepted || s.fileCycle(f) != date {
			continue
		}
		r := f.rec
		lf := jobs.LedgerFile{Sender: r.Sender, FileID: r.FileID, Name: r.Name, SHA256: r.SHA256, Size: r.Size,
			Entries: r.Entries, ControlSum: reread(r.ControlSum), BusinessDate: r.BusinessDate}
		if lf.Format = intake.Format(r.Name); lf.Format == "" {
			return nil, fmt.Errorf("file %s/%s %q: no ledger format for its extension", r.Sender, r.FileID, r.Name)
		}
		out = append(out, lf)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Sender != out[j].Sender {
			return out[i].Sender < out[j].Sender
		}
		return out[i].FileID < out[j].FileID
	})
	return out, nil
}

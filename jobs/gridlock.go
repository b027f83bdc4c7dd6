package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"settle/formats/pacs002"
	"settle/reconciliation"
	"settle/settlement"
)

// The service's side of the ledger's gridlock resolution (issue 19). On
// the governed path the ledger decides what of a cycle over its caps
// settles: every endorsing peer recomputes the resolution from the cycle's
// verified files and the caps on the ledger, and writes the payments it
// deferred in one record per cycle (GetDeferral). The pipeline follows that
// answer: it reads the record after the cycle settles, keeps each deferred
// payment's move in the store (CycleTx.SaveResolution), nets the next cycle
// with the carried payments first (PipelineStore.CarriedEntries), and tells
// the banks payment by payment. Nothing here decides a split.

// LedgerDeferral is the ledger's resolution of one cycle (the chaincode's
// DeferralRecord), as the pipeline reads it back.
type LedgerDeferral struct {
	Cycle       string
	CarriedFrom string // the cycle whose deferred payments this one took first; "" if none
	CarriedIn   int
	Entries     int64 // entries resolved: the cycle's and the carried
	Settled     int64
	Banks       []BankDeferral
	Deferred    []LedgerDeferred // in the record's order
	TxID        string           // the settling transaction that wrote it
}

// BankDeferral is what one bank deferred in one currency, amounts as the
// ledger wrote them (the currency's minor-unit digits).
type BankDeferral struct {
	Bank     settlement.BIC
	Currency string
	Cap      string
	Net      string // with every entry
	Settled  string // over what settles
	Amount   string // deferred
	Count    int
}

// LedgerDeferred is one entry the ledger deferred.
type LedgerDeferred struct {
	Sender     settlement.BIC
	ID         string
	Kind       settlement.Kind
	Debtor     settlement.BIC
	Creditor   settlement.BIC
	Amount     string
	Currency   string
	OriginalID string
	FirstCycle string // the cycle of its file
	Times      int    // the cycles that deferred it so far, this one included
	Waiting    bool   // a reversal that waits with its deferred original
}

// Gridlock settings on the ledger (the scheme setting "gridlock").
const (
	GridlockAuto = "auto" // a cycle over its caps resolves by itself
	GridlockHold = "hold" // it waits for the operator (cycle resolve)
)

// GridlockLedger is the ledger's gridlock resolution as the pipeline uses
// it on the governed path.
type GridlockLedger interface {
	// Gridlock is the scheme's setting: GridlockAuto or GridlockHold.
	Gridlock(ctx context.Context) (string, error)
	// ResolveDeclared is the operator settling a declared cycle with the
	// ledger's resolution although the setting is hold. Idempotent.
	ResolveDeclared(ctx context.Context, cycle string) (LedgerTx, error)
	// Deferral is the ledger's resolution record of a settled cycle; ok
	// false when the cycle deferred nothing and carried nothing in.
	Deferral(ctx context.Context, cycle string) (d LedgerDeferral, ok bool, err error)
}

// Resolution is the ledger's resolution of a cycle as the store records
// it, in the transaction that marks the cycle settled.
type Resolution struct {
	// To is the cycle the deferred entries move to: the first business
	// day after the cycle's that is not netted yet (nextOpenCycle).
	To   settlement.Date
	TxID string // the settling transaction, which wrote the record
	// Deferred are the entries deferred, in the record's order: each is
	// an entry of the cycle's own files or one carried into it.
	Deferred []DeferredRef
}

// DeferredRef names one deferred entry.
type DeferredRef struct {
	Sender  settlement.BIC
	ID      string
	Times   int  // as the ledger counts them
	Waiting bool // a reversal waiting with its original
}

// CarriedEntry is an entry an earlier cycle's resolution deferred into
// this one.
type CarriedEntry struct {
	StoredEntry
	FileID string          // its file's id (the bank's)
	From   settlement.Date // the cycle that deferred it last
	Own    settlement.Date // the cycle of its file
	Times  int
}

// BusinessDays is the calendar as the pipeline needs it: the business day
// after a date (Calendar.Next).
type BusinessDays interface {
	Next(d settlement.Date) settlement.Date
}

type resolveKey struct{}

// Resolve is the operator's `settle cycle resolve`: the cycle of date runs
// to REPORTED with the ledger's gridlock resolution whatever the scheme's
// setting, in one step: netted over its caps, its files declared and
// verified, settled by ResolveCycle (what fits every cap; the rest
// deferred to the next cycle), reconciled and reported. A crash on the way
// is followed by the same command again.
func (p *Pipeline) Resolve(ctx context.Context, date settlement.Date) (settlement.Cycle, error) {
	if p.Governed == nil {
		return settlement.Cycle{}, fmt.Errorf("the ledger's gridlock resolution needs the governed ledger path (ledger.governed: true)")
	}
	return p.Run(context.WithValue(ctx, resolveKey{}, date), date)
}

// resolveAsked tells whether the operator asked for the ledger's
// resolution of the cycle of date (Resolve).
func resolveAsked(ctx context.Context, date settlement.Date) bool {
	d, ok := ctx.Value(resolveKey{}).(settlement.Date)
	return ok && d == date
}

// ledgerResolves tells whether the ledger's gridlock resolution decides the
// cycle of date, on the governed path only: the operator asked (asked), or
// the scheme's setting on the ledger is auto.
func (p *Pipeline) ledgerResolves(ctx context.Context, date settlement.Date) (resolves, asked bool, err error) {
	if p.Governed == nil {
		return false, false, nil
	}
	if resolveAsked(ctx, date) {
		return true, true, nil
	}
	s, err := p.Governed.Gridlock(ctx)
	if err != nil {
		return false, false, err
	}
	return s == GridlockAuto, false, nil
}

// heldOverCaps is the hold of a cycle over its caps, naming on the
// governed path the ledger's resolution as a way out too.
func (p *Pipeline) heldOverCaps(date settlement.Date, breaches []settlement.CapBreach) error {
	err := settlement.CapError(breaches)
	if p.Governed == nil {
		return err
	}
	return fmt.Errorf("%w; or have the ledger settle what fits every cap and defer the rest to the next cycle: settle cycle resolve --date %s", err, date)
}

// settleGoverned settles a declared cycle on the ledger's own positions:
// SettleCycle, or ResolveCycle when the operator asked for the resolution
// of a cycle over its caps. When the ledger's answer deferred payments (or
// took carried ones), the step follows it (settleResolved).
func (p *Pipeline) settleGoverned(ctx context.Context, date settlement.Date, f settlement.Facts) error {
	cycle := settlement.CycleID(date)
	if breaches := settlement.CapBreaches(f.Positions, f.Caps); len(breaches) > 0 {
		resolves, _, err := p.ledgerResolves(ctx, date)
		if err != nil {
			return err
		}
		if !resolves {
			// Settled on the ledger already (the operator's resolve, then a
			// crash): the step follows the ledger whatever the setting.
			lc, ok, err := p.Ledger.Cycle(ctx, cycle)
			if err != nil {
				return err
			}
			if !ok || !lc.Settled() {
				return p.heldOverCaps(date, breaches)
			}
		}
		f.LedgerResolves = true
	}
	if err := settlement.Precondition(settlement.StageSettled, f); err != nil {
		return err
	}
	var tx LedgerTx
	var err error
	if resolveAsked(ctx, date) {
		tx, err = p.Governed.ResolveDeclared(ctx, cycle)
	} else {
		tx, err = p.Governed.SettleDeclared(ctx, cycle)
	}
	if err != nil {
		return err
	}
	if err := p.Store.SaveLedgerTx(ctx, date, settleChunk, 0, tx); err != nil {
		return err
	}
	readAfter(p.Ledger, tx.Block)
	d, ok, err := p.Governed.Deferral(ctx, cycle)
	if err != nil {
		return err
	}
	if !ok {
		return p.advanceWith(ctx, date, settlement.StageSettled, f, nil)
	}
	return p.settleResolved(ctx, date, d, f.Caps)
}

// settleResolved records the ledger's resolution of a settled cycle: the
// cycle's positions become those of what settled (its own entries and the
// carried ones, without the deferred), computed here from the store's
// entries, so that reconciliation compares them with the ledger's; each
// deferred entry moves to the next cycle still to be netted, where it is
// netted first.
func (p *Pipeline) settleResolved(ctx context.Context, date settlement.Date, d LedgerDeferral, caps []settlement.Cap) error {
	r := Resolution{TxID: d.TxID, Deferred: make([]DeferredRef, 0, len(d.Deferred))}
	skip := make(map[string]bool, len(d.Deferred))
	for _, e := range d.Deferred {
		k := string(e.Sender) + "/" + e.ID
		if skip[k] {
			return fmt.Errorf("the ledger's deferral record of %s names %s twice", d.Cycle, k)
		}
		skip[k] = true
		r.Deferred = append(r.Deferred, DeferredRef{Sender: e.Sender, ID: e.ID, Times: e.Times, Waiting: e.Waiting})
	}
	res, _, err := p.netEntries(ctx, date, skip)
	if err != nil {
		return err
	}
	if len(r.Deferred) > 0 {
		if r.To, err = p.nextOpenCycle(ctx, date); err != nil {
			return err
		}
	}
	for _, b := range d.Banks {
		p.log().Warn("deferred by the ledger's gridlock resolution", "cycle", d.Cycle, "bank", b.Bank, "currency", b.Currency,
			"cap", b.Cap, "net", b.Net, "settled_net", b.Settled, "deferred", b.Amount, "payments", b.Count, "to", settlement.CycleID(r.To))
	}
	f := settlement.Facts{Positions: res.Positions, Caps: caps, LedgerResolves: true}
	return p.advanceWith(ctx, date, settlement.StageSettled, f, func(tx CycleTx) error {
		if err := tx.SaveNetting(res, nil); err != nil {
			return err
		}
		return tx.SaveResolution(r)
	})
}

// nextOpenCycle is the cycle the deferred entries of date's move to: the
// first business day after it whose cycle is not netted yet (the ledger
// takes them first in the next cycle it settles).
func (p *Pipeline) nextOpenCycle(ctx context.Context, date settlement.Date) (settlement.Date, error) {
	d := date
	for range 370 {
		d = p.nextBusinessDay(d)
		c, ok, err := p.Store.Cycle(ctx, d)
		if err != nil {
			return "", err
		}
		if !ok || c.Stage.Before(settlement.StageNetted) {
			return d, nil
		}
	}
	return "", fmt.Errorf("no cycle after %s within a year is still to be netted: the deferred payments have nowhere to go", date)
}

func (p *Pipeline) nextBusinessDay(d settlement.Date) settlement.Date {
	if p.Calendar != nil {
		return p.Calendar.Next(d)
	}
	t := d.Time().AddDate(0, 0, 1)
	for t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
		t = t.AddDate(0, 0, 1)
	}
	return settlement.Date(t.Format(time.DateOnly))
}

// cycleSplit is what the reports need of a cycle's resolution: the entries
// it deferred (by sender/id, with where they went), those carried into it,
// and both by file.
type cycleSplit struct {
	deferred map[string]DeferredEntry
	carried  []CarriedEntry
	byFile   map[string]*fileSplit // sender/file id
}

// fileSplit is one file's part of the split.
type fileSplit struct {
	deferred []pacs002.DeferredPayment // in line order
	settled  []string                  // carried in and settled here, in the carried order
}

// splitOf reads the cycle's deferred entries (After.Files) and the carried
// ones (the store).
func (p *Pipeline) splitOf(ctx context.Context, date settlement.Date) (cycleSplit, error) {
	sp := cycleSplit{deferred: map[string]DeferredEntry{}, byFile: map[string]*fileSplit{}}
	file := func(sender settlement.BIC, fileID string) *fileSplit {
		k := string(sender) + "/" + fileID
		if sp.byFile[k] == nil {
			sp.byFile[k] = &fileSplit{}
		}
		return sp.byFile[k]
	}
	if p.After != nil && p.After.Files != nil {
		// In sender, file and line order (the store's promise).
		for e, err := range p.After.Files.DeferredEntries(ctx, date) {
			if err != nil {
				return sp, fmt.Errorf("deferred entries: %w", err)
			}
			sp.deferred[string(e.Sender)+"/"+e.ID] = e
			f := file(e.Sender, e.FileID)
			f.deferred = append(f.deferred, pacs002.DeferredPayment{ID: e.ID, Cycle: settlement.CycleID(e.To)})
		}
	}
	for ce, err := range p.Store.CarriedEntries(ctx, date) {
		if err != nil {
			return sp, fmt.Errorf("carried entries: %w", err)
		}
		sp.carried = append(sp.carried, ce)
		if !sp.isDeferred(ce.Sender, ce.Entry.ID) {
			f := file(ce.Sender, ce.FileID)
			f.settled = append(f.settled, ce.Entry.ID)
		}
	}
	return sp, nil
}

// isDeferred tells whether the cycle deferred the entry.
func (sp cycleSplit) isDeferred(sender settlement.BIC, id string) bool {
	_, ok := sp.deferred[string(sender)+"/"+id]
	return ok
}

// ofFile is the file's part of the split (empty if none).
func (sp cycleSplit) ofFile(sender settlement.BIC, fileID string) fileSplit {
	if f := sp.byFile[string(sender)+"/"+fileID]; f != nil {
		return *f
	}
	return fileSplit{}
}

// DeferralReader reads the ledger's resolution records (GetDeferral).
type DeferralReader interface {
	Deferral(ctx context.Context, cycle string) (d LedgerDeferral, ok bool, err error)
}

// ledgerSplit applies the ledger's resolution of a cycle to the positions
// an auditor re-netted from the cycle's files: the entries carried in (the
// previous record's deferred list, which the ledger names) are added, the
// entries it deferred taken out. It returns the positions of what settled,
// and how many entries each way. A record that does not hold together (a
// carry of another size than the ledger counted, an amount that is not
// one) is a problem, not an answer.
func ledgerSplit(ctx context.Context, r DeferralReader, cycle string, gross []settlement.Position) (ps []reconciliation.NetPosition, deferred, carried int, problems []string, err error) {
	ps = toNet(gross)
	if r == nil {
		return ps, 0, 0, nil, nil
	}
	d, ok, err := r.Deferral(ctx, cycle)
	if err != nil || !ok {
		return ps, 0, 0, nil, err
	}
	var in []LedgerDeferred
	if d.CarriedFrom != "" {
		prev, ok, err := r.Deferral(ctx, d.CarriedFrom)
		if err != nil {
			return nil, 0, 0, nil, err
		}
		if !ok {
			return ps, 0, 0, []string{fmt.Sprintf("the ledger's resolution of %s carries in from %s, which holds no deferral record", cycle, d.CarriedFrom)}, nil
		}
		in = prev.Deferred
	}
	if len(in) != d.CarriedIn {
		problems = append(problems, fmt.Sprintf("the ledger's resolution of %s counts %d carried in, %s deferred %d", cycle, d.CarriedIn, d.CarriedFrom, len(in)))
	}
	net := map[[2]string]decimal.Decimal{}
	move := func(e LedgerDeferred, sign int64) {
		amt, err := decimal.NewFromString(e.Amount)
		cur, cerr := settlement.ParseCurrency(e.Currency)
		if err != nil || cerr != nil || !amt.IsPositive() {
			problems = append(problems, fmt.Sprintf("the ledger's resolution of %s: entry %s/%s has amount %q %q", cycle, e.Sender, e.ID, e.Amount, e.Currency))
			return
		}
		en := settlement.Entry{Kind: e.Kind, Debtor: e.Debtor, Creditor: e.Creditor, Amount: amt, Currency: cur}
		a := amt.Mul(decimal.NewFromInt(sign))
		net[[2]string{string(en.Payer()), cur.Code()}] = net[[2]string{string(en.Payer()), cur.Code()}].Sub(a)
		net[[2]string{string(en.Payee()), cur.Code()}] = net[[2]string{string(en.Payee()), cur.Code()}].Add(a)
	}
	for _, e := range in {
		move(e, 1)
	}
	for _, e := range d.Deferred {
		move(e, -1)
	}
	for _, p := range ps {
		k := [2]string{string(p.Bank), p.Currency.Code()}
		net[k] = net[k].Add(p.Net)
	}
	out := make([]reconciliation.NetPosition, 0, len(net))
	for k, v := range net {
		cur, _ := settlement.ParseCurrency(k[1])
		out = append(out, reconciliation.NetPosition{Bank: settlement.BIC(k[0]), Currency: cur, Net: v})
	}
	return out, len(d.Deferred), len(in), problems, nil
}

// GridlockAskAfterDefault is how many times the ledger's resolution may
// defer a payment before the operator is asked (ledger.gridlock_ask_after):
// three business days.
const GridlockAskAfterDefault = 3

// overdue are the carried entries the ledger has deferred GridlockAskAfter
// times already: how many, and the first overdueShown of them.
type overdue struct {
	n     int
	shown []CarriedEntry
}

const overdueShown = 5

func (o *overdue) add(ce CarriedEntry) {
	if o.n++; len(o.shown) < overdueShown {
		o.shown = append(o.shown, ce)
	}
}

// deferredTooLong is the hold of a cycle over its caps that carries
// payments the ledger has deferred GridlockAskAfter times already: the
// operator decides (Resolve defers them again; a cap raised once the bank
// has funded settles them). Nil when there are none.
func (p *Pipeline) deferredTooLong(date settlement.Date, breaches []settlement.CapBreach, long overdue) error {
	if long.n == 0 {
		return nil
	}
	var names []string
	for _, ce := range long.shown {
		names = append(names, fmt.Sprintf("%s/%s (from %s, deferred %d times)", ce.Sender, ce.Entry.ID, settlement.CycleID(ce.Own), ce.Times))
	}
	more := ""
	if long.n > len(long.shown) {
		more = fmt.Sprintf(" and %d more", long.n-len(long.shown))
	}
	return fmt.Errorf("%w; and %d carried payments have been deferred %d times or more: %s%s. The operator decides: settle cycle resolve --date %s defers again what does not fit",
		settlement.CapError(breaches), long.n, p.GridlockAskAfter, strings.Join(names, ", "), more, date)
}

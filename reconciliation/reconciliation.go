// Package reconciliation compares what the system computed and stored
// with what the ledger holds, and turns every difference into a typed
// break. It is pure: adapters feed it two ordered streams of payments and
// the two sides' positions; it holds only the current pair of records and
// per-bank totals, so memory does not grow with the size of a cycle.
package reconciliation

import (
	"errors"
	"fmt"
	"iter"
	"sort"
	"strings"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// Record is one payment or reversal as one side holds it.
type Record struct {
	Sender     settlement.BIC
	ID         string
	Kind       settlement.Kind
	Debtor     settlement.BIC
	Creditor   settlement.BIC
	Amount     decimal.Decimal
	Currency   settlement.Currency
	FileSHA256 string
	Cycle      string
	Original   string // reversals
	TxID       string // ledger side: the transaction that recorded it
}

// Key orders records: sender, then payment id, byte-wise. Both sides must
// stream in this order (Postgres: ORDER BY sender COLLATE "C", payment_id
// COLLATE "C"; the ledger's composite keys sort the same way).
func (r *Record) Key() string { return string(r.Sender) + "/" + r.ID }

func less(a, b *Record) bool {
	if a.Sender != b.Sender {
		return a.Sender < b.Sender
	}
	return a.ID < b.ID
}

// Kind of break.
type Kind string

const (
	MissingOnLedger  Kind = "MISSING_ON_LEDGER"    // in Postgres, not on the ledger
	MissingInStore   Kind = "MISSING_IN_STORE"     // on the ledger, not in Postgres
	FieldMismatch    Kind = "FIELD_MISMATCH"       // same payment, a field differs
	AmountMismatch   Kind = "AMOUNT_MISMATCH"      // same payment, the amount differs
	TotalsMismatch   Kind = "TOTALS_MISMATCH"      // count or control sum per bank and currency
	PositionMismatch Kind = "POSITION_MISMATCH"    // net position per bank and currency
	StatusMismatch   Kind = "STATUS_MISMATCH"      // the cycle's status
	TxUnrecorded     Kind = "LEDGER_TX_UNRECORDED" // a ledger transaction Postgres has no record of
)

// Break is one difference, with the evidence of both sides. Its Key is
// stable across runs, so a re-run finds the same break again (or finds it
// gone) instead of opening a second one.
type Break struct {
	Kind    Kind
	Cycle   string
	Subject string // "SENDER/payment-id", or "BANK/CUR", or the cycle
	Field   string
	Store   string // the value in Postgres ("" when absent)
	Ledger  string // the value on the ledger ("" when absent)
	// Agent is the settlement agent's side of an agent break (the Store
	// side is then what the scheme instructed).
	Agent string
}

// Key identifies the break across runs.
func (b Break) Key() string {
	return strings.Join([]string{b.Cycle, string(b.Kind), b.Subject, b.Field}, "|")
}

func (b Break) String() string {
	s := fmt.Sprintf("%s %s", b.Kind, b.Subject)
	if b.Field != "" {
		s += " " + b.Field
	}
	if b.Agent != "" || b.Ledger == "" && isAgentKind(b.Kind) {
		return fmt.Sprintf("%s: instructed %q, agent %q", s, b.Store, b.Agent)
	}
	return fmt.Sprintf("%s: postgres %q, ledger %q", s, b.Store, b.Ledger)
}

func isAgentKind(k Kind) bool {
	switch k {
	case MissingAtAgent, AgentAmount, AgentField, AgentUnexpected, AgentRejected:
		return true
	}
	return false
}

// ErrOrder reports a side that did not stream in key order: the matching
// would be wrong, so it stops instead of reporting false breaks.
var ErrOrder = errors.New("records not in (sender, payment id) order")

// Totals are the per-bank, per-currency count and sum of one side.
type Totals map[totalKey]*total

type totalKey struct {
	bank settlement.BIC
	cur  settlement.Currency
}

// total is a count and an exact sum. The sum is kept as a decimal plus a
// pending int64 coefficient at one exponent: amounts that fit 18 digits and
// share that exponent (every amount of a currency, in practice) are added
// as integers, and the pending part is folded into the decimal only when an
// amount does not fit or the int64 would overflow. A decimal addition
// allocates, and a million of them per side were a tenth of a
// reconciliation's time (issue 18).
type total struct {
	count int64
	sum   decimal.Decimal // what was folded in
	acc   int64           // pending coefficient, at exponent exp
	exp   int32
	n     int64 // amounts in acc
}

func (t Totals) add(r *Record) {
	k := totalKey{r.Sender, r.Currency}
	v := t[k]
	if v == nil {
		v = &total{}
		t[k] = v
	}
	v.count++
	v.addAmount(r.Amount)
}

func (v *total) addAmount(d decimal.Decimal) {
	if d.NumDigits() > 18 {
		v.sum = v.sum.Add(d)
		return
	}
	c, e := d.CoefficientInt64(), d.Exponent()
	if v.n == 0 {
		v.acc, v.exp, v.n = c, e, 1
		return
	}
	if e == v.exp {
		if s := v.acc + c; (c >= 0) == (s >= v.acc) { // no overflow
			v.acc, v.n = s, v.n+1
			return
		}
	}
	v.sum = v.sum.Add(decimal.New(v.acc, v.exp))
	v.acc, v.exp, v.n = c, e, 1
}

// value is the exact sum of the amounts added.
func (v *total) value() decimal.Decimal {
	if v.n == 0 {
		return v.sum
	}
	return v.sum.Add(decimal.New(v.acc, v.exp))
}

// Summary counts what a reconciliation compared.
type Summary struct {
	StoreRecords  int64
	LedgerRecords int64
	Matched       int64
	Breaks        int64
	// Agent is the comparison with the settlement agent's bookings, where
	// the run made one (a cycle settled with instructions to fund).
	Agent *AgentResult
}

// Payments merge-joins the two ordered streams and emits a break for every
// payment missing on one side or differing in any field, then for every
// bank and currency whose count or control sum differ.
func Payments(cycle string, store, ledger iter.Seq2[Record, error], emit func(Break) error) (Summary, error) {
	nextS, stopS := iter.Pull2(store)
	defer stopS()
	nextL, stopL := iter.Pull2(ledger)
	defer stopL()
	m := merge{cycle: cycle, emit: emit, st: Totals{}, lt: Totals{}}
	err := m.run(&side{name: "postgres", next: nextS}, &side{name: "ledger", next: nextL})
	return m.sum, err
}

// side is one of the two ordered streams Payments merges.
type side struct {
	name string // in errors: "postgres" or "ledger"
	next func() (Record, error, bool)
	// The side's records live in two slots, used in turn: the one pulled
	// and the one before it (for the order check). A record per pull on
	// the heap was a million allocations a side.
	buf  [2]Record
	cur  int
	prev *Record
}

// pull is the side's next record, nil at its end; a record out of order
// is ErrOrder.
func (sd *side) pull() (*Record, error) {
	r, err, ok := sd.next()
	if !ok {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sd.name, err)
	}
	if sd.prev != nil && !less(sd.prev, &r) {
		return nil, fmt.Errorf("%s: %w: %s after %s", sd.name, ErrOrder, r.Key(), sd.prev.Key())
	}
	sd.cur ^= 1
	sd.buf[sd.cur] = r
	sd.prev = &sd.buf[sd.cur]
	return sd.prev, nil
}

// merge is one run of Payments: the summary so far and each side's
// totals, compared once both streams end.
type merge struct {
	cycle  string
	emit   func(Break) error
	sum    Summary
	st, lt Totals
}

// out counts a break and emits it.
func (m *merge) out(b Break) error {
	m.sum.Breaks++
	return m.emit(b)
}

// run merge-joins the store side ss with the ledger side ls, record by
// record in key order, then compares the totals.
func (m *merge) run(ss, ls *side) error {
	s, err := ss.pull()
	if err != nil {
		return err
	}
	l, err := ls.pull()
	if err != nil {
		return err
	}
	for s != nil || l != nil {
		switch {
		case l == nil || (s != nil && less(s, l)):
			if err := m.storeOnly(s); err != nil {
				return err
			}
			if s, err = ss.pull(); err != nil {
				return err
			}
		case s == nil || less(l, s):
			if err := m.ledgerOnly(l); err != nil {
				return err
			}
			if l, err = ls.pull(); err != nil {
				return err
			}
		default:
			if err := m.both(s, l); err != nil {
				return err
			}
			if s, err = ss.pull(); err != nil {
				return err
			}
			if l, err = ls.pull(); err != nil {
				return err
			}
		}
	}
	for _, b := range compareTotals(m.cycle, m.st, m.lt) {
		if err := m.out(b); err != nil {
			return err
		}
	}
	return nil
}

// storeOnly is a payment Postgres holds and the ledger does not.
func (m *merge) storeOnly(s *Record) error {
	m.sum.StoreRecords++
	m.st.add(s)
	return m.out(Break{Kind: MissingOnLedger, Cycle: m.cycle, Subject: s.Key(), Store: digest(s)})
}

// ledgerOnly is a payment the ledger holds and Postgres does not.
func (m *merge) ledgerOnly(l *Record) error {
	m.sum.LedgerRecords++
	m.lt.add(l)
	return m.out(Break{Kind: MissingInStore, Cycle: m.cycle, Subject: l.Key(), Ledger: digest(l)})
}

// both is a payment on both sides: matched, or a break per field that
// differs.
func (m *merge) both(s, l *Record) error {
	m.sum.StoreRecords++
	m.sum.LedgerRecords++
	m.st.add(s)
	m.lt.add(l)
	diffs := compare(m.cycle, s, l)
	if len(diffs) == 0 {
		m.sum.Matched++
	}
	for _, b := range diffs {
		if err := m.out(b); err != nil {
			return err
		}
	}
	return nil
}

func digest(r *Record) string {
	s := fmt.Sprintf("%s %s->%s %s %s file=%s cycle=%s", r.Kind, r.Debtor, r.Creditor, r.Amount.String(), r.Currency, r.FileSHA256, r.Cycle)
	if r.Original != "" {
		s += " original=" + r.Original
	}
	return s
}

func compare(cycle string, s, l *Record) []Break {
	var out []Break
	field := func(name, a, b string) {
		if a != b {
			out = append(out, Break{Kind: FieldMismatch, Cycle: cycle, Subject: s.Key(), Field: name, Store: a, Ledger: b})
		}
	}
	if !s.Amount.Equal(l.Amount) {
		out = append(out, Break{Kind: AmountMismatch, Cycle: cycle, Subject: s.Key(), Field: "amount", Store: s.Amount.String(), Ledger: l.Amount.String()})
	}
	field("kind", s.Kind.String(), l.Kind.String())
	field("debtor", string(s.Debtor), string(l.Debtor))
	field("creditor", string(s.Creditor), string(l.Creditor))
	field("currency", s.Currency.Code(), l.Currency.Code())
	field("file_sha256", s.FileSHA256, l.FileSHA256)
	field("cycle", s.Cycle, l.Cycle)
	field("original", s.Original, l.Original)
	return out
}

func compareTotals(cycle string, st, lt Totals) []Break {
	keys := map[totalKey]bool{}
	for k := range st {
		keys[k] = true
	}
	for k := range lt {
		keys[k] = true
	}
	sorted := make([]totalKey, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].bank != sorted[j].bank {
			return sorted[i].bank < sorted[j].bank
		}
		return sorted[i].cur.Code() < sorted[j].cur.Code()
	})
	var out []Break
	for _, k := range sorted {
		a, b := st[k], lt[k]
		if a == nil {
			a = &total{}
		}
		if b == nil {
			b = &total{}
		}
		subject := string(k.bank) + "/" + k.cur.Code()
		if a.count != b.count {
			out = append(out, Break{Kind: TotalsMismatch, Cycle: cycle, Subject: subject, Field: "count",
				Store: fmt.Sprint(a.count), Ledger: fmt.Sprint(b.count)})
		}
		if as, bs := a.value(), b.value(); !as.Equal(bs) {
			out = append(out, Break{Kind: TotalsMismatch, Cycle: cycle, Subject: subject, Field: "control_sum",
				Store: settlement.FormatAmount(as, k.cur), Ledger: settlement.FormatAmount(bs, k.cur)})
		}
	}
	return out
}

// NetPosition is one side's net position of a bank in a currency.
type NetPosition struct {
	Bank     settlement.BIC
	Currency settlement.Currency
	Net      decimal.Decimal
}

// Positions compares the two sides' net positions. A bank missing on one
// side counts as zero there, so a zero position may be omitted by either.
func Positions(cycle string, store, ledger []NetPosition) []Break {
	type key = totalKey
	s, l := map[key]decimal.Decimal{}, map[key]decimal.Decimal{}
	keys := map[key]bool{}
	for _, p := range store {
		s[key{p.Bank, p.Currency}] = s[key{p.Bank, p.Currency}].Add(p.Net)
		keys[key{p.Bank, p.Currency}] = true
	}
	for _, p := range ledger {
		l[key{p.Bank, p.Currency}] = l[key{p.Bank, p.Currency}].Add(p.Net)
		keys[key{p.Bank, p.Currency}] = true
	}
	sorted := make([]key, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].cur != sorted[j].cur {
			return sorted[i].cur.Code() < sorted[j].cur.Code()
		}
		return sorted[i].bank < sorted[j].bank
	})
	var out []Break
	for _, k := range sorted {
		if !s[k].Equal(l[k]) {
			out = append(out, Break{Kind: PositionMismatch, Cycle: cycle, Subject: string(k.bank) + "/" + k.cur.Code(), Field: "net",
				Store: settlement.FormatAmount(s[k], k.cur), Ledger: settlement.FormatAmount(l[k], k.cur)})
		}
	}
	return out
}

// Status compares the cycle's status: settled in Postgres must be settled
// on the ledger, and the other way round.
func Status(cycle string, storeSettled, ledgerSettled bool, storeStage, ledgerStatus string) []Break {
	if storeSettled == ledgerSettled {
		return nil
	}
	return []Break{{Kind: StatusMismatch, Cycle: cycle, Subject: cycle, Field: "status", Store: storeStage, Ledger: ledgerStatus}}
}

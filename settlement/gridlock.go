package settlement

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// Gridlock resolution: the rule is stated in the package doc (doc.go), in
// the contract's words; OrderQueues and Resolve implement it.

// ErrReversalsOverCap is what a ReversalsOverCapError wraps: the cycle is
// held for the operator.
var ErrReversalsOverCap = errors.New("reversals alone exceed a net debit cap: cycle held for the operator")

// ReversalBreach is a bank that ends over its cap with every one of its
// payments removed: what it pays back in reversals (less what it still
// receives) exceeds its cap.
type ReversalBreach struct {
	Bank      BIC
	Currency  Currency
	Net       decimal.Decimal // its net with none of its payments left: its reversals and what it still receives
	Cap       decimal.Decimal
	Reversals []string // ids of the reversals it pays, in file order
}

// ReversalsOverCapError names every bank whose reversals alone break its
// cap, by currency code then BIC. Which banks are named does not depend on
// the order of removal either: removal goes on around a bank stuck this
// way, and stops at the one greatest set in which every bank over its cap
// has nothing left to remove.
type ReversalsOverCapError struct {
	Breaches []ReversalBreach
}

func (e *ReversalsOverCapError) Error() string {
	var b strings.Builder
	b.WriteString(ErrReversalsOverCap.Error())
	for i, r := range e.Breaches {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s net %s with every payment removed, cap %s, reversals %s", r.Bank, r.Currency,
			FormatAmount(r.Net, r.Currency), FormatAmount(r.Cap, r.Currency), strings.Join(r.Reversals, ","))
	}
	return b.String()
}

func (e *ReversalsOverCapError) Unwrap() error { return ErrReversalsOverCap }

// queued is one entry in its payer's queue, its amount in minor units. It
// names its entry by file and position rather than by pointer: a million of
// them then hold no pointer for the garbage collector to scan, nor a write
// barrier to pay when they are placed.
type queued struct {
	amt       units
	payee     int32
	file, pos int32
}

// curQueue holds one currency's queues, bank by bank (banks indexed in
// ascending BIC order): bank b's reversals are rev[revStart[b]:revStart[b+1]]
// in file order, its payments pay[payStart[b]:payStart[b+1]] in queue order.
type curQueue struct {
	cur      Currency
	rev      []queued
	revStart []int
	pay      []queued
	payStart []int
}

// Queues is a cycle's entries in each bank's queue order, currency by
// currency, ready to be resolved against the caps.
type Queues struct {
	files   [][]Entry
	banks   []BIC // ascending
	index   map[BIC]int32
	curs    []curQueue // by currency code
	entries int64
}

// OrderQueues builds every bank's queue from the cycle's files, given in the
// order they were recorded on the ledger, each with its entries in file
// order. Entries are referenced, not copied: files must not change while
// the Queues are used, and the Resolution's payments point into them.
//
// It costs O(P + B log B): within a file the order is already the queue's,
// so a stable counting placement by (currency, payer, priority) is enough,
// and the only sort is of the B banks' BICs.
func OrderQueues(files [][]Entry) (*Queues, error) {
	b := newQueueBuilder(files)
	if err := b.count(files); err != nil {
		return nil, err
	}
	firstSlot := b.renumber()
	at := b.layout(firstSlot)
	if err := b.place(files, at); err != nil {
		return nil, err
	}
	return b.q, nil
}

// queueCount counts one bank's reversals, HIGH payments and all payments in
// one currency.
type queueCount struct{ rev, high, pay int }

// queueBuilder is OrderQueues' state between its passes: a counting pass
// (count), the renumbering of banks and currencies into their final order
// (renumber), the queues' offsets (layout), and the placing pass (place).
type queueBuilder struct {
	q    *Queues
	slot [len(currencies)]int32 // currency -> 1 + its place in q.curs; 0 unseen
	ids  []int32                // payer and payee of each entry, first as order of first sight
	// A small direct-mapped cache in front of the map: two map lookups an
	// entry were a third of the ordering's time, and a cycle has few banks.
	cache [256]struct {
		b BIC
		i int32
	}
	seen  [][]queueCount // by currency then bank, in order of first sight
	order []Currency     // currencies, first in order of first sight
	renum []int32        // bank's index of first sight -> its final index
}

func newQueueBuilder(files [][]Entry) *queueBuilder {
	b := &queueBuilder{q: &Queues{files: files, index: map[BIC]int32{}}}
	n := 0
	for _, f := range files {
		n += len(f)
	}
	b.ids = make([]int32, 2*n)
	return b
}

// intern is a bank's index in order of first sight.
func (qb *queueBuilder) intern(b BIC) int32 {
	var h uint8
	if len(b) >= 8 {
		h = b[0] ^ b[1]<<1 ^ b[2]<<2 ^ b[3]<<3 ^ b[4]>>1 ^ b[5]>>2 ^ b[6]<<4 ^ b[7]<<5 ^ uint8(len(b))
	}
	if c := &qb.cache[h]; c.b == b && b != "" {
		return c.i
	}
	q := qb.q
	i, ok := q.index[b]
	if !ok {
		i = int32(len(q.banks))
		q.index[b] = i
		q.banks = append(q.banks, b)
	}
	qb.cache[h].b, qb.cache[h].i = b, i
	return i
}

// count checks every entry and counts each queue's reversals, HIGH and all
// payments in the same pass, by currency and bank in order of first sight;
// they are put in the final order by renumber.
func (qb *queueBuilder) count(files [][]Entry) error {
	if len(files) > 1<<31-1 {
		return fmt.Errorf("%d files in one cycle", len(files))
	}
	k := 0
	var lastPayer BIC
	var lastID int32
	for _, f := range files {
		if len(f) > 1<<31-1 {
			return fmt.Errorf("%d entries in one file", len(f))
		}
		for i := range f {
			e := &f[i]
			if !e.Currency.Valid() {
				return fmt.Errorf("entry %s: no currency", e.ID)
			}
			if e.Kind != KindPayment && e.Kind != KindReversal {
				return fmt.Errorf("entry %s: kind %q is neither payment nor reversal", e.ID, byte(e.Kind))
			}
			payer, payee := e.Payer(), e.Payee()
			if payer == payee {
				return fmt.Errorf("entry %s: payer and payee are both %s", e.ID, payer)
			}
			if payer != lastPayer || payer == "" { // a file's payments share their payer
				lastPayer, lastID = payer, qb.intern(payer)
			}
			qb.ids[2*k], qb.ids[2*k+1] = lastID, qb.intern(payee)
			if qb.slot[e.Currency] == 0 {
				qb.order = append(qb.order, e.Currency)
				qb.slot[e.Currency] = int32(len(qb.order))
				qb.seen = append(qb.seen, nil)
			}
			cs := &qb.seen[qb.slot[e.Currency]-1]
			for int(lastID) >= len(*cs) {
				*cs = append(*cs, queueCount{})
			}
			c := &(*cs)[lastID]
			switch {
			case e.Kind == KindReversal:
				c.rev++
			case e.Priority == PriorityHigh:
				c.high++
				c.pay++
			default:
				c.pay++
			}
			k++
		}
	}
	qb.q.entries = int64(len(qb.ids) / 2)
	return nil
}

// renumber puts the banks in ascending BIC order and the currencies in code
// order, so that the queues never depend on the order of first sight, and
// returns the currencies' slots of first sight (the index of seen).
func (qb *queueBuilder) renumber() (firstSlot [len(currencies)]int32) {
	q := qb.q
	first := q.banks
	q.banks = slices.Clone(first)
	slices.Sort(q.banks)
	qb.renum = make([]int32, len(first))
	for i, b := range q.banks {
		q.index[b] = int32(i)
	}
	for i, b := range first {
		qb.renum[i] = q.index[b]
	}
	for i := range qb.ids {
		qb.ids[i] = qb.renum[qb.ids[i]]
	}
	firstSlot = qb.slot
	slices.SortFunc(qb.order, func(a, b Currency) int { return strings.Compare(a.Code(), b.Code()) })
	for i, c := range qb.order {
		qb.slot[c] = int32(i + 1)
	}
	return firstSlot
}

// queueCursors are, by currency then bank, where the next reversal, HIGH
// payment and other payment is placed.
type queueCursors struct {
	rev, high, norm [][]int
}

// layout allocates every currency's queues from the counts: each bank's
// reversals, then its payments with the HIGH ones first, and returns where
// each class starts.
func (qb *queueBuilder) layout(firstSlot [len(currencies)]int32) queueCursors {
	q, order := qb.q, qb.order
	nb := len(q.banks)
	q.curs = make([]curQueue, len(order))
	revN := make([][]int, len(order))
	highN := make([][]int, len(order))
	payN := make([][]int, len(order))
	for s, c := range order {
		q.curs[s].cur = c
		revN[s], highN[s], payN[s] = make([]int, nb), make([]int, nb), make([]int, nb)
		for t, cnt := range qb.seen[firstSlot[c]-1] {
			b := qb.renum[t]
			revN[s][b], highN[s][b], payN[s][b] = cnt.rev, cnt.high, cnt.pay
		}
	}
	// Offsets; then the cursors where each class is placed next.
	at := queueCursors{rev: make([][]int, len(order)), high: make([][]int, len(order)), norm: make([][]int, len(order))}
	for s := range q.curs {
		cq := &q.curs[s]
		cq.revStart, cq.payStart = make([]int, nb+1), make([]int, nb+1)
		at.rev[s], at.high[s], at.norm[s] = make([]int, nb), make([]int, nb), make([]int, nb)
		for b := 0; b < nb; b++ {
			cq.revStart[b+1] = cq.revStart[b] + revN[s][b]
			cq.payStart[b+1] = cq.payStart[b] + payN[s][b]
			at.rev[s][b] = cq.revStart[b]
			at.high[s][b] = cq.payStart[b]
			at.norm[s][b] = cq.payStart[b] + highN[s][b]
		}
		cq.rev = make([]queued, cq.revStart[nb])
		cq.pay = make([]queued, cq.payStart[nb])
	}
	return at
}

// place puts every entry, in file order, at its class's cursor in its
// payer's queue: a stable placement, so that within a class the queue keeps
// the order of the files. An amount that is not a positive amount of its
// currency is refused here, where it is converted to minor units.
func (qb *queueBuilder) place(files [][]Entry, at queueCursors) error {
	q := qb.q
	k := 0
	for fi, f := range files {
		for i := range f {
			e := &f[i]
			u, ok := unitsOf(e.Amount, e.Currency.MinorUnit())
			if !ok || u.sign() <= 0 {
				return fmt.Errorf("entry %s: amount %s is not a positive %s amount", e.ID, e.Amount, e.Currency)
			}
			s, payer := qb.slot[e.Currency]-1, qb.ids[2*k]
			it := queued{amt: u, payee: qb.ids[2*k+1], file: int32(fi), pos: int32(i)}
			cq := &q.curs[s]
			switch {
			case e.Kind == KindReversal:
				cq.rev[at.rev[s][payer]] = it
				at.rev[s][payer]++
			case e.Priority == PriorityHigh:
				cq.pay[at.high[s][payer]] = it
				at.high[s][payer]++
			default:
				cq.pay[at.norm[s][payer]] = it
				at.norm[s][payer]++
			}
			k++
		}
	}
	return nil
}

func (q *Queues) entry(it queued) *Entry { return &q.files[it.file][it.pos] }

// Entries counts the entries queued.
func (q *Queues) Entries() int64 { return q.entries }

// Queue is a bank's payments in one currency in queue order, the order in
// which they settle and the reverse of the order in which they are removed.
func (q *Queues) Queue(bank BIC, cur Currency) []*Entry {
	b, ok := q.index[bank]
	if !ok {
		return nil
	}
	for i := range q.curs {
		if cq := &q.curs[i]; cq.cur == cur {
			var out []*Entry
			for _, it := range cq.pay[cq.payStart[b]:cq.payStart[b+1]] {
				out = append(out, q.entry(it))
			}
			return out
		}
	}
	return nil
}

// capLimit is CapLimit, the cap policy, for the resolution's units
// (TestResolveAgreesWithCapBreaches checks that the two agree).
func capLimit(caps map[posKey]units, k posKey) (limit units, limited bool) {
	scale := k.cur.MinorUnit()
	u, ok := caps[k]
	d, limited := CapLimit(u.decimal(scale), ok)
	limit, fits := unitsOf(d, scale)
	if !fits {
		panic("cap policy gives a limit outside the currency's units") // a bug in CapLimit
	}
	return limit, limited
}

// Deferral is what one bank defers in one currency: the tail of its queue
// that does not fit under its cap.
type Deferral struct {
	Bank     BIC
	Currency Currency
	Cap      decimal.Decimal
	Net      decimal.Decimal // its net with every payment of the cycle
	Settled  decimal.Decimal // its net over what settles
	Amount   decimal.Decimal // the deferred payments' sum
	Payments []*Entry        // deferred, in queue order
}

// MarshalJSON writes amounts as strings with the currency's digits, and
// each deferred payment as its id, payee, amount and priority. It is
// written by hand, byte for byte what encoding/json writes for the same
// fields (a test holds it to that): a cycle may defer a million payments,
// and reflection over a million small structs doubled the time and memory.
func (d Deferral) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 192+len(d.Payments)*96)
	b = append(b, `{"bank":`...)
	b = appendJSONString(b, string(d.Bank))
	b = append(b, `,"currency":`...)
	b = appendJSONString(b, d.Currency.Code())
	for _, f := range []struct {
		key string
		v   decimal.Decimal
	}{{`,"cap":`, d.Cap}, {`,"net":`, d.Net}, {`,"settled_net":`, d.Settled}, {`,"deferred_amount":`, d.Amount}} {
		b = append(b, f.key...)
		b = appendJSONString(b, FormatAmount(f.v, d.Currency))
	}
	b = append(b, `,"deferred_count":`...)
	b = strconv.AppendInt(b, int64(len(d.Payments)), 10)
	b = append(b, `,"deferred":[`...)
	for i, e := range d.Payments {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, e.ID)
		b = append(b, `,"creditor":`...)
		b = appendJSONString(b, string(e.Creditor))
		b = append(b, `,"amount":`...)
		b = appendJSONString(b, FormatAmount(e.Amount, e.Currency))
		b = append(b, `,"priority":`...)
		b = appendJSONString(b, e.Priority.String())
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// appendJSONString appends s as encoding/json writes it: as it is when it
// holds nothing to escape (ids, BICs and amounts never do), else by
// encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Resolution is the greatest set of payments that fits every cap: what
// defers, and the positions of what settles.
type Resolution struct {
	Entries   int64
	Settled   int64
	Deferrals []Deferral // by currency code, then bank
	// Positions of what settles, ordered as Netting.Result orders them: a
	// bank appears in a currency when at least one settling entry names it.
	Positions []Position
}

// Deferred tells whether anything is deferred.
func (r *Resolution) Deferred() bool { return len(r.Deferrals) > 0 }

// Resolve finds, currency by currency, the greatest set of per-bank queue
// prefixes that keeps every bank within its cap, by the removal the package
// states. Caps must be non-negative, in their currency's scale, and one per
// bank and currency. If reversals alone put some bank over its cap, it
// returns a *ReversalsOverCapError naming every such bank.
//
// It costs O(P + E log B) for P entries and B banks, where E <= P + B is
// the number of times a bank goes over its cap (a payee made over its cap
// by a removal); each removal itself is O(1).
func (q *Queues) Resolve(caps []Cap) (*Resolution, error) {
	capOf := make(map[posKey]units, len(caps))
	for _, c := range caps {
		if !c.Currency.Valid() {
			return nil, fmt.Errorf("cap of %s: no currency", c.Bank)
		}
		u, ok := unitsOf(c.Amount, c.Currency.MinorUnit())
		if !ok || u.sign() < 0 {
			return nil, fmt.Errorf("cap of %s %s: %s is not a non-negative %s amount", c.Bank, c.Currency, c.Amount, c.Currency)
		}
		k := posKey{c.Bank, c.Currency}
		if _, dup := capOf[k]; dup {
			return nil, fmt.Errorf("cap of %s %s given twice", c.Bank, c.Currency)
		}
		capOf[k] = u
	}
	res := &Resolution{Entries: q.entries}
	var held []ReversalBreach
	for i := range q.curs {
		br, err := q.resolveCurrency(&q.curs[i], capOf, res)
		if err != nil {
			return nil, err
		}
		held = append(held, br...)
	}
	if len(held) > 0 {
		return nil, &ReversalsOverCapError{Breaches: held}
	}
	return res, nil
}

// resolveCurrency resolves one currency's queues against the caps: it
// removes payments from the back of the queues (removeOverCap), then
// recomputes what settles and asserts the outcome (settle), adding the
// deferrals, positions and counts to res. It returns the banks whose
// reversals alone break their cap.
func (q *Queues) resolveCurrency(cq *curQueue, capOf map[posKey]units, res *Resolution) ([]ReversalBreach, error) {
	r, err := q.newCurrencyRun(cq, capOf)
	if err != nil {
		return nil, err
	}
	if err := r.removeOverCap(); err != nil {
		return nil, err
	}
	return r.settle(q, res)
}

// currencyRun is the removal of one currency: how many of its payments each
// bank still includes, and each bank's room (net + cap: a limited bank is
// over its cap when room < 0), by bank index.
type currencyRun struct {
	cq      *curQueue
	nb      int
	incl    []int
	room    []units
	limit   []units
	limited []bool
	net0    []units // each bank's net with every payment included
}

// newCurrencyRun starts with every payment included and every bank's room
// from its caps (capLimit).
func (q *Queues) newCurrencyRun(cq *curQueue, capOf map[posKey]units) (*currencyRun, error) {
	nb := len(q.banks)
	incl := make([]int, nb) // how many of its payments each bank still includes
	for b := 0; b < nb; b++ {
		incl[b] = cq.payStart[b+1] - cq.payStart[b]
	}
	sent, recv, _, err := cq.flows(nb, incl)
	if err != nil {
		return nil, err
	}
	// room = net + cap: a limited bank is over its cap when room < 0.
	r := &currencyRun{cq: cq, nb: nb, incl: incl,
		room: make([]units, nb), limit: make([]units, nb), limited: make([]bool, nb), net0: make([]units, nb)}
	for b := 0; b < nb; b++ {
		var ok bool
		if r.net0[b], ok = recv[b].add(sent[b].neg()); !ok {
			return nil, ErrOverflow
		}
		r.limit[b], r.limited[b] = capLimit(capOf, posKey{q.banks[b], cq.cur})
		if r.room[b], ok = r.net0[b].add(r.limit[b]); !ok {
			return nil, ErrOverflow
		}
	}
	return r, nil
}

func (r *currencyRun) over(b int32) bool { return r.limited[b] && r.room[b].sign() < 0 }

// removeOverCap is the removal loop, always at the over-cap bank of lowest
// BIC: a min-heap of bank indices (ascending BIC), touched only when a bank
// goes over its cap or is done. A removal changes two rooms; nothing else is
// kept up to date in the loop.
func (r *currencyRun) removeOverCap() error {
	cq, nb, incl, room, limited := r.cq, r.nb, r.incl, r.room, r.limited
	var h bankHeap
	inHeap := make([]bool, nb)
	for b := int32(0); b < int32(nb); b++ {
		if r.over(b) {
			h.push(b)
			inHeap[b] = true
		}
	}
	for len(h) > 0 {
		b := h[0]
		if incl[b] == 0 || room[b].sign() >= 0 {
			h.pop()
			inHeap[b] = false
			continue
		}
		incl[b]--
		it := &cq.pay[cq.payStart[b]+incl[b]]
		var ok bool
		if room[b], ok = room[b].add(it.amt); !ok {
			return ErrOverflow
		}
		if j := it.payee; limited[j] {
			if room[j], ok = room[j].add(it.amt.neg()); !ok {
				return ErrOverflow
			}
			if !inHeap[j] && room[j].sign() < 0 {
				h.push(j)
				inHeap[j] = true
			}
		}
	}
	return nil
}

// settle recomputes what settles from the prefixes; then asserts the
// outcome before anyone relies on it: within every cap but where nothing is
// left to remove; every removal needed (putting a bank's first deferred
// payment back breaks its cap); the rooms kept in the loop equal the
// recomputed nets; zero sum.
func (r *currencyRun) settle(q *Queues, res *Resolution) ([]ReversalBreach, error) {
	cq, nb, incl := r.cq, r.nb, r.incl
	scale := cq.cur.MinorUnit()
	sent, recv, touch, err := cq.flows(nb, incl)
	if err != nil {
		return nil, err
	}
	deferred := 0
	for b := 0; b < nb; b++ {
		deferred += cq.payStart[b+1] - cq.payStart[b] - incl[b]
	}
	backing := make([]*Entry, 0, deferred)
	var held []ReversalBreach
	var sum units
	for b := int32(0); b < int32(nb); b++ {
		net, _ := recv[b].add(sent[b].neg())
		sum, _ = sum.add(net)
		if r.limited[b] {
			if rm, _ := net.add(r.limit[b]); rm != r.room[b] {
				return nil, fmt.Errorf("%w: %s %s room %s kept in the removal loop, %s recomputed", ErrInvariant,
					q.banks[b], cq.cur, r.room[b].decimal(scale), rm.decimal(scale))
			}
		}
		if r.over(b) {
			br, err := r.breach(q, b, net)
			if err != nil {
				return nil, err
			}
			held = append(held, br)
			continue
		}
		if n := cq.payStart[b+1] - cq.payStart[b]; incl[b] < n {
			d, err := r.deferral(q, b, net, &backing)
			if err != nil {
				return nil, err
			}
			res.Deferrals = append(res.Deferrals, d)
		}
		if touch[b] > 0 {
			res.Positions = append(res.Positions, Position{Bank: q.banks[b], Currency: cq.cur,
				Sent: sent[b].decimal(scale), Received: recv[b].decimal(scale), Net: net.decimal(scale)})
		}
		res.Settled += int64(incl[b])
	}
	if sum.sign() != 0 {
		return nil, fmt.Errorf("%w: %s resolved net positions sum to %s, not zero", ErrInvariant, cq.cur, sum.decimal(scale))
	}
	res.Settled += int64(len(cq.rev))
	return held, nil
}

// breach is bank b ending over its cap at net: only allowed with none of its
// payments left and reversals to blame, which are named for the operator.
func (r *currencyRun) breach(q *Queues, b int32, net units) (ReversalBreach, error) {
	cq := r.cq
	scale := cq.cur.MinorUnit()
	if r.incl[b] != 0 || cq.revStart[b+1] == cq.revStart[b] {
		return ReversalBreach{}, fmt.Errorf("%w: %s %s ends over its cap with %d payments and %d reversals included",
			ErrInvariant, q.banks[b], cq.cur, r.incl[b], cq.revStart[b+1]-cq.revStart[b])
	}
	br := ReversalBreach{Bank: q.banks[b], Currency: cq.cur, Net: net.decimal(scale), Cap: r.limit[b].decimal(scale)}
	for _, it := range cq.rev[cq.revStart[b]:cq.revStart[b+1]] {
		br.Reversals = append(br.Reversals, q.entry(it).ID)
	}
	return br, nil
}

// deferral is bank b's deferred payments, the back of its queue, which must
// each have been needed: putting the first of them back must break its cap.
// The payments are appended to backing, one allocation for the currency's
// deferrals, and the deferral's slice is capped so that appending to it
// never writes into the next bank's.
func (r *currencyRun) deferral(q *Queues, b int32, net units, backing *[]*Entry) (Deferral, error) {
	cq := r.cq
	scale := cq.cur.MinorUnit()
	back, _ := r.room[b].add(cq.pay[cq.payStart[b]+r.incl[b]].amt.neg())
	if !r.limited[b] || back.sign() >= 0 {
		return Deferral{}, fmt.Errorf("%w: %s %s deferred a payment that fits its cap", ErrInvariant, q.banks[b], cq.cur)
	}
	d := Deferral{Bank: q.banks[b], Currency: cq.cur, Cap: r.limit[b].decimal(scale),
		Net: r.net0[b].decimal(scale), Settled: net.decimal(scale)}
	var amt units
	from := len(*backing)
	for _, it := range cq.pay[cq.payStart[b]+r.incl[b] : cq.payStart[b+1]] {
		amt, _ = amt.add(it.amt)
		*backing = append(*backing, q.entry(it))
	}
	d.Payments = (*backing)[from:len(*backing):len(*backing)]
	d.Amount = amt.decimal(scale)
	return d, nil
}

// flows sums what each bank sends and receives, every reversal and the
// first incl[b] payments of each bank b included, and counts the included
// entries that name each bank.
func (cq *curQueue) flows(nb int, incl []int) (sent, recv []units, touch []int64, err error) {
	sent, recv, touch = make([]units, nb), make([]units, nb), make([]int64, nb)
	for b := 0; b < nb; b++ {
		for _, list := range [][]queued{cq.rev[cq.revStart[b]:cq.revStart[b+1]], cq.pay[cq.payStart[b] : cq.payStart[b]+incl[b]]} {
			for i := range list {
				it := &list[i]
				var ok1, ok2 bool
				sent[b], ok1 = sent[b].add(it.amt)
				recv[it.payee], ok2 = recv[it.payee].add(it.amt)
				if !ok1 || !ok2 {
					return nil, nil, nil, ErrOverflow
				}
				touch[b]++
				touch[it.payee]++
			}
		}
	}
	return sent, recv, touch, nil
}

// bankHeap is a min-heap of bank indices: the lowest index is the lowest BIC.
type bankHeap []int32

func (h *bankHeap) push(b int32) {
	*h = append(*h, b)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p] <= s[i] {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *bankHeap) pop() {
	s := *h
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(s) && s[l] < s[m] {
			m = l
		}
		if r := l + 1; r < len(s) && s[r] < s[m] {
			m = r
		}
		if m == i {
			break
		}
		s[m], s[i] = s[i], s[m]
		i = m
	}
	*h = s
}

// MarshalJSON writes amounts as strings with the currency's digits.
func (b ReversalBreach) MarshalJSON() ([]byte, error) {
	rs := b.Reversals
	if rs == nil {
		rs = []string{}
	}
	return json.Marshal(struct {
		Bank      BIC      `json:"bank"`
		Currency  string   `json:"currency"`
		Net       string   `json:"net"`
		Cap       string   `json:"cap"`
		Reversals []string `json:"reversals"`
	}{b.Bank, b.Currency.Code(), FormatAmount(b.Net, b.Currency), FormatAmount(b.Cap, b.Currency), rs})
}

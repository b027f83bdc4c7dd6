package settlement

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/shopspring/decimal"
)

// ErrInvariant reports a broken invariant of netting: a bug, never bad
// input. Whoever gets it stops the cycle.
var ErrInvariant = errors.New("settlement invariant broken")

type posKey struct {
	bank BIC
	cur  Currency
}

type posAcc struct{ sent, received units }

type pairKey struct {
	from, to BIC
	cur      Currency
}

// Netting accumulates entries into multilateral positions and bilateral
// gross flows. Amounts are held exactly in the currency's minor units; the
// order entries arrive in changes nothing. The zero value is ready to use.
type Netting struct {
	pos     map[posKey]*posAcc
	gross   map[pairKey]*units
	entries int64
	err     error
}

// Add nets one entry: the payer sends, the payee receives (for a reversal
// the original creditor pays the original debtor back).
func (n *Netting) Add(e *Entry) error {
	if n.err != nil {
		return n.err
	}
	if !e.Currency.Valid() {
		return n.fail(fmt.Errorf("entry %s: no currency", e.ID))
	}
	u, ok := unitsOf(e.Amount, e.Currency.MinorUnit())
	if !ok || u.sign() <= 0 {
		return n.fail(fmt.Errorf("entry %s: amount %s is not a positive %s amount", e.ID, e.Amount, e.Currency))
	}
	payer, payee := e.Payer(), e.Payee()
	if payer == payee {
		return n.fail(fmt.Errorf("entry %s: payer and payee are both %s", e.ID, payer))
	}
	if n.pos == nil {
		n.pos = make(map[posKey]*posAcc)
		n.gross = make(map[pairKey]*units)
	}
	if err := n.addPos(posKey{payer, e.Currency}, u, true); err != nil {
		return err
	}
	if err := n.addPos(posKey{payee, e.Currency}, u, false); err != nil {
		return err
	}
	g := n.gross[pairKey{payer, payee, e.Currency}]
	if g == nil {
		g = new(units)
		n.gross[pairKey{payer, payee, e.Currency}] = g
	}
	if *g, ok = g.add(u); !ok {
		return n.fail(ErrOverflow)
	}
	n.entries++
	return nil
}

func (n *Netting) addPos(k posKey, u units, sent bool) error {
	p := n.pos[k]
	if p == nil {
		p = new(posAcc)
		n.pos[k] = p
	}
	var ok bool
	if sent {
		p.sent, ok = p.sent.add(u)
	} else {
		p.received, ok = p.received.add(u)
	}
	if !ok {
		return n.fail(ErrOverflow)
	}
	return nil
}

func (n *Netting) fail(err error) error {
	n.err = err
	return err
}

// Entries counts the entries netted.
func (n *Netting) Entries() int64 { return n.entries }

// Merge adds everything o netted into n.
func (n *Netting) Merge(o *Netting) error {
	if n.err != nil {
		return n.err
	}
	if o.err != nil {
		return n.fail(o.err)
	}
	if n.pos == nil {
		n.pos = make(map[posKey]*posAcc, len(o.pos))
		n.gross = make(map[pairKey]*units, len(o.gross))
	}
	for k, v := range o.pos {
		if err := n.addPos(k, v.sent, true); err != nil {
			return err
		}
		if err := n.addPos(k, v.received, false); err != nil {
			return err
		}
	}
	for k, v := range o.gross {
		g := n.gross[k]
		if g == nil {
			g = new(units)
			n.gross[k] = g
		}
		var ok bool
		if *g, ok = g.add(*v); !ok {
			return n.fail(ErrOverflow)
		}
	}
	n.entries += o.entries
	return nil
}

// Position is a bank's multilateral position in one currency:
// Net = Received - Sent; a negative Net is a net debit.
type Position struct {
	Bank     BIC
	Currency Currency
	Sent     decimal.Decimal
	Received decimal.Decimal
	Net      decimal.Decimal
}

// MarshalJSON writes amounts as strings with the currency's minor digits.
func (p Position) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Bank     BIC    `json:"bank"`
		Currency string `json:"currency"`
		Sent     string `json:"sent"`
		Received string `json:"received"`
		Net      string `json:"net"`
	}{p.Bank, p.Currency.Code(), FormatAmount(p.Sent, p.Currency),
		FormatAmount(p.Received, p.Currency), FormatAmount(p.Net, p.Currency)})
}

// Obligation is what one bank owes another in one currency once their
// flows both ways are set off against each other.
type Obligation struct {
	From     BIC
	To       BIC
	Currency Currency
	Amount   decimal.Decimal
}

// MarshalJSON writes the amount as a string with the currency's digits.
func (o Obligation) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		From     BIC    `json:"from"`
		To       BIC    `json:"to"`
		Currency string `json:"currency"`
		Amount   string `json:"amount"`
	}{o.From, o.To, o.Currency.Code(), FormatAmount(o.Amount, o.Currency)})
}

// Result is a netted cycle: positions sorted by currency then bank,
// obligations by currency, payer, payee. The same entries in any order give
// the same Result.
type Result struct {
	Entries   int64
	Positions []Position
	Bilateral []Obligation
}

// Result computes positions and obligations and asserts, before handing
// them out, that every currency's positions sum to exactly zero and that
// the bilateral obligations add up to the same positions.
func (n *Netting) Result() (*Result, error) {
	if n.err != nil {
		return nil, n.err
	}
	keys := make([]posKey, 0, len(n.pos))
	for k := range n.pos {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].cur != keys[j].cur {
			return keys[i].cur.Code() < keys[j].cur.Code()
		}
		return keys[i].bank < keys[j].bank
	})
	res := &Result{Entries: n.entries, Positions: make([]Position, 0, len(keys))}
	zero := map[Currency]units{}
	nets := make(map[posKey]units, len(keys))
	for _, k := range keys {
		p := n.pos[k]
		net, ok := p.received.add(p.sent.neg())
		if !ok {
			return nil, ErrOverflow
		}
		nets[k] = net
		if zero[k.cur], ok = zero[k.cur].add(net); !ok {
			return nil, ErrOverflow
		}
		s := k.cur.MinorUnit()
		res.Positions = append(res.Positions, Position{Bank: k.bank, Currency: k.cur,
			Sent: p.sent.decimal(s), Received: p.received.decimal(s), Net: net.decimal(s)})
	}
	for c, sum := range zero {
		if sum.sign() != 0 {
			return nil, fmt.Errorf("%w: %s net positions sum to %s, not zero", ErrInvariant, c, sum.decimal(c.MinorUnit()))
		}
	}

	// Set off each pair's two directions; check they rebuild the positions.
	check := make(map[posKey]units, len(keys))
	for k, g := range n.gross {
		back := units{}
		if b := n.gross[pairKey{k.to, k.from, k.cur}]; b != nil {
			back = *b
		}
		d, ok := g.add(back.neg())
		if !ok {
			return nil, ErrOverflow
		}
		if d.sign() <= 0 {
			continue // the other direction reports it, or they cancel out
		}
		from, to := posKey{k.from, k.cur}, posKey{k.to, k.cur}
		check[from], _ = check[from].add(d.neg())
		check[to], _ = check[to].add(d)
		res.Bilateral = append(res.Bilateral, Obligation{From: k.from, To: k.to, Currency: k.cur,
			Amount: d.decimal(k.cur.MinorUnit())})
	}
	for k, net := range nets {
		if check[k] != net {
			return nil, fmt.Errorf("%w: %s %s bilateral obligations give %s, position is %s", ErrInvariant,
				k.bank, k.cur, check[k].decimal(k.cur.MinorUnit()), net.decimal(k.cur.MinorUnit()))
		}
	}
	sort.Slice(res.Bilateral, func(i, j int) bool {
		a, b := res.Bilateral[i], res.Bilateral[j]
		if a.Currency != b.Currency {
			return a.Currency.Code() < b.Currency.Code()
		}
		if a.From != b.From {
			return a.From < b.From
		}
		return a.To < b.To
	})
	return res, nil
}

// AssertBalanced checks, where positions are relied upon (before a ledger
// write, after reading them back), that each currency sums to zero and that
// each position's Net is its Received less its Sent.
func AssertBalanced(ps []Position) error {
	sums := map[Currency]decimal.Decimal{}
	for _, p := range ps {
		if !p.Received.Sub(p.Sent).Equal(p.Net) {
			return fmt.Errorf("%w: %s %s net %s is not received %s - sent %s", ErrInvariant, p.Bank, p.Currency, p.Net, p.Received, p.Sent)
		}
		sums[p.Currency] = sums[p.Currency].Add(p.Net)
	}
	for c, s := range sums {
		if !s.IsZero() {
			return fmt.Errorf("%w: %s positions sum to %s, not zero", ErrInvariant, c, s)
		}
	}
	return nil
}

// Cap is a bank's net debit cap in one currency: the largest net debit it
// may end a cycle with. A bank with no cap in a currency has a cap of zero
// there: it may not end a cycle as a net debtor in it. This is the one meaning
// of "no cap" (issue 11): the ledger's SettleCycle applies it through
// CapBreaches too, so the check before the ledger and the ledger's never differ.
type Cap struct {
	Bank     BIC
	Currency Currency
	Amount   decimal.Decimal
}

// CapBreach is a bank whose net debit exceeds its cap.
type CapBreach struct {
	Bank     BIC
	Currency Currency
	Net      decimal.Decimal
	Cap      decimal.Decimal
}

// MarshalJSON writes amounts as strings with the currency's digits.
func (b CapBreach) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Bank     BIC    `json:"bank"`
		Currency string `json:"currency"`
		Net      string `json:"net"`
		Cap      string `json:"cap"`
	}{b.Bank, b.Currency.Code(), FormatAmount(b.Net, b.Currency), FormatAmount(b.Cap, b.Currency)})
}

// CapLimit is the cap policy, in one place: the largest net debit a bank
// may end a cycle with in a currency, given its cap there (ok false: it has
// none), and whether it is limited at all. "No cap" means a cap of zero:
// the bank may not end the cycle a net debtor there (issue 11). The check
// before the ledger (CapBreaches), the gridlock resolution (capLimit) and
// the chaincode's settlement all ask this function, so they never differ.
func CapLimit(amount decimal.Decimal, ok bool) (limit decimal.Decimal, limited bool) {
	if !ok {
		return decimal.Zero, true
	}
	return amount, true
}

// CapBreaches lists, in the positions' order, every position whose net
// debit is larger than the bank's cap in that currency; a debtor without a
// cap breaches a cap of zero (Cap's doc).
func CapBreaches(ps []Position, caps []Cap) []CapBreach {
	byKey := make(map[posKey]decimal.Decimal, len(caps))
	for _, c := range caps {
		byKey[posKey{c.Bank, c.Currency}] = c.Amount
	}
	var out []CapBreach
	for _, p := range ps {
		amount, ok := byKey[posKey{p.Bank, p.Currency}]
		limit, limited := CapLimit(amount, ok)
		if limited && p.Net.Neg().GreaterThan(limit) {
			out = append(out, CapBreach{Bank: p.Bank, Currency: p.Currency, Net: p.Net, Cap: limit})
		}
	}
	return out
}

package chaincode

import (
	"errors"
	"regexp"
	"sort"
	"strconv"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// Object types of the composite keys on the ledger.
const (
	keyBank     = "bank"  // [bic] -> Bank
	keyCap      = "cap"   // [bic, currency] -> Cap
	keyPayment  = "pay"   // [sender, payment id] -> Payment
	keyReversal = "rev"   // [sender, original payment id] -> Reversal (the original is reversed)
	keyChunk    = "chunk" // [cycle id, chunk id] -> Chunk
	keyCycle    = "cycle" // [cycle id] -> Cycle, written only when the cycle settles
	keyPing     = "ping"  // [tx id] -> tx id
	// keyCyclePay indexes a cycle's payments: [cycle id, sender, payment id] -> "1".
	// Composite keys join their attributes with U+0000, which sorts below every
	// character a BIC or payment id may hold, so a range over [cycle id] yields
	// the payments in (sender, payment id) byte order, as Go compares strings
	// (an 8-character BIC before its 11-character extensions).
	keyCyclePay = "cyclepay"
)

var (
	currencyRe  = regexp.MustCompile(`^[A-Z]{3}$`)
	paymentIDRe = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,35}$`)
	idRe        = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	mspIDRe     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	sha256Re    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// netRe: a signed net position; sums of many amounts may need a few more digits.
	netRe = regexp.MustCompile(`^-?[0-9]{1,24}(\.[0-9]{1,18})?$`)
)

// Payment kinds.
const (
	KindPayment  = "P"
	KindReversal = "R"
)

// Bank is a member of the scheme, known by its BIC and the MSP of its organisation.
type Bank struct {
	BIC   string `json:"bic"`
	MSPID string `json:"mspId"`
	TxID  string `json:"txId"`
}

// Cap is a bank's net debit cap in one currency: its net position there must not go
// below -Cap. A bank with no cap in a currency may not end a cycle as a net debtor in it.
type Cap struct {
	BIC      string `json:"bic"`
	Currency string `json:"currency"`
	Cap      string `json:"cap"`
	TxID     string `json:"txId"`
}

// PaymentIn is one payment or reversal as RecordChunk receives it. For a reversal,
// Debtor, Creditor, Amount and Currency repeat the original's; money then moves
// from Creditor back to Debtor.
type PaymentIn struct {
	Sender     string `json:"sender"`
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Debtor     string `json:"debtor"`
	Creditor   string `json:"creditor"`
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	FileSHA256 string `json:"fileSha256"`
	OriginalID string `json:"originalId,omitempty"`
}

// Payment is the digest of one payment or reversal kept on the ledger.
type Payment struct {
	Sender     string `json:"sender"`
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Debtor     string `json:"debtor"`
	Creditor   string `json:"creditor"`
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	FileSHA256 string `json:"fileSha256"`
	CycleID    string `json:"cycleId"`
	ChunkID    string `json:"chunkId"`
	OriginalID string `json:"originalId,omitempty"`
	TxID       string `json:"txId"`

	amount decimal.Decimal
}

// Reversal marks an original payment as reversed.
type Reversal struct {
	Sender     string `json:"sender"`
	OriginalID string `json:"originalId"`
	ReversalID string `json:"reversalId"`
	TxID       string `json:"txId"`
}

// Position is a bank's net position in one currency: received minus sent.
type Position struct {
	Bank     string `json:"bank"`
	Currency string `json:"currency"`
	Net      string `json:"net"`
}

// Chunk is what the ledger keeps about one recorded chunk of a cycle.
type Chunk struct {
	CycleID       string     `json:"cycleId"`
	ChunkID       string     `json:"chunkId"`
	Count         int        `json:"count"`
	ControlSum    string     `json:"controlSum"`
	Positions     []Position `json:"positions"`
	ContentSHA256 string     `json:"contentSha256"`
	TxID          string     `json:"txId"`
}

// Cycle is written once, when the cycle settles.
type Cycle struct {
	CycleID   string     `json:"cycleId"`
	Status    string     `json:"status"`
	Positions []Position `json:"positions"`
	Chunks    int        `json:"chunks"`
	Payments  int        `json:"payments"`
	// Deferred and CarriedIn count the gridlock resolution's entries
	// (deferral/CYCLE): deferred to the next cycle, taken from the last.
	Deferred  int `json:"deferred,omitempty"`
	CarriedIn int `json:"carriedIn,omitempty"`
	// PositionsSHA256 is settlement.PositionsSHA256 of Positions, written
	// when the cycle settles: the fingerprint an operator or an auditor
	// compares with Postgres's (the console's Positions page) or recomputes
	// with sha256sum over settlement.PositionsText.
	PositionsSHA256 string `json:"positionsSha256,omitempty"`
	TxID            string `json:"txId"`
}

// Cycle statuses.
const (
	StatusOpen    = "open"
	StatusSettled = "settled"
)

// normBIC validates a BIC and returns the form the ledger keys it by, with the
// service's own rule (settlement.ParseBIC): an 11-character BIC with branch XXX
// is the same bank as its 8-character form.
func normBIC(field, v string) (string, error) {
	b, err := settlement.ParseBIC(v)
	if err != nil {
		return "", refuse(CodeInvalid, "%s %q is not a BIC ([A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?)", field, clip(v))
	}
	return string(b), nil
}

// checkCurrency takes the currency table of the service (settlement), so the
// ledger and intake can never disagree on a code or its minor unit.
func checkCurrency(field, v string) (int32, error) {
	if !currencyRe.MatchString(v) {
		return 0, refuse(CodeInvalid, "%s %q is not an ISO 4217 code (3 upper-case letters)", field, clip(v))
	}
	c, err := settlement.ParseCurrency(v)
	if err != nil {
		return 0, refuse(CodeInvalid, "%s %q is not an active ISO 4217 currency", field, v)
	}
	return int32(c.MinorUnit()), nil
}

// minorUnit is the ISO 4217 minor unit of a code already checked.
func minorUnit(code string) int32 {
	c, err := settlement.ParseCurrency(code)
	if err != nil {
		return 0
	}
	return int32(c.MinorUnit())
}

func checkID(field, v string) error {
	if !idRe.MatchString(v) {
		return refuse(CodeInvalid, "%s %q must be 1-%d characters [A-Za-z0-9._-]", field, clip(v), idLenMax)
	}
	return nil
}

func checkPaymentID(field, v string) error {
	if !paymentIDRe.MatchString(v) {
		return refuse(CodeInvalid, "%s %q must be 1-35 characters [A-Za-z0-9._/-]", field, clip(v))
	}
	return nil
}

// scale is the number of decimals a parsed decimal was written with.
func scale(d decimal.Decimal) int32 {
	if e := d.Exponent(); e < 0 {
		return -e
	}
	return 0
}

// parseAmount parses a positive amount with the service's rule (settlement.ParseAmount:
// at most 18 integer digits, decimals at most the currency's minor unit, never
// rounded). allowZero admits "0" (a cap of zero).
func parseAmount(field, v, currency string, allowZero bool) (decimal.Decimal, error) {
	cur, err := settlement.ParseCurrency(currency)
	if err != nil {
		return decimal.Decimal{}, refuse(CodeInvalid, "%s: currency %q is not an active ISO 4217 currency", field, clip(currency))
	}
	d, err := settlement.ParseAmount([]byte(v), cur)
	if errors.Is(err, settlement.ErrAmountZero) && allowZero {
		return decimal.Zero, nil
	}
	if err != nil {
		return decimal.Decimal{}, refuse(CodeInvalid, "%s %q: %v", field, clip(v), err)
	}
	return d, nil
}

// parseNet parses a signed net position whose decimals do not exceed the minor unit.
func parseNet(field, v string, unit int32) (decimal.Decimal, error) {
	if !netRe.MatchString(v) {
		return decimal.Decimal{}, refuse(CodeInvalid, "%s %q must be a plain signed decimal", field, clip(v))
	}
	d, err := decimal.NewFromString(v)
	if err != nil {
		return decimal.Decimal{}, refuse(CodeInvalid, "%s %q: %v", field, clip(v), err)
	}
	if s := scale(d); s > unit {
		return decimal.Decimal{}, refuse(CodeInvalid, "%s %q has %d decimals, the currency allows %d", field, v, s, unit)
	}
	return d, nil
}

// fixed writes an amount with exactly the currency's minor unit of decimals, the one
// canonical text form of money on the ledger.
func fixed(d decimal.Decimal, currency string) string {
	return d.StringFixed(minorUnit(currency))
}

// posKey identifies a net position.
type posKey struct{ bank, currency string }

// positions accumulates net positions with exact decimal math.
type positions map[posKey]decimal.Decimal

func (p positions) add(bank, currency string, d decimal.Decimal) {
	k := posKey{bank, currency}
	p[k] = p[k].Add(d)
}

// apply adds the money movement of one payment: the payer's net goes down, the payee's up.
func (p positions) apply(pay *Payment) {
	from, to := pay.Debtor, pay.Creditor
	if pay.Kind == KindReversal {
		from, to = to, from
	}
	p.add(from, pay.Currency, pay.amount.Neg())
	p.add(to, pay.Currency, pay.amount)
}

// list returns the non-zero positions sorted by bank then currency.
func (p positions) list() []Position {
	keys := make([]posKey, 0, len(p))
	for k, v := range p {
		if !v.IsZero() {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].bank != keys[j].bank {
			return keys[i].bank < keys[j].bank
		}
		return keys[i].currency < keys[j].currency
	})
	out := make([]Position, len(keys))
	for i, k := range keys {
		out[i] = Position{Bank: k.bank, Currency: k.currency, Net: fixed(p[k], k.currency)}
	}
	return out
}

// sha256 is settlement.PositionsSHA256 of the positions: the domain's one
// definition of a cycle's fingerprint.
func (p positions) sha256() (string, error) {
	ps := make([]settlement.Position, 0, len(p))
	for k, v := range p {
		c, err := settlement.ParseCurrency(k.currency)
		if err != nil {
			return "", internal("position of %s: %v", k.bank, err)
		}
		ps = append(ps, settlement.Position{Bank: settlement.BIC(k.bank), Currency: c, Net: v})
	}
	sum, err := settlement.PositionsSHA256(ps)
	if err != nil {
		return "", internal("positions fingerprint: %v", err)
	}
	return sum, nil
}

// equal reports whether two sets of positions agree exactly, a missing entry counting as zero.
func (p positions) equal(q positions) bool {
	for k, v := range p {
		if !v.Equal(q[k]) {
			return false
		}
	}
	for k, v := range q {
		if !v.Equal(p[k]) {
			return false
		}
	}
	return true
}

// unbalanced returns the currencies whose positions do not sum to zero, sorted.
func (p positions) unbalanced() []string {
	sums := map[string]decimal.Decimal{}
	for k, v := range p {
		sums[k.currency] = sums[k.currency].Add(v)
	}
	var out []string
	for c, s := range sums {
		if !s.IsZero() {
			out = append(out, c+" "+fixed(s, c))
		}
	}
	sort.Strings(out)
	return out
}

// parsePositions reads stored or submitted positions into a map, refusing
// duplicates and malformed entries.
func parsePositions(list []Position) (positions, error) {
	p := positions{}
	for i, pos := range list {
		bank, err := normBIC("positions["+itoa(i)+"].bank", pos.Bank)
		if err != nil {
			return nil, err
		}
		unit, err := checkCurrency("positions["+itoa(i)+"].currency", pos.Currency)
		if err != nil {
			return nil, err
		}
		net, err := parseNet("positions["+itoa(i)+"].net", pos.Net, unit)
		if err != nil {
			return nil, err
		}
		k := posKey{bank, pos.Currency}
		if _, dup := p[k]; dup {
			return nil, refuse(CodeInvalid, "positions list %s %s twice", bank, pos.Currency)
		}
		p[k] = net
	}
	return p, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

package settlement

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"

	"github.com/shopspring/decimal"
)

// Errors of settlement instructions.
var (
	// ErrUnbalanced: the pay-ins do not equal the pay-outs. A broken
	// invariant.
	ErrUnbalanced = errors.New("settlement instructions do not balance")
	// ErrNothingToSettle: every position of the currency is zero.
	ErrNothingToSettle = errors.New("no net position to settle in this currency")
)

// Instruction is one transfer the settlement agent makes to settle a
// cycle: a net debtor's pay-in to the scheme's settlement account (PayIn),
// or the account's pay-out to a net creditor.
type Instruction struct {
	Cycle    string
	Bank     BIC
	Currency Currency
	Amount   decimal.Decimal // positive
	PayIn    bool
}

// EndToEndID is <cycle>:<BIC>:<currency>, as the contract names it.
func (i Instruction) EndToEndID() string { return InstructionID(i.Cycle, i.Bank, i.Currency) }

// UETR of the instruction (see UETR).
func (i Instruction) UETR() string { return UETR(i.EndToEndID()) }

// InstructionID names the transfer of a bank in a cycle and currency.
func InstructionID(cycle string, bank BIC, c Currency) string {
	return cycle + ":" + string(bank) + ":" + c.Code()
}

// UETR derives a transfer's unique end-to-end transaction reference from
// its EndToEndId: a UUID with the version 4 layout ISO 20022's
// UUIDv4Identifier asks for, whose other bits are taken from a SHA-256.
// Deriving it rather than drawing it means instructions written again
// after a crash carry the same UETRs (the agent tells a repeat from a new
// transfer), and reconciliation can recompute it from the positions.
func UETR(endToEndID string) string {
	h := sha256.Sum256([]byte("settle-uetr:" + endToEndID))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Instructions are the transfers that settle a cycle's positions in one
// currency, pay-ins first, each part in BIC order. It asserts that the
// pay-ins equal the pay-outs exactly (the positions sum to zero).
func Instructions(cycle string, c Currency, positions []Position) ([]Instruction, error) {
	var out []Instruction
	var in, paid decimal.Decimal
	for _, p := range positions {
		if p.Currency != c {
			return nil, fmt.Errorf("%s %s among the %s positions", p.Bank, p.Currency, c)
		}
		switch p.Net.Sign() {
		case -1:
			out = append(out, Instruction{Cycle: cycle, Bank: p.Bank, Currency: c, Amount: p.Net.Neg(), PayIn: true})
			in = in.Add(p.Net.Neg())
		case 1:
			out = append(out, Instruction{Cycle: cycle, Bank: p.Bank, Currency: c, Amount: p.Net})
			paid = paid.Add(p.Net)
		}
	}
	if !in.Equal(paid) {
		return nil, fmt.Errorf("%w: %s %s pay-ins %s, pay-outs %s", ErrUnbalanced, cycle, c, in, paid)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s %s", ErrNothingToSettle, cycle, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].PayIn != out[j].PayIn {
			return out[i].PayIn
		}
		return out[i].Bank < out[j].Bank
	})
	return out, nil
}

// CycleInstructions are the instructions of every currency of a cycle's
// positions, by currency code.
func CycleInstructions(cycle string, positions []Position) (map[Currency][]Instruction, error) {
	by := map[Currency][]Position{}
	for _, p := range positions {
		by[p.Currency] = append(by[p.Currency], p)
	}
	out := map[Currency][]Instruction{}
	for c, ps := range by {
		ins, err := Instructions(cycle, c, ps)
		if errors.Is(err, ErrNothingToSettle) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[c] = ins
	}
	return out, nil
}

package reconciliation

import (
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// Kinds of break between the scheme's settlement instructions and what
// the settlement agent booked (the third side of reconciliation).
const (
	MissingAtAgent  Kind = "AGENT_MISSING"         // instructed, not booked by the agent
	AgentAmount     Kind = "AGENT_AMOUNT_MISMATCH" // booked with a different amount
	AgentField      Kind = "AGENT_FIELD_MISMATCH"  // booked with another currency, direction or value date
	AgentUnexpected Kind = "AGENT_UNEXPECTED"      // booked, never instructed (or booked twice)
	AgentRejected   Kind = "AGENT_REJECTED"        // refused, returned or reversed by the agent
)

// Booking is one entry of the agent's answers (camt.054 or camt.053 of
// the settlement account), as the scheme took it.
type Booking struct {
	Source     string // where it was read: "<file>:<entry>"
	EndToEndID string
	UETR       string
	Amount     decimal.Decimal
	Currency   settlement.Currency
	Credit     bool // on the settlement account: a pay-in
	ValueDate  settlement.Date
	Status     string // BOOK, PDNG, INFO, ...
	Rejected   string // the agent's reason, where it refused or returned it
	Reversal   bool
}

// Confirmation is how far the agent has confirmed a cycle's funding:
// part of the cycle's record beside its stage (a settled cycle stays
// settled on the ledger whatever the agent says; the money is what this
// tells).
type Confirmation string

const (
	NotYet    Confirmation = "NOT_YET"   // no instruction booked as instructed
	Partly    Confirmation = "PARTLY"    // some, not all
	Confirmed Confirmation = "CONFIRMED" // every instruction booked once, as instructed
)

// AgentResult is one comparison of a cycle's instructions with the
// agent's bookings.
type AgentResult struct {
	Instructions int
	Confirmed    int // booked exactly once, as instructed
	Bookings     int
	Status       Confirmation
	Breaks       []Break
}

// Subject names an instruction in breaks: bank and currency (a bank has
// one transfer per cycle and currency), so the register files the break
// under the bank.
func instructionSubject(i settlement.Instruction) string {
	return string(i.Bank) + "/" + i.Currency.Code()
}

// Agent compares a cycle's settlement instructions with the agent's
// bookings that name them. An instruction no booking names is a break
// (MissingAtAgent) only once the agent has answered for the cycle at all,
// or the cycle is overdue (unfunded past its time): before that it is
// simply not confirmed yet. Each instruction must match exactly one
// booked entry: same EndToEndId or UETR, amount, currency, direction
// (a pay-in credits the settlement account) and value date.
func Agent(cycle string, date settlement.Date, ins []settlement.Instruction, bookings []Booking, overdue bool) AgentResult {
	res := AgentResult{Instructions: len(ins), Bookings: len(bookings)}
	matched, unexpected := matchBookings(cycle, ins, bookings)
	res.Breaks = unexpected
	due := len(bookings) > 0 || overdue // the agent answered, or should have
	for k, i := range ins {
		breaks, confirmed := checkInstruction(cycle, date, i, matched[k], due)
		res.Breaks = append(res.Breaks, breaks...)
		if confirmed {
			res.Confirmed++
		}
	}
	switch {
	case res.Confirmed == res.Instructions:
		res.Status = Confirmed
	case res.Confirmed > 0:
		res.Status = Partly
	default:
		res.Status = NotYet
	}
	sort.SliceStable(res.Breaks, func(a, b int) bool { return res.Breaks[a].Key() < res.Breaks[b].Key() })
	return res
}

// matchBookings sorts the bookings by the instruction they name (by
// EndToEndId, else by UETR): matched[k] are instruction k's. A booking
// that names none is an AgentUnexpected break.
func matchBookings(cycle string, ins []settlement.Instruction, bookings []Booking) (matched [][]Booking, unexpected []Break) {
	byE2E := make(map[string]int, len(ins))
	byUETR := make(map[string]int, len(ins))
	for k, i := range ins {
		byE2E[i.EndToEndID()] = k
		byUETR[i.UETR()] = k
	}
	matched = make([][]Booking, len(ins))
	for _, b := range bookings {
		k, ok := byE2E[b.EndToEndID]
		if !ok && b.UETR != "" {
			k, ok = byUETR[b.UETR]
		}
		if !ok {
			ref := b.EndToEndID
			if ref == "" {
				ref = b.UETR
			}
			unexpected = append(unexpected, Break{Kind: AgentUnexpected, Cycle: cycle, Subject: ref, Field: b.Source,
				Agent: describe(b)})
			continue
		}
		matched[k] = append(matched[k], b)
	}
	return matched, unexpected
}

// checkInstruction compares one instruction with the bookings that name
// it: each refusal is a break, no booking at all is one once due, a
// booking beyond the first is one, and the first is compared field by
// field. confirmed is true when it was booked exactly once, as instructed.
func checkInstruction(cycle string, date settlement.Date, i settlement.Instruction, matched []Booking, due bool) (breaks []Break, confirmed bool) {
	subj := instructionSubject(i)
	want := Booking{EndToEndID: i.EndToEndID(), Amount: i.Amount, Currency: i.Currency, Credit: i.PayIn, ValueDate: date}
	var booked []Booking
	for _, b := range matched {
		switch {
		case b.Rejected != "" || b.Reversal:
			reason := b.Rejected
			if b.Reversal {
				reason = "reversed"
			}
			breaks = append(breaks, Break{Kind: AgentRejected, Cycle: cycle, Subject: subj, Field: "status",
				Store: describe(want), Agent: fmt.Sprintf("%s (%s)", reason, b.Source)})
		case b.Status == "BOOK":
			booked = append(booked, b)
		}
	}
	if len(booked) == 0 {
		if len(matched) == 0 && due {
			breaks = append(breaks, Break{Kind: MissingAtAgent, Cycle: cycle, Subject: subj, Field: i.EndToEndID(),
				Store: describe(want)})
		}
		return breaks, false
	}
	for _, extra := range booked[1:] {
		breaks = append(breaks, Break{Kind: AgentUnexpected, Cycle: cycle, Subject: subj, Field: "booked again " + extra.Source,
			Store: describe(want), Agent: describe(extra)})
	}
	diffs := compareBooking(cycle, subj, date, i, booked[0])
	return append(breaks, diffs...), len(diffs) == 0 && len(booked) == 1
}

// compareBooking is a break for each field in which booking b differs
// from instruction i: amount, currency, direction and value date.
func compareBooking(cycle, subj string, date settlement.Date, i settlement.Instruction, b Booking) []Break {
	var breaks []Break
	if !b.Amount.Equal(i.Amount) {
		breaks = append(breaks, Break{Kind: AgentAmount, Cycle: cycle, Subject: subj, Field: "amount",
			Store: settlement.FormatAmount(i.Amount, i.Currency), Agent: b.Amount.String()})
	}
	for _, f := range []struct{ name, want, got string }{
		{"currency", i.Currency.Code(), b.Currency.Code()},
		{"direction", direction(i.PayIn), direction(b.Credit)},
		{"value_date", string(date), string(b.ValueDate)},
	} {
		if f.want != f.got {
			breaks = append(breaks, Break{Kind: AgentField, Cycle: cycle, Subject: subj, Field: f.name, Store: f.want, Agent: f.got})
		}
	}
	return breaks
}

func direction(credit bool) string {
	if credit {
		return "CRDT"
	}
	return "DBIT"
}

func describe(b Booking) string {
	return fmt.Sprintf("%s %s %s %s", b.Amount, b.Currency.Code(), direction(b.Credit), b.ValueDate)
}

// Unfunded tells whether a settled cycle the agent has not confirmed is
// overdue: settled at least after ago (after 0: never).
func Unfunded(c Confirmation, settledAt, now time.Time, after time.Duration) bool {
	return c != Confirmed && after > 0 && !settledAt.IsZero() && now.Sub(settledAt) >= after
}

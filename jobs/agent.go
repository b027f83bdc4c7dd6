package jobs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"settle/reconciliation"
	"settle/settlement"
)

// AgentStore is what the jobs keep of the settlement agent's answers
// (the Postgres adapter implements it).
type AgentStore interface {
	// SaveAgentAnswer records a file of the agent's, taken whole, and its
	// bookings; a file already recorded (same sha256) is a duplicate.
	SaveAgentAnswer(ctx context.Context, a AgentAnswer, bookings []AgentBooking) (duplicate bool, err error)
	// AgentBookings are the bookings that name a cycle's instructions: by
	// an EndToEndId of the cycle, or by one of uetrs.
	AgentBookings(ctx context.Context, cycle string, uetrs []string) ([]reconciliation.Booking, error)
	// SettledAt is when the cycle settled; ok false if it has not.
	SettledAt(ctx context.Context, date settlement.Date) (at time.Time, ok bool, err error)
	// AgentConfirmation is the cycle's latest confirmation by the agent.
	AgentConfirmation(ctx context.Context, date settlement.Date) (reconciliation.Confirmation, bool, error)
	// Unconfirmed are the settled cycles the agent has not (yet) wholly
	// confirmed, with when they settled and how far they are confirmed,
	// looking back from now (the caller's clock, the one stage times are
	// written with).
	Unconfirmed(ctx context.Context, now time.Time) ([]UnconfirmedCycle, error)
}

// AgentAnswer is one file of the agent's answers.
type AgentAnswer struct {
	Agent        settlement.BIC
	Name         string
	SHA256       string
	Message      string
	MsgID        string
	SignatureKey string
	ReceivedAt   time.Time
}

// AgentBooking is one booking as read from an answer.
type AgentBooking struct {
	Line    int
	Account string
	reconciliation.Booking
}

// UnconfirmedCycle is a settled cycle the agent has not wholly confirmed.
type UnconfirmedCycle struct {
	Date      settlement.Date
	SettledAt time.Time
	Status    reconciliation.Confirmation
}

// agentSide compares the cycle's instructions, recomputed from the stored
// positions, with the agent's bookings that name them.
func (p *Pipeline) agentSide(ctx context.Context, date settlement.Date, positions []settlement.Position) (*reconciliation.AgentResult, error) {
	if p.Agent == nil {
		return nil, nil
	}
	cycle := settlement.CycleID(date)
	byCur, err := settlement.CycleInstructions(cycle, positions)
	if errors.Is(err, settlement.ErrUnbalanced) {
		// Stored positions that do not sum to zero were changed after
		// netting: the ledger side reports it as position breaks, and no
		// instruction can be recomputed from them to compare with.
		p.log().Error("agent side skipped: the stored positions do not balance", "cycle", cycle, "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ins []settlement.Instruction
	var uetrs []string
	for _, c := range sortedCurrencies(byCur) {
		for _, i := range byCur[c] {
			ins = append(ins, i)
			uetrs = append(uetrs, i.UETR())
		}
	}
	bookings, err := p.Agent.AgentBookings(ctx, cycle, uetrs)
	if err != nil {
		return nil, err
	}
	status, _, err := p.Agent.AgentConfirmation(ctx, date)
	if err != nil {
		return nil, err
	}
	settledAt, _, err := p.Agent.SettledAt(ctx, date)
	if err != nil {
		return nil, err
	}
	if status == "" {
		status = reconciliation.NotYet
	}
	overdue := reconciliation.Unfunded(status, settledAt, p.now(), p.UnfundedAfter)
	res := reconciliation.Agent(cycle, date, ins, bookings, overdue)
	return &res, nil
}

func sortedCurrencies[V any](m map[settlement.Currency]V) []settlement.Currency {
	out := make([]settlement.Currency, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b settlement.Currency) int { return strings.Compare(a.Code(), b.Code()) })
	return out
}

package reconciliation

import (
	"errors"
	"fmt"
	"sort"
)

// Break states. A break's history is a list of events, never edited: it is
// opened by a run, acknowledged by an operator (seen, someone owns it), may
// be put under investigation and resolved by an operator with a note,
// written off by two operators (four eyes), or closed by a later run that
// no longer finds it.
const (
	StateOpen          = "OPEN"
	StateAcknowledged  = "ACKNOWLEDGED" // an operator has seen it and owns it; nothing is decided yet
	StateInvestigating = "INVESTIGATING"
	StateResolved      = "RESOLVED"
	StateWrittenOff    = "WRITTEN_OFF" // requested by one operator, approved by another
	StateClosed        = "CLOSED"      // gone on re-run
)

// States are the break states, in the order a listing offers them.
var States = []string{StateOpen, StateAcknowledged, StateInvestigating, StateResolved, StateWrittenOff, StateClosed}

// Who moves a break.
type Mover int

const (
	// ByRun: a reconciliation run, which opens what it finds and closes
	// what it no longer finds.
	ByRun Mover = iota
	// ByOperator: one operator, named.
	ByOperator
	// ByFourEyes: one operator's request approved by another (package
	// approval checks they differ); the move happens on the approval.
	ByFourEyes
)

// Move is one step of a break's life as asked. From is the break's current
// state, "" if the register has no break of that key.
type Move struct {
	Key      string
	From, To string
	By       Mover
	Note     string
	Actor    string
}

// Errors of the lifecycle.
var (
	ErrNoBreak      = errors.New("no such break")
	ErrBreakState   = errors.New("break state change not allowed")
	ErrNoteRequired = errors.New("a resolution needs a note and who resolved it")
	// ErrFourEyes: a write-off is never one operator's act; it is
	// requested by one and approved by another.
	ErrFourEyes = errors.New("four eyes: a write-off must be requested by one operator and approved by another (settle breaks write-off, then settle breaks approve)")
)

// Active tells whether a break in state is still to be dealt with: open,
// acknowledged or under investigation. Only an active break moves, except
// that a run opens anew one it finds again after it was resolved, written
// off or closed.
func Active(state string) bool {
	return state == StateOpen || state == StateAcknowledged || state == StateInvestigating
}

// ActiveStates are the states Active accepts, for a query.
var ActiveStates = []string{StateOpen, StateAcknowledged, StateInvestigating}

// CheckMove tells whether a break may make the move m: nil if it may, or
// the rule it breaks. The rules:
//
//	to             from              by          note
//	OPEN           none or inactive  run         -
//	CLOSED         active            run         ClosedGone
//	ACKNOWLEDGED   OPEN              operator    optional; who, required
//	INVESTIGATING  active            operator    optional; who, required
//	RESOLVED       active            operator    required, and who
//	WRITTEN_OFF    active            four eyes   required (the request's), and who
func CheckMove(m Move) error {
	switch {
	case m.To == StateWrittenOff && m.By != ByFourEyes:
		return ErrFourEyes
	case m.By == ByOperator && m.To != StateAcknowledged && m.To != StateInvestigating && m.To != StateResolved,
		m.By == ByRun && m.To != StateOpen && m.To != StateClosed,
		m.By == ByFourEyes && m.To != StateWrittenOff:
		return fmt.Errorf("%w: to %s", ErrBreakState, m.To)
	case m.By != ByRun && (m.Actor == "" || m.To != StateInvestigating && m.To != StateAcknowledged && m.Note == ""):
		return ErrNoteRequired
	case m.By == ByRun && m.To == StateClosed && m.Note != ClosedGone:
		return fmt.Errorf("%w: a run closes a break only as %q", ErrBreakState, ClosedGone)
	case m.To == StateOpen:
		if Active(m.From) {
			return fmt.Errorf("%w: %s is %s", ErrBreakState, m.Key, m.From)
		}
		return nil
	case m.From == "":
		return fmt.Errorf("%s: %w", m.Key, ErrNoBreak)
	case !Active(m.From):
		return fmt.Errorf("%w: %s is %s", ErrBreakState, m.Key, m.From)
	case m.To == StateAcknowledged && m.From != StateOpen:
		// Acknowledging is the first step an operator takes; a break
		// already acknowledged or under investigation is owned already,
		// and nothing goes back to OPEN but a run's re-finding.
		return fmt.Errorf("%w: %s is %s; only an OPEN break is acknowledged", ErrBreakState, m.Key, m.From)
	}
	return nil
}

// ClosedGone is the reason recorded when a re-run no longer finds a break
// (for example a ledger event that arrived late).
const ClosedGone = "not found on re-run"

// Plan is what a reconciliation run changes in the break register: which
// breaks to open, and which still-open ones (by key) to close as gone.
// Breaks found again are left as they are, so a re-run is idempotent.
type Plan struct {
	Open  []Break
	Close []string
}

// PlanRun compares the breaks a run found with those still open or under
// investigation (by key). A resolved break found again is opened anew: the
// operator's resolution did not make the difference go away.
func PlanRun(found []Break, active map[string]bool) Plan {
	var p Plan
	seen := make(map[string]bool, len(found))
	for _, b := range found {
		k := b.Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		if !active[k] {
			p.Open = append(p.Open, b)
		}
	}
	for k := range active {
		if !seen[k] {
			p.Close = append(p.Close, k)
		}
	}
	sort.Strings(p.Close)
	return p
}

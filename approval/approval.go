// Package approval is the four-eyes rule on money: an action that moves or
// writes off money (a break written off, a cap raised, a file deferred, a
// poisoned event replayed into the settlement steps) is
// first requested by one operator and takes effect only when a second,
// different operator approves it. The request and the decision are both
// kept. The console and the CLI call the same store functions, which apply
// this rule inside their transaction, so neither can bypass it.
//
// The package is pure: it takes values and returns values.
package approval

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Actions that need four eyes.
const (
	// WriteOff writes a reconciliation break off: the difference is
	// accepted as a loss or a gain, never investigated further.
	WriteOff = "break.write_off"
	// CapRaise raises a bank's net debit cap: it lets the bank owe more
	// tonight. Subject is "BIC/CUR", Amount the new cap.
	CapRaise = "cap.raise"
	// Defer moves an accepted file to another cycle: its payments settle
	// on another day, and the bank is told. Subject is "BIC/FILE-ID", From
	// and To the cycles' business dates, Note the reason the bank reads.
	Defer = "file.defer"
	// Replay publishes a poisoned event again whose handler moves a cycle
	// towards settlement (netting, the ledger write, the settlement).
	// Subject is the poisoned message's UUID.
	Replay = "poison.replay"
)

// Known tells whether action is one that needs four eyes.
func Known(action string) bool {
	return action == WriteOff || action == CapRaise || action == Defer || action == Replay
}

// Decisions.
const (
	Approved = "APPROVED"
	Rejected = "REJECTED"
)

// Limits on what a request carries.
const (
	noteRunesMax  = 2000
	actorRunesMax = 64
)

// Errors of the rule.
var (
	ErrSameOperator = errors.New("four eyes: the operator who requested it cannot decide it; another operator must")
	ErrDecided      = errors.New("the request has already been decided")
	ErrNoteRequired = errors.New("a request needs a note saying why")
	ErrUnknown      = errors.New("unknown action")
	ErrDecision     = errors.New("a decision is APPROVED or REJECTED")
	ErrActor        = errors.New("who acts must be named (1 to 64 characters)")
)

// Request is one request and, once made, its decision.
type Request struct {
	ID          int64     `json:"id"`
	Action      string    `json:"action"`
	Subject     string    `json:"subject"`          // a break key, or BIC/CUR
	Amount      string    `json:"amount,omitempty"` // CapRaise: the new cap, as the currency writes it
	From        string    `json:"from,omitempty"`   // Defer: the business date of the cycle the file is in
	To          string    `json:"to,omitempty"`     // Defer: the business date of the cycle it goes to
	Note        string    `json:"note"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	Decision    string    `json:"decision,omitempty"` // "" while pending
	DecidedBy   string    `json:"decided_by,omitempty"`
	DecidedAt   time.Time `json:"decided_at,omitzero"`
}

// Pending tells whether the request waits for a decision.
func (r Request) Pending() bool { return r.Decision == "" }

// New checks a request before it is recorded.
func New(action, subject, note, by string, at time.Time) (Request, error) {
	if !Known(action) {
		return Request{}, fmt.Errorf("%w: %q", ErrUnknown, action)
	}
	if strings.TrimSpace(note) == "" || len([]rune(note)) > noteRunesMax {
		return Request{}, ErrNoteRequired
	}
	if err := checkActor(by); err != nil {
		return Request{}, err
	}
	return Request{Action: action, Subject: subject, Note: note, RequestedBy: by, RequestedAt: at}, nil
}

// Decide records decision by by on a pending request: by must not be the
// operator who requested it.
func (r Request) Decide(decision, by string, at time.Time) (Request, error) {
	if err := checkActor(by); err != nil {
		return r, err
	}
	if decision != Approved && decision != Rejected {
		return r, ErrDecision
	}
	if !r.Pending() {
		return r, fmt.Errorf("%w: request %d was %s by %s", ErrDecided, r.ID, r.Decision, r.DecidedBy)
	}
	if strings.EqualFold(strings.TrimSpace(by), strings.TrimSpace(r.RequestedBy)) {
		return r, ErrSameOperator
	}
	r.Decision, r.DecidedBy, r.DecidedAt = decision, by, at
	return r, nil
}

func checkActor(by string) error {
	if n := len([]rune(strings.TrimSpace(by))); n == 0 || n > actorRunesMax {
		return ErrActor
	}
	return nil
}

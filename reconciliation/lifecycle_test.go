package reconciliation

import (
	"errors"
	"fmt"
	"testing"
)

// TestBreakMoves tries every move (from every state, to every state, by
// every mover) with a note and an actor, and checks it against the
// lifecycle's table written out here once more.
func TestBreakMoves(t *testing.T) {
	froms := append([]string{""}, States...)
	tos := append(append([]string{}, States...), "BOGUS")
	movers := map[Mover]string{ByRun: "run", ByOperator: "operator", ByFourEyes: "four eyes"}
	type rule struct {
		by   Mover
		from func(string) bool
	}
	active := Active
	inactive := func(s string) bool { return !Active(s) } // "" (none) included
	allowed := map[string]rule{
		StateOpen:          {ByRun, inactive},
		StateClosed:        {ByRun, active},
		StateAcknowledged:  {ByOperator, func(s string) bool { return s == StateOpen }},
		StateInvestigating: {ByOperator, active},
		StateResolved:      {ByOperator, active},
		StateWrittenOff:    {ByFourEyes, active},
	}
	for _, from := range froms {
		for _, to := range tos {
			for by, name := range movers {
				m := Move{Key: "k1", From: from, To: to, By: by, Note: "checked with the peer", Actor: "ops1"}
				if by == ByRun {
					m.Note, m.Actor = ClosedGone, "settle"
				}
				err := CheckMove(m)
				r, known := allowed[to]
				want := known && r.by == by && r.from(from)
				if want != (err == nil) {
					t.Errorf("%q → %s by %s: %v, want allowed %v", from, to, name, err, want)
				}
				if err != nil && !errors.Is(err, ErrBreakState) && !errors.Is(err, ErrNoBreak) && !errors.Is(err, ErrFourEyes) {
					t.Errorf("%q → %s by %s: unexpected error %v", from, to, name, err)
				}
			}
		}
	}
	if len(States) != 6 {
		t.Fatalf("states: %v", States)
	}
}

// TestBreakMoveRefusals names the error of each refusal, and where a note
// and an actor are required.
func TestBreakMoveRefusals(t *testing.T) {
	cases := []struct {
		m    Move
		want error
	}{
		{Move{Key: "k", From: StateOpen, To: StateWrittenOff, By: ByOperator, Note: "n", Actor: "a"}, ErrFourEyes},
		{Move{Key: "k", From: StateOpen, To: StateWrittenOff, By: ByRun, Note: ClosedGone, Actor: "a"}, ErrFourEyes},
		{Move{Key: "k", From: StateOpen, To: StateClosed, By: ByOperator, Note: "n", Actor: "a"}, ErrBreakState},
		{Move{Key: "k", From: StateOpen, To: StateOpen, By: ByOperator, Note: "n", Actor: "a"}, ErrBreakState},
		{Move{Key: "k", From: StateOpen, To: StateResolved, By: ByRun, Note: ClosedGone, Actor: "a"}, ErrBreakState},
		{Move{Key: "k", From: StateOpen, To: StateResolved, By: ByFourEyes, Note: "n", Actor: "a"}, ErrBreakState},
		// Notes and actors.
		{Move{Key: "k", From: StateOpen, To: StateInvestigating, By: ByOperator, Actor: "a"}, nil},
		{Move{Key: "k", From: StateOpen, To: StateInvestigating, By: ByOperator}, ErrNoteRequired},
		{Move{Key: "k", From: StateOpen, To: StateResolved, By: ByOperator, Actor: "a"}, ErrNoteRequired},
		{Move{Key: "k", From: StateOpen, To: StateResolved, By: ByOperator, Note: "n"}, ErrNoteRequired},
		{Move{Key: "k", From: StateOpen, To: StateWrittenOff, By: ByFourEyes, Actor: "a, approved by b"}, ErrNoteRequired},
		{Move{Key: "k", From: StateOpen, To: StateClosed, By: ByRun, Note: "tidy"}, ErrBreakState},
		{Move{Key: "k", From: StateOpen, To: StateClosed, By: ByRun, Note: ClosedGone}, nil},
		{Move{Key: "k", To: StateOpen, By: ByRun}, nil},
		// The note is checked before the break is looked at (an operator
		// learns what to fix first).
		{Move{Key: "k", To: StateResolved, By: ByOperator, Actor: "a"}, ErrNoteRequired},
		{Move{Key: "k", To: StateResolved, By: ByOperator, Note: "n", Actor: "a"}, ErrNoBreak},
		{Move{Key: "k", From: StateResolved, To: StateResolved, By: ByOperator, Note: "n", Actor: "a"}, ErrBreakState},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			err := CheckMove(tc.m)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("%+v: %v, want %v", tc.m, err, tc.want)
			}
		})
	}
	if err := CheckMove(Move{Key: "k9", From: StateClosed, To: StateResolved, By: ByOperator, Note: "n", Actor: "a"}); err == nil || err.Error() != "break state change not allowed: k9 is CLOSED" {
		t.Errorf("message: %v", err)
	}
}

// TestAcknowledgeMoves: OPEN -> ACKNOWLEDGED is an operator's step (who is
// required, a note is not); from ACKNOWLEDGED a break is investigated,
// resolved, written off with four eyes or closed by a run, and never goes
// back to OPEN or is acknowledged twice.
func TestAcknowledgeMoves(t *testing.T) {
	const ack = StateAcknowledged
	cases := []struct {
		name string
		m    Move
		want error
	}{
		{"open to acknowledged", Move{Key: "k", From: StateOpen, To: ack, By: ByOperator, Actor: "ops1"}, nil},
		{"with a note", Move{Key: "k", From: StateOpen, To: ack, By: ByOperator, Note: "mine, looking at it tonight", Actor: "ops1"}, nil},
		{"nobody named", Move{Key: "k", From: StateOpen, To: ack, By: ByOperator, Note: "n"}, ErrNoteRequired},
		{"no such break", Move{Key: "k", To: ack, By: ByOperator, Actor: "ops1"}, ErrNoBreak},
		{"by a run", Move{Key: "k", From: StateOpen, To: ack, By: ByRun, Note: ClosedGone}, ErrBreakState},
		{"by four eyes", Move{Key: "k", From: StateOpen, To: ack, By: ByFourEyes, Note: "n", Actor: "a, approved by b"}, ErrBreakState},
		{"twice", Move{Key: "k", From: ack, To: ack, By: ByOperator, Actor: "ops1"}, ErrBreakState},
		{"from investigating", Move{Key: "k", From: StateInvestigating, To: ack, By: ByOperator, Actor: "ops1"}, ErrBreakState},
		{"from resolved", Move{Key: "k", From: StateResolved, To: ack, By: ByOperator, Actor: "ops1"}, ErrBreakState},
		{"from written off", Move{Key: "k", From: StateWrittenOff, To: ack, By: ByOperator, Actor: "ops1"}, ErrBreakState},
		{"from closed", Move{Key: "k", From: StateClosed, To: ack, By: ByOperator, Actor: "ops1"}, ErrBreakState},
		// Out of ACKNOWLEDGED.
		{"to investigating", Move{Key: "k", From: ack, To: StateInvestigating, By: ByOperator, Actor: "ops1"}, nil},
		{"to resolved", Move{Key: "k", From: ack, To: StateResolved, By: ByOperator, Note: "replayed", Actor: "ops1"}, nil},
		{"to resolved without note", Move{Key: "k", From: ack, To: StateResolved, By: ByOperator, Actor: "ops1"}, ErrNoteRequired},
		{"written off with four eyes", Move{Key: "k", From: ack, To: StateWrittenOff, By: ByFourEyes, Note: "fee", Actor: "a, approved by b"}, nil},
		{"written off alone", Move{Key: "k", From: ack, To: StateWrittenOff, By: ByOperator, Note: "fee", Actor: "a"}, ErrFourEyes},
		{"closed by a run", Move{Key: "k", From: ack, To: StateClosed, By: ByRun, Note: ClosedGone}, nil},
		{"back to open by a run", Move{Key: "k", From: ack, To: StateOpen, By: ByRun}, ErrBreakState},
		{"back to open by an operator", Move{Key: "k", From: ack, To: StateOpen, By: ByOperator, Note: "n", Actor: "a"}, ErrBreakState},
		{"closed by an operator", Move{Key: "k", From: ack, To: StateClosed, By: ByOperator, Note: "n", Actor: "a"}, ErrBreakState},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckMove(tc.m)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("%+v: %v, want %v", tc.m, err, tc.want)
			}
		})
	}
	if !Active(StateAcknowledged) {
		t.Error("an acknowledged break is still to be dealt with")
	}
	if err := CheckMove(Move{Key: "k7", From: StateInvestigating, To: StateAcknowledged, By: ByOperator, Actor: "a"}); err == nil ||
		err.Error() != "break state change not allowed: k7 is INVESTIGATING; only an OPEN break is acknowledged" {
		t.Errorf("message: %v", err)
	}
}

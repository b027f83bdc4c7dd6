package approval

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 22, 0, 0, 0, time.UTC)

func TestFourEyes(t *testing.T) {
	r, err := New(WriteOff, "k1", "fee agreed with the bank", "alice", t0)
	if err != nil || !r.Pending() {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := r.Decide(Approved, "alice", t0); !errors.Is(err, ErrSameOperator) {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := r.Decide(Approved, " ALICE ", t0); !errors.Is(err, ErrSameOperator) {
		t.Fatalf("self-approval in another case: %v", err)
	}
	if _, err := r.Decide("MAYBE", "bob", t0); !errors.Is(err, ErrDecision) {
		t.Fatalf("bad decision: %v", err)
	}
	d, err := r.Decide(Approved, "bob", t0.Add(time.Minute))
	if err != nil || d.Pending() || d.DecidedBy != "bob" {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := d.Decide(Rejected, "carol", t0); !errors.Is(err, ErrDecided) {
		t.Fatalf("second decision: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	cases := []struct {
		action, note, by string
		want             error
	}{
		{"cap.raise.everything", "n", "a", ErrUnknown},
		{WriteOff, " ", "a", ErrNoteRequired},
		{WriteOff, strings.Repeat("x", noteRunesMax+1), "a", ErrNoteRequired},
		{WriteOff, "n", "", ErrActor},
		{WriteOff, "n", strings.Repeat("a", 65), ErrActor},
	}
	for _, c := range cases {
		if _, err := New(c.action, "k", c.note, c.by, t0); !errors.Is(err, c.want) {
			t.Errorf("New(%q, %q, %q): %v, want %v", c.action, c.note, c.by, err, c.want)
		}
	}
}

// TestEveryMoneyActionNeedsTwo: a deferral and a money-moving replay are
// requests like a write-off and a cap raise, under the same rule.
func TestEveryMoneyActionNeedsTwo(t *testing.T) {
	for _, action := range []string{WriteOff, CapRaise, Defer, Replay} {
		if !Known(action) {
			t.Fatalf("%s unknown", action)
		}
		r, err := New(action, "subject", "why", "alice", t0)
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		if _, err := r.Decide(Approved, "Alice", t0); !errors.Is(err, ErrSameOperator) {
			t.Fatalf("%s approved by its requester: %v", action, err)
		}
		if d, err := r.Decide(Rejected, "bob", t0); err != nil || d.Decision != Rejected {
			t.Fatalf("%s rejected by another: %+v %v", action, d, err)
		}
	}
	if Known("file.defer.now") {
		t.Fatal("an unknown action is known")
	}
}

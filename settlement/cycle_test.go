package settlement

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

var testNow = time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)

// TestCycleMoves tries every move from every stage to every stage (and to
// an unknown one), with facts that hold nothing against it: only the next
// stage moves, the same stage is a no-op, everything else is refused.
func TestCycleMoves(t *testing.T) {
	targets := append(append([]Stage{}, Stages...), "BOGUS", "")
	for _, from := range Stages {
		for _, to := range targets {
			c := NewCycle("2026-11-24", testNow.Add(-time.Hour))
			c.Stage = from
			moved, err := c.Advance(to, testNow, Facts{})
			switch {
			case to != "" && to == from.Next():
				if err != nil || !moved || c.Stage != to || !c.StageAt.Equal(testNow) {
					t.Errorf("%s → %s: allowed, got moved %v, err %v, cycle %+v", from, to, moved, err, c)
				}
			case to == from:
				if err != nil || moved || c.Stage != from {
					t.Errorf("%s → %s: a no-op, got moved %v, err %v", from, to, moved, err)
				}
			default:
				if !errors.Is(err, ErrStage) || moved || c.Stage != from || !c.StageAt.Equal(testNow.Add(-time.Hour)) {
					t.Errorf("%s → %s: refused, got moved %v, err %v, cycle %+v", from, to, moved, err, c)
				}
			}
		}
	}
}

func TestCycleAccepting(t *testing.T) {
	c := NewCycle("2026-11-24", testNow)
	if c.ID != "C2026-11-24" || !c.Accepting() {
		t.Fatalf("new cycle: %+v", c)
	}
	for _, s := range Stages[1:] {
		c.Stage = s
		if c.Accepting() {
			t.Errorf("a %s cycle takes files", s)
		}
	}
	if StageReported.Next() != "" || StageOpen.Prev() != "" || !StageOpen.Before(StageSettled) || StageSettled.Before(StageOpen) {
		t.Fatal("stage order")
	}
}

func pos(bank string, net string) Position {
	n := decimal.RequireFromString(net)
	p := Position{Bank: MustBIC(bank), Currency: eur(), Net: n}
	if n.IsNegative() {
		p.Sent = n.Neg()
	} else {
		p.Received = n
	}
	return p
}

func eur() Currency {
	c, err := ParseCurrency("EUR")
	if err != nil {
		panic(err)
	}
	return c
}

func capOf(bank, amount string) Cap {
	return Cap{Bank: MustBIC(bank), Currency: eur(), Amount: decimal.RequireFromString(amount)}
}

// TestPreconditions covers each move's precondition: for every move, the
// facts that allow it and each fact that refuses it.
func TestPreconditions(t *testing.T) {
	balanced := []Position{pos("BANKAAAA", "-100.00"), pos("BANKBBBB", "100.00")}
	unbalanced := []Position{pos("BANKAAAA", "-100.00"), pos("BANKBBBB", "90.00")}
	enough := []Cap{capOf("BANKAAAA", "100.00")}
	tooSmall := []Cap{capOf("BANKAAAA", "99.99")}
	pending := []PendingReversal{{Sender: MustBIC("BANKAAAA"), ID: "R1", Original: "P1", OriginalCycle: "2026-11-23", Stage: StageNetted}}
	missing := []BIC{MustBIC("BANKBBBB")}
	everything := Facts{Pending: pending, Positions: unbalanced, Caps: tooSmall, Unregistered: missing}

	cases := []struct {
		to   Stage
		name string
		f    Facts
		want error // nil: allowed
	}{
		{StageFrozen, "nothing asked", Facts{}, nil},
		{StageFrozen, "whatever the facts", everything, nil},

		{StageNetted, "balanced within caps", Facts{Positions: balanced, Caps: enough}, nil},
		{StageNetted, "an empty cycle", Facts{}, nil},
		{StageNetted, "a reversal waits", Facts{Pending: pending, Positions: balanced, Caps: enough}, ErrOriginalPending},
		{StageNetted, "unbalanced", Facts{Positions: unbalanced, Caps: enough}, ErrInvariant},
		{StageNetted, "cap breached", Facts{Positions: balanced, Caps: tooSmall}, ErrCapBreach},
		{StageNetted, "no cap: may not be a net debtor", Facts{Positions: balanced}, ErrCapBreach},
		{StageNetted, "a bank off the ledger does not matter yet", Facts{Positions: balanced, Caps: enough, Unregistered: missing}, nil},

		{StageRecorded, "balanced, within caps, all registered", Facts{Positions: balanced, Caps: enough}, nil},
		{StageRecorded, "unbalanced", Facts{Positions: unbalanced, Caps: enough}, ErrInvariant},
		{StageRecorded, "cap lowered since netting", Facts{Positions: balanced, Caps: tooSmall}, ErrCapBreach},
		{StageRecorded, "a bank off the ledger", Facts{Positions: balanced, Caps: enough, Unregistered: missing}, ErrNotOnLedger},
		{StageRecorded, "reversals are netting's business", Facts{Pending: pending, Positions: balanced, Caps: enough}, nil},

		{StageSettled, "balanced within caps", Facts{Positions: balanced, Caps: enough}, nil},
		{StageSettled, "an empty cycle", Facts{}, nil},
		{StageSettled, "unbalanced", Facts{Positions: unbalanced, Caps: enough}, ErrInvariant},
		{StageSettled, "cap lowered since recording", Facts{Positions: balanced, Caps: tooSmall}, ErrCapBreach},
		{StageSettled, "registry is recording's business", Facts{Positions: balanced, Caps: enough, Unregistered: missing}, nil},

		// The ledger resolves the gridlock: a breach is deferred there, not a
		// stop; the other rules hold as before.
		{StageNetted, "a breach the ledger resolves", Facts{Positions: balanced, Caps: tooSmall, LedgerResolves: true}, nil},
		{StageNetted, "resolved, but a reversal waits", Facts{Pending: pending, Positions: balanced, LedgerResolves: true}, ErrOriginalPending},
		{StageNetted, "resolved, but unbalanced", Facts{Positions: unbalanced, LedgerResolves: true}, ErrInvariant},
		{StageRecorded, "a breach the ledger resolves", Facts{Positions: balanced, LedgerResolves: true}, nil},
		{StageRecorded, "resolved, but a bank off the ledger", Facts{Positions: balanced, LedgerResolves: true, Unregistered: missing}, ErrNotOnLedger},
		{StageSettled, "the ledger's split", Facts{Positions: balanced, Caps: tooSmall, LedgerResolves: true}, nil},
		{StageSettled, "resolved, but unbalanced", Facts{Positions: unbalanced, LedgerResolves: true}, ErrInvariant},

		{StageReconciled, "whatever the facts", everything, nil},
		{StageReported, "whatever the facts", everything, nil},
	}
	for _, tc := range cases {
		t.Run(string(tc.to)+"/"+tc.name, func(t *testing.T) {
			err := Precondition(tc.to, tc.f)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Precondition(%s) = %v, want %v", tc.to, err, tc.want)
			}
			// Advance applies the same rule, and a refused cycle stays.
			c := Cycle{ID: "C2026-11-24", BusinessDate: "2026-11-24", Stage: tc.to.Prev()}
			moved, aerr := c.Advance(tc.to, testNow, tc.f)
			if tc.want == nil && (aerr != nil || !moved) || tc.want != nil && (!errors.Is(aerr, tc.want) || moved || c.Stage != tc.to.Prev()) {
				t.Fatalf("Advance(%s) = %v %v, want %v", tc.to, moved, aerr, tc.want)
			}
		})
	}
}

// TestPreconditionErrorsName what the operator must act on.
func TestPreconditionErrorsName(t *testing.T) {
	var ps []PendingReversal
	for i := range PendingShown + 1 {
		ps = append(ps, PendingReversal{Sender: MustBIC("BANKAAAA"), ID: "R" + string(rune('a'+i)), Original: "P1", OriginalCycle: "2026-11-23", Stage: StageFrozen})
	}
	msg := PendingError(ps).Error()
	if !strings.Contains(msg, "BANKAAAA/Ra reverses P1 of C2026-11-23, which is FROZEN") || !strings.Contains(msg, "(and more)") || strings.Contains(msg, "/Rf ") {
		t.Errorf("pending: %s", msg)
	}
	msg = CapError(CapBreaches([]Position{pos("BANKAAAA", "-100.00"), pos("BANKBBBB", "100.00")}, nil)).Error()
	if !strings.Contains(msg, "BANKAAAA EUR net -100.00, cap 0.00") {
		t.Errorf("cap: %s", msg)
	}
	msg = RegistryError([]BIC{MustBIC("BANKCCCC"), MustBIC("BANKBBBB")}).Error()
	if !strings.Contains(msg, ": BANKBBBB, BANKCCCC; register them") {
		t.Errorf("registry: %s", msg)
	}
}

func TestNetAttemptOnlyWhileFrozen(t *testing.T) {
	for _, s := range Stages {
		c := Cycle{ID: "C2026-11-24", BusinessDate: "2026-11-24", Stage: s}
		err := c.CheckNetAttempt()
		if s == StageFrozen && err != nil || s != StageFrozen && !errors.Is(err, ErrStage) {
			t.Errorf("net attempt on a %s cycle: %v", s, err)
		}
	}
}

// TestDeferral covers every stage of the cycle left and of the one entered,
// both ways, and each fact about the file that refuses a deferral.
func TestDeferral(t *testing.T) {
	cyc := func(d Date, s Stage) Cycle { return Cycle{ID: CycleID(d), BusinessDate: d, Stage: s} }
	base := func(from, to Cycle) DeferralFacts {
		return DeferralFacts{Sender: MustBIC("BANKAAAA"), FileID: "F1", From: from, To: to, Found: true, In: from.BusinessDate, Accepted: from.BusinessDate}
	}
	const d1, d2, d3 = Date("2026-11-23"), Date("2026-11-24"), Date("2026-11-25")
	for _, fs := range Stages {
		for _, ts := range Stages {
			notNetted := func(s Stage) bool { return s == StageOpen || s == StageFrozen }
			// Forward, from d2 to d3.
			err := CheckDeferral(base(cyc(d2, fs), cyc(d3, ts)))
			if ok := notNetted(fs) && ts == StageOpen; ok != (err == nil) || err != nil && !errors.Is(err, ErrDeferral) {
				t.Errorf("forward %s → %s: %v", fs, ts, err)
			}
			// Back, from d3 to d2 (accepted into d1, deferred to d3).
			f := base(cyc(d3, fs), cyc(d2, ts))
			f.Accepted = d1
			err = CheckDeferral(f)
			if ok := notNetted(fs) && notNetted(ts); ok != (err == nil) || err != nil && !errors.Is(err, ErrDeferral) {
				t.Errorf("back %s → %s: %v", fs, ts, err)
			}
		}
	}
	fwd := base(cyc(d2, StageFrozen), cyc(d3, StageOpen))
	back := base(cyc(d3, StageFrozen), cyc(d2, StageOpen))
	back.Accepted = d1
	cases := []struct {
		name string
		f    func(DeferralFacts) DeferralFacts
		from DeferralFacts
		want string // "" allowed
	}{
		{"forward", func(f DeferralFacts) DeferralFacts { return f }, fwd, ""},
		{"no such file", func(f DeferralFacts) DeferralFacts { f.Found = false; return f }, fwd, "has no accepted file F1"},
		{"file in another cycle", func(f DeferralFacts) DeferralFacts { f.In = d1; return f }, fwd, "is in cycle C2026-11-23, not C2026-11-24"},
		{"forward, a payment reversed", func(f DeferralFacts) DeferralFacts { f.Reversed, f.By = "P1", "R1"; return f }, fwd, "payment P1 of file F1 is already reversed by R1"},
		{"forward, early reversal is a move back's fact", func(f DeferralFacts) DeferralFacts { f.EarlyReversal, f.Original = "R1", "P0"; return f }, fwd, ""},
		{"back", func(f DeferralFacts) DeferralFacts { return f }, back, ""},
		{"back to the accepted cycle", func(f DeferralFacts) DeferralFacts { f.Accepted = d2; return f }, back, ""},
		{"back before the accepted cycle", func(f DeferralFacts) DeferralFacts { f.Accepted = d3; f.In = d3; return f }, back, "was accepted into cycle C2026-11-25; it cannot move back before it"},
		{"back, a reversal too early", func(f DeferralFacts) DeferralFacts { f.EarlyReversal, f.Original = "R1", "P0"; return f }, back, "reversal R1 of file F1 would come before its original P0 settles"},
		{"back, reversed payments are a move forward's fact", func(f DeferralFacts) DeferralFacts { f.Reversed, f.By = "P1", "R1"; return f }, back, ""},
	}
	for _, tc := range cases {
		err := CheckDeferral(tc.f(tc.from))
		if tc.want == "" && err != nil || tc.want != "" && (!errors.Is(err, ErrDeferral) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestDeferralRequest: a four-eyes request to defer is refused at once by
// the rules that can be told from the file and the cycle it leaves, at
// every stage of that cycle, in the deferral's own words; and a request
// CheckDeferralRequest lets through is one that CheckDeferral, given an
// open target, lets through as well.
func TestDeferralRequest(t *testing.T) {
	const d1, d2, d3 = Date("2026-11-23"), Date("2026-11-24"), Date("2026-11-25")
	ok := DeferralFacts{Sender: MustBIC("BANKAAAA"), FileID: "F1", Found: true, In: d2,
		From: Cycle{ID: CycleID(d2), BusinessDate: d2, Stage: StageFrozen}}
	for _, s := range Stages {
		f := ok
		f.From.Stage = s
		err := CheckDeferralRequest(f)
		allowed := s == StageOpen || s == StageFrozen
		if allowed != (err == nil) || err != nil && (!errors.Is(err, ErrDeferral) || !strings.Contains(err.Error(), "a file can be deferred only before its cycle is netted")) {
			t.Errorf("request from a %s cycle: %v", s, err)
		}
		f.To, f.Accepted = Cycle{ID: CycleID(d3), BusinessDate: d3, Stage: StageOpen}, d2
		if full := CheckDeferral(f); (err == nil) != (full == nil) || err != nil && err.Error() != full.Error() {
			t.Errorf("from a %s cycle: the request says %v, the deferral %v", s, err, full)
		}
	}
	cases := []struct {
		name string
		f    func(DeferralFacts) DeferralFacts
		want string
	}{
		{"no such file", func(f DeferralFacts) DeferralFacts { f.Found, f.In = false, ""; return f }, "BANKAAAA has no accepted file F1"},
		{"file in another cycle", func(f DeferralFacts) DeferralFacts { f.In = d1; return f }, "file F1 of BANKAAAA is in cycle C2026-11-23, not C2026-11-24"},
	}
	for _, tc := range cases {
		err := CheckDeferralRequest(tc.f(ok))
		if !errors.Is(err, ErrDeferral) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestCapPolicy: no cap is a cap of zero; a cap is its amount.
func TestCapPolicy(t *testing.T) {
	if l, limited := CapLimit(decimal.Decimal{}, false); !limited || !l.IsZero() {
		t.Errorf("no cap: %s %v, want 0 limited", l, limited)
	}
	if l, limited := CapLimit(decimal.RequireFromString("10.00"), true); !limited || !l.Equal(decimal.RequireFromString("10")) {
		t.Errorf("a cap: %s %v", l, limited)
	}
	b := CapBreaches([]Position{pos("BANKAAAA", "-0.01"), pos("BANKBBBB", "0.01")}, nil)
	if len(b) != 1 || b[0].Bank != "BANKAAAA" || !b[0].Cap.IsZero() {
		t.Errorf("a net debtor with no cap: %+v", b)
	}
}

package postgres_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// TestAgentAnswers: an answer and its bookings are recorded once (the
// same file again is a duplicate), read back by the cycle's EndToEndId
// prefix or by UETR, never edited; a reconciliation run's confirmation
// is recorded with it and is the cycle's latest.
func TestAgentAnswers(t *testing.T) {
	f := newFixture(t)
	j := f.s.Jobs(func(context.Context, *sql.Tx, jobs.Event) error { return nil }, "test")
	ins := settlement.Instruction{Cycle: "C2026-11-24", Bank: bankA, Currency: krw, Amount: decimal.New(1500, 0), PayIn: true}
	other := settlement.Instruction{Cycle: "C2026-11-25", Bank: bankB, Currency: krw, Amount: decimal.New(7, 0)}
	bk := func(line int, e2e, uetr string, amt int64) jobs.AgentBooking {
		return jobs.AgentBooking{Line: line, Account: "SETTLE-01", Booking: reconciliation.Booking{EndToEndID: e2e, UETR: uetr,
			Amount: decimal.New(amt, 0), Currency: krw, Credit: true, ValueDate: "2026-11-24", Status: "BOOK"}}
	}
	a := jobs.AgentAnswer{Agent: "BOKRKRSE", Name: "N1.xml", SHA256: strings.Repeat("a", 64),
		Message: "camt.054.001.08", MsgID: "N1", SignatureKey: "BOKRKRSE/default", ReceivedAt: time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)}
	bookings := []jobs.AgentBooking{bk(1, ins.EndToEndID(), "", 1500), bk(2, "", ins.UETR(), 1500), bk(3, other.EndToEndID(), other.UETR(), 7)}
	dup, err := j.SaveAgentAnswer(f.ctx, a, bookings)
	if err != nil || dup {
		t.Fatalf("save: %v %v", dup, err)
	}
	if dup, err := j.SaveAgentAnswer(f.ctx, a, bookings); err != nil || !dup {
		t.Fatalf("again: %v %v", dup, err)
	}
	got, err := j.AgentBookings(f.ctx, "C2026-11-24", []string{ins.UETR()})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Source != "N1.xml:1" || got[1].UETR != ins.UETR() || !got[0].Amount.Equal(decimal.New(1500, 0)) {
		t.Fatalf("bookings %+v", got)
	}
	if _, err := f.s.DB().ExecContext(f.ctx, `UPDATE agent_bookings SET amount = 1`); err == nil {
		t.Fatal("a booking was edited")
	}
	if _, err := f.s.DB().ExecContext(f.ctx, `INSERT INTO agent_bookings (answer_id, line, account, end_to_end_id, amount, currency, credit, status)
		SELECT id, 9, 'X', 'C1:X:KRW', 1.5, 'KRW', true, 'BOOK' FROM agent_answers`); err == nil {
		t.Fatal("a KRW amount with decimals was stored")
	}

	f.cycle("2026-11-24")
	if _, ok, err := j.AgentConfirmation(f.ctx, "2026-11-24"); ok || err != nil {
		t.Fatalf("confirmation before any run: %v %v", ok, err)
	}
	for _, st := range []reconciliation.Confirmation{reconciliation.Partly, reconciliation.Confirmed} {
		res := &reconciliation.AgentResult{Instructions: 2, Confirmed: 1, Bookings: 1, Status: st}
		if st == reconciliation.Confirmed {
			res.Confirmed = 2
		}
		if err := j.Reconciled(f.ctx, "2026-11-24", reconciliation.Plan{}, reconciliation.Summary{Agent: res}); err != nil {
			t.Fatal(err)
		}
		if c, ok, err := j.AgentConfirmation(f.ctx, "2026-11-24"); c != st || !ok || err != nil {
			t.Fatalf("confirmation %q %v %v, want %s", c, ok, err, st)
		}
	}
}

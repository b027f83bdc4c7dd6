package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/approval"
	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// openBreak makes a cycle with one open break and returns its key.
func openBreak(t *testing.T, j *postgres.JobStore, date settlement.Date, subject string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := j.EnsureCycle(ctx, date); err != nil {
		t.Fatal(err)
	}
	b := reconciliation.Break{Kind: reconciliation.MissingOnLedger, Cycle: settlement.CycleID(date), Subject: subject, Store: "1000 KRW"}
	if err := j.Reconciled(ctx, date, reconciliation.Plan{Open: []reconciliation.Break{b}}, reconciliation.Summary{}); err != nil {
		t.Fatal(err)
	}
	return b.Key()
}

// TestBreakAcknowledged: on the real register, an open break is
// acknowledged by an operator (a row appended, nothing edited), listed and
// counted as active; it is not acknowledged twice nor by nobody; from there
// it is investigated, and a second break acknowledged is written off with
// four eyes; the table's CHECK takes ACKNOWLEDGED (migration 0070) and
// still refuses a state the lifecycle does not know.
func TestBreakAcknowledged(t *testing.T) {
	s, _ := pgtest.NewStore(t)
	ctx := context.Background()
	j := s.Jobs(nil, "test")
	const date = settlement.Date("2026-11-24")
	key := openBreak(t, j, date, "SHBKKRSE/SH-1")

	if err := j.SetBreakState(ctx, key, reconciliation.StateAcknowledged, "", ""); !errors.Is(err, postgres.ErrNoteRequired) {
		t.Fatalf("acknowledged by nobody: %v", err)
	}
	if err := j.SetBreakState(ctx, "no-such", reconciliation.StateAcknowledged, "", "alice"); !errors.Is(err, postgres.ErrNoBreak) {
		t.Fatalf("unknown break: %v", err)
	}
	if err := j.SetBreakState(ctx, key, reconciliation.StateAcknowledged, "", "alice"); err != nil {
		t.Fatalf("acknowledge: %v", err)
	}
	if err := j.SetBreakState(ctx, key, reconciliation.StateAcknowledged, "mine too", "bob"); !errors.Is(err, postgres.ErrBreakState) {
		t.Fatalf("acknowledged twice: %v", err)
	}
	bs, err := j.Breaks(ctx, date, reconciliation.StateAcknowledged)
	if err != nil || len(bs) != 1 || bs[0].Key != key || bs[0].Actor != "alice" {
		t.Fatalf("acknowledged breaks: %+v %v", bs, err)
	}
	if bs, _ := j.Breaks(ctx, date, reconciliation.StateOpen); len(bs) != 0 {
		t.Fatalf("still listed open: %+v", bs)
	}
	active, err := j.ActiveBreaks(ctx, date)
	if err != nil || !active[key] {
		t.Fatalf("an acknowledged break is still active: %v %v", active, err)
	}
	if err := j.SetBreakState(ctx, key, reconciliation.StateInvestigating, "asked the peer", "alice"); err != nil {
		t.Fatalf("acknowledged -> investigating: %v", err)
	}
	if err := j.SetBreakState(ctx, key, reconciliation.StateAcknowledged, "", "alice"); !errors.Is(err, postgres.ErrBreakState) {
		t.Fatalf("investigating -> acknowledged: %v", err)
	}
	h, err := j.BreakHistory(ctx, key)
	if err != nil || len(h) != 3 || h[0].State != "OPEN" || h[1].State != "ACKNOWLEDGED" || h[1].Actor != "alice" || h[2].State != "INVESTIGATING" {
		t.Fatalf("history: %+v %v", h, err)
	}

	// Acknowledged, then written off: a request by one, approved by another.
	key2 := openBreak(t, j, "2026-11-25", "SHBKKRSE/SH-2")
	if err := j.SetBreakState(ctx, key2, reconciliation.StateAcknowledged, "on it", "alice"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC)
	q, err := j.RequestWriteOff(ctx, key2, "below the threshold", "alice", at)
	if err != nil {
		t.Fatalf("write-off request from ACKNOWLEDGED: %v", err)
	}
	if _, err := j.DecideRequest(ctx, q.ID, approval.Approved, "bob", at.Add(time.Minute)); err != nil {
		t.Fatalf("approval: %v", err)
	}
	if h, _ := j.BreakHistory(ctx, key2); len(h) != 3 || h[2].State != "WRITTEN_OFF" {
		t.Fatalf("history: %+v", h)
	}

	// A run that no longer finds an acknowledged break closes it.
	key3 := openBreak(t, j, "2026-11-26", "SHBKKRSE/SH-3")
	if err := j.SetBreakState(ctx, key3, reconciliation.StateAcknowledged, "", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := j.Reconciled(ctx, "2026-11-26", reconciliation.Plan{Close: []string{key3}}, reconciliation.Summary{}); err != nil {
		t.Fatalf("closing an acknowledged break: %v", err)
	}
	if h, _ := j.BreakHistory(ctx, key3); len(h) != 3 || h[2].State != "CLOSED" {
		t.Fatalf("history: %+v", h)
	}

	// The table's own wall: ACKNOWLEDGED is a state it takes, BOGUS is not.
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO recon_breaks (break_key, kind, state, actor) VALUES ('raw1', 'missing', 'ACKNOWLEDGED', 'test')`); err != nil {
		t.Fatalf("the CHECK refuses ACKNOWLEDGED: %v", err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO recon_breaks (break_key, kind, state, actor) VALUES ('raw2', 'missing', 'BOGUS', 'test')`); err == nil {
		t.Fatal("the CHECK took a state the lifecycle does not know")
	}
}

// TestWriteOffFourEyes: a write-off is a request by one operator and an
// approval by another; the requester cannot approve it, a direct
// write-off is refused, and both steps are kept.
func TestWriteOffFourEyes(t *testing.T) {
	s, _ := pgtest.NewStore(t)
	ctx := context.Background()
	j := s.Jobs(nil, "test")
	key := openBreak(t, j, "2026-11-24", "SHBKKRSE/SH-1")
	at := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)

	if err := j.SetBreakState(ctx, key, "WRITTEN_OFF", "just do it", "alice"); !errors.Is(err, postgres.ErrFourEyes) {
		t.Fatalf("direct write-off: %v", err)
	}
	if _, err := j.RequestWriteOff(ctx, key, " ", "alice", at); !errors.Is(err, approval.ErrNoteRequired) {
		t.Fatalf("request without note: %v", err)
	}
	if _, err := j.RequestWriteOff(ctx, "no-such", "n", "alice", at); !errors.Is(err, postgres.ErrNoBreak) {
		t.Fatalf("request on unknown break: %v", err)
	}
	r, err := j.RequestWriteOff(ctx, key, "below the threshold agreed with the bank", "alice", at)
	if err != nil || r.ID == 0 {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := j.RequestWriteOff(ctx, key, "again", "carol", at); !errors.Is(err, postgres.ErrPendingAlready) {
		t.Fatalf("second pending request: %v", err)
	}
	if _, err := j.DecideRequest(ctx, r.ID, approval.Approved, "alice", at); !errors.Is(err, approval.ErrSameOperator) {
		t.Fatalf("self-approval: %v", err)
	}
	if bs, _ := j.Breaks(ctx, "", ""); len(bs) != 1 || bs[0].State != "OPEN" {
		t.Fatalf("after refused approval: %+v", bs)
	}
	d, err := j.DecideRequest(ctx, r.ID, approval.Approved, "bob", at.Add(time.Minute))
	if err != nil || d.Decision != approval.Approved || d.DecidedBy != "bob" {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := j.DecideRequest(ctx, r.ID, approval.Rejected, "carol", at); !errors.Is(err, approval.ErrDecided) {
		t.Fatalf("second decision: %v", err)
	}
	h, err := j.BreakHistory(ctx, key)
	if err != nil || len(h) != 2 || h[1].State != "WRITTEN_OFF" || h[1].Actor != "alice, approved by bob" || h[1].Note != r.Note {
		t.Fatalf("history %+v %v", h, err)
	}
	// The second wall: the table refuses a decision by the requester.
	r2key := openBreak(t, j, "2026-11-25", "SHBKKRSE/SH-2")
	r2, err := j.RequestWriteOff(ctx, r2key, "n", "alice", at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO approval_decisions (request_id, requested_by, decision, decided_by, decided_at)
		VALUES ($1, 'alice', 'APPROVED', 'alice', now())`, r2.ID); err == nil {
		t.Fatal("the table took a self-approval")
	}
	// A rejection leaves the break as it was.
	if _, err := j.DecideRequest(ctx, r2.ID, approval.Rejected, "bob", at); err != nil {
		t.Fatal(err)
	}
	if h, _ := j.BreakHistory(ctx, r2key); len(h) != 1 {
		t.Fatalf("rejected write-off changed the break: %+v", h)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE approval_requests SET note = 'x'`); !postgres.IsAppendOnly(err) {
		t.Fatalf("requests are append-only: %v", err)
	}
}

// TestCapRaiseFourEyes: a cap raise is requested by one operator and takes
// effect only when another approves it; a "raise" to no more than the cap
// in force is refused.
func TestCapRaiseFourEyes(t *testing.T) {
	s, _ := pgtest.NewStore(t)
	ctx := context.Background()
	j := s.Jobs(nil, "test")
	if err := s.AddBank(ctx, postgres.Bank{BIC: bankA, Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCap(ctx, settlement.Cap{Bank: bankA, Currency: krw, Amount: decimal.RequireFromString("1000")}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	raise := settlement.Cap{Bank: bankA, Currency: krw, Amount: decimal.RequireFromString("5000")}
	if _, err := j.RequestCapRaise(ctx, settlement.Cap{Bank: bankA, Currency: krw, Amount: decimal.RequireFromString("1000")}, "same", "alice", at); !errors.Is(err, postgres.ErrNotRaise) {
		t.Fatalf("not a raise: %v", err)
	}
	if _, err := j.RequestCapRaise(ctx, settlement.Cap{Bank: "NOSUCHBK", Currency: krw, Amount: decimal.RequireFromString("5000")}, "n", "alice", at); !errors.Is(err, postgres.ErrNoBank) {
		t.Fatalf("unknown bank: %v", err)
	}
	r, err := j.RequestCapRaise(ctx, raise, "a large payment expected tonight, ref TR-9", "alice", at)
	if err != nil || r.Amount != "5000" {
		t.Fatalf("%+v %v", r, err)
	}
	if caps, _ := s.Caps(ctx); len(caps) != 1 || !caps[0].Amount.Equal(decimal.RequireFromString("1000")) {
		t.Fatalf("a request raised the cap: %+v", caps)
	}
	if _, err := j.DecideRequest(ctx, r.ID, approval.Approved, "alice", at); !errors.Is(err, approval.ErrSameOperator) {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := j.DecideRequest(ctx, r.ID, approval.Approved, "bob", at); err != nil {
		t.Fatal(err)
	}
	if caps, _ := s.Caps(ctx); len(caps) != 1 || !caps[0].Amount.Equal(decimal.RequireFromString("5000")) {
		t.Fatalf("after approval: %+v", caps)
	}
	if got, err := j.Request(ctx, r.ID); err != nil || got.Amount != "5000" || got.Decision != approval.Approved {
		t.Fatalf("%+v %v", got, err)
	}
}

// TestDeferralRequestChecked: on the real store a four-eyes request to defer
// a file is refused at once, in the deferral's own words (the domain's
// CheckDeferralRequest and jobs.Deferral.Check), when its fields are wrong,
// the file is not accepted, it is in another cycle, or its cycle is netted;
// a good one is recorded pending.
func TestDeferralRequestChecked(t *testing.T) {
	f := newFixture(t)
	j := f.s.Jobs(nil, "test")
	at := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	const date = settlement.Date("2026-11-24")
	f.ingest(file(bankA, "F1", f.cycle(string(date)), pay(2, "P1", bankA, bankB, "1000")))
	good := jobs.Deferral{Sender: bankA, FileID: "F1", From: date, To: "2026-11-25", Reason: "over its cap"}
	refused := []struct {
		name string
		d    func(jobs.Deferral) jobs.Deferral
		want string
	}{
		{"no reason", func(d jobs.Deferral) jobs.Deferral { d.Reason = ""; return d }, "a reason of 1 to 500 bytes is required"},
		{"no such file", func(d jobs.Deferral) jobs.Deferral { d.FileID = "F9"; return d }, "SHBKKRSE has no accepted file F9"},
		{"another bank's file", func(d jobs.Deferral) jobs.Deferral { d.Sender = bankB; return d }, "CZNBKRSE has no accepted file F1"},
		{"in another cycle", func(d jobs.Deferral) jobs.Deferral { d.From = "2026-11-23"; return d }, "file F1 of SHBKKRSE is in cycle C2026-11-24, not C2026-11-23"},
	}
	for _, tc := range refused {
		if _, err := j.RequestDeferral(f.ctx, tc.d(good), "alice", at); !errors.Is(err, jobs.ErrDeferral) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if n := f.count(`SELECT count(*) FROM approval_requests`); n != 0 {
		t.Fatalf("%d requests recorded by refused asks", n)
	}
	r, err := j.RequestDeferral(f.ctx, good, "alice", at)
	if err != nil || r.ID == 0 {
		t.Fatalf("a good request: %+v %v", r, err)
	}
	for _, to := range []settlement.Stage{settlement.StageFrozen, settlement.StageNetted} {
		if err := j.UpdateCycle(f.ctx, date, func(c *settlement.Cycle, _ jobs.CycleTx) ([]jobs.Event, error) {
			if _, err := c.Advance(to, at, settlement.Facts{}); err != nil {
				return nil, err
			}
			return []jobs.Event{jobs.NewEvent("settle.cycle."+strings.ToLower(string(to)), date, at)}, nil
		}); err != nil {
			t.Fatalf("advance to %s: %v", to, err)
		}
	}
	if _, err := j.RequestDeferral(f.ctx, good, "bob", at); !errors.Is(err, jobs.ErrDeferral) || !strings.Contains(err.Error(), "cycle C2026-11-24 is NETTED: a file can be deferred only before its cycle is netted") {
		t.Fatalf("from a netted cycle: %v", err)
	}
}

// TestDeferFileStampedByTheInjectedClock: a deferral's time (the bank's
// notice says it) and the opening of the cycle it goes into, when that cycle
// is opened by the deferral, are the injected clock's, not the database's
// now(): a rehearsal under another clock tells the bank the clock's time.
func TestDeferFileStampedByTheInjectedClock(t *testing.T) {
	f := newFixture(t)
	j := f.s.Jobs(nil, "test")
	clock := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	j.Now = func() time.Time { return clock }
	const date = settlement.Date("2026-11-24")
	f.ingest(file(bankA, "F1", f.cycle(string(date)), pay(2, "P1", bankA, bankB, "1000")))
	out, err := j.DeferFile(f.ctx, jobs.Deferral{Sender: bankA, FileID: "F1", From: date, To: "2026-11-25", Reason: "over its cap", Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if !out.At.Equal(clock) {
		t.Errorf("deferred at %s, want the injected clock's %s", out.At, clock)
	}
	var opened time.Time
	if err := f.s.DB().QueryRowContext(f.ctx, `SELECT opened_at FROM cycles WHERE business_date = '2026-11-25'`).Scan(&opened); err != nil {
		t.Fatal(err)
	}
	if !opened.Equal(clock) {
		t.Errorf("the cycle the file went into opened at %s, want the injected clock's %s", opened, clock)
	}
}

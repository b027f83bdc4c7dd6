package jobs_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/settlement"
)

// TestDeferFileOverCap: bank 0 is over its KRW cap tonight. The treasury
// defers bank 0's file to the next business day; the cycle then settles
// without it, the file settles the next day once the bank has funded, and
// both days reconcile and re-verify from the archive. Nothing is edited.
func TestDeferFileOverCap(t *testing.T) {
	w := newWorld(t)
	const d1, d2 = settlement.Date("2026-11-24"), settlement.Date("2026-11-25")
	b := func(i int) settlement.BIC { return w.banks[i].BIC }
	fileA := fmt.Sprintf("H,FA-1,%s,%s,2026-11-24T09:00:00+09:00\nP,A-1,%s,%s,1000,KRW\nT,1,1000\n", b(0), d1, b(0), b(1))
	fileB := fmt.Sprintf("H,FB-1,%s,%s,2026-11-24T09:00:00+09:00\nP,B-1,%s,%s,10,KRW\nT,1,10\n", b(1), d1, b(1), b(2))
	w.upload(0, "fa.csv", []byte(fileA))
	w.upload(1, "fb.csv", []byte(fileB))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 2 {
		t.Fatalf("intake: %+v %v", c, err)
	}
	krw, _ := settlement.ParseCurrency("KRW")
	setCap := func(amount int64, from time.Time) {
		w.setCap(t, settlement.Cap{Bank: b(0), Currency: krw, Amount: decimal.NewFromInt(amount)}, from)
	}
	setCap(500, w.now.Add(-30*time.Minute))

	_, err := w.pipeline().Run(w.ctx, d1)
	if !errors.Is(err, jobs.ErrCapBreach) || !strings.Contains(err.Error(), string(b(0))+" KRW net -1000, cap 500") || !strings.Contains(err.Error(), "defer") {
		t.Fatalf("want bank 0's breach, got %v", err)
	}
	// The positions that breached are there for the operator to see.
	if got := w.positions(d1); !strings.Contains(got, `"net":"-1000"`) {
		t.Fatalf("breaching positions not kept: %s", got)
	}

	// Bad deferrals are refused and change nothing.
	p := w.pipeline()
	for name, d := range map[string]jobs.Deferral{
		"no reason":      {Sender: b(0), FileID: "FA-1", From: d1, To: d2, Actor: "ops"},
		"no actor":       {Sender: b(0), FileID: "FA-1", From: d1, To: d2, Reason: "cap"},
		"backwards":      {Sender: b(0), FileID: "FA-1", From: d1, To: "2026-11-23", Reason: "cap", Actor: "ops"},
		"same cycle":     {Sender: b(0), FileID: "FA-1", From: d1, To: d1, Reason: "cap", Actor: "ops"},
		"unknown file":   {Sender: b(0), FileID: "NOPE", From: d1, To: d2, Reason: "cap", Actor: "ops"},
		"other's file":   {Sender: b(0), FileID: "FB-1", From: d1, To: d2, Reason: "cap", Actor: "ops"},
		"wrong cycle":    {Sender: b(0), FileID: "FA-1", From: "2026-11-23", To: d2, Reason: "cap", Actor: "ops"},
		"bad file id":    {Sender: b(0), FileID: "F A", From: d1, To: d2, Reason: "cap", Actor: "ops"},
		"reason too big": {Sender: b(0), FileID: "FA-1", From: d1, To: d2, Reason: strings.Repeat("x", 501), Actor: "ops"},
	} {
		if _, err := p.Defer(w.ctx, d); !errors.Is(err, jobs.ErrDeferral) && !errors.Is(err, jobs.ErrNoCycle) {
			t.Errorf("%s: want a refusal, got %v", name, err)
		}
	}

	f, err := p.Defer(w.ctx, jobs.Deferral{Sender: b(0), FileID: "FA-1", From: d1, To: d2, Reason: "over its KRW cap, cannot fund tonight", Actor: "ops-kim"})
	if err != nil || f.Name != "fa.csv" || f.Entries != 1 {
		t.Fatalf("defer: %+v %v", f, err)
	}
	// The bank is told, in its outbox.
	raw, err := os.ReadFile(filepath.Join(w.root, "sftp", "banks", string(b(0)), "outbox", jobs.DeferralNoticeName("fa.csv")))
	var notice jobs.DeferralNotice
	if err != nil || json.Unmarshal(raw, &notice) != nil || notice.FileID != "FA-1" || notice.FromCycle != "C2026-11-24" ||
		notice.ToCycle != "C2026-11-25" || notice.Reason == "" || notice.SHA256 != f.SHA256 {
		t.Fatalf("notice: %s %v", raw, err)
	}
	// The deferral is append-only, even for the database's owner (its
	// triggers: on Postgres only).
	if w.pgJobs != nil {
		for _, stmt := range []string{`UPDATE file_deferrals SET reason = 'edited'`, `DELETE FROM file_deferrals`, `TRUNCATE file_deferrals`} {
			if _, err := w.pg.DB().ExecContext(w.ctx, stmt); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("%s: %v, want refused", stmt, err)
			}
		}
	}
	// Once moved, it is not in the first cycle any more.
	if _, err := p.Defer(w.ctx, jobs.Deferral{Sender: b(0), FileID: "FA-1", From: d1, To: d2, Reason: "again", Actor: "ops"}); !errors.Is(err, jobs.ErrDeferral) {
		t.Fatalf("second deferral from the same cycle: %v", err)
	}
	// A reversal of the deferred payment cannot land in the cycle it moved to.
	rev := fmt.Sprintf("H,FR-1,%s,%s,2026-11-24T09:30:00+09:00\nR,RA-1,A-1,%s,%s,1000,KRW,AM05\nT,1,1000\n", b(0), d2, b(0), b(1))
	w.upload(0, "ra.csv", []byte(rev))
	if c, _ := w.intake.Collect(w.ctx); c.Rejected != 1 {
		t.Fatalf("reversal into the deferred payment's cycle: %+v", c)
	}
	if a := w.ack(0, "ra.csv"); a.Status != "REJECTED" || len(a.Errors) != 1 || a.Errors[0].Code != settlement.CodeOriginalUnsettled {
		t.Fatalf("reversal ack: %+v", a)
	}

	c1, err := w.pipeline().Run(w.ctx, d1)
	if err != nil || c1.Stage != settlement.StageReported || c1.Files != 1 || c1.Entries != 1 {
		t.Fatalf("the cycle without the deferred file: %+v %v", c1, err)
	}
	if writes, payments := w.ledger.Count(); payments != 1 || writes != 2 {
		t.Fatalf("ledger after day 1: %d writes, %d payments", writes, payments)
	}
	if _, ok, _ := w.ledger.Payment(w.ctx, b(0), "A-1"); ok {
		t.Fatal("the deferred payment is on the ledger in day 1's cycle")
	}
	// Too late now: the cycle is settled.
	if _, err := p.Defer(w.ctx, jobs.Deferral{Sender: b(1), FileID: "FB-1", From: d1, To: d2, Reason: "late", Actor: "ops"}); !errors.Is(err, jobs.ErrDeferral) ||
		!strings.Contains(err.Error(), "before its cycle is netted") {
		t.Fatalf("deferral from a settled cycle: %v", err)
	}

	// The bank funds; the next day settles the file.
	setCap(5000, w.now.Add(-20*time.Minute))
	if _, err := w.store.EnsureCycle(w.ctx, d2); err != nil {
		t.Fatal(err)
	}
	c2, err := w.pipeline().Run(w.ctx, d2)
	if err != nil || c2.Stage != settlement.StageReported || c2.Files != 1 || c2.Entries != 1 {
		t.Fatalf("the cycle with the deferred file: %+v %v", c2, err)
	}
	lp, ok, _ := w.ledger.Payment(w.ctx, b(0), "A-1")
	if !ok || lp.Cycle != "C2026-11-25" {
		t.Fatalf("deferred payment on the ledger: %+v %v", lp, ok)
	}
	for _, d := range []settlement.Date{d1, d2} {
		if active, _ := w.store.ActiveBreaks(w.ctx, d); len(active) != 0 {
			t.Fatalf("%s has breaks: %v", d, active)
		}
	}
	// Auditors see where it settled and where it came from, and the
	// archive re-nets each day as Postgres and the ledger have it.
	a := w.auditor(t)
	tr, err := a.Trace(w.ctx, b(0), "A-1")
	if err != nil || !tr.OK {
		t.Fatalf("trace: %+v %v", tr, err)
	}
	for _, s := range tr.Steps {
		if s.Step == "cycle" && (s.Facts["cycle"] != "C2026-11-25" || s.Facts["deferred_from"] != "C2026-11-24") {
			t.Fatalf("trace cycle step: %+v", s)
		}
	}
	for _, d := range []settlement.Date{d1, d2} {
		rep, err := a.Verify(w.ctx, d)
		if err != nil || !rep.OK() || rep.Files != 1 {
			t.Fatalf("verify %s: %+v %v", d, rep, err)
		}
	}
}

// TestDeferReversedFileRefused: a file whose payment another cycle
// already reverses cannot move: the reversal would come first.
func TestDeferReversedFileRefused(t *testing.T) {
	w := newWorld(t)
	const d1, d2 = settlement.Date("2026-11-24"), settlement.Date("2026-11-25")
	b := func(i int) settlement.BIC { return w.banks[i].BIC }
	w.upload(1, "fb.csv", []byte(fmt.Sprintf("H,FB-1,%s,%s,2026-11-24T09:00:00+09:00\nP,B-1,%s,%s,10,KRW\nT,1,10\n", b(1), d1, b(1), b(2))))
	w.intake.Collect(w.ctx)
	if _, err := w.store.EnsureCycle(w.ctx, d1); err != nil {
		t.Fatal(err)
	}
	w.upload(1, "rb.csv", []byte(fmt.Sprintf("H,FR-1,%s,%s,2026-11-24T09:30:00+09:00\nR,RB-1,B-1,%s,%s,10,KRW,AM05\nT,1,10\n", b(1), d2, b(1), b(2))))
	if c, _ := w.intake.Collect(w.ctx); c.Accepted != 1 {
		t.Fatalf("reversal in the next cycle: %+v %+v", c, w.ack(1, "rb.csv"))
	}
	_, err := w.pipeline().Defer(w.ctx, jobs.Deferral{Sender: b(1), FileID: "FB-1", From: d1, To: "2026-11-26", Reason: "cap", Actor: "ops"})
	if !errors.Is(err, jobs.ErrDeferral) || !strings.Contains(err.Error(), "already reversed by RB-1") {
		t.Fatalf("want a refusal naming the reversal, got %v", err)
	}
}

// TestDeferMovedBack: a file deferred by mistake moves back to its cycle
// with a deferral of its own (both kept), may be deferred again, and
// settles where it is last. It never moves before the cycle it was
// accepted into, nor into a cycle already netted.
func TestDeferMovedBack(t *testing.T) {
	w := newWorld(t)
	const d1, d2 = settlement.Date("2026-11-24"), settlement.Date("2026-11-25")
	b := func(i int) settlement.BIC { return w.banks[i].BIC }
	w.upload(0, "fa.csv", []byte(fmt.Sprintf("H,FA-1,%s,%s,2026-11-24T09:00:00+09:00\nP,A-1,%s,%s,1000,KRW\nT,1,1000\n", b(0), d1, b(0), b(1))))
	w.upload(1, "fb.csv", []byte(fmt.Sprintf("H,FB-1,%s,%s,2026-11-24T09:00:00+09:00\nP,B-1,%s,%s,10,KRW\nT,1,10\n", b(1), d1, b(1), b(2))))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 2 {
		t.Fatalf("intake: %+v %v", c, err)
	}
	p := w.pipeline()
	move := func(sender settlement.BIC, file string, from, to settlement.Date, reason string) error {
		_, err := p.Defer(w.ctx, jobs.Deferral{Sender: sender, FileID: file, From: from, To: to, Reason: reason, Actor: "ops-lee"})
		return err
	}
	for _, m := range []struct{ from, to settlement.Date }{{d1, d2}, {d2, d1}, {d1, d2}, {d2, d1}} {
		if err := move(b(0), "FA-1", m.from, m.to, "moved "+string(m.from)+" to "+string(m.to)); err != nil {
			t.Fatalf("%s to %s: %v", m.from, m.to, err)
		}
	}
	if w.pgJobs != nil { // the table itself: on Postgres only
		var rows int
		w.pg.DB().QueryRowContext(w.ctx, `SELECT count(*) FROM file_deferrals`).Scan(&rows)
		if rows != 4 {
			t.Fatalf("%d deferral rows, want every move kept: 4", rows)
		}
	}
	// Each move is told in a notice of its own; none replaces another.
	for i, name := range []string{jobs.DeferralNoticeName("fa.csv"), "fa.csv.2.deferred.json", "fa.csv.3.deferred.json", "fa.csv.4.deferred.json"} {
		raw, _ := os.ReadFile(filepath.Join(w.root, "sftp", "banks", string(b(0)), "outbox", name))
		var notice jobs.DeferralNotice
		from, to := settlement.CycleID(d1), settlement.CycleID(d2)
		if i%2 == 1 {
			from, to = to, from
		}
		if json.Unmarshal(raw, &notice) != nil || notice.ToCycle != to || notice.FromCycle != from {
			t.Fatalf("the bank's notice of move %d: %s", i+1, raw)
		}
	}
	if err := move(b(0), "FA-1", d1, "2026-11-23", "before its own"); !errors.Is(err, jobs.ErrDeferral) || !strings.Contains(err.Error(), "accepted into cycle C2026-11-24") {
		t.Fatalf("before the file's own cycle: %v", err)
	}
	if err := move(b(0), "FA-1", d2, d1, "not there"); !errors.Is(err, jobs.ErrDeferral) {
		t.Fatalf("from a cycle the file is not in: %v", err)
	}
	// FB goes forward; day 1 settles with FA; FB cannot come back into it.
	if err := move(b(1), "FB-1", d1, d2, "cap"); err != nil {
		t.Fatal(err)
	}
	c1, err := w.pipeline().Run(w.ctx, d1)
	if err != nil || c1.Stage != settlement.StageReported || c1.Files != 1 || c1.Entries != 1 {
		t.Fatalf("day 1: %+v %v", c1, err)
	}
	if lp, ok, _ := w.ledger.Payment(w.ctx, b(0), "A-1"); !ok || lp.Cycle != settlement.CycleID(d1) {
		t.Fatalf("A-1 on the ledger: %+v %v", lp, ok)
	}
	if err := move(b(1), "FB-1", d2, d1, "back"); !errors.Is(err, jobs.ErrDeferral) || !strings.Contains(err.Error(), "not netted yet") {
		t.Fatalf("back into a reported cycle: %v", err)
	}
	tr, err := w.auditor(t).Trace(w.ctx, b(0), "A-1")
	if err != nil || !tr.OK {
		t.Fatalf("trace: %+v %v", tr, err)
	}
	var moves []string
	for _, s := range tr.Steps {
		if s.Step == "cycle" && (s.Facts["cycle"] != settlement.CycleID(d1) || s.Facts["deferred_from"] != "") {
			t.Fatalf("trace of a file moved back to its own cycle: %+v", s)
		}
		if s.Step == "deferred" {
			if s.Facts["by"] != "ops-lee" || s.Facts["reason"] != "moved "+s.Facts["from"][1:]+" to "+s.Facts["to"][1:] || s.Facts["at"] == "" {
				t.Fatalf("deferral step: %+v", s)
			}
			moves = append(moves, s.Facts["from"]+">"+s.Facts["to"])
		}
	}
	if got, want := strings.Join(moves, " "), "C2026-11-24>C2026-11-25 C2026-11-25>C2026-11-24 C2026-11-24>C2026-11-25 C2026-11-25>C2026-11-24"; got != want {
		t.Fatalf("the moves the trace shows:\n got %s\nwant %s", got, want)
	}
}

// TestDeferralCheck: the fields a deferral (and a four-eyes request for one)
// is refused on before any cycle is read, each in its own words.
func TestDeferralCheck(t *testing.T) {
	ok := jobs.Deferral{Sender: "BANKAAAA", FileID: "F1", From: "2026-11-24", To: "2026-11-25", Reason: "over its cap"}
	if err := ok.Check(); err != nil {
		t.Fatalf("a good deferral: %v", err)
	}
	cases := []struct {
		name string
		f    func(*jobs.Deferral)
		want string
	}{
		{"no reason", func(d *jobs.Deferral) { d.Reason = "" }, "a reason of 1 to 500 bytes is required"},
		{"a reason too long", func(d *jobs.Deferral) { d.Reason = strings.Repeat("x", 501) }, "a reason of 1 to 500 bytes is required"},
		{"not a file id", func(d *jobs.Deferral) { d.FileID = "F 1" }, `"F 1" is not a file id`},
		{"no target", func(d *jobs.Deferral) { d.To = "" }, "both cycles are required"},
		{"no source", func(d *jobs.Deferral) { d.From = "" }, "both cycles are required"},
		{"the same cycle", func(d *jobs.Deferral) { d.To = d.From }, "to 2026-11-24: the file is in that cycle already"},
	}
	for _, tc := range cases {
		d := ok
		tc.f(&d)
		if err := d.Check(); !errors.Is(err, jobs.ErrDeferral) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

package postgres_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"settle/adapters/postgres"
	"settle/jobs"
	"settle/settlement"
)

// resolutionWorld is three days on Postgres, as the ledger's gridlock
// resolution leaves them:
//
//	2026-11-23  F0 (bank A: P1 P2 P3), G0 (bank B: Q1), H0 (bank C: Z1,
//	            deferred by an operator to 11-24)
//	2026-11-24  F1 (bank A: N1), G1 (bank B: R1, a reversal of Q1)
//	resolution of 11-23 -> 11-24: P3, Q1, P1 (in that order)
//	resolution of 11-24 -> 11-25: P1 (again), Q1 (again), R1 (waiting)
type resolutionWorld struct {
	f *fixture
	j *postgres.JobStore
}

const (
	d23 = settlement.Date("2026-11-23")
	d24 = settlement.Date("2026-11-24")
	d25 = settlement.Date("2026-11-25")
)

func newResolutionWorld(t *testing.T) resolutionWorld {
	f := newFixture(t)
	w := resolutionWorld{f: f, j: f.s.Jobs(nil, "test")}
	c23, c24 := f.cycle(string(d23)), f.cycle(string(d24))
	f.ingest(file(bankA, "F0", c23, pay(1, "P1", bankA, bankB, "100"), pay(2, "P2", bankA, bankC, "200"), pay(3, "P3", bankA, bankB, "300")))
	f.ingest(file(bankB, "G0", c23, pay(1, "Q1", bankB, bankA, "400")))
	f.ingest(file(bankC, "H0", c23, pay(1, "Z1", bankC, bankA, "500")))
	f.ingest(file(bankA, "F1", c24, pay(1, "N1", bankA, bankC, "600")))
	f.ingest(file(bankB, "G1", c24, rev(1, "R1", "Q1", bankB, bankA, "400")))
	if _, err := w.j.DeferFile(f.ctx, jobs.Deferral{Sender: bankC, FileID: "H0", From: d23, To: d24, Reason: "late funds", Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	waiting := jobs.DeferredRef{Sender: bankB, ID: "R1", Times: 1, Waiting: true}
	w.resolve(d23, jobs.Resolution{To: d24, TxID: "tx-23", Deferred: []jobs.DeferredRef{
		{Sender: bankA, ID: "P3", Times: 1}, {Sender: bankB, ID: "Q1", Times: 1}, {Sender: bankA, ID: "P1", Times: 1}}})
	w.resolve(d24, jobs.Resolution{To: d25, TxID: "tx-24", Deferred: []jobs.DeferredRef{
		{Sender: bankA, ID: "P1", Times: 2}, {Sender: bankB, ID: "Q1", Times: 2}, waiting}})
	return w
}

func (w resolutionWorld) resolve(d settlement.Date, r jobs.Resolution) {
	w.f.t.Helper()
	err := w.j.UpdateCycle(w.f.ctx, d, func(_ *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		return nil, tx.SaveResolution(r)
	})
	if err != nil {
		w.f.t.Fatalf("resolution of %s: %v", d, err)
	}
}

// TestDeferredEntriesOfAResolution: a cycle's deferred entries are its
// files' deferred by an operator (to where the file is now) and those its
// resolution deferred (to where that move went, though the entry may have
// moved on since), by sender, file and line.
func TestDeferredEntriesOfAResolution(t *testing.T) {
	w := newResolutionWorld(t)
	got := func(d settlement.Date) []string {
		var out []string
		for e, err := range w.j.DeferredEntries(w.f.ctx, d) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %s/%s line %d %s %c %s>%s %s %s to %s", e.Sender, e.File, e.FileID, e.Line, e.ID, e.Kind,
				e.Debtor, e.Creditor, e.Amount, e.Currency.Code(), e.To))
		}
		return out
	}
	want := func(d settlement.Date, lines ...string) {
		t.Helper()
		if g := got(d); strings.Join(g, "\n") != strings.Join(lines, "\n") {
			t.Errorf("deferred out of %s:\n%s\nwant\n%s", d, strings.Join(g, "\n"), strings.Join(lines, "\n"))
		}
	}
	want(d23,
		"CZNBKRSE G0.csv/G0 line 1 Q1 P CZNBKRSE>SHBKKRSE 400 KRW to 2026-11-24",
		"HVBKKRSE H0.csv/H0 line 1 Z1 P HVBKKRSE>SHBKKRSE 500 KRW to 2026-11-24",
		"SHBKKRSE F0.csv/F0 line 1 P1 P SHBKKRSE>CZNBKRSE 100 KRW to 2026-11-24",
		"SHBKKRSE F0.csv/F0 line 3 P3 P SHBKKRSE>CZNBKRSE 300 KRW to 2026-11-24")
	want(d24,
		"CZNBKRSE G0.csv/G0 line 1 Q1 P CZNBKRSE>SHBKKRSE 400 KRW to 2026-11-25",
		"CZNBKRSE G1.csv/G1 line 1 R1 R CZNBKRSE>SHBKKRSE 400 KRW to 2026-11-25",
		"SHBKKRSE F0.csv/F0 line 1 P1 P SHBKKRSE>CZNBKRSE 100 KRW to 2026-11-25")
	want(d25)
}

// TestSettlementFilesOfAResolution: a cycle's confirmations speak of the
// files with entries carried into it (once each, Carried, the cycle's own
// date), after its own and those deferred out of it; a file whose every
// carried entry moved on is the later cycle's.
func TestSettlementFilesOfAResolution(t *testing.T) {
	w := newResolutionWorld(t)
	got := func(d settlement.Date) []string {
		fs, err := w.j.SettlementFiles(w.f.ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range fs {
			out = append(out, fmt.Sprintf("%s %s %s entries %d sum %s cycle %s own %s carried %v payments %v base %s",
				f.Sender, f.FileID, f.Name, f.Entries, f.ControlSum, f.Cycle, f.Own, f.Carried, f.HasPayments, f.OutboxBase))
		}
		return out
	}
	want := func(d settlement.Date, lines ...string) {
		t.Helper()
		if g := got(d); strings.Join(g, "\n") != strings.Join(lines, "\n") {
			t.Errorf("files of %s:\n%s\nwant\n%s", d, strings.Join(g, "\n"), strings.Join(lines, "\n"))
		}
	}
	want(d23,
		"SHBKKRSE F0 F0.csv entries 3 sum 600 cycle 2026-11-23 own 2026-11-23 carried false payments true base F0.csv",
		"CZNBKRSE G0 G0.csv entries 1 sum 400 cycle 2026-11-23 own 2026-11-23 carried false payments true base G0.csv",
		"HVBKKRSE H0 H0.csv entries 1 sum 500 cycle 2026-11-24 own 2026-11-23 carried false payments true base H0.csv")
	// F0 once (P3 is carried here; P1 moved on), G0 not (Q1 moved on).
	want(d24,
		"HVBKKRSE H0 H0.csv entries 1 sum 500 cycle 2026-11-24 own 2026-11-23 carried false payments true base H0.csv",
		"SHBKKRSE F1 F1.csv entries 1 sum 600 cycle 2026-11-24 own 2026-11-24 carried false payments true base F1.csv",
		"CZNBKRSE G1 G1.csv entries 1 sum 400 cycle 2026-11-24 own 2026-11-24 carried false payments false base G1.csv",
		"SHBKKRSE F0 F0.csv entries 3 sum 600 cycle 2026-11-24 own 2026-11-23 carried true payments true base F0.csv")
	want(d25,
		"SHBKKRSE F0 F0.csv entries 3 sum 600 cycle 2026-11-25 own 2026-11-23 carried true payments true base F0.csv",
		"CZNBKRSE G0 G0.csv entries 1 sum 400 cycle 2026-11-25 own 2026-11-23 carried true payments true base G0.csv",
		"CZNBKRSE G1 G1.csv entries 1 sum 400 cycle 2026-11-25 own 2026-11-24 carried true payments false base G1.csv")
}

// TestLineageOfACarriedPayment: a payment's lineage lists its moves by
// the ledger's resolution, oldest first; the last one's target is where
// it settles. Its file's cycle stays its Cycle.
func TestLineageOfACarriedPayment(t *testing.T) {
	w := newResolutionWorld(t)
	for _, c := range []struct {
		sender settlement.BIC
		id     string
		moves  []jobs.PaymentMove
		cycle  settlement.Date
		in     settlement.Date
	}{
		{bankA, "P1", []jobs.PaymentMove{{From: d23, To: d24, ToStage: settlement.StageOpen, Times: 1, LedgerTx: "tx-23"}, {From: d24, To: d25, ToStage: settlement.StageOpen, Times: 2, LedgerTx: "tx-24"}}, d23, d25},
		{bankA, "P3", []jobs.PaymentMove{{From: d23, To: d24, ToStage: settlement.StageOpen, Times: 1, LedgerTx: "tx-23"}}, d23, d24},
		{bankA, "P2", nil, d23, d23},
		{bankB, "R1", []jobs.PaymentMove{{From: d24, To: d25, ToStage: settlement.StageOpen, Times: 1, Waiting: true, LedgerTx: "tx-24"}}, d24, d25},
		{bankC, "Z1", nil, d24, d24}, // its file deferred: the file's moves, not its own
	} {
		l, ok, err := w.j.Lineage(w.f.ctx, c.sender, c.id)
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", c.id, ok, err)
		}
		if !reflect.DeepEqual(l.Carried, c.moves) || l.Cycle != c.cycle || l.SettledIn() != c.in || l.Stage != settlement.StageOpen {
			t.Errorf("%s: carried %+v, cycle %s, settles in %s, stage %s; want %+v, %s, %s", c.id, l.Carried, l.Cycle, l.SettledIn(), l.Stage, c.moves, c.cycle, c.in)
		}
	}
}

// TestPaymentDeferralsSecondWall: what the store checks, the table's
// trigger checks again (a move from where the payment is, to a later
// cycle), and the table is append-only.
func TestPaymentDeferralsSecondWall(t *testing.T) {
	w := newResolutionWorld(t)
	db := w.f.s.DB()
	id := func(d settlement.Date) int64 {
		var n int64
		if err := db.QueryRow(`SELECT id FROM cycles WHERE business_date = $1`, string(d)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	row := func(p string) (int64, int) {
		var f int64
		var l int
		if err := db.QueryRow(`SELECT file_id, line FROM payments WHERE payment_id = $1`, p).Scan(&f, &l); err != nil {
			t.Fatal(err)
		}
		return f, l
	}
	ins := `INSERT INTO payment_deferrals (file_row, line, from_cycle, to_cycle, seq, times, waiting, ledger_tx) VALUES ($1, $2, $3, $4, $5, 1, false, 'tx')`
	p2f, p2l := row("P2")
	p3f, p3l := row("P3")
	n1f, n1l := row("N1")
	for _, c := range []struct {
		name string
		args []any
		want string
	}{
		{"backwards", []any{n1f, n1l, id(d24), id(d23), 9}, "PAYMENT_DEFERRAL_ORDER"},
		{"not from where it is", []any{p2f, p2l, id(d24), id(d25), 9}, "PAYMENT_NOT_IN_CYCLE"},
		{"a place taken", []any{n1f, n1l, id(d24), id(d25), 0}, "payment_deferrals_from_cycle_seq_key"},
		{"out of a cycle twice", []any{p3f, p3l, id(d23), id(d25), 7}, "payment_deferrals_file_row_line_from_cycle_key"},
	} {
		if _, err := db.Exec(ins, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	for _, stmt := range []string{`UPDATE payment_deferrals SET times = 9`, `DELETE FROM payment_deferrals`, `TRUNCATE payment_deferrals`} {
		if _, err := db.Exec(stmt); !postgres.IsAppendOnly(err) {
			t.Errorf("%s: %v", stmt, err)
		}
	}
	if n := w.f.count(`SELECT count(*) FROM payment_deferrals`); n != 6 {
		t.Fatalf("%d moves", n)
	}
}

// TestSaveResolutionInBulk: a resolution of 25,000 entries (a gridlocked
// night's order of size) is one statement's work.
func TestSaveResolutionInBulk(t *testing.T) {
	f := newFixture(t)
	j := f.s.Jobs(nil, "test")
	const n = 25_000
	es := make([]*settlement.Entry, n)
	refs := make([]jobs.DeferredRef, n)
	for i := range es {
		es[i] = pay(i+1, fmt.Sprintf("P%05d", i), bankA, bankB, "1")
		refs[n-1-i] = jobs.DeferredRef{Sender: bankA, ID: es[i].ID, Times: 1}
	}
	f.ingest(file(bankA, "BIG", f.cycle(string(d23)), es...))
	err := j.UpdateCycle(context.Background(), d23, func(_ *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		return nil, tx.SaveResolution(jobs.Resolution{To: d24, TxID: "tx-big", Deferred: refs})
	})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for ce, err := range j.CarriedEntries(f.ctx, d24) {
		if err != nil {
			t.Fatal(err)
		}
		if ce.Entry.ID != refs[i].ID || ce.From != d23 || ce.Own != d23 {
			t.Fatalf("carried %d: %s from %s own %s, want %s", i, ce.Entry.ID, ce.From, ce.Own, refs[i].ID)
		}
		i++
	}
	if i != n {
		t.Fatalf("%d carried", i)
	}
	// Saved again after a crash: the same moves, nothing written.
	err = j.UpdateCycle(context.Background(), d23, func(_ *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		return nil, tx.SaveResolution(jobs.Resolution{To: d24, TxID: "tx-big", Deferred: refs})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.count(`SELECT count(*) FROM payment_deferrals`); got != n {
		t.Fatalf("%d moves after saving the same again, want %d", got, n)
	}
}

// TestCycleCountsOfAResolution: the console's counts of a cycle include the
// payments the ledger's resolution carried into it and deferred out of it.
func TestCycleCountsOfAResolution(t *testing.T) {
	w := newResolutionWorld(t)
	for d, want := range map[settlement.Date][2]int64{d23: {0, 3}, d24: {3, 3}, d25: {3, 0}} {
		n, err := w.j.CycleCounts(w.f.ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if n.CarriedIn != want[0] || n.CarriedOut != want[1] {
			t.Errorf("%s: carried in %d, out %d; want %v", d, n.CarriedIn, n.CarriedOut, want)
		}
	}
}

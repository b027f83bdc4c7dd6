package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// PipelineSubject is one implementation of jobs.PipelineStore under test,
// with the intake that fills it and an operator's set-up and moves.
type PipelineSubject struct {
	Store  jobs.PipelineStore
	Intake jobs.IntakeStore
	// AddBank registers an active member; SetCap a net debit cap in force
	// from a time.
	AddBank func(settlement.BIC) error
	SetCap  func(c settlement.Cap, from time.Time) error
	// SetBreakState is an operator's step in a break's life (the console's).
	SetBreakState func(key, state, note, actor string) error
}

// dayAfter is the cycle after the suite's day.
const dayAfter = settlement.Date("2026-11-25")

// RunReconcileStore runs jobs.ReconcileStore's contract (what the store
// says of a cycle, against the ledger's side) on fresh subjects from open,
// each with the members bankA, bankB and bankC and the cycles of
// dayBefore and day open.
func RunReconcileStore(t *testing.T, open func(t *testing.T) PipelineSubject) {
	runPipeline(t, open, []pipelineCase{
		{"CycleEntriesInByteOrder", testCycleEntriesInByteOrder},
		{"PositionsAsNetted", testPositionsAsNetted},
		{"LedgerTxs", testLedgerTxs},
		{"Breaks", testBreaks},
	})
}

// RunPipelineStore runs the contract of the rest of jobs.PipelineStore
// (besides jobs.CycleStore's and jobs.ReconcileStore's) on fresh subjects
// from open, set up as RunReconcileStore's.
func RunPipelineStore(t *testing.T, open func(t *testing.T) PipelineSubject) {
	runPipeline(t, open, []pipelineCase{
		{"Members", func(t *testing.T, s PipelineSubject) {
			m, err := s.Store.Members(context.Background())
			if want := map[settlement.BIC]bool{bankA: true, bankB: true, bankC: true}; err != nil || !reflect.DeepEqual(m, want) {
				t.Fatalf("members %v %v, want %v", m, err, want)
			}
		}},
		{"Caps", testCaps},
		{"PendingReversals", testPendingReversals},
		{"DeferFile", testDeferFile},
		{"DeferFileRefused", testDeferFileRefused},
	})
}

type pipelineCase struct {
	name string
	test func(*testing.T, PipelineSubject)
}

func runPipeline(t *testing.T, open func(t *testing.T) PipelineSubject, cases []pipelineCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			prepare(t, s.AddBank, s.Store.EnsureCycle)
			c.test(t, s)
		})
	}
}

// accept ingests a file the store must accept.
func (s PipelineSubject) accept(t *testing.T, f jobs.FileRecord, es ...settlement.Entry) {
	t.Helper()
	mustIngest(t, IntakeSubject{Store: s.Intake}, jobs.IngestAccepted, f, es...)
}

// entriesOf reads a cycle's stored entries, one line of text each (the
// amount as its digits say it, scale included).
func entriesOf(t *testing.T, s PipelineSubject, d settlement.Date) []string {
	t.Helper()
	var out []string
	for se, err := range s.Store.CycleEntries(context.Background(), d) {
		if err != nil {
			t.Fatalf("entries of %s: %v", d, err)
		}
		e := se.Entry
		out = append(out, fmt.Sprintf("%s %s line %d %c %s %s>%s %s %s rem=%q orig=%q reason=%q prio=%d %s %.8s",
			se.Sender, se.FileName, e.Line, e.Kind, e.ID, e.Debtor, e.Creditor, amountText(e.Amount), e.Currency.Code(),
			e.Remittance, e.Original, e.Reason, e.Priority, se.FileName, se.FileSHA256))
	}
	return out
}

// amountText is a number with its scale, as a store gives it back.
func amountText(d decimal.Decimal) string { return fmt.Sprintf("%s(e%d)", d, d.Exponent()) }

func wantLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func testCycleEntriesInByteOrder(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	fa := record(bankA, "F1", "a.csv", "a", day)
	fb := record(bankB, "G1", "b.csv", "b", day)
	p9 := pay(1, "P9", bankA, bankB, "100.5", "USD")
	p9.Remittance, p9.Priority = "invoice 9", settlement.PriorityHigh
	s.accept(t, fa, p9, pay(2, "P10", bankA, bankC, "7", "KRW"), pay(3, "a1", bankA, bankB, "1.25", "USD"), pay(4, "B1", bankA, bankB, "2", "KWD"))
	s.accept(t, record(bankB, "G0", "old.csv", "old", dayBefore), pay(1, "X", bankB, bankA, "1", "USD"))
	s.accept(t, fb, pay(1, "Z1", bankB, bankA, "3", "USD"), rev(2, "A0", "X", bankB, bankA, "1", "USD"))
	sha := func(f jobs.FileRecord) string { return f.SHA256[:8] }
	// Sender first, then the id's bytes: "B1" < "P10" < "P9" < "a1". What
	// the store keeps of an entry: no priority (no column holds it), the
	// amount at its currency's scale.
	wantLines(t, "entries", entriesOf(t, s, day),
		fmt.Sprintf(`CZNBKRSE b.csv line 2 R A0 CZNBKRSE>SHBKKRSE 1(e-2) USD rem="" orig="X" reason="AC03" prio=0 b.csv %s`, sha(fb)),
		fmt.Sprintf(`CZNBKRSE b.csv line 1 P Z1 CZNBKRSE>SHBKKRSE 3(e-2) USD rem="" orig="" reason="" prio=0 b.csv %s`, sha(fb)),
		fmt.Sprintf(`SHBKKRSE a.csv line 4 P B1 SHBKKRSE>CZNBKRSE 2(e-3) KWD rem="" orig="" reason="" prio=0 a.csv %s`, sha(fa)),
		fmt.Sprintf(`SHBKKRSE a.csv line 2 P P10 SHBKKRSE>HVBKKRSE 7(e0) KRW rem="" orig="" reason="" prio=0 a.csv %s`, sha(fa)),
		fmt.Sprintf(`SHBKKRSE a.csv line 1 P P9 SHBKKRSE>CZNBKRSE 100.5(e-2) USD rem="invoice 9" orig="" reason="" prio=0 a.csv %s`, sha(fa)),
		fmt.Sprintf(`SHBKKRSE a.csv line 3 P a1 SHBKKRSE>CZNBKRSE 1.25(e-2) USD rem="" orig="" reason="" prio=0 a.csv %s`, sha(fa)))
	for _, err := range s.Store.CycleEntries(ctx, dayAfter) {
		if !errors.Is(err, jobs.ErrNoCycle) {
			t.Fatalf("entries of no cycle: %v", err)
		}
	}
	// A consumer may stop early.
	n := 0
	for range s.Store.CycleEntries(ctx, day) {
		if n++; n == 2 {
			break
		}
	}
}

// net is the pipeline's netting step: the cycle's entries netted (read
// before the update, as the pipeline reads them), saved with the move to
// NETTED.
func net(t *testing.T, s PipelineSubject, d settlement.Date) *settlement.Result {
	t.Helper()
	var n settlement.Netting
	for se, err := range s.Store.CycleEntries(context.Background(), d) {
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Add(&se.Entry); err != nil {
			t.Fatal(err)
		}
	}
	res, err := n.Result()
	if err != nil {
		t.Fatal(err)
	}
	err = s.Store.UpdateCycle(context.Background(), d, func(c *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		if err := tx.SaveNetting(res, nil); err != nil {
			return nil, err
		}
		return advance(settlement.StageNetted, settlement.Facts{})(c, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func positionsText(ps []settlement.Position) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s %s sent %s received %s net %s", p.Currency.Code(), p.Bank, amountText(p.Sent), amountText(p.Received), amountText(p.Net)))
	}
	return out
}

func testPositionsAsNetted(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	if ps, err := s.Store.Positions(ctx, day); err != nil || len(ps) != 0 {
		t.Fatalf("before netting: %v %v", ps, err)
	}
	if _, err := s.Store.Positions(ctx, dayAfter); !errors.Is(err, jobs.ErrNoCycle) {
		t.Fatalf("positions of no cycle: %v", err)
	}
	s.accept(t, record(bankA, "F1", "a.csv", "a", day),
		pay(1, "P1", bankA, bankB, "100.5", "USD"), pay(2, "P2", bankA, bankC, "7", "KRW"), pay(3, "P3", bankA, bankC, "0.25", "USD"))
	s.accept(t, record(bankB, "G1", "b.csv", "b", day), pay(1, "Q1", bankB, bankA, "30", "USD"))
	mustAdvanceStore(t, s.Store, day, settlement.StageFrozen)
	// A netting whose update fails is not kept.
	boom := errors.New("boom")
	err := s.Store.UpdateCycle(ctx, day, func(c *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		res := &settlement.Result{Positions: []settlement.Position{{Bank: bankA, Currency: usd(), Sent: decimal.New(1, 0), Net: decimal.New(-1, 0)},
			{Bank: bankB, Currency: usd(), Received: decimal.New(1, 0), Net: decimal.New(1, 0)}}}
		if err := tx.SaveNetting(res, nil); err != nil {
			return nil, err
		}
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if ps, _ := s.Store.Positions(ctx, day); len(ps) != 0 {
		t.Fatalf("a failed netting was kept: %v", ps)
	}
	net(t, s, day)
	ps, err := s.Store.Positions(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	// By currency code, then bank; the numbers as stored.
	wantLines(t, "positions", positionsText(ps),
		"KRW HVBKKRSE sent 0(e0) received 7(e0) net 7(e0)",
		"KRW SHBKKRSE sent 7(e0) received 0(e0) net -7(e0)",
		"USD CZNBKRSE sent 30(e0) received 100.5(e-1) net 70.5(e-1)",
		"USD HVBKKRSE sent 0(e0) received 0.25(e-2) net 0.25(e-2)",
		"USD SHBKKRSE sent 100.75(e-2) received 30(e0) net -70.75(e-2)")
	if ps, _ := s.Store.Positions(ctx, dayBefore); len(ps) != 0 {
		t.Fatalf("another cycle's positions: %v", ps)
	}
}

func usd() settlement.Currency {
	c, _ := settlement.ParseCurrency("USD")
	return c
}

func mustAdvanceStore(t *testing.T, s jobs.CycleStore, d settlement.Date, to settlement.Stage) {
	t.Helper()
	mustAdvance(t, Subject{Store: s}, d, to)
}

func testLedgerTxs(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	if txs, err := s.Store.LedgerTxs(ctx, day); err != nil || len(txs) != 0 {
		t.Fatalf("none yet: %v %v", txs, err)
	}
	for _, c := range []struct {
		chunk string
		tx    jobs.LedgerTx
	}{
		{"c0001", jobs.LedgerTx{ID: "tx1", Block: 7, Endorsers: []string{"Org1MSP", "Org2MSP"}, Submitter: "OperatorMSP client x", Existing: true}},
		{"settle", jobs.LedgerTx{ID: "tx2", Block: 9}},
		{"c0001", jobs.LedgerTx{ID: "tx3", Block: 8}}, // the same chunk again: the first stays
	} {
		if err := s.Store.SaveLedgerTx(ctx, day, c.chunk, 5, c.tx); err != nil {
			t.Fatalf("save %s: %v", c.chunk, err)
		}
	}
	if err := s.Store.SaveLedgerTx(ctx, day, "c0002", 5, jobs.LedgerTx{ID: "tx1", Block: 7}); err == nil {
		t.Fatal("one transaction recorded for two chunks")
	}
	if err := s.Store.SaveLedgerTx(ctx, dayAfter, "c0001", 5, jobs.LedgerTx{ID: "tx9"}); !errors.Is(err, jobs.ErrNoCycle) {
		t.Fatalf("save for no cycle: %v", err)
	}
	txs, err := s.Store.LedgerTxs(ctx, day)
	want := map[string]jobs.LedgerTx{
		"c0001":  {ID: "tx1", Block: 7, Endorsers: []string{"Org1MSP", "Org2MSP"}},
		"settle": {ID: "tx2", Block: 9, Endorsers: []string{}},
	}
	if err != nil || !reflect.DeepEqual(txs, want) {
		t.Fatalf("ledger txs %+v %v, want %+v", txs, err, want)
	}
	if txs, err := s.Store.LedgerTxs(ctx, dayBefore); err != nil || len(txs) != 0 {
		t.Fatalf("another cycle's: %v %v", txs, err)
	}
	if _, err := s.Store.LedgerTxs(ctx, dayAfter); !errors.Is(err, jobs.ErrNoCycle) {
		t.Fatalf("of no cycle: %v", err)
	}
}

// applyBreaks is a reconciliation run's write: plan applied with the move
// the update makes, if any.
func applyBreaks(s PipelineSubject, d settlement.Date, plan reconciliation.Plan, fail error) error {
	return s.Store.UpdateCycle(context.Background(), d, func(c *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		if err := tx.ApplyBreaks(plan, reconciliation.Summary{Breaks: int64(len(plan.Open))}); err != nil {
			return nil, err
		}
		return nil, fail
	})
}

func testBreaks(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	cyc := settlement.CycleID(day)
	b1 := reconciliation.Break{Kind: reconciliation.MissingOnLedger, Cycle: cyc, Subject: "SHBKKRSE/P1", Store: "100.00 USD"}
	b2 := reconciliation.Break{Kind: reconciliation.AmountMismatch, Cycle: cyc, Subject: "SHBKKRSE/P2", Field: "amount", Store: "1.00", Ledger: "2.00"}
	b3 := reconciliation.Break{Kind: reconciliation.AmountMismatch, Cycle: cyc, Subject: "CZNBKRSE/Q1", Field: "amount", Store: "3", Ledger: "4", Agent: "5"}
	other := reconciliation.Break{Kind: reconciliation.StatusMismatch, Cycle: settlement.CycleID(dayBefore), Subject: settlement.CycleID(dayBefore), Field: "status", Store: "SETTLED"}
	if err := applyBreaks(s, day, reconciliation.Plan{Open: []reconciliation.Break{b1}}, errors.New("run failed")); err == nil {
		t.Fatal("a failed update succeeded")
	}
	if active, err := s.Store.ActiveBreaks(ctx, day); err != nil || len(active) != 0 {
		t.Fatalf("a failed run's breaks were kept: %v %v", active, err)
	}
	if err := applyBreaks(s, day, reconciliation.Plan{Open: []reconciliation.Break{b1, b2, b3}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := applyBreaks(s, dayBefore, reconciliation.Plan{Open: []reconciliation.Break{other}}, nil); err != nil {
		t.Fatal(err)
	}
	wantActive(t, s, day, b1, b2, b3)
	wantOpen(t, s, day, b3, b2, b1) // by kind, then key
	// An operator resolves b2 and takes b3 up.
	if err := s.SetBreakState(b2.Key(), reconciliation.StateResolved, "booked by hand", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBreakState(b3.Key(), reconciliation.StateInvestigating, "", "bob"); err != nil {
		t.Fatal(err)
	}
	wantActive(t, s, day, b1, b3)
	// A re-run finds b2 again (opened anew) and neither b1 nor b3 (closed);
	// closing a break that is no longer active, or none, changes nothing.
	plan := reconciliation.Plan{Open: []reconciliation.Break{b2}, Close: []string{b1.Key(), b3.Key(), other.Key(), "no such break"}}
	if err := s.SetBreakState(other.Key(), reconciliation.StateResolved, "fine", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := applyBreaks(s, day, plan, nil); err != nil {
		t.Fatal(err)
	}
	wantActive(t, s, day, b2)
	wantOpen(t, s, day, b2)
	wantActive(t, s, dayBefore)
	if _, err := s.Store.ActiveBreaks(ctx, dayAfter); !errors.Is(err, jobs.ErrNoCycle) {
		t.Fatalf("breaks of no cycle: %v", err)
	}
}

func wantActive(t *testing.T, s PipelineSubject, d settlement.Date, bs ...reconciliation.Break) {
	t.Helper()
	got, err := s.Store.ActiveBreaks(context.Background(), d)
	want := map[string]bool{}
	for _, b := range bs {
		want[b.Key()] = true
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("active breaks of %s: %v %v, want %v", d, got, err, want)
	}
}

func wantOpen(t *testing.T, s PipelineSubject, d settlement.Date, bs ...reconciliation.Break) {
	t.Helper()
	got, err := s.Store.OpenBreaks(context.Background(), d)
	if err != nil || !reflect.DeepEqual(got, bs) {
		t.Fatalf("open breaks of %s:\n%+v %v\nwant\n%+v", d, got, err, bs)
	}
}

func testCaps(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	if cs, err := s.Store.Caps(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("none yet: %v %v", cs, err)
	}
	krw, _ := settlement.ParseCurrency("KRW")
	past := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		cap  settlement.Cap
		from time.Time
	}{
		{settlement.Cap{Bank: bankB, Currency: usd(), Amount: decimal.RequireFromString("1000.5")}, past},
		{settlement.Cap{Bank: bankA, Currency: usd(), Amount: decimal.New(5, 0)}, past.Add(time.Hour)},
		{settlement.Cap{Bank: bankA, Currency: usd(), Amount: decimal.New(6, 0)}, past}, // set later, effective earlier
		{settlement.Cap{Bank: bankA, Currency: krw, Amount: decimal.New(7, 0)}, past},
		{settlement.Cap{Bank: bankA, Currency: krw, Amount: decimal.New(8, 0)}, past},                                          // the same start: the later set wins
		{settlement.Cap{Bank: bankB, Currency: usd(), Amount: decimal.New(1, 0)}, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}, // not in force yet
		{settlement.Cap{Bank: bankC, Currency: usd(), Amount: decimal.Zero}, past},                                             // no credit at all
	} {
		if err := s.SetCap(c.cap, c.from); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := s.Store.Caps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, fmt.Sprintf("%s %s %s", c.Bank, c.Currency.Code(), amountText(c.Amount)))
	}
	wantLines(t, "caps", got, "CZNBKRSE USD 1000.5(e-2)", "HVBKKRSE USD 0(e-2)", "SHBKKRSE KRW 8(e0)", "SHBKKRSE USD 5(e-2)")
}

func testPendingReversals(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	if _, err := s.Store.EnsureCycle(ctx, dayAfter); err != nil {
		t.Fatal(err)
	}
	s.accept(t, record(bankA, "F0", "old.csv", "old", dayBefore), pay(1, "P1", bankA, bankB, "1", "USD"), pay(2, "P2", bankA, bankB, "2", "USD"))
	s.accept(t, record(bankB, "G0", "g0.csv", "g0", dayBefore), pay(1, "Q1", bankB, bankA, "3", "USD"))
	s.accept(t, record(bankA, "F1", "new.csv", "new", day), pay(1, "P3", bankA, bankB, "1", "USD"),
		rev(2, "R2", "P2", bankA, bankB, "2", "USD"), rev(3, "R1", "P1", bankA, bankB, "1", "USD"))
	s.accept(t, record(bankB, "G1", "g1.csv", "g1", day), rev(1, "S1", "Q1", bankB, bankA, "3", "USD"))
	s.accept(t, record(bankA, "F2", "later.csv", "later", dayAfter), rev(1, "R3", "P3", bankA, bankB, "1", "USD"))
	got, err := s.Store.PendingReversals(ctx, day, 10)
	want := []jobs.PendingReversal{
		{Sender: bankB, ID: "S1", Original: "Q1", OriginalCycle: dayBefore, Stage: settlement.StageOpen},
		{Sender: bankA, ID: "R1", Original: "P1", OriginalCycle: dayBefore, Stage: settlement.StageOpen},
		{Sender: bankA, ID: "R2", Original: "P2", OriginalCycle: dayBefore, Stage: settlement.StageOpen},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("pending:\n%+v %v\nwant\n%+v", got, err, want)
	}
	if got, _ := s.Store.PendingReversals(ctx, day, 2); !reflect.DeepEqual(got, want[:2]) {
		t.Fatalf("at most 2: %+v", got)
	}
	// The original's cycle moves on: its stage is told until it settles.
	for _, st := range []settlement.Stage{settlement.StageFrozen, settlement.StageNetted, settlement.StageRecorded} {
		mustAdvanceStore(t, s.Store, dayBefore, st)
	}
	if got, _ := s.Store.PendingReversals(ctx, day, 10); len(got) != 3 || got[0].Stage != settlement.StageRecorded {
		t.Fatalf("recorded: %+v", got)
	}
	mustAdvanceStore(t, s.Store, dayBefore, settlement.StageSettled)
	if got, err := s.Store.PendingReversals(ctx, day, 10); err != nil || len(got) != 0 {
		t.Fatalf("settled: %+v %v", got, err)
	}
	want = []jobs.PendingReversal{{Sender: bankA, ID: "R3", Original: "P3", OriginalCycle: day, Stage: settlement.StageOpen}}
	if got, err := s.Store.PendingReversals(ctx, dayAfter, 10); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("next day: %+v %v", got, err)
	}
	if _, err := s.Store.PendingReversals(ctx, "2026-12-01", 10); !errors.Is(err, jobs.ErrNoCycle) {
		t.Fatalf("of no cycle: %v", err)
	}
}

func testDeferFile(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	f := record(bankA, "F1", "a.csv", "a", day)
	s.accept(t, f, pay(1, "P1", bankA, bankB, "1", "USD"), pay(2, "P2", bankA, bankC, "2", "USD"))
	s.accept(t, record(bankB, "G1", "b.csv", "b", day), pay(1, "Q1", bankB, bankA, "3", "USD"))
	if _, ok, _ := s.Store.Cycle(ctx, dayAfter); ok {
		t.Fatal("the next cycle exists already")
	}
	// Forward into a cycle not opened yet: it is opened.
	d, err := s.Store.DeferFile(ctx, jobs.Deferral{Sender: bankA, FileID: "F1", From: day, To: dayAfter, Reason: "over its cap", Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "a.csv" || d.SHA256 != f.SHA256 || d.Entries != 2 || d.Move != 1 || d.OutboxBase != "a.csv" || d.At.IsZero() {
		t.Fatalf("deferred: %+v", d)
	}
	wantCycleOf(t, s, day, 1, 1)
	wantCycleOf(t, s, dayAfter, 1, 2)
	if c, _, _ := s.Store.Cycle(ctx, dayAfter); c.Stage != settlement.StageOpen {
		t.Fatalf("opened as %s", c.Stage)
	}
	if got := entriesOf(t, s, dayAfter); len(got) != 2 || !strings.Contains(got[0], " P1 ") {
		t.Fatalf("entries of the cycle deferred to: %v", got)
	}
	if got := entriesOf(t, s, day); len(got) != 1 || !strings.Contains(got[0], " Q1 ") {
		t.Fatalf("entries of the cycle deferred from: %v", got)
	}
	// Back, to correct it: its second move.
	d, err = s.Store.DeferFile(ctx, jobs.Deferral{Sender: bankA, FileID: "F1", From: dayAfter, To: day, Reason: "by mistake", Actor: "bob"})
	if err != nil || d.Move != 2 {
		t.Fatalf("back: %+v %v", d, err)
	}
	wantCycleOf(t, s, day, 2, 3)
	wantCycleOf(t, s, dayAfter, 0, 0)
	// A payment deferred settles where its file went: a reversal of it
	// must come after that cycle, and waits for that cycle to settle.
	s.accept(t, record(bankC, "H0", "h0.csv", "h0", dayBefore), pay(1, "X1", bankC, bankA, "4", "USD"))
	if _, err := s.Store.DeferFile(ctx, jobs.Deferral{Sender: bankC, FileID: "H0", From: dayBefore, To: day, Reason: "late funds", Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	early := record(bankC, "H1", "h1.csv", "h1", day)
	res := mustIngest(t, IntakeSubject{Store: s.Intake}, jobs.IngestRejected, early, rev(1, "Y1", "X1", bankC, bankA, "4", "USD"))
	wantProblems(t, res, problem(1, "original_payment_id", settlement.CodeOriginalUnsettled, "Y1",
		"payment X1 is in this same cycle and not settled yet; a reversal must follow its settlement"))
	s.accept(t, record(bankC, "H2", "h2.csv", "h2", dayAfter), rev(1, "Y1", "X1", bankC, bankA, "4", "USD"))
	want := []jobs.PendingReversal{{Sender: bankC, ID: "Y1", Original: "X1", OriginalCycle: day, Stage: settlement.StageOpen}}
	if got, err := s.Store.PendingReversals(ctx, dayAfter, 10); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("pending after a deferral: %+v %v", got, err)
	}
}

func wantCycleOf(t *testing.T, s PipelineSubject, d settlement.Date, files, entries int64) {
	t.Helper()
	wantCycle(t, IntakeSubject{Cycles: s.Store}, d, files, entries)
}

func testDeferFileRefused(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	s.accept(t, record(bankA, "F0", "old.csv", "old", dayBefore), pay(1, "P1", bankA, bankB, "1", "USD"))
	s.accept(t, record(bankA, "F1", "a.csv", "a", day), rev(1, "R1", "P1", bankA, bankB, "1", "USD"), pay(2, "P2", bankA, bankB, "1", "USD"))
	for _, c := range []struct {
		name string
		d    jobs.Deferral
	}{
		{"no such file", jobs.Deferral{Sender: bankA, FileID: "NOPE", From: day, To: dayAfter}},
		{"another bank's", jobs.Deferral{Sender: bankB, FileID: "F1", From: day, To: dayAfter}},
		{"not in that cycle", jobs.Deferral{Sender: bankA, FileID: "F1", From: dayBefore, To: dayAfter}},
		{"a payment reversed", jobs.Deferral{Sender: bankA, FileID: "F0", From: dayBefore, To: day}},
		{"back before its acceptance", jobs.Deferral{Sender: bankA, FileID: "F1", From: day, To: dayBefore}},
	} {
		c.d.Reason, c.d.Actor = "why", "alice"
		if d, err := s.Store.DeferFile(ctx, c.d); !errors.Is(err, settlement.ErrDeferral) {
			t.Errorf("%s: %+v %v", c.name, d, err)
		}
	}
	if _, ok, _ := s.Store.Cycle(ctx, dayAfter); ok {
		t.Fatal("a refused deferral opened its target")
	}
	if _, err := s.Store.DeferFile(ctx, jobs.Deferral{Sender: bankA, FileID: "F1", From: day, To: dayAfter, Actor: "alice"}); err == nil {
		t.Fatal("deferred with no reason")
	}
	if _, err := s.Store.DeferFile(ctx, jobs.Deferral{Sender: bankA, FileID: "F1", From: "2026-12-01", To: dayAfter, Reason: "x", Actor: "alice"}); !errors.Is(err, jobs.ErrNoCycle) {
		t.Fatalf("from no cycle: %v", err)
	}
	// A netted cycle keeps its files.
	mustAdvanceStore(t, s.Store, day, settlement.StageFrozen)
	mustAdvanceStore(t, s.Store, day, settlement.StageNetted)
	if _, err := s.Store.DeferFile(ctx, jobs.Deferral{Sender: bankA, FileID: "F1", From: day, To: dayAfter, Reason: "x", Actor: "alice"}); !errors.Is(err, settlement.ErrDeferral) {
		t.Fatalf("from a netted cycle: %v", err)
	}
	wantCycleOf(t, s, day, 1, 2)
}

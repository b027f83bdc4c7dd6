package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"settle/jobs"
	"settle/settlement"
)

// dayAfterNext is the cycle after dayAfter.
const dayAfterNext = settlement.Date("2026-11-26")

// RunResolutionStore runs the contract of the ledger's gridlock
// resolution as the store keeps it (jobs.CycleTx.SaveResolution,
// jobs.PipelineStore.CarriedEntries, and what a carried entry changes in
// PendingReversals and the intake's reversal check) on fresh subjects
// from open, set up as RunReconcileStore's.
func RunResolutionStore(t *testing.T, open func(t *testing.T) PipelineSubject) {
	runPipeline(t, open, []pipelineCase{
		{"SaveResolutionMovesEntries", testSaveResolutionMovesEntries},
		{"SaveResolutionAgain", testSaveResolutionAgain},
		{"SaveResolutionRefused", testSaveResolutionRefused},
		{"CarriedAgain", testCarriedAgain},
		{"CarriedReversals", testCarriedReversals},
		{"CarriedOriginalPairsItsReversal", testCarriedOriginalPairsItsReversal},
		{"CarriedReversalAlone", testCarriedReversalAlone},
	})
}

// resolve saves r as cycle d's resolution in an update that moves
// nothing.
func resolve(s PipelineSubject, d settlement.Date, r jobs.Resolution) error {
	return s.Store.UpdateCycle(context.Background(), d, func(_ *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		return nil, tx.SaveResolution(r)
	})
}

func mustResolve(t *testing.T, s PipelineSubject, d settlement.Date, r jobs.Resolution) {
	t.Helper()
	if err := resolve(s, d, r); err != nil {
		t.Fatalf("resolution of %s: %v", d, err)
	}
}

// ref names a deferred entry.
func ref(sender settlement.BIC, id string, times int) jobs.DeferredRef {
	return jobs.DeferredRef{Sender: sender, ID: id, Times: times}
}

// carriedOf reads the entries carried into a cycle, one line of text each.
func carriedOf(t *testing.T, s PipelineSubject, d settlement.Date) []string {
	t.Helper()
	var out []string
	for ce, err := range s.Store.CarriedEntries(context.Background(), d) {
		if err != nil {
			t.Fatalf("carried into %s: %v", d, err)
		}
		e := ce.Entry
		out = append(out, fmt.Sprintf("%s %s from %s own %s times %d: %s %s line %d %c %s>%s %s %s rem=%q orig=%q reason=%q %.8s",
			ce.Sender, e.ID, ce.From, ce.Own, ce.Times, ce.FileName, ce.FileID, e.Line, e.Kind, e.Debtor, e.Creditor,
			amountText(e.Amount), e.Currency.Code(), e.Remittance, e.Original, e.Reason, ce.FileSHA256))
	}
	return out
}

// wantRefused checks that err is a refused deferral that says want.
func wantRefused(t *testing.T, what string, err error, want string) {
	t.Helper()
	if !errors.Is(err, settlement.ErrDeferral) || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %v, want a refusal saying %q", what, err, want)
	}
}

func testSaveResolutionMovesEntries(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	fa := record(bankA, "F1", "a.csv", "a", day)
	p2 := pay(2, "P2", bankA, bankC, "2.5", "USD")
	p2.Remittance = "invoice 2"
	s.accept(t, fa, pay(1, "P1", bankA, bankB, "1", "USD"), p2, pay(3, "P3", bankA, bankB, "3", "KRW"))
	fb := record(bankB, "G1", "b.csv", "b", day)
	s.accept(t, fb, pay(1, "Q1", bankB, bankA, "4", "USD"))
	before := entriesOf(t, s, day)
	if _, ok, _ := s.Store.Cycle(ctx, dayAfter); ok {
		t.Fatal("the next cycle exists already")
	}
	// The cycle settles with its resolution (one update: the move and the
	// moves of its entries); the target is opened.
	for _, st := range []settlement.Stage{settlement.StageFrozen, settlement.StageNetted, settlement.StageRecorded} {
		mustAdvanceStore(t, s.Store, day, st)
	}
	r := jobs.Resolution{To: dayAfter, TxID: "tx-settle-1", Deferred: []jobs.DeferredRef{ref(bankB, "Q1", 1), ref(bankA, "P2", 1), ref(bankA, "P3", 1)}}
	err := s.Store.UpdateCycle(ctx, day, func(c *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		if err := tx.SaveResolution(r); err != nil {
			return nil, err
		}
		return advance(settlement.StageSettled, settlement.Facts{})(c, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok, _ := s.Store.Cycle(ctx, dayAfter); !ok || c.Stage != settlement.StageOpen {
		t.Fatalf("target: %+v %v", c, ok)
	}
	// In the record's order, each as CycleEntries gives it, with where it
	// comes from.
	sha := func(f jobs.FileRecord) string { return f.SHA256[:8] }
	wantLines(t, "carried", carriedOf(t, s, dayAfter),
		fmt.Sprintf(`CZNBKRSE Q1 from 2026-11-24 own 2026-11-24 times 1: b.csv G1 line 1 P CZNBKRSE>SHBKKRSE 4(e-2) USD rem="" orig="" reason="" %s`, sha(fb)),
		fmt.Sprintf(`SHBKKRSE P2 from 2026-11-24 own 2026-11-24 times 1: a.csv F1 line 2 P SHBKKRSE>HVBKKRSE 2.5(e-2) USD rem="invoice 2" orig="" reason="" %s`, sha(fa)),
		fmt.Sprintf(`SHBKKRSE P3 from 2026-11-24 own 2026-11-24 times 1: a.csv F1 line 3 P SHBKKRSE>CZNBKRSE 3(e0) KRW rem="" orig="" reason="" %s`, sha(fa)))
	wantLines(t, "carried into the deferring cycle", carriedOf(t, s, day))
	// The files stay where they are: the deferring cycle's entries are
	// still its files' (what its ledger record speaks of), the target's
	// own files are none.
	wantLines(t, "entries of the deferring cycle", entriesOf(t, s, day), before...)
	wantLines(t, "entries of the target", entriesOf(t, s, dayAfter))
	wantCycleOf(t, s, day, 2, 4)
	wantCycleOf(t, s, dayAfter, 0, 0)
	for _, err := range s.Store.CarriedEntries(ctx, dayAfterNext) {
		if !errors.Is(err, jobs.ErrNoCycle) {
			t.Fatalf("carried into no cycle: %v", err)
		}
	}
	// A consumer may stop early.
	for range s.Store.CarriedEntries(ctx, dayAfter) {
		break
	}
	// Nothing deferred: nothing to do, nothing opened.
	mustResolve(t, s, dayBefore, jobs.Resolution{To: "2026-12-01", TxID: "tx-settle-0"})
	if _, ok, _ := s.Store.Cycle(ctx, "2026-12-01"); ok {
		t.Fatal("an empty resolution opened its target")
	}
}

func testSaveResolutionAgain(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	s.accept(t, record(bankA, "F1", "a.csv", "a", day), pay(1, "P1", bankA, bankB, "1", "USD"), pay(2, "P2", bankA, bankC, "2", "USD"))
	waiting := ref(bankA, "P2", 2)
	waiting.Waiting = true
	r := jobs.Resolution{To: dayAfter, TxID: "tx-1", Deferred: []jobs.DeferredRef{ref(bankA, "P1", 1), waiting}}
	// An update that fails after saving keeps nothing, the target's
	// opening included.
	boom := errors.New("settle failed")
	err := s.Store.UpdateCycle(ctx, day, func(_ *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		if err := tx.SaveResolution(r); err != nil {
			return nil, err
		}
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed update: %v", err)
	}
	if _, ok, _ := s.Store.Cycle(ctx, dayAfter); ok {
		t.Fatal("a failed update opened the target")
	}
	mustResolve(t, s, day, r)
	want := carriedOf(t, s, dayAfter)
	if len(want) != 2 || !strings.HasPrefix(want[1], "SHBKKRSE P2 from 2026-11-24 own 2026-11-24 times 2:") {
		t.Fatalf("carried: %v", want)
	}
	// A rerun after a crash: the same moves write nothing, even once the
	// target is netted.
	mustResolve(t, s, day, r)
	mustAdvanceStore(t, s.Store, dayAfter, settlement.StageFrozen)
	mustAdvanceStore(t, s.Store, dayAfter, settlement.StageNetted)
	mustResolve(t, s, day, r)
	wantLines(t, "carried after the reruns", carriedOf(t, s, dayAfter), want...)
	// Any other resolution of the cycle is refused, naming the first
	// difference.
	other := func(change func(*jobs.Resolution)) jobs.Resolution {
		o := jobs.Resolution{To: r.To, TxID: r.TxID, Deferred: append([]jobs.DeferredRef(nil), r.Deferred...)}
		change(&o)
		return o
	}
	for _, c := range []struct {
		name string
		r    jobs.Resolution
		want string
	}{
		{"other times", other(func(o *jobs.Resolution) { o.Deferred[1].Times = 1 }), "differs, first at entry SHBKKRSE/P2"},
		{"not waiting", other(func(o *jobs.Resolution) { o.Deferred[1].Waiting = false }), "first at entry SHBKKRSE/P2"},
		{"another order", other(func(o *jobs.Resolution) { o.Deferred[0], o.Deferred[1] = o.Deferred[1], o.Deferred[0] }), "first at entry SHBKKRSE/P2"},
		{"another target", other(func(o *jobs.Resolution) { o.To = dayAfterNext }), "(2 moves to C2026-11-26, transaction tx-1) differs, first at entry SHBKKRSE/P1"},
		{"another transaction", other(func(o *jobs.Resolution) { o.TxID = "tx-2" }), "first at entry SHBKKRSE/P1"},
		{"one more", other(func(o *jobs.Resolution) { o.Deferred = append(o.Deferred, ref(bankA, "P9", 1)) }), "first at entry SHBKKRSE/P9"},
		{"one less", other(func(o *jobs.Resolution) { o.Deferred = o.Deferred[:1] }), "cycle C2026-11-24 has a resolution recorded already (2 moves); this one (1 moves"},
		{"nothing", other(func(o *jobs.Resolution) { o.Deferred = nil }), "differs, first at entry none"},
	} {
		wantRefused(t, c.name, resolve(s, day, c.r), c.want)
	}
	wantLines(t, "carried after the refusals", carriedOf(t, s, dayAfter), want...)
	if _, ok, _ := s.Store.Cycle(ctx, dayAfterNext); ok {
		t.Fatal("a refused resolution opened its target")
	}
}

func testSaveResolutionRefused(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	s.accept(t, record(bankA, "F0", "old.csv", "old", dayBefore), pay(1, "X1", bankA, bankB, "1", "USD"), pay(2, "X2", bankA, bankB, "1", "USD"))
	s.accept(t, record(bankA, "F1", "a.csv", "a", day), pay(1, "P1", bankA, bankB, "1", "USD"))
	// X2 is carried into day: from there on it is no longer dayBefore's.
	mustResolve(t, s, dayBefore, jobs.Resolution{To: day, TxID: "tx-0", Deferred: []jobs.DeferredRef{ref(bankA, "X2", 1)}})
	ok := ref(bankA, "P1", 1)
	for _, c := range []struct {
		name string
		r    jobs.Resolution
		want string
	}{
		{"unknown entry", jobs.Resolution{To: dayAfter, TxID: "tx", Deferred: []jobs.DeferredRef{ok, ref(bankA, "NOPE", 1)}},
			"entry SHBKKRSE/NOPE deferred by cycle C2026-11-24 is unknown to the store"},
		{"another bank's id", jobs.Resolution{To: dayAfter, TxID: "tx", Deferred: []jobs.DeferredRef{ref(bankB, "P1", 1)}},
			"entry CZNBKRSE/P1 deferred by cycle C2026-11-24 is unknown to the store"},
		{"an earlier cycle's", jobs.Resolution{To: dayAfter, TxID: "tx", Deferred: []jobs.DeferredRef{ok, ref(bankA, "X1", 1)}},
			"entry SHBKKRSE/X1 deferred by cycle C2026-11-24 is in cycle C2026-11-23, not in it"},
		{"to this cycle", jobs.Resolution{To: day, TxID: "tx", Deferred: []jobs.DeferredRef{ok}}, "cycle C2026-11-24 is not after cycle C2026-11-24"},
		{"to an earlier cycle", jobs.Resolution{To: dayBefore, TxID: "tx", Deferred: []jobs.DeferredRef{ok}}, "cycle C2026-11-23 is not after cycle C2026-11-24"},
	} {
		wantRefused(t, c.name, resolve(s, day, c.r), c.want)
	}
	// Carried out of dayBefore, X2 is no longer there to defer; carried
	// into day, it is day's.
	wantRefused(t, "carried out already", resolve(s, dayBefore, jobs.Resolution{To: dayAfter, TxID: "tx", Deferred: []jobs.DeferredRef{ref(bankA, "X1", 1)}}),
		"cycle C2026-11-23 has a resolution recorded already")
	if _, ok, _ := s.Store.Cycle(ctx, dayAfter); ok {
		t.Fatal("a refused resolution opened its target")
	}
	for _, c := range []struct {
		name string
		r    jobs.Resolution
	}{
		{"twice the same entry", jobs.Resolution{To: dayAfter, TxID: "tx", Deferred: []jobs.DeferredRef{ok, ok}}},
		{"deferred zero times", jobs.Resolution{To: dayAfter, TxID: "tx", Deferred: []jobs.DeferredRef{ref(bankA, "P1", 0)}}},
		{"no transaction", jobs.Resolution{To: dayAfter, Deferred: []jobs.DeferredRef{ok}}},
		{"no date", jobs.Resolution{To: "2026-13-01", TxID: "tx", Deferred: []jobs.DeferredRef{ok}}},
	} {
		if err := resolve(s, day, c.r); err == nil {
			t.Errorf("%s: saved", c.name)
		}
	}
	// A target netted already has taken its entries: nothing more goes in.
	if _, err := s.Store.EnsureCycle(ctx, dayAfter); err != nil {
		t.Fatal(err)
	}
	mustAdvanceStore(t, s.Store, dayAfter, settlement.StageFrozen)
	mustAdvanceStore(t, s.Store, dayAfter, settlement.StageNetted)
	wantRefused(t, "to a netted cycle", resolve(s, day, jobs.Resolution{To: dayAfter, TxID: "tx", Deferred: []jobs.DeferredRef{ok, ref(bankA, "X2", 2)}}),
		"cycle C2026-11-25 is NETTED: deferred entries move only to a cycle not netted yet")
	wantLines(t, "carried after the refusals", carriedOf(t, s, dayAfter))
	// A frozen one, not netted yet, takes them.
	if _, err := s.Store.EnsureCycle(ctx, dayAfterNext); err != nil {
		t.Fatal(err)
	}
	mustAdvanceStore(t, s.Store, dayAfterNext, settlement.StageFrozen)
	mustResolve(t, s, day, jobs.Resolution{To: dayAfterNext, TxID: "tx", Deferred: []jobs.DeferredRef{ok, ref(bankA, "X2", 2)}})
	if got := carriedOf(t, s, dayAfterNext); len(got) != 2 {
		t.Fatalf("carried into the frozen cycle: %v", got)
	}
}

func testCarriedAgain(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	for _, d := range []settlement.Date{dayAfter, dayAfterNext} {
		if _, err := s.Store.EnsureCycle(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	s.accept(t, record(bankA, "F0", "old.csv", "old", dayBefore), pay(1, "X1", bankA, bankB, "1", "USD"))
	s.accept(t, record(bankB, "G0", "g0.csv", "g0", dayBefore), pay(1, "Y1", bankB, bankA, "2", "USD"))
	s.accept(t, record(bankA, "F1", "a.csv", "a", day), pay(1, "P1", bankA, bankB, "3", "USD"))
	s.accept(t, record(bankC, "H2", "h.csv", "h", dayAfter), pay(1, "Z1", bankC, bankA, "4", "USD"))
	mustResolve(t, s, dayBefore, jobs.Resolution{To: day, TxID: "tx-23", Deferred: []jobs.DeferredRef{ref(bankB, "Y1", 1), ref(bankA, "X1", 1)}})
	// The later cycle's record first: the order is the cycles', not the
	// records' arrival.
	mustResolve(t, s, dayAfter, jobs.Resolution{To: dayAfterNext, TxID: "tx-25", Deferred: []jobs.DeferredRef{ref(bankC, "Z1", 1)}})
	mustResolve(t, s, day, jobs.Resolution{To: dayAfterNext, TxID: "tx-24", Deferred: []jobs.DeferredRef{ref(bankA, "X1", 2), ref(bankA, "P1", 1)}})
	short := func(lines []string) []string {
		for i, l := range lines {
			lines[i] = l[:strings.Index(l, ":")]
		}
		return lines
	}
	// X1, carried into day and deferred again, is the later cycle's only.
	wantLines(t, "carried into day", short(carriedOf(t, s, day)), "CZNBKRSE Y1 from 2026-11-23 own 2026-11-23 times 1")
	wantLines(t, "carried into the day after", short(carriedOf(t, s, dayAfter)))
	wantLines(t, "carried into the day after next", short(carriedOf(t, s, dayAfterNext)),
		"SHBKKRSE X1 from 2026-11-24 own 2026-11-23 times 2",
		"SHBKKRSE P1 from 2026-11-24 own 2026-11-24 times 1",
		"HVBKKRSE Z1 from 2026-11-25 own 2026-11-25 times 1")
	// Where it came from, day's record may name it; the earlier one may
	// not any more.
	wantRefused(t, "no longer in dayBefore", resolve(s, dayAfter, jobs.Resolution{To: dayAfterNext, TxID: "tx-25",
		Deferred: []jobs.DeferredRef{ref(bankC, "Z1", 1), ref(bankB, "Y1", 2)}}), "differs, first at entry CZNBKRSE/Y1")
}

// testCarriedReversals: a payment carried into a cycle settles there, not
// before: a reversal of it goes to a later cycle (the intake refuses it in
// the same one, as for a deferred file), and waits there for the carried
// payment's cycle to settle.
func testCarriedReversals(t *testing.T, s PipelineSubject) {
	ctx := context.Background()
	if _, err := s.Store.EnsureCycle(ctx, dayAfter); err != nil {
		t.Fatal(err)
	}
	s.accept(t, record(bankA, "F0", "old.csv", "old", dayBefore), pay(1, "P1", bankA, bankB, "1", "USD"), pay(2, "P2", bankA, bankB, "2", "USD"))
	mustResolve(t, s, dayBefore, jobs.Resolution{To: day, TxID: "tx-23", Deferred: []jobs.DeferredRef{ref(bankA, "P1", 1)}})
	res := mustIngest(t, IntakeSubject{Store: s.Intake}, jobs.IngestRejected, record(bankA, "F1", "early.csv", "early", day),
		rev(1, "R1", "P1", bankA, bankB, "1", "USD"))
	wantProblems(t, res, problem(1, "original_payment_id", settlement.CodeOriginalUnsettled, "R1",
		"payment P1 is in this same cycle and not settled yet; a reversal must follow its settlement"))
	s.accept(t, record(bankA, "F2", "a.csv", "a", day), rev(1, "R2", "P2", bankA, bankB, "2", "USD"))
	s.accept(t, record(bankA, "F3", "later.csv", "later", dayAfter), rev(1, "R1", "P1", bankA, bankB, "1", "USD"))
	wantPending(t, s, day, jobs.PendingReversal{Sender: bankA, ID: "R2", Original: "P2", OriginalCycle: dayBefore, Stage: settlement.StageOpen})
	wantPending(t, s, dayAfter, jobs.PendingReversal{Sender: bankA, ID: "R1", Original: "P1", OriginalCycle: day, Stage: settlement.StageOpen})
	// dayBefore's settling does not settle P1: day's does.
	for _, st := range settlement.Stages[1:5] {
		mustAdvanceStore(t, s.Store, dayBefore, st)
	}
	wantPending(t, s, day)
	wantPending(t, s, dayAfter, jobs.PendingReversal{Sender: bankA, ID: "R1", Original: "P1", OriginalCycle: day, Stage: settlement.StageOpen})
	for _, st := range settlement.Stages[1:5] {
		mustAdvanceStore(t, s.Store, day, st)
	}
	wantPending(t, s, dayAfter)
}

// testCarriedOriginalPairsItsReversal: a reversal accepted while its
// original was in an earlier cycle waits for it; once the ledger carries
// the original into the reversal's cycle, the two are in one cycle and the
// ledger settles them together (or defers the reversal, waiting, with its
// original): nothing is pending.
func testCarriedOriginalPairsItsReversal(t *testing.T, s PipelineSubject) {
	s.accept(t, record(bankB, "G0", "g0.csv", "g0", dayBefore), pay(1, "Q1", bankB, bankA, "3", "USD"))
	s.accept(t, record(bankB, "G1", "g1.csv", "g1", day), rev(1, "S1", "Q1", bankB, bankA, "3", "USD"))
	wantPending(t, s, day, jobs.PendingReversal{Sender: bankB, ID: "S1", Original: "Q1", OriginalCycle: dayBefore, Stage: settlement.StageOpen})
	mustResolve(t, s, dayBefore, jobs.Resolution{To: day, TxID: "tx-23", Deferred: []jobs.DeferredRef{ref(bankB, "Q1", 1)}})
	wantPending(t, s, day)
	waiting := ref(bankB, "S1", 1)
	waiting.Waiting = true
	mustResolve(t, s, day, jobs.Resolution{To: dayAfter, TxID: "tx-24", Deferred: []jobs.DeferredRef{ref(bankB, "Q1", 2), waiting}})
	wantPending(t, s, day)
	wantPending(t, s, dayAfter)
	got := carriedOf(t, s, dayAfter)
	if len(got) != 2 || !strings.HasPrefix(got[0], "CZNBKRSE Q1 from 2026-11-24 own 2026-11-23 times 2:") ||
		!strings.HasPrefix(got[1], "CZNBKRSE S1 from 2026-11-24 own 2026-11-24 times 1: g1.csv G1 line 1 R") {
		t.Fatalf("carried: %v", got)
	}
}

// testCarriedReversalAlone: a reversal the ledger deferred without its
// original waits in its new cycle for the original's to settle.
func testCarriedReversalAlone(t *testing.T, s PipelineSubject) {
	s.accept(t, record(bankB, "G0", "g0.csv", "g0", dayBefore), pay(1, "Q1", bankB, bankA, "3", "USD"))
	s.accept(t, record(bankB, "G1", "g1.csv", "g1", day), rev(1, "S1", "Q1", bankB, bankA, "3", "USD"))
	mustResolve(t, s, day, jobs.Resolution{To: dayAfter, TxID: "tx-24", Deferred: []jobs.DeferredRef{ref(bankB, "S1", 1)}})
	wantPending(t, s, day)
	wantPending(t, s, dayAfter, jobs.PendingReversal{Sender: bankB, ID: "S1", Original: "Q1", OriginalCycle: dayBefore, Stage: settlement.StageOpen})
}

func wantPending(t *testing.T, s PipelineSubject, d settlement.Date, want ...jobs.PendingReversal) {
	t.Helper()
	got, err := s.Store.PendingReversals(context.Background(), d, 10)
	if err != nil || len(got) != len(want) || len(want) > 0 && !reflect.DeepEqual(got, want) {
		t.Fatalf("pending in %s:\n%+v %v\nwant\n%+v", d, got, err, want)
	}
}

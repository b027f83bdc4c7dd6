package reconciliation

import (
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

func seq(rs []Record) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for _, r := range rs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func rec(sender, id, amount string) Record {
	krw, _ := settlement.ParseCurrency("KRW")
	return Record{Sender: settlement.BIC(sender), ID: id, Kind: settlement.KindPayment, Debtor: settlement.BIC(sender),
		Creditor: "CZNBKRSE", Amount: decimal.RequireFromString(amount), Currency: krw, FileSHA256: "ab", Cycle: "C2026-11-24"}
}

func run(t *testing.T, s, l []Record) ([]Break, Summary) {
	t.Helper()
	var got []Break
	sum, err := Payments("C2026-11-24", seq(s), seq(l), func(b Break) error { got = append(got, b); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got, sum
}

func TestCleanCycleHasNoBreaks(t *testing.T) {
	rs := []Record{rec("AAAAKRSE", "1", "10"), rec("AAAAKRSE", "2", "20"), rec("SHBKKRSE", "1", "5")}
	got, sum := run(t, rs, rs)
	if len(got) != 0 || sum.Matched != 3 || sum.Breaks != 0 {
		t.Fatalf("clean cycle: %v %+v", got, sum)
	}
}

func TestEveryKindOfPaymentBreak(t *testing.T) {
	s := []Record{rec("AAAAKRSE", "1", "10"), rec("AAAAKRSE", "2", "20"), rec("AAAAKRSE", "3", "30"), rec("SHBKKRSE", "9", "1")}
	l := []Record{rec("AAAAKRSE", "1", "10"), rec("AAAAKRSE", "2", "21"), rec("AAAAKRSE", "4", "40"), rec("SHBKKRSE", "9", "1")}
	l[3].Creditor = "HVBKKRSE"
	got, sum := run(t, s, l)
	want := map[string]bool{
		"C2026-11-24|AMOUNT_MISMATCH|AAAAKRSE/2|amount":        true,
		"C2026-11-24|MISSING_ON_LEDGER|AAAAKRSE/3|":            true,
		"C2026-11-24|MISSING_IN_STORE|AAAAKRSE/4|":             true,
		"C2026-11-24|FIELD_MISMATCH|SHBKKRSE/9|creditor":       true,
		"C2026-11-24|TOTALS_MISMATCH|AAAAKRSE/KRW|control_sum": true,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d breaks: %v", len(got), got)
	}
	for _, b := range got {
		if !want[b.Key()] {
			t.Errorf("unexpected break %s", b.Key())
		}
	}
	if sum.Matched != 1 || sum.StoreRecords != 4 || sum.LedgerRecords != 4 {
		t.Errorf("summary %+v", sum)
	}
	// Evidence of both sides is kept.
	for _, b := range got {
		if b.Kind == AmountMismatch && (b.Store != "20" || b.Ledger != "21") {
			t.Errorf("amount evidence %+v", b)
		}
	}
}

func TestOutOfOrderInputStops(t *testing.T) {
	s := []Record{rec("AAAAKRSE", "2", "1"), rec("AAAAKRSE", "1", "1")}
	_, err := Payments("c", seq(s), seq(nil), func(Break) error { return nil })
	if !errors.Is(err, ErrOrder) {
		t.Fatalf("want ErrOrder, got %v", err)
	}
	dup := []Record{rec("AAAAKRSE", "1", "1"), rec("AAAAKRSE", "1", "1")}
	if _, err := Payments("c", seq(nil), seq(dup), func(Break) error { return nil }); !errors.Is(err, ErrOrder) {
		t.Fatalf("a key twice on one side must stop, got %v", err)
	}
}

// TestRandomDifferences: whatever is removed or altered on one side is
// exactly what is reported.
func TestRandomDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 30; round++ {
		var base []Record
		for i := 0; i < 500; i++ {
			base = append(base, rec(fmt.Sprintf("B%03dKRSE", i/50), fmt.Sprintf("%06d", i), fmt.Sprint(1+r.IntN(1000))))
		}
		s := append([]Record(nil), base...)
		var l []Record
		missing, altered := 0, 0
		for _, x := range base {
			switch r.IntN(20) {
			case 0:
				missing++
				continue
			case 1:
				x.Amount = x.Amount.Add(decimal.New(1, 0))
				altered++
			}
			l = append(l, x)
		}
		got, _ := run(t, s, l)
		var m, a int
		for _, b := range got {
			switch b.Kind {
			case MissingOnLedger:
				m++
			case AmountMismatch:
				a++
			}
		}
		if m != missing || a != altered {
			t.Fatalf("round %d: reported %d missing and %d altered, made %d and %d", round, m, a, missing, altered)
		}
	}
}

func TestPositionsAndStatus(t *testing.T) {
	krw, _ := settlement.ParseCurrency("KRW")
	d := decimal.RequireFromString
	s := []NetPosition{{"AAAAKRSE", krw, d("-5")}, {"BBBBKRSE", krw, d("5")}, {"CCCCKRSE", krw, d("0")}}
	l := []NetPosition{{"AAAAKRSE", krw, d("-5")}, {"BBBBKRSE", krw, d("4")}}
	got := Positions("c", s, l)
	if len(got) != 1 || got[0].Subject != "BBBBKRSE/KRW" || got[0].Store != "5" || got[0].Ledger != "4" {
		t.Fatalf("positions: %v", got)
	}
	if b := Status("c", true, false, "SETTLED", "open"); len(b) != 1 || b[0].Kind != StatusMismatch {
		t.Fatalf("status: %v", b)
	}
	if b := Status("c", true, true, "SETTLED", "settled"); b != nil {
		t.Fatalf("status: %v", b)
	}
}

func TestPlanRunIsIdempotent(t *testing.T) {
	a := Break{Kind: MissingOnLedger, Cycle: "c", Subject: "X/1"}
	b := Break{Kind: AmountMismatch, Cycle: "c", Subject: "X/2", Field: "amount"}
	p := PlanRun([]Break{a, b, a}, nil)
	if len(p.Open) != 2 || len(p.Close) != 0 {
		t.Fatalf("first run: %+v", p)
	}
	active := map[string]bool{a.Key(): true, b.Key(): true}
	if p := PlanRun([]Break{a, b}, active); len(p.Open)+len(p.Close) != 0 {
		t.Fatalf("re-run with the same breaks changed something: %+v", p)
	}
	if p := PlanRun([]Break{a}, active); len(p.Close) != 1 || p.Close[0] != b.Key() {
		t.Fatalf("a break gone on re-run must be closed: %+v", p)
	}
}

func BenchmarkPayments(b *testing.B) {
	const n = 1_000_000
	rs := make([]Record, n)
	for i := range rs {
		rs[i] = rec(fmt.Sprintf("B%03dKRSE", i/50000), fmt.Sprintf("%08d", i), fmt.Sprint(1+i%100000))
	}
	b.ReportAllocs()
	for b.Loop() {
		sum, err := Payments("c", seq(rs), seq(rs), func(Break) error { return nil })
		if err != nil || sum.Matched != n {
			b.Fatal(err, sum)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func TestPrefetchKeepsOrderErrorsAndStops(t *testing.T) {
	var rs []Record
	for i := 0; i < 2000; i++ {
		rs = append(rs, rec("AAAAKRSE", fmt.Sprintf("%06d", i), "1"))
	}
	var got []string
	for r, err := range Prefetch(seq(rs)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.ID)
	}
	if len(got) != 2000 || got[0] != "000000" || got[1999] != "001999" {
		t.Fatalf("prefetch changed the stream: %d records", len(got))
	}
	boom := errors.New("cursor broke")
	failing := func(yield func(Record, error) bool) {
		for _, r := range rs[:700] {
			if !yield(r, nil) {
				return
			}
		}
		yield(Record{}, boom)
	}
	n := 0
	var last error
	for _, err := range Prefetch(failing) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	if n != 700 || !errors.Is(last, boom) {
		t.Fatalf("after %d records got %v", n, last)
	}
	// The consumer stopping early ends the reader.
	for range Prefetch(seq(rs)) {
		break
	}
}

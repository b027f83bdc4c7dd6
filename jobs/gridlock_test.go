package jobs

import (
	"context"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"settle/reconciliation"
	"settle/settlement"
)

// records is the ledger's deferral records by cycle, for the auditor.
type records map[string]LedgerDeferral

func (r records) Deferral(_ context.Context, cycle string) (LedgerDeferral, bool, error) {
	d, ok := r[cycle]
	return d, ok, nil
}

func netOf(ps []reconciliation.NetPosition) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		if !p.Net.IsZero() {
			out[string(p.Bank)+"/"+p.Currency.Code()] = settlement.FormatAmount(p.Net, p.Currency)
		}
	}
	return out
}

func grossPos(t *testing.T, nets map[string]string) []settlement.Position {
	t.Helper()
	var out []settlement.Position
	for k, v := range nets {
		bank, cur, _ := strings.Cut(k, "/")
		c, err := settlement.ParseCurrency(cur)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, settlement.Position{Bank: settlement.BIC(bank), Currency: c, Net: decimal.RequireFromString(v)})
	}
	return out
}

// TestLedgerSplitAppliesTheRecord: the auditor's re-netting of a cycle's
// files becomes the positions of what settled by the ledger's record: the
// entries carried in (the previous record's deferred list) added, the
// deferred taken out, a reversal by its payer and payee (the original's
// creditor pays back); a record whose carry count or amounts do not hold
// together is a problem.
func TestLedgerSplitAppliesTheRecord(t *testing.T) {
	ctx := context.Background()
	const a, b, c = "AAAAKRSE", "BBBBKRSE", "CCCCKRSE"
	// The files of C2: A pays B 300 and C 10; the ledger defers the 10,
	// and settles the 200 A owed C from C1, carried in, and C's reversal of
	// a payment B made it in an earlier cycle (C pays back 5).
	recs := records{
		"C1": {Cycle: "C1", Deferred: []LedgerDeferred{{Sender: a, ID: "P3", Kind: settlement.KindPayment, Debtor: a, Creditor: c, Amount: "200", Currency: "KRW", Times: 1},
			{Sender: c, ID: "R1", Kind: settlement.KindReversal, Debtor: b, Creditor: c, Amount: "5", Currency: "KRW", Times: 1, Waiting: true}}},
		"C2": {Cycle: "C2", CarriedFrom: "C1", CarriedIn: 2, Deferred: []LedgerDeferred{{Sender: a, ID: "P5", Kind: settlement.KindPayment, Debtor: a, Creditor: c, Amount: "10", Currency: "KRW", Times: 1}}},
	}
	gross := grossPos(t, map[string]string{a + "/KRW": "-310", b + "/KRW": "300", c + "/KRW": "10"})
	ps, deferred, carried, problems, err := ledgerSplit(ctx, recs, "C2", gross)
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	want := map[string]string{a + "/KRW": "-500", b + "/KRW": "305", c + "/KRW": "195"}
	if got := netOf(ps); len(got) != len(want) || got[a+"/KRW"] != want[a+"/KRW"] || got[b+"/KRW"] != want[b+"/KRW"] || got[c+"/KRW"] != want[c+"/KRW"] || deferred != 1 || carried != 2 {
		t.Fatalf("split %v (%d deferred, %d carried), want %v", got, deferred, carried, want)
	}
	// No record: the gross positions; no reader: the same.
	if ps, d, cin, _, _ := ledgerSplit(ctx, recs, "C9", gross); netOf(ps)[a+"/KRW"] != "-310" || d != 0 || cin != 0 {
		t.Fatalf("no record: %v", netOf(ps))
	}
	if ps, _, _, _, _ := ledgerSplit(ctx, nil, "C2", gross); netOf(ps)[a+"/KRW"] != "-310" {
		t.Fatalf("no reader: %v", netOf(ps))
	}
	// A carry of another size than counted, an amount that is none.
	bad := records{"C1": recs["C1"], "C2": recs["C2"]}
	c2 := bad["C2"]
	c2.CarriedIn = 3
	c2.Deferred = []LedgerDeferred{{Sender: a, ID: "P5", Kind: settlement.KindPayment, Debtor: a, Creditor: c, Amount: "-10", Currency: "KRW", Times: 1}}
	bad["C2"] = c2
	if _, _, _, problems, err := ledgerSplit(ctx, bad, "C2", gross); err != nil || len(problems) != 2 ||
		!strings.Contains(problems[0], "counts 3 carried in, C1 deferred 2") || !strings.Contains(problems[1], `amount "-10"`) {
		t.Fatalf("problems %v %v", problems, err)
	}
	// A carry from a cycle with no record.
	if _, _, _, problems, _ := ledgerSplit(ctx, records{"C2": recs["C2"]}, "C2", gross); len(problems) != 1 || !strings.Contains(problems[0], "holds no deferral record") {
		t.Fatalf("missing carry: %v", problems)
	}
}

// TestCarriedCheck: a payment's recorded move is checked against the
// ledger's record of the cycle it left.
func TestCarriedCheck(t *testing.T) {
	const a = "AAAAKRSE"
	rec := LedgerDeferral{Cycle: "C1", TxID: "tx1", Deferred: []LedgerDeferred{{Sender: a, ID: "P1", Times: 2}, {Sender: a, ID: "R1", Times: 1, Waiting: true}}}
	m := PaymentMove{From: "2026-11-24", To: "2026-11-25", Times: 2, LedgerTx: "tx1"}
	cases := []struct {
		name string
		rec  LedgerDeferral
		ok   bool
		id   string
		m    PaymentMove
		want string
	}{
		{"named, the same", rec, true, "P1", m, "ok"},
		{"a waiting reversal", rec, true, "R1", PaymentMove{From: m.From, Times: 1, Waiting: true, LedgerTx: "tx1"}, "ok"},
		{"no record", LedgerDeferral{}, false, "P1", m, "the ledger holds no deferral record of C2026-11-24"},
		{"another transaction", rec, true, "P1", PaymentMove{From: m.From, Times: 2, LedgerTx: "tx9"}, "the ledger's record was written by tx tx1, Postgres says tx9"},
		{"other times", rec, true, "P1", PaymentMove{From: m.From, Times: 1, LedgerTx: "tx1"}, "the ledger counts 2 deferrals (waiting false), Postgres 1 (waiting false)"},
		{"not named", rec, true, "P2", m, "not in the ledger's deferral record of C2026-11-24"},
	}
	for _, tc := range cases {
		if got := carriedCheck(tc.rec, tc.ok, a, tc.id, tc.m); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

package settlement

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

func mustCur(t testing.TB, code string) Currency {
	c, err := ParseCurrency(code)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pay(id string, from, to BIC, amt string, c Currency) Entry {
	return Entry{Kind: KindPayment, ID: id, Debtor: from, Creditor: to, Amount: decimal.RequireFromString(amt), Currency: c}
}

func TestNettingExample(t *testing.T) {
	krw := mustCur(t, "KRW")
	sh, cz, hv := MustBIC("SHBKKRSE"), MustBIC("CZNBKRSE"), MustBIC("HVBKKRSE")
	entries := []Entry{
		pay("SH-000001", sh, cz, "1500000", krw),
		pay("SH-000002", sh, hv, "250000", krw),
		{Kind: KindReversal, ID: "SH-R-000001", Original: "SH-000777", Debtor: sh, Creditor: cz, Amount: decimal.RequireFromString("90000"), Currency: krw, Reason: "AM05"},
		pay("CZ-1", cz, sh, "100000", krw),
	}
	var n Netting
	for i := range entries {
		if err := n.Add(&entries[i]); err != nil {
			t.Fatal(err)
		}
	}
	res, err := n.Result()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res.Positions)
	// SH sends 1,500,000 + 250,000 and receives 90,000 back (the reversal)
	// and 100,000 from CZ.
	want := `[{"bank":"CZNBKRSE","currency":"KRW","sent":"190000","received":"1500000","net":"1310000"},` +
		`{"bank":"HVBKKRSE","currency":"KRW","sent":"0","received":"250000","net":"250000"},` +
		`{"bank":"SHBKKRSE","currency":"KRW","sent":"1750000","received":"190000","net":"-1560000"}]`
	if string(got) != want {
		t.Errorf("positions\n got %s\nwant %s", got, want)
	}
	bil, _ := json.Marshal(res.Bilateral)
	wantBil := `[{"from":"SHBKKRSE","to":"CZNBKRSE","currency":"KRW","amount":"1310000"},{"from":"SHBKKRSE","to":"HVBKKRSE","currency":"KRW","amount":"250000"}]`
	if string(bil) != wantBil {
		t.Errorf("bilateral\n got %s\nwant %s", bil, wantBil)
	}
	caps := []Cap{{Bank: sh, Currency: krw, Amount: decimal.RequireFromString("1560000")}, {Bank: cz, Currency: krw, Amount: decimal.Zero}}
	if b := CapBreaches(res.Positions, caps); len(b) != 0 {
		t.Errorf("a net debit equal to the cap is within it; a creditor breaches nothing: %v", b)
	}
	caps[0].Amount = decimal.RequireFromString("1559999")
	b := CapBreaches(res.Positions, caps)
	if len(b) != 1 || b[0].Bank != sh || !b[0].Net.Equal(decimal.RequireFromString("-1560000")) {
		t.Errorf("want SH breaching its cap, got %v", b)
	}
	// No cap means a cap of zero: a net debtor without one breaches, a
	// creditor without one does not (issue 11, "no cap" means one thing).
	b = CapBreaches(res.Positions, caps[1:])
	if len(b) != 1 || b[0].Bank != sh || !b[0].Cap.IsZero() {
		t.Errorf("want SH, without a cap, breaching a cap of zero; got %v", b)
	}
	if b := CapBreaches(res.Positions, nil); len(b) != 1 || b[0].Bank != sh {
		t.Errorf("without any caps only the net debtor breaches: %v", b)
	}
}

func TestNettingRefusesBadEntries(t *testing.T) {
	usd := mustCur(t, "USD")
	a, b := MustBIC("AAAAKRSE"), MustBIC("BBBBKRSE")
	for _, e := range []Entry{
		pay("1", a, a, "1", usd),
		pay("2", a, b, "1.001", usd),
		{Kind: KindPayment, ID: "3", Debtor: a, Creditor: b, Amount: decimal.RequireFromString("1")},
		pay("4", a, b, "-1", usd),
	} {
		var n Netting
		if err := n.Add(&e); err == nil {
			t.Errorf("entry %s netted", e.ID)
		}
		if _, err := n.Result(); err == nil {
			t.Errorf("entry %s: Result after a failed Add must fail", e.ID)
		}
	}
}

func TestAssertBalanced(t *testing.T) {
	usd := mustCur(t, "USD")
	d := decimal.RequireFromString
	ok := []Position{{Bank: "A", Currency: usd, Sent: d("1"), Received: d("0"), Net: d("-1")}, {Bank: "B", Currency: usd, Sent: d("0"), Received: d("1"), Net: d("1")}}
	if err := AssertBalanced(ok); err != nil {
		t.Fatal(err)
	}
	bad := append([]Position(nil), ok...)
	bad[1].Net = d("0.99")
	bad[1].Received = d("0.99")
	if err := AssertBalanced(bad); !errors.Is(err, ErrInvariant) {
		t.Errorf("unbalanced positions: want ErrInvariant, got %v", err)
	}
	bad = append([]Position(nil), ok...)
	bad[0].Net = d("-2")
	if err := AssertBalanced(bad); !errors.Is(err, ErrInvariant) {
		t.Errorf("net != received - sent: want ErrInvariant, got %v", err)
	}
}

// randomEntries draws payments and reversals among many banks in
// currencies of 0, 2 and 3 decimals, with huge and tiny amounts.
func randomEntries(r *rand.Rand, n int) []Entry {
	codes := []string{"KRW", "JPY", "USD", "EUR", "KWD", "BHD"}
	banks := make([]BIC, 2+r.IntN(30))
	for i := range banks {
		banks[i] = MustBIC(fmt.Sprintf("B%c%cDKRSE", 'A'+i/26, 'A'+i%26))
	}
	out := make([]Entry, n)
	for i := range out {
		c, _ := ParseCurrency(codes[r.IntN(len(codes))])
		from := r.IntN(len(banks))
		to := (from + 1 + r.IntN(len(banks)-1)) % len(banks)
		var coef decimal.Decimal
		switch r.IntN(4) {
		case 0: // tiny: one minor unit
			coef = decimal.New(1, 0)
		case 1: // 18 integer digits and full decimals
			coef = decimal.RequireFromString("999999999999999999").Mul(decimal.New(1, int32(c.MinorUnit()))).Add(decimal.New(int64(r.IntN(1000)), 0))
		default:
			coef = decimal.New(1+r.Int64N(1<<50), 0)
		}
		amt := coef.Shift(-int32(c.MinorUnit()))
		e := Entry{Kind: KindPayment, ID: fmt.Sprint(i), Debtor: banks[from], Creditor: banks[to], Amount: amt, Currency: c}
		if r.IntN(10) == 0 {
			e.Kind, e.Original, e.Reason = KindReversal, fmt.Sprint("o", i), "AM05"
		}
		out[i] = e
	}
	return out
}

func netJSON(t *testing.T, es []Entry) []byte {
	t.Helper()
	var n Netting
	for i := range es {
		if err := n.Add(&es[i]); err != nil {
			t.Fatal(err)
		}
	}
	res, err := n.Result()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNettingProperties: random cycles net to exactly zero per currency,
// equal a naive recomputation with decimal arithmetic, and give
// byte-identical output whatever the order (and however they are split
// into files and merged).
func TestNettingProperties(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		es := randomEntries(r, 1+r.IntN(2000))
		var n Netting
		for i := range es {
			if err := n.Add(&es[i]); err != nil {
				t.Fatal(err)
			}
		}
		res, err := n.Result()
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if err := AssertBalanced(res.Positions); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}

		// Naive: decimal sums per bank and currency.
		type key struct {
			b BIC
			c Currency
		}
		sent, recv := map[key]decimal.Decimal{}, map[key]decimal.Decimal{}
		for _, e := range es {
			sent[key{e.Payer(), e.Currency}] = sent[key{e.Payer(), e.Currency}].Add(e.Amount)
			recv[key{e.Payee(), e.Currency}] = recv[key{e.Payee(), e.Currency}].Add(e.Amount)
		}
		seen := map[key]bool{}
		for _, p := range res.Positions {
			k := key{p.Bank, p.Currency}
			seen[k] = true
			if !p.Sent.Equal(sent[k]) || !p.Received.Equal(recv[k]) || !p.Net.Equal(recv[k].Sub(sent[k])) {
				t.Fatalf("seed %d: %s %s got %s/%s/%s, naive %s/%s", seed, p.Bank, p.Currency, p.Sent, p.Received, p.Net, sent[k], recv[k])
			}
		}
		for k := range sent {
			if !seen[k] {
				t.Fatalf("seed %d: %s %s missing from positions", seed, k.b, k.c)
			}
		}
		for k := range recv {
			if !seen[k] {
				t.Fatalf("seed %d: %s %s missing from positions", seed, k.b, k.c)
			}
		}

		want := netJSON(t, es)
		shuffled := append([]Entry(nil), es...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := netJSON(t, shuffled); string(got) != string(want) {
			t.Fatalf("seed %d: order changed the output", seed)
		}
		// Split into "files" netted apart, then merged.
		var total Netting
		for lo := 0; lo < len(shuffled); lo += 97 {
			var part Netting
			for i := lo; i < min(lo+97, len(shuffled)); i++ {
				if err := part.Add(&shuffled[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := total.Merge(&part); err != nil {
				t.Fatal(err)
			}
		}
		mres, err := total.Result()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := json.Marshal(mres); string(got) != string(want) {
			t.Fatalf("seed %d: merged parts differ from one netting", seed)
		}
	}
}

func BenchmarkNettingAdd(b *testing.B) {
	es := randomEntries(rand.New(rand.NewPCG(1, 2)), 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var n Netting
		for j := range es {
			if err := n.Add(&es[j]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(es))/b.Elapsed().Seconds(), "entries/s")
}

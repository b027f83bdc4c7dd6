package chaincode

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var propBanks = []string{"SHBKKRSE", "CZNBKRSE", "HVBKKRSE", "KOEXKRSE", "DEUTDEFF"}
var propCurrencies = []string{"KRW", "USD", "KWD", "JPY", "CLF"}

// randomAmount writes a random positive amount with at most the currency's decimals,
// including very large ones, where float64 would lose cents.
func randomAmount(r *rand.Rand, currency string) string {
	unit := int(minorUnit(currency))
	intDigits := 1 + r.IntN(18)
	if r.IntN(4) > 0 {
		intDigits = 1 + r.IntN(9) // mostly amounts a cap can cover
	}
	s := fmt.Sprint(1 + r.IntN(9))
	for i := 1; i < intDigits; i++ {
		s += fmt.Sprint(r.IntN(10))
	}
	if unit > 0 && r.IntN(2) == 0 {
		s += "."
		for i := 0; i < 1+r.IntN(unit); i++ {
			s += fmt.Sprint(r.IntN(10))
		}
	}
	return s
}

func randomPayments(r *rand.Rand, n int) []PaymentIn {
	out := make([]PaymentIn, n)
	for i := range out {
		d := propBanks[r.IntN(len(propBanks))]
		c := propBanks[r.IntN(len(propBanks))]
		for c == d {
			c = propBanks[r.IntN(len(propBanks))]
		}
		ccy := propCurrencies[r.IntN(len(propCurrencies))]
		out[i] = pay(d, fmt.Sprintf("P%06d", i), d, c, randomAmount(r, ccy), ccy)
	}
	return out
}

// naive recomputes net positions with big.Rat, independently of the decimal code.
func naive(pays []PaymentIn) map[posKey]*big.Rat {
	m := map[posKey]*big.Rat{}
	add := func(b, c string, x *big.Rat) {
		k := posKey{b, c}
		if m[k] == nil {
			m[k] = new(big.Rat)
		}
		m[k].Add(m[k], x)
	}
	for _, p := range pays {
		a, ok := new(big.Rat).SetString(p.Amount)
		if !ok {
			panic(p.Amount)
		}
		add(p.Debtor, p.Currency, new(big.Rat).Neg(a))
		add(p.Creditor, p.Currency, a)
	}
	return m
}

func sameAsNaive(t *testing.T, got []Position, want map[posKey]*big.Rat) {
	t.Helper()
	seen := map[posKey]bool{}
	for _, p := range got {
		k := posKey{p.Bank, p.Currency}
		seen[k] = true
		g, _ := new(big.Rat).SetString(p.Net)
		w := want[k]
		if w == nil || g.Cmp(w) != 0 {
			t.Fatalf("%v: got %s, naive %v", k, p.Net, w)
		}
	}
	for k, w := range want {
		if !seen[k] && w.Sign() != 0 {
			t.Fatalf("%v: missing, naive %s", k, w.FloatString(4))
		}
	}
}

const propCap = "999999999999999999"

func propLedger(t *testing.T) *memLedger {
	l := newLedger()
	for i, b := range propBanks {
		l.must(t, "RegisterBank", b, fmt.Sprintf("Bank%dMSP", i+1))
		for _, c := range propCurrencies {
			l.must(t, "SetCap", b, c, propCap)
		}
	}
	return l
}

// TestPropertyPositions: for random payments, the chunk's positions sum to zero per
// currency, equal a naive big.Rat recomputation, do not depend on payment order, and
// the sum over any split into chunks equals the whole, which SettleCycle accepts.
func TestPropertyPositions(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			pays := randomPayments(r, 1+r.IntN(300))
			want := naive(pays)

			whole := propLedger(t)
			res := decode[ChunkResult](t, whole.must(t, "RecordChunk", "W", "all", js(t, pays)))
			sameAsNaive(t, res.Positions, want)
			p, err := parsePositions(res.Positions)
			if err != nil {
				t.Fatal(err)
			}
			if bad := p.unbalanced(); len(bad) > 0 {
				t.Fatalf("unbalanced: %v", bad)
			}
			var control big.Rat
			for _, x := range pays {
				a, _ := new(big.Rat).SetString(x.Amount)
				control.Add(&control, a)
			}
			if cs, _ := new(big.Rat).SetString(res.ControlSum); cs.Cmp(&control) != 0 {
				t.Fatalf("control sum %s, naive %s", res.ControlSum, control.FloatString(4))
			}

			shuffled := append([]PaymentIn(nil), pays...)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			res2 := decode[ChunkResult](t, propLedger(t).must(t, "RecordChunk", "W", "all", js(t, shuffled)))
			if js(t, res2.Positions) != js(t, res.Positions) {
				t.Fatal("positions depend on payment order")
			}

			split := propLedger(t)
			for i, start := 0, 0; start < len(shuffled); i++ {
				end := min(len(shuffled), start+1+r.IntN(50))
				split.must(t, "RecordChunk", "S", fmt.Sprintf("K%03d", i), js(t, shuffled[start:end]))
				start = end
			}
			cy := decode[CycleView](t, split.must(t, "GetCycle", "S"))
			sameAsNaive(t, cy.Positions, want)
			// Amounts go up to 18 integer digits, so nets can exceed the largest cap:
			// settle must then be refused, and succeed otherwise.
			capRat, _ := new(big.Rat).SetString(propCap)
			overCap := false
			for _, w := range want {
				if new(big.Rat).Neg(w).Cmp(capRat) > 0 {
					overCap = true
				}
			}
			if overCap {
				split.refused(t, CodeCapExceeded, "SettleCycle", "S", js(t, res.Positions))
				return
			}
			st := decode[SettleResult](t, split.must(t, "SettleCycle", "S", js(t, res.Positions)))
			if st.Payments != len(pays) {
				t.Fatalf("settled %d payments, recorded %d", st.Payments, len(pays))
			}
		})
	}
}

// FuzzRecordChunk: no input makes the contract panic or write a partial chunk.
func FuzzRecordChunk(f *testing.F) {
	f.Add("C1", "K1", `[{"sender":"SHBKKRSE","id":"P1","kind":"P","debtor":"SHBKKRSE","creditor":"CZNBKRSE","amount":"5","currency":"KRW","fileSha256":"`+sum1+`"}]`)
	f.Add("C1", "K1", `[{"kind":"R","originalId":"x"}]`)
	f.Add("", "", "null")
	f.Fuzz(func(t *testing.T, cycle, chunk, payments string) {
		l := newLedger()
		l.must(t, "RegisterBank", "SHBKKRSE", "Bank1MSP")
		l.must(t, "RegisterBank", "CZNBKRSE", "Bank2MSP")
		before := len(l.state)
		_, err := l.invoke("RecordChunk", cycle, chunk, payments)
		if err != nil {
			if len(l.state) != before {
				t.Fatal("refused chunk changed the state")
			}
			if e, ok := err.(*Error); !ok || e.Code == CodeInternal {
				t.Fatalf("unexpected error %v", err)
			}
		}
	})
}

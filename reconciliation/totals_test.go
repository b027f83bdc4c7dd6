package reconciliation

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestTotalSumsExactly: the integer fast path of total gives the sum a
// plain decimal addition gives, for amounts of mixed exponents, amounts of
// more than 18 digits, negative ones, and runs that overflow an int64.
func TestTotalSumsExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 2026))
	big := decimal.RequireFromString("123456789012345678901234.5")
	for round := range 200 {
		var v total
		want := decimal.Zero
		for range 1 + rng.IntN(500) {
			var d decimal.Decimal
			switch rng.IntN(10) {
			case 0:
				d = decimal.New(math.MaxInt64-rng.Int64N(1000), -2) // overflows the accumulator at once
			case 1:
				d = big
			case 2:
				d = decimal.New(-rng.Int64N(1e9), -2)
			case 3:
				d = decimal.New(rng.Int64N(1e9), -int32(rng.IntN(4))) // another exponent
			default:
				d = decimal.New(rng.Int64N(1e12)+1, -2)
			}
			v.addAmount(d)
			want = want.Add(d)
		}
		if got := v.value(); !got.Equal(want) {
			t.Fatalf("round %d: sum %s, want %s", round, got, want)
		}
	}
	var empty total
	if !empty.value().Equal(decimal.Zero) {
		t.Fatalf("empty total %s", empty.value())
	}
}

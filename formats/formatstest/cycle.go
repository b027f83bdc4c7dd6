package formatstest

import (
	"fmt"
	"math/rand/v2"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// RandomCycle makes a settled cycle's entries for the writers' property
// tests: n entries among banks banks in KRW, USD and KWD (0, 2 and 3
// decimals), about one in eight a reversal of an earlier payment of the
// cycle, and some amounts near the 18 digits the schemas allow. It
// returns the entries and their netting.
func RandomCycle(r *rand.Rand, banks, n int) ([]settlement.Entry, *settlement.Result) {
	bics := make([]settlement.BIC, banks)
	for i := range bics {
		bics[i] = settlement.BIC(fmt.Sprintf("BANK%c%cKR", 'A'+i/26, 'A'+i%26))
	}
	curs := []settlement.Currency{cur("KRW"), cur("USD"), cur("KWD")}
	var out []settlement.Entry
	var net settlement.Netting
	for i := 0; i < n; i++ {
		var e settlement.Entry
		if len(out) > 0 && r.IntN(8) == 0 {
			o := out[r.IntN(len(out))]
			if o.Kind == settlement.KindPayment {
				e = o
				e.Kind, e.Original, e.ID, e.Reason = settlement.KindReversal, o.ID, fmt.Sprintf("R-%06d", i), "AM05"
			}
		}
		if e.ID == "" {
			d := r.IntN(banks)
			c := (d + 1 + r.IntN(banks-1)) % banks
			cu := curs[r.IntN(len(curs))]
			units := r.Int64N(1_000_000) + 1
			if r.IntN(50) == 0 {
				units = r.Int64N(9e14) + 1 // large, yet a cycle's sums stay within 18 digits
			}
			e = settlement.Entry{Kind: settlement.KindPayment, ID: fmt.Sprintf("P/%06d", i), Debtor: bics[d], Creditor: bics[c],
				Amount: decimal.New(units, -int32(cu.MinorUnit())), Currency: cu}
		}
		e.Line = i + 1
		if err := net.Add(&e); err != nil {
			panic(err)
		}
		out = append(out, e)
	}
	res, err := net.Result()
	if err != nil {
		panic(err)
	}
	return out, res
}

func cur(code string) settlement.Currency {
	c, err := settlement.ParseCurrency(code)
	if err != nil {
		panic(err)
	}
	return c
}

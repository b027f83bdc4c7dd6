package settlement_test

import (
	"fmt"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// A's payment to B breaks A's cap and goes; B, short of that money, then
// breaks its own and defers its last payment too.
func ExampleQueues_Resolve() {
	usd, _ := settlement.ParseCurrency("USD")
	a, b, c := settlement.MustBIC("AAAAUS33"), settlement.MustBIC("BBBBUS33"), settlement.MustBIC("CCCCUS33")
	pay := func(id string, from, to settlement.BIC, amt string) settlement.Entry {
		return settlement.Entry{Kind: settlement.KindPayment, ID: id, Debtor: from, Creditor: to,
			Amount: decimal.RequireFromString(amt), Currency: usd}
	}
	files := [][]settlement.Entry{ // in the order the ledger recorded them
		{pay("A-1", a, c, "40.00"), pay("A-2", a, b, "30.00")},
		{pay("B-1", b, c, "10.00"), pay("B-2", b, c, "25.00")},
	}
	q, err := settlement.OrderQueues(files)
	if err != nil {
		panic(err)
	}
	res, err := q.Resolve([]settlement.Cap{{Bank: a, Currency: usd, Amount: decimal.RequireFromString("50")},
		{Bank: b, Currency: usd, Amount: decimal.Zero}})
	if err != nil {
		panic(err)
	}
	for _, d := range res.Deferrals {
		for _, e := range d.Payments {
			fmt.Println(d.Bank, "defers", e.ID, settlement.FormatAmount(e.Amount, usd))
		}
	}
	for _, p := range res.Positions {
		fmt.Println(p.Bank, settlement.FormatAmount(p.Net, usd))
	}
	// Output:
	// AAAAUS33 defers A-2 30.00
	// BBBBUS33 defers B-1 10.00
	// BBBBUS33 defers B-2 25.00
	// AAAAUS33 -40.00
	// CCCCUS33 40.00
}

package migrations_test

import (
	"github.com/shopspring/decimal"

	"settle/settlement"
)

func mustCur(code string) settlement.Currency {
	c, err := settlement.ParseCurrency(code)
	if err != nil {
		panic(err)
	}
	return c
}

func decimalOf(s string) decimal.Decimal { return decimal.RequireFromString(s) }

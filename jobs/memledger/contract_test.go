package memledger_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/jobs/ledgertest"
	"settle/jobs/memledger"
	"settle/settlement"
)

var msps = [3]string{"Bank1MSP", "Bank2MSP", "Bank3MSP"}

var krw = func() settlement.Currency {
	c, err := settlement.ParseCurrency("KRW")
	if err != nil {
		panic(err)
	}
	return c
}()

// TestLedgerContract runs the ledger port's contract on the in-memory
// ledger with the chaincode's registry and caps (Registry), and its role
// checks on a founded one (Operator).
func TestLedgerContract(t *testing.T) {
	ledgertest.Run(t, ledgertest.Harness{
		Ledger: func(*testing.T) jobs.Ledger {
			m := memledger.New()
			m.Registry = true
			return m
		},
		MSPs:  msps,
		Roles: founded,
	})
}

// founded is a founded in-memory ledger with two banks, as the operator
// admitted them, and a client for each identity the roles check.
func founded(t *testing.T) ledgertest.Roles {
	m := memledger.New()
	m.Registry, m.Operator = true, "OperatorMSP"
	ctx := context.Background()
	r := ledgertest.Roles{
		Operator:  m.As(memledger.Identity{MSPID: "OperatorMSP", Role: memledger.RoleClient}),
		Bank:      m.As(memledger.Identity{MSPID: msps[0], Role: memledger.RoleClient}),
		BankAdmin: m.As(memledger.Identity{MSPID: msps[0], Role: memledger.RoleAdmin}),
		BankMSP:   msps[0], BankBIC: "BANKAAAA", OtherBIC: "BANKBBBB",
	}
	for _, b := range []struct {
		bic settlement.BIC
		msp string
	}{{r.BankBIC, msps[0]}, {r.OtherBIC, msps[1]}} {
		if _, err := m.RegisterBank(ctx, b.bic, b.msp); err != nil {
			t.Fatal(err)
		}
		if _, err := m.SetCap(ctx, settlement.Cap{Bank: b.bic, Currency: krw, Amount: decimal.RequireFromString(ledgertest.CapMax)}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

package settlement

import (
	"errors"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestCheckRecordable: each rule a store checks before recording an entry
// refuses with its code and field, and a good payment and a good reversal
// pass.
func TestCheckRecordable(t *testing.T) {
	a, b, x := MustBIC("BANKAAAA"), MustBIC("BANKBBBB"), MustBIC("BANKXXXX")
	member := map[BIC]bool{a: true, b: true}
	krw, _ := ParseCurrency("KRW")
	usd, _ := ParseCurrency("USD")
	pay := Entry{Line: 3, Kind: KindPayment, ID: "P1", Debtor: a, Creditor: b, Amount: decimal.RequireFromString("100"), Currency: krw}
	rev := Entry{Line: 4, Kind: KindReversal, ID: "R1", Original: "P0", Reason: "AM05", Debtor: a, Creditor: b, Amount: decimal.RequireFromString("100"), Currency: krw}
	for _, e := range []Entry{pay, rev} {
		var ps Problems
		if !CheckRecordable(&e, a, member, &ps) || ps.Len() != 0 {
			t.Fatalf("a good %s: %v", e.Kind, ps.List())
		}
	}
	cases := []struct {
		name        string
		e           func() Entry
		field, code string
	}{
		{"a payment with an original", func() Entry { e := pay; e.Original = "P0"; return e }, "payment_id", CodeRecordType},
		{"a bad remittance", func() Entry { e := pay; e.Remittance = strings.Repeat("x", 200); return e }, "remittance_info", CodeRemittance},
		{"a reversal of nothing", func() Entry { e := rev; e.Original = ""; return e }, "original_payment_id", CodePaymentID},
		{"a reversal of itself", func() Entry { e := rev; e.Original = e.ID; return e }, "original_payment_id", CodeReversalOfItself},
		{"a reversal with no reason", func() Entry { e := rev; e.Reason = "ZZZZ"; return e }, "reason_code", CodeReason},
		{"a reversal with remittance", func() Entry { e := rev; e.Remittance = "x"; return e }, "remittance_info", CodeRemittance},
		{"another kind", func() Entry { e := pay; e.Kind = 'X'; return e }, "", CodeRecordType},
		{"a bad id", func() Entry { e := pay; e.ID = "P 1"; return e }, "payment_id", CodePaymentID},
		{"a bad reversal id", func() Entry { e := rev; e.ID = ""; return e }, "reversal_id", CodePaymentID},
		{"another bank's debit", func() Entry { e := pay; e.Debtor, e.Creditor = b, a; return e }, "debtor_bic", CodeDebtorNotSender},
		{"to itself", func() Entry { e := pay; e.Creditor = a; return e }, "creditor_bic", CodeSelfPayment},
		{"to no member", func() Entry { e := pay; e.Creditor = x; return e }, "creditor_bic", CodeUnknownBank},
		{"no currency", func() Entry { e := pay; e.Currency = Currency(0); return e }, "currency", CodeCurrency},
		{"zero", func() Entry { e := pay; e.Amount = decimal.Zero; return e }, "amount", CodeAmountZero},
		{"too large", func() Entry { e := pay; e.Amount = RecordableAmountMax; return e }, "amount", CodeAmountLarge},
		{"too many decimals", func() Entry { e := pay; e.Currency, e.Amount = usd, decimal.RequireFromString("1.001"); return e }, "amount", CodeAmountScale},
	}
	for _, tc := range cases {
		e := tc.e()
		var ps Problems
		ok := CheckRecordable(&e, a, member, &ps)
		found := false
		for _, p := range ps.List() {
			found = found || p.Code == tc.code && p.Field == tc.field && p.Line == e.Line && p.Entry == e.ID
		}
		if ok || !found {
			t.Errorf("%s: ok=%v, problems %v, want %s on %q", tc.name, ok, ps.List(), tc.code, tc.field)
		}
	}
}

// TestEntryGate: a store's stream of one file's entries is taken in
// strictly increasing line order and refused at the first entry out of it.
func TestEntryGate(t *testing.T) {
	var g EntryGate
	for _, line := range []int{2, 3, 7} {
		if err := g.Admit(&Entry{Line: line}); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
	}
	for _, line := range []int{7, 5} {
		err := g.Admit(&Entry{Line: line})
		if !errors.Is(err, ErrEntryOrder) || !strings.Contains(err.Error(), "line 7") {
			t.Errorf("line %d after line 7: %v", line, err)
		}
	}
	if g.Count() != 5 {
		t.Errorf("count %d, want the 5 offered", g.Count())
	}
	full := EntryGate{n: RecordsMax, last: 1}
	if err := full.Admit(&Entry{Line: 2}); !errors.Is(err, ErrTooManyEntries) {
		t.Errorf("entry %d: %v", RecordsMax+1, err)
	}
}

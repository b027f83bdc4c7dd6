package settlement

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestProblemsKnowTheirEntry: a problem of a record carries the record's
// id, whether the parser reported it just before the record or a rule
// found it, so that the status report lists it under that payment or
// reversal; a problem of the file, of a record whose id was unreadable, or
// of the header or trailer, belongs to no entry. The JSON acknowledgement
// does not show it.
func TestProblemsKnowTheirEntry(t *testing.T) {
	krw := mustCur(t, "KRW")
	fc := NewFileCheck(Rules{})
	fc.Header(&Header{Line: 1, FileID: "F1", Sender: "SHBKKRSE", BusinessDate: "2026-11-24"}, true)
	pay := func(line int, id string, debtor, creditor BIC, ok bool) {
		fc.Entry(&Entry{Line: line, Kind: KindPayment, ID: id, Debtor: debtor, Creditor: creditor, Amount: decimal.New(100, 0), Currency: krw}, ok)
	}
	fc.Problem(Problem{Line: 2, Field: "amount", Code: CodeAmountScale, Message: "parser"})
	pay(2, "P-1", "SHBKKRSE", "CZNBKRSE", false)
	pay(3, "P-2", "SHBKKRSE", "SHBKKRSE", true) // a rule: self-payment
	pay(4, "P-1", "SHBKKRSE", "CZNBKRSE", true) // a rule: the id again
	fc.Problem(Problem{Line: 5, Field: "payment_id", Code: CodePaymentID, Message: "unreadable"})
	pay(5, "", "SHBKKRSE", "CZNBKRSE", false)
	fc.Problem(Problem{Line: 9, Code: CodeBlankLine, Message: "a line of no record"})
	fc.Entry(&Entry{Line: 6, Kind: KindReversal, ID: "R-1", Original: "P-2", Debtor: "SHBKKRSE", Creditor: "CZNBKRSE", Amount: decimal.New(100, 0), Currency: krw, Reason: "AM05"}, true)
	fc.Trailer(&Trailer{Line: 7, Count: 9, ControlSum: decimal.New(500, 0)}, true)
	fc.Finish()
	var got []string
	for _, p := range fc.Problems.List() {
		got = append(got, p.Code+"@"+p.Entry)
	}
	want := "AMOUNT_SCALE@P-1 SELF_PAYMENT@P-2 DUPLICATE_PAYMENT_ID@P-1 PAYMENT_ID@ ORIGINAL_NOT_SETTLED@R-1 ENTRY_COUNT@ BLANK_LINE@"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	if b, _ := json.Marshal(fc.Problems.List()[0]); strings.Contains(string(b), "P-1") {
		t.Fatalf("the JSON ack shows the entry: %s", b)
	}
}

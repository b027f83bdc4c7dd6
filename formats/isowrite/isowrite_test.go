package isowrite_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"settle/formats/isowrite"
	"settle/settlement"
)

func cur(t *testing.T, c string) settlement.Currency {
	x, err := settlement.ParseCurrency(c)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestAmount: exactly the minor-unit digits, never rounded, within the
// schemas' 18 digits, never negative.
func TestAmount(t *testing.T) {
	for _, c := range []struct {
		amt, cur, want string
		err            error
	}{
		{"1500000", "KRW", "1500000", nil},
		{"12.5", "USD", "12.50", nil},
		{"12", "USD", "12.00", nil},
		{"0.125", "KWD", "0.125", nil},
		{"0", "EUR", "0.00", nil},
		{"12.505", "USD", "", isowrite.ErrAmountScale},
		{"10.5", "KRW", "", isowrite.ErrAmountScale},
		{"-1", "KRW", "", isowrite.ErrAmountSign},
		{"999999999999999999", "KRW", "999999999999999999", nil},
		{"9999999999999999999", "KRW", "", isowrite.ErrAmountDigits},
		{"9999999999999999.99", "USD", "9999999999999999.99", nil},
		{"99999999999999999.99", "USD", "", isowrite.ErrAmountDigits},
		{"100000000000000000.00", "USD", "100000000000000000.00", nil}, // trailing zeros do not count
	} {
		got, err := isowrite.Amount(decimal.RequireFromString(c.amt), cur(t, c.cur))
		if got != c.want || !errors.Is(err, c.err) && !(err == nil && c.err == nil) {
			t.Errorf("%s %s: %q %v, want %q %v", c.amt, c.cur, got, err, c.want, c.err)
		}
	}
}

// TestElemRefusesWhatXMLCannotCarry: text is escaped; control characters,
// empty text and text over the limit stop the writer.
func TestElemRefusesWhatXMLCannotCarry(t *testing.T) {
	var b bytes.Buffer
	w := isowrite.New(&b)
	w.Elem(0, "Id", `a&b<c>"d'`, 35)
	if err := w.Flush(); err != nil || b.String() != "<Id>a&amp;b&lt;c&gt;&#34;d&#39;</Id>\n" {
		t.Fatalf("%q %v", b.String(), err)
	}
	for _, bad := range []string{"", "a\x01b", "123456"} {
		w := isowrite.New(&bytes.Buffer{})
		w.Elem(0, "Id", bad, 5)
		if !errors.Is(w.Flush(), isowrite.ErrText) {
			t.Errorf("%q written", bad)
		}
	}
}

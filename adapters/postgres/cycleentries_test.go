package postgres

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// FuzzAmountOf: the fast reader of a numeric's text gives the decimal
// NewFromString gives (same value, same exponent), and refuses what it
// refuses.
func FuzzAmountOf(f *testing.F) {
	for _, s := range []string{"0", "1", "10.50", "1500000", "0.001", "999999999999999999", "1000000000000000000",
		"12345678901234567.89", "-5", "1e3", ".5", "5.", "", "1.2.3", "00012.3400", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := amountOf(s)
		want, werr := decimal.NewFromString(s)
		if (err != nil) != (werr != nil) {
			t.Fatalf("amountOf(%q) error %v, NewFromString error %v", s, err, werr)
		}
		if err != nil {
			return
		}
		if !got.Equal(want) || got.Exponent() != want.Exponent() {
			t.Fatalf("amountOf(%q) = %s (exp %d), NewFromString %s (exp %d)", s, got, got.Exponent(), want, want.Exponent())
		}
	})
}

func TestSplitFields(t *testing.T) {
	var f [11]string
	row := strings.Join([]string{"7", "12", "SHBKKRSE", "P-1", "R", "SHBKKRSE", "CZNBKRSE", "10.50", "USD", "P-0", "AC04"}, "\x1f")
	if err := splitFields(row, f[:]); err != nil {
		t.Fatal(err)
	}
	if f[0] != "7" || f[3] != "P-1" || f[7] != "10.50" || f[9] != "P-0" || f[10] != "AC04" {
		t.Fatalf("fields %q", f)
	}
	// A payment: no original id, no reason.
	row = strings.Join([]string{"7", "12", "SHBKKRSE", "P-1", "P", "SHBKKRSE", "CZNBKRSE", "10.50", "USD", "", ""}, "\x1f")
	if err := splitFields(row, f[:]); err != nil || f[9] != "" || f[10] != "" {
		t.Fatalf("fields %q, %v", f, err)
	}
	for _, bad := range []string{"", "7\x1f12", strings.Repeat("x\x1f", 9), "\x1f" + strings.Repeat("x\x1f", 10)} {
		if err := splitFields(bad, f[:]); err == nil {
			t.Fatalf("splitFields(%q) accepted: %q", bad, f)
		}
	}
}

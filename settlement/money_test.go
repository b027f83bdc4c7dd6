package settlement

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestCurrencyTable(t *testing.T) {
	cases := map[string]int{"KRW": 0, "JPY": 0, "USD": 2, "EUR": 2, "KWD": 3, "BHD": 3, "TND": 3, "CLF": 4, "UYW": 4, "ISK": 0, "VND": 0, "XAF": 0}
	for code, minor := range cases {
		c, err := ParseCurrency(code)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if c.Code() != code || c.MinorUnit() != minor {
			t.Errorf("%s: got %s minor %d, want minor %d", code, c.Code(), c.MinorUnit(), minor)
		}
	}
	for _, code := range []string{"", "usd", "XAU", "XDR", "XXX", "XTS", "BGN", "HRK", "ABC", "USDX"} {
		if _, err := ParseCurrency(code); !errors.Is(err, ErrCurrency) {
			t.Errorf("%q: want ErrCurrency, got %v", code, err)
		}
	}
	if n := len(Currencies()); n < 150 {
		t.Errorf("only %d currencies: the table must be the full ISO 4217 list", n)
	}
	var zero Currency
	if zero.Valid() || zero.Code() != "" {
		t.Error("zero currency must be invalid")
	}
}

func TestBIC(t *testing.T) {
	ok := map[string]BIC{"SHBKKRSE": "SHBKKRSE", "SHBKKRSEXXX": "SHBKKRSE", "SHBKKRSE001": "SHBKKRSE001", "DEUTDEFF500": "DEUTDEFF500", "CITIKRSX": "CITIKRSX", "ABCDEF12": "ABCDEF12"}
	for in, want := range ok {
		got, err := ParseBIC(in)
		if err != nil || got != want {
			t.Errorf("ParseBIC(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "SHBKKRS", "SHBKKRSE0", "SHBKKRSE00", "shbkkrse", "SHBK1RSE", "SHBKKRSE-01", "SHBKKRSEXXXX", "SHBKKR_E"} {
		if _, err := ParseBIC(in); !errors.Is(err, ErrBIC) {
			t.Errorf("ParseBIC(%q): want ErrBIC, got %v", in, err)
		}
	}
	var tab BICTable
	a, _ := tab.Parse([]byte("SHBKKRSEXXX"))
	b, _ := tab.Parse([]byte("SHBKKRSE"))
	if a != b {
		t.Errorf("interned forms differ: %q %q", a, b)
	}
}

func TestParseAmount(t *testing.T) {
	krw, _ := ParseCurrency("KRW")
	usd, _ := ParseCurrency("USD")
	kwd, _ := ParseCurrency("KWD")
	good := []struct {
		in   string
		c    Currency
		want string
	}{
		{"1500000", krw, "1500000"}, {"12.5", usd, "12.5"}, {"12.50", usd, "12.5"}, {"0.01", usd, "0.01"},
		{"0.125", kwd, "0.125"}, {"007", krw, "7"},
		{"999999999999999999", krw, "999999999999999999"},
		{"999999999999999999.99", usd, "999999999999999999.99"},
		{"123456789012345678.123", kwd, "123456789012345678.123"},
	}
	for _, g := range good {
		d, err := ParseAmount([]byte(g.in), g.c)
		if err != nil {
			t.Errorf("%s %s: %v", g.in, g.c, err)
			continue
		}
		if !d.Equal(decimal.RequireFromString(g.want)) {
			t.Errorf("%s %s = %s, want %s", g.in, g.c, d, g.want)
		}
	}
	bad := []struct {
		in   string
		c    Currency
		want error
	}{
		{"", usd, ErrAmountFormat}, {"-5", usd, ErrAmountFormat}, {"+5", usd, ErrAmountFormat},
		{"1e3", usd, ErrAmountFormat}, {"1,000", usd, ErrAmountFormat}, {".5", usd, ErrAmountFormat},
		{"5.", usd, ErrAmountFormat}, {"1.2.3", usd, ErrAmountFormat}, {" 5", usd, ErrAmountFormat},
		{"0", usd, ErrAmountZero}, {"0.00", usd, ErrAmountZero},
		{"12.345", usd, ErrAmountScale}, {"1.0", krw, ErrAmountScale}, {"12.500", usd, ErrAmountScale},
		{"0.1234", kwd, ErrAmountScale},
		{"1000000000000000000", krw, ErrAmountTooLarge},
	}
	for _, b := range bad {
		if _, err := ParseAmount([]byte(b.in), b.c); !errors.Is(err, b.want) {
			t.Errorf("%q %s: want %v, got %v", b.in, b.c, b.want, err)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	krw, _ := ParseCurrency("KRW")
	usd, _ := ParseCurrency("USD")
	kwd, _ := ParseCurrency("KWD")
	for _, c := range []struct {
		d    string
		c    Currency
		want string
	}{{"1500000", krw, "1500000"}, {"12.5", usd, "12.50"}, {"-7.25", usd, "-7.25"}, {"0", usd, "0.00"}, {"0.125", kwd, "0.125"}} {
		if got := FormatAmount(decimal.RequireFromString(c.d), c.c); got != c.want {
			t.Errorf("FormatAmount(%s %s) = %s, want %s", c.d, c.c, got, c.want)
		}
	}
}

func TestUnits(t *testing.T) {
	// Around the int64 and 128-bit edges, against big-number arithmetic.
	vals := []string{"0", "1", "-1", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
		"18446744073709551616", "99999999999999999999999999999", "-99999999999999999999999999999"}
	for _, a := range vals {
		for _, b := range vals {
			da, db := decimal.RequireFromString(a), decimal.RequireFromString(b)
			ua, ok1 := unitsOf(da, 0)
			ub, ok2 := unitsOf(db, 0)
			if !ok1 || !ok2 {
				t.Fatalf("unitsOf(%s or %s) failed", a, b)
			}
			sum, ok := ua.add(ub)
			if !ok {
				t.Fatalf("%s + %s overflowed", a, b)
			}
			if got, want := sum.decimal(0), da.Add(db); !got.Equal(want) {
				t.Errorf("%s + %s = %s, want %s", a, b, got, want)
			}
			if got := ua.neg().decimal(0); !got.Equal(da.Neg()) {
				t.Errorf("-(%s) = %s", a, got)
			}
		}
	}
	max := units{hi: 1<<63 - 1, lo: ^uint64(0)}
	if _, ok := max.add(units{lo: 1}); ok {
		t.Error("overflow past 2^127-1 not detected")
	}
	if _, ok := unitsOf(decimal.RequireFromString("1.005"), 2); ok {
		t.Error("1.005 at scale 2 must not convert")
	}
	if u, ok := unitsOf(decimal.RequireFromString("12.5"), 4); !ok || u.decimal(4).String() != "12.5" {
		t.Errorf("12.5 at scale 4: %v %v", u, ok)
	}
}

// FormatAmount never rounds: an amount with more decimals than its
// currency's minor unit is an error, or a panic where it is assumed
// (issue 12, also-fix list).
func TestFormatAmountNeverRounds(t *testing.T) {
	usd, _ := ParseCurrency("USD")
	krw, _ := ParseCurrency("KRW")
	for _, c := range []struct {
		amount string
		cur    Currency
		want   string
	}{{"12.5", usd, "12.50"}, {"1500000", krw, "1500000"}, {"-3.10", usd, "-3.10"}} {
		got, err := FormatAmountExact(decimal.RequireFromString(c.amount), c.cur)
		if err != nil || got != c.want {
			t.Errorf("%s %s: %q, %v", c.amount, c.cur.Code(), got, err)
		}
	}
	if s, err := FormatAmountExact(decimal.RequireFromString("12.505"), usd); !errors.Is(err, ErrAmountScale) {
		t.Errorf("12.505 USD written as %q, err %v", s, err)
	}
	if s, err := FormatAmountExact(decimal.RequireFromString("0.5"), krw); !errors.Is(err, ErrAmountScale) {
		t.Errorf("0.5 KRW written as %q, err %v", s, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("FormatAmount rounded 12.505 USD instead of failing")
		}
	}()
	FormatAmount(decimal.RequireFromString("12.505"), usd)
}

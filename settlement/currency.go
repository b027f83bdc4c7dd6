package settlement

import (
	"encoding/json"
	"fmt"
)

// Currency is an ISO 4217 currency that payments can be settled in. It is a
// small index into the table below so that hot loops compare and hash it for
// free; the zero value is no currency.
type Currency uint16

type currencyInfo struct {
	code  string
	minor int8
}

// currencies is ISO 4217 list one as amended to 2026: every code that
// circulates today with its minor unit. Codes whose minor unit is "N.A."
// (precious metals, SDR, testing and bond-market units) are left out on
// purpose: they have no scale to check an amount against, and no bank of the
// consortium settles in them. Withdrawn codes (BGN since the euro in 2026,
// HRK, ANG, SLL, ZWL, CUC, ...) are left out too: a payment in one is a bug.
var currencies = [...]currencyInfo{
	{"", -1}, // zero value
	{"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2},
	{"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BHD", 3}, {"BIF", 0},
	{"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2},
	{"BWP", 2}, {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2},
	{"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2}, {"CRC", 2},
	{"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2},
	{"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2}, {"FKP", 2}, {"GBP", 2},
	{"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2}, {"GNF", 0}, {"GTQ", 2}, {"GYD", 2},
	{"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2},
	{"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2},
	{"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2},
	{"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3},
	{"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2}, {"MOP", 2},
	{"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2}, {"MXV", 2}, {"MYR", 2},
	{"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2}, {"NOK", 2}, {"NPR", 2}, {"NZD", 2},
	{"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2},
	{"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2}, {"RWF", 0}, {"SAR", 2},
	{"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2}, {"SHP", 2}, {"SLE", 2},
	{"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2},
	{"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2},
	{"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0},
	{"UYU", 2}, {"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0},
	{"WST", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2},
	{"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
}

// minorUnitMax is the largest minor unit in the table (CLF and UYW have 4).
const minorUnitMax = 4

var currencyByCode = func() map[string]Currency {
	m := make(map[string]Currency, len(currencies))
	for i := 1; i < len(currencies); i++ {
		m[currencies[i].code] = Currency(i)
	}
	return m
}()

// ErrCurrency reports a code that is not a settleable ISO 4217 currency.
var ErrCurrency = fmt.Errorf("not an ISO 4217 currency with a minor unit")

// ParseCurrency returns the currency for an upper-case ISO 4217 code.
func ParseCurrency(code string) (Currency, error) {
	if c, ok := currencyByCode[code]; ok {
		return c, nil
	}
	return 0, fmt.Errorf("%q: %w", code, ErrCurrency)
}

// LookupCurrency is ParseCurrency for a parser's byte slice, without an
// allocation (the compiler elides the string conversion in a map index).
func LookupCurrency(b []byte) (Currency, bool) {
	c, ok := currencyByCode[string(b)]
	return c, ok
}

// Code is the ISO 4217 alphabetic code, or "" for the zero value.
func (c Currency) Code() string {
	if int(c) >= len(currencies) {
		return ""
	}
	return currencies[c].code
}

// String is the code, for logs and messages.
func (c Currency) String() string { return c.Code() }

// MinorUnit is the number of decimals ISO 4217 allows for the currency.
func (c Currency) MinorUnit() int {
	if c == 0 || int(c) >= len(currencies) {
		return 0
	}
	return int(currencies[c].minor)
}

// Valid tells whether c is a currency of the table (not the zero value).
func (c Currency) Valid() bool { return c != 0 && int(c) < len(currencies) }

// MarshalJSON writes the code.
func (c Currency) MarshalJSON() ([]byte, error) { return json.Marshal(c.Code()) }

// UnmarshalJSON reads a code and refuses one outside the table.
func (c *Currency) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseCurrency(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Currencies lists every currency of the table, in code order.
func Currencies() []Currency {
	out := make([]Currency, 0, len(currencies)-1)
	for i := 1; i < len(currencies); i++ {
		out = append(out, Currency(i))
	}
	return out
}

package settlement

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/shopspring/decimal"
)

// Amount errors, one per way the spec's amount rule can be broken.
var (
	ErrAmountFormat   = errors.New("amount must be a plain positive decimal: digits, optionally '.' and digits; no sign, exponent or separators")
	ErrAmountZero     = errors.New("amount must not be zero")
	ErrAmountScale    = errors.New("amount has more decimals than its currency allows")
	ErrAmountTooLarge = errors.New("amount has more than 18 integer digits")
)

// ParseAmount reads an amount exactly as the spec writes it and checks its
// scale against the currency's minor unit. It never rounds: "12.500" in USD
// is an error, because the bank wrote three decimals.
func ParseAmount(b []byte, c Currency) (decimal.Decimal, error) {
	d, intDigits, scale, err := parsePlainDecimal(b)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if intDigits > amountIntDigitsMax {
		return decimal.Decimal{}, fmt.Errorf("%d integer digits: %w", intDigits, ErrAmountTooLarge)
	}
	if d.Sign() == 0 {
		return decimal.Decimal{}, ErrAmountZero
	}
	if c.Valid() && scale > c.MinorUnit() {
		return decimal.Decimal{}, fmt.Errorf("%d decimals, %s allows %d: %w", scale, c.Code(), c.MinorUnit(), ErrAmountScale)
	}
	return d, nil
}

// ParseControlSum reads a trailer's control sum: a plain decimal like an
// amount, but zero is allowed (a file with no entries) and any scale up to
// the largest minor unit, since it adds amounts of several currencies.
func ParseControlSum(b []byte) (decimal.Decimal, error) {
	d, _, scale, err := parsePlainDecimal(b)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if scale > minorUnitMax {
		return decimal.Decimal{}, fmt.Errorf("%d decimals, at most %d: %w", scale, minorUnitMax, ErrAmountScale)
	}
	return d, nil
}

// controlSumIntDigitsMax allows a sum of ten million maximal amounts.
const controlSumIntDigitsMax = amountIntDigitsMax + 7

// parsePlainDecimal accepts [0-9]+(\.[0-9]+)? with at most
// controlSumIntDigitsMax integer digits and keeps the written scale. Values
// that fit in 18 digits take a fast path with no string conversion.
func parsePlainDecimal(b []byte) (d decimal.Decimal, intDigits, scale int, err error) {
	if len(b) == 0 || len(b) > 64 {
		return decimal.Decimal{}, 0, 0, ErrAmountFormat
	}
	scale = -1
	var v uint64
	for _, ch := range b {
		switch {
		case ch >= '0' && ch <= '9':
			if scale >= 0 {
				scale++
			} else {
				intDigits++
			}
			v = v*10 + uint64(ch-'0') // may wrap past 19 digits; only used below 19
		case ch == '.' && scale < 0:
			scale = 0
		default:
			return decimal.Decimal{}, 0, 0, ErrAmountFormat
		}
	}
	if intDigits == 0 || scale == 0 {
		return decimal.Decimal{}, 0, 0, ErrAmountFormat // ".5" and "5." are not amounts
	}
	if scale < 0 {
		scale = 0
	}
	if intDigits > controlSumIntDigitsMax {
		return decimal.Decimal{}, 0, 0, ErrAmountTooLarge
	}
	if intDigits+scale <= 18 {
		return decimal.New(int64(v), int32(-scale)), intDigits, scale, nil
	}
	bi, ok := new(big.Int).SetString(string(b[:intDigits])+string(b[min(len(b), intDigits+1):]), 10)
	if !ok {
		return decimal.Decimal{}, 0, 0, ErrAmountFormat
	}
	return decimal.NewFromBigInt(bi, int32(-scale)), intDigits, scale, nil
}

// FormatAmountExact writes d with exactly the currency's minor-unit
// digits, as the JSON contract wants ("1500000" KRW, "12.50" USD, "0.125"
// KWD). An amount with more digits than that is not written rounded: it
// is ErrAmountScale.
func FormatAmountExact(d decimal.Decimal, c Currency) (string, error) {
	minor := int32(c.MinorUnit())
	if !d.Round(minor).Equal(d) {
		return "", fmt.Errorf("%w: %s has more than the %d decimals of %s", ErrAmountScale, d.String(), minor, c.Code())
	}
	return d.StringFixed(minor), nil
}

// FormatAmount is FormatAmountExact for amounts that passed the scale
// check when they were read, as every amount in the system did. One that
// did not is a broken invariant, and rounding it would hide it (issue 12):
// FormatAmount panics rather than write a figure that is not the amount.
func FormatAmount(d decimal.Decimal, c Currency) string {
	s, err := FormatAmountExact(d, c)
	if err != nil {
		panic("settlement.FormatAmount: " + err.Error())
	}
	return s
}

// AmountCode is the problem code for an error of ParseAmount or
// ParseControlSum.
func AmountCode(err error) string {
	switch {
	case errors.Is(err, ErrAmountZero):
		return CodeAmountZero
	case errors.Is(err, ErrAmountScale):
		return CodeAmountScale
	case errors.Is(err, ErrAmountTooLarge):
		return CodeAmountLarge
	}
	return CodeAmount
}

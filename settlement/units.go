package settlement

import (
	"errors"
	"math/big"
	"math/bits"

	"github.com/shopspring/decimal"
)

// units is an exact signed count of 10^-scale currency units in 128 bits
// (two's complement, hi:lo), with the scale kept by whoever holds it.
//
// Why not decimal.Decimal here: netting adds every amount of a cycle twice,
// and decimal.Add allocates big.Ints on every call. 128 bits hold any sum
// the limits allow (ten million amounts of 10^22 minor units is 10^29, far
// below 1.7*10^38), overflow is detected and never wraps, and every value
// leaves this type as a decimal.Decimal.
type units struct {
	hi int64
	lo uint64
}

// ErrOverflow reports a sum outside 128 bits: input beyond every limit.
var ErrOverflow = errors.New("amount sum overflows 128 bits")

func (u units) add(v units) (units, bool) {
	lo, carry := bits.Add64(u.lo, v.lo, 0)
	hi := u.hi + v.hi + int64(carry)
	// Signed overflow: both operands of one sign, result of the other.
	if (u.hi >= 0) == (v.hi >= 0) && (hi >= 0) != (u.hi >= 0) {
		return units{}, false
	}
	return units{hi, lo}, true
}

func (u units) neg() units {
	lo, borrow := bits.Sub64(0, u.lo, 0)
	return units{-u.hi - int64(borrow), lo}
}

func (u units) sign() int {
	switch {
	case u.hi < 0:
		return -1
	case u.hi == 0 && u.lo == 0:
		return 0
	}
	return 1
}

func (u units) big() *big.Int {
	neg := u.hi < 0
	if neg {
		u = u.neg()
	}
	b := new(big.Int).SetUint64(uint64(u.hi))
	b.Lsh(b, 64)
	b.Or(b, new(big.Int).SetUint64(u.lo))
	if neg {
		b.Neg(b)
	}
	return b
}

func (u units) decimal(scale int) decimal.Decimal {
	if u.hi == 0 && u.lo <= 1<<62 || u.hi == -1 && u.lo >= 1<<63 {
		return decimal.New(int64(u.lo), int32(-scale))
	}
	return decimal.NewFromBigInt(u.big(), int32(-scale))
}

var pow10u64 = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000}

// unitsOf converts a non-negative or negative decimal into units at scale,
// exactly, or reports that it cannot (more decimals than scale, or too big).
func unitsOf(d decimal.Decimal, scale int) (units, bool) {
	exp := int(d.Exponent())
	if k := exp + scale; k >= 0 && k < len(pow10u64) && d.NumDigits() <= 18 {
		c := d.CoefficientInt64()
		neg := c < 0
		if neg {
			c = -c
		}
		hi, lo := bits.Mul64(uint64(c), pow10u64[k])
		u := units{int64(hi), lo}
		if neg {
			u = u.neg()
		}
		return u, true
	}
	// Slow path: rare huge or oddly scaled values.
	s := d.Shift(int32(scale))
	if !s.IsInteger() {
		return units{}, false
	}
	b := s.BigInt()
	if b.BitLen() > 126 {
		return units{}, false
	}
	neg := b.Sign() < 0
	b.Abs(b)
	lo := new(big.Int).And(b, new(big.Int).SetUint64(^uint64(0))).Uint64()
	hi := new(big.Int).Rsh(b, 64).Uint64()
	u := units{int64(hi), lo}
	if neg {
		u = u.neg()
	}
	return u, true
}

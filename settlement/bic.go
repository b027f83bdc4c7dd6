package settlement

import (
	"errors"
	"fmt"
)

// BIC identifies a bank. It is always held in its canonical form: the
// 8-character BIC, or the 11-character one when the branch is not "XXX"
// (an 11-character BIC with branch XXX is the same bank as its 8-character
// form, and is reported so).
type BIC string

// ErrBIC reports a string that is not a BIC as the spec defines it.
var ErrBIC = errors.New("not a BIC ([A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?)")

// ParseBIC validates s and returns its canonical form.
func ParseBIC(s string) (BIC, error) {
	if !validBIC([]byte(s)) {
		return "", fmt.Errorf("%q: %w", s, ErrBIC)
	}
	if len(s) == 11 && s[8:] == "XXX" {
		s = s[:8]
	}
	return BIC(s), nil
}

// MustBIC is ParseBIC for constants in tests and examples; it panics on a
// bad literal, which is a programming error.
func MustBIC(s string) BIC {
	b, err := ParseBIC(s)
	if err != nil {
		panic(err)
	}
	return b
}

func validBIC(b []byte) bool {
	if len(b) != 8 && len(b) != 11 {
		return false
	}
	for i, c := range b {
		upper := c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9'
		if i < 6 && !upper {
			return false
		}
		if i >= 6 && !upper && !digit {
			return false
		}
	}
	return true
}

// BICTable interns the BICs a parser meets, so that a million records
// naming twenty banks hold twenty strings and never pin a read buffer.
type BICTable struct {
	m map[string]BIC
}

// Parse validates b and returns the canonical, interned BIC.
func (t *BICTable) Parse(b []byte) (BIC, error) {
	if v, ok := t.m[string(b)]; ok {
		return v, nil
	}
	v, err := ParseBIC(string(b))
	if err != nil {
		return "", err
	}
	if t.m == nil {
		t.m = make(map[string]BIC)
	}
	if len(t.m) < bicTableMax {
		t.m[string(b)] = v
	}
	return v, nil
}

// bicTableMax bounds the intern table: a hostile file naming a million
// distinct banks is rejected for them anyway, and must not grow this map.
const bicTableMax = 4096

package settlement

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Field formats of the bank-facing contract (shared/spec/payment-files.md).
const (
	fileIDLenMax       = 35
	paymentIDLenMax    = 35
	RemittanceLenMax   = 140 // ISO 20022 Max140Text, the Ustrd of a pacs.008
	amountIntDigitsMax = 18
)

var (
	ErrFileID     = errors.New("file id must be 1-35 characters [A-Za-z0-9._-]")
	ErrPaymentID  = errors.New("payment id must be 1-35 characters [A-Za-z0-9._/-]")
	ErrDate       = errors.New("date must be a valid YYYY-MM-DD")
	ErrTimestamp  = errors.New("timestamp must be RFC 3339")
	ErrReason     = errors.New("not a known ExternalReversalReason1Code")
	ErrRemittance = errors.New("remittance information must be valid UTF-8 text of at most 140 characters without control characters")
)

// ValidFileID tells whether b is a file id as the spec defines it.
func ValidFileID(b []byte) bool { return validID(b, fileIDLenMax, false) }

// ValidPaymentID tells whether b is a payment or reversal id.
func ValidPaymentID(b []byte) bool { return validID(b, paymentIDLenMax, true) }

func validID(b []byte, max int, slash bool) bool {
	if len(b) == 0 || len(b) > max {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		case c == '/' && slash:
		default:
			return false
		}
	}
	return true
}

// Date is a business date in its canonical YYYY-MM-DD form, which also sorts.
type Date string

// ParseDate validates a YYYY-MM-DD calendar date.
func ParseDate(s string) (Date, error) {
	if len(s) != 10 {
		return "", fmt.Errorf("%q: %w", s, ErrDate)
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Format(time.DateOnly) != s {
		return "", fmt.Errorf("%q: %w", s, ErrDate)
	}
	return Date(s), nil
}

// Time is the date at midnight UTC.
func (d Date) Time() time.Time {
	t, _ := time.Parse(time.DateOnly, string(d))
	return t
}

// ParseTimestamp validates an RFC 3339 timestamp.
func ParseTimestamp(s string) (time.Time, error) {
	if len(s) > 64 {
		return time.Time{}, fmt.Errorf("%w (%d characters)", ErrTimestamp, len(s))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: %w", s, ErrTimestamp)
	}
	return t, nil
}

// ParseLocalTimestamp reads an ISO 20022 date-time, which may be written
// without a zone offset (then it is a time in loc, the scheme's zone).
func ParseLocalTimestamp(s string, loc *time.Location) (time.Time, error) {
	if t, err := ParseTimestamp(s); err == nil {
		return t, nil
	}
	if len(s) > 64 || loc == nil {
		return time.Time{}, fmt.Errorf("%q: %w", s, ErrTimestamp)
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: %w", s, ErrTimestamp)
	}
	return t, nil
}

// Reasons are the ExternalReversalReason1Code values the spec accepts, with
// their meaning.
var Reasons = map[string]string{
	"AC03": "wrong creditor account",
	"AC04": "account closed",
	"AG02": "invalid operation code",
	"AM05": "duplicate",
	"AM09": "wrong amount",
	"MD01": "no mandate",
	"MD05": "collection not due",
	"MS02": "not specified by customer",
	"MS03": "not specified by agent",
	"RC07": "wrong BIC",
	"TM01": "after cut-off",
}

// ParseReason returns the reversal reason code if it is one the spec knows.
func ParseReason(b []byte) (string, error) {
	if _, ok := Reasons[string(b)]; ok {
		return string(b), nil
	}
	return "", fmt.Errorf("%q: %w", b, ErrReason)
}

// ValidRemittance tells whether b is acceptable remittance information.
func ValidRemittance(b []byte) bool {
	if !utf8.Valid(b) || utf8.RuneCount(b) > RemittanceLenMax {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

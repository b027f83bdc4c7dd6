package settlement

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
)

// RecordableAmountMax bounds a recorded amount: under 10^18, what the
// payments table's NUMERIC holds (money_fits).
var RecordableAmountMax = decimal.New(1, 18)

// CheckRecordable is the last check of an entry before a store records it,
// the rules the payments table's constraints also enforce: its kind and
// the fields that kind has, its ids, its debtor the sender, no payment to
// oneself, both banks members, a currency, an amount above zero, under
// RecordableAmountMax and within the currency's minor unit. Each bad field
// is a problem with its line and the entry's id; ok is false if there was
// one. The intake's own check (FileCheck) catches all of them before, so
// only a caller that skipped it meets these; every store (Postgres's COPY
// and the memory store) asks this one function.
func CheckRecordable(e *Entry, sender BIC, member map[BIC]bool, ps *Problems) bool {
	ok := true
	bad := func(field, code, format string, args ...any) {
		ps.Add(Problem{Line: e.Line, Field: field, Code: code, Message: fmt.Sprintf(format, args...), Entry: e.ID})
		ok = false
	}
	idField, debtorField, creditorField := "payment_id", "debtor_bic", "creditor_bic"
	switch e.Kind {
	case KindPayment:
		if e.Original != "" || e.Reason != "" {
			bad("payment_id", CodeRecordType, "a payment has no original or reason")
		}
		if e.Remittance != "" && !ValidRemittance([]byte(e.Remittance)) {
			bad("remittance_info", CodeRemittance, "%v", ErrRemittance)
		}
	case KindReversal:
		idField, debtorField, creditorField = "reversal_id", "original_debtor_bic", "original_creditor_bic"
		if !ValidPaymentID([]byte(e.Original)) {
			bad("original_payment_id", CodePaymentID, "%v", ErrPaymentID)
		} else if e.Original == e.ID {
			bad("original_payment_id", CodeReversalOfItself, "reversal %s names itself as the original", e.ID)
		}
		if _, err := ParseReason([]byte(e.Reason)); err != nil {
			bad("reason_code", CodeReason, "%v", err)
		}
		if e.Remittance != "" {
			bad("remittance_info", CodeRemittance, "a reversal carries no remittance information")
		}
	default:
		bad("", CodeRecordType, "record kind %q is neither P nor R", e.Kind)
	}
	if !ValidPaymentID([]byte(e.ID)) {
		bad(idField, CodePaymentID, "%v", ErrPaymentID)
	}
	if e.Debtor != sender {
		bad(debtorField, CodeDebtorNotSender, "%s is not the sender %s", e.Debtor, sender)
	}
	if e.Debtor == e.Creditor {
		bad(creditorField, CodeSelfPayment, "debtor and creditor are both %s", e.Debtor)
	}
	if !member[e.Debtor] {
		bad(debtorField, CodeUnknownBank, "%s is not a member of the consortium", e.Debtor)
	}
	if !member[e.Creditor] {
		bad(creditorField, CodeUnknownBank, "%s is not a member of the consortium", e.Creditor)
	}
	switch {
	case !e.Currency.Valid():
		bad("currency", CodeCurrency, "%v", ErrCurrency)
	case e.Amount.Sign() <= 0:
		bad("amount", CodeAmountZero, "amount must be positive")
	case e.Amount.GreaterThanOrEqual(RecordableAmountMax):
		bad("amount", CodeAmountLarge, "%v", ErrAmountTooLarge)
	case -int(e.Amount.Exponent()) > e.Currency.MinorUnit() &&
		!e.Amount.Equal(e.Amount.Truncate(int32(e.Currency.MinorUnit()))):
		bad("amount", CodeAmountScale, "%s has more decimals than %s allows", e.Amount, e.Currency)
	}
	return ok
}

// RecordsMax bounds the entries a store records of one file: well above any
// bank's day, so only a caller that skipped the intake's own limits meets it.
const RecordsMax = 10_000_000

// Errors of an entry stream a store refuses whole: not a bank's fault, a
// caller's (the intake numbers and bounds the entries it hands over).
var (
	ErrEntryOrder     = errors.New("entries must come with strictly increasing line numbers")
	ErrTooManyEntries = errors.New("too many records in one file")
)

// EntryGate admits, one at a time, the entries a store records of one file:
// at most RecordsMax, in strictly increasing line order. Every store
// (Postgres's COPY and the memory store) streams through one, so both
// refuse the same streams in the same words.
type EntryGate struct {
	n    int64
	last int
}

// Admit counts e and refuses it if it is one too many or does not come
// after the entry before it.
func (g *EntryGate) Admit(e *Entry) error {
	g.n++
	if g.n > RecordsMax {
		return fmt.Errorf("%w: more than %d", ErrTooManyEntries, RecordsMax)
	}
	if e.Line <= g.last {
		return fmt.Errorf("%w: line %d after line %d", ErrEntryOrder, e.Line, g.last)
	}
	g.last = e.Line
	return nil
}

// Count is how many entries were offered, the refused one included.
func (g *EntryGate) Count() int64 { return g.n }

package settlement

import (
	"time"

	"github.com/shopspring/decimal"
)

// Kind tells a payment from a reversal.
type Kind byte

const (
	KindPayment  Kind = 'P'
	KindReversal Kind = 'R'
)

func (k Kind) String() string { return string(k) }

// Priority is a payment's class in its payer's queue, which gridlock
// resolution takes first by priority. The zero value is normal: every CSV
// payment, and a pacs.008 transaction without PmtTpInf/InstrPrty or with NORM.
type Priority uint8

const (
	PriorityNormal Priority = iota
	PriorityHigh            // pacs.008 PmtTpInf/InstrPrty HIGH: ahead of every normal payment
)

func (p Priority) String() string {
	if p == PriorityHigh {
		return "HIGH"
	}
	return "NORM"
}

// Header is what a payment file says about itself.
type Header struct {
	Line         int // CSV line; 0 for an XML group header
	FileID       string
	Sender       BIC
	BusinessDate Date
	CreatedAt    time.Time
}

// Entry is one payment or reversal record, whichever format carried it.
//
// For a reversal, Debtor and Creditor repeat the original payment's debtor
// and creditor; the money moves back, from Creditor to Debtor.
type Entry struct {
	Line       int // CSV line, or the 1-based CdtTrfTxInf index in XML
	Kind       Kind
	ID         string // payment id, or reversal id
	Debtor     BIC
	Creditor   BIC
	Amount     decimal.Decimal
	Currency   Currency
	Remittance string   // payments only
	Original   string   // reversals only: the payment id it reverses
	Reason     string   // reversals only: ExternalReversalReason1Code
	Priority   Priority // payments only; a reversal is never queued behind anything
}

// Payer is the bank whose position the entry debits.
func (e *Entry) Payer() BIC {
	if e.Kind == KindReversal {
		return e.Creditor
	}
	return e.Debtor
}

// Payee is the bank whose position the entry credits.
func (e *Entry) Payee() BIC {
	if e.Kind == KindReversal {
		return e.Debtor
	}
	return e.Creditor
}

// Trailer is the control record that closes a file.
type Trailer struct {
	Line       int
	Count      int64
	ControlSum decimal.Decimal
	// NoControlSum: the file declares none (ISO 20022 makes GrpHdr/CtrlSum
	// optional); there is nothing to compare, and the acknowledgement
	// reports the sum computed.
	NoControlSum bool
}

package pacs002

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shopspring/decimal"
)

// Group statuses of a settlement confirmation (payment-files.md, "After
// settlement").
const (
	StatusSettled  = "ACSC" // every entry of the file settled in Cycle
	StatusPending  = "PDNG" // the file was deferred to Cycle
	StatusPartial  = "PART" // settled in Cycle but for the payments deferred
	settledMsgName = "settled.xml"
)

// SettledName is the outbox name of a file's settlement confirmation.
func SettledName(file string) string { return file + "." + settledMsgName }

// Settled is the settlement confirmation of one file of a settled cycle.
type Settled struct {
	MsgID   string
	Created time.Time
	Scheme  string // InstgAgt
	Sender  string // InstdAgt: the file's sender

	OrgnlMsgID   string // the file id
	OrgnlMsgName string // MsgPacs008, MsgPacs007 or MsgCSV
	OrgnlCreated *time.Time
	OrgnlEntries *int64
	OrgnlCtrlSum *decimal.Decimal

	Status string // StatusSettled, StatusPending or StatusPartial
	// Cycle is the cycle the file settled in, or for StatusPending the one
	// it was deferred to.
	Cycle string
	// LedgerTx is the ledger transaction that settled the cycle (not for
	// StatusPending).
	LedgerTx string
	// Deferred are the payments of a StatusPartial file moved to a later
	// cycle, each confirmed when that cycle settles.
	Deferred []DeferredPayment
	// Carried are payments of the file that an earlier cycle deferred and
	// that settled in Cycle: each gets TxSts ACSC. A confirmation written
	// by a later cycle for a file of an earlier one lists them (with
	// StatusSettled, or StatusPartial if some are deferred again).
	Carried []string
}

// DeferredPayment is one payment of a file deferred to a later cycle.
type DeferredPayment struct {
	ID    string
	Cycle string
}

// ErrStatus reports a confirmation that does not hold together.
var ErrStatus = errors.New("settlement confirmation: status, cycle, ledger transaction and deferred payments disagree")

// WriteSettled writes s as one pacs.002.001.10 document.
func WriteSettled(w io.Writer, s Settled) error {
	r := Report{MsgID: s.MsgID, Scheme: s.Scheme, Sender: s.Sender, OrgnlMsgID: s.OrgnlMsgID, OrgnlMsgName: s.OrgnlMsgName, Accepted: true}
	if err := r.check(); err != nil {
		return err
	}
	switch {
	case s.Cycle == "" || len(s.Cycle) > 35:
		return fmt.Errorf("%w: cycle %q", ErrStatus, s.Cycle)
	case s.Status == StatusPending && (s.LedgerTx != "" || len(s.Deferred) > 0 || len(s.Carried) > 0),
		s.Status == StatusSettled && (s.LedgerTx == "" || len(s.Deferred) > 0),
		s.Status == StatusPartial && (s.LedgerTx == "" || len(s.Deferred) == 0),
		s.Status != StatusPending && s.Status != StatusSettled && s.Status != StatusPartial:
		return fmt.Errorf("%w: %s, ledger tx %q, %d deferred", ErrStatus, s.Status, s.LedgerTx, len(s.Deferred))
	case len(s.Deferred)+len(s.Carried) > ProblemsMax:
		return ErrTooMany
	}
	for _, id := range s.Carried {
		if !validEntryID(id) {
			return fmt.Errorf("%w: settled payment %q", ErrStatus, id)
		}
	}
	for _, d := range s.Deferred {
		if !validEntryID(d.ID) || d.Cycle == "" {
			return fmt.Errorf("%w: deferred payment %q to %q", ErrStatus, d.ID, d.Cycle)
		}
	}
	info := "settled in " + s.Cycle + " ledger tx " + s.LedgerTx
	if s.Status == StatusPending {
		info = "deferred to " + s.Cycle
	}
	if len(info) > 105 {
		return fmt.Errorf("%w: %q is longer than AddtlInf's 105 characters", ErrStatus, info)
	}
	var b bytes.Buffer
	head(&b, s.MsgID, s.Created, s.Scheme, s.Sender, original{s.OrgnlMsgID, s.OrgnlMsgName, s.OrgnlCreated, s.OrgnlEntries, s.OrgnlCtrlSum})
	elem(&b, 6, "GrpSts", s.Status)
	b.WriteString("      <StsRsnInf>\n")
	elem(&b, 8, "AddtlInf", info)
	b.WriteString("      </StsRsnInf>\n")
	b.WriteString("    </OrgnlGrpInfAndSts>\n")
	for _, id := range s.Carried {
		b.WriteString("    <TxInfAndSts>\n")
		elem(&b, 6, "OrgnlEndToEndId", id)
		elem(&b, 6, "TxSts", StatusSettled)
		b.WriteString("      <StsRsnInf>\n")
		elem(&b, 8, "AddtlInf", info)
		b.WriteString("      </StsRsnInf>\n")
		b.WriteString("    </TxInfAndSts>\n")
	}
	for _, d := range s.Deferred {
		b.WriteString("    <TxInfAndSts>\n")
		elem(&b, 6, "OrgnlEndToEndId", d.ID)
		elem(&b, 6, "TxSts", StatusPending)
		b.WriteString("      <StsRsnInf>\n")
		elem(&b, 8, "AddtlInf", cut("deferred to "+d.Cycle, 105))
		b.WriteString("      </StsRsnInf>\n")
		b.WriteString("    </TxInfAndSts>\n")
	}
	b.WriteString("  </FIToFIPmtStsRpt>\n</Document>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// Package pacs009 writes the scheme's settlement instructions for the
// settlement agent: for one settled cycle and currency, one ISO 20022
// pacs.009.001.08 FinancialInstitutionCreditTransfer in which each net
// debtor pays the scheme's settlement account and the account pays each
// net creditor (payment-files.md, "Settlement agent").
package pacs009

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"settle/formats/isowrite"
	"settle/settlement"
)

// Namespace is the instruction's.
const Namespace = "urn:iso:std:iso:20022:tech:xsd:pacs.009.001.08"

// Name is the agent's outbox name of a cycle's instructions in a currency.
func Name(cycle string, c settlement.Currency) string {
	return cycle + "." + c.Code() + ".pacs009.xml"
}

// Errors.
var (
	// ErrUnbalanced: the pay-ins do not equal the pay-outs. A broken
	// invariant: nothing is written.
	ErrUnbalanced = settlement.ErrUnbalanced
	ErrNothing    = settlement.ErrNothingToSettle
	ErrNoAccount  = errors.New("no account at the settlement agent")
)

// Agent is the settlement agent as the config names it: its BIC, the
// scheme's settlement account on its books, and each member's account.
type Agent struct {
	BIC           settlement.BIC
	SchemeAccount string                    // Othr/Id, at most 34 characters
	Accounts      map[settlement.BIC]string // each member's account at the agent
}

// Instruction is one transfer at the agent (settlement.Instruction: its
// EndToEndId and UETR are the domain's, so reconciliation recomputes them).
type Instruction = settlement.Instruction

// Instructions are the transfers that settle a cycle's positions in one
// currency (settlement.Instructions).
func Instructions(cycle string, c settlement.Currency, positions []settlement.Position) ([]Instruction, error) {
	return settlement.Instructions(cycle, c, positions)
}

// UETR derives the UETR of an EndToEndId (settlement.UETR).
func UETR(endToEndID string) string { return settlement.UETR(endToEndID) }

// Message is one pacs.009: a cycle's instructions in one currency.
type Message struct {
	MsgID        string // unique per message, at most 35 characters
	Created      time.Time
	BusinessDate settlement.Date // IntrBkSttlmDt
	Scheme       settlement.BIC  // InstgAgt, and the settlement account's owner
	Agent        Agent           // InstdAgt
	Currency     settlement.Currency
	Instructions []Instruction
}

// MsgID is the message id of a cycle's instructions in a currency.
func MsgID(cycle string, c settlement.Currency) string { return cycle + "-" + c.Code() }

// Write writes m. It checks again, where it relies on it, that the
// debits equal the credits.
func Write(w io.Writer, m Message) error {
	var in, out decimal.Decimal
	for _, i := range m.Instructions {
		if i.Currency != m.Currency || i.Amount.Sign() <= 0 {
			return fmt.Errorf("%w: %s %s %s", ErrUnbalanced, i.EndToEndID(), i.Amount, i.Currency)
		}
		if _, ok := m.Agent.Accounts[i.Bank]; !ok {
			return fmt.Errorf("%w: %s", ErrNoAccount, i.Bank)
		}
		if i.PayIn {
			in = in.Add(i.Amount)
		} else {
			out = out.Add(i.Amount)
		}
	}
	if len(m.Instructions) == 0 {
		return ErrNothing
	}
	if !in.Equal(out) {
		return fmt.Errorf("%w: pay-ins %s, pay-outs %s", ErrUnbalanced, in, out)
	}
	if m.Agent.SchemeAccount == "" {
		return fmt.Errorf("%w: the scheme's settlement account", ErrNoAccount)
	}
	x := isowrite.New(w)
	x.Raw(isowrite.Declaration)
	x.Raw(`<Document xmlns="` + Namespace + `">` + "\n")
	x.Open(1, "FICdtTrf")
	x.Open(2, "GrpHdr")
	x.Elem(3, "MsgId", m.MsgID, 35)
	x.Elem(3, "CreDtTm", m.Created.Format(time.RFC3339), 0)
	x.Elem(3, "NbOfTxs", strconv.Itoa(len(m.Instructions)), 15)
	total, err := isowrite.Amount(in.Add(out), m.Currency)
	if err != nil {
		return fmt.Errorf("CtrlSum: %w", err)
	}
	x.Elem(3, "CtrlSum", total, 0)
	x.Amt(3, "TtlIntrBkSttlmAmt", in.Add(out), m.Currency)
	x.Elem(3, "IntrBkSttlmDt", string(m.BusinessDate), 0)
	// INDA: the instructed agent (the settlement agent) settles on its own
	// books, between the accounts named.
	x.Raw("      <SttlmInf><SttlmMtd>INDA</SttlmMtd></SttlmInf>\n")
	x.Agent(3, "InstgAgt", m.Scheme)
	x.Agent(3, "InstdAgt", m.Agent.BIC)
	x.Close(2, "GrpHdr")
	for k, i := range m.Instructions {
		x.Open(2, "CdtTrfTxInf")
		x.Open(3, "PmtId")
		x.Elem(4, "InstrId", MsgID(i.Cycle, i.Currency)+"-"+strconv.Itoa(k+1), 35)
		x.Elem(4, "EndToEndId", i.EndToEndID(), 35)
		x.Elem(4, "UETR", i.UETR(), 0)
		x.Close(3, "PmtId")
		x.Amt(3, "IntrBkSttlmAmt", i.Amount, i.Currency)
		x.Elem(3, "IntrBkSttlmDt", string(m.BusinessDate), 0)
		bankAcct, schemeAcct := m.Agent.Accounts[i.Bank], m.Agent.SchemeAccount
		if i.PayIn {
			party(x, "Dbtr", i.Bank, bankAcct)
			party(x, "Cdtr", m.Scheme, schemeAcct)
		} else {
			party(x, "Dbtr", m.Scheme, schemeAcct)
			party(x, "Cdtr", i.Bank, bankAcct)
		}
		x.Close(2, "CdtTrfTxInf")
	}
	x.Close(1, "FICdtTrf")
	x.Raw("</Document>\n")
	return x.Flush()
}

// party writes Dbtr or Cdtr and its account (DbtrAcct, CdtrAcct).
func party(x *isowrite.Writer, name string, bic settlement.BIC, account string) {
	x.Agent(3, name, bic)
	x.Open(3, name+"Acct")
	x.Raw("        <Id><Othr>")
	x.Elem(0, "Id", account, 34)
	x.Raw("        </Othr></Id>\n")
	x.Close(3, name+"Acct")
}

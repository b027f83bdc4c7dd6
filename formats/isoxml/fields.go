package isoxml

import (
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// Amount is an ISO 20022 amount element and its currency attribute.
type Amount struct {
	Ccy   string `xml:"Ccy,attr"`
	Value string `xml:",chardata"`
}

// Agent is a BranchAndFinancialInstitutionIdentification6, of which the
// contract reads the BIC.
type Agent struct {
	BICFI string `xml:"FinInstnId>BICFI"`
}

// Need is a mandatory element's trimmed text: false (and XML_ELEMENT) where
// it is missing.
func (p *Reader) Need(line int, v *string, field, parent string) (string, bool) {
	if v == nil {
		p.Problem(line, field, settlement.CodeXMLElement, "%s has no %s", parent, field)
		return "", false
	}
	return strings.TrimSpace(*v), true
}

// FileID reads GrpHdr/MsgId.
func (p *Reader) FileID(v *string) (string, bool) {
	s, ok := p.Need(0, v, "MsgId", "GrpHdr")
	if !ok {
		return "", false
	}
	if !settlement.ValidFileID([]byte(s)) {
		p.Problem(0, "MsgId", settlement.CodeFileID, "%q: %v", Clip(s), settlement.ErrFileID)
		return "", false
	}
	return s, true
}

// CreatedAt reads GrpHdr/CreDtTm, with or without a zone offset (then in
// the scheme's zone).
func (p *Reader) CreatedAt(v *string) (time.Time, bool) {
	s, ok := p.Need(0, v, "CreDtTm", "GrpHdr")
	if !ok {
		return time.Time{}, false
	}
	t, err := settlement.ParseLocalTimestamp(s, p.Lim.Zone)
	if err != nil {
		p.Problem(0, "CreDtTm", settlement.CodeTimestamp, "%v", err)
		return time.Time{}, false
	}
	return t, true
}

// Date reads an ISODate element the contract requires or compares.
func (p *Reader) Date(line int, field, s string) (settlement.Date, bool) {
	d, err := settlement.ParseDate(strings.TrimSpace(s))
	if err != nil {
		p.Problem(line, field, settlement.CodeDate, "%v", err)
		return "", false
	}
	return d, true
}

// Count reads GrpHdr/NbOfTxs.
func (p *Reader) Count(v *string) (int64, bool) {
	s, ok := p.Need(0, v, "NbOfTxs", "GrpHdr")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s[0] == '+' || s[0] == '-' {
		p.Problem(0, "NbOfTxs", settlement.CodeEntryCount, "%q is not a count", Clip(s))
		return 0, false
	}
	return n, true
}

// ControlSum reads a GrpHdr/CtrlSum that is there.
func (p *Reader) ControlSum(s string) (decimal.Decimal, bool) {
	s = strings.TrimSpace(s)
	d, err := settlement.ParseControlSum([]byte(s))
	if err != nil {
		p.Problem(0, "CtrlSum", settlement.CodeControlSum, "%q: %v", Clip(s), err)
		return d, false
	}
	return d, true
}

// Money reads an amount and its currency into e.
func (p *Reader) Money(line int, field string, a *Amount, e *settlement.Entry) bool {
	if a == nil {
		p.Problem(line, field, settlement.CodeXMLElement, "no %s", field)
		return false
	}
	ok := true
	c, err := settlement.ParseCurrency(a.Ccy)
	if err != nil {
		p.Problem(line, field+"/@Ccy", settlement.CodeCurrency, "%q: %v", Clip(a.Ccy), settlement.ErrCurrency)
		ok = false
	}
	e.Currency = c
	v := strings.TrimSpace(a.Value)
	d, err := settlement.ParseAmount([]byte(v), c)
	if err != nil {
		p.Problem(line, field, settlement.AmountCode(err), "%q: %v", Clip(v), err)
		return false
	}
	e.Amount = d
	return ok
}

// EntryID reads a payment or reversal id.
func (p *Reader) EntryID(line int, field string, v *string, what string) (string, bool) {
	if v == nil {
		p.Problem(line, field, settlement.CodeXMLElement, "no %s (the %s)", field, what)
		return "", false
	}
	id := strings.TrimSpace(*v)
	if !settlement.ValidPaymentID([]byte(id)) {
		p.Problem(line, field, settlement.CodePaymentID, "%q: %v", Clip(id), settlement.ErrPaymentID)
		return "", false
	}
	return id, true
}

// AgentBIC reads an agent's BIC into dst (see Agent).
func (p *Reader) AgentBIC(line int, field string, a *Agent, dst *settlement.BIC) bool {
	var bicfi *string
	if a != nil {
		bicfi = &a.BICFI
	}
	return p.Agent(line, field, bicfi, dst)
}

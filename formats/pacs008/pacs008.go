// Package pacs008 parses Format 2 of the bank contract: an ISO 20022
// FIToFICstmrCdtTrf document (pacs.008.001.08). It decodes one
// CdtTrfTxInf at a time, so memory does not grow with the file, and maps
// it onto the same settlement records as the CSV format. Problems carry the
// 1-based index of the CdtTrfTxInf as their line (0 for the group header).
package pacs008

import (
	"encoding/xml"
	"io"
	"strings"

	"settle/formats"
	"settle/formats/isoxml"
	"settle/settlement"
)

// Namespace is the only pacs.008 version this format accepts.
const Namespace = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"

type (
	agent  = isoxml.Agent
	amount = isoxml.Amount
)

type groupHeader struct {
	MsgID         *string `xml:"MsgId"`
	CreDtTm       *string `xml:"CreDtTm"`
	NbOfTxs       *string `xml:"NbOfTxs"`
	CtrlSum       *string `xml:"CtrlSum"`
	IntrBkSttlmDt *string `xml:"IntrBkSttlmDt"`
	InstrPrty     *string `xml:"PmtTpInf>InstrPrty"`
	InstgAgt      *agent  `xml:"InstgAgt"`
}

type transaction struct {
	EndToEndID     *string  `xml:"PmtId>EndToEndId"`
	InstrPrty      *string  `xml:"PmtTpInf>InstrPrty"`
	IntrBkSttlmAmt *amount  `xml:"IntrBkSttlmAmt"`
	IntrBkSttlmDt  *string  `xml:"IntrBkSttlmDt"`
	InstgAgt       *agent   `xml:"InstgAgt"`
	DbtrAgt        *agent   `xml:"DbtrAgt"`
	CdtrAgt        *agent   `xml:"CdtrAgt"`
	Ustrd          []string `xml:"RmtInf>Ustrd"`
}

// Message is pacs.008.001.08 as isoxml reads it.
var Message = &isoxml.Message{Name: "pacs.008.001.08", Element: "FIToFICstmrCdtTrf", Entry: "CdtTrfTxInf",
	Fields: &settlement.XMLFields, Begin: func(r *isoxml.Reader) isoxml.Handler { return &parser{r: r, lim: r.Lim, sink: r.Sink} }}

// Parse reads one pacs.008.001.08 document from r (bare, or in a business
// application header envelope) and reports it to sink. It returns an error
// only when r itself fails.
func Parse(r io.Reader, lim formats.Limits, sink settlement.Sink) error {
	return isoxml.Parse(r, lim, sink, Message)
}

// parser reads the children of one FIToFICstmrCdtTrf.
type parser struct {
	r    *isoxml.Reader
	lim  formats.Limits
	sink settlement.Sink

	header    settlement.Header
	headerOK  bool
	sawHeader bool
	trailer   settlement.Trailer
	trailerOK bool
	// The business date and the sender: the group's, or, where the group
	// has none (as CBPR+ writes them), the first transaction's, which every
	// other must repeat. pending: the header waits for the first one.
	groupDate, groupSender string
	date                   string
	sender                 settlement.BIC
	pending                bool
	txs                    int64
	entry                  settlement.Entry
	groupPriority          string // GrpHdr/PmtTpInf/InstrPrty, for every transaction without its own
}

func (p *parser) Line() int { return int(p.txs) }

func (p *parser) problem(line int, field, code, format string, args ...any) {
	p.r.Problem(line, field, code, format, args...)
}

// Child reads one GrpHdr or CdtTrfTxInf (and skips what the contract does
// not read, such as SplmtryData).
func (p *parser) Child(t *xml.StartElement) error {
	switch t.Name.Local {
	case "GrpHdr":
		return p.groupHeader(t)
	case "CdtTrfTxInf":
		p.txs++
		if p.txs > p.lim.RecordsMax {
			p.problem(int(p.txs), "", settlement.CodeTooManyRecords, "file has more than %d transactions; split it", p.lim.RecordsMax)
			return errStop
		}
		return p.transaction(t)
	}
	return p.r.Dec.Skip()
}

// errStop ends the reading of a file whose problem is already reported.
var errStop = isoxml.ErrStop

// End closes the file once the whole document was read.
func (p *parser) End() {
	if !p.sawHeader {
		p.problem(0, "GrpHdr", settlement.CodeHeaderMissing, "no GrpHdr")
		return
	}
	if p.pending { // no transaction to complete it (the schema refuses that too)
		p.pending = false
		p.problem(0, "GrpHdr", settlement.CodeXMLElement, "the group has no IntrBkSttlmDt or InstgAgt, and no transaction gives them")
		p.sink.Header(&p.header, false)
	}
	p.sink.Trailer(&p.trailer, p.trailerOK)
}

// emitHeader hands the header on once its sender is known, checked
// against the AppHdr's Fr where the file has an envelope.
func (p *parser) emitHeader() {
	if !p.r.CheckFrom(p.header.Sender) {
		p.headerOK = false
	}
	p.sink.Header(&p.header, p.headerOK)
}

func (p *parser) groupHeader(start *xml.StartElement) error {
	if p.sawHeader {
		p.problem(0, "GrpHdr", settlement.CodeRecordOrder, "second GrpHdr")
		return p.r.Dec.Skip()
	}
	if p.txs > 0 {
		p.problem(0, "GrpHdr", settlement.CodeRecordOrder, "GrpHdr after the first CdtTrfTxInf; it comes first")
	}
	p.sawHeader = true
	var g groupHeader
	if err := p.r.Dec.DecodeElement(&g, start); err != nil {
		return err
	}
	if g.InstrPrty != nil {
		p.groupPriority = strings.TrimSpace(*g.InstrPrty)
	}
	h := settlement.Header{}
	ok := true
	if h.FileID, ok = p.r.FileID(g.MsgID); !ok {
		ok = false
	}
	if g.InstgAgt != nil && g.InstgAgt.BICFI != "" {
		var b settlement.BIC
		if p.r.Agent(0, "InstgAgt/FinInstnId/BICFI", &g.InstgAgt.BICFI, &b) {
			h.Sender, p.sender = b, b
			p.groupSender = string(b)
		} else {
			ok = false
		}
	}
	if g.IntrBkSttlmDt != nil {
		if d, dok := p.r.Date(0, "IntrBkSttlmDt", *g.IntrBkSttlmDt); dok {
			h.BusinessDate = d
			p.groupDate, p.date = string(d), string(d)
		} else {
			ok = false
		}
	}
	if t, tok := p.r.CreatedAt(g.CreDtTm); tok {
		h.CreatedAt = t
	} else {
		ok = false
	}
	p.header, p.headerOK = h, ok
	// Neither given by the group (and well formed where it gave them):
	// the first transaction's, as CBPR+ writes them.
	p.pending = (g.InstgAgt == nil || g.InstgAgt.BICFI == "") || g.IntrBkSttlmDt == nil
	if !p.pending {
		p.emitHeader()
	}

	t := settlement.Trailer{}
	tok := true
	if t.Count, tok = p.r.Count(g.NbOfTxs); !tok {
		tok = false
	}
	if g.CtrlSum == nil {
		t.NoControlSum = true // optional in ISO 20022: the sum computed is reported
	} else {
		var sok bool
		t.ControlSum, sok = p.r.ControlSum(*g.CtrlSum)
		tok = tok && sok
	}
	p.trailer, p.trailerOK = t, tok
	return nil
}

func (p *parser) transaction(start *xml.StartElement) error {
	line := int(p.txs)
	if !p.sawHeader {
		p.problem(line, "", settlement.CodeRecordOrder, "CdtTrfTxInf before GrpHdr")
	}
	var tx transaction
	if err := p.r.Dec.DecodeElement(&tx, start); err != nil {
		return err
	}
	e := &p.entry
	*e = settlement.Entry{Line: line, Kind: settlement.KindPayment}
	if p.pending {
		p.firstTransaction(line, &tx)
	}
	ok := p.sawHeader
	if id, idOK := p.r.EntryID(line, "PmtId/EndToEndId", tx.EndToEndID, "payment id"); idOK {
		e.ID = id
	} else {
		ok = false
	}
	ok = p.agent(line, "DbtrAgt/FinInstnId/BICFI", tx.DbtrAgt, &e.Debtor) && ok
	ok = p.agent(line, "CdtrAgt/FinInstnId/BICFI", tx.CdtrAgt, &e.Creditor) && ok
	ok = p.r.Money(line, "IntrBkSttlmAmt", tx.IntrBkSttlmAmt, e) && ok
	ok = p.dateAndSender(line, &tx) && ok
	e.Priority = p.priority(&tx)
	if len(tx.Ustrd) > 1 {
		p.problem(line, "RmtInf/Ustrd", settlement.CodeRemittance, "%d Ustrd elements; the format carries one", len(tx.Ustrd))
		ok = false
	} else if len(tx.Ustrd) == 1 {
		if settlement.ValidRemittance([]byte(tx.Ustrd[0])) {
			e.Remittance = tx.Ustrd[0]
		} else {
			p.problem(line, "RmtInf/Ustrd", settlement.CodeRemittance, "%v", settlement.ErrRemittance)
			ok = false
		}
	}
	p.sink.Entry(e, ok)
	return nil
}

// priority is the transaction's PmtTpInf/InstrPrty, or else the group's:
// HIGH puts the payment ahead of its bank's normal ones in gridlock
// resolution. The schema admits only HIGH and NORM.
func (p *parser) priority(tx *transaction) settlement.Priority {
	v := p.groupPriority
	if tx.InstrPrty != nil {
		v = strings.TrimSpace(*tx.InstrPrty)
	}
	if v == "HIGH" {
		return settlement.PriorityHigh
	}
	return settlement.PriorityNormal
}

// firstTransaction completes a header the group left without a business
// date or a sender from the first transaction, and hands it on.
func (p *parser) firstTransaction(line int, tx *transaction) {
	p.pending = false
	if p.groupDate == "" {
		switch {
		case tx.IntrBkSttlmDt == nil:
			p.problem(line, "IntrBkSttlmDt", settlement.CodeXMLElement, "the group has no IntrBkSttlmDt, so each CdtTrfTxInf needs one")
			p.headerOK = false
		default:
			s := strings.TrimSpace(*tx.IntrBkSttlmDt)
			if d, err := settlement.ParseDate(s); err == nil {
				p.header.BusinessDate, p.date = d, s
			} else {
				p.problem(line, "IntrBkSttlmDt", settlement.CodeDate, "%v", err)
				p.headerOK = false
			}
		}
	}
	if p.groupSender == "" {
		var b settlement.BIC
		if p.agent(line, "InstgAgt/FinInstnId/BICFI", tx.InstgAgt, &b) {
			p.header.Sender, p.sender = b, b
		} else {
			p.headerOK = false
		}
	}
	p.emitHeader()
}

// dateAndSender checks a transaction's own settlement date and
// instructing agent against the file's: equal where given, and given
// where the group has none.
func (p *parser) dateAndSender(line int, tx *transaction) bool {
	ok := true
	switch {
	case tx.IntrBkSttlmDt != nil && p.date != "" && strings.TrimSpace(*tx.IntrBkSttlmDt) != p.date:
		whose := "the group's"
		if p.groupDate == "" {
			whose = "the first transaction's"
		}
		p.problem(line, "IntrBkSttlmDt", settlement.CodeDateMismatch, "transaction date %q differs from %s %s", isoxml.Clip(*tx.IntrBkSttlmDt), whose, p.date)
		ok = false
	case tx.IntrBkSttlmDt == nil && p.groupDate == "" && p.date != "":
		p.problem(line, "IntrBkSttlmDt", settlement.CodeXMLElement, "the group has no IntrBkSttlmDt, so each CdtTrfTxInf needs one")
		ok = false
	}
	if p.sender == "" {
		return ok
	}
	if tx.InstgAgt == nil || tx.InstgAgt.BICFI == "" {
		if p.groupSender == "" {
			p.problem(line, "InstgAgt/FinInstnId/BICFI", settlement.CodeXMLElement, "the group has no InstgAgt, so each CdtTrfTxInf names the sender")
			ok = false
		}
		return ok
	}
	var b settlement.BIC
	if !p.agent(line, "InstgAgt/FinInstnId/BICFI", tx.InstgAgt, &b) {
		return false
	}
	if b != p.sender {
		whose := "the group's"
		if p.groupSender == "" {
			whose = "the first transaction's"
		}
		p.problem(line, "InstgAgt/FinInstnId/BICFI", settlement.CodeSenderNotUploader, "instructing agent %s differs from %s %s: a file has one sender, the bank that uploads it", b, whose, p.sender)
		ok = false
	}
	return ok
}

func (p *parser) agent(line int, field string, a *agent, dst *settlement.BIC) bool {
	return p.r.AgentBIC(line, field, a, dst)
}

// Package pacs007 parses Format 3 of the bank contract: an ISO 20022
// FIToFIPmtRvsl document (pacs.007.001.09), one reversal per TxInf, mapped
// onto the same settlement records as a CSV R record, so that every rule
// of a reversal (the original exists, was settled, was sent by this
// sender, matches, and was not reversed before) is the settlement
// domain's, once, for both formats. Problems carry the 1-based index of
// the TxInf as their line (0 for the group header).
package pacs007

import (
	"encoding/xml"
	"io"
	"strings"

	"settle/formats"
	"settle/formats/isoxml"
	"settle/settlement"
)

// Namespace is the only pacs.007 version this format accepts.
const Namespace = isoxml.NamespacePrefix + "pacs.007.001.09"

type groupHeader struct {
	MsgID         *string       `xml:"MsgId"`
	CreDtTm       *string       `xml:"CreDtTm"`
	NbOfTxs       *string       `xml:"NbOfTxs"`
	CtrlSum       *string       `xml:"CtrlSum"`
	GrpRvsl       *string       `xml:"GrpRvsl"`
	IntrBkSttlmDt *string       `xml:"IntrBkSttlmDt"`
	InstgAgt      *isoxml.Agent `xml:"InstgAgt"`
}

type reason struct {
	Cd    *string `xml:"Rsn>Cd"`
	Prtry *string `xml:"Rsn>Prtry"`
}

type transaction struct {
	RvslID              *string        `xml:"RvslId"`
	OrgnlEndToEndID     *string        `xml:"OrgnlEndToEndId"`
	OrgnlIntrBkSttlmAmt *isoxml.Amount `xml:"OrgnlIntrBkSttlmAmt"`
	RvsdIntrBkSttlmAmt  *isoxml.Amount `xml:"RvsdIntrBkSttlmAmt"`
	IntrBkSttlmDt       *string        `xml:"IntrBkSttlmDt"`
	Reasons             []reason       `xml:"RvslRsnInf"`
	DbtrAgt             *isoxml.Agent  `xml:"OrgnlTxRef>DbtrAgt"`
	CdtrAgt             *isoxml.Agent  `xml:"OrgnlTxRef>CdtrAgt"`
}

// Message is pacs.007.001.09 as isoxml reads it.
var Message = &isoxml.Message{Name: "pacs.007.001.09", Element: "FIToFIPmtRvsl", Entry: "TxInf",
	Fields: &settlement.PACS007Fields, Begin: func(r *isoxml.Reader) isoxml.Handler { return &parser{r: r} }}

// Parse reads one pacs.007.001.09 document from r (bare, or in a business
// application header envelope) and reports it to sink. It returns an error
// only when r itself fails.
func Parse(r io.Reader, lim formats.Limits, sink settlement.Sink) error {
	return isoxml.Parse(r, lim, sink, Message)
}

// parser reads the children of one FIToFIPmtRvsl.
type parser struct {
	r         *isoxml.Reader
	header    settlement.Header
	sawHeader bool
	trailer   settlement.Trailer
	trailerOK bool
	date      settlement.Date // the group's, which a TxInf may repeat
	txs       int64
	entry     settlement.Entry
}

func (p *parser) Line() int { return int(p.txs) }

// Child reads one GrpHdr or TxInf (and skips what the contract does not
// read: OrgnlGrpInf, SplmtryData).
func (p *parser) Child(t *xml.StartElement) error {
	switch t.Name.Local {
	case "GrpHdr":
		return p.groupHeader(t)
	case "TxInf":
		p.txs++
		if p.txs > p.r.Lim.RecordsMax {
			p.r.Problem(int(p.txs), "", settlement.CodeTooManyRecords, "file has more than %d reversals; split it", p.r.Lim.RecordsMax)
			return isoxml.ErrStop
		}
		return p.transaction(t)
	}
	return p.r.Dec.Skip()
}

// End closes the file once the whole document was read.
func (p *parser) End() {
	if !p.sawHeader {
		p.r.Problem(0, "GrpHdr", settlement.CodeHeaderMissing, "no GrpHdr")
		return
	}
	p.r.Sink.Trailer(&p.trailer, p.trailerOK)
}

func (p *parser) groupHeader(start *xml.StartElement) error {
	if p.sawHeader {
		p.r.Problem(0, "GrpHdr", settlement.CodeRecordOrder, "second GrpHdr")
		return p.r.Dec.Skip()
	}
	if p.txs > 0 {
		p.r.Problem(0, "GrpHdr", settlement.CodeRecordOrder, "GrpHdr after the first TxInf; it comes first")
	}
	p.sawHeader = true
	var g groupHeader
	if err := p.r.Dec.DecodeElement(&g, start); err != nil {
		return err
	}
	h := settlement.Header{}
	var ok, fine bool
	h.FileID, ok = p.r.FileID(g.MsgID)
	if h.CreatedAt, fine = p.r.CreatedAt(g.CreDtTm); !fine {
		ok = false
	}
	// Required here, though optional in the schema: a reversal file names
	// its sender and its day in the group.
	if g.InstgAgt == nil {
		p.r.Problem(0, "InstgAgt/FinInstnId/BICFI", settlement.CodeXMLElement, "GrpHdr has no InstgAgt (the sender): a pacs.007 names it in the group")
		ok = false
	} else if !p.r.AgentBIC(0, "InstgAgt/FinInstnId/BICFI", g.InstgAgt, &h.Sender) {
		ok = false
	}
	if s, have := p.r.Need(0, g.IntrBkSttlmDt, "IntrBkSttlmDt", "GrpHdr"); !have {
		ok = false
	} else if h.BusinessDate, fine = p.r.Date(0, "IntrBkSttlmDt", s); fine {
		p.date = h.BusinessDate
	} else {
		ok = false
	}
	if g.GrpRvsl != nil && strings.TrimSpace(*g.GrpRvsl) != "false" {
		p.r.Problem(0, "GrpRvsl", settlement.CodeXMLElement, "GrpRvsl is %q: a file reverses payments one by one, each in its TxInf (GrpRvsl must be false)", isoxml.Clip(*g.GrpRvsl))
		ok = false
	}
	if !p.r.CheckFrom(h.Sender) {
		ok = false
	}
	p.header = h
	p.r.Sink.Header(&p.header, ok)

	t := settlement.Trailer{}
	t.Count, p.trailerOK = p.r.Count(g.NbOfTxs)
	if s, have := p.r.Need(0, g.CtrlSum, "CtrlSum", "GrpHdr"); !have {
		p.trailerOK = false
	} else if t.ControlSum, fine = p.r.ControlSum(s); !fine {
		p.trailerOK = false
	}
	p.trailer = t
	return nil
}

func (p *parser) transaction(start *xml.StartElement) error {
	line := int(p.txs)
	if !p.sawHeader {
		p.r.Problem(line, "", settlement.CodeRecordOrder, "TxInf before GrpHdr")
	}
	var tx transaction
	if err := p.r.Dec.DecodeElement(&tx, start); err != nil {
		return err
	}
	e := &p.entry
	*e = settlement.Entry{Line: line, Kind: settlement.KindReversal}
	ok := p.sawHeader
	var fine bool
	if e.ID, fine = p.r.EntryID(line, "RvslId", tx.RvslID, "reversal id"); !fine {
		ok = false
	}
	if e.Original, fine = p.r.EntryID(line, "OrgnlEndToEndId", tx.OrgnlEndToEndID, "original payment id"); !fine {
		ok = false
	}
	ok = p.r.AgentBIC(line, "OrgnlTxRef/DbtrAgt/FinInstnId/BICFI", tx.DbtrAgt, &e.Debtor) && ok
	ok = p.r.AgentBIC(line, "OrgnlTxRef/CdtrAgt/FinInstnId/BICFI", tx.CdtrAgt, &e.Creditor) && ok
	money := p.r.Money(line, "RvsdIntrBkSttlmAmt", tx.RvsdIntrBkSttlmAmt, e)
	ok = money && ok
	if o := tx.OrgnlIntrBkSttlmAmt; o != nil && money {
		// Only whole payments are reversed: the original amount, where
		// given, is the amount reversed, in the same currency.
		var orig settlement.Entry
		if !p.r.Money(line, "OrgnlIntrBkSttlmAmt", o, &orig) {
			ok = false
		} else if orig.Currency != e.Currency || !orig.Amount.Equal(e.Amount) {
			p.r.Problem(line, "OrgnlIntrBkSttlmAmt", settlement.CodeAmount, "the original amount %s %s differs from the amount reversed %s %s: only whole payments are reversed",
				orig.Amount, orig.Currency, e.Amount, e.Currency)
			ok = false
		}
	}
	if tx.IntrBkSttlmDt != nil && p.date != "" && strings.TrimSpace(*tx.IntrBkSttlmDt) != string(p.date) {
		p.r.Problem(line, "IntrBkSttlmDt", settlement.CodeDateMismatch, "transaction date %q differs from the group's %s", isoxml.Clip(*tx.IntrBkSttlmDt), p.date)
		ok = false
	}
	ok = p.reason(line, tx.Reasons, e) && ok
	p.r.Sink.Entry(e, ok)
	return nil
}

// reason reads the one RvslRsnInf/Rsn/Cd a reversal carries: a code of the
// contract's list (Format 1's), never a proprietary one.
func (p *parser) reason(line int, rs []reason, e *settlement.Entry) bool {
	const field = "RvslRsnInf/Rsn/Cd"
	switch {
	case len(rs) == 0:
		p.r.Problem(line, field, settlement.CodeReason, "no RvslRsnInf: a reversal gives one reason code")
		return false
	case len(rs) > 1:
		p.r.Problem(line, field, settlement.CodeReason, "%d RvslRsnInf: a reversal gives exactly one reason code", len(rs))
		return false
	case rs[0].Prtry != nil:
		p.r.Problem(line, "RvslRsnInf/Rsn/Prtry", settlement.CodeReason, "a proprietary reason %q: the contract takes only Rsn/Cd from its list", isoxml.Clip(*rs[0].Prtry))
		return false
	case rs[0].Cd == nil:
		p.r.Problem(line, field, settlement.CodeReason, "RvslRsnInf has no Rsn/Cd")
		return false
	}
	code, err := settlement.ParseReason([]byte(strings.TrimSpace(*rs[0].Cd)))
	if err != nil {
		p.r.Problem(line, field, settlement.CodeReason, "%q: %v", isoxml.Clip(*rs[0].Cd), err)
		return false
	}
	e.Reason = code
	return true
}

// Package agentcamt reads the settlement agent's answers to the scheme's
// settlement instructions (payment-files.md, "Settlement agent"): ISO
// 20022 camt.054.001.08 debit and credit notifications, or a
// camt.053.001.08 statement, of the scheme's settlement account. Each
// entry (Ntry) is one booking, handed to the caller as it is read: memory
// does not grow with the file. It reads through isoxml, so the file is
// checked token by token against the official schema of its namespace,
// with the same limits, byte order mark and envelope rules as a bank's
// payment file.
//
// What it takes of each Ntry: Amt and its Ccy, CdtDbtInd (from the
// settlement account's side: CRDT a pay-in, DBIT a pay-out), Sts/Cd,
// ValDt (Dt, or the date of DtTm), and from its one NtryDtls/TxDtls the
// Refs/EndToEndId and Refs/UETR naming the instruction, and RtrInf/Rsn
// where the agent rejected or returned it. The account of the
// notification or statement (Acct/Id/Othr/Id, or IBAN) comes with each
// booking. Stricter than the schema, and saying so: a Ntry must name its
// instruction by EndToEndId or UETR, and carry at most one TxDtls (the
// agent books each instruction on its own; a batch entry is refused).
package agentcamt

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"settle/formats"
	"settle/formats/isoxml"
	"settle/settlement"
)

// Messages read.
const (
	MsgCamt054 = "camt.054.001.08"
	MsgCamt053 = "camt.053.001.08"
)

// Problem codes of this reader beside the shared ones.
const (
	CodeReference = "REFERENCE"   // no EndToEndId and no UETR
	CodeBatch     = "BATCH_ENTRY" // more than one TxDtls in an entry
	CodeStatus    = "ENTRY_STATUS"
)

// Booking is one entry of the agent's answer.
type Booking struct {
	Line       int // 1-based index of the Ntry in the file
	Account    string
	EndToEndID string
	UETR       string
	Amount     decimal.Decimal
	Currency   settlement.Currency
	Credit     bool   // CRDT on the settlement account
	Status     string // BOOK, PDNG, INFO, FUTR (ExternalEntryStatus1Code) or the Prtry
	ValueDate  settlement.Date
	Reversal   bool   // RvslInd
	Rejected   string // RtrInf/Rsn/Cd (or Prtry): the agent refused or returned it; "" if not
}

// Booked tells a booking the agent made (Sts BOOK, not rejected).
func (b Booking) Booked() bool { return b.Status == "BOOK" && b.Rejected == "" && !b.Reversal }

// Answer is what the file says of itself.
type Answer struct {
	Message string // MsgCamt054 or MsgCamt053
	MsgID   string
	Created time.Time
	Entries int
}

type groupHeader struct {
	MsgID   *string `xml:"MsgId"`
	CreDtTm *string `xml:"CreDtTm"`
}

type account struct {
	IBAN *string `xml:"Id>IBAN"`
	Othr *string `xml:"Id>Othr>Id"`
}

type date struct {
	Dt   *string `xml:"Dt"`
	DtTm *string `xml:"DtTm"`
}

type txDetails struct {
	EndToEndID *string `xml:"Refs>EndToEndId"`
	UETR       *string `xml:"Refs>UETR"`
	RtrCd      *string `xml:"RtrInf>Rsn>Cd"`
	RtrPrtry   *string `xml:"RtrInf>Rsn>Prtry"`
}

type entry struct {
	Amt       *isoxml.Amount `xml:"Amt"`
	CdtDbtInd *string        `xml:"CdtDbtInd"`
	RvslInd   *string        `xml:"RvslInd"`
	StsCd     *string        `xml:"Sts>Cd"`
	StsPrtry  *string        `xml:"Sts>Prtry"`
	ValDt     *date          `xml:"ValDt"`
	Details   []struct {
		Txs []txDetails `xml:"TxDtls"`
	} `xml:"NtryDtls"`
}

// sink collects the problems isoxml and the parser report; the settlement
// records of a payment file do not apply to an answer.
type sink struct {
	problems *settlement.Problems
}

func (s sink) Header(*settlement.Header, bool)   {}
func (s sink) Entry(*settlement.Entry, bool)     {}
func (s sink) Trailer(*settlement.Trailer, bool) {}
func (s sink) Problem(p settlement.Problem)      { s.problems.Add(p) }

// Read reads one answer from r and gives each booking to fn as it is
// read, even in a file with problems elsewhere: the caller takes none of
// them unless the problems are empty (a file is taken whole, as a bank's
// is). It returns an error only when r itself fails.
func Read(r io.Reader, lim formats.Limits, fn func(Booking)) (Answer, []settlement.Problem, error) {
	lim = lim.Or(formats.DefaultLimits)
	ps := &settlement.Problems{Max: lim.ProblemsMax}
	var ans Answer
	msg := func(name, element, container string) *isoxml.Message {
		return &isoxml.Message{Name: name, Element: element, Entry: "Ntry", Fields: &settlement.Fields{},
			Begin: func(rd *isoxml.Reader) isoxml.Handler {
				ans.Message = name
				return &parser{r: rd, lim: lim, fn: fn, ans: &ans, container: container}
			}}
	}
	err := isoxml.Parse(r, lim, sink{ps}, msg(MsgCamt054, "BkToCstmrDbtCdtNtfctn", "Ntfctn"), msg(MsgCamt053, "BkToCstmrStmt", "Stmt"))
	return ans, ps.List(), err
}

type parser struct {
	r         *isoxml.Reader
	lim       formats.Limits
	fn        func(Booking)
	ans       *Answer
	container string
	entries   int
	sawHeader bool
	stopped   bool
}

func (p *parser) Line() int { return p.entries }

func (p *parser) End() {
	if !p.sawHeader {
		p.r.Problem(0, "GrpHdr", settlement.CodeXMLElement, "no GrpHdr")
	}
	p.ans.Entries = p.entries
}

func (p *parser) Child(start *xml.StartElement) error {
	switch start.Name.Local {
	case "GrpHdr":
		var g groupHeader
		if err := p.r.Dec.DecodeElement(&g, start); err != nil {
			return err
		}
		p.sawHeader = true
		if id, ok := p.r.Need(0, g.MsgID, "MsgId", "GrpHdr"); ok {
			p.ans.MsgID = id
		}
		if g.CreDtTm != nil {
			p.ans.Created, _ = p.r.CreatedAt(g.CreDtTm)
		}
		return nil
	case p.container:
		return p.container1(start)
	}
	return p.r.Dec.Skip()
}

// container1 reads one Ntfctn or Stmt: its account, then its entries one
// at a time.
func (p *parser) container1(start *xml.StartElement) error {
	acct := ""
	for {
		tok, err := p.r.Dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			switch {
			case t.Name.Local == "Acct":
				var a account
				if err := p.r.Dec.DecodeElement(&a, &t); err != nil {
					return err
				}
				if a.Othr != nil {
					acct = strings.TrimSpace(*a.Othr)
				} else if a.IBAN != nil {
					acct = strings.TrimSpace(*a.IBAN)
				}
			case t.Name.Local == "Ntry" && !p.stopped:
				p.entries++
				if int64(p.entries) > p.lim.RecordsMax {
					p.r.Problem(p.entries, "", settlement.CodeTooManyRecords, "more than %d entries", p.lim.RecordsMax)
					p.stopped = true
					if err := p.r.Dec.Skip(); err != nil {
						return err
					}
					continue
				}
				var e entry
				if err := p.r.Dec.DecodeElement(&e, &t); err != nil {
					return err
				}
				if b, ok := p.booking(p.entries, acct, &e); ok {
					p.fn(b)
				}
			default:
				if err := p.r.Dec.Skip(); err != nil {
					return err
				}
			}
		}
	}
}

func (p *parser) booking(line int, acct string, e *entry) (Booking, bool) {
	b := Booking{Line: line, Account: acct}
	ok := true
	if e.Amt == nil {
		p.r.Problem(line, "Amt", settlement.CodeXMLElement, "Ntry has no Amt")
		ok = false
	} else {
		var x settlement.Entry
		if !p.r.Money(line, "Amt", e.Amt, &x) {
			ok = false
		}
		b.Amount, b.Currency = x.Amount, x.Currency
	}
	if e.CdtDbtInd != nil {
		b.Credit = strings.TrimSpace(*e.CdtDbtInd) == "CRDT"
	}
	if e.RvslInd != nil {
		v := strings.TrimSpace(*e.RvslInd)
		b.Reversal = v == "true" || v == "1"
	}
	switch {
	case e.StsCd != nil:
		b.Status = strings.TrimSpace(*e.StsCd)
	case e.StsPrtry != nil:
		b.Status = strings.TrimSpace(*e.StsPrtry)
	}
	if b.Status == "" {
		p.r.Problem(line, "Sts", CodeStatus, "Ntry has no status")
		ok = false
	}
	if e.ValDt != nil {
		v := ""
		if e.ValDt.Dt != nil {
			v = strings.TrimSpace(*e.ValDt.Dt)
		} else if e.ValDt.DtTm != nil && len(strings.TrimSpace(*e.ValDt.DtTm)) >= 10 {
			v = strings.TrimSpace(*e.ValDt.DtTm)[:10]
		}
		if d, fine := p.r.Date(line, "ValDt", v); fine {
			b.ValueDate = d
		} else {
			ok = false
		}
	}
	var txs []txDetails
	for _, d := range e.Details {
		txs = append(txs, d.Txs...)
	}
	if len(txs) > 1 {
		p.r.Problem(line, "NtryDtls/TxDtls", CodeBatch, "%d TxDtls in one entry: each instruction is booked on its own", len(txs))
		return b, false
	}
	if len(txs) == 1 {
		tx := txs[0]
		if tx.EndToEndID != nil {
			b.EndToEndID = strings.TrimSpace(*tx.EndToEndID)
		}
		if tx.UETR != nil {
			b.UETR = strings.TrimSpace(*tx.UETR)
		}
		switch {
		case tx.RtrCd != nil:
			b.Rejected = strings.TrimSpace(*tx.RtrCd)
		case tx.RtrPrtry != nil:
			b.Rejected = strings.TrimSpace(*tx.RtrPrtry)
		}
	}
	if b.EndToEndID == "" && b.UETR == "" {
		p.r.Problem(line, "NtryDtls/TxDtls/Refs", CodeReference, "the entry names no instruction (EndToEndId or UETR)")
		ok = false
	}
	return b, ok
}

// String is a booking for logs and tests.
func (b Booking) String() string {
	dir := "DBIT"
	if b.Credit {
		dir = "CRDT"
	}
	return fmt.Sprintf("%d %s/%s %s %s %s %s %s rej=%q acct=%s", b.Line, b.EndToEndID, b.UETR, b.Amount, b.Currency, dir, b.Status, b.ValueDate, b.Rejected, b.Account)
}

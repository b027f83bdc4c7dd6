// Package pacs008 parses Format 2 of the bank contract: an ISO 20022
// FIToFICstmrCdtTrf document (pacs.008.001.08). It decodes one
// CdtTrfTxInf at a time, so memory does not grow with the file, and maps
// it onto the same settlement records as the CSV format. Problems carry the
// 1-based index of the CdtTrfTxInf as their line (0 for the group header).
package pacs008

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"settle/adapters/formats"
	"settle/adapters/formats/isoschema"
	"settle/settlement"
)

// Namespace is the only pacs.008 version this format accepts.
const Namespace = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"

// Message is the message the Document holds, as an AppHdr names it.
const Message = "pacs.008.001.08"

// AppHdrNamespaces are the business application header versions accepted
// in an envelope before the Document.
var AppHdrNamespaces = map[string]string{
	"urn:iso:std:iso:20022:tech:xsd:head.001.001.02": "head.001.001.02",
	"urn:iso:std:iso:20022:tech:xsd:head.001.001.03": "head.001.001.03",
}

// appHdr is what the parser reads of a business application header: who
// sends, and which message follows. Fr is a choice of OrgId or FIId.
type appHdr struct {
	From      *agent  `xml:"Fr>FIId"`
	MsgDefIdr *string `xml:"MsgDefIdr"`
}

type agent struct {
	BICFI string `xml:"FinInstnId>BICFI"`
}

type amount struct {
	Ccy   string `xml:"Ccy,attr"`
	Value string `xml:",chardata"`
}

type groupHeader struct {
	MsgID         *string `xml:"MsgId"`
	CreDtTm       *string `xml:"CreDtTm"`
	NbOfTxs       *string `xml:"NbOfTxs"`
	CtrlSum       *string `xml:"CtrlSum"`
	IntrBkSttlmDt *string `xml:"IntrBkSttlmDt"`
	InstgAgt      *agent  `xml:"InstgAgt"`
}

type transaction struct {
	EndToEndID     *string  `xml:"PmtId>EndToEndId"`
	IntrBkSttlmAmt *amount  `xml:"IntrBkSttlmAmt"`
	IntrBkSttlmDt  *string  `xml:"IntrBkSttlmDt"`
	InstgAgt       *agent   `xml:"InstgAgt"`
	DbtrAgt        *agent   `xml:"DbtrAgt"`
	CdtrAgt        *agent   `xml:"CdtrAgt"`
	Ustrd          []string `xml:"RmtInf>Ustrd"`
}

// Parse reads one pacs.008.001.08 document from r and reports it to sink.
// It returns an error only when r itself fails.
func Parse(r io.Reader, lim formats.Limits, sink settlement.Sink) error {
	lim = lim.Or(formats.DefaultLimits)
	cr := &countingReader{r: io.LimitReader(r, lim.FileBytesMax+1), textMax: lim.LineBytesMax}
	p := &parser{lim: lim, sink: sink, cr: cr}
	// XML 1.0 allows a UTF-8 byte order mark before the prolog, and bank
	// tools write one; encoding/xml would read it as text.
	br := bufio.NewReader(cr)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	p.raw = xml.NewDecoder(br)
	p.raw.Strict = true
	// Every token the parser reads, DecodeElement's included, passes the
	// schema checker first: the file is read as the official schema
	// defines it, so two readers of the same signed bytes cannot disagree
	// (a repeated IntrBkSttlmAmt is refused, never "last one wins").
	p.schema = isoschema.NewChecker(schema(), func() int { l, _ := p.raw.InputPos(); return l })
	p.dec = xml.NewTokenDecoder(tap{p})
	err := p.run()
	if cr.err == nil && cr.n <= lim.FileBytesMax {
		if err == nil && p.atEOF && p.docBegun {
			p.schema.Finish()
		}
		p.schemaProblems()
	}
	if cr.err != nil {
		return cr.err
	}
	if cr.n > lim.FileBytesMax {
		sink.Problem(settlement.Problem{Code: settlement.CodeFileTooLarge, Message: fmt.Sprintf("file is larger than %d bytes", lim.FileBytesMax)})
		return nil
	}
	return err
}

// countingReader counts the bytes of the file and bounds every run of
// bytes between two markup characters ('<' or '>'), which bounds each
// element's text and each tag before encoding/xml buffers it whole.
type countingReader struct {
	r       io.Reader
	n       int64
	err     error // the underlying reader's failure, never the XML's
	textMax int
	run     int
	tooLong bool
}

var errTextTooLong = errors.New("element text or tag longer than the limit")

func (c *countingReader) Read(b []byte) (int, error) {
	if c.tooLong {
		return 0, errTextTooLong
	}
	n, err := c.r.Read(b)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	for _, ch := range b[:n] {
		if ch == '<' || ch == '>' {
			c.run = 0
			continue
		}
		if c.run++; c.run > c.textMax {
			c.tooLong = true
			return n, nil // this read is delivered; the next one fails
		}
	}
	return n, err
}

type parser struct {
	lim    formats.Limits
	sink   settlement.Sink
	cr     *countingReader
	raw    *xml.Decoder // the file's tokens
	dec    *xml.Decoder // the same, through the schema checker
	schema *isoschema.Checker
	// The business application header envelope, where the file has one:
	// env, the root is an envelope; hdr checks the AppHdr subtree against
	// head.001 and schema the Document subtree; cur is the checker the
	// tokens at the current depth go to (nil: the envelope's own tokens).
	env       bool
	hdr       *isoschema.Checker
	cur       *isoschema.Checker
	rawDepth  int
	sawAppHdr bool
	appFrom   string // AppHdr/Fr/FIId/FinInstnId/BICFI, checked against the sender
	docBegun  bool
	rootSeen  bool
	atEOF     bool // the parser read to the end (it stops early on what makes the rest meaningless)
	// notADocument: a problem that makes the file no pacs.008 document
	// was reported (see schemaProblems).
	notADocument bool
	bics         settlement.BICTable

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
}

// schema is the pacs.008.001.08 schema's tables.
func schema() *isoschema.Schema {
	s, ok := isoschema.Lookup("pacs.008.001.08")
	if !ok {
		panic("pacs008: no schema tables for pacs.008.001.08")
	}
	return s
}

// tap passes the file's tokens to the schema checker on their way to the
// parser.
type tap struct{ p *parser }

func (t tap) Token() (xml.Token, error) {
	tok, err := t.p.raw.Token()
	if err == nil {
		t.p.route(tok)
	}
	return tok, err
}

// route hands a token to the checker of the subtree it belongs to. A bare
// Document is checked whole. In an envelope the envelope element itself is
// no ISO 20022 element (any name is allowed): its AppHdr child is checked
// against head.001, its Document child against pacs.008, and the tokens
// between them are the parser's to judge.
func (p *parser) route(tok xml.Token) {
	switch t := tok.(type) {
	case xml.StartElement:
		switch {
		case p.rawDepth == 0 && !p.rootSeen:
			p.rootSeen = true
			p.env = t.Name.Local != "Document"
			if !p.env {
				p.cur, p.docBegun = p.schema, true
			}
		case p.env && p.rawDepth == 1:
			p.cur = nil
			if msg, ok := AppHdrNamespaces[t.Name.Space]; ok && t.Name.Local == "AppHdr" && p.hdr == nil {
				if s, ok := isoschema.Lookup(msg); ok {
					p.hdr = isoschema.NewChecker(s, func() int { l, _ := p.raw.InputPos(); return l })
					p.cur = p.hdr
				}
			} else if t.Name.Local == "Document" && t.Name.Space == Namespace && !p.docBegun {
				p.cur, p.docBegun = p.schema, true
			}
		}
		p.rawDepth++
		if p.cur != nil {
			p.cur.Token(tok)
		}
	case xml.EndElement:
		if p.cur != nil {
			p.cur.Token(tok)
		}
		p.rawDepth--
		if p.env && p.rawDepth <= 1 {
			p.cur = nil
		}
	default:
		if p.cur != nil {
			p.cur.Token(tok)
		} else if d, ok := tok.(xml.Directive); ok && p.rawDepth == 0 {
			p.schema.Token(d) // a DOCTYPE before any root: refused as ever
		}
	}
}

var txPath = regexp.MustCompile(`^/Document/FIToFICstmrCdtTrf/CdtTrfTxInf(?:\[([0-9]+)\])?(/|$)`)

// schemaProblems reports what the schema refused, each with the element's
// path and line; inside a CdtTrfTxInf the problem's line is the
// transaction's index, as for every other problem of the format. A file
// that is not one well-formed pacs.008 document at all (empty, not XML,
// another root, a DTD) is told that alone: the schema's view of it would
// only repeat it.
func (p *parser) schemaProblems() {
	if p.notADocument {
		return
	}
	if p.hdr != nil {
		for _, v := range p.hdr.Violations() {
			field := v.Path[strings.LastIndexByte(v.Path, '/')+1:]
			if i := strings.IndexByte(field, '['); i > 0 {
				field = field[:i]
			}
			p.problem(0, field, settlement.CodeSchema, "%s (XML line %d): %s", v.Path, v.Line, v.Message)
		}
		if n := p.hdr.Dropped(); n > 0 {
			p.problem(0, "AppHdr", settlement.CodeSchema, "%d more schema violations of the AppHdr not listed", n)
		}
	}
	for _, v := range p.schema.Violations() {
		line := 0
		if m := txPath.FindStringSubmatch(v.Path); m != nil {
			line = 1
			if m[1] != "" {
				line, _ = strconv.Atoi(m[1])
			}
		}
		field := v.Path[strings.LastIndexByte(v.Path, '/')+1:]
		if i := strings.IndexByte(field, '['); i > 0 {
			field = field[:i]
		}
		p.problem(line, field, settlement.CodeSchema, "%s (XML line %d): %s", v.Path, v.Line, v.Message)
	}
	if n := p.schema.Dropped(); n > 0 {
		p.problem(0, "", settlement.CodeSchema, "%d more schema violations not listed", n)
	}
}

func (p *parser) problem(line int, field, code, format string, args ...any) {
	switch code {
	case settlement.CodeXMLDocument, settlement.CodeFileEmpty, settlement.CodeXMLSyntax, settlement.CodeEncoding, settlement.CodeLineTooLong:
		p.notADocument = true
	}
	p.sink.Problem(settlement.Problem{Line: line, Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) run() error {
	depth := 0
	base := 0 // 1 inside an envelope: the Document is one level down
	sawDoc, sawMsg := false, false
	for {
		tok, err := p.dec.Token()
		if err == io.EOF {
			p.atEOF = true
			break
		}
		if err != nil {
			p.syntax(err)
			return nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if sawDoc || p.sawAppHdr {
					p.problem(0, "", settlement.CodeXMLDocument, "a second root element %s after the Document; a file is one document", clip(t.Name.Local))
					return nil
				}
				if p.env {
					continue // an envelope: its children are read below
				}
				if t.Name.Space != Namespace {
					p.problem(0, "", settlement.CodeXMLDocument, "root element is {%s}%s; a file is one {%s}Document", clip(t.Name.Space), clip(t.Name.Local), Namespace)
					return nil
				}
				sawDoc = true
			case p.env && depth == 2:
				stop, err := p.envelopeChild(&t, sawDoc)
				if err != nil {
					p.syntax(err)
					return nil
				}
				if stop {
					return nil
				}
				if t.Name.Local == "Document" {
					sawDoc, base = true, 1
				} else {
					depth-- // the AppHdr was read whole
				}
			case depth == 2+base:
				if t.Name.Local != "FIToFICstmrCdtTrf" || sawMsg {
					p.problem(0, "", settlement.CodeXMLDocument, "Document holds %s; it must hold exactly one FIToFICstmrCdtTrf", clip(t.Name.Local))
					return nil
				}
				sawMsg = true
			case depth == 3+base && t.Name.Local == "GrpHdr":
				if err := p.groupHeader(&t); err != nil {
					p.syntax(err)
					return nil
				}
				depth--
			case depth == 3+base && t.Name.Local == "CdtTrfTxInf":
				p.txs++
				if p.txs > p.lim.RecordsMax {
					p.problem(int(p.txs), "", settlement.CodeTooManyRecords, "file has more than %d transactions; split it", p.lim.RecordsMax)
					return nil
				}
				if err := p.transaction(&t); err != nil {
					p.syntax(err)
					return nil
				}
				depth--
			default:
				if err := p.dec.Skip(); err != nil {
					p.syntax(err)
					return nil
				}
				depth--
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth <= 2+base && len(bytes.TrimSpace(t)) > 0 {
				p.problem(int(p.txs), "", settlement.CodeXMLDocument, "text outside the elements of the message")
				return nil
			}
		case xml.ProcInst, xml.Comment:
		case xml.Directive:
			p.problem(0, "", settlement.CodeXMLDocument, "DTD or other directive: not allowed in a payment file")
			return nil
		}
	}
	if p.env && !sawDoc {
		p.problem(0, "Document", settlement.CodeAppHdr, "the envelope holds no {%s}Document after its AppHdr", Namespace)
		return nil
	}
	if !sawDoc {
		p.problem(0, "", settlement.CodeFileEmpty, "no XML document in the file")
		return nil
	}
	if !p.sawHeader {
		p.problem(0, "GrpHdr", settlement.CodeHeaderMissing, "no GrpHdr")
		return nil
	}
	if p.pending { // no transaction to complete it (the schema refuses that too)
		p.pending = false
		p.problem(0, "GrpHdr", settlement.CodeXMLElement, "the group has no IntrBkSttlmDt or InstgAgt, and no transaction gives them")
		p.sink.Header(&p.header, false)
	}
	p.sink.Trailer(&p.trailer, p.trailerOK)
	return nil
}

// envelopeChild reads one child of a business application header
// envelope: first one AppHdr (decoded whole here), then one Document
// (whose content the caller reads). Anything else ends the file's reading
// with APP_HDR; stop says so.
func (p *parser) envelopeChild(t *xml.StartElement, sawDoc bool) (stop bool, err error) {
	name := "{" + clip(t.Name.Space) + "}" + clip(t.Name.Local)
	switch {
	case sawDoc:
		p.problem(0, "", settlement.CodeAppHdr, "%s after the Document: an envelope holds one AppHdr, then one Document, and nothing else", name)
		return true, nil
	case t.Name.Local == "Document" && !p.sawAppHdr:
		p.problem(0, "AppHdr", settlement.CodeAppHdr, "the envelope's Document comes without an AppHdr before it")
		return true, nil
	case t.Name.Local == "Document" && t.Name.Space != Namespace:
		p.problem(0, "", settlement.CodeXMLDocument, "the envelope holds %s; this format reads {%s}Document", name, Namespace)
		return true, nil
	case t.Name.Local == "Document":
		return false, nil
	case t.Name.Local != "AppHdr":
		p.problem(0, "", settlement.CodeXMLDocument, "the root element holds %s: a file is one {%s}Document, or an envelope of one AppHdr and one Document", name, Namespace)
		return true, nil
	case AppHdrNamespaces[t.Name.Space] == "":
		p.problem(0, "AppHdr", settlement.CodeAppHdr, "AppHdr in namespace %q: the contract reads head.001.001.02 and head.001.001.03", clip(t.Name.Space))
		return true, nil
	case p.sawAppHdr:
		p.problem(0, "AppHdr", settlement.CodeAppHdr, "a second AppHdr: an envelope holds one")
		return true, nil
	}
	p.sawAppHdr = true
	var h appHdr
	if err := p.dec.DecodeElement(&h, t); err != nil {
		return false, err
	}
	switch {
	case h.MsgDefIdr == nil:
		p.problem(0, "AppHdr/MsgDefIdr", settlement.CodeAppHdr, "the AppHdr has no MsgDefIdr")
	case strings.TrimSpace(*h.MsgDefIdr) != Message:
		p.problem(0, "AppHdr/MsgDefIdr", settlement.CodeAppHdr, "MsgDefIdr %q does not name the Document's message %s", clip(*h.MsgDefIdr), Message)
	}
	if h.From == nil || strings.TrimSpace(h.From.BICFI) == "" {
		p.problem(0, "AppHdr/Fr/FIId/FinInstnId/BICFI", settlement.CodeAppHdr, "the AppHdr's Fr names no FIId/FinInstnId/BICFI: it must name the sender")
		p.appFrom = "-" // never equal to a sender
	} else {
		p.appFrom = strings.TrimSpace(h.From.BICFI)
	}
	return false, nil
}

// emitHeader hands the header on once its sender is known, checked
// against the AppHdr's Fr where the file has an envelope.
func (p *parser) emitHeader() {
	if p.sawAppHdr && p.appFrom != "-" && p.header.Sender != "" && p.appFrom != string(p.header.Sender) {
		p.problem(0, "AppHdr/Fr/FIId/FinInstnId/BICFI", settlement.CodeAppHdr, "the AppHdr is from %s, the document's sender is %s", clip(p.appFrom), p.header.Sender)
		p.headerOK = false
	}
	p.sink.Header(&p.header, p.headerOK)
}

func (p *parser) syntax(err error) {
	line, _ := p.raw.InputPos()
	if p.cr.tooLong {
		p.problem(int(p.txs), "", settlement.CodeLineTooLong, "XML line %d: an element's text or a tag is longer than %d bytes", line, p.lim.LineBytesMax)
		return
	}
	code := settlement.CodeXMLSyntax
	msg := err.Error()
	if strings.Contains(msg, "encoding") || strings.Contains(msg, "UTF-8") {
		code = settlement.CodeEncoding
	}
	if p.cr.n > p.lim.FileBytesMax {
		return // reported as FILE_TOO_LARGE
	}
	p.problem(int(p.txs), "", code, "XML line %d: %s", line, clip(msg))
}

func (p *parser) groupHeader(start *xml.StartElement) error {
	if p.sawHeader {
		p.problem(0, "GrpHdr", settlement.CodeRecordOrder, "second GrpHdr")
		return p.dec.Skip()
	}
	if p.txs > 0 {
		p.problem(0, "GrpHdr", settlement.CodeRecordOrder, "GrpHdr after the first CdtTrfTxInf; it comes first")
	}
	p.sawHeader = true
	var g groupHeader
	if err := p.dec.DecodeElement(&g, start); err != nil {
		return err
	}
	h := settlement.Header{}
	ok := true
	need := func(v *string, field string) (string, bool) {
		if v == nil {
			p.problem(0, field, settlement.CodeXMLElement, "GrpHdr has no %s", field)
			return "", false
		}
		return strings.TrimSpace(*v), true
	}
	if s, have := need(g.MsgID, "MsgId"); have {
		if settlement.ValidFileID([]byte(s)) {
			h.FileID = s
		} else {
			p.problem(0, "MsgId", settlement.CodeFileID, "%q: %v", clip(s), settlement.ErrFileID)
			ok = false
		}
	} else {
		ok = false
	}
	if g.InstgAgt != nil && g.InstgAgt.BICFI != "" {
		if b, err := p.bics.Parse([]byte(strings.TrimSpace(g.InstgAgt.BICFI))); err == nil {
			h.Sender, p.sender = b, b
			p.groupSender = string(b)
		} else {
			p.problem(0, "InstgAgt/FinInstnId/BICFI", settlement.CodeBIC, "%v", err)
			ok = false
		}
	}
	if g.IntrBkSttlmDt != nil {
		s := strings.TrimSpace(*g.IntrBkSttlmDt)
		if d, err := settlement.ParseDate(s); err == nil {
			h.BusinessDate = d
			p.groupDate, p.date = s, s
		} else {
			p.problem(0, "IntrBkSttlmDt", settlement.CodeDate, "%v", err)
			ok = false
		}
	}
	if s, have := need(g.CreDtTm, "CreDtTm"); have {
		if t, err := settlement.ParseLocalTimestamp(s, p.lim.Zone); err == nil {
			h.CreatedAt = t
		} else {
			p.problem(0, "CreDtTm", settlement.CodeTimestamp, "%v", err)
			ok = false
		}
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
	if s, have := need(g.NbOfTxs, "NbOfTxs"); have {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || s[0] == '+' || s[0] == '-' {
			p.problem(0, "NbOfTxs", settlement.CodeEntryCount, "%q is not a count", clip(s))
			tok = false
		}
		t.Count = n
	} else {
		tok = false
	}
	if g.CtrlSum == nil {
		t.NoControlSum = true // optional in ISO 20022: the sum computed is reported
	} else {
		s := strings.TrimSpace(*g.CtrlSum)
		d, err := settlement.ParseControlSum([]byte(s))
		if err != nil {
			p.problem(0, "CtrlSum", settlement.CodeControlSum, "%q: %v", clip(s), err)
			tok = false
		}
		t.ControlSum = d
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
	if err := p.dec.DecodeElement(&tx, start); err != nil {
		return err
	}
	e := &p.entry
	*e = settlement.Entry{Line: line, Kind: settlement.KindPayment}
	if p.pending {
		p.firstTransaction(line, &tx)
	}
	ok := p.sawHeader
	if tx.EndToEndID == nil {
		p.problem(line, "PmtId/EndToEndId", settlement.CodeXMLElement, "no PmtId/EndToEndId (the payment id)")
		ok = false
	} else if id := strings.TrimSpace(*tx.EndToEndID); settlement.ValidPaymentID([]byte(id)) {
		e.ID = id
	} else {
		p.problem(line, "PmtId/EndToEndId", settlement.CodePaymentID, "%q: %v", clip(id), settlement.ErrPaymentID)
		ok = false
	}
	ok = p.agent(line, "DbtrAgt/FinInstnId/BICFI", tx.DbtrAgt, &e.Debtor) && ok
	ok = p.agent(line, "CdtrAgt/FinInstnId/BICFI", tx.CdtrAgt, &e.Creditor) && ok
	if tx.IntrBkSttlmAmt == nil {
		p.problem(line, "IntrBkSttlmAmt", settlement.CodeXMLElement, "no IntrBkSttlmAmt")
		ok = false
	} else {
		c, err := settlement.ParseCurrency(tx.IntrBkSttlmAmt.Ccy)
		if err != nil {
			p.problem(line, "IntrBkSttlmAmt/@Ccy", settlement.CodeCurrency, "%q: %v", clip(tx.IntrBkSttlmAmt.Ccy), settlement.ErrCurrency)
			ok = false
		}
		e.Currency = c
		v := strings.TrimSpace(tx.IntrBkSttlmAmt.Value)
		if d, err := settlement.ParseAmount([]byte(v), c); err == nil {
			e.Amount = d
		} else {
			p.problem(line, "IntrBkSttlmAmt", settlement.AmountCode(err), "%q: %v", clip(v), err)
			ok = false
		}
	}
	ok = p.dateAndSender(line, &tx) && ok
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
		p.problem(line, "IntrBkSttlmDt", settlement.CodeDateMismatch, "transaction date %q differs from %s %s", clip(*tx.IntrBkSttlmDt), whose, p.date)
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
	if a == nil || a.BICFI == "" {
		p.problem(line, field, settlement.CodeXMLElement, "no %s", field)
		return false
	}
	b, err := p.bics.Parse([]byte(strings.TrimSpace(a.BICFI)))
	if err != nil {
		p.problem(line, field, settlement.CodeBIC, "%v", err)
		return false
	}
	*dst = b
	return true
}

func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

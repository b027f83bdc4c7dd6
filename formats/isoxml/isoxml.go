// Package isoxml reads the ISO 20022 files of the bank contract: one
// Document, bare or in a business application header envelope, checked
// token by token against the official schema of its namespace and handed,
// one child element of its message at a time, to the parser of that
// message (pacs.008 payments, pacs.007 reversals). It owns what every
// message shares: the size and text limits, the byte order mark, the
// envelope and its AppHdr, the schema checkers, and the problems a file
// gets for not being one document at all. Memory does not grow with the
// file: each child is decoded and dropped.
package isoxml

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

	"settle/formats"
	"settle/formats/isoschema"
	"settle/settlement"
)

// NamespacePrefix starts the namespace of every ISO 20022 message.
const NamespacePrefix = "urn:iso:std:iso:20022:tech:xsd:"

// AppHdrNamespaces are the business application header versions accepted
// in an envelope before the Document.
var AppHdrNamespaces = map[string]string{
	NamespacePrefix + "head.001.001.02": "head.001.001.02",
	NamespacePrefix + "head.001.001.03": "head.001.001.03",
}

// Message is one message the contract reads.
type Message struct {
	Name    string // e.g. "pacs.008.001.08": its namespace's last part, and what an AppHdr's MsgDefIdr names
	Element string // the Document's one child, e.g. "FIToFICstmrCdtTrf"
	Entry   string // the element of one entry, e.g. "CdtTrfTxInf": problems inside one carry its index
	// Fields name the message's fields in problems (set on the sink where
	// it takes them, before any problem).
	Fields *settlement.Fields
	// Begin makes the parser of one document of the message.
	Begin func(r *Reader) Handler
}

// Namespace is the message's XML namespace.
func (m *Message) Namespace() string { return NamespacePrefix + m.Name }

// Handler parses the children of one message element.
type Handler interface {
	// Child reads one child element of the message whole (decoding or
	// skipping it through r.Dec).
	Child(start *xml.StartElement) error
	// End runs once the whole document was read.
	End()
	// Line is the index of the entry being read (0 before the first),
	// for problems that belong to no element.
	Line() int
}

// FieldsSink is a sink that names fields as the message does (the
// settlement file check is one).
type FieldsSink interface {
	SetFields(*settlement.Fields)
}

// Reader is one file being read, as the message's Handler sees it.
type Reader struct {
	Lim  formats.Limits
	Sink settlement.Sink
	Dec  *xml.Decoder // the file's tokens through the schema checker: decode children with it
	// AppFrom is AppHdr/Fr/FIId/FinInstnId/BICFI where the file has an
	// envelope ("" where it has none; "-" where the AppHdr names no bank).
	AppFrom string

	msgDefIdr string    // the AppHdr's MsgDefIdr
	bindings  []binding // namespace prefixes in scope (see tap)
	bound     []int     // how many bindings each open element made
	attrBuf   []xml.Attr

	msgs         []*Message
	msg          *Message
	cr           *countingReader
	raw          *xml.Decoder
	schema       *isoschema.Checker // the Document's
	hdr          *isoschema.Checker // the AppHdr's
	cur          *isoschema.Checker // where the current token goes (nil: the envelope's own)
	rawDepth     int
	rootSeen     bool
	env          bool
	docBegun     bool
	sawAppHdr    bool
	atEOF        bool
	notADocument bool
	handler      Handler
	entryPath    *regexp.Regexp
	bics         settlement.BICTable
}

// Parse reads one ISO 20022 file from r and reports it to sink, through
// the parser of whichever of msgs its Document's namespace names. It
// returns an error only when r itself fails.
func Parse(r io.Reader, lim formats.Limits, sink settlement.Sink, msgs ...*Message) error {
	lim = lim.Or(formats.DefaultLimits)
	cr := &countingReader{r: io.LimitReader(r, lim.FileBytesMax+1), textMax: lim.LineBytesMax}
	p := &Reader{Lim: lim, Sink: sink, cr: cr, msgs: msgs}
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
	p.Dec = xml.NewTokenDecoder(tap{p})
	err := p.run()
	if cr.err == nil && cr.n <= lim.FileBytesMax && p.schema != nil {
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

// ErrStop, from a Handler, ends the reading of a file whose problem the
// handler has reported (too many records, say).
var ErrStop = errors.New("isoxml: stop reading")

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

// tap passes the file's tokens to the schema checkers on their way to the
// parser. The file is tokenized once, without namespace translation
// (RawToken); the decoder the parser reads from (Dec) translates the names
// and checks that every element is closed by its own end tag, as a
// decoder of the bytes would. The checkers need the names translated too:
// tap keeps the namespace bindings in scope for them, by the rules
// encoding/xml follows (xmlns and xmlns:p on an element bind for it and
// its content; an unprefixed element is in the default namespace, an
// unprefixed attribute in none; "xml" is the XML namespace). Translating
// twice in one pass costs less than decoding every token twice.
type tap struct{ p *Reader }

// binding is one namespace prefix bound in scope, with what it hid.
type binding struct {
	prefix, uri string
}

const xmlURL = "http://www.w3.org/XML/1998/namespace"

func (t tap) Token() (xml.Token, error) {
	p := t.p
	tok, err := p.raw.RawToken()
	if err != nil {
		return tok, err
	}
	switch e := tok.(type) {
	case xml.StartElement:
		n := 0
		for _, a := range e.Attr {
			switch {
			case a.Name.Space == "xmlns":
				p.bindings = append(p.bindings, binding{a.Name.Local, a.Value})
				n++
			case a.Name.Space == "" && a.Name.Local == "xmlns":
				p.bindings = append(p.bindings, binding{"", a.Value})
				n++
			}
		}
		p.bound = append(p.bound, n)
		c := e
		c.Name = p.translate(e.Name, true)
		if len(e.Attr) > 0 {
			// The checker keeps no attribute: one buffer serves them all.
			p.attrBuf = p.attrBuf[:0]
			for _, a := range e.Attr {
				p.attrBuf = append(p.attrBuf, xml.Attr{Name: p.translate(a.Name, false), Value: a.Value})
			}
			c.Attr = p.attrBuf
		}
		p.routeStart(c)
	case xml.EndElement:
		p.routeEnd()
		if k := len(p.bound); k > 0 {
			p.bindings = p.bindings[:len(p.bindings)-p.bound[k-1]]
			p.bound = p.bound[:k-1]
		}
	case xml.CharData:
		if p.cur != nil {
			p.cur.Chars(e)
		}
	default:
		p.routeOther(tok)
	}
	return tok, nil
}

// translate is encoding/xml's translation of a name by the bindings in
// scope: a prefix to its namespace, an unprefixed element to the default
// one; an unknown prefix stays as it is.
func (p *Reader) translate(n xml.Name, element bool) xml.Name {
	switch {
	case n.Space == "xmlns":
		return n
	case n.Space == "" && !element:
		return n
	case n.Space == "xml":
		n.Space = xmlURL
		return n
	case n.Space == "" && n.Local == "xmlns":
		return n
	}
	for i := len(p.bindings) - 1; i >= 0; i-- {
		if p.bindings[i].prefix == n.Space {
			n.Space = p.bindings[i].uri
			return n
		}
	}
	return n
}

func (p *Reader) lineNow() int { l, _ := p.raw.InputPos(); return l }

// routeStart hands a start element to the checker of the subtree it
// belongs to (routeEnd and routeOther the other tokens). A bare Document
// is checked whole. In an envelope the envelope element itself is no ISO
// 20022 element (any name is allowed): its AppHdr child is checked
// against head.001, its Document child against its message's schema, and
// the tokens between them are the parser's to judge.
func (p *Reader) routeStart(t xml.StartElement) {
	switch {
	case p.rawDepth == 0 && !p.rootSeen:
		p.rootSeen = true
		p.env = t.Name.Local != "Document"
		if !p.env {
			p.beginDocument(t)
		}
	case p.env && p.rawDepth == 1:
		p.cur = nil
		if msg, ok := AppHdrNamespaces[t.Name.Space]; ok && t.Name.Local == "AppHdr" && p.hdr == nil && !p.docBegun {
			if s, ok := isoschema.Lookup(msg); ok {
				p.hdr = isoschema.NewChecker(s, p.lineNow)
				p.cur = p.hdr
			}
		} else if t.Name.Local == "Document" && !p.docBegun && p.sawAppHdr {
			p.beginDocument(t)
		}
	}
	p.rawDepth++
	if p.cur != nil {
		p.cur.Start(t)
	}
}

func (p *Reader) routeEnd() {
	if p.cur != nil {
		p.cur.End()
	}
	p.rawDepth--
	if p.env && p.rawDepth <= 1 {
		p.cur = nil
	}
}

func (p *Reader) routeOther(tok xml.Token) {
	if _, ok := tok.(xml.Directive); ok && p.rawDepth == 0 && p.schema == nil {
		// A DOCTYPE before the root: the parser refuses it, and no
		// schema is given a file that is no document.
		return
	}
	if p.cur != nil {
		p.cur.Token(tok)
	}
}

// beginDocument picks the message by the Document's namespace and starts
// checking against its schema (nothing, for a namespace the contract does
// not read: the parser says so).
func (p *Reader) beginDocument(t xml.StartElement) {
	for _, m := range p.msgs {
		if t.Name.Space == m.Namespace() {
			s, ok := isoschema.Lookup(m.Name)
			if !ok {
				panic("isoxml: no schema tables for " + m.Name)
			}
			p.msg = m
			p.schema = isoschema.NewChecker(s, p.lineNow)
			p.cur, p.docBegun = p.schema, true
			p.entryPath = regexp.MustCompile(`^/Document/` + m.Element + `/` + m.Entry + `(?:\[([0-9]+)\])?(/|$)`)
			if fs, ok := p.Sink.(FieldsSink); ok && m.Fields != nil {
				fs.SetFields(m.Fields)
			}
			return
		}
	}
}

// schemaProblems reports what the schemas refused, each with the element's
// path and line; inside an entry the problem's line is the entry's index,
// as for every other problem of the format. A file that is not one
// well-formed document at all (empty, not XML, another root, a DTD) is told
// that alone: the schema's view of it would only repeat it.
func (p *Reader) schemaProblems() {
	if p.notADocument {
		return
	}
	if p.hdr != nil {
		for _, v := range p.hdr.Violations() {
			p.Problem(0, lastStep(v.Path), settlement.CodeSchema, "%s (XML line %d): %s", v.Path, v.Line, v.Message)
		}
		if n := p.hdr.Dropped(); n > 0 {
			p.Problem(0, "AppHdr", settlement.CodeSchema, "%d more schema violations of the AppHdr not listed", n)
		}
	}
	for _, v := range p.schema.Violations() {
		line := 0
		if m := p.entryPath.FindStringSubmatch(v.Path); m != nil {
			line = 1
			if m[1] != "" {
				line, _ = strconv.Atoi(m[1])
			}
		}
		p.Problem(line, lastStep(v.Path), settlement.CodeSchema, "%s (XML line %d): %s", v.Path, v.Line, v.Message)
	}
	if n := p.schema.Dropped(); n > 0 {
		p.Problem(0, "", settlement.CodeSchema, "%d more schema violations not listed", n)
	}
}

// lastStep is a path's last element name, without its index.
func lastStep(path string) string {
	field := path[strings.LastIndexByte(path, '/')+1:]
	if i := strings.IndexByte(field, '['); i > 0 {
		field = field[:i]
	}
	return field
}

// Problem reports a problem of the file.
func (p *Reader) Problem(line int, field, code, format string, args ...any) {
	switch code {
	case settlement.CodeXMLDocument, settlement.CodeFileEmpty, settlement.CodeXMLSyntax, settlement.CodeEncoding,
		settlement.CodeLineTooLong, settlement.CodeFormat:
		p.notADocument = true
	}
	p.Sink.Problem(settlement.Problem{Line: line, Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (p *Reader) line() int {
	if p.handler == nil {
		return 0
	}
	return p.handler.Line()
}

// run reads the file token by token: the Document (or an envelope of an
// AppHdr and a Document), its one message element, and each child of the
// message handed to the handler. Problems go to the sink; run itself
// never fails.
func (p *Reader) run() error {
	var w walk
	for {
		tok, err := p.Dec.Token()
		if err == io.EOF {
			p.atEOF = true
			break
		}
		if err != nil {
			p.Syntax(err)
			return nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if p.startElement(&w, &t) {
				return nil
			}
		case xml.EndElement:
			w.depth--
		case xml.CharData:
			if w.depth <= 2+w.base && len(bytes.TrimSpace(t)) > 0 {
				p.Problem(p.line(), "", settlement.CodeXMLDocument, "text outside the elements of the message")
				return nil
			}
		case xml.ProcInst, xml.Comment:
		case xml.Directive:
			p.Problem(0, "", settlement.CodeXMLDocument, "DTD or other directive: not allowed in a payment file")
			return nil
		}
	}
	if p.env && !w.sawDoc {
		p.Problem(0, "Document", settlement.CodeAppHdr, "the envelope holds no Document after its AppHdr")
		return nil
	}
	if !w.sawDoc {
		p.Problem(0, "", settlement.CodeFileEmpty, "no XML document in the file")
		return nil
	}
	p.handler.End()
	return nil
}

// walk is where run is in the file's element tree.
type walk struct {
	depth          int
	base           int // 1 inside an envelope: the Document is one level down
	sawDoc, sawMsg bool
}

// startElement reads a start element according to its depth: the root, an
// envelope's child, the message element, a child of the message (handed
// to the handler), or anything deeper (skipped). stop is true when the
// file is not to be read further.
func (p *Reader) startElement(w *walk, t *xml.StartElement) (stop bool) {
	w.depth++
	switch {
	case w.depth == 1:
		if w.sawDoc || p.sawAppHdr {
			p.Problem(0, "", settlement.CodeXMLDocument, "a second root element %s after the Document; a file is one document", Clip(t.Name.Local))
			return true
		}
		if p.env {
			return false // an envelope: its children are read below
		}
		if !p.document(t) {
			return true
		}
		w.sawDoc = true
	case p.env && w.depth == 2:
		stop, err := p.envelopeChild(t, w.sawDoc)
		if err != nil {
			p.Syntax(err)
			return true
		}
		if stop {
			return true
		}
		if t.Name.Local == "Document" {
			w.sawDoc, w.base = true, 1
		} else {
			w.depth-- // the AppHdr was read whole
		}
	case w.depth == 2+w.base:
		if t.Name.Local != p.msg.Element || w.sawMsg {
			p.Problem(0, "", settlement.CodeXMLDocument, "Document holds %s; it must hold exactly one %s", Clip(t.Name.Local), p.msg.Element)
			return true
		}
		w.sawMsg = true
	case w.depth == 3+w.base:
		if err := p.handler.Child(t); err != nil {
			if !errors.Is(err, ErrStop) {
				p.Syntax(err)
			}
			return true
		}
		w.depth--
	default:
		if err := p.Dec.Skip(); err != nil {
			p.Syntax(err)
			return true
		}
		w.depth--
	}
	return false
}

// document starts reading a Document element: one of a message the
// contract reads, else UNSUPPORTED_FORMAT.
func (p *Reader) document(t *xml.StartElement) bool {
	if t.Name.Local != "Document" {
		p.Problem(0, "", settlement.CodeXMLDocument, "root element is {%s}%s; a file is one Document, or an envelope of one AppHdr and one Document", Clip(t.Name.Space), Clip(t.Name.Local))
		return false
	}
	if p.msg == nil {
		var names []string
		for _, m := range p.msgs {
			names = append(names, m.Namespace())
		}
		p.Problem(0, "", settlement.CodeFormat, "a Document in namespace %q; the contract reads %s", Clip(t.Name.Space), strings.Join(names, " and "))
		return false
	}
	p.handler = p.msg.Begin(p)
	return true
}

// appHdr is what the reader takes of a business application header: who
// sends, and which message follows. Fr is a choice of OrgId or FIId.
type appHdr struct {
	From *struct {
		BICFI string `xml:"FinInstnId>BICFI"`
	} `xml:"Fr>FIId"`
	MsgDefIdr *string `xml:"MsgDefIdr"`
}

// envelopeChild reads one child of a business application header
// envelope: first one AppHdr (decoded whole here), then one Document
// (whose content the caller reads). Anything else ends the file's reading;
// stop says so.
func (p *Reader) envelopeChild(t *xml.StartElement, sawDoc bool) (stop bool, err error) {
	name := "{" + Clip(t.Name.Space) + "}" + Clip(t.Name.Local)
	switch {
	case sawDoc:
		p.Problem(0, "", settlement.CodeAppHdr, "%s after the Document: an envelope holds one AppHdr, then one Document, and nothing else", name)
		return true, nil
	case t.Name.Local == "Document" && !p.sawAppHdr:
		p.Problem(0, "AppHdr", settlement.CodeAppHdr, "the envelope's Document comes without an AppHdr before it")
		return true, nil
	case t.Name.Local == "Document":
		if !p.document(t) {
			return true, nil
		}
		if p.msgDefIdr != "" && p.msgDefIdr != p.msg.Name {
			p.Problem(0, "AppHdr/MsgDefIdr", settlement.CodeAppHdr, "MsgDefIdr %q does not name the Document's message %s", Clip(p.msgDefIdr), p.msg.Name)
		}
		return false, nil
	case t.Name.Local != "AppHdr":
		p.Problem(0, "", settlement.CodeXMLDocument, "the root element holds %s: a file is one Document, or an envelope of one AppHdr and one Document", name)
		return true, nil
	case AppHdrNamespaces[t.Name.Space] == "":
		p.Problem(0, "AppHdr", settlement.CodeAppHdr, "AppHdr in namespace %q: the contract reads head.001.001.02 and head.001.001.03", Clip(t.Name.Space))
		return true, nil
	case p.sawAppHdr:
		p.Problem(0, "AppHdr", settlement.CodeAppHdr, "a second AppHdr: an envelope holds one")
		return true, nil
	}
	p.sawAppHdr = true
	var h appHdr
	if err := p.Dec.DecodeElement(&h, t); err != nil {
		return false, err
	}
	if h.MsgDefIdr == nil {
		p.Problem(0, "AppHdr/MsgDefIdr", settlement.CodeAppHdr, "the AppHdr has no MsgDefIdr")
	} else {
		p.msgDefIdr = strings.TrimSpace(*h.MsgDefIdr)
	}
	if h.From == nil || strings.TrimSpace(h.From.BICFI) == "" {
		p.Problem(0, "AppHdr/Fr/FIId/FinInstnId/BICFI", settlement.CodeAppHdr, "the AppHdr's Fr names no FIId/FinInstnId/BICFI: it must name the sender")
		p.AppFrom = "-" // never equal to a sender
	} else {
		p.AppFrom = strings.TrimSpace(h.From.BICFI)
	}
	return false, nil
}

// CheckFrom checks the document's sender against the AppHdr's Fr, where
// the file has an envelope: false (and APP_HDR) where they differ.
func (p *Reader) CheckFrom(sender settlement.BIC) bool {
	if p.AppFrom == "" || p.AppFrom == "-" || sender == "" || p.AppFrom == string(sender) {
		return true
	}
	p.Problem(0, "AppHdr/Fr/FIId/FinInstnId/BICFI", settlement.CodeAppHdr, "the AppHdr is from %s, the document's sender is %s", Clip(p.AppFrom), sender)
	return false
}

// Syntax reports the decoder's failure: a syntax error, an encoding the
// contract does not allow, or text past the length limit.
func (p *Reader) Syntax(err error) {
	line, _ := p.raw.InputPos()
	if p.cr.tooLong {
		p.Problem(p.line(), "", settlement.CodeLineTooLong, "XML line %d: an element's text or a tag is longer than %d bytes", line, p.Lim.LineBytesMax)
		return
	}
	code := settlement.CodeXMLSyntax
	msg := err.Error()
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		msg = se.Msg // its line is the decoder's that found it, which may not read bytes: ours is below
	}
	if strings.Contains(msg, "encoding") || strings.Contains(msg, "UTF-8") {
		code = settlement.CodeEncoding
	}
	if p.cr.n > p.Lim.FileBytesMax {
		return // reported as FILE_TOO_LARGE
	}
	p.Problem(p.line(), "", code, "XML line %d: %s", line, Clip(msg))
}

// Agent reads a BICFI into dst: false (and the problem reported) where it
// is missing or not a BIC.
func (p *Reader) Agent(line int, field string, bicfi *string, dst *settlement.BIC) bool {
	if bicfi == nil || *bicfi == "" {
		p.Problem(line, field, settlement.CodeXMLElement, "no %s", field)
		return false
	}
	b, err := p.bics.Parse([]byte(strings.TrimSpace(*bicfi)))
	if err != nil {
		p.Problem(line, field, settlement.CodeBIC, "%v", err)
		return false
	}
	*dst = b
	return true
}

// Clip cuts what a file wrote to a length fit for a message.
func Clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

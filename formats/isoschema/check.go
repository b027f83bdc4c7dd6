package isoschema

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// violationsMax bounds what one check keeps; past it the document is so
// far from its schema that more detail helps nobody.
const violationsMax = 1000

// Checker checks one document (or one subtree, such as the Document or the
// AppHdr inside a business application header envelope) against a
// schema, fed the tokens of a namespace-aware, strict encoding/xml
// decoder one at a time.
type Checker struct {
	s          *Schema
	line       func() int
	stack      []*frame
	skip       int // depth inside a subtree that is not read
	done       bool
	violations []Violation
	dropped    int
	free       []*frame // frames to reuse: one allocation per depth, not per element
	valid      map[*Simple]map[string]struct{}
}

type frame struct {
	name       string
	idx        int // the element's occurrence among its siblings of that name, for its path
	t          *Type
	pos, count int // Seq: the particle reached and how often it occurred
	chosen     int // Choice: index+1 of the element taken
	children   []childCount
	missed     []string // mandatory elements reported missing: not reported again when they come late
	text       []byte
	textOver   bool
}

// childCount counts a frame's children of one name (a handful per
// element: a slice beats a map).
type childCount struct {
	name string
	n    int
}

func (f *frame) child(name string) int {
	for i := range f.children {
		if f.children[i].name == name {
			f.children[i].n++
			return f.children[i].n
		}
	}
	f.children = append(f.children, childCount{name, 1})
	return 1
}

// pathOf is the path of the stack's frames, built only for a violation.
func pathOf(stack []*frame, extra ...string) string {
	var b strings.Builder
	for _, f := range stack {
		b.WriteString("/" + f.name)
		if f.idx > 1 {
			b.WriteString("[" + strconv.Itoa(f.idx) + "]")
		}
	}
	for _, e := range extra {
		b.WriteString("/" + e)
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// NewChecker checks a document of schema s; line tells the decoder's
// current line (xml.Decoder.InputPos), for violations.
func NewChecker(s *Schema, line func() int) *Checker {
	if line == nil {
		line = func() int { return 0 }
	}
	return &Checker{s: s, line: line}
}

// Violations are the rules broken so far, in document order.
func (c *Checker) Violations() []Violation { return c.violations }

// Dropped is how many violations were found past the bound.
func (c *Checker) Dropped() int { return c.dropped }

// Done tells whether the root element has ended.
func (c *Checker) Done() bool { return c.done }

func (c *Checker) violate(path, format string, args ...any) {
	if len(c.violations) >= violationsMax {
		c.dropped++
		return
	}
	c.violations = append(c.violations, Violation{Path: path, Line: c.line(), Message: fmt.Sprintf(format, args...)})
}

// Finish reports a root element that never ended (a document cut short).
func (c *Checker) Finish() {
	if !c.done {
		c.violate(c.path(), "the document ends before its elements are closed")
	}
}

// Token checks one token.
func (c *Checker) Token(tok xml.Token) {
	switch t := tok.(type) {
	case xml.StartElement:
		c.start(t)
	case xml.EndElement:
		c.end()
	case xml.CharData:
		c.chars(t)
	case xml.Directive:
		c.violate(c.path(), "a DOCTYPE or other directive is not allowed")
	}
}

// Start, End and Chars check one token each, as Token does, without
// boxing it in an interface (the reader's hot path).
func (c *Checker) Start(se xml.StartElement) { c.start(se) }

// End checks an end element.
func (c *Checker) End() { c.end() }

// Chars checks character data.
func (c *Checker) Chars(b xml.CharData) { c.chars(b) }

func (c *Checker) path() string { return pathOf(c.stack) }

func (c *Checker) start(se xml.StartElement) {
	if c.skip > 0 {
		c.skip++
		return
	}
	name := se.Name.Local
	if len(c.stack) == 0 {
		if c.done {
			c.violate("/"+name, "a second root element")
			c.skip = 1
			return
		}
		if name != c.s.Root || se.Name.Space != c.s.Namespace {
			c.violate("/"+name, "the root must be %s in %s, not %s in %q", c.s.Root, c.s.Namespace, name, se.Name.Space)
			c.skip = 1
			return
		}
		c.push(se, 1, c.s.Types[c.s.RootType])
		return
	}
	parent := c.stack[len(c.stack)-1]
	idx := parent.child(name)
	here := func() string {
		p := name
		if idx > 1 {
			p += "[" + strconv.Itoa(idx) + "]"
		}
		return pathOf(c.stack, p)
	}
	pt := parent.t
	switch {
	case pt.Any:
		c.skip = 1 // the content of an xs:any is not read
		return
	case pt.Simple != nil:
		c.violate(here(), "no element is allowed inside %s, which holds a value", parent.name)
		c.skip = 1
		return
	}
	if se.Name.Space != c.s.Namespace {
		c.violate(here(), "element %s is in namespace %q, not the document's %s", name, se.Name.Space, c.s.Namespace)
		c.skip = 1
		return
	}
	var p *Particle
	if pt.Choice != nil {
		p = c.choose(parent, name, here)
	} else {
		p = c.next(parent, name, here)
	}
	if p == nil {
		c.skip = 1
		return
	}
	c.push(se, idx, c.s.Types[p.Type])
}

// next finds name in parent's sequence at or after the particle reached,
// reporting mandatory particles passed over; nil if name does not come
// next (out of order, unknown, or too often).
func (c *Checker) next(f *frame, name string, here func() string) *Particle {
	seq := f.t.Seq
	if f.pos < len(seq) && seq[f.pos].Name == name && f.count > 0 {
		if p := &seq[f.pos]; p.Max >= 0 && f.count >= p.Max {
			c.violate(here(), "%s may occur at most %d times here", name, p.Max)
			return nil
		}
		f.count++
		return &seq[f.pos]
	}
	from := f.pos
	if f.count > 0 {
		from++
	}
	for j := from; j < len(seq); j++ {
		if seq[j].Name != name {
			continue
		}
		// Found: what lay between must be optional.
		var missing []string
		for k := f.pos; k < j; k++ {
			occurred := 0
			if k == f.pos {
				occurred = f.count
			}
			if occurred < seq[k].Min {
				missing = append(missing, seq[k].Name)
			}
		}
		if len(missing) > 0 {
			c.violate(pathOf(c.stack, missing[0]), "mandatory %s missing before %s (or out of the schema's order)", strings.Join(missing, ", "), name)
			f.missed = append(f.missed, missing...)
		}
		f.pos, f.count = j, 1
		return &seq[j]
	}
	for k := 0; k < from && k < len(seq); k++ {
		if seq[k].Name == name {
			for _, m := range f.missed {
				if m == name {
					return nil // reported as missing already
				}
			}
			c.violate(here(), "%s is out of the schema's order (it comes before %s)", name, seq[min(f.pos, len(seq)-1)].Name)
			return nil
		}
	}
	c.violate(here(), "element %s is not allowed in %s", name, f.name)
	return nil
}

func (c *Checker) choose(f *frame, name string, here func() string) *Particle {
	for i := range f.t.Choice {
		p := &f.t.Choice[i]
		if p.Name != name {
			continue
		}
		switch {
		case f.chosen == 0:
			f.chosen, f.count = i+1, 1
			return p
		case f.chosen == i+1 && (p.Max < 0 || f.count < p.Max):
			f.count++
			return p
		case f.chosen == i+1:
			c.violate(here(), "%s may occur at most %d times here", name, p.Max)
		default:
			c.violate(here(), "%s holds one of a choice, and %s was given already", f.name, f.t.Choice[f.chosen-1].Name)
		}
		return nil
	}
	c.violate(here(), "element %s is not allowed in %s", name, f.name)
	return nil
}

func (c *Checker) push(se xml.StartElement, idx int, t *Type) {
	var f *frame
	if n := len(c.free); n > 0 {
		f, c.free = c.free[n-1], c.free[:n-1]
		*f = frame{name: se.Name.Local, idx: idx, t: t, children: f.children[:0], missed: f.missed[:0], text: f.text[:0]}
	} else {
		f = &frame{name: se.Name.Local, idx: idx, t: t}
	}
	if t == nil {
		c.violate(pathOf(append(c.stack, f)), "no type for %s in the schema tables", se.Name.Local)
		c.skip = 1
		return
	}
	c.stack = append(c.stack, f)
	if len(se.Attr) > 0 || len(t.Attrs) > 0 {
		c.attrs(se, t)
	}
}

func (c *Checker) attrs(se xml.StartElement, t *Type) {
	path := func() string { return c.path() } // only for a violation
	var seen uint64                           // t.Attrs given, by index (a type declares a handful)
	for _, a := range se.Attr {
		switch {
		case a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns"):
			continue // namespace declarations
		case a.Name.Space == "http://www.w3.org/2001/XMLSchema-instance" && a.Name.Local == "schemaLocation":
			continue
		}
		k := -1
		if a.Name.Space == "" {
			for i := range t.Attrs {
				if t.Attrs[i].Name == a.Name.Local {
					k = i
				}
			}
		}
		if k < 0 {
			c.violate(path()+"/@"+a.Name.Local, "attribute %s is not allowed on %s", a.Name.Local, se.Name.Local)
			continue
		}
		if k < 64 {
			seen |= 1 << k
		}
		decl := &t.Attrs[k]
		if at := c.s.Types[decl.Type]; at != nil && at.Simple != nil {
			if msg := c.checkValue(at.Simple, a.Value); msg != "" {
				c.violate(path()+"/@"+a.Name.Local, "%s", msg)
			}
		}
	}
	for i, d := range t.Attrs {
		if d.Required && (i >= 64 || seen&(1<<i) == 0) {
			c.violate(path()+"/@"+d.Name, "attribute %s is required on %s", d.Name, se.Name.Local)
		}
	}
}

// checkValue is s.Check(v), remembering up to validMax valid values per
// type: a file repeats its BICs, currencies and codes on every
// transaction, and a value found valid once is valid again.
func (c *Checker) checkValue(s *Simple, v string) string {
	seen := c.valid[s]
	if _, ok := seen[v]; ok {
		return ""
	}
	msg := s.Check(v)
	if msg == "" && len(seen) < validMax {
		if seen == nil {
			if c.valid == nil {
				c.valid = map[*Simple]map[string]struct{}{}
			}
			seen = map[string]struct{}{}
			c.valid[s] = seen
		}
		seen[v] = struct{}{}
	}
	return msg
}

func (c *Checker) end() {
	if c.skip > 0 {
		c.skip--
		return
	}
	if len(c.stack) == 0 {
		return
	}
	f := c.stack[len(c.stack)-1]
	c.check(f)
	c.stack = c.stack[:len(c.stack)-1]
	c.done = len(c.stack) == 0
	c.free = append(c.free, f)
}

// validMax bounds the values one checker remembers as valid per type.
const validMax = 64

// check checks the element f ends, still on the stack.
func (c *Checker) check(f *frame) {
	fpath := func(extra ...string) string { return pathOf(c.stack, extra...) }
	switch {
	case f.t.Simple != nil:
		if f.textOver {
			return
		}
		// The lookup with string(bytes) does not allocate: most values
		// of a file are ones seen before.
		if _, ok := c.valid[f.t.Simple][string(f.text)]; ok {
			return
		}
		if msg := c.checkValue(f.t.Simple, string(f.text)); msg != "" {
			c.violate(fpath(), "%s", msg)
		}
	case f.t.Choice != nil:
		if f.chosen == 0 {
			names := make([]string, len(f.t.Choice))
			for i, p := range f.t.Choice {
				names[i] = p.Name
			}
			c.violate(fpath(), "%s needs one of %s", f.name, strings.Join(names, ", "))
		}
	case f.t.Seq != nil:
		for k := f.pos; k < len(f.t.Seq); k++ {
			occurred := 0
			if k == f.pos {
				occurred = f.count
			}
			if occurred < f.t.Seq[k].Min {
				c.violate(fpath(f.t.Seq[k].Name), "mandatory element %s is missing", f.t.Seq[k].Name)
			}
		}
	}
}

func (c *Checker) chars(b xml.CharData) {
	if c.skip > 0 {
		return
	}
	if len(c.stack) == 0 {
		// encoding/xml passes text outside the root; XML does not allow it.
		if !blank(b) {
			c.violate("/", "text outside the root element")
		}
		return
	}
	f := c.stack[len(c.stack)-1]
	if f.t.Simple != nil {
		if f.textOver {
			return
		}
		if len(f.text)+len(b) > valueMax {
			f.textOver = true
			c.violate(c.path(), "the value is longer than %d bytes", valueMax)
			return
		}
		f.text = append(f.text, b...)
		return
	}
	if f.t.Any {
		return
	}
	if !blank(b) {
		c.violate(c.path(), "text is not allowed in %s, which holds elements", f.name)
	}
}

// blank tells whether b is XML white space only.
func blank(b []byte) bool {
	for _, ch := range b {
		if ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n' {
			return false
		}
	}
	return true
}

// Package isoschema checks an ISO 20022 message against its official
// schema while it streams, one token at a time, without a schema engine
// at run time: the schemas' content models and facets are Go tables
// generated from the official XSD files (cmd/xsdgen; the tables record each
// file's sha256). It checks every rule that can change meaning or hide
// data: each element in the document's namespace, in the schema's order,
// no more often than allowed and never missing where mandatory; choices
// taken once; attributes declared and present where required; no text
// where the schema has none; and every value against its type's facets
// (length, pattern, enumeration, totalDigits, fractionDigits,
// minInclusive, and the lexical forms of decimals, dates, times and
// booleans).
//
// Where it is stricter than the schema it says so: a DOCTYPE is refused
// (no entity expansion, ever), and so is any attribute the schema does not
// declare other than xsi:schemaLocation. The content of an xs:any (for
// example SplmtryData/Envlp) is skipped unread, as the contract says.
package isoschema

import (
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Schema is one message's schema: its target namespace, its root element
// and the types reachable from it.
type Schema struct {
	Name      string // e.g. pacs.008.001.08
	Namespace string
	Root      string // the root element: Document, or AppHdr
	RootType  string
	SHA256    string // of the XSD file the tables come from
	Types     map[string]*Type
}

// Type is a complex type (Seq or Choice content, or simple content with
// attributes) or a simple type.
type Type struct {
	Name string
	// Complex content: a sequence or a choice of elements, or an xs:any.
	Seq    []Particle
	Choice []Particle
	Any    bool
	// Simple content: the value's type and the attributes. SimpleBase
	// names the simple type the content extends (Simple is linked to it).
	Simple     *Simple
	SimpleBase string
	Attrs      []Attr
}

// link resolves simple content to its base type and checks that every
// type a particle or attribute names exists: a table that does not hold
// together is a bug in the generator, found when the schema is loaded.
func link(s *Schema) *Schema {
	for _, t := range s.Types {
		if t.Simple != nil && t.Simple.Pattern != "" {
			t.Simple.re = regexp.MustCompile(`^(?:` + t.Simple.Pattern + `)$`)
		}
	}
	for _, t := range s.Types {
		if t.SimpleBase != "" {
			b := s.Types[t.SimpleBase]
			if b == nil || b.Simple == nil {
				panic("isoschema: " + s.Name + ": " + t.Name + " extends " + t.SimpleBase + ", not a simple type")
			}
			t.Simple = b.Simple
		}
		for _, p := range append(append([]Particle{}, t.Seq...), t.Choice...) {
			if s.Types[p.Type] == nil {
				panic("isoschema: " + s.Name + ": " + t.Name + "/" + p.Name + " has unknown type " + p.Type)
			}
		}
		for _, a := range t.Attrs {
			if at := s.Types[a.Type]; at == nil || at.Simple == nil {
				panic("isoschema: " + s.Name + ": " + t.Name + "/@" + a.Name + " has unknown type " + a.Type)
			}
		}
	}
	if s.Types[s.RootType] == nil {
		panic("isoschema: " + s.Name + ": no root type " + s.RootType)
	}
	return s
}

// Lookup returns the schema of a message (e.g. "pacs.008.001.08").
func Lookup(msg string) (*Schema, bool) {
	mu.Lock()
	defer mu.Unlock()
	if s, ok := loaded[msg]; ok {
		return s, true
	}
	f, ok := all[msg]
	if !ok {
		return nil, false
	}
	s := f()
	loaded[msg] = s
	return s, true
}

// ByNamespace returns the schema whose target namespace is ns.
func ByNamespace(ns string) (*Schema, bool) {
	msg, ok := strings.CutPrefix(ns, "urn:iso:std:iso:20022:tech:xsd:")
	if !ok {
		return nil, false
	}
	return Lookup(msg)
}

// Messages are the messages the tables hold.
func Messages() []string {
	out := make([]string, 0, len(all))
	for m := range all {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

var (
	mu     sync.Mutex
	loaded = map[string]*Schema{}
)

// Particle is one element of a content model.
type Particle struct {
	Name string
	Type string
	Min  int
	Max  int // -1: unbounded
}

// Attr is an attribute of simple content.
type Attr struct {
	Name     string
	Type     string
	Required bool
}

// Simple is a simple type: a built-in base and its facets.
type Simple struct {
	Base           string // string, decimal, date, dateTime, time, gYearMonth, boolean
	Pattern        string // XSD regular expression, implicitly anchored
	MinLen, MaxLen int    // -1 where not set
	Enum           []string
	TotalDigits    int    // -1 where not set
	FractionDigits int    // -1 where not set
	MinInclusive   string // "" where not set

	re *regexp.Regexp
}

// Violation is one schema rule broken, with the element's path and line.
type Violation struct {
	Path    string // /Document/FIToFICstmrCdtTrf/CdtTrfTxInf[3]/IntrBkSttlmAmt
	Line    int
	Message string
}

func (v Violation) String() string { return fmt.Sprintf("%s (line %d): %s", v.Path, v.Line, v.Message) }

// valueMax bounds the text of one simple value the checker keeps; no ISO
// type here allows more than 350 characters (Max350Text), and a few
// thousand bytes is far above any of them.
const valueMax = 4096

// regexp is the compiled pattern (link compiles it, once, before the
// schema is shared).
func (s *Simple) regexp() *regexp.Regexp { return s.re }

// Check tells what is wrong with value v of simple type s; "" if nothing.
func (s *Simple) Check(v string) string {
	if !utf8.ValidString(v) {
		return "not UTF-8"
	}
	if s.Base != "string" {
		v = collapse(v) // every built-in type but string has whiteSpace collapse
	}
	switch s.Base {
	case "string":
	case "decimal":
		if msg := s.checkDecimal(v); msg != "" {
			return msg
		}
	case "boolean":
		if v != "true" && v != "false" && v != "1" && v != "0" {
			return fmt.Sprintf("%q is not a boolean", clip(v))
		}
	case "date", "dateTime", "time", "gYearMonth":
		if !lexical[s.Base].MatchString(v) || !validCalendar(s.Base, v) {
			return fmt.Sprintf("%q is not an xs:%s", clip(v), s.Base)
		}
	default:
		return "unknown base type " + s.Base
	}
	n := utf8.RuneCountInString(v)
	if s.MinLen >= 0 && n < s.MinLen {
		return fmt.Sprintf("%q is shorter than %d characters", clip(v), s.MinLen)
	}
	if s.MaxLen >= 0 && n > s.MaxLen {
		return fmt.Sprintf("%d characters, at most %d", n, s.MaxLen)
	}
	if re := s.regexp(); re != nil && !re.MatchString(v) {
		return fmt.Sprintf("%q does not match the pattern %s", clip(v), s.Pattern)
	}
	if len(s.Enum) > 0 {
		found := false
		for _, e := range s.Enum {
			if e == v {
				found = true
				break
			}
		}
		if !found {
			return fmt.Sprintf("%q is not one of the codes the schema allows", clip(v))
		}
	}
	return ""
}

// decimalLexical tells whether v is an xs:decimal as written:
// [+-]? then digits with at most one '.', and at least one digit.
func decimalLexical(v string) bool {
	i := 0
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		i++
	}
	digits, dot := 0, false
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

func (s *Simple) checkDecimal(v string) string {
	if !decimalLexical(v) {
		return fmt.Sprintf("%q is not a decimal number", clip(v))
	}
	// The value's digits: leading zeros of the integer part and trailing
	// zeros of the fraction do not count (XSD 1.0, totalDigits and
	// fractionDigits constrain the value, not its lexical form).
	digits := strings.TrimLeft(v, "+-")
	intPart, frac, _ := strings.Cut(digits, ".")
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if s.TotalDigits >= 0 && len(intPart)+len(frac) > s.TotalDigits {
		return fmt.Sprintf("%q has more than %d digits", clip(v), s.TotalDigits)
	}
	if s.FractionDigits >= 0 && len(frac) > s.FractionDigits {
		return fmt.Sprintf("%q has more than %d decimals", clip(v), s.FractionDigits)
	}
	switch {
	case s.MinInclusive == "":
	case s.MinInclusive == "0":
		// Every amount's bound: below zero only with a '-' and a digit
		// other than zero (-0 and -0.00 are zero).
		if v[0] == '-' && len(intPart)+len(frac) > 0 {
			return fmt.Sprintf("%q is below %s", clip(v), s.MinInclusive)
		}
	default:
		x, _ := new(big.Rat).SetString(strings.TrimPrefix(v, "+"))
		m, _ := new(big.Rat).SetString(s.MinInclusive)
		if x == nil || m == nil || x.Cmp(m) < 0 {
			return fmt.Sprintf("%q is below %s", clip(v), s.MinInclusive)
		}
	}
	return ""
}

var lexical = map[string]*regexp.Regexp{
	"date":       regexp.MustCompile(`^-?[0-9]{4,}-[0-9]{2}-[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?$`),
	"dateTime":   regexp.MustCompile(`^-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$`),
	"time":       regexp.MustCompile(`^[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$`),
	"gYearMonth": regexp.MustCompile(`^-?[0-9]{4,}-[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?$`),
}

// validCalendar checks the ranges the lexical pattern cannot: months,
// days of the month (leap years included), hours, minutes, seconds and
// zone offsets.
func validCalendar(base, v string) bool {
	num := func(s string) int {
		n := 0
		for _, c := range s {
			n = n*10 + int(c-'0')
		}
		return n
	}
	zoneOK := func(z string) bool {
		if z == "" || z == "Z" {
			return true
		}
		h, m := num(z[1:3]), num(z[4:6])
		return m < 60 && (h < 14 || (h == 14 && m == 0))
	}
	neg := strings.HasPrefix(v, "-")
	v = strings.TrimPrefix(v, "-")
	i := strings.IndexByte(v, '-')
	timeOK := func(t string) (bool, string) {
		h, mi, s := num(t[0:2]), num(t[3:5]), num(t[6:8])
		rest, zeroFrac := t[8:], true
		if strings.HasPrefix(rest, ".") {
			j := 1
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				zeroFrac = zeroFrac && rest[j] == '0'
				j++
			}
			rest = rest[j:]
		}
		// 24:00:00 is the end of the day (XSD 1.0), nothing later.
		ok := (h < 24 && mi < 60 && s < 60) || (h == 24 && mi == 0 && s == 0 && zeroFrac)
		return ok, rest
	}
	switch base {
	case "time":
		ok, z := timeOK(v)
		return ok && zoneOK(z)
	case "gYearMonth":
		y, m := num(v[:i]), num(v[i+1:i+3])
		return (y != 0 || neg) && m >= 1 && m <= 12 && zoneOK(v[i+3:])
	}
	y, m, d := num(v[:i]), num(v[i+1:i+3]), num(v[i+4:i+6])
	if y == 0 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return false
	}
	rest := v[i+6:]
	if base == "dateTime" {
		ok, z := timeOK(rest[1:])
		return ok && zoneOK(z)
	}
	return zoneOK(rest)
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// collapse applies XSD's whiteSpace collapse: runs of tab, newline,
// carriage return and space become one space, trimmed at both ends.
func collapse(s string) string {
	if collapsed(s) {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }), " ")
}

// collapsed tells whether s is already as whiteSpace collapse leaves it:
// no tab, CR or LF, no space at either end or twice in a row.
func collapsed(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\t', '\n', '\r':
			return false
		case ' ':
			if i == 0 || i == len(s)-1 || s[i-1] == ' ' {
				return false
			}
		}
	}
	return true
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	r := []rune(s)
	return string(r[:40]) + "..."
}

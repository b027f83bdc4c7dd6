// Package formatstest holds what the tests of the payment-file parsers
// (formats/csvfile and formats/pacs008) share: a check that
// runs a parser through the settlement rules, the golden-file runner, the
// invariants asserted on every fuzz input, and small helpers.
//
// It is a normal package used only by tests, like net/http/httptest; no
// production code imports it. Its helpers read testdata/ relative to the
// working directory, which is the package under test.
package formatstest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"settle/formats"
	"settle/settlement"
)

// Parser is a payment-file parser: csv.Parse, pacs008.Parse.
type Parser func(io.Reader, formats.Limits, settlement.Sink) error

// Format is one payment-file format under test.
type Format struct {
	// Ext ends the names of the format's files in testdata: ".csv", ".xml".
	Ext string
	// Parse reads one file.
	Parse Parser
	// Fields names the fields in problems found by the shared rules; nil is
	// settlement's default (the CSV column names). An ISO 20022 reader sets
	// its message's own on the check (isoxml.FieldsSink).
	Fields *settlement.Fields
}

// NewFileCheck returns a FileCheck with the format's field naming.
func (f Format) NewFileCheck(member func(settlement.BIC) bool) *settlement.FileCheck {
	return settlement.NewFileCheck(settlement.Rules{Member: member, Fields: f.Fields})
}

// Sink is a FileCheck that also records what the parser said of the header
// and the trailer.
type Sink struct {
	*settlement.FileCheck
	Headers     int                // calls to Header
	LastTrailer settlement.Trailer // what the last call to Trailer passed
	TrailerOK   bool               // and whether the parser found it good
}

func (s *Sink) Header(h *settlement.Header, ok bool) {
	s.Headers++
	s.FileCheck.Header(h, ok)
}

func (s *Sink) Trailer(t *settlement.Trailer, ok bool) {
	s.LastTrailer, s.TrailerOK = *t, ok
	s.FileCheck.Trailer(t, ok)
}

// Check parses data in the format and runs the spec's rules; a parser
// error (there is no reader to fail) fails the test.
func (f Format) Check(t testing.TB, data []byte, lim formats.Limits, member func(settlement.BIC) bool) (*Sink, []settlement.Problem) {
	t.Helper()
	fc := f.NewFileCheck(member)
	fc.Problems.Max = lim.Or(formats.DefaultLimits).ProblemsMax
	s := &Sink{FileCheck: fc}
	if err := f.Parse(bytes.NewReader(data), lim, s); err != nil {
		t.Fatalf("Parse returned %v on an in-memory reader", err)
	}
	fc.Finish()
	return s, fc.Problems.List()
}

// Files lists testdata/dir/*Ext; dir "*" is every directory.
func (f Format) Files(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"+f.Ext))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// LoadMembers reads testdata/members.txt, one BIC a line.
func LoadMembers(t testing.TB) func(settlement.BIC) bool {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "members.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[settlement.BIC]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m[settlement.MustBIC(strings.TrimSpace(sc.Text()))] = true
	}
	return func(b settlement.BIC) bool { return m[b] }
}

// OneByteReads checks that the parser gives the same verdict on every
// testdata file however the reader splits the bytes.
func (f Format) OneByteReads(t *testing.T) {
	member := LoadMembers(t)
	for _, file := range f.Files(t, "*") {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, want := f.Check(t, data, formats.Limits{}, member)
		fc := f.NewFileCheck(member)
		if err := f.Parse(iotest.OneByteReader(bytes.NewReader(data)), formats.Limits{}, fc); err != nil {
			t.Fatal(err)
		}
		fc.Finish()
		got := fc.Problems.List()
		if !SameProblems(got, want) {
			t.Errorf("%s: one-byte reads give %v, want %v", file, got, want)
		}
	}
}

// SameProblems tells whether a and b list the same problems in order.
func SameProblems(a, b []settlement.Problem) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// CodesOf lists problems as line:CODE, for failure messages.
func CodesOf(ps []settlement.Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%d:%s", p.Line, p.Code))
	}
	return out
}

// Has tells whether ps holds a problem with code at line.
func Has(ps []settlement.Problem, line int, code string) bool {
	for _, p := range ps {
		if p.Line == line && p.Code == code {
			return true
		}
	}
	return false
}

// Recorder is a Sink that keeps every record as the parser reports it.
type Recorder struct {
	Headers  []settlement.Header
	Entries  []settlement.Entry
	Okays    []bool // Okays[i] is the ok passed with Entries[i]
	Trailers []settlement.Trailer
	Problems []settlement.Problem
}

func (r *Recorder) Header(h *settlement.Header, ok bool) { r.Headers = append(r.Headers, *h) }
func (r *Recorder) Entry(e *settlement.Entry, ok bool) {
	r.Entries = append(r.Entries, *e)
	r.Okays = append(r.Okays, ok)
}
func (r *Recorder) Trailer(t *settlement.Trailer, ok bool) { r.Trailers = append(r.Trailers, *t) }
func (r *Recorder) Problem(p settlement.Problem)           { r.Problems = append(r.Problems, p) }

// FailingReader yields prefix, then fails with err.
func FailingReader(prefix string, err error) io.Reader {
	return io.MultiReader(strings.NewReader(prefix), iotest.ErrReader(err))
}

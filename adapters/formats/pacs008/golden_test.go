package pacs008_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"settle/adapters/formats"
	"settle/adapters/formats/pacs008"
	"settle/settlement"
)

var update = flag.Bool("update", false, "rewrite the .golden.json files from the parser's output")

// golden is what a testdata file is expected to give: the entries the
// check counted and every problem, by line, field and code. Messages are
// for people and are checked only for being there.
type golden struct {
	Entries  int64         `json:"entries"`
	Problems []goldenEntry `json:"problems"`
}

type goldenEntry struct {
	Line  int    `json:"line"`
	Field string `json:"field"`
	Code  string `json:"code"`
}

// trailerSink records what the parser said the trailer holds, on top of
// the FileCheck that applies the rules.
type trailerSink struct {
	*settlement.FileCheck
	trailer   settlement.Trailer
	trailerOK bool
	headers   int
}

func (s *trailerSink) Header(h *settlement.Header, ok bool) {
	s.headers++
	s.FileCheck.Header(h, ok)
}

func (s *trailerSink) Trailer(t *settlement.Trailer, ok bool) {
	s.trailer, s.trailerOK = *t, ok
	s.FileCheck.Trailer(t, ok)
}

// check parses data as a pacs.008 payment file and runs the spec's rules.
func check(t testing.TB, data []byte, lim formats.Limits, member func(settlement.BIC) bool) (*trailerSink, []settlement.Problem) {
	t.Helper()
	fc := settlement.NewFileCheck(settlement.Rules{Member: member})
	fc.Problems.Max = lim.Or(formats.DefaultLimits).ProblemsMax
	s := &trailerSink{FileCheck: fc}
	if err := pacs008.Parse(bytes.NewReader(data), lim, s); err != nil {
		t.Fatalf("Parse returned %v on an in-memory reader", err)
	}
	fc.Finish()
	return s, fc.Problems.List()
}

func loadMembers(t testing.TB) func(settlement.BIC) bool {
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

// TestGolden runs every file of testdata/accepted and testdata/rejected
// through the parser and the rules, and compares with its .golden.json.
func TestGolden(t *testing.T) {
	member := loadMembers(t)
	for _, dir := range []string{"accepted", "rejected"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no files in testdata/%s", dir)
		}
		for _, file := range files {
			t.Run(dir+"/"+filepath.Base(file), func(t *testing.T) {
				bug, isBug := knownBugs[dir+"/"+filepath.Base(file)]
				if isBug && *update {
					t.Skip("golden of a known bug is written by hand")
				}
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				s, problems := check(t, data, formats.Limits{}, member)
				got := golden{Entries: s.Count(), Problems: []goldenEntry{}}
				for _, p := range problems {
					if p.Message == "" {
						t.Errorf("problem %+v has no message", p)
					}
					got.Problems = append(got.Problems, goldenEntry{p.Line, p.Field, p.Code})
				}
				if isBug {
					b, _ := json.MarshalIndent(got, "", "  ")
					want, _ := os.ReadFile(file + ".golden.json")
					if !bytes.Equal(append(b, '\n'), want) {
						t.Skip("BUG: " + bug)
					}
					t.Errorf("known bug fixed: remove %s from knownBugs", dir+"/"+filepath.Base(file))
				}
				if dir == "accepted" && len(problems) != 0 {
					t.Errorf("file in accepted/ has problems: %v", problems)
				}
				if dir == "rejected" && len(problems) == 0 {
					t.Errorf("file in rejected/ was accepted")
				}
				if dir == "accepted" && s.trailerOK && s.trailer.Count != s.Count() {
					t.Errorf("accepted with %d entries, trailer says %d", s.Count(), s.trailer.Count)
				}
				compareGolden(t, file+".golden.json", got)
			})
		}
	}
}

// knownBugs are goldens the parser does not meet yet, with the bug. Each
// still runs, and is skipped (not hidden) while it fails.
// knownBugs maps a golden file to the bug it records, while that bug is
// open; a golden whose bug is fixed leaves the map (both fixed so far:
// second_empty_document.xml, bom.xml).
var knownBugs = map[string]string{}

func compareGolden(t *testing.T, path string, got golden) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, b) {
		t.Errorf("%s differs\n got: %s\nwant: %s", path, b, want)
	}
}

// codes reads the settlement.Code* constants from their source, so a code
// added there is known here without editing this test.
func codes(t testing.TB) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "..", "..", "settlement", "problem.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, "Code") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[v] = true
				}
			}
		}
	}
	if len(out) < 30 {
		t.Fatalf("read only %d problem codes from settlement/problem.go", len(out))
	}
	return out
}

// recorder keeps every record as the parser reports it.
type recorder struct {
	headers  []settlement.Header
	entries  []settlement.Entry
	okays    []bool
	trailers []settlement.Trailer
	problems []settlement.Problem
}

func (r *recorder) Header(h *settlement.Header, ok bool) { r.headers = append(r.headers, *h) }
func (r *recorder) Entry(e *settlement.Entry, ok bool) {
	r.entries = append(r.entries, *e)
	r.okays = append(r.okays, ok)
}
func (r *recorder) Trailer(t *settlement.Trailer, ok bool) { r.trailers = append(r.trailers, *t) }
func (r *recorder) Problem(p settlement.Problem)           { r.problems = append(r.problems, p) }

// TestReaderError: Parse returns an error only when the reader fails, and
// then it does.
func TestReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := iotestMulti("<?xml version=\"1.0\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><FIToFICstmrCdtTrf><GrpHdr><MsgId>F1", boom)
	err := pacs008.Parse(r, formats.Limits{}, &recorder{})
	if !errors.Is(err, boom) {
		t.Errorf("Parse on a failing reader = %v, want %v", err, boom)
	}
}

func iotestMulti(prefix string, err error) *multi {
	return &multi{data: []byte(prefix), err: err}
}

// multi yields data then fails with err.
type multi struct {
	data []byte
	err  error
}

func (m *multi) Read(b []byte) (int, error) {
	if len(m.data) == 0 {
		return 0, m.err
	}
	n := copy(b, m.data)
	m.data = m.data[n:]
	return n, nil
}

// TestOneByteReads: the parser gives the same verdict however the reader
// splits the bytes.
func TestOneByteReads(t *testing.T) {
	member := loadMembers(t)
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.xml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, want := check(t, data, formats.Limits{}, member)
		fc := settlement.NewFileCheck(settlement.Rules{Member: member})
		if err := pacs008.Parse(iotest.OneByteReader(bytes.NewReader(data)), formats.Limits{}, fc); err != nil {
			t.Fatal(err)
		}
		fc.Finish()
		got := fc.Problems.List()
		if !sameProblems(got, want) {
			t.Errorf("%s: one-byte reads give %v, want %v", file, got, want)
		}
	}
}

func sameProblems(a, b []settlement.Problem) bool {
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

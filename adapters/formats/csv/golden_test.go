package csv_test

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
	"settle/adapters/formats/csv"
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

// check parses data as a CSV payment file and runs the spec's rules.
func check(t testing.TB, data []byte, lim formats.Limits, member func(settlement.BIC) bool) (*trailerSink, []settlement.Problem) {
	t.Helper()
	fc := settlement.NewFileCheck(settlement.Rules{Member: member})
	fc.Problems.Max = lim.Or(formats.DefaultLimits).ProblemsMax
	s := &trailerSink{FileCheck: fc}
	if err := csv.Parse(bytes.NewReader(data), lim, s); err != nil {
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
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no files in testdata/%s", dir)
		}
		for _, file := range files {
			t.Run(dir+"/"+filepath.Base(file), func(t *testing.T) {
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

// TestManyBadRecordsEachListed: a bank fixes a file in one round trip, so
// every bad record is listed with its own line.
func TestManyBadRecordsEachListed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "rejected", "many_bad_records.csv"))
	if err != nil {
		t.Fatal(err)
	}
	_, problems := check(t, data, formats.Limits{}, loadMembers(t))
	lines := map[int]bool{}
	for _, p := range problems {
		lines[p.Line] = true
	}
	// Lines 3 and 5..13 are bad; lines 2, 4 and 14 are good payments
	// (SH-1 on line 10 duplicates line 2, which stays good).
	for l := 3; l <= 13; l++ {
		if l != 4 && !lines[l] {
			t.Errorf("bad record on line %d not listed; problems: %v", l, problems)
		}
	}
	for _, l := range []int{1, 2, 4, 14} {
		if lines[l] {
			t.Errorf("good record on line %d listed as bad: %v", l, problems)
		}
	}
}

// TestSameRecordsInQuotesOrNot: RFC 4180 quoting changes nothing about the
// values read.
func TestSameRecordsInQuotesOrNot(t *testing.T) {
	plain := "H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\nP,SH-1,SHBKKRSE,CZNBKRSE,12.50,USD,inv 1\nT,1,12.5\n"
	quoted := `"H","F1","SHBKKRSE","2026-11-24","2026-11-24T17:45:00Z"` + "\n" +
		`"P","SH-1","SHBKKRSE","CZNBKRSE","12.50","USD","inv 1"` + "\n" + `"T","1","12.5"` + "\n"
	var got [2][]settlement.Entry
	for i, in := range []string{plain, quoted} {
		rec := &recorder{}
		if err := csv.Parse(strings.NewReader(in), formats.Limits{}, rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.problems) != 0 {
			t.Fatalf("%q: %v", in, rec.problems)
		}
		got[i] = rec.entries
	}
	if len(got[0]) != 1 || len(got[1]) != 1 {
		t.Fatalf("entries: %v / %v", got[0], got[1])
	}
	a, b := got[0][0], got[1][0]
	if a.ID != b.ID || a.Debtor != b.Debtor || a.Creditor != b.Creditor || !a.Amount.Equal(b.Amount) ||
		a.Currency != b.Currency || a.Remittance != b.Remittance || a.Remittance != "inv 1" || a.Amount.String() != "12.5" {
		t.Errorf("plain %+v\nquoted %+v", a, b)
	}
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

// TestRecordValues: the records carry what the file says, BICs in their
// canonical form (XXX branch dropped).
func TestRecordValues(t *testing.T) {
	in := "H,F1,SHBKKRSEXXX,2026-11-24,2026-11-24T17:45:00+09:00\n" +
		"P,SH-1,SHBKKRSEXXX,CZNBKRSE001,0.125,KWD,\"a, \"\"b\"\"\"\n" +
		"R,SH-R1,SH-0,SHBKKRSE,CZNBKRSEXXX,90000,KRW,AM05\n" +
		"T,2,90000.125\n"
	rec := &recorder{}
	if err := csv.Parse(strings.NewReader(in), formats.Limits{}, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.problems) != 0 || len(rec.headers) != 1 || len(rec.entries) != 2 || len(rec.trailers) != 1 {
		t.Fatalf("got %+v", rec)
	}
	h := rec.headers[0]
	if h.Line != 1 || h.FileID != "F1" || h.Sender != "SHBKKRSE" || h.BusinessDate != "2026-11-24" || h.CreatedAt.Unix() != 1795509900 {
		t.Errorf("header %+v", h)
	}
	p, r := rec.entries[0], rec.entries[1]
	if p.Line != 2 || p.Kind != settlement.KindPayment || p.Debtor != "SHBKKRSE" || p.Creditor != "CZNBKRSE001" ||
		p.Amount.String() != "0.125" || p.Currency.Code() != "KWD" || p.Remittance != `a, "b"` {
		t.Errorf("payment %+v", p)
	}
	if r.Line != 3 || r.Kind != settlement.KindReversal || r.ID != "SH-R1" || r.Original != "SH-0" || r.Debtor != "SHBKKRSE" ||
		r.Creditor != "CZNBKRSE" || r.Reason != "AM05" || r.Amount.String() != "90000" || r.Currency.Code() != "KRW" {
		t.Errorf("reversal %+v", r)
	}
	if tr := rec.trailers[0]; tr.Line != 4 || tr.Count != 2 || tr.ControlSum.String() != "90000.125" {
		t.Errorf("trailer %+v", tr)
	}
	for i, ok := range rec.okays {
		if !ok {
			t.Errorf("entry %d reported not ok", i)
		}
	}
}

// TestReaderError: Parse returns an error only when the reader fails, and
// then it does.
func TestReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := iotestMulti("H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\nP,SH-1,", boom)
	err := csv.Parse(r, formats.Limits{}, &recorder{})
	if !errors.Is(err, boom) {
		t.Errorf("Parse on a failing reader = %v, want %v", err, boom)
	}
	// Failing inside a quoted field spanning lines.
	r = iotestMulti("H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\nP,SH-1,SHBKKRSE,CZNBKRSE,1,KRW,\"open\n", boom)
	if err := csv.Parse(r, formats.Limits{}, &recorder{}); !errors.Is(err, boom) {
		t.Errorf("Parse failing inside a quoted field = %v, want %v", err, boom)
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
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.csv"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, want := check(t, data, formats.Limits{}, member)
		fc := settlement.NewFileCheck(settlement.Rules{Member: member})
		if err := csv.Parse(iotest.OneByteReader(bytes.NewReader(data)), formats.Limits{}, fc); err != nil {
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

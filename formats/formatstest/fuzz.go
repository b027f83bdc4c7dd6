package formatstest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"settle/formats"
	"settle/settlement"
)

// Fuzz seeds f with every testdata file of the format and checks the
// parser's invariants (see FuzzInvariants) on any input.
func (f Format) Fuzz(ff *testing.F) {
	files := f.Files(ff, "*")
	if len(files) == 0 {
		ff.Fatal("no seed files")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			ff.Fatal(err)
		}
		ff.Add(b)
	}
	known := Codes(ff)
	ff.Fuzz(func(t *testing.T, data []byte) { f.FuzzInvariants(t, data, known) })
}

// FuzzInvariants checks what must hold for any input data: the parser
// never panics, returns an error only when the reader fails (never here),
// reports problems with a known code, a line >= 0 and a message, lists at
// most ProblemsMax of them (and the closing TOO_MANY_ERRORS), accepts a
// file only with one good header and a trailer counting its entries, gives
// the same problems for the same bytes, and the same wherever the bytes
// are split. known is the set of problem codes (Codes).
func (f Format) FuzzInvariants(t *testing.T, data []byte, known map[string]bool) {
	t.Helper()
	member := func(b settlement.BIC) bool { return !strings.HasPrefix(string(b), "NACF") }
	lim := formats.Limits{LineBytesMax: 512, RecordsMax: 200, ProblemsMax: 50, FileBytesMax: 1 << 16}
	s, problems := f.Check(t, data, lim, member)
	for _, p := range problems {
		if !known[p.Code] {
			t.Errorf("unknown code %q in %+v", p.Code, p)
		}
		if p.Line < 0 {
			t.Errorf("negative line in %+v", p)
		}
		if p.Message == "" {
			t.Errorf("no message in %+v", p)
		}
	}
	if len(problems) > lim.ProblemsMax+1 {
		t.Errorf("%d problems listed, limit %d", len(problems), lim.ProblemsMax)
	}
	if len(problems) == 0 {
		if !s.TrailerOK {
			t.Fatalf("accepted without a good trailer")
		}
		if s.LastTrailer.Count != s.Count() {
			t.Errorf("accepted: %d entries, trailer says %d", s.Count(), s.LastTrailer.Count)
		}
		if h, ok := s.FileHeader(); !ok || h.FileID == "" || h.Sender == "" {
			t.Errorf("accepted without a good header: %+v", h)
		}
		if s.Headers != 1 {
			t.Errorf("accepted with %d headers", s.Headers)
		}
	}
	_, again := f.Check(t, data, lim, member)
	if !SameProblems(problems, again) {
		t.Errorf("not deterministic:\n%v\n%v", problems, again)
	}
	// Wherever the bytes are split, the verdict is the same.
	if len(data) > 1 {
		fc := f.NewFileCheck(member)
		fc.Problems.Max = lim.ProblemsMax
		if err := f.Parse(&chunky{data: data}, lim, fc); err != nil {
			t.Fatal(err)
		}
		fc.Finish()
		if got := fc.Problems.List(); !SameProblems(got, problems) {
			t.Errorf("short reads change the verdict:\n%v\n%v", got, problems)
		}
	}
}

// chunky returns 1, 2, 3, ... 7, 1, 2, ... bytes per Read.
type chunky struct {
	data []byte
	n    int
}

func (c *chunky) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	c.n = c.n%7 + 1
	k := copy(b[:min(len(b), c.n)], c.data)
	c.data = c.data[k:]
	return k, nil
}

// Codes reads the settlement.Code* constants from their source, so a code
// added there is known here without editing a test. The path is relative
// to the package under test, three levels below the module root.
func Codes(t testing.TB) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "..", "settlement", "problem.go"), nil, 0)
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

package pacs008_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"settle/adapters/formats"
	"settle/adapters/formats/pacs008"
	"settle/settlement"
)

// FuzzParse checks the parser's invariants on any input: it never panics,
// returns an error only when the reader fails (never here), reports
// problems with a known code, a line >= 0 and a message, counts in an
// accepted file as many entries as its trailer says, and gives the same
// problems for the same bytes.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.xml"))
	if len(files) == 0 {
		f.Fatal("no seed files")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	known := codes(f)
	member := func(b settlement.BIC) bool { return !strings.HasPrefix(string(b), "NACF") }
	lim := formats.Limits{LineBytesMax: 512, RecordsMax: 200, ProblemsMax: 50, FileBytesMax: 1 << 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, problems := check(t, data, lim, member)
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
			if !s.trailerOK {
				t.Fatalf("accepted without a good trailer")
			}
			if s.trailer.Count != s.Count() {
				t.Errorf("accepted: %d entries, trailer says %d", s.Count(), s.trailer.Count)
			}
			if h, ok := s.FileHeader(); !ok || h.FileID == "" || h.Sender == "" {
				t.Errorf("accepted without a good header: %+v", h)
			}
			if s.headers != 1 {
				t.Errorf("accepted with %d headers", s.headers)
			}
		}
		_, again := check(t, data, lim, member)
		if !sameProblems(problems, again) {
			t.Errorf("not deterministic:\n%v\n%v", problems, again)
		}
		// Wherever the bytes are split, the verdict is the same.
		if len(data) > 1 {
			fc := settlement.NewFileCheck(settlement.Rules{Member: member})
			fc.Problems.Max = lim.ProblemsMax
			if err := pacs008.Parse(&chunky{data: data}, lim, fc); err != nil {
				t.Fatal(err)
			}
			fc.Finish()
			if got := fc.Problems.List(); !sameProblems(got, problems) {
				t.Errorf("short reads change the verdict:\n%v\n%v", got, problems)
			}
		}
	})
}

// chunky returns 1, 2, 3, ... bytes per Read.
type chunky struct {
	data []byte
	n    int
}

func (c *chunky) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, ioEOF
	}
	c.n = c.n%7 + 1
	k := copy(b[:min(len(b), c.n)], c.data)
	c.data = c.data[k:]
	return k, nil
}

var ioEOF = io.EOF

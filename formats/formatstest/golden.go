package formatstest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"settle/formats"
)

// SchemeZone is the scheme's time zone in the golden files (Seoul's,
// fixed, so that no test reads the machine's zone database).
var SchemeZone = time.FixedZone("KST", 9*60*60)

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

// RunGolden runs every file of testdata/accepted and testdata/rejected
// through the parser and the rules (members from testdata/members.txt),
// and compares with its .golden.json; with -update it rewrites them.
func (f Format) RunGolden(t *testing.T) {
	member := LoadMembers(t)
	for _, dir := range []string{"accepted", "rejected"} {
		files := f.Files(t, dir)
		if len(files) == 0 {
			t.Fatalf("no files in testdata/%s", dir)
		}
		for _, file := range files {
			t.Run(dir+"/"+filepath.Base(file), func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				s, problems := f.Check(t, data, formats.Limits{Zone: SchemeZone}, member)
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
				if dir == "accepted" && s.TrailerOK && s.LastTrailer.Count != s.Count() {
					t.Errorf("accepted with %d entries, trailer says %d", s.Count(), s.LastTrailer.Count)
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

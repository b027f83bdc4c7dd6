package agentcamt_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"settle/formats"
	"settle/formats/agentcamt"
	"settle/formats/formatstest"
	"settle/settlement"
)

// update is formatstest's -update flag: rewrite the .golden.json files.
func update() bool { return flag.Lookup("update").Value.(flag.Getter).Get().(bool) }

type golden struct {
	Message  string   `json:"message"`
	MsgID    string   `json:"msg_id"`
	Bookings []string `json:"bookings"`
	Problems []string `json:"problems"` // line field code
}

func read(t testing.TB, data []byte) golden {
	t.Helper()
	g := golden{Bookings: []string{}, Problems: []string{}}
	ans, problems, err := agentcamt.Read(bytes.NewReader(data), formats.Limits{Zone: formatstest.SchemeZone}, func(b agentcamt.Booking) {
		g.Bookings = append(g.Bookings, b.String())
	})
	if err != nil {
		t.Fatalf("Read returned %v on an in-memory reader", err)
	}
	g.Message, g.MsgID = ans.Message, ans.MsgID
	for _, p := range problems {
		if p.Message == "" {
			t.Errorf("problem %+v has no message", p)
		}
		g.Problems = append(g.Problems, strings.Join([]string{itoa(p.Line), p.Field, p.Code}, " "))
	}
	return g
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestGolden: every file of testdata/accepted reads without a problem,
// every file of testdata/rejected with the problems its golden file
// lists; bookings as read are in the golden files too.
func TestGolden(t *testing.T) {
	for _, dir := range []string{"accepted", "rejected"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.xml"))
		if len(files) == 0 {
			t.Fatalf("no files in testdata/%s", dir)
		}
		for _, file := range files {
			t.Run(dir+"/"+filepath.Base(file), func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				got := read(t, data)
				if (dir == "accepted") != (len(got.Problems) == 0) {
					t.Errorf("%s: problems %v", dir, got.Problems)
				}
				gf := file + ".golden.json"
				b, _ := json.MarshalIndent(got, "", "  ")
				if update() {
					os.WriteFile(gf, append(b, '\n'), 0o644)
					return
				}
				want, err := os.ReadFile(gf)
				if err != nil {
					t.Fatalf("%v (run with -update)", err)
				}
				if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(b)) {
					t.Errorf("got\n%s\nwant\n%s", b, want)
				}
			})
		}
	}
}

// TestAgreesWithXmllint: over the corpus, our SCHEMA verdict and
// xmllint's refusal go together.
func TestAgreesWithXmllint(t *testing.T) {
	if testing.Short() {
		t.Skip("needs xmllint")
	}
	n := 0
	for _, dir := range []string{"accepted", "rejected"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.xml"))
		for _, file := range files {
			data, _ := os.ReadFile(file)
			msg := ""
			for _, m := range []string{agentcamt.MsgCamt054, agentcamt.MsgCamt053} {
				if bytes.Contains(data, []byte("xsd:"+m)) {
					msg = m
				}
			}
			if msg == "" {
				continue
			}
			ours := strings.Contains(strings.Join(read(t, data).Problems, ","), "SCHEMA")
			v := formatstest.SchemaViolations(t, msg, bytes.NewReader(data))
			lint := formatstest.XmllintRefuses(t, msg, file)
			if ours != lint || (len(v) > 0) != lint {
				t.Errorf("%s: our SCHEMA %v, isoschema %v, xmllint refuses %v", file, ours, v, lint)
			}
			n++
		}
	}
	if n < 8 {
		t.Fatalf("only %d files compared", n)
	}
}

// TestRoundTrip: what the agent simulator writes for random cycles'
// instructions is valid camt.054.001.08 and reads back as the same
// bookings, wrong amounts and rejections included.
func TestRoundTrip(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 5))
		_, res := formatstest.RandomCycle(r, 2+r.IntN(6), 1+r.IntN(200))
		all, err := settlement.CycleInstructions("C2026-11-24", res.Positions)
		if err != nil {
			t.Fatal(err)
		}
		var want []agentcamt.Booking
		for _, ins := range all {
			for _, i := range ins {
				b := agentcamt.FromInstruction(i, "2026-11-24")
				switch r.IntN(6) {
				case 0:
					b.Rejected, b.Status = "AC04", "INFO"
				case 1:
					b.UETR = ""
				}
				want = append(want, b)
			}
		}
		var buf bytes.Buffer
		if err := agentcamt.WriteNotification(&buf, agentcamt.Notification{MsgID: "N-1", Created: time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC), Account: "SETTLE-01", Bookings: want}); err != nil {
			t.Fatal(err)
		}
		if seed == 0 {
			formatstest.WrittenValidBytes(t, agentcamt.MsgCamt054, buf.Bytes())
		}
		var got []agentcamt.Booking
		_, problems, err := agentcamt.Read(bytes.NewReader(buf.Bytes()), formats.Limits{}, func(b agentcamt.Booking) { got = append(got, b) })
		if err != nil || len(problems) > 0 || len(got) != len(want) {
			t.Fatalf("seed %d: %v %v, %d bookings of %d", seed, err, problems, len(got), len(want))
		}
		for i := range want {
			w, g := want[i], got[i]
			w.Line, w.Account = i+1, "SETTLE-01"
			if w.String() != g.String() || !w.Amount.Equal(g.Amount) {
				t.Errorf("seed %d: wrote %s, read %s", seed, w, g)
			}
		}
	}
}

// TestEntriesBounded: past RecordsMax entries the file has a problem and
// no more bookings are handed out.
func TestEntriesBounded(t *testing.T) {
	data, _ := os.ReadFile(filepath.Join("testdata", "accepted", "pay_in_and_out.xml"))
	n := 0
	_, problems, _ := agentcamt.Read(bytes.NewReader(data), formats.Limits{RecordsMax: 1}, func(agentcamt.Booking) { n++ })
	if n != 1 || len(problems) != 1 || problems[0].Code != settlement.CodeTooManyRecords {
		t.Fatalf("%d bookings, problems %v", n, problems)
	}
}

// FuzzRead: no input makes the reader panic, hang or hand out a booking
// without a reference, a currency or a positive amount.
func FuzzRead(f *testing.F) {
	for _, dir := range []string{"accepted", "rejected"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.xml"))
		for _, file := range files {
			data, _ := os.ReadFile(file)
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, problems, err := agentcamt.Read(bytes.NewReader(data), formats.Limits{FileBytesMax: 1 << 20, RecordsMax: 1000}, func(b agentcamt.Booking) {
			if b.EndToEndID == "" && b.UETR == "" {
				t.Fatalf("booking without reference: %s", b)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) > formats.DefaultLimits.ProblemsMax+1 {
			t.Fatalf("%d problems", len(problems))
		}
	})
}

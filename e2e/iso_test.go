package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"settle/formats/gen"
	"settle/settlement"
)

// dropAll puts every file of a generated day into its bank's inbox.
func (s *sys) dropAll(w *gen.Written) {
	s.t.Helper()
	for _, f := range w.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			s.t.Fatal(err)
		}
		bic := strings.SplitN(filepath.Base(f), "_", 2)[0]
		for _, bk := range s.banks {
			if string(bk.BIC) == bic {
				s.drop(bk, filepath.Base(f), b)
			}
		}
	}
}

// TestISO20022FilesSettle: a day of pacs.008 files, some in a business
// application header envelope, settles on the real ledger; the next day
// each bank reverses some of those payments in a pacs.007 file, with new
// payments beside, and that day settles too, every reversal recorded once
// and traced to its original by the auditor. Both days re-verify.
func TestISO20022FilesSettle(t *testing.T) {
	// Days of their own: the tests share one ledger, where a cycle's
	// chunks are recorded once.
	day1, day2 := businessDay(t, 8), businessDay(t, 9)
	const payments = 150
	s := newSys(t, payments, day1, func(c *gen.Config) { c.XMLEvery, c.AppHdrEvery = 2, 1 })
	// Those days are further ahead of the suite's clock than a file may be
	// dated: this test's clock is the morning of its first day.
	s.env = append(s.env, "SETTLE_CLOCK="+day1+"T01:00:00Z")
	s.dropAll(s.day)
	if out := s.must("intake", "run"); !strings.Contains(out, "accepted 3") {
		t.Fatalf("day 1 intake: %s", out)
	}
	s.must("cycle", "run", "--date", day1)

	next, err := gen.Day(gen.Config{Banks: banksN, Payments: 30, Date: settlement.Date(day2), Seed: 11, XMLEvery: 1,
		KeysFrom: filepath.Join(s.dir, "day"), ReverseDate: settlement.Date(day1), ReversePayments: payments, ReversalEvery: 10},
		filepath.Join(s.dir, "day2"))
	if err != nil {
		t.Fatal(err)
	}
	if next.Reversals != 15 || len(next.Files) != 2*banksN {
		t.Fatalf("day 2: %d files, %d reversals", len(next.Files), next.Reversals)
	}
	s.dropAll(next)
	if out := s.must("intake", "run"); !strings.Contains(out, "accepted 6") {
		t.Fatalf("day 2 intake (pacs.008 and pacs.007): %s", out)
	}
	s.must("cycle", "run", "--date", day2)

	for date, want := range map[string]int64{day1: payments, day2: 30 + 15} {
		var status struct {
			Cycle struct {
				Stage   string
				Entries int64
			} `json:"cycle"`
		}
		if err := json.Unmarshal([]byte(s.must("cycle", "status", "--date", date, "--json")), &status); err != nil {
			t.Fatal(err)
		}
		if status.Cycle.Stage != "REPORTED" || status.Cycle.Entries != want {
			t.Fatalf("%s: %+v, want REPORTED with %d entries", date, status, want)
		}
		if out := s.must("audit", "verify", "--date", date); !strings.Contains(out, "agree") {
			t.Fatalf("audit verify %s: %s", date, out)
		}
	}
	// The first bank's first reversed payment, traced: the reversal from a
	// pacs.007 file is found beside it.
	first := gen.DayPayments(gen.Config{Banks: banksN, Payments: payments, Date: settlement.Date(day1), Seed: 11}, bicsOf(s.banks), 0)[9]
	out := s.must("audit", "trace", string(s.banks[0].BIC)+"/"+first.ID, "--format", "json")
	var tr struct {
		OK      bool `json:"ok"`
		Related []struct {
			Payment string `json:"payment"`
			OK      bool   `json:"ok"`
		} `json:"related"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := string(s.banks[0].BIC) + "/R" + strings.ReplaceAll(day2, "-", "") + "-" + first.ID
	if !tr.OK || len(tr.Related) != 1 || !tr.Related[0].OK || tr.Related[0].Payment != want {
		t.Fatalf("trace of %s: want the pacs.007 reversal %s beside it:\n%s", first.ID, want, out)
	}
}

func bicsOf(banks []gen.Bank) []settlement.BIC {
	out := make([]settlement.BIC, len(banks))
	for i, b := range banks {
		out[i] = b.BIC
	}
	return out
}

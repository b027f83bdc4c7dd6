package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"settle/formats/gen"
)

// drop puts a signed file into a bank's inbox as the SFTP server stores it.
func (s *sys) drop(bank gen.Bank, name string, body []byte) {
	s.t.Helper()
	sig, err := gen.Sign(bank.Private, body)
	if err != nil {
		s.t.Fatal(err)
	}
	dir := filepath.Join(s.dir, "state", "sftp", "banks", string(bank.BIC), "inbox")
	os.MkdirAll(dir, 0o750)
	os.WriteFile(filepath.Join(dir, name), body, 0o640)
	os.WriteFile(filepath.Join(dir, name+".sig"), sig, 0o640)
}

// TestReversalTracedOnTheLedger: a payment settled one day is reversed the
// next; the auditor's trace follows it from its file to the ledger
// transaction and its endorsers, and on to the reversal, each step checked
// against the real ledger; re-verification of both days agrees.
func TestReversalTracedOnTheLedger(t *testing.T) {
	day1, day2 := businessDay(t, 2), businessDay(t, 3)
	s := newSys(t, 90, day1)
	for _, f := range s.day.Files {
		b, _ := os.ReadFile(f)
		bic := strings.SplitN(filepath.Base(f), "_", 2)[0]
		for _, bk := range s.banks {
			if string(bk.BIC) == bic {
				s.drop(bk, filepath.Base(f), b)
			}
		}
	}
	s.must("intake", "run")
	s.must("cycle", "run", "--date", day1)

	// Bank 2 reverses its first payment of day 1 (wrong amount).
	bank := s.banks[1]
	var orig gen.Payment
	for _, f := range s.day.Files {
		if strings.HasPrefix(filepath.Base(f), string(bank.BIC)) {
			b, _ := os.ReadFile(f)
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "P,") {
					p := strings.Split(line, ",")
					orig = gen.Payment{ID: p[1], Debtor: bank.BIC, Creditor: settleBIC(p[3]), Amount: p[4], Currency: p[5]}
					break
				}
			}
		}
	}
	if orig.ID == "" {
		t.Fatal("no payment to reverse")
	}
	rev := fmt.Sprintf("H,F-REV-%s,%s,%s,%sT10:00:00+09:00\nR,REV-%s,%s,%s,%s,%s,%s,AM09\nT,1,%s\n",
		day2, bank.BIC, day2, day2, orig.ID, orig.ID, orig.Debtor, orig.Creditor, orig.Amount, orig.Currency, orig.Amount)
	s.drop(bank, "reversal.csv", []byte(rev))
	if out := s.must("intake", "run"); !strings.Contains(out, "accepted 1") {
		t.Fatalf("reversal intake: %s", out)
	}
	s.must("cycle", "run", "--date", day2)

	out := s.must("audit", "trace", string(bank.BIC)+"/"+orig.ID, "--format", "json")
	var tr struct {
		OK    bool `json:"ok"`
		Steps []struct {
			Step  string            `json:"step"`
			Check string            `json:"check"`
			Facts map[string]string `json:"facts"`
		} `json:"steps"`
		Related []struct {
			Payment string `json:"payment"`
			OK      bool   `json:"ok"`
		} `json:"related"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !tr.OK || len(tr.Related) != 1 || !tr.Related[0].OK || tr.Related[0].Payment != string(bank.BIC)+"/REV-"+orig.ID {
		t.Fatalf("trace: %s", out)
	}
	steps := map[string]map[string]string{}
	for _, st := range tr.Steps {
		steps[st.Step] = st.Facts
	}
	if steps["transaction"]["block"] == "" || !strings.Contains(steps["transaction"]["endorsers"], "MSP") || steps["reversal chain"]["reversed by"] != "REV-"+orig.ID {
		t.Fatalf("trace facts: %v", steps)
	}
	// And back, on the real ledger: the reversal's transaction, read from
	// its block, leads to the reversal file and line; the original's to its.
	var revTrace struct {
		Steps []struct {
			Step  string            `json:"step"`
			Facts map[string]string `json:"facts"`
		} `json:"steps"`
	}
	revOut := s.must("audit", "trace", string(bank.BIC)+"/REV-"+orig.ID, "--format", "json")
	if err := json.Unmarshal([]byte(revOut), &revTrace); err != nil {
		t.Fatalf("%v: %s", err, revOut)
	}
	var revTx string
	for _, st := range revTrace.Steps {
		if st.Step == "transaction" {
			revTx = st.Facts["tx_id"]
		}
	}
	for _, c := range []struct{ tx, payment, file, kind string }{
		{revTx, "REV-" + orig.ID, "reversal.csv", "R"},
		{steps["transaction"]["tx_id"], orig.ID, steps["file"]["name"], "P"},
	} {
		out := s.must("audit", "tx", c.tx, "--format", "json")
		var tt struct {
			OK       bool `json:"ok"`
			Payments []struct {
				Payment, Kind, File, Check, Reverses string
				Line                                 int
			} `json:"payments"`
		}
		if err := json.Unmarshal([]byte(out), &tt); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		found := false
		for _, p := range tt.Payments {
			if p.Payment == string(bank.BIC)+"/"+c.payment {
				found = p.File == c.file && p.Kind == c.kind && p.Line > 0 && p.Check == "ok" &&
					(c.kind == "P") == (p.Reverses == "") && (c.kind == "P" || p.Reverses == orig.ID)
			}
		}
		if !tt.OK || !found {
			t.Fatalf("audit tx %s: want %s from %s, all checked: %s", c.tx, c.payment, c.file, out)
		}
	}
	txText := s.must("audit", "tx", revTx)
	if !strings.Contains(txText, "every step checks") || !strings.Contains(txText, "reversal.csv") {
		t.Fatalf("audit tx text: %s", txText)
	}
	t.Logf("settle audit tx %s:\n%s", revTx, txText)
	for _, d := range []string{day1, day2} {
		if out := s.must("audit", "verify", "--date", d); !strings.Contains(out, "agree") {
			t.Fatalf("verify %s: %s", d, out)
		}
	}
	// Reversing it again is refused, and the bank is told why.
	s.drop(bank, "reversal2.csv", []byte(strings.ReplaceAll(strings.ReplaceAll(rev, "F-REV-", "F-REV2-"), "R,REV-", "R,REV2-")))
	if out := s.must("intake", "run"); !strings.Contains(out, "rejected 1") {
		t.Fatalf("second reversal: %s", out)
	}
}

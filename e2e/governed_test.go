package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGovernedCycleOnTheLedger runs a night on the governed path, the
// default: the suite's ledger was founded by the first test (the operator's
// admin proposed, each bank's admin approved) and each bank's admin
// registered this test's key from the store's key ring (sys.joinLedger); the
// cycle's files are declared, their archived bytes and signatures relayed
// and verified by the peers, and the ledger settles on its own positions;
// reconciliation, the key rings and the auditor's re-verification agree.
func TestGovernedCycleOnTheLedger(t *testing.T) {
	// Its own day (day 0 is the kill test's, on the same ledger), further
	// ahead than a file may be dated: this test's clock is that morning.
	date := businessDay(t, 11)
	s := newSys(t, 300, date)
	s.env = append(s.env, "SETTLE_CLOCK="+date+"T01:00:00Z")
	cfg, _ := os.ReadFile(s.config)
	gov := string(cfg)
	if out := s.must("ledger", "keys", "--config", s.config); !strings.Contains(out, "key rings agree") {
		t.Fatalf("keys: %s", out)
	}
	// The founding happens once: the operator's proposal again is answered
	// so, and a bank approving again is refused by the ledger.
	if out := s.must("ledger", "found", "--config", s.config); !strings.Contains(out, "founded already") {
		t.Fatalf("found again: %s", out)
	}
	if _, errs, code := s.settle("ledger", "approve-founding", strings.Repeat("ab", 16), "--bank", string(s.banks[0].BIC), "--config", s.config); code == 0 || !strings.Contains(errs, "FOUNDED") {
		t.Fatalf("approving after the founding: exit %d %s", code, lastLines(errs, 5))
	}
	inbox := filepath.Join(s.dir, "state", "sftp", "banks")
	for _, f := range s.day.Files {
		bic := strings.SplitN(filepath.Base(f), "_", 2)[0]
		dst := filepath.Join(inbox, bic, "inbox")
		os.MkdirAll(dst, 0o750)
		for _, src := range []string{f, f + ".sig"} {
			b, _ := os.ReadFile(src)
			os.WriteFile(filepath.Join(dst, filepath.Base(src)), b, 0o640)
		}
	}
	if out := s.must("intake", "run"); !strings.Contains(out, "accepted 3") {
		t.Fatalf("intake: %s", out)
	}
	s.must("cycle", "run", "--date", date)
	if st := s.stage(date); st != "REPORTED" {
		t.Fatalf("stage %s", st)
	}
	out := s.must("recon", "run", "--date", date)
	if !strings.Contains(out, "300 in Postgres, 300 on the ledger, 300 matched, 0 breaks") {
		t.Fatalf("reconciliation: %s", out)
	}
	out = s.must("cycle", "ledger", "--date", date)
	t.Logf("cycle ledger:\n%s", out)
	var settleTx string
	var fileTxs []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "settle" {
			settleTx = f[2]
		} else if len(f) >= 3 && strings.HasPrefix(f[0], "file/") {
			fileTxs = append(fileTxs, f[2])
		}
	}
	// Each file: its verifying part, which indexed its 100 entries (their
	// ids fit beside it), so no IndexFile.
	if !strings.Contains(out, "declare ") || len(fileTxs) != 3 || strings.Contains(out, "index/") || settleTx == "" {
		t.Fatalf("cycle ledger shows no governed transactions:\n%s", out)
	}
	// The verifying transaction traces to the 100 payments it recorded,
	// each back to its file and line.
	out = s.must("audit", "tx", fileTxs[0], "--format", "json")
	var tr struct {
		OK       bool `json:"ok"`
		Payments []struct {
			FileID string `json:"file_id"`
			Line   int    `json:"line"`
			Check  string `json:"check"`
		} `json:"payments"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil || !tr.OK || len(tr.Payments) != 100 {
		t.Fatalf("audit tx of a verifying transaction (%v):\n%s", err, out)
	}
	for _, p := range tr.Payments {
		if p.FileID == "" || p.Line < 2 || p.Check != "ok" {
			t.Fatalf("audit tx of a verifying transaction: payment %+v", p)
		}
	}
	// The auditor sees who submitted the settlement: the operator's client.
	out = s.must("audit", "tx", settleTx)
	t.Logf("audit tx:\n%s", out)
	if !strings.Contains(out, "OperatorMSP client") {
		t.Fatalf("audit tx does not name the operator as the submitter:\n%s", out)
	}
	if out := s.must("audit", "verify", "--date", date); !strings.Contains(out, "agree") {
		t.Fatalf("audit verify: %s", out)
	}
	// The auditor without Postgres or the archive: a config whose database
	// cannot be reached, and the archive removed.
	noDB := strings.Replace(gov, "database: ", "database: \"postgres://nobody@127.0.0.1:1/none\" # was ", 1)
	cfgNoDB := filepath.Join(s.dir, "ledger-only.yaml")
	os.WriteFile(cfgNoDB, []byte(noDB), 0o600)
	os.RemoveAll(filepath.Join(s.dir, "state", "archive"))
	cmd := exec.Command(bin, "audit", "verify", "--date", date, "--ledger-only", "--config", cfgNoDB)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, s.env...)
	raw, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify --ledger-only: %v\n%s", err, raw)
	}
	out = string(raw)
	t.Logf("audit verify --ledger-only:\n%s", out)
	if !strings.Contains(out, "3 files re-verified from the ledger's blocks, 300 entries re-netted") || !strings.Contains(out, "agree") {
		t.Fatalf("audit verify --ledger-only: %s", out)
	}
}

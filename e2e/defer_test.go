package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"settle/settlement"
)

// TestDeferOverCapOnTheLedger: a bank over its KRW cap stops the cycle
// before anything reaches the ledger; the operator defers that bank's file
// to the next business day with `settle cycle defer`; the night settles on
// the real ledger without it, the next day with it once the bank has
// funded (the raised cap reaches the ledger by itself), and the auditor
// finds both days whole.
func TestDeferOverCapOnTheLedger(t *testing.T) {
	day1, day2 := businessDay(t, 4), businessDay(t, 5)
	s := newSys(t, 3, day1)
	b0, b1, b2 := s.banks[0], s.banks[1], s.banks[2]
	fileA := fmt.Sprintf("H,FA-%s,%s,%s,%sT09:00:00+09:00\nP,DA-%s,%s,%s,1000,KRW\nT,1,1000\n", day1, b0.BIC, day1, day1, day1, b0.BIC, b1.BIC)
	fileB := fmt.Sprintf("H,FB-%s,%s,%s,%sT09:00:00+09:00\nP,DB-%s,%s,%s,10,KRW\nT,1,10\n", day1, b1.BIC, day1, day1, day1, b1.BIC, b2.BIC)
	s.drop(b0, "fa.csv", []byte(fileA))
	s.drop(b1, "fb.csv", []byte(fileB))
	if out := s.must("intake", "run"); !strings.Contains(out, "accepted 2") {
		t.Fatalf("intake: %s", out)
	}
	s.setCap(string(b0.BIC), "KRW", "500")
	// The ledger holds the same cap: it would refuse the settlement too.
	s.must("ledger", "register-banks", "--from-store", "--config", s.config)

	out, errs, code := s.settle("cycle", "run", "--date", day1)
	if code == 0 || !strings.Contains(errs, "net debit cap exceeded") || !strings.Contains(errs, string(b0.BIC)+" KRW net -1000, cap 500") {
		t.Fatalf("want the cap breach to stop the cycle: exit %d\n%s\n%s", code, out, lastLines(errs, 10))
	}
	if st := s.stage(day1); st != "FROZEN" {
		t.Fatalf("cycle state %s after the breach, want FROZEN", st)
	}
	var onLedger int
	s.db.QueryRow(`SELECT count(*) FROM ledger_txs`).Scan(&onLedger)
	if onLedger != 0 {
		t.Fatalf("%d ledger transactions for a cycle over its caps", onLedger)
	}
	// The operator sees the positions that breached.
	if out := s.must("cycle", "positions", "--date", day1); !strings.Contains(out, "-1000") {
		t.Fatalf("positions after the breach: %s", out)
	}
	// A usage error is exit 2 and changes nothing.
	if _, _, code := s.settle("cycle", "defer", "--date", day1, "--file", "nonsense", "--reason", "x"); code != 2 {
		t.Fatalf("bad --file: exit %d", code)
	}
	sat := settlement.Date(day1).Time()
	for sat.Weekday() != time.Saturday {
		sat = sat.AddDate(0, 0, 1)
	}
	if _, errs, code := s.settle("cycle", "defer", "--date", day1, "--file", string(b0.BIC)+"/FA-"+day1, "--reason", "x",
		"--to", sat.Format(time.DateOnly)); code != 2 || !strings.Contains(errs, "not a business day (a weekend)") {
		t.Fatalf("defer to a Saturday: exit %d %s", code, lastLines(errs, 3))
	}
	// The wrong bank's file first: FB is deferred, then moved back. Each
	// move is one operator's request and another's approval (four eyes).
	s.approve(s.must("cycle", "defer", "--date", day1, "--file", string(b1.BIC)+"/FB-"+day1, "--reason", "over its cap", "--by", "ops-kim"))
	out = s.must("cycle", "defer", "--date", day2, "--to", day1, "--file", string(b1.BIC)+"/FB-"+day1, "--reason", "deferred the wrong file", "--by", "ops-kim")
	if !strings.Contains(out, "move back file FB-"+day1+" of "+string(b1.BIC)+" from C"+day2+" to C"+day1+", by ops-kim") {
		t.Fatalf("move back: %s", out)
	}
	if got := s.approve(out); !strings.Contains(got, "APPROVED by ops-lee") {
		t.Fatalf("move back approved: %s", got)
	}
	out = s.must("cycle", "defer", "--date", day1, "--file", string(b0.BIC)+"/FA-"+day1, "--reason", "over its KRW cap; cannot fund tonight", "--by", "ops-kim")
	if !strings.Contains(out, "defer file FA-"+day1+" of "+string(b0.BIC)+" from C"+day1+" to C"+day2+", by ops-kim") {
		t.Fatalf("defer: %s", out)
	}
	if _, errs, code := s.settle("approve", s.requestID(out), "--by", "ops-kim", "--config", s.config); code != 1 || !strings.Contains(errs, "four eyes") {
		t.Fatalf("the requester approves her own deferral: exit %d %s", code, lastLines(errs, 3))
	}
	faRequest := s.requestID(out)
	s.approve(out)
	notice, err := os.ReadFile(filepath.Join(s.dir, "state", "sftp", "banks", string(b0.BIC), "outbox", "fa.csv.deferred.json"))
	if err != nil || !strings.Contains(string(notice), `"to_cycle": "C`+day2+`"`) {
		t.Fatalf("the bank's notice: %s %v", notice, err)
	}

	s.must("cycle", "run", "--date", day1)
	if out := s.must("recon", "run", "--date", day1); !strings.Contains(out, " 0 breaks") {
		t.Fatalf("recon %s: %s", day1, out)
	}
	// The bank funds: the cap is raised in Postgres only; the cycle brings
	// it to the ledger before it writes anything, or the ledger would
	// refuse the settlement with its own cap of 500.
	s.setCap(string(b0.BIC), "KRW", "5000")
	s.must("cycle", "run", "--date", day2)
	if out := s.must("recon", "run", "--date", day2); !strings.Contains(out, " 0 breaks") {
		t.Fatalf("recon %s: %s", day2, out)
	}

	// What the banks were told, each in a file of its own: the deferred
	// file's PDNG of day 1 stays beside its ACSC of day 2; bank 0's day 1
	// report lists its deferred payment; each of FB's two moves has its
	// notice.
	outbox := func(bic settlement.BIC, name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(s.dir, "state", "sftp", "banks", string(bic), "outbox", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	xsd := filepath.Join("..", "..", "shared", "iso20022", "xsd", "pacs.002.001.10.xsd")
	for name, want := range map[string]string{"fa.csv.settled.xml": "<GrpSts>PDNG</GrpSts>", "fa.csv.C" + day2 + ".settled.xml": "<GrpSts>ACSC</GrpSts>"} {
		got := outbox(b0.BIC, name)
		if !strings.Contains(got, want) {
			t.Fatalf("%s: %s", name, got)
		}
		path := filepath.Join(s.dir, "state", "sftp", "banks", string(b0.BIC), "outbox", name)
		if out, err := exec.Command("xmllint", "--noout", "--schema", xsd, path).CombinedOutput(); err != nil {
			t.Fatalf("%s is not valid pacs.002.001.10: %v\n%s", name, err, out)
		}
	}
	if got := outbox(b0.BIC, "fa.csv.settled.xml"); !strings.Contains(got, "deferred to C"+day2) {
		t.Fatalf("PDNG confirmation: %s", got)
	}
	if got := outbox(b0.BIC, "fa.csv.C"+day2+".settled.xml"); !strings.Contains(got, "settled in C"+day2+" ledger tx ") {
		t.Fatalf("ACSC confirmation: %s", got)
	}
	var rep struct {
		Deferred []struct {
			PaymentID string `json:"payment_id"`
			Amount    string `json:"amount"`
			ToCycle   string `json:"to_cycle"`
		} `json:"deferred"`
		Count int `json:"deferred_count"`
	}
	if err := json.Unmarshal([]byte(outbox(b0.BIC, "positions-"+day1+".json")), &rep); err != nil || rep.Count != 1 || len(rep.Deferred) != 1 ||
		rep.Deferred[0].PaymentID != "DA-"+day1 || rep.Deferred[0].Amount != "1000" || rep.Deferred[0].ToCycle != "C"+day2 {
		t.Fatalf("bank 0's day 1 report's deferred list: %+v %v", rep, err)
	}
	for name, to := range map[string]string{"fb.csv.deferred.json": day2, "fb.csv.2.deferred.json": day1} {
		if got := outbox(b1.BIC, name); !strings.Contains(got, `"to_cycle": "C`+to+`"`) {
			t.Fatalf("%s: %s", name, got)
		}
	}

	out = s.must("audit", "trace", string(b0.BIC)+"/DA-"+day1, "--format", "json")
	var tr struct {
		OK    bool `json:"ok"`
		Steps []struct {
			Step  string            `json:"step"`
			Facts map[string]string `json:"facts"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil || !tr.OK {
		t.Fatalf("trace: %v %s", err, out)
	}
	var moves []string
	for _, st := range tr.Steps {
		if st.Step == "cycle" && (st.Facts["cycle"] != "C"+day2 || st.Facts["deferred_from"] != "C"+day1 || st.Facts["settled_in"] != "C"+day2) {
			t.Fatalf("trace cycle step %v", st.Facts)
		}
		if st.Step == "ledger" && st.Facts["cycle"] != "C"+day2 {
			t.Fatalf("the ledger records it in %v", st.Facts)
		}
		if st.Step == "deferred" {
			moves = append(moves, st.Facts["from"]+">"+st.Facts["to"]+" by "+st.Facts["by"])
		}
	}
	if got := strings.Join(moves, ", "); got != "C"+day1+">C"+day2+" by ops-kim, approved by ops-lee (request "+faRequest+")" {
		t.Fatalf("the trace's deferrals: %s", got)
	}
	for _, d := range []string{day1, day2} {
		if out := s.must("audit", "verify", "--date", d); !strings.Contains(out, "1 files re-verified") || !strings.Contains(out, "agree") {
			t.Fatalf("verify %s: %s", d, out)
		}
	}
}

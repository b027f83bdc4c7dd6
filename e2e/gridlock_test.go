package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"settle/settlement"
)

var proposalRe = regexp.MustCompile(`"id":"([^"]+)"`)

// gridlockSetting sets the ledger's scheme setting gridlock as the scheme
// changes it: the operator's admin proposes, the admins of two of the three
// banks approve (a majority), and the ledger applies it.
func (s *sys) gridlockSetting(value string) {
	s.t.Helper()
	out := s.must("ledger", "setting", "propose", "gridlock", value, "--config", s.config)
	m := proposalRe.FindStringSubmatch(out)
	if m == nil {
		s.t.Fatalf("no proposal id in %s", out)
	}
	for _, b := range s.banks[:2] {
		out = s.must("ledger", "setting", "approve", m[1], "--bank", string(b.BIC), "--config", s.config)
	}
	if !strings.Contains(out, `"status":"applied"`) {
		s.t.Fatalf("the setting did not apply with the operator and two of three banks: %s", out)
	}
	if out := s.must("ledger", "setting", "show", "--config", s.config); !strings.Contains(out, `"value":"`+value+`"`) {
		s.t.Fatalf("setting show: %s", out)
	}
}

// outboxFile reads a file of a bank's outbox.
func (s *sys) outboxFile(bic settlement.BIC, name string) string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "state", "sftp", "banks", string(bic), "outbox", name))
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// schemaValid checks an outbox file against its ISO 20022 schema.
func (s *sys) schemaValid(bic settlement.BIC, name, schema string) {
	s.t.Helper()
	xsd := filepath.Join("..", "..", "shared", "iso20022", "xsd", schema+".xsd")
	path := filepath.Join(s.dir, "state", "sftp", "banks", string(bic), "outbox", name)
	if out, err := exec.Command("xmllint", "--noout", "--schema", xsd, path).CombinedOutput(); err != nil {
		s.t.Fatalf("%s is not valid %s: %v\n%s", name, schema, err, out)
	}
}

// txStatuses are a pacs.002's group status and each TxInfAndSts as
// "ID STATUS", sorted.
func txStatuses(t *testing.T, doc string) (string, []string) {
	t.Helper()
	grp := regexp.MustCompile(`<GrpSts>([A-Z]+)</GrpSts>`).FindStringSubmatch(doc)
	if grp == nil {
		t.Fatalf("no GrpSts: %s", doc)
	}
	var txs []string
	for _, m := range regexp.MustCompile(`(?s)<TxInfAndSts>\s*<OrgnlEndToEndId>([^<]+)</OrgnlEndToEndId>\s*<TxSts>([A-Z]+)</TxSts>\s*<StsRsnInf>\s*<AddtlInf>([^<]+)</AddtlInf>`).FindAllStringSubmatch(doc, -1) {
		txs = append(txs, m[1]+" "+m[2]+" "+strings.Fields(m[3])[0]+" "+strings.Fields(m[3])[2])
	}
	sort.Strings(txs)
	return grp[1], txs
}

// bankReport is a bank's JSON report after a cycle.
type bankReport struct {
	Positions []struct {
		Currency string `json:"currency"`
		Net      string `json:"net"`
	} `json:"positions"`
	Deferred []struct {
		PaymentID string `json:"payment_id"`
		FileID    string `json:"file_id"`
		Line      int    `json:"line"`
		ToCycle   string `json:"to_cycle"`
	} `json:"deferred"`
	Count int `json:"deferred_count"`
}

// TestGridlockResolvedOnTheLedger: with the scheme's gridlock setting auto
// (the operator and a majority of the banks), a night over a bank's cap is
// not held: the service declares and relays its files, the ledger settles
// the greatest set that fits every cap (bank A's queue loses its last two
// payments: removing the last alone leaves it over), and the service
// follows the ledger's answer. Bank A is told payment by payment (PART,
// PDNG with the cycle each moved to), its statement holds only what
// settled, its JSON report lists the deferred; reconciliation finds no
// break; the auditor re-verifies the night from the archive and from the
// ledger alone, and traces a deferred payment to the ledger's record. The
// next night, A's cap lowered, the carried payments come first in its
// queue, so the ledger removes its new file's payment first, then one carried
// payment is deferred again; each is confirmed in a confirmation of its
// own. The third night has no file of its own: the bank has funded, and
// the carried payments settle.
func TestGridlockResolvedOnTheLedger(t *testing.T) {
	day1, day2, day3 := businessDay(t, 15), businessDay(t, 16), businessDay(t, 17)
	s := newSys(t, 3, day1)
	// Its own days, further ahead than a file may be dated: the test's
	// clock is each day's morning.
	s.env = append(s.env, "SETTLE_CLOCK="+day1+"T01:00:00Z")
	a, b, c := s.banks[0], s.banks[1], s.banks[2]
	s.gridlockSetting("auto")
	// The other tests of this ledger expect the default.
	t.Cleanup(func() { s.gridlockSetting("hold") })

	h := func(id string, bank settlement.BIC, day string) string {
		return fmt.Sprintf("H,%s-%s,%s,%s,%sT09:00:00+09:00\n", id, day, bank, day, day)
	}
	p := func(id string, from, to settlement.BIC, amount int, day string) string {
		return fmt.Sprintf("P,%s-%s,%s,%s,%d,KRW\n", id, day, from, to, amount)
	}
	s.drop(a, "fa.csv", []byte(h("GA", a.BIC, day1)+p("GA1", a.BIC, b.BIC, 600, day1)+p("GA2", a.BIC, b.BIC, 300, day1)+p("GA3", a.BIC, c.BIC, 200, day1)+"T,3,1100\n"))
	s.drop(b, "fb.csv", []byte(h("GB", b.BIC, day1)+p("GB1", b.BIC, c.BIC, 800, day1)+p("GB2", b.BIC, a.BIC, 100, day1)+"T,2,900\n"))
	s.drop(c, "fc.csv", []byte(h("GC", c.BIC, day1)+p("GC1", c.BIC, a.BIC, 50, day1)+"T,1,50\n"))
	if out := s.must("intake", "run"); !strings.Contains(out, "accepted 3") {
		t.Fatalf("intake: %s", out)
	}
	// A's net debit is 950 over a cap of 500. Removing GA3 (200) leaves
	// 750; removing GA2 (300) too leaves 450, and B, now paid 300 less,
	// nets -300 within its 350.
	s.setCap(string(a.BIC), "KRW", "500")
	s.setCap(string(b.BIC), "KRW", "350")
	s.setCap(string(c.BIC), "KRW", "1000")

	nets := func(bank settlement.BIC, day string) (string, bankReport) {
		t.Helper()
		var r bankReport
		if err := json.Unmarshal([]byte(s.outboxFile(bank, "positions-"+day+".json")), &r); err != nil || len(r.Positions) != 1 {
			t.Fatalf("%s's report of %s: %+v %v", bank, day, r, err)
		}
		return r.Positions[0].Net, r
	}
	// night runs a day's cycle to REPORTED, reconciles it (recon says what
	// it must find) and checks the net each bank's report gives.
	night := func(day, recon string, want map[settlement.BIC]string) {
		t.Helper()
		out := s.must("cycle", "run", "--date", day)
		if st := s.stage(day); st != "REPORTED" {
			t.Fatalf("%s stage %s:\n%s", day, st, out)
		}
		if out := s.must("recon", "run", "--date", day); !strings.Contains(out, recon) {
			t.Fatalf("recon %s: %s", day, out)
		}
		for bank, net := range want {
			if got, _ := nets(bank, day); got != net {
				t.Fatalf("%s %s net %s, want %s", bank, day, got, net)
			}
		}
	}
	// What settles: GA1, GB1, GB2, GC1.
	night(day1, "6 in Postgres, 6 on the ledger, 6 matched, 0 breaks", map[settlement.BIC]string{a.BIC: "-450", b.BIC: "-300", c.BIC: "750"})
	// The settling transaction, which wrote the split, is endorsed by a
	// majority of the banks (audit tx checks each endorsement's signature).
	settleTx := ""
	for _, line := range strings.Split(s.must("cycle", "ledger", "--date", day1), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "settle" {
			settleTx = f[2]
		}
	}
	var at struct {
		OK    bool `json:"ok"`
		Steps []struct {
			Step  string            `json:"step"`
			Facts map[string]string `json:"facts"`
			Check string            `json:"check"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(s.must("audit", "tx", settleTx, "--format", "json")), &at); err != nil || !at.OK || len(at.Steps) == 0 || at.Steps[0].Check != "ok" {
		t.Fatalf("audit tx of the settling transaction %q: %+v %v", settleTx, at, err)
	}
	_, rep := nets(a.BIC, day1)
	var listed []string
	for _, d := range rep.Deferred {
		listed = append(listed, fmt.Sprintf("%s line %d to %s", d.PaymentID, d.Line, d.ToCycle))
	}
	sort.Strings(listed)
	if want := []string{"GA2-" + day1 + " line 3 to C" + day2, "GA3-" + day1 + " line 4 to C" + day2}; rep.Count != 2 || strings.Join(listed, ", ") != strings.Join(want, ", ") {
		t.Fatalf("A's deferred list: %d %v, want %v", rep.Count, listed, want)
	}
	if _, rb := nets(b.BIC, day1); rb.Count != 0 {
		t.Fatalf("B's report lists deferred payments: %+v", rb)
	}

	// Payment by payment: A's file is PART with a PDNG for each deferred
	// payment; B's and C's settled whole.
	s.schemaValid(a.BIC, "fa.csv.settled.xml", "pacs.002.001.10")
	grp, txs := txStatuses(t, s.outboxFile(a.BIC, "fa.csv.settled.xml"))
	if want := []string{"GA2-" + day1 + " PDNG deferred C" + day2, "GA3-" + day1 + " PDNG deferred C" + day2}; grp != "PART" || strings.Join(txs, "; ") != strings.Join(want, "; ") {
		t.Fatalf("A's confirmation: %s %v, want PART %v", grp, txs, want)
	}
	for bank, name := range map[settlement.BIC]string{b.BIC: "fb.csv.settled.xml", c.BIC: "fc.csv.settled.xml"} {
		if grp, txs := txStatuses(t, s.outboxFile(bank, name)); grp != "ACSC" || len(txs) != 0 {
			t.Fatalf("%s %s: %s %v", bank, name, grp, txs)
		}
	}
	// A's statement: only what settled.
	stmt := camtName(day1)
	s.schemaValid(a.BIC, stmt, "camt.053.001.08")
	st := s.outboxFile(a.BIC, stmt)
	for id, want := range map[string]bool{"GA1": true, "GA2": false, "GA3": false, "GB2": true, "GC1": true} {
		if got := strings.Contains(st, "<EndToEndId>"+id+"-"+day1+"</EndToEndId>"); got != want {
			t.Fatalf("A's statement of %s holds %s: %v, want %v", day1, id, got, want)
		}
	}

	// The auditor: from the archive, and from the ledger alone; and a
	// deferred payment's trace.
	if out := s.must("audit", "verify", "--date", day1); !strings.Contains(out, "2 deferred to the next cycle, 0 carried in") || !strings.Contains(out, "agree") {
		t.Fatalf("audit verify day 1: %s", out)
	}
	if out := s.must("audit", "verify", "--date", day1, "--ledger-only"); !strings.Contains(out, "2 deferred to the next cycle") || !strings.Contains(out, "agree") {
		t.Fatalf("audit verify --ledger-only day 1: %s", out)
	}
	trace := func(id string) map[string][]map[string]string {
		t.Helper()
		out := s.must("audit", "trace", string(a.BIC)+"/"+id, "--format", "json")
		var tr struct {
			OK    bool `json:"ok"`
			Steps []struct {
				Step  string            `json:"step"`
				Facts map[string]string `json:"facts"`
				Check string            `json:"check"`
			} `json:"steps"`
		}
		if err := json.Unmarshal([]byte(out), &tr); err != nil || !tr.OK {
			t.Fatalf("trace %s: %v %s", id, err, out)
		}
		steps := map[string][]map[string]string{}
		for _, st := range tr.Steps {
			steps[st.Step] = append(steps[st.Step], st.Facts)
		}
		return steps
	}
	tr := trace("GA2-" + day1)
	if d := tr["deferred"]; len(d) != 1 || d[0]["from"] != "C"+day1 || d[0]["to"] != "C"+day2 || d[0]["times"] != "1" || d[0]["by"] != "the ledger's gridlock resolution" {
		t.Fatalf("trace's deferral: %v", d)
	}
	if cy := tr["cycle"]; len(cy) != 1 || cy[0]["deferred_to"] != "C"+day2 || cy[0]["settled_in"] != "" {
		t.Fatalf("trace's cycle before day 2: %v", cy)
	}

	// Day 2: the bank has not funded, and its cap is lowered to 450. Its
	// queue is the carried payments first (GA2, GA3), then its new file
	// (GA4): the ledger removes GA4, then GA3 again; GA2 settles.
	s.env[len(s.env)-1] = "SETTLE_CLOCK=" + day2 + "T01:00:00Z"
	s.setCap(string(a.BIC), "KRW", "450")
	s.drop(a, "fa2.csv", []byte(h("GA", a.BIC, day2)+p("GA4", a.BIC, c.BIC, 10, day2)+"T,1,10\n"))
	if out := s.must("intake", "run"); !strings.Contains(out, "accepted 1") {
		t.Fatalf("intake day 2: %s", out)
	}
	night(day2, "1 in Postgres, 1 on the ledger, 1 matched, 0 breaks", map[settlement.BIC]string{a.BIC: "-300", b.BIC: "300"})
	confirmation := func(name, wantGrp string, want ...string) {
		t.Helper()
		s.schemaValid(a.BIC, name, "pacs.002.001.10")
		grp, txs := txStatuses(t, s.outboxFile(a.BIC, name))
		sort.Strings(want)
		if grp != wantGrp || strings.Join(txs, "; ") != strings.Join(want, "; ") {
			t.Fatalf("%s: %s %v, want %s %v", name, grp, txs, wantGrp, want)
		}
	}
	// The carried file: GA2 settled now, GA3 deferred again; the new
	// file: GA4 deferred.
	confirmation("fa.csv.C"+day2+".settled.xml", "PART", "GA2-"+day1+" ACSC settled C"+day2, "GA3-"+day1+" PDNG deferred C"+day3)
	confirmation("fa2.csv.settled.xml", "PART", "GA4-"+day2+" PDNG deferred C"+day3)
	st = s.outboxFile(a.BIC, camtName(day2))
	for id, want := range map[string]bool{"GA2-" + day1: true, "GA3-" + day1: false, "GA4-" + day2: false} {
		if got := strings.Contains(st, "<EndToEndId>"+id+"</EndToEndId>"); got != want {
			t.Fatalf("A's statement of %s holds %s: %v, want %v", day2, id, got, want)
		}
	}
	if out := s.must("audit", "verify", "--date", day2); !strings.Contains(out, "2 deferred to the next cycle, 2 carried in") || !strings.Contains(out, "agree") {
		t.Fatalf("audit verify day 2: %s", out)
	}

	// Day 3: no file of its own; the bank has funded. The carried
	// payments settle, the cycle's files declared as none.
	s.env[len(s.env)-1] = "SETTLE_CLOCK=" + day3 + "T01:00:00Z"
	s.setCap(string(a.BIC), "KRW", "2000")
	night(day3, " 0 breaks", map[settlement.BIC]string{a.BIC: "-210", c.BIC: "210"})
	confirmation("fa.csv.C"+day3+".settled.xml", "ACSC", "GA3-"+day1+" ACSC settled C"+day3)
	confirmation("fa2.csv.C"+day3+".settled.xml", "ACSC", "GA4-"+day2+" ACSC settled C"+day3)
	st = s.outboxFile(a.BIC, camtName(day3))
	for _, id := range []string{"GA3-" + day1, "GA4-" + day2} {
		if !strings.Contains(st, "<EndToEndId>"+id+"</EndToEndId>") {
			t.Fatalf("A's statement of %s lacks %s", day3, id)
		}
	}
	// GA3's trace: two moves, the second its second deferral, and the
	// cycle that settled it.
	tr = trace("GA3-" + day1)
	if d := tr["deferred"]; len(d) != 2 || d[1]["from"] != "C"+day2 || d[1]["to"] != "C"+day3 || d[1]["times"] != "2" {
		t.Fatalf("GA3's moves: %v", d)
	}
	if cy := tr["cycle"]; len(cy) != 1 || cy[0]["settled_in"] != "C"+day3 || cy[0]["cycle"] != "C"+day1 {
		t.Fatalf("trace's cycle after day 3: %v", cy)
	}
	if out := s.must("audit", "verify", "--date", day3); !strings.Contains(out, "0 deferred to the next cycle, 2 carried in") || !strings.Contains(out, "agree") {
		t.Fatalf("audit verify day 3: %s", out)
	}
}

func camtName(day string) string { return "C" + day + ".camt053.xml" }

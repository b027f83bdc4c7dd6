package jobs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"settle/formats/gen"
	"settle/intake"
	"settle/jobs"
	"settle/settlement"
)

// schemaValid checks files against the official pacs.002.001.10 schema
// with xmllint, the independent oracle.
func schemaValid(t testing.TB, files ...string) {
	t.Helper()
	if len(files) == 0 {
		return
	}
	_, here, _, _ := runtime.Caller(0)
	xsd := filepath.Join(filepath.Dir(here), "..", "..", "shared", "iso20022", "xsd", "pacs.002.001.10.xsd")
	out, err := exec.Command("xmllint", append([]string{"--noout", "--schema", xsd}, files...)...).CombinedOutput()
	if err != nil || strings.Count(string(out), " validates") != len(files) {
		t.Errorf("status reports not valid against %s: %v\n%s", xsd, err, out)
	}
}

// statusReport is what a test reads of a pacs.002 status report.
type statusReport struct {
	MsgID   string `xml:"FIToFIPmtStsRpt>GrpHdr>MsgId"`
	Created string `xml:"FIToFIPmtStsRpt>GrpHdr>CreDtTm"`
	Instg   string `xml:"FIToFIPmtStsRpt>GrpHdr>InstgAgt>FinInstnId>BICFI"`
	Instd   string `xml:"FIToFIPmtStsRpt>GrpHdr>InstdAgt>FinInstnId>BICFI"`
	Orgnl   struct {
		MsgID   string         `xml:"OrgnlMsgId"`
		MsgName string         `xml:"OrgnlMsgNmId"`
		Created string         `xml:"OrgnlCreDtTm"`
		NbOfTxs string         `xml:"OrgnlNbOfTxs"`
		CtrlSum string         `xml:"OrgnlCtrlSum"`
		GrpSts  string         `xml:"GrpSts"`
		Reasons []statusReason `xml:"StsRsnInf"`
	} `xml:"FIToFIPmtStsRpt>OrgnlGrpInfAndSts"`
	Txs []struct {
		ID      string         `xml:"OrgnlEndToEndId"`
		Sts     string         `xml:"TxSts"`
		Reasons []statusReason `xml:"StsRsnInf"`
	} `xml:"FIToFIPmtStsRpt>TxInfAndSts"`
}

type statusReason struct {
	Cd    string `xml:"Rsn>Cd"`
	Prtry string `xml:"Rsn>Prtry"`
	Info  string `xml:"AddtlInf"`
}

func (r statusReason) String() string { return r.Cd + r.Prtry }

// verdict sums a report up: the group status and reasons, then each
// entry with its reasons.
func (r statusReport) verdict() string {
	s := r.Orgnl.GrpSts
	for _, x := range r.Orgnl.Reasons {
		s += " " + x.String()
	}
	for _, tx := range r.Txs {
		s += " | " + tx.ID + ":" + tx.Sts
		for _, x := range tx.Reasons {
			s += " " + x.String()
		}
	}
	return s
}

func (r statusReport) reasons() int {
	n := len(r.Orgnl.Reasons)
	for _, tx := range r.Txs {
		n += len(tx.Reasons)
	}
	return n
}

// report reads bank's status report name from its outbox.
func (w *world) report(bank int, name string) (statusReport, []byte) {
	w.t.Helper()
	b := w.read(filepath.Join(w.outbox(bank), name))
	var r statusReport
	if err := xml.Unmarshal(b, &r); err != nil {
		w.t.Fatalf("%s: %v\n%s", name, err, b)
	}
	return r, b
}

// orderInbox notes the names the intake writes into outboxes, in order,
// and can fail one write once: before it (nothing written) or after it
// (written, the answer lost).
type orderInbox struct {
	jobs.Inbox
	mu          sync.Mutex
	written     []string
	failName    string
	failAfter   bool
	failedCount int
}

var errLost = errors.New("outbox write failed")

func (o *orderInbox) Ack(ctx context.Context, f jobs.InboxFile, name string, body []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	fail := name == o.failName && o.failedCount == 0
	if fail && !o.failAfter {
		o.failedCount++
		return errLost
	}
	if err := o.Inbox.Ack(ctx, f, name, body); err != nil {
		return err
	}
	o.written = append(o.written, name)
	if fail {
		o.failedCount++
		return errLost
	}
	return nil
}

// TestStatusReportBesideEveryAck is issue 15 item 5: every file taken, CSV
// or XML, accepted or rejected, readable or not, and under a reused name,
// gets <ack name>.ack.xml, a pacs.002.001.10 written just before its JSON
// acknowledgement and saying the same verdict: the scheme to the sender,
// the file as it declared itself, and each bad entry under its id with
// the ISO reason of the contract's table (the same problems as the JSON
// ack, one for one).
func TestStatusReportBesideEveryAck(t *testing.T) {
	w := newWorld(t)
	order := &orderInbox{Inbox: w.inbox}
	w.intake.Inbox = order
	const date = settlement.Date("2026-11-24")
	b0, b1 := w.banks[0].BIC, w.banks[1].BIC
	created, _ := time.Parse(time.RFC3339, string(date)+"T09:00:00+09:00")

	ok := w.csv(0, date, "F-OK", []gen.Payment{{ID: "OK-1", Debtor: b0, Creditor: b1, Amount: "1000", Currency: "KRW"},
		{ID: "OK-2", Debtor: b0, Creditor: b1, Amount: "250", Currency: "KRW"}})
	bad := []byte(fmt.Sprintf("H,F-BAD,%s,%s,%sT09:00:00+09:00\nP,B-1,%s,%s,10.5,KRW\nP,B-2,%s,%s,100,KRW\nP,B-3,%s,%s,100,KRW\nT,4,210\n",
		b0, date, date, b0, b1, b0, b0, b0, b1))
	var pacs008, badXML, pacs007 bytes.Buffer
	if err := gen.WriteXML(&pacs008, "F-X8", b0, date, created, []gen.Payment{{ID: "X-1", Debtor: b0, Creditor: b1, Amount: "77.5", Currency: "USD"}}); err != nil {
		t.Fatal(err)
	}
	if err := gen.WriteXML(&badXML, "F-XB", b0, date, created, []gen.Payment{{ID: "XB-1", Debtor: b0, Creditor: b1, Amount: "5", Currency: "USD"},
		{ID: "XB-2", Debtor: b0, Creditor: b1, Amount: "1.555", Currency: "USD"}}); err != nil {
		t.Fatal(err)
	}
	never := gen.Payment{ID: "NEVER-1", Debtor: b0, Creditor: b1, Amount: "500", Currency: "KRW"}
	if err := gen.WriteReversals(&pacs007, "F-R7", b0, date, created, []gen.Reversal{{ID: "RV-1", Original: never, Reason: "AM05"}}); err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name, ack string
		body      []byte
	}{
		{"ok.csv", "ok.csv.ack.json", ok},
		{"bad.csv", "bad.csv.ack.json", bad},
		{"pay.xml", "pay.xml.ack.json", pacs008.Bytes()},
		{"bad.xml", "bad.xml.ack.json", badXML.Bytes()},
		{"rev.xml", "rev.xml.ack.json", pacs007.Bytes()},
		{"junk.csv", "junk.csv.ack.json", []byte("not a payment file\n")},
	}
	for _, f := range files {
		w.upload(0, f.name, f.body)
		if _, err := w.intake.Collect(w.ctx); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
	}
	// The same name again, other bytes, the same file id: a duplicate,
	// under a name of its own.
	again := w.csv(0, date, "F-OK", []gen.Payment{{ID: "OK-3", Debtor: b0, Creditor: b1, Amount: "5", Currency: "KRW"}})
	w.upload(0, "ok.csv", again)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	files = append(files, struct {
		name, ack string
		body      []byte
	}{"ok.csv", intake.AckNameOf("ok.csv", sha256Hex(again)), again})

	want := map[string]struct {
		fileID, msg, created, txs, sum, verdict string
	}{
		"ok.csv.ack.json":   {"F-OK", "settle.csv", "2026-11-24T09:00:00+09:00", "2", "1250", "ACTC"},
		"bad.csv.ack.json":  {"F-BAD", "settle.csv", "2026-11-24T09:00:00+09:00", "4", "210", "RJCT AM19 | B-1:RJCT AM12 | B-2:RJCT AG12"},
		"pay.xml.ack.json":  {"F-X8", "pacs.008.001.08", "2026-11-24T09:00:00+09:00", "1", "77.5", "ACTC"},
		"bad.xml.ack.json":  {"F-XB", "pacs.008.001.08", "2026-11-24T09:00:00+09:00", "2", "6.555", "RJCT | XB-2:RJCT AM12"},
		"rev.xml.ack.json":  {"F-R7", "pacs.007.001.09", "2026-11-24T09:00:00+09:00", "1", "500", "RJCT | RV-1:RJCT AG09"},
		"junk.csv.ack.json": {"junk.csv", "settle.csv", "", "", "", "RJCT FF01 FF01 FF01"},
		files[6].ack:        {"F-OK", "settle.csv", "2026-11-24T09:00:00+09:00", "1", "5", "RJCT DU01"},
	}
	ids := map[string]string{}
	for _, f := range files {
		name := intake.ReportName(f.ack)
		r, raw := w.report(0, name)
		a := w.ack(0, strings.TrimSuffix(f.ack, ".ack.json"))
		wt := want[f.ack]
		if r.Orgnl.MsgID != wt.fileID || r.Orgnl.MsgName != wt.msg || r.Orgnl.Created != wt.created || r.Orgnl.NbOfTxs != wt.txs ||
			r.Orgnl.CtrlSum != wt.sum || r.verdict() != wt.verdict {
			t.Errorf("%s: %q %q %q %q %q %q; want %+v\n%s", name, r.Orgnl.MsgID, r.Orgnl.MsgName, r.Orgnl.Created, r.Orgnl.NbOfTxs,
				r.Orgnl.CtrlSum, r.verdict(), wt, raw)
		}
		if r.Created != a.ReceivedAt || r.Created != w.now.Format(time.RFC3339) || r.Instg != string(jobs.DefaultScheme) || r.Instd != string(b0) {
			t.Errorf("%s: created %s (ack received_at %s), from %s to %s", name, r.Created, a.ReceivedAt, r.Instg, r.Instd)
		}
		if (a.Status == intake.Accepted) != (r.Orgnl.GrpSts == "ACTC") || r.reasons() != len(a.Errors) {
			t.Errorf("%s: %s with %d reasons; the JSON ack: %s with %d errors", name, r.Orgnl.GrpSts, r.reasons(), a.Status, len(a.Errors))
		}
		if prev, dup := ids[r.MsgID]; dup || len(r.MsgID) == 0 || len(r.MsgID) > 35 {
			t.Errorf("%s: MsgId %q (also %s)", name, r.MsgID, prev)
		}
		ids[r.MsgID] = name
		for _, x := range r.Orgnl.Reasons {
			if x.Info == "" || len([]rune(x.Info)) > 105 {
				t.Errorf("%s: AddtlInf %q", name, x.Info)
			}
		}
	}
	if r, _ := w.report(0, "bad.csv.ack.xml"); len(r.Txs) > 0 && r.Txs[0].Reasons[0].Info != "AMOUNT_SCALE line 2: "+w.ack(0, "bad.csv").Errors[0].Message {
		t.Errorf("AddtlInf %q", r.Txs[0].Reasons[0].Info)
	}
	// Each report was written just before its acknowledgement.
	var wantOrder []string
	for _, f := range files {
		wantOrder = append(wantOrder, intake.ReportName(f.ack), f.ack)
	}
	if strings.Join(order.written, " ") != strings.Join(wantOrder, " ") {
		t.Errorf("written in the order\n%v\nwant\n%v", order.written, wantOrder)
	}
	if es, _ := os.ReadDir(w.outbox(0)); len(es) != 2*len(files) {
		t.Errorf("outbox holds %d files, want %d", len(es), 2*len(files))
	}
	reports, _ := filepath.Glob(filepath.Join(w.outbox(0), "*.ack.xml"))
	schemaValid(t, reports...)
}

// TestStatusReportSameBytesAfterAResumedTake: a take stopped while writing
// the outbox (the report not written; the report written with the answer
// lost; the JSON ack not written) is finished by the next pass with the
// bytes recorded with the verdict: the report is written once, first, and
// is byte for byte the recorded one; the JSON ack follows.
// recordedAck is the verdict and the status report the store recorded for
// bank's file name with body: on Postgres, the acknowledgements row itself;
// on memory, what the store answers the intake (jobs.FileLookup).
func (w *world) recordedAck(t *testing.T, bank settlement.BIC, name string, body []byte) (verdict, report []byte) {
	t.Helper()
	if w.pgJobs != nil {
		if err := w.pg.DB().QueryRowContext(w.ctx, `SELECT verdict, report FROM acknowledgements WHERE bank = $1 AND file_name = $2`,
			string(bank), name).Scan(&verdict, &report); err != nil {
			t.Fatal(err)
		}
		return verdict, report
	}
	sum := sha256.Sum256(body)
	rec, ok, err := w.store.Acknowledgement(w.ctx, bank, name, hex.EncodeToString(sum[:]))
	if err != nil || !ok {
		t.Fatalf("%s: no verdict recorded: %v", name, err)
	}
	return rec.Body, rec.Report
}

func TestStatusReportSameBytesAfterAResumedTake(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	b0, b1 := w.banks[0].BIC, w.banks[1].BIC
	for i, c := range []struct {
		fail  string // which write fails
		after bool   // after it was written
	}{{".ack.xml", false}, {".ack.xml", true}, {".ack.json", false}, {".ack.json", true}} {
		name := fmt.Sprintf("resume-%d.csv", i)
		order := &orderInbox{Inbox: w.inbox, failName: name + c.fail, failAfter: c.after}
		w.intake.Inbox = order
		amount := "1000"
		if i%2 == 1 {
			amount = "10.5" // rejected: KRW has no minor unit
		}
		body := w.csv(0, date, fmt.Sprintf("F-RES-%d", i), []gen.Payment{{ID: fmt.Sprintf("RES-%d", i), Debtor: b0, Creditor: b1, Amount: amount, Currency: "KRW"}})
		w.upload(0, name, body)
		if _, err := w.intake.Collect(w.ctx); !errors.Is(err, errLost) {
			t.Fatalf("%s: %v", name, err)
		}
		xmlPath, jsonPath := filepath.Join(w.outbox(0), name+".ack.xml"), filepath.Join(w.outbox(0), name+".ack.json")
		first, _ := os.ReadFile(xmlPath)
		if exists(jsonPath) && first == nil {
			t.Fatalf("%s: the JSON ack was written without the report", name)
		}
		if _, err := w.intake.Collect(w.ctx); err != nil {
			t.Fatalf("%s: resumed: %v", name, err)
		}
		got, js := w.read(xmlPath), w.read(jsonPath)
		if first != nil && !bytes.Equal(first, got) {
			t.Fatalf("%s: the report changed:\n%s\nwas:\n%s", name, got, first)
		}
		verdict, report := w.recordedAck(t, b0, name, body)
		if !bytes.Equal(report, got) || !bytes.Equal(verdict, js) {
			t.Fatalf("%s: the outbox holds what the store did not record:\n%s\n%s", name, got, js)
		}
		var a jobs.AckBody
		json.Unmarshal(js, &a)
		var r statusReport
		xml.Unmarshal(got, &r)
		if (a.Status == intake.Accepted) != (r.Orgnl.GrpSts == "ACTC") {
			t.Fatalf("%s: %s and %s", name, a.Status, r.Orgnl.GrpSts)
		}
		// The report is always written before the JSON ack, and the JSON
		// ack never before a report is in the outbox.
		if i := strings.Join(order.written, " "); !strings.HasPrefix(i, name+".ack.xml") || !strings.HasSuffix(i, name+".ack.json") {
			t.Fatalf("%s: written %v", name, order.written)
		}
		w.inboxEmpty(0)
	}
}

// TestVerdictRecordedBeforeReportsKeepsItsAck: a verdict recorded before
// migration 0012 has no report; its take is finished with its JSON ack
// alone, and no report is made up for it.
func TestVerdictRecordedBeforeReportsKeepsItsAck(t *testing.T) {
	w := newPostgresWorld(t)
	const date = settlement.Date("2026-11-24")
	body := w.csv(0, date, "F-PRE", []gen.Payment{{ID: "PRE-1", Debtor: w.banks[0].BIC, Creditor: w.banks[1].BIC, Amount: "1000", Currency: "KRW"}})
	ack := []byte(`{"file": "pre.csv", "status": "REJECTED", "errors": []}` + "\n")
	if _, err := w.pg.DB().ExecContext(w.ctx, `INSERT INTO acknowledgements (bank, file_name, sha256, ack_name, verdict) VALUES ($1, 'pre.csv', $2, 'pre.csv.ack.json', $3)`,
		string(w.banks[0].BIC), sha256Hex(body), ack); err != nil {
		t.Fatal(err)
	}
	w.upload(0, "pre.csv", body)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.read(filepath.Join(w.outbox(0), "pre.csv.ack.json")); !bytes.Equal(got, ack) {
		t.Fatalf("ack %s", got)
	}
	if exists(filepath.Join(w.outbox(0), "pre.csv.ack.xml")) {
		t.Fatal("a report was made up for a verdict recorded without one")
	}
	w.inboxEmpty(0)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestStatusReportListsAsManyAsTheAck: a file with more bad entries than
// an acknowledgement lists gets a report with the same problems: the first
// ProblemsMax, each under its entry, then TOO_MANY_ERRORS (NARR) for the
// file.
func TestStatusReportListsAsManyAsTheAck(t *testing.T) {
	w := newWorld(t)
	b0, b1 := w.banks[0].BIC, w.banks[1].BIC
	const n = settlement.ProblemsMaxDefault + 2
	var b bytes.Buffer
	fmt.Fprintf(&b, "H,F-MANY,%s,2026-11-24,2026-11-24T09:00:00+09:00\n", b0)
	for i := range n {
		fmt.Fprintf(&b, "P,M-%05d,%s,%s,1.5,KRW\n", i, b0, b1)
	}
	fmt.Fprintf(&b, "T,%d,0\n", n)
	w.upload(0, "many.csv", b.Bytes())
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	a := w.ack(0, "many.csv")
	r, _ := w.report(0, "many.csv.ack.xml")
	last := a.Errors[len(a.Errors)-1]
	if len(a.Errors) != settlement.ProblemsMaxDefault+1 || last.Code != settlement.CodeTooManyErrors || r.reasons() != len(a.Errors) ||
		len(r.Txs) != settlement.ProblemsMaxDefault || r.Txs[0].ID != "M-00000" || len(r.Orgnl.Reasons) != 1 || r.Orgnl.Reasons[0].Cd != "NARR" ||
		r.Orgnl.Reasons[0].Info != "TOO_MANY_ERRORS: "+last.Message {
		t.Fatalf("ack: %d errors, last %+v; report: %d reasons, %d entries, file reasons %+v", len(a.Errors), last, r.reasons(), len(r.Txs), r.Orgnl.Reasons)
	}
}

package pacs002_test

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"settle/formats/pacs002"
)

func shared(t testing.TB, parts ...string) string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(here), "..", "..", "..", "shared", "iso20022"}, parts...)...)
}

var created = time.Date(2026, 11, 24, 18, 0, 3, 0, time.FixedZone("KST", 9*3600))

func ptr[T any](v T) *T { return &v }

// reports covers what a status report can say: accepted CSV and XML
// files, a file rejected for a problem of the file, entries with one and
// several problems, and the hostile or oversized texts a bank's file can
// put into a message.
func reports() map[string]pacs002.Report {
	base := func() pacs002.Report {
		return pacs002.Report{MsgID: "SETTLE-ACK-0001", Created: created, Scheme: "SETLKRSE", Sender: "SHBKKRSE",
			OrgnlMsgID: "F20261124-001", OrgnlMsgName: pacs002.MsgCSV, OrgnlCreated: ptr(created.Add(-15 * time.Minute)),
			OrgnlEntries: ptr(int64(3)), OrgnlCtrlSum: ptr(decimal.RequireFromString("1840000"))}
	}
	out := map[string]pacs002.Report{}
	r := base()
	r.Accepted = true
	out["accepted csv"] = r
	r = base()
	r.Accepted, r.OrgnlMsgName, r.OrgnlCtrlSum = true, pacs002.MsgPacs008, ptr(decimal.RequireFromString("9224.869"))
	out["accepted pacs.008"] = r
	r = base()
	r.Problems = []pacs002.Problem{{Code: "SIGNATURE_INVALID", Message: "the signature does not verify with any key of SHBKKRSE"}}
	out["rejected: the file"] = r
	r = base()
	r.OrgnlMsgName = pacs002.MsgPacs007
	r.Problems = []pacs002.Problem{
		{Entry: "SH-000001", Line: 2, Code: "AMOUNT_SCALE", Message: "amount 12.500 has 3 decimals, USD allows 2"},
		{Entry: "SH-000001", Line: 2, Code: "DEBTOR_NOT_SENDER", Message: "debtor CZNBKRSE is not the sender"},
		{Entry: "SH-R-7", Line: 3, Code: "ALREADY_REVERSED", Message: "SH-000777 was reversed by SH-R-6"},
		{Line: 5, Code: "CONTROL_SUM", Message: "trailer says 10, the entries sum to 12"},
	}
	out["rejected: entries and the trailer"] = r
	r = base()
	long := strings.Repeat("한", 200) + "<&>\x01\x7f\"'"
	r.OrgnlMsgID = strings.Repeat("x", 120) + ".csv" // a file read no further than its name
	r.OrgnlCreated, r.OrgnlEntries = nil, nil
	r.OrgnlCtrlSum = ptr(decimal.RequireFromString("123456789012345678901234.5")) // more than the schema's 18 digits
	r.Problems = []pacs002.Problem{
		{Entry: strings.Repeat("L", 36), Line: 7, Code: "PAYMENT_ID", Message: long}, // unreadable id: a problem of the file
		{Entry: "bad\x00id", Line: 8, Code: "PAYMENT_ID", Message: "control character"},
		{Entry: "OK-1", Line: 9, Code: "SOMETHING_NEW_OF_OURS_THAT_IS_FAR_TOO_LONG_FOR_PRTRY", Message: long},
	}
	out["rejected: hostile texts"] = r
	r = base()
	for i := range pacs002.ProblemsMax {
		r.Problems = append(r.Problems, pacs002.Problem{Entry: fmt.Sprintf("P-%05d", i), Line: i + 2, Code: "AMOUNT_ZERO", Message: "amount is zero"})
	}
	// and the problem that closes a cut list, as in the JSON ack
	r.Problems = append(r.Problems, pacs002.Problem{Code: pacs002.CodeTooMany, Message: "3 more problems not listed; fix the ones above and send the file again"})
	out["rejected: the most problems"] = r
	return out
}

// TestReportsAreSchemaValid: every report, whatever the file said, is
// valid against the official pacs.002.001.10 schema (xmllint is the
// oracle).
func TestReportsAreSchemaValid(t *testing.T) {
	if testing.Short() {
		t.Skip("needs xmllint (libxml2-utils)")
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install libxml2-utils (ops/deps.sh does)")
	}
	dir := t.TempDir()
	var files []string
	for name, r := range reports() {
		var b bytes.Buffer
		if err := pacs002.Write(&b, r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f := filepath.Join(dir, strings.NewReplacer(" ", "_", ":", "").Replace(name)+".xml")
		os.WriteFile(f, b.Bytes(), 0o600)
		files = append(files, f)
	}
	out, err := exec.Command(xmllint, append([]string{"--noout", "--schema", shared(t, "xsd", "pacs.002.001.10.xsd")}, files...)...).CombinedOutput()
	if err != nil || strings.Count(string(out), " validates") != len(files) {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
}

// doc is the part of a report the tests read back.
type doc struct {
	GrpHdr struct {
		MsgID    string `xml:"MsgId"`
		InstgAgt string `xml:"InstgAgt>FinInstnId>BICFI"`
		InstdAgt string `xml:"InstdAgt>FinInstnId>BICFI"`
	} `xml:"FIToFIPmtStsRpt>GrpHdr"`
	Group struct {
		OrgnlMsgID   string      `xml:"OrgnlMsgId"`
		OrgnlMsgNmID string      `xml:"OrgnlMsgNmId"`
		OrgnlNbOfTxs string      `xml:"OrgnlNbOfTxs"`
		OrgnlCtrlSum string      `xml:"OrgnlCtrlSum"`
		GrpSts       string      `xml:"GrpSts"`
		Reasons      []reasonDoc `xml:"StsRsnInf"`
	} `xml:"FIToFIPmtStsRpt>OrgnlGrpInfAndSts"`
	Tx []struct {
		EndToEndID string      `xml:"OrgnlEndToEndId"`
		TxSts      string      `xml:"TxSts"`
		Reasons    []reasonDoc `xml:"StsRsnInf"`
	} `xml:"FIToFIPmtStsRpt>TxInfAndSts"`
}

type reasonDoc struct {
	Cd       string `xml:"Rsn>Cd"`
	Prtry    string `xml:"Rsn>Prtry"`
	AddtlInf string `xml:"AddtlInf"`
}

func read(t *testing.T, r pacs002.Report) doc {
	t.Helper()
	var b bytes.Buffer
	if err := pacs002.Write(&b, r); err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := xml.Unmarshal(b.Bytes(), &d); err != nil {
		t.Fatalf("%v\n%s", err, b.Bytes())
	}
	return d
}

// TestReportSaysWhatTheAckSays: the group status, the original's figures,
// one TxInfAndSts per bad entry with every problem of it, ISO reason codes
// where the contract's table has one and our code otherwise, and our code
// with the line and message in AddtlInf, cut to 105 characters.
func TestReportSaysWhatTheAckSays(t *testing.T) {
	rs := reports()
	d := read(t, rs["accepted csv"])
	if d.Group.GrpSts != "ACTC" || d.Group.OrgnlMsgID != "F20261124-001" || d.Group.OrgnlMsgNmID != "settle.csv" ||
		d.Group.OrgnlNbOfTxs != "3" || d.Group.OrgnlCtrlSum != "1840000" || len(d.Tx) != 0 || len(d.Group.Reasons) != 0 {
		t.Fatalf("accepted: %+v", d)
	}
	if d.GrpHdr.InstgAgt != "SETLKRSE" || d.GrpHdr.InstdAgt != "SHBKKRSE" || d.GrpHdr.MsgID != "SETTLE-ACK-0001" {
		t.Fatalf("group header: %+v", d.GrpHdr)
	}
	d = read(t, rs["rejected: entries and the trailer"])
	if d.Group.GrpSts != "RJCT" || d.Group.OrgnlMsgNmID != "pacs.007.001.09" || len(d.Tx) != 2 {
		t.Fatalf("rejected: %+v", d)
	}
	if tx := d.Tx[0]; tx.EndToEndID != "SH-000001" || tx.TxSts != "RJCT" || len(tx.Reasons) != 2 ||
		tx.Reasons[0].Cd != "AM12" || tx.Reasons[1].Prtry != "DEBTOR_NOT_SENDER" ||
		tx.Reasons[0].AddtlInf != "AMOUNT_SCALE line 2: amount 12.500 has 3 decimals, USD allows 2" {
		t.Fatalf("first entry: %+v", tx)
	}
	if tx := d.Tx[1]; tx.EndToEndID != "SH-R-7" || tx.Reasons[0].Cd != "AM05" {
		t.Fatalf("second entry: %+v", tx)
	}
	if len(d.Group.Reasons) != 1 || d.Group.Reasons[0].Cd != "AM10" || !strings.HasPrefix(d.Group.Reasons[0].AddtlInf, "CONTROL_SUM line 5: ") {
		t.Fatalf("the trailer's problem: %+v", d.Group.Reasons)
	}
	d = read(t, rs["rejected: hostile texts"])
	if got := utf8.RuneCountInString(d.Group.OrgnlMsgID); got != 35 {
		t.Fatalf("a long file name as OrgnlMsgId: %d characters", got)
	}
	if d.Group.OrgnlCtrlSum != "" || d.Group.OrgnlNbOfTxs != "" {
		t.Fatalf("what the schema cannot hold is left out: %+v", d.Group)
	}
	if len(d.Group.Reasons) != 2 || len(d.Tx) != 1 || d.Tx[0].EndToEndID != "OK-1" {
		t.Fatalf("unreadable ids belong to the file: %d file reasons, %+v", len(d.Group.Reasons), d.Tx)
	}
	for _, r := range append(d.Group.Reasons, d.Tx[0].Reasons...) {
		if n := utf8.RuneCountInString(r.AddtlInf); n < 1 || n > 105 || strings.ContainsRune(r.AddtlInf, 1) {
			t.Fatalf("AddtlInf of %d characters: %q", n, r.AddtlInf)
		}
	}
	if p := d.Tx[0].Reasons[0].Prtry; utf8.RuneCountInString(p) != 35 {
		t.Fatalf("Prtry %q", p)
	}
}

// TestReasonCodesAreISO: every ISO code the contract's table names is a
// code of the ExternalStatusReason1Code set the contract rests on.
func TestReasonCodesAreISO(t *testing.T) {
	f, err := os.Open(shared(t, "codes", "ExternalStatusReason1Code.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, r := range rows[1:] {
		known[r[0]] = true
	}
	if len(known) < 100 {
		t.Fatalf("only %d codes read", len(known))
	}
	for ours, iso := range pacs002.ISOReason {
		if !known[iso] {
			t.Errorf("%s maps to %s, which is not an ExternalStatusReason1Code", ours, iso)
		}
	}
	// The mapping is the contract's table, read from the contract itself.
	spec, err := os.ReadFile(filepath.Join(shared(t), "..", "spec", "payment-files.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(spec), "Reason codes in status reports")
	table, _, _ = strings.Cut(table, "\n## ")
	want := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		for i := 1; i+1 < len(cells); i += 3 { // | ours | ISO | | ours | ISO |
			ours, iso := strings.TrimSpace(cells[i]), strings.TrimSpace(cells[i+1])
			if len(iso) != 4 || strings.Trim(ours, "-") == "" || ours == "our code" {
				continue
			}
			for _, o := range strings.Split(ours, ",") {
				want[strings.TrimSpace(o)] = iso
			}
		}
	}
	if len(want) < 40 {
		t.Fatalf("read %d codes from the contract's table", len(want))
	}
	for ours, iso := range want {
		if pacs002.ISOReason[ours] != iso {
			t.Errorf("contract: %s -> %s; mapped to %q", ours, iso, pacs002.ISOReason[ours])
		}
	}
	for ours := range pacs002.ISOReason {
		if _, ok := want[ours]; !ok {
			t.Errorf("%s is mapped but not in the contract's table", ours)
		}
	}
}

// TestReportRefusesWhatItCannotSay: a report the schema could not take is
// an error, never a silently wrong file.
func TestReportRefusesWhatItCannotSay(t *testing.T) {
	ok := reports()["accepted csv"]
	for name, c := range map[string]struct {
		mod  func(*pacs002.Report)
		want error
	}{
		"no MsgId":           {func(r *pacs002.Report) { r.MsgID = "" }, pacs002.ErrMsgID},
		"long MsgId":         {func(r *pacs002.Report) { r.MsgID = strings.Repeat("m", 36) }, pacs002.ErrMsgID},
		"scheme not a BIC":   {func(r *pacs002.Report) { r.Scheme = "scheme" }, pacs002.ErrBIC},
		"unknown message":    {func(r *pacs002.Report) { r.OrgnlMsgName = "pain.001.001.09" }, pacs002.ErrMsgName},
		"no original":        {func(r *pacs002.Report) { r.OrgnlMsgID = "" }, pacs002.ErrOriginal},
		"accepted, problems": {func(r *pacs002.Report) { r.Problems = []pacs002.Problem{{Code: "AMOUNT"}} }, pacs002.ErrAccepted},
		"a problem, no code": {func(r *pacs002.Report) { r.Accepted = false; r.Problems = []pacs002.Problem{{Entry: "X"}} }, pacs002.ErrProblemRef},
		"too many": {func(r *pacs002.Report) {
			r.Accepted = false
			r.Problems = make([]pacs002.Problem, pacs002.ProblemsMax+1)
		}, pacs002.ErrTooMany},
		"too many, then TOO_MANY_ERRORS": {func(r *pacs002.Report) {
			r.Accepted = false
			r.Problems = make([]pacs002.Problem, pacs002.ProblemsMax+2)
			for i := range r.Problems {
				r.Problems[i].Code = pacs002.CodeTooMany
			}
		}, pacs002.ErrTooMany},
	} {
		r := ok
		c.mod(&r)
		var b bytes.Buffer
		if err := pacs002.Write(&b, r); !errors.Is(err, c.want) || b.Len() != 0 {
			t.Errorf("%s: %v (%d bytes written); want %v", name, err, b.Len(), c.want)
		}
	}
}

// FuzzWrite: whatever a file's ids and messages hold, the report is
// well-formed XML within the schema's lengths (xmllint checks the schema
// on the corpus in TestReportsAreSchemaValid).
func FuzzWrite(f *testing.F) {
	f.Add("SH-1", "AMOUNT", "bad amount", "F1", 3)
	f.Add("", "X", "\x00\xff<&", strings.Repeat("é", 50), 0)
	f.Fuzz(func(t *testing.T, entry, code, msg, orig string, line int) {
		if code == "" || orig == "" || !utf8.ValidString(orig) {
			return
		}
		r := pacs002.Report{MsgID: "M1", Created: created, Scheme: "SETLKRSE", Sender: "SHBKKRSE", OrgnlMsgID: orig,
			OrgnlMsgName: pacs002.MsgCSV, Problems: []pacs002.Problem{{Entry: entry, Line: line, Code: code, Message: msg}}}
		var b bytes.Buffer
		if err := pacs002.Write(&b, r); err != nil {
			t.Fatal(err)
		}
		var d doc
		if err := xml.Unmarshal(b.Bytes(), &d); err != nil {
			t.Fatalf("not well-formed: %v\n%q", err, b.Bytes())
		}
		for _, rs := range append(d.Group.Reasons, func() []reasonDoc {
			if len(d.Tx) == 0 {
				return nil
			}
			return d.Tx[0].Reasons
		}()...) {
			if n := utf8.RuneCountInString(rs.AddtlInf); n < 1 || n > 105 || utf8.RuneCountInString(rs.Prtry) > 35 {
				t.Fatalf("lengths: %q %q", rs.AddtlInf, rs.Prtry)
			}
		}
		if utf8.RuneCountInString(d.Group.OrgnlMsgID) > 35 {
			t.Fatal("OrgnlMsgId over 35")
		}
	})
}

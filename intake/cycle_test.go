package intake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"settle/intake"
)

func inputs(files ...[2]string) []intake.Input {
	in := make([]intake.Input, len(files))
	for i, f := range files {
		f := f
		in[i] = intake.Input{
			Name: f[0],
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(f[1])), nil },
			Sig:  func() (intake.Sig, error) { return intake.Sig{}, nil },
		}
	}
	return in
}

func csvOf(fileID, sender string, records ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "H,%s,%s,2026-11-24,2026-11-24T17:45:00Z\n", fileID, sender)
	sum := 0
	for _, r := range records {
		b.WriteString(r + "\n")
		var amt int
		f := strings.Split(r, ",")
		if f[0] == "P" {
			fmt.Sscan(f[4], &amt)
		} else {
			fmt.Sscan(f[5], &amt)
		}
		sum += amt
	}
	fmt.Fprintf(&b, "T,%d,%d\n", len(records), sum)
	return b.String()
}

// report is the cycle's verdict as text: every file's problems in order.
func report(t *testing.T, res *intake.CycleResult) string {
	t.Helper()
	var b strings.Builder
	for _, f := range res.Files {
		for _, p := range f.Problems {
			fmt.Fprintf(&b, "%s:%d: %s %s\n", f.Name, p.Line, p.Code, p.Field)
		}
	}
	return b.String()
}

func cycle(t *testing.T, workers int, files ...[2]string) *intake.CycleResult {
	t.Helper()
	res, err := intake.CheckCycle(context.Background(), inputs(files...), intake.Options{}, workers)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCycle(t *testing.T) {
	sh1 := csvOf("F1", "SHBKKRSE", "P,SH-1,SHBKKRSE,CZNBKRSE,10,KRW", "P,SH-2,SHBKKRSE,CZNBKRSE,20,KRW")
	cases := []struct {
		name  string
		files [][2]string
		want  string
	}{
		{"accepted", [][2]string{
			{"sh.csv", sh1},
			{"cz.csv", csvOf("F1", "CZNBKRSE", "P,SH-1,CZNBKRSE,SHBKKRSE,5,KRW")}, // same ids, other sender: fine
		}, ""},
		{"duplicate file id per sender", [][2]string{
			{"a.csv", sh1},
			{"b.csv", csvOf("F1", "SHBKKRSEXXX", "P,SH-3,SHBKKRSE,CZNBKRSE,10,KRW")},
		}, "b.csv:1: DUPLICATE_FILE_ID file_id\n"},
		{"same bytes twice", [][2]string{{"a.csv", sh1}, {"copy.csv", sh1}},
			"copy.csv:0: DUPLICATE_FILE \ncopy.csv:1: DUPLICATE_FILE_ID file_id\ncopy.csv:2: DUPLICATE_PAYMENT_ID payment_id\ncopy.csv:3: DUPLICATE_PAYMENT_ID payment_id\n"},
		{"duplicate payment id across files", [][2]string{
			{"a.csv", sh1},
			{"b.csv", csvOf("F2", "SHBKKRSE", "P,SH-9,SHBKKRSE,CZNBKRSE,1,KRW", "P,SH-2,SHBKKRSE,HVBKKRSE,10,KRW")},
		}, "b.csv:3: DUPLICATE_PAYMENT_ID payment_id\n"},
		{"reversal of a payment in another file", [][2]string{
			{"a.csv", sh1},
			{"b.csv", csvOf("F2", "SHBKKRSE", "R,SH-R1,SH-2,SHBKKRSE,CZNBKRSE,20,KRW,AM05")},
		}, "b.csv:2: ORIGINAL_NOT_SETTLED original_payment_id\n"},
		{"reversal before the payment's file", [][2]string{
			{"b.csv", csvOf("F2", "SHBKKRSE", "R,SH-R1,SH-2,SHBKKRSE,CZNBKRSE,20,KRW,AM05")},
			{"a.csv", sh1},
		}, "b.csv:2: ORIGINAL_NOT_SETTLED original_payment_id\n"},
		{"original reversed in two files", [][2]string{
			{"a.csv", csvOf("F1", "SHBKKRSE", "R,SH-R1,SH-0,SHBKKRSE,CZNBKRSE,20,KRW,AM05")},
			{"b.csv", csvOf("F2", "SHBKKRSE", "P,SH-5,SHBKKRSE,CZNBKRSE,1,KRW", "R,SH-R2,SH-0,SHBKKRSE,CZNBKRSE,20,KRW,AM09")},
		}, "b.csv:3: ALREADY_REVERSED original_payment_id\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := cycle(t, 1, c.files...)
			got := report(t, res)
			if got != c.want {
				t.Errorf("got\n%swant\n%s", got, c.want)
			}
			if (c.want == "") != res.Accepted() || (res.Net != nil) != res.Accepted() {
				t.Errorf("accepted %v, net %v", res.Accepted(), res.Net != nil)
			}
			// Same report every time, whatever the number of workers.
			for _, w := range []int{1, 2, 8, 0} {
				for i := 0; i < 5; i++ {
					if again := report(t, cycle(t, w, c.files...)); again != got {
						t.Fatalf("workers %d run %d:\n%s", w, i, again)
					}
				}
			}
		})
	}
}

// TestCycleDuplicateReversalIDField: payments and reversals share one id
// space; a reversal id already used in another file is reported on the
// reversal_id field, as within one file.
func TestCycleDuplicateReversalIDField(t *testing.T) {
	res := cycle(t, 1,
		[2]string{"a.csv", csvOf("F1", "SHBKKRSE", "P,SH-1,SHBKKRSE,CZNBKRSE,10,KRW")},
		[2]string{"b.csv", csvOf("F2", "SHBKKRSE", "R,SH-1,SH-0,SHBKKRSE,CZNBKRSE,10,KRW,AM05")})
	got := report(t, res)
	if got != "b.csv:2: DUPLICATE_PAYMENT_ID reversal_id\n" {
		t.Errorf("got %q", got)
	}
}

// TestCycleDuplicateFileIDInXML: for an XML file the header is line 0
// (problems on lines >= 1 point at a CdtTrfTxInf).
func TestCycleDuplicateFileIDInXML(t *testing.T) {
	other := strings.Replace(strings.Replace(xmlFile, "SH-X-1", "SH-X-2", 1), "12.50", "12.5", 1)
	res := cycle(t, 1, [2]string{"a.xml", xmlFile}, [2]string{"b.xml", other})
	got := report(t, res)
	if got != "b.xml:0: DUPLICATE_FILE_ID MsgId\n" {
		t.Errorf("got %q", got)
	}
}

func TestCycleNetsAcceptedFiles(t *testing.T) {
	res := cycle(t, 2,
		[2]string{"sh.csv", csvOf("F1", "SHBKKRSE", "P,SH-1,SHBKKRSE,CZNBKRSE,1500000,KRW")},
		[2]string{"sh.xml", xmlFile},
		[2]string{"cz.csv", csvOf("F1", "CZNBKRSE", "P,CZ-1,CZNBKRSE,SHBKKRSE,500000,KRW")},
	)
	if !res.Accepted() || res.Net == nil {
		t.Fatalf("%s", report(t, res))
	}
	b, _ := json.Marshal(res.Net.Positions)
	want := `[{"bank":"CZNBKRSE","currency":"KRW","sent":"500000","received":"1500000","net":"1000000"},` +
		`{"bank":"SHBKKRSE","currency":"KRW","sent":"1500000","received":"500000","net":"-1000000"},` +
		`{"bank":"CZNBKRSE","currency":"USD","sent":"0.00","received":"12.50","net":"12.50"},` +
		`{"bank":"SHBKKRSE","currency":"USD","sent":"12.50","received":"0.00","net":"-12.50"}]`
	if string(b) != want {
		t.Errorf("positions\n got %s\nwant %s", b, want)
	}
	if res.Net.Entries != 3 {
		t.Errorf("entries %d", res.Net.Entries)
	}
}

func TestCycleTooManyFiles(t *testing.T) {
	in := make([]intake.Input, intake.FilesMax+1)
	if _, err := intake.CheckCycle(context.Background(), in, intake.Options{}, 1); err == nil {
		t.Error("more than FilesMax files: no error")
	}
}

// A pacs.007 reversal is held to the rules of a CSV R record, across the
// files of a cycle as within one, and its problems name its own elements.
func TestCyclePACS007Reversals(t *testing.T) {
	b, err := os.ReadFile("../formats/pacs007/testdata/accepted/whole_payment.xml")
	if err != nil {
		t.Fatal(err)
	}
	rev := string(b) // reverses SH-1 of SHBKKRSE to CZNBKRSE, 90000 KRW
	pay := csvOf("F1", "SHBKKRSE", "P,SH-1,SHBKKRSE,CZNBKRSE,90000,KRW")
	for _, c := range []struct {
		name  string
		files [][2]string
		want  string
	}{
		{"original in the same cycle", [][2]string{{"a.csv", pay}, {"r.xml", rev}}, "r.xml:1: ORIGINAL_NOT_SETTLED OrgnlEndToEndId\n"},
		{"reversed in CSV and again in pacs.007", [][2]string{
			{"a.csv", csvOf("F1", "SHBKKRSE", "R,SH-R0,SH-1,SHBKKRSE,CZNBKRSE,90000,KRW,AM05")}, {"r.xml", rev}},
			"r.xml:1: ALREADY_REVERSED OrgnlEndToEndId\n"},
		{"reversal id already used by a payment", [][2]string{
			{"a.csv", csvOf("F1", "SHBKKRSE", "P,SH-R-1,SHBKKRSE,CZNBKRSE,5,KRW")}, {"r.xml", rev}},
			"r.xml:1: DUPLICATE_PAYMENT_ID RvslId\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := report(t, cycle(t, 1, c.files...)); got != c.want {
				t.Errorf("got\n%swant\n%s", got, c.want)
			}
		})
	}
}

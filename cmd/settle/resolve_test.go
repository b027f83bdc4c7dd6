package main

import (
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"settle/intake"
)

func resolveArgs(caps string, files []string) []string {
	return append([]string{"net", "--resolve", "--format", "json", "--members", filepath.Join("testdata", "members.txt"),
		"--caps", caps}, files...)
}

// TestNetResolveGolden: SH's KRW net debit of 910,000 is over its cap of
// 900,000; its one KRW payment is deferred, and the positions of what
// settles are shown; the same in any order of the files.
func TestNetResolveGolden(t *testing.T) {
	files := cycleFiles(t)
	r := settle(t, resolveArgs(filepath.Join("testdata", "caps.csv"), files)...)
	r.want(t, 0)
	golden := filepath.Join("testdata", "net-resolve.golden.json")
	if *update {
		if err := os.WriteFile(golden, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(want) {
		t.Errorf("net --resolve output differs from %s\n got: %s\nwant: %s", golden, r.stdout, want)
	}
	// Without --resolve the output is what it was: no "resolution" key.
	plain := settle(t, cycleArgs(t, files)...)
	if strings.Contains(plain.stdout, `"resolution"`) {
		t.Errorf("net without --resolve shows a resolution: %s", plain.stdout)
	}
	for _, order := range [][]string{{files[3], files[2], files[1], files[0]}, {files[2], files[0], files[3], files[1]}} {
		if r2 := settle(t, resolveArgs(filepath.Join("testdata", "caps.csv"), order)...); r2.stdout != r.stdout {
			t.Errorf("order %v changes the output:\n%s", order, r2.stdout)
		}
	}
	txt := settle(t, append([]string{"net", "--resolve", "--format", "text", "--caps", filepath.Join("testdata", "caps.csv")}, files...)...)
	txt.want(t, 0)
	for _, s := range []string{"8 of 9 entries settle, 1 deferred", "KRW  SHBKKRSE ->  CZNBKRSE     1500000  SH-000001\n", "Net positions of what settles"} {
		if !strings.Contains(txt.stdout, s) {
			t.Errorf("text output lacks %q:\n%s", s, txt.stdout)
		}
	}
}

// TestNetResolveFileOrder: a bank's files queue in the order they were
// made (header creation time), not the order of the arguments; the back
// of the queue is deferred.
func TestNetResolveFileOrder(t *testing.T) {
	dir := t.TempDir()
	late := write(t, dir, "a-late.csv", "H,F2,SHBKKRSE,2026-11-24,2026-11-24T17:00:00Z\nP,SH-L1,SHBKKRSE,CZNBKRSE,60,KRW\nT,1,60\n")
	early := write(t, dir, "z-early.csv", "H,F1,SHBKKRSE,2026-11-24,2026-11-24T16:00:00Z\nP,SH-E1,SHBKKRSE,CZNBKRSE,50,KRW\nP,SH-E2,SHBKKRSE,HVBKKRSE,30,KRW\nT,2,80\n")
	caps := write(t, dir, "caps.csv", "SHBKKRSE,KRW,100\n")
	var first string
	for _, files := range [][]string{{late, early}, {early, late}} {
		r := settle(t, resolveArgs(caps, files)...)
		r.want(t, 0)
		var out struct {
			Resolution struct {
				Deferred  int `json:"deferred"`
				Deferrals []struct {
					Bank     string `json:"bank"`
					Amount   string `json:"deferred_amount"`
					Payments []struct {
						ID string `json:"id"`
					} `json:"deferred"`
				} `json:"deferrals"`
			} `json:"resolution"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		d := out.Resolution.Deferrals
		if out.Resolution.Deferred != 1 || len(d) != 1 || d[0].Bank != "SHBKKRSE" || d[0].Amount != "60" ||
			len(d[0].Payments) != 1 || d[0].Payments[0].ID != "SH-L1" {
			t.Errorf("files %v: want SH-L1 deferred, got %s", files, r.stdout)
		}
		if first == "" {
			first = r.stdout
		} else if r.stdout != first {
			t.Errorf("argument order changes the output")
		}
	}
}

// TestNetResolveHeld: KO's reversal to SH breaks KO's KRW cap on its own;
// nothing is deferred, KO and the reversal are named.
func TestNetResolveHeld(t *testing.T) {
	caps := write(t, t.TempDir(), "caps.csv", "bic,currency,cap\nKOEXKRSE,KRW,1\nSHBKKRSE,KRW,900000\n")
	r := settle(t, resolveArgs(caps, cycleFiles(t))...)
	r.want(t, 0)
	var out struct {
		Resolution map[string]json.RawMessage `json:"resolution"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"held":      `[{"bank":"KOEXKRSE","currency":"KRW","net":"-90000","cap":"1","reversals":["SH-R-000001"]}]`,
		"deferrals": `[]`, "positions": `[]`, "settled": `0`, "deferred": `0`, "entries": `9`,
	}
	for k, v := range want {
		if got := string(out.Resolution[k]); got != v {
			t.Errorf("%s: got %s, want %s", k, got, v)
		}
	}
	txt := settle(t, append([]string{"net", "--resolve", "--format", "text", "--caps", caps}, cycleFiles(t)...)...)
	if !strings.Contains(txt.stdout, "held for the operator") || !strings.Contains(txt.stdout, "KOEXKRSE  net -90000  cap 1  reversals [SH-R-000001]") {
		t.Errorf("text output:\n%s", txt.stdout)
	}
}

// TestNetResolveHighFirst: a pacs.008 payment with InstrPrty HIGH queues
// ahead of the file's normal ones, so the normal one is deferred even
// though it comes first in the file.
func TestNetResolveHighFirst(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "cycle", "hv.xml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), `<PmtId><EndToEndId>HV-000002</EndToEndId></PmtId>`,
		`<PmtId><EndToEndId>HV-000002</EndToEndId></PmtId><PmtTpInf><InstrPrty>HIGH</InstrPrty></PmtTpInf>`, 1)
	doc = strings.Replace(doc, `<IntrBkSttlmAmt Ccy="USD">1.00</IntrBkSttlmAmt>`, `<IntrBkSttlmAmt Ccy="KRW">1</IntrBkSttlmAmt>`, 1)
	dir := t.TempDir()
	hv := write(t, dir, "hv.xml", doc)
	caps := write(t, dir, "caps.csv", "HVBKKRSE,KRW,1\n")
	r := settle(t, resolveArgs(caps, []string{hv})...)
	r.want(t, 0)
	if !strings.Contains(r.stdout, `"deferred":[{"id":"HV-000001","creditor":"SHBKKRSE","amount":"500000","priority":"NORM"}]`) {
		t.Errorf("want HV-000001 deferred behind the HIGH HV-000002:\n%s", r.stdout)
	}
}

// TestNetResolveRefusesAChangedFile: the second read of a file must give
// the bytes the check verified.
func TestNetResolveRefusesAChangedFile(t *testing.T) {
	f := write(t, t.TempDir(), "a.csv", goodCSV)
	sum := sha256.Sum256([]byte(goodCSV))
	if _, err := resolveFiles([]string{f}, []*intake.Result{{Entries: 1, SHA256: sum}}, time.UTC, nil); err != nil {
		t.Fatalf("the same bytes: %v", err)
	}
	sum[0] ^= 1
	_, err := resolveFiles([]string{f}, []*intake.Result{{Entries: 1, SHA256: sum}}, time.UTC, nil)
	if err == nil || !strings.Contains(err.Error(), "changed since it was checked") {
		t.Errorf("other bytes: %v", err)
	}
}

package gen_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"settle/formats"
	"settle/formats/formatstest"
	"settle/formats/gen"
	"settle/formats/xmlfile"
	"settle/settlement"
)

// TestWrittenXMLIsSchemaValid: every pacs.008 the generator writes (the
// demo's, the benchmarks' and the e2e tier's) is valid against the
// official pacs.008.001.08 schema, checked by xmllint as an independent
// oracle, across currencies, remittances and bank counts.
func TestWrittenXMLIsSchemaValid(t *testing.T) {
	if testing.Short() {
		t.Skip("needs xmllint (libxml2-utils)")
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install libxml2-utils (ops/deps.sh does)")
	}
	_, here, _, _ := runtime.Caller(0)
	xsd := filepath.Join(filepath.Dir(here), "..", "..", "..", "shared", "iso20022", "xsd", "pacs.008.001.08.xsd")
	w, err := gen.Day(gen.Config{Banks: 5, Payments: 400, Date: "2026-11-24", Seed: 3, XMLEvery: 1}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var xml []string
	for _, f := range w.Files {
		if strings.HasSuffix(f, ".xml") {
			xml = append(xml, f)
		}
	}
	if len(xml) != 5 {
		t.Fatalf("%d XML files, want 5", len(xml))
	}
	out, err := exec.Command(xmllint, append([]string{"--noout", "--schema", xsd}, xml...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint refuses the generated files: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), " validates"); n != len(xml) {
		t.Fatalf("xmllint validated %d of %d files:\n%s", n, len(xml), out)
	}
}

// TestWrittenISOFilesAreValid: with envelopes and reversals asked for,
// every XML file the generator writes is valid against its official
// schemas (an envelope's AppHdr against head.001, its Document against
// pacs.008; a reversal file against pacs.007), checked by xmllint, and
// reads without a problem through the service's own reader; every
// reversal reverses a whole payment of the earlier day, sent by the same
// bank.
func TestWrittenISOFilesAreValid(t *testing.T) {
	if testing.Short() {
		t.Skip("needs xmllint (libxml2-utils)")
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install libxml2-utils (ops/deps.sh does)")
	}
	_, here, _, _ := runtime.Caller(0)
	xsd := filepath.Join(filepath.Dir(here), "..", "..", "..", "shared", "iso20022", "xsd")
	cfg := gen.Config{Banks: 4, Payments: 200, Date: "2026-11-25", Seed: 3, XMLEvery: 1, AppHdrEvery: 2,
		ReverseDate: "2026-11-24", ReversalEvery: 7}
	w, err := gen.Day(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lint := func(schema string, data []byte) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "part.xml")
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join(xsd, schema+".xsd"), f).CombinedOutput(); err != nil {
			t.Errorf("xmllint %s: %v\n%s", schema, err, out)
		}
	}
	appHdr := regexp.MustCompile(`(?s)<AppHdr .*?</AppHdr>`)
	document := regexp.MustCompile(`(?s)<Document .*?</Document>`)
	bics, _ := gen.Banks(cfg.Banks)
	earlier := cfg
	earlier.Date = cfg.ReverseDate
	kinds := map[string]int{}
	reversed := 0
	for _, f := range w.Files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		decl := []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		switch {
		case bytes.Contains(data, []byte("<AppHdr")):
			kinds["envelope"]++
			lint("head.001.001.02", append(decl, appHdr.Find(data)...))
			lint("pacs.008.001.08", append(decl, document.Find(data)...))
		case bytes.Contains(data, []byte("pacs.007.001.09")):
			kinds["pacs.007"]++
			lint("pacs.007.001.09", data)
		default:
			kinds["pacs.008"]++
			lint("pacs.008.001.08", data)
		}
		rec := &formatstest.Recorder{}
		if err := xmlfile.Parse(bytes.NewReader(data), formats.Limits{}, rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Problems) != 0 {
			t.Errorf("%s: %v", filepath.Base(f), rec.Problems)
		}
		for _, e := range rec.Entries {
			if e.Kind != settlement.KindReversal {
				continue
			}
			reversed++
			i := slices.Index(bics, e.Debtor)
			j := slices.IndexFunc(gen.DayPayments(earlier, bics, i), func(p gen.Payment) bool { return p.ID == e.Original })
			if i < 0 || j < 0 {
				t.Errorf("%s reverses %s, not a payment of %s on %s", e.ID, e.Original, e.Debtor, earlier.Date)
				continue
			}
			p := gen.DayPayments(earlier, bics, i)[j]
			if p.Creditor != e.Creditor || p.Amount != e.Amount.String() && p.Amount != e.Amount.StringFixed(int32(e.Currency.MinorUnit())) || p.Currency != e.Currency.Code() {
				t.Errorf("%s reverses %+v as %+v", e.ID, p, e)
			}
		}
	}
	if kinds["envelope"] != 2 || kinds["pacs.008"] != 2 || kinds["pacs.007"] != 4 || reversed != w.Reversals || reversed < 20 {
		t.Errorf("files %v, %d reversals (written %d)", kinds, reversed, w.Reversals)
	}
}

// TestFilePaymentsMaxSplitsEachBanksDay: with FilePaymentsMax a bank's day
// goes in files of at most that many payments, numbered from -001, and
// together they hold exactly the payments of the one-file day.
func TestFilePaymentsMaxSplitsEachBanksDay(t *testing.T) {
	cfg := gen.Config{Banks: 3, Payments: 300, Date: "2026-11-24", Seed: 3, XMLEvery: 3}
	whole, err := gen.Day(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.FilePaymentsMax = 30
	split, err := gen.Day(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.Files) != 3 {
		t.Fatalf("files of the one-file day: %d, want 3", len(whole.Files))
	}
	bics := []settlement.BIC{whole.Banks[0].BIC, whole.Banks[1].BIC, whole.Banks[2].BIC}
	files, total := 0, 0
	for i, b := range bics {
		ps := gen.DayPayments(cfg, bics, i)
		total += len(ps)
		n := (len(ps) + 29) / 30
		files += n
		ext := ".csv"
		if i == 2 {
			ext = ".xml"
		}
		for k := 1; k <= n; k++ {
			name := filepath.Join(filepath.Dir(split.Files[0]), fmt.Sprintf("%s_F20261124-%s-%03d%s", b, b[:4], k, ext))
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatalf("file %d of %s: %v", k, b, err)
			}
			part := ps[(k-1)*30 : min(k*30, len(ps))]
			for _, p := range part {
				if !strings.Contains(string(data), p.ID) {
					t.Fatalf("%s file %d lacks payment %s", b, k, p.ID)
				}
			}
			if ext == ".csv" && strings.Count(string(data), "\nP,") != len(part) {
				t.Fatalf("%s file %d: %d payments, want %d", b, k, strings.Count(string(data), "\nP,"), len(part))
			}
		}
	}
	if total != 300 || len(split.Files) != files {
		t.Fatalf("split day: %d payments in %d files, want 300 in %d", total, len(split.Files), files)
	}
}

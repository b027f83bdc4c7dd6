package csvfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"settle/formats"
	"settle/formats/csvfile"
	"settle/formats/formatstest"
	"settle/settlement"
)

// format is Format 1, CSV, for the shared tests of formatstest.
var format = formatstest.Format{Ext: ".csv", Parse: csvfile.Parse}

// check parses data as a CSV payment file and runs the spec's rules.
var check = format.Check

// TestGolden runs every file of testdata/accepted and testdata/rejected
// through the parser and the rules, and compares with its .golden.json
// (go test -update rewrites them).
func TestGolden(t *testing.T) { format.RunGolden(t) }

// TestOneByteReads: the parser gives the same verdict however the reader
// splits the bytes.
func TestOneByteReads(t *testing.T) { format.OneByteReads(t) }

// TestManyBadRecordsEachListed: a bank fixes a file in one round trip, so
// every bad record is listed with its own line.
func TestManyBadRecordsEachListed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "rejected", "many_bad_records.csv"))
	if err != nil {
		t.Fatal(err)
	}
	_, problems := check(t, data, formats.Limits{}, formatstest.LoadMembers(t))
	lines := map[int]bool{}
	for _, p := range problems {
		lines[p.Line] = true
	}
	// Lines 3 and 5..13 are bad; lines 2, 4 and 14 are good payments
	// (SH-1 on line 10 duplicates line 2, which stays good).
	for l := 3; l <= 13; l++ {
		if l != 4 && !lines[l] {
			t.Errorf("bad record on line %d not listed; problems: %v", l, problems)
		}
	}
	for _, l := range []int{1, 2, 4, 14} {
		if lines[l] {
			t.Errorf("good record on line %d listed as bad: %v", l, problems)
		}
	}
}

// TestSameRecordsInQuotesOrNot: RFC 4180 quoting changes nothing about the
// values read.
func TestSameRecordsInQuotesOrNot(t *testing.T) {
	plain := "H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\nP,SH-1,SHBKKRSE,CZNBKRSE,12.50,USD,inv 1\nT,1,12.5\n"
	quoted := `"H","F1","SHBKKRSE","2026-11-24","2026-11-24T17:45:00Z"` + "\n" +
		`"P","SH-1","SHBKKRSE","CZNBKRSE","12.50","USD","inv 1"` + "\n" + `"T","1","12.5"` + "\n"
	var got [2][]settlement.Entry
	for i, in := range []string{plain, quoted} {
		rec := &formatstest.Recorder{}
		if err := csvfile.Parse(strings.NewReader(in), formats.Limits{}, rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Problems) != 0 {
			t.Fatalf("%q: %v", in, rec.Problems)
		}
		got[i] = rec.Entries
	}
	if len(got[0]) != 1 || len(got[1]) != 1 {
		t.Fatalf("entries: %v / %v", got[0], got[1])
	}
	a, b := got[0][0], got[1][0]
	if a.ID != b.ID || a.Debtor != b.Debtor || a.Creditor != b.Creditor || !a.Amount.Equal(b.Amount) ||
		a.Currency != b.Currency || a.Remittance != b.Remittance || a.Remittance != "inv 1" || a.Amount.String() != "12.5" {
		t.Errorf("plain %+v\nquoted %+v", a, b)
	}
}

// TestRecordValues: the records carry what the file says, BICs in their
// canonical form (XXX branch dropped).
func TestRecordValues(t *testing.T) {
	in := "H,F1,SHBKKRSEXXX,2026-11-24,2026-11-24T17:45:00+09:00\n" +
		"P,SH-1,SHBKKRSEXXX,CZNBKRSE001,0.125,KWD,\"a, \"\"b\"\"\"\n" +
		"R,SH-R1,SH-0,SHBKKRSE,CZNBKRSEXXX,90000,KRW,AM05\n" +
		"T,2,90000.125\n"
	rec := &formatstest.Recorder{}
	if err := csvfile.Parse(strings.NewReader(in), formats.Limits{}, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Problems) != 0 || len(rec.Headers) != 1 || len(rec.Entries) != 2 || len(rec.Trailers) != 1 {
		t.Fatalf("got %+v", rec)
	}
	h := rec.Headers[0]
	if h.Line != 1 || h.FileID != "F1" || h.Sender != "SHBKKRSE" || h.BusinessDate != "2026-11-24" || h.CreatedAt.Unix() != 1795509900 {
		t.Errorf("header %+v", h)
	}
	p, r := rec.Entries[0], rec.Entries[1]
	if p.Line != 2 || p.Kind != settlement.KindPayment || p.Debtor != "SHBKKRSE" || p.Creditor != "CZNBKRSE001" ||
		p.Amount.String() != "0.125" || p.Currency.Code() != "KWD" || p.Remittance != `a, "b"` {
		t.Errorf("payment %+v", p)
	}
	if r.Line != 3 || r.Kind != settlement.KindReversal || r.ID != "SH-R1" || r.Original != "SH-0" || r.Debtor != "SHBKKRSE" ||
		r.Creditor != "CZNBKRSE" || r.Reason != "AM05" || r.Amount.String() != "90000" || r.Currency.Code() != "KRW" {
		t.Errorf("reversal %+v", r)
	}
	if tr := rec.Trailers[0]; tr.Line != 4 || tr.Count != 2 || tr.ControlSum.String() != "90000.125" {
		t.Errorf("trailer %+v", tr)
	}
	for i, ok := range rec.Okays {
		if !ok {
			t.Errorf("entry %d reported not ok", i)
		}
	}
}

// TestReaderError: Parse returns an error only when the reader fails, and
// then it does.
func TestReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := formatstest.FailingReader("H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\nP,SH-1,", boom)
	err := csvfile.Parse(r, formats.Limits{}, &formatstest.Recorder{})
	if !errors.Is(err, boom) {
		t.Errorf("Parse on a failing reader = %v, want %v", err, boom)
	}
	// Failing inside a quoted field spanning lines.
	r = formatstest.FailingReader("H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\nP,SH-1,SHBKKRSE,CZNBKRSE,1,KRW,\"open\n", boom)
	if err := csvfile.Parse(r, formats.Limits{}, &formatstest.Recorder{}); !errors.Is(err, boom) {
		t.Errorf("Parse failing inside a quoted field = %v, want %v", err, boom)
	}
}

package csvfile_test

import (
	"fmt"
	"strings"
	"testing"

	"settle/formats"
	"settle/formats/formatstest"
	"settle/settlement"
)

const header = "H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\n"

func payments(n int) string {
	var b strings.Builder
	b.WriteString(header)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "P,SH-%d,SHBKKRSE,CZNBKRSE,1,KRW\n", i)
	}
	fmt.Fprintf(&b, "T,%d,%d\n", n, n)
	return b.String()
}

func TestFileBytesMax(t *testing.T) {
	file := payments(3)
	n := int64(len(file))
	_, ps := check(t, []byte(file), formats.Limits{FileBytesMax: n}, nil)
	if len(ps) != 0 {
		t.Errorf("file of exactly FileBytesMax bytes: %v", ps)
	}
	_, ps = check(t, []byte(file), formats.Limits{FileBytesMax: n - 1}, nil)
	if !formatstest.Has(ps, 0, settlement.CodeFileTooLarge) {
		t.Errorf("file one byte over FileBytesMax: want FILE_TOO_LARGE at line 0, got %v", formatstest.CodesOf(ps))
	}
	// Over the limit inside a quoted field that spans lines.
	quoted := header + "P,SH-1,SHBKKRSE,CZNBKRSE,1,KRW,\"a\nb\nc\nd\"\nT,1,1\n"
	_, ps = check(t, []byte(quoted), formats.Limits{FileBytesMax: int64(len(header) + 40)}, nil)
	if !formatstest.Has(ps, 0, settlement.CodeFileTooLarge) {
		t.Errorf("quoted field past FileBytesMax: want FILE_TOO_LARGE, got %v", formatstest.CodesOf(ps))
	}
}

func TestRecordsMax(t *testing.T) {
	// H + 3 P + T = 5 records.
	_, ps := check(t, []byte(payments(3)), formats.Limits{RecordsMax: 5}, nil)
	if len(ps) != 0 {
		t.Errorf("file of exactly RecordsMax records: %v", ps)
	}
	_, ps = check(t, []byte(payments(3)), formats.Limits{RecordsMax: 4}, nil)
	if !formatstest.Has(ps, 5, settlement.CodeTooManyRecords) {
		t.Errorf("want TOO_MANY_RECORDS at line 5, got %v", formatstest.CodesOf(ps))
	}
}

func TestLineBytesMax(t *testing.T) {
	long := header + "P,SH-1,SHBKKRSE,CZNBKRSE,1,KRW," + strings.Repeat("x", 100) + "\nT,1,1\n"
	_, ps := check(t, []byte(long), formats.Limits{LineBytesMax: 80}, nil)
	if !formatstest.Has(ps, 2, settlement.CodeLineTooLong) {
		t.Errorf("want LINE_TOO_LONG at line 2, got %v", formatstest.CodesOf(ps))
	}
	_, ps = check(t, []byte(long), formats.Limits{LineBytesMax: 131}, nil)
	if formatstest.Has(ps, 2, settlement.CodeLineTooLong) {
		t.Errorf("line of exactly LineBytesMax bytes: %v", formatstest.CodesOf(ps))
	}
	// Longer than the parser's read buffer: still one problem, on its line,
	// and the next lines keep their numbers.
	huge := header + "P,SH-1,SHBKKRSE,CZNBKRSE,1,KRW," + strings.Repeat("y", 200_000) + "\nP,SH-2,SHBKKRSE,CZNBKRSE,1,USDX\nT,2,2\n"
	_, ps = check(t, []byte(huge), formats.Limits{}, nil)
	if !formatstest.Has(ps, 2, settlement.CodeLineTooLong) || !formatstest.Has(ps, 3, settlement.CodeCurrency) {
		t.Errorf("200 kB line: want LINE_TOO_LONG at 2 and CURRENCY at 3, got %v", formatstest.CodesOf(ps))
	}
	// A quoted record spanning lines counts as a whole.
	spanning := header + "P,SH-1,SHBKKRSE,CZNBKRSE,1,KRW,\"" + strings.Repeat("z\n", 60) + "\"\nT,1,1\n"
	_, ps = check(t, []byte(spanning), formats.Limits{LineBytesMax: 80}, nil)
	if !formatstest.Has(ps, 2, settlement.CodeLineTooLong) {
		t.Errorf("quoted record over LineBytesMax: want LINE_TOO_LONG at 2, got %v", formatstest.CodesOf(ps))
	}
}

func TestProblemsMax(t *testing.T) {
	var b strings.Builder
	b.WriteString(header)
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&b, "P,SH-%d,SHBKKRSE,CZNBKRSE,0,KRW\n", i)
	}
	b.WriteString("T,20,0\n")
	_, ps := check(t, []byte(b.String()), formats.Limits{ProblemsMax: 5}, nil)
	if len(ps) != 6 {
		t.Fatalf("want 5 problems and TOO_MANY_ERRORS, got %v", formatstest.CodesOf(ps))
	}
	for i, p := range ps[:5] {
		if p.Line != i+2 || p.Code != settlement.CodeAmountZero {
			t.Errorf("problem %d: %v", i, p)
		}
	}
	if last := ps[5]; last.Code != settlement.CodeTooManyErrors || !strings.Contains(last.Message, "15") {
		t.Errorf("list must close with TOO_MANY_ERRORS counting the 15 unlisted: %+v", last)
	}
}

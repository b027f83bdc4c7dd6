package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"settle/settlement"
)

// Rejected bytes are kept within a quota per bank: the oldest go first,
// other banks are untouched, receipts stay, a repeat changes nothing
// (issue 12, item 3).
func TestRejectedBytesQuota(t *testing.T) {
	a, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	a.SetRejectedBytesMax(250)
	ctx := context.Background()
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	put := func(bank settlement.BIC, b byte) string {
		e, err := a.Put(ctx, string(bank), "x.csv", at, bytes.NewReader(bytes.Repeat([]byte{b}, 100)))
		if err != nil {
			t.Fatal(err)
		}
		return e.SHA256
	}
	bankA, bankB := settlement.BIC("AAAABBCC"), settlement.BIC("BBBBCCDD")
	s1, s2, s3, other := put(bankA, '1'), put(bankA, '2'), put(bankA, '3'), put(bankB, '9')
	for _, s := range []string{s1, s2} {
		if rm, err := a.Rejected(ctx, bankA, s, 100, at); err != nil || len(rm) != 0 {
			t.Fatalf("within quota: removed %v, %v", rm, err)
		}
	}
	if rm, err := a.Rejected(ctx, bankB, other, 100, at); err != nil || len(rm) != 0 {
		t.Fatalf("bank B: %v %v", rm, err)
	}
	rm, err := a.Rejected(ctx, bankA, s3, 100, at)
	if err != nil || len(rm) != 1 || rm[0] != s1 {
		t.Fatalf("over quota: removed %v, %v; want the oldest, %s", rm, err, s1)
	}
	if rm, err := a.Rejected(ctx, bankA, s3, 100, at); err != nil || len(rm) != 0 {
		t.Fatalf("repeat: %v %v", rm, err)
	}
	for sum, want := range map[string]bool{s1: false, s2: true, s3: true, other: true} {
		p, _ := a.Path(sum)
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s kept = %v, want %v", sum, err == nil, want)
		}
	}
	if es, err := a.Entries(s1); err != nil || len(es) != 1 {
		t.Fatalf("receipt of the removed bytes: %v %v", es, err)
	}
	if _, err := os.Stat(filepath.Join(a.root, "rejected", "AAAABBCC.jsonl")); err != nil {
		t.Fatal(err)
	}
}

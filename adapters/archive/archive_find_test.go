package archive

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestFindLatestReceiptByName(t *testing.T) {
	a, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	first, _ := a.Put(ctx, "SHBKKRSE", "F1.csv.sig", now, strings.NewReader("sig one"))
	if _, ok, _ := a.Find("SHBKKRSE", "F1.csv.sig"); !ok {
		t.Fatal("not found")
	}
	second, _ := a.Put(ctx, "SHBKKRSE", "F1.csv.sig", now.Add(time.Minute), strings.NewReader("sig two"))
	sum, ok, err := a.Find("SHBKKRSE", "F1.csv.sig")
	if err != nil || !ok || sum != second.SHA256 || sum == first.SHA256 {
		t.Fatalf("Find = %s %v %v, want the latest receipt %s", sum, ok, err, second.SHA256)
	}
	if _, ok, _ := a.Find("CZNBKRSE", "F1.csv.sig"); ok {
		t.Fatal("another bank's file found")
	}
}

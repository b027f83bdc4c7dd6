package chaincode

import (
	"slices"
	"strings"
	"testing"
)

// TestGetCyclePaymentsOrder: the index yields a cycle's payments in (sender,
// payment id) byte order as Go compares the strings (what reconciliation's
// merge-join asserts), an 8-character BIC before its 11-character branches,
// "A" before "A/1" and "A-1", across chunks and pages, and no other cycle's.
func TestGetCyclePaymentsOrder(t *testing.T) {
	l := newLedger()
	const head, branch, other = "ABCDEFGH", "ABCDEFGHXYZ", "ABCDEFGA"
	for i, b := range []string{head, branch, other, bankB} {
		l.must(t, "RegisterBank", b, "Bank"+string(rune('1'+i))+"MSP")
	}
	ids := []string{"A", "A/1", "A-1", "A.1", "B", "a", "Z9", "0", "A/0/x"}
	var c1, c2 []PaymentIn
	type tuple struct{ sender, id string }
	var want []tuple
	for i, s := range []string{branch, head, other} {
		for j, id := range ids {
			p := pay(s, id, s, bankB, "1", "KRW")
			if (i+j)%2 == 0 {
				c1 = append(c1, p)
			} else {
				c2 = append(c2, p)
			}
			want = append(want, tuple{s, id})
		}
	}
	l.must(t, "RecordChunk", "C1", "K2", js(t, c2))
	l.must(t, "RecordChunk", "C1", "K1", js(t, c1))
	l.must(t, "RecordChunk", "C2", "K1", js(t, []PaymentIn{pay(bankB, "ELSEWHERE", bankB, head, "5", "KRW")}))
	slices.SortFunc(want, func(a, b tuple) int {
		if c := strings.Compare(a.sender, b.sender); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	for _, size := range []string{"1", "4", "27", "1000"} {
		var got []tuple
		bookmark := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("pagination does not end")
			}
			page := decode[CyclePaymentsPage](t, l.must(t, "GetCyclePayments", "C1", bookmark, size))
			for _, p := range page.Payments {
				if p.CycleID != "C1" || p.TxID == "" || p.Amount != "1" {
					t.Fatalf("payment %+v", p)
				}
				got = append(got, tuple{p.Sender, p.ID})
			}
			if page.Bookmark == "" {
				break
			}
			bookmark = page.Bookmark
		}
		if !slices.Equal(got, want) {
			t.Fatalf("page size %s: got\n%v\nwant\n%v", size, got, want)
		}
	}
}

func TestGetCyclePaymentsArgs(t *testing.T) {
	l := newNet(t)
	for _, size := range []string{"0", "-1", "5001", "x", ""} {
		if _, err := l.invoke("GetCyclePayments", "C1", "", size); err == nil || !strings.HasPrefix(err.Error(), "BAD_ARGS: ") {
			t.Fatalf("page size %q: %v", size, err)
		}
	}
	if _, err := l.invoke("GetCyclePayments", "bad id!", "", "10"); err == nil || !strings.HasPrefix(err.Error(), "INVALID_FIELD: ") {
		t.Fatalf("bad cycle id: %v", err)
	}
	page := decode[CyclePaymentsPage](t, l.must(t, "GetCyclePayments", "NOPE", "", "10"))
	if len(page.Payments) != 0 || page.Bookmark != "" {
		t.Fatalf("empty cycle: %+v", page)
	}
}

package chaincode

import (
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLedgerResolutionIsTheOracles: day after day on one five-bank ledger
// with random payments and caps, the setting auto, what the ledger defers is
// what a brute force over every vector of per-bank queue prefixes finds (the
// carried payments first in their bank's queue): the greatest feasible one.
func TestLedgerResolutionIsTheOracles(t *testing.T) {
	n := newGridNet(t)
	n.setAuto(t)
	rng := mrand.New(mrand.NewPCG(19, 5))
	type pay struct {
		sender, id, to string
		amt            int
	}
	var carry []pay
	day0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	deferredDays := 0
	for d := range 25 {
		date := day0.AddDate(0, 0, d).Format("2006-01-02")
		caps := map[string]int{}
		for _, b := range gridBanks {
			caps[b] = rng.IntN(120)
			n.cap(t, b, fmt.Sprint(caps[b]))
		}
		files := map[string][]string{}
		queue := map[string][]pay{}
		for _, p := range carry {
			queue[p.sender] = append(queue[p.sender], p)
		}
		for bi, b := range gridBanks {
			for k := range rng.IntN(4) {
				to := gridBanks[(bi+1+rng.IntN(len(gridBanks)-1))%len(gridBanks)]
				p := pay{b, fmt.Sprintf("P%d%s%d", d, b[:1], k), to, 1 + rng.IntN(50)}
				files[b] = append(files[b], fmt.Sprintf("%s,%s,%s,%d", p.id, b, to, p.amt))
				queue[b] = append(queue[b], p)
			}
		}
		// The oracle: every prefix vector, the feasible ones, their maximum.
		lens := make([]int, len(gridBanks))
		best := make([]int, len(gridBanks))
		var walk func(i int)
		feasible := func(v []int) bool {
			net := map[string]int{}
			for bi, b := range gridBanks {
				for _, p := range queue[b][:v[bi]] {
					net[b] -= p.amt
					net[p.to] += p.amt
				}
			}
			for _, b := range gridBanks {
				if net[b] < -caps[b] {
					return false
				}
			}
			return true
		}
		walk = func(i int) {
			if i == len(gridBanks) {
				if feasible(lens) {
					for j := range best {
						best[j] = max(best[j], lens[j])
					}
				}
				return
			}
			for k := 0; k <= len(queue[gridBanks[i]]); k++ {
				lens[i] = k
				walk(i + 1)
			}
		}
		walk(0)
		if !feasible(best) {
			t.Fatalf("day %s: the feasible prefix vectors are not closed under the maximum", date)
		}
		var want []string
		carry = carry[:0]
		for bi, b := range gridBanks {
			for _, p := range queue[b][best[bi]:] {
				want = append(want, p.sender+"/"+p.id)
				carry = append(carry, p)
			}
		}
		if len(files) == 0 && len(queue) == 0 {
			continue
		}
		n.day(t, date, files)
		if _, err := n.l.invokeAs(n.op(), "SettleCycle", "C"+date); err != nil {
			t.Fatalf("day %s: %v", date, err)
		}
		var got []string
		if raw, err := n.l.invoke("GetDeferral", "C"+date); err == nil {
			var rec DeferralRecord
			_ = json.Unmarshal(raw, &rec)
			got = rec.ids()
		} else if codeOf(err) != CodeNotFound {
			t.Fatal(err)
		}
		// The ledger lists by currency, then bank (ascending BIC), then queue order: as the oracle.
		if !slices.Equal(got, want) {
			t.Fatalf("day %s: the ledger defers [%s], the oracle [%s]", date, strings.Join(got, " "), strings.Join(want, " "))
		}
		if len(want) > 0 {
			deferredDays++
		}
	}
	if deferredDays < 5 || deferredDays > 20 {
		t.Fatalf("%d of 25 days deferred: the test exercises too little of the resolution or too little of the plain path", deferredDays)
	}
	t.Logf("%d of 25 days deferred payments", deferredDays)
}

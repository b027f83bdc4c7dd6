package chaincode

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// commitPlan writes a plan's pages as a committed transaction would.
func commitPlan(t *testing.T, l *memLedger, p *idPlan) {
	t.Helper()
	seen := map[string]bool{}
	for _, w := range p.writes {
		if seen[w.key] {
			t.Fatalf("plan writes %s twice", w.key)
		}
		seen[w.key] = true
		l.state[w.key] = w.raw
	}
}

// checkPages checks the index's invariants for a sender against the model:
// pages in key order partition the ids, each sorted, at most idPageMax, each
// keyed by its highest id except the last, keyed "~".
func checkPages(t *testing.T, l *memLedger, sender string, model map[string]idLoc) {
	t.Helper()
	s := &memStub{l: l}
	it, _ := s.GetStateByRange(idPageKey(sender, ""), idPageKey(sender, idxEnd))
	var all []idLoc
	var keys []string
	for it.HasNext() {
		kv, _ := it.Next()
		page, err := decodePage(kv.Key, kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 || len(page) > idPageMax {
			t.Fatalf("page %s holds %d ids", kv.Key, len(page))
		}
		if high := strings.TrimPrefix(kv.Key, idxPrefix+sender+"|"); high != idxTail && high != page[len(page)-1].ID {
			t.Fatalf("page %s ends at %s", kv.Key, page[len(page)-1].ID)
		}
		if len(all) > 0 && all[len(all)-1].ID >= page[0].ID {
			t.Fatalf("page %s starts at %s, below the page before", kv.Key, page[0].ID)
		}
		all = append(all, page...)
		keys = append(keys, kv.Key)
	}
	if len(keys) > 0 && keys[len(keys)-1] != idPageKey(sender, idxTail) {
		t.Fatalf("the last page is %s, not the tail", keys[len(keys)-1])
	}
	if len(all) != len(model) {
		t.Fatalf("%d ids in pages, %d indexed", len(all), len(model))
	}
	for _, l := range all {
		if model[l.ID] != l {
			t.Fatalf("page holds %v, indexed %v", l, model[l.ID])
		}
	}
}

// TestIDIndexAgainstAModel indexes batches of sequential, scattered and
// repeated ids for two senders whose BICs share a prefix, and checks after
// each batch that every id is found where it was indexed, that exactly the
// repeated ones are duplicates, and that the pages keep their invariants.
func TestIDIndexAgainstAModel(t *testing.T) {
	l := newLedger()
	rng := rand.New(rand.NewPCG(18, 2))
	senders := []string{"SHBKKRSE", "SHBKKRSEXYZ"}
	model := map[string]map[string]idLoc{}
	for _, s := range senders {
		model[s] = map[string]idLoc{}
	}
	seq, refused := 0, 0
	for round := range 60 {
		sender := senders[round%2]
		m := model[sender]
		var batch []idLoc
		wantDup := map[string]bool{}
		n := 1 + rng.IntN(1500)
		inBatch := map[string]bool{}
		for i := range n {
			var id string
			switch r := rng.IntN(10); {
			case round%5 == 4 && i < 3: // one seen before, maybe
				id = fmt.Sprintf("P-%08d", 1+rng.IntN(seq+1))
			case r < 7: // a bank's sequence
				seq++
				id = fmt.Sprintf("P-%08d", seq)
			default: // scattered
				id = fmt.Sprintf("P-%08d.%d", rng.IntN(seq+1), rng.IntN(1000))
			}
			if inBatch[id] {
				continue
			}
			inBatch[id] = true
			if _, ok := m[id]; ok {
				wantDup[id] = true
			}
			batch = append(batch, idLoc{ID: id, Cycle: "C2026-12-03", File: fmt.Sprintf("F%d", round), Entry: i})
		}
		slices.SortFunc(batch, func(a, b idLoc) int { return strings.Compare(a.ID, b.ID) })
		plan, err := planIDs(&memStub{l: l}, sender, batch)
		if err != nil {
			t.Fatal(err)
		}
		gotDup := map[string]bool{}
		for _, d := range plan.dups {
			gotDup[d.id] = true
			if m[d.id] != d.was {
				t.Fatalf("round %d: %s is a duplicate of %v, indexed at %v", round, d.id, d.was, m[d.id])
			}
		}
		if len(gotDup) != len(wantDup) {
			t.Fatalf("round %d: %d duplicates found, %d expected", round, len(gotDup), len(wantDup))
		}
		if len(wantDup) > 0 {
			refused++
			continue // a refused batch writes nothing
		}
		commitPlan(t, l, plan)
		for _, b := range batch {
			m[b.ID] = b
		}
		checkPages(t, l, sender, m)
		probe := batch[:min(len(batch), 100)]
		for _, loc := range m { // and a sample of the earlier ones
			if len(probe) >= 300 {
				break
			}
			probe = append(probe, loc)
		}
		for _, want := range probe {
			id := want.ID
			if got, ok, err := lookupID(&memStub{l: l}, sender, id); err != nil || !ok || got != want {
				t.Fatalf("round %d: lookup %s: %v %v %v, want %v", round, id, got, ok, err, want)
			}
		}
		if _, ok, _ := lookupID(&memStub{l: l}, sender, "P-99999999"); ok {
			t.Fatal("an id never indexed is found")
		}
	}
	if refused == 0 {
		t.Fatal("no batch repeated an id: the test did not check duplicates")
	}
	for _, s := range senders {
		if len(model[s]) < 10*idPageMax {
			t.Fatalf("sender %s has only %d ids: the test did not split pages", s, len(model[s]))
		}
	}
}

// TestIDIndexSequentialFileWritesFewKeys: a 5,000-entry file whose ids follow
// the sender's last ones writes ceil(5000/idPageMax)+1 pages at most, and
// at most 12 bytes a payment (and the last page's earlier ids
// rewritten).
func TestIDIndexSequentialFileWritesFewKeys(t *testing.T) {
	l := newLedger()
	for f := range 3 {
		var batch []idLoc
		for i := range 5000 {
			batch = append(batch, idLoc{ID: fmt.Sprintf("SH-%07d", f*5000+i), Cycle: "C2026-12-03", File: fmt.Sprintf("SH-F%03d", f), Entry: i})
		}
		plan, err := planIDs(&memStub{l: l}, "SHBKKRSE", batch)
		if err != nil {
			t.Fatal(err)
		}
		if max := 5000/idPageMax + 2; len(plan.writes) > max {
			t.Fatalf("file %d: %d pages written, at most %d expected", f, len(plan.writes), max)
		}
		// The file's ids, and the last page's earlier ones rewritten,
		// front-coded: about 10 bytes an id in sequence.
		if per := float64(plan.bytes) / 5000; plan.bytes > (5000+idPageMax)*12 || plan.bytes > indexWriteBytesMax {
			t.Fatalf("file %d: %d bytes, %.1f a payment", f, plan.bytes, per)
		}
		commitPlan(t, l, plan)
	}
}

// FuzzPage: a page decodes to what was encoded, and any bytes under a page
// key decode to sorted ids or an error, never a panic.
func FuzzPage(f *testing.F) {
	f.Add("P-1\nP-10\nP-2", []byte("#C2026-12-03\tF1\n0\tP-1\t0\t0\n"))
	f.Fuzz(func(t *testing.T, ids string, raw []byte) {
		if locs, err := decodePage("k", raw); err == nil {
			for i := 1; i < len(locs); i++ {
				if locs[i-1].ID >= locs[i].ID {
					t.Fatalf("decoded out of order: %v", locs)
				}
			}
		}
		var locs []idLoc
		for i, id := range slices.Sorted(slices.Values(strings.Split(ids, "\n"))) {
			if id == "" || strings.ContainsAny(id, "\t\n#") || len(locs) > 0 && locs[len(locs)-1].ID == id {
				continue
			}
			locs = append(locs, idLoc{ID: id, Cycle: "C2026-12-03", File: fmt.Sprintf("F%d", i%3), Entry: i})
		}
		if len(locs) == 0 {
			return
		}
		back, err := decodePage("k", encodePage(locs))
		if err != nil || !slices.Equal(back, locs) {
			t.Fatalf("%v round-trips to %v, %v", locs, back, err)
		}
	})
}

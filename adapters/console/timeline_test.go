package console_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"settle/settlement"
)

// TestTimelineCountsAndClock: on Tonight and on the cycle's page, each
// step of a settled cycle shows when it happened by the service's own
// (injected) clock, not the database's, and what it dealt with: the files
// and rejects while open, the files, payments and reversals frozen, the
// entries netted, the ledger transactions recorded. A step still to come
// shows neither.
func TestTimelineCountsAndClock(t *testing.T) {
	w := newWorld(t)
	w.files(day, 6)
	w.advance(9 * time.Hour)
	runAt := w.clock()
	if _, err := w.pipeline().Run(w.ctx, day); err != nil {
		t.Fatal(err)
	}
	c, _, err := w.store.Cycle(w.ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	n, err := w.store.CycleCounts(w.ctx, day)
	if err != nil || n.LedgerTxs == 0 {
		t.Fatalf("counts: %+v %v", n, err)
	}
	var rev int64
	if err := w.pg.DB().QueryRowContext(w.ctx, `SELECT count(*) FROM payments WHERE kind = 'R'`).Scan(&rev); err != nil {
		t.Fatal(err)
	}
	w.user("vera", "viewer")
	cl := w.client()
	cl.login("vera", password("vera"))
	plural := func(n int64, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + many
	}
	want := map[settlement.Stage][]string{
		settlement.StageOpen:     {"3 files", "0 rejects", "0 deferrals in", "0 deferrals out"},
		settlement.StageFrozen:   {"3 files", plural(c.Entries-rev, "payment", "payments"), plural(rev, "reversal", "reversals")},
		settlement.StageNetted:   {plural(c.Entries, "entry netted", "entries netted")},
		settlement.StageRecorded: {plural(n.LedgerTxs, "ledger transaction", "ledger transactions"), plural(n.LedgerEntries, "entry on the ledger", "entries on the ledger")},
	}
	if c.Entries != n.LedgerEntries || c.Entries == 0 {
		t.Fatalf("entries %d, on the ledger %d", c.Entries, n.LedgerEntries)
	}
	// The machine's clock is far from the test's (2026-11-24, 10:00 UTC):
	// a time written by the database's now() would not read so.
	at := runAt.UTC().Format("2006-01-02 15:04:05Z")
	for _, path := range []string{"/", "/cycles/" + string(day)} {
		r := cl.get(path)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d", path, r.status)
		}
		ol := find(r.doc, "ol[class=timeline]")
		items := findAll(ol, "li")
		if len(items) != len(settlement.Stages) {
			t.Fatalf("%s: %d steps: %s", path, len(items), text(ol))
		}
		for _, li := range items {
			st := settlement.Stage(attrOf(li, "data-stage"))
			var got []string
			for _, s := range findAll(li, "span[class=count]") {
				got = append(got, text(s))
			}
			if w, ok := want[st]; ok && strings.Join(got, "|") != strings.Join(w, "|") {
				t.Errorf("%s %s: counts %q, want %q", path, st, got, w)
			} else if !ok && len(got) != 0 {
				t.Errorf("%s %s: counts %q, want none", path, st, got)
			}
			if st != settlement.StageOpen {
				if when := text(find(li, "span[class=when]")); !strings.HasPrefix(when, at+" by ") {
					t.Errorf("%s %s: when %q, want the pipeline's clock %s", path, st, when, at)
				}
			}
		}
	}

	// A cycle still open: its later steps show neither time nor counts.
	next := settlement.Date("2026-11-25")
	if _, err := w.store.EnsureCycle(w.ctx, next); err != nil {
		t.Fatal(err)
	}
	r := cl.get("/cycles/" + string(next))
	for _, li := range findAll(find(r.doc, "ol[class=timeline]"), "li") {
		counts := findAll(li, "span[class=count]")
		switch st := attrOf(li, "data-stage"); {
		case st == string(settlement.StageOpen) && len(counts) != 4:
			t.Errorf("open step: %s", text(li))
		case st != string(settlement.StageOpen) && (len(counts) != 0 || text(find(li, "span[class=when]")) != "pending"):
			t.Errorf("%s, still to come: %s", st, text(li))
		}
	}
}

package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"settle/adapters/reports"
	"settle/formats/gen"
	"settle/jobs"
	"settle/jobs/memstore"
	"settle/settlement"
)

// newMemWorld is the world with the store in memory whatever -short
// says (jobs/memstore, which passes the store's contract suites as
// Postgres does): the same banks, keys, caps, calendar, inbox and archive,
// and no database.
func newMemWorld(t *testing.T) (*world, *memstore.Store) {
	w := newWorldOn(t, false)
	return w, w.mem
}

// pipelineOn is the world's pipeline on store s.
func (w *world) pipelineOn(s jobs.PipelineStore) *jobs.Pipeline {
	return &jobs.Pipeline{Store: s, Ledger: w.ledger, Outbox: w.inbox, Reports: reports.Dir{Root: filepath.Join(w.root, "reports")}, ChunkSize: 7, Workers: 3,
		Now: func() time.Time { return w.now }, Log: w.quiet}
}

// runDay takes a day of 90 payments through the intake and runs its cycle
// to REPORTED on store s; it returns the payments and the positions stored.
func runDay(t *testing.T, w *world, s jobs.PipelineStore) ([][]gen.Payment, string) {
	t.Helper()
	const date = settlement.Date("2026-11-24")
	day := w.day(date, 90)
	counts, err := w.intake.Collect(w.ctx)
	if err != nil || counts.Accepted != 3 || counts.Rejected != 0 {
		t.Fatalf("intake: %+v %v", counts, err)
	}
	if a := w.ack(0, "F-2026-11-24-0.csv"); a.Status != "ACCEPTED" || a.Cycle != "C2026-11-24" || a.Entries != 30 || len(a.Errors) != 0 {
		t.Fatalf("ack: %+v", a)
	}
	c, err := w.pipelineOn(s).Run(w.ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stage != settlement.StageReported || c.Files != 3 || c.Entries != 90 {
		t.Fatalf("cycle %+v", c)
	}
	writes, payments := w.ledger.Count()
	if payments != 90 || writes != 90/7+1+1 {
		t.Fatalf("ledger: %d writes, %d payments", writes, payments)
	}
	if active, _ := s.ActiveBreaks(w.ctx, date); len(active) != 0 {
		t.Fatalf("clean cycle has breaks: %v", active)
	}
	ps, err := s.Positions(w.ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ps)
	return day, string(b)
}

// TestCycleEndToEndOnMemory is TestCycleEndToEndOnPostgres's run, intake
// to REPORTED, with the store in memory and the in-memory ledger: no
// database, so it runs under -short.
func TestCycleEndToEndOnMemory(t *testing.T) {
	w, m := newMemWorld(t)
	day, got := runDay(t, w, m)
	if want := expected(t, day); got != want {
		t.Fatalf("positions\n got %s\nwant %s", got, want)
	}
	// Running a finished cycle again changes nothing anywhere.
	writes, _ := w.ledger.Count()
	if _, err := w.pipelineOn(m).Run(w.ctx, "2026-11-24"); err != nil {
		t.Fatal(err)
	}
	if w2, _ := w.ledger.Count(); w2 != writes {
		t.Fatalf("re-run wrote %d more ledger transactions", w2-writes)
	}
	txs, err := m.LedgerTxs(w.ctx, "2026-11-24")
	if err != nil || len(txs) != writes {
		t.Fatalf("%d ledger transactions recorded (%v), %d written", len(txs), err, writes)
	}
	if _, err := os.Stat(filepath.Join(w.root, "sftp", "banks", string(w.banks[1].BIC), "outbox", jobs.ReportName("2026-11-24"))); err != nil {
		t.Fatal(err)
	}
}

// TestCycleOnMemoryAsOnPostgres: the same day run on the memory store and
// on Postgres ends with the same positions, byte for byte, the same
// entries in the same order, and the same ledger transactions by chunk.
func TestCycleOnMemoryAsOnPostgres(t *testing.T) {
	pg := newPostgresWorld(t)
	mw, m := newMemWorld(t)
	_, onMemory := runDay(t, mw, m)
	_, onPostgres := runDay(t, pg, pg.store)
	if onMemory != onPostgres {
		t.Fatalf("positions\n memory   %s\n postgres %s", onMemory, onPostgres)
	}
	entries := func(s jobs.PipelineStore) string {
		var b strings.Builder
		for se, err := range s.CycleEntries(context.Background(), "2026-11-24") {
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %s %s %+v\n", se.Sender, se.FileName, se.FileSHA256, se.Entry)
		}
		return b.String()
	}
	if a, b := entries(m), entries(pg.store); a != b {
		t.Fatalf("entries\n memory\n%s\n postgres\n%s", a, b)
	}
	chunks := func(s jobs.PipelineStore) string {
		txs, err := s.LedgerTxs(context.Background(), "2026-11-24")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for k := range txs {
			out = append(out, k)
		}
		slices.Sort(out)
		return fmt.Sprint(out)
	}
	if a, b := chunks(m), chunks(pg.store); a != b {
		t.Fatalf("chunks recorded\n memory   %s\n postgres %s", a, b)
	}
}

package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/settlement"
)

// fakeGoverned is the governed ledger path as the pipeline sees it: it keeps
// what it was told, checks each file's bytes against the declaration, and on
// settle records the cycle on the in-memory ledger so that reconciliation
// reads it back (the real chaincode indexes the verified files' payments).
type fakeGoverned struct {
	w        *world
	gridlock string // the ledger's setting; "": hold
	// whole: the verifying part indexes each file whole, as the chaincode
	// does when the file's ids fit beside its last part.
	whole    bool
	mu       sync.Mutex
	declared map[string][]jobs.LedgerFile
	files    map[string][]byte
	settled  []string
}

func (f *fakeGoverned) DeclareFiles(_ context.Context, cycle string, files []jobs.LedgerFile) (jobs.LedgerTx, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.declared[cycle]; ok {
		return jobs.LedgerTx{ID: "declare-" + cycle, Existing: true}, nil
	}
	f.declared[cycle] = files
	return jobs.LedgerTx{ID: "declare-" + cycle, Block: 1}, nil
}

// PutFile indexes the file's payments on the in-memory ledger, as the
// chaincode's IndexFile does: fakeIndexMax entries a transaction, in the
// file's order, each range a chunk of its own.
func (f *fakeGoverned) PutFile(ctx context.Context, cycle string, lf jobs.LedgerFile, body, sig []byte) (jobs.FileTxs, error) {
	f.mu.Lock()
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != lf.SHA256 || len(sig) == 0 {
		f.w.t.Errorf("file %s/%s: bytes do not hash to the declaration, or no signature", lf.Sender, lf.FileID)
	}
	f.files[string(lf.Sender)+"/"+lf.FileID] = body
	f.mu.Unlock()
	var entries []jobs.ChunkEntry
	for se, err := range f.w.store.CycleEntries(ctx, settlement.Date(cycle[1:])) {
		if err != nil {
			return jobs.FileTxs{}, err
		}
		if se.FileSHA256 == lf.SHA256 {
			entries = append(entries, jobs.ChunkEntry{Sender: se.Sender, Entry: se.Entry, FileSHA256: se.FileSHA256})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Entry.Line < entries[j].Entry.Line })
	out := jobs.FileTxs{Verified: jobs.LedgerTx{ID: "verify-" + cycle + "-" + string(lf.Sender) + "-" + lf.FileID, Block: 1}}
	if f.whole {
		tx, err := f.w.ledger.RecordChunk(ctx, jobs.Chunk{Cycle: cycle, ID: fmt.Sprintf("F.%s.%s.0", lf.Sender, lf.FileID), Entries: entries})
		if err != nil {
			return out, err
		}
		out.Verified = tx
		out.Index = []jobs.IndexTx{{Start: 0, Entries: len(entries), Tx: tx}}
		return out, nil
	}
	for start := 0; start < len(entries); start += fakeIndexMax {
		end := min(start+fakeIndexMax, len(entries))
		ch := jobs.Chunk{Cycle: cycle, ID: fmt.Sprintf("F.%s.%s.%d", lf.Sender, lf.FileID, start), Entries: entries[start:end]}
		tx, err := f.w.ledger.RecordChunk(ctx, ch)
		if err != nil {
			return out, err
		}
		out.Index = append(out.Index, jobs.IndexTx{Start: start, Entries: end - start, Tx: tx})
	}
	return out, nil
}

// fakeIndexMax is the in-memory IndexFile's entries a transaction: small,
// so a test file takes several.
const fakeIndexMax = 2

func (f *fakeGoverned) SettleDeclared(ctx context.Context, cycle string) (jobs.LedgerTx, error) {
	f.mu.Lock()
	f.settled = append(f.settled, cycle)
	f.mu.Unlock()
	date := settlement.Date(cycle[1:])
	pos, err := f.w.store.Positions(ctx, date)
	if err != nil {
		return jobs.LedgerTx{}, err
	}
	return f.w.ledger.SettleCycle(ctx, cycle, pos)
}

// Gridlock: the fake ledger holds a cycle over its caps for the operator
// (the scheme's default); its resolution is the real chaincode's, tested on
// the real network (e2e.TestGridlockResolvedOnTheLedger).
func (f *fakeGoverned) Gridlock(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gridlock == "" {
		return jobs.GridlockHold, nil
	}
	return f.gridlock, nil
}

func (f *fakeGoverned) ResolveDeclared(ctx context.Context, cycle string) (jobs.LedgerTx, error) {
	return f.SettleDeclared(ctx, cycle)
}

// Deferral: the fake defers nothing and carries nothing in.
func (f *fakeGoverned) Deferral(context.Context, string) (jobs.LedgerDeferral, bool, error) {
	return jobs.LedgerDeferral{}, false, nil
}

// TestGovernedPathDeclaresAndRelaysFiles: with Pipeline.Governed set, the
// record step writes no chunk; it declares the cycle's accepted files (sender,
// file id, format, sha256, entries, control sum) once, relays each file's
// archived bytes and signature once, and the settle is the ledger's; a re-run
// sends nothing again.
func TestGovernedPathDeclaresAndRelaysFiles(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	w.day(date, 90)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	g := &fakeGoverned{w: w, declared: map[string][]jobs.LedgerFile{}, files: map[string][]byte{}}
	p := w.pipeline()
	p.Governed, p.Files = g, w.arc
	c, err := p.Run(w.ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stage != settlement.StageReported {
		t.Fatalf("cycle %+v", c)
	}
	decl := g.declared["C2026-11-24"]
	if len(decl) != 3 || len(g.files) != 3 || len(g.settled) != 1 {
		t.Fatalf("declared %d files, relayed %d, settled %v", len(decl), len(g.files), g.settled)
	}
	var entries int64
	for _, f := range decl {
		entries += f.Entries
		if f.Format != "csv" || f.ControlSum.IsZero() || len(f.SHA256) != 64 {
			t.Errorf("declared %+v", f)
		}
	}
	if entries != 90 {
		t.Fatalf("declared %d entries, want 90", entries)
	}
	txs, _ := w.store.LedgerTxs(w.ctx, date)
	// The declaration, each file's verifying part, its IndexFile
	// transactions (30 entries a file, fakeIndexMax a transaction) and the
	// settlement.
	index := 0
	for chunk := range txs {
		if strings.HasPrefix(chunk, "index/") {
			index++
		}
	}
	if _, ok := txs["declare"]; !ok || index != 3*30/fakeIndexMax || len(txs) != 1+3+index+1 {
		t.Fatalf("ledger txs recorded (%d IndexFile): %v", index, txs)
	}
	if active, _ := w.store.ActiveBreaks(w.ctx, date); len(active) != 0 {
		t.Fatalf("breaks: %v", active)
	}
	if _, err := w.pipeline().Run(w.ctx, date); err != nil {
		t.Fatal(err)
	}
	if len(g.settled) != 1 {
		t.Fatalf("a re-run settled again: %v", g.settled)
	}
}

// TestGovernedFileIndexedByItsVerifyingPart: when the ledger's verifying
// part indexes a file whole (issue 18: its ids fit beside it), Postgres
// records that transaction once, as the file's, and the cycle is still
// reconciled with no break and reported, each entry's statement line naming
// it; a re-run sends nothing again.
func TestGovernedFileIndexedByItsVerifyingPart(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	w.day(date, 60)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	g := &fakeGoverned{w: w, whole: true, declared: map[string][]jobs.LedgerFile{}, files: map[string][]byte{}}
	p := w.pipeline()
	p.Governed, p.Files = g, w.arc
	c, err := p.Run(w.ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stage != settlement.StageReported {
		t.Fatalf("cycle %+v", c)
	}
	txs, _ := w.store.LedgerTxs(w.ctx, date)
	files := 0
	for chunk, tx := range txs {
		if strings.HasPrefix(chunk, "index/") {
			t.Fatalf("an index transaction recorded apart from its file's: %s %+v", chunk, tx)
		}
		if strings.HasPrefix(chunk, "file/") {
			files++
		}
	}
	if files != 3 || len(txs) != 1+3+1 {
		t.Fatalf("ledger txs recorded: %v", txs)
	}
	if active, _ := w.store.ActiveBreaks(w.ctx, date); len(active) != 0 {
		t.Fatalf("breaks: %v", active)
	}
	if _, err := p.Run(w.ctx, date); err != nil {
		t.Fatal(err)
	}
	if len(g.settled) != 1 {
		t.Fatalf("a re-run settled again: %v", g.settled)
	}
}

// TestGovernedRefusesATooLargeFileBeforeDeclaring: a file of more entries
// than the ledger verifies in one transaction (accepted before the intake
// knew the governed limits) stops the record step with the file named,
// before anything of the cycle is declared: nothing is left half-written.
func TestGovernedRefusesATooLargeFileBeforeDeclaring(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	w.day(date, 3*(jobs.GovernedEntriesMax+1))
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	g := &fakeGoverned{w: w, declared: map[string][]jobs.LedgerFile{}, files: map[string][]byte{}}
	p := w.pipeline()
	p.Governed, p.Files = g, w.arc
	_, err := p.Run(w.ctx, date)
	if err == nil || !strings.Contains(err.Error(), "larger than the governed ledger takes") || !strings.Contains(err.Error(), fmt.Sprint(jobs.GovernedEntriesMax+1)+" entries") {
		t.Fatalf("want the too-large files named, got %v", err)
	}
	if len(g.declared) != 0 || len(g.files) != 0 {
		t.Fatalf("declared %v, relayed %d files", g.declared, len(g.files))
	}
}

// TestGovernedNetFollowsTheGridlockSetting: over its caps on the governed
// path, a cycle is held at netting while the ledger's setting is hold (the
// hold names the ledger's resolution as a way out), and goes on to NETTED
// with its gross positions once it is auto: the ledger will resolve it.
// A cycle carrying a payment the ledger has deferred GridlockAskAfter
// times is held for the operator even then; without the limit it goes on.
func TestGovernedNetFollowsTheGridlockSetting(t *testing.T) {
	w := newWorld(t)
	const d1, d2 = settlement.Date("2026-11-24"), settlement.Date("2026-11-25")
	w.day(d1, 30)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.setCaps(t, decimal.Zero, w.now.Add(-30*time.Minute)) // every net debtor is over
	g := &fakeGoverned{w: w, declared: map[string][]jobs.LedgerFile{}, files: map[string][]byte{}}
	p := w.pipeline()
	p.Governed, p.Files, p.GridlockAskAfter = g, w.arc, 3
	_, err := p.Run(w.ctx, d1)
	if !errors.Is(err, jobs.ErrCapBreach) || !strings.Contains(err.Error(), "settle cycle resolve --date "+string(d1)) {
		t.Fatalf("setting hold: %v", err)
	}
	if c, _, _ := w.store.Cycle(w.ctx, d1); c.Stage != settlement.StageFrozen {
		t.Fatalf("held at %s", c.Stage)
	}
	g.mu.Lock()
	g.gridlock = jobs.GridlockAuto
	g.mu.Unlock()
	for _, st := range []settlement.Stage{settlement.StageNetted, settlement.StageRecorded} {
		if err := p.Step(w.ctx, d1, st); err != nil {
			t.Fatalf("setting auto, to %s: %v", st, err)
		}
	}
	if len(g.declared["C"+string(d1)]) != 3 {
		t.Fatalf("declared %v", g.declared)
	}
	// The ledger's resolution of d1 deferred two payments, each for the
	// third time (as the settle step records it).
	var refs []jobs.DeferredRef
	for se, err := range w.store.CycleEntries(w.ctx, d1) {
		if err != nil {
			t.Fatal(err)
		}
		if se.Entry.Kind == settlement.KindPayment && len(refs) < 2 {
			refs = append(refs, jobs.DeferredRef{Sender: se.Sender, ID: se.Entry.ID, Times: 3})
		}
	}
	if err := w.store.UpdateCycle(w.ctx, d1, func(c *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		if err := tx.SaveResolution(jobs.Resolution{To: d2, TxID: "tx-d1", Deferred: refs}); err != nil {
			return nil, err
		}
		_, err := c.Advance(settlement.StageSettled, w.now, settlement.Facts{LedgerResolves: true})
		return []jobs.Event{jobs.NewEvent(jobs.TopicCycleSettled, d1, w.now)}, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Step(w.ctx, d2, settlement.StageFrozen); err != nil {
		t.Fatal(err)
	}
	err = p.Step(w.ctx, d2, settlement.StageNetted)
	if !errors.Is(err, jobs.ErrCapBreach) || !strings.Contains(err.Error(), "2 carried payments have been deferred 3 times or more") ||
		!strings.Contains(err.Error(), refs[0].ID) || !jobs.NeedsOperator(err) {
		t.Fatalf("carried for the third time: %v", err)
	}
	p.GridlockAskAfter = 0
	if err := p.Step(w.ctx, d2, settlement.StageNetted); err != nil {
		t.Fatalf("no limit: %v", err)
	}
	// d2 nets the carried payments: its positions are theirs.
	ps, err := w.store.Positions(w.ctx, d2)
	if err != nil || len(ps) == 0 {
		t.Fatalf("d2's positions %v %v", ps, err)
	}
}

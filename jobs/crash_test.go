package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/formats/gen"
	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
	"settle/signature"
)

var errCrash = errors.New("crash")

// crashStore fails the k-th call to the store: before it takes effect, or
// after it took effect with the answer lost (a process killed between the
// commit and the next instruction). It serves every port of the store
// (jobs.Store) and the intake's lookup (jobs.FileLookup), each method its
// own: Store is a field, not embedded, so a method it lacks fails to
// compile instead of going through unseen.
type crashStore struct {
	Store worldStore
	n, k  int64
	after bool

	mu    sync.Mutex
	calls map[string]int // a probe's (k < 0) calls, by method
}

var _ worldStore = (*crashStore)(nil)

func (c *crashStore) hit(do func() error) error {
	if c.k < 0 {
		c.count()
	}
	if atomic.AddInt64(&c.n, 1) != c.k {
		return do()
	}
	if c.after {
		do()
	}
	return errCrash
}

// count notes the store method whose wrapper called hit.
func (c *crashStore) count() {
	pc, _, _, _ := runtime.Caller(2)
	name := runtime.FuncForPC(pc).Name()
	name = name[strings.LastIndex(name, ".")+1:]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[name]++
}

// methods lists what a probe saw, "Method×calls" in name order: the
// methods whose crash points the test covers.
func (c *crashStore) methods() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for m, n := range c.calls {
		out = append(out, fmt.Sprintf("%s×%d", m, n))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func (c *crashStore) UpdateCycle(ctx context.Context, d settlement.Date, update func(*settlement.Cycle, jobs.CycleTx) ([]jobs.Event, error)) error {
	return c.hit(func() error { return c.Store.UpdateCycle(ctx, d, update) })
}

func (c *crashStore) SaveLedgerTx(ctx context.Context, d settlement.Date, id string, n int, tx jobs.LedgerTx) error {
	return c.hit(func() error { return c.Store.SaveLedgerTx(ctx, d, id, n, tx) })
}

func (c *crashStore) Positions(ctx context.Context, d settlement.Date) ([]settlement.Position, error) {
	var ps []settlement.Position
	err := c.hit(func() (err error) { ps, err = c.Store.Positions(ctx, d); return })
	return ps, err
}

func (c *crashStore) CycleEntries(ctx context.Context, d settlement.Date) iter.Seq2[jobs.StoredEntry, error] {
	if err := c.hit(func() error { return nil }); err != nil {
		return func(yield func(jobs.StoredEntry, error) bool) { yield(jobs.StoredEntry{}, err) }
	}
	return c.Store.CycleEntries(ctx, d)
}

// CarriedEntries crashes as CycleEntries does: when it is called, its
// stream fails. (CycleTx's methods, SaveResolution among them, write
// inside UpdateCycle's transaction: a crash before or after UpdateCycle
// covers them, nothing of a transaction that did not commit is kept.)
func (c *crashStore) CarriedEntries(ctx context.Context, d settlement.Date) iter.Seq2[jobs.CarriedEntry, error] {
	if err := c.hit(func() error { return nil }); err != nil {
		return func(yield func(jobs.CarriedEntry, error) bool) { yield(jobs.CarriedEntry{}, err) }
	}
	return c.Store.CarriedEntries(ctx, d)
}

// The other methods of jobs.Store go through hit as well, so that the
// crash points are every store call the pipeline makes, as the README
// says (issue 12, also-fix list). TestCrashStoreWrapsEveryMethod keeps it so.

func (c *crashStore) Members(ctx context.Context) (m map[settlement.BIC]bool, err error) {
	err = c.hit(func() (err error) { m, err = c.Store.Members(ctx); return })
	return m, err
}

func (c *crashStore) SigningKeys(ctx context.Context, bank settlement.BIC, at time.Time) (ks []signature.Key, err error) {
	err = c.hit(func() (err error) { ks, err = c.Store.SigningKeys(ctx, bank, at); return })
	return ks, err
}

func (c *crashStore) Caps(ctx context.Context) (cs []settlement.Cap, err error) {
	err = c.hit(func() (err error) { cs, err = c.Store.Caps(ctx); return })
	return cs, err
}

func (c *crashStore) DeferFile(ctx context.Context, d jobs.Deferral) (f jobs.DeferredFile, err error) {
	err = c.hit(func() (err error) { f, err = c.Store.DeferFile(ctx, d); return })
	return f, err
}

func (c *crashStore) Cycle(ctx context.Context, d settlement.Date) (cy settlement.Cycle, ok bool, err error) {
	err = c.hit(func() (err error) { cy, ok, err = c.Store.Cycle(ctx, d); return })
	return cy, ok, err
}

func (c *crashStore) EnsureCycle(ctx context.Context, d settlement.Date) (cy settlement.Cycle, err error) {
	err = c.hit(func() (err error) { cy, err = c.Store.EnsureCycle(ctx, d); return })
	return cy, err
}

func (c *crashStore) IngestFile(ctx context.Context, f jobs.FileRecord, entries func(yield func(*settlement.Entry) bool) error) (r jobs.IngestResult, err error) {
	err = c.hit(func() (err error) { r, err = c.Store.IngestFile(ctx, f, entries); return })
	return r, err
}

func (c *crashStore) RecordRejected(ctx context.Context, f jobs.FileRecord, problems []settlement.Problem) (r jobs.IngestResult, err error) {
	err = c.hit(func() (err error) { r, err = c.Store.RecordRejected(ctx, f, problems); return })
	return r, err
}

func (c *crashStore) Acknowledged(ctx context.Context, fileRow int64, at time.Time) error {
	return c.hit(func() error { return c.Store.Acknowledged(ctx, fileRow, at) })
}

func (c *crashStore) PendingReversals(ctx context.Context, d settlement.Date, max int) (ps []jobs.PendingReversal, err error) {
	err = c.hit(func() (err error) { ps, err = c.Store.PendingReversals(ctx, d, max); return })
	return ps, err
}

func (c *crashStore) LedgerTxs(ctx context.Context, d settlement.Date) (m map[string]jobs.LedgerTx, err error) {
	err = c.hit(func() (err error) { m, err = c.Store.LedgerTxs(ctx, d); return })
	return m, err
}

func (c *crashStore) ActiveBreaks(ctx context.Context, d settlement.Date) (m map[string]bool, err error) {
	err = c.hit(func() (err error) { m, err = c.Store.ActiveBreaks(ctx, d); return })
	return m, err
}

func (c *crashStore) OpenBreaks(ctx context.Context, d settlement.Date) (bs []reconciliation.Break, err error) {
	err = c.hit(func() (err error) { bs, err = c.Store.OpenBreaks(ctx, d); return })
	return bs, err
}

func (c *crashStore) StepFailed(ctx context.Context, d settlement.Date, to settlement.Stage, cause error, held bool) error {
	return c.hit(func() error { return c.Store.StepFailed(ctx, d, to, cause, held) })
}

func (c *crashStore) LedgerFiles(ctx context.Context, d settlement.Date) (fs []jobs.LedgerFile, err error) {
	err = c.hit(func() (err error) { fs, err = c.Store.LedgerFiles(ctx, d); return })
	return fs, err
}

func (c *crashStore) Acknowledgement(ctx context.Context, bank settlement.BIC, name, sum string) (a jobs.RecordedAck, ok bool, err error) {
	err = c.hit(func() (err error) { a, ok, err = c.Store.Acknowledgement(ctx, bank, name, sum); return })
	return a, ok, err
}

func (c *crashStore) AckNameTaken(ctx context.Context, bank settlement.BIC, name string) (taken bool, err error) {
	err = c.hit(func() (err error) { taken, err = c.Store.AckNameTaken(ctx, bank, name); return })
	return taken, err
}

func (c *crashStore) LastFailure(ctx context.Context, d settlement.Date) (f jobs.Failure, ok bool, err error) {
	err = c.hit(func() (err error) { f, ok, err = c.Store.LastFailure(ctx, d); return })
	return f, ok, err
}

// atEveryCrashPoint runs crash(t, k, after) as a subtest of its own for
// each of the calls crash points, before (after false) and after each takes
// effect, so that each point's world (a database and its connections on
// Postgres) is dropped before the next; on memory (-short) they run in
// parallel.
func atEveryCrashPoint(t *testing.T, name string, calls int64, crash func(t *testing.T, k int64, after bool)) {
	t.Helper()
	for _, after := range []bool{false, true} {
		for k := int64(1); k <= calls; k++ {
			t.Run(fmt.Sprintf("%s-%d-after-%v", name, k, after), func(t *testing.T) {
				parallelOnMemory(t)
				crash(t, k, after)
			})
		}
	}
}

// parallelOnMemory runs a crash point beside the others under -short,
// where each has a world of its own in memory (a directory and a store);
// on Postgres they stay one at a time, a database each, as the full
// suite has always run them.
func parallelOnMemory(t *testing.T) {
	if testing.Short() {
		t.Parallel()
	}
}

// TestCrashStoreWrapsEveryMethod: crashStore defines every method of
// jobs.Store and jobs.FileLookup itself, none promoted unseen.
func TestCrashStoreWrapsEveryMethod(t *testing.T) {
	wrapsEvery(t, reflect.TypeOf((*jobs.Store)(nil)).Elem(), crashStore{})
	wrapsEvery(t, reflect.TypeOf((*jobs.FileLookup)(nil)).Elem(), crashStore{})
}

// crashLedger fails the k-th ledger call, a read or a write: before it
// reaches the ledger, or after it took effect there with the answer lost.
// It embeds the in-memory ledger so that what the jobs find on it beyond
// the port stays visible; TestCrashLedgerWrapsEveryMethod keeps every
// method of jobs.Ledger its own.
type crashLedger struct {
	*memLedger
	n, k  int64
	after bool
}

func (c *crashLedger) hit(do func() error) error {
	if atomic.AddInt64(&c.n, 1) != c.k {
		return do()
	}
	if c.after {
		do()
	}
	return errCrash
}

func (c *crashLedger) RecordChunk(ctx context.Context, ch jobs.Chunk) (tx jobs.LedgerTx, err error) {
	err = c.hit(func() (err error) { tx, err = c.memLedger.RecordChunk(ctx, ch); return })
	return tx, err
}

func (c *crashLedger) SettleCycle(ctx context.Context, cy string, ps []settlement.Position) (tx jobs.LedgerTx, err error) {
	err = c.hit(func() (err error) { tx, err = c.memLedger.SettleCycle(ctx, cy, ps); return })
	return tx, err
}

func (c *crashLedger) Cycle(ctx context.Context, cy string) (lc jobs.LedgerCycle, ok bool, err error) {
	err = c.hit(func() (err error) { lc, ok, err = c.memLedger.Cycle(ctx, cy); return })
	return lc, ok, err
}

func (c *crashLedger) CyclePayments(ctx context.Context, cy string) iter.Seq2[reconciliation.Record, error] {
	if err := c.hit(func() error { return nil }); err != nil {
		return func(yield func(reconciliation.Record, error) bool) { yield(reconciliation.Record{}, err) }
	}
	return c.memLedger.CyclePayments(ctx, cy)
}

func (c *crashLedger) Payment(ctx context.Context, s settlement.BIC, id string) (r reconciliation.Record, ok bool, err error) {
	err = c.hit(func() (err error) { r, ok, err = c.memLedger.Payment(ctx, s, id); return })
	return r, ok, err
}

func (c *crashLedger) ReversalChain(ctx context.Context, s settlement.BIC, id string) (rs []reconciliation.Record, err error) {
	err = c.hit(func() (err error) { rs, err = c.memLedger.ReversalChain(ctx, s, id); return })
	return rs, err
}

func (c *crashLedger) Tx(ctx context.Context, id string) (tx jobs.LedgerTx, err error) {
	err = c.hit(func() (err error) { tx, err = c.memLedger.Tx(ctx, id); return })
	return tx, err
}

func (c *crashLedger) RegisterBank(ctx context.Context, bic settlement.BIC, msp string) (tx jobs.LedgerTx, err error) {
	err = c.hit(func() (err error) { tx, err = c.memLedger.RegisterBank(ctx, bic, msp); return })
	return tx, err
}

func (c *crashLedger) SetCap(ctx context.Context, cp settlement.Cap) (tx jobs.LedgerTx, err error) {
	err = c.hit(func() (err error) { tx, err = c.memLedger.SetCap(ctx, cp); return })
	return tx, err
}

func (c *crashLedger) Registered(ctx context.Context, bic settlement.BIC) (ok bool, err error) {
	err = c.hit(func() (err error) { ok, err = c.memLedger.Registered(ctx, bic); return })
	return ok, err
}

// ReadAfter is no crash point: it asks the ledger nothing and cannot fail
// (it sets the client's read floor). A process killed right after it is
// the crash at the next call, which is one.
func (c *crashLedger) ReadAfter(block uint64) { c.memLedger.ReadAfter(block) }

// TestCrashLedgerWrapsEveryMethod: crashLedger defines every method of
// jobs.Ledger itself, none promoted from the embedded ledger unseen.
func TestCrashLedgerWrapsEveryMethod(t *testing.T) {
	wrapsEvery(t, reflect.TypeOf((*jobs.Ledger)(nil)).Elem(), crashLedger{})
}

// wrapsEvery checks that the wrapper type of w defines every method of the
// interface port itself: the methods of the value type are only those
// promoted from what it embeds, those of its pointer its own too.
func wrapsEvery(t *testing.T, port reflect.Type, w any) {
	t.Helper()
	own := reflect.TypeOf(w)
	ptr := reflect.PointerTo(own)
	for i := 0; i < port.NumMethod(); i++ {
		name := port.Method(i).Name
		if _, promoted := own.MethodByName(name); promoted {
			t.Errorf("%s does not wrap %s: a call to it is no crash point", own.Name(), name)
		}
		if _, ok := ptr.MethodByName(name); !ok {
			t.Errorf("%s lacks %s", own.Name(), name)
		}
	}
}

// TestCrashAtEveryPointResumes: for every store call and every ledger
// call (read or write) of a cycle's run, crash there (before and after it takes effect),
// then run again as a restarted process would: the cycle always ends
// REPORTED with the same positions, the same ledger content (each payment
// recorded once) and no breaks.
func TestCrashAtEveryPointResumes(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	day := w.day(date, 20)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	want := expected(t, day)

	// Count the calls of an undisturbed run on a throwaway copy: run it on
	// the real store, but count only; the cycle is then reset by using a
	// fresh world per crash point.
	probe := &crashStore{Store: w.store, k: -1}
	pl := &crashLedger{memLedger: newMemLedger(), k: -1}
	p := w.pipeline()
	p.Store, p.Ledger = probe, pl
	if _, err := p.Run(w.ctx, date); err != nil {
		t.Fatal(err)
	}
	storeCalls, ledgerCalls := probe.n, pl.n
	t.Logf("an undisturbed run makes %d store calls (%s) and %d ledger calls; each is a crash point, twice", storeCalls, probe.methods(), ledgerCalls)
	if storeCalls < 10 || ledgerCalls < 3 {
		t.Fatalf("probe counted %d store and %d ledger calls", storeCalls, ledgerCalls)
	}

	check := func(t *testing.T, w *world, ledger *memLedger) {
		t.Helper()
		c, _, _ := w.store.Cycle(w.ctx, date)
		if c.Stage != settlement.StageReported {
			t.Fatalf("stage %s", c.Stage)
		}
		if got := w.positions(date); got != want {
			t.Fatalf("positions differ from an undisturbed run")
		}
		if _, payments := ledger.Count(); payments != 20 {
			t.Fatalf("%d payments on the ledger", payments)
		}
		if active, _ := w.store.ActiveBreaks(w.ctx, date); len(active) != 0 {
			t.Fatalf("breaks after resume: %v", active)
		}
	}
	// Each crash point is a subtest of its own, so that its world (a
	// database and its connections) is dropped before the next.
	atEveryCrashPoint(t, "store-call", storeCalls, func(t *testing.T, k int64, after bool) {
		w := newWorld(t)
		w.day(date, 20)
		w.intake.Collect(w.ctx)
		cs := &crashStore{Store: w.store, k: k, after: after}
		p := w.pipeline()
		p.Store = cs
		if _, err := p.Run(w.ctx, date); !errors.Is(err, errCrash) {
			t.Fatalf("store call %d (after=%v): want the crash, got %v", k, after, err)
		}
		if _, err := w.pipeline().Run(w.ctx, date); err != nil {
			t.Fatalf("resume after store call %d (after=%v): %v", k, after, err)
		}
		check(t, w, w.ledger)
	})
	atEveryCrashPoint(t, "ledger-call", ledgerCalls, func(t *testing.T, k int64, after bool) {
		w := newWorld(t)
		w.day(date, 20)
		w.intake.Collect(w.ctx)
		cl := &crashLedger{memLedger: w.ledger, k: k, after: after}
		p := w.pipeline()
		p.Ledger = cl
		if _, err := p.Run(w.ctx, date); !errors.Is(err, errCrash) {
			t.Fatalf("ledger call %d (after=%v): want the crash, got %v", k, after, err)
		}
		if _, err := w.pipeline().Run(w.ctx, date); err != nil {
			t.Fatalf("resume after ledger call %d (after=%v): %v", k, after, err)
		}
		check(t, w, w.ledger)
	})
}

// crashGoverned fails the k-th call of the governed path (jobs.GovernedLedger)
// like crashLedger: before it reaches the ledger, or after it took effect.
type crashGoverned struct {
	*fakeGoverned
	n, k  int64
	after bool
}

func (c *crashGoverned) hit(do func() error) error {
	if atomic.AddInt64(&c.n, 1) != c.k {
		return do()
	}
	if c.after {
		do()
	}
	return errCrash
}

func (c *crashGoverned) DeclareFiles(ctx context.Context, cycle string, files []jobs.LedgerFile) (tx jobs.LedgerTx, err error) {
	err = c.hit(func() (err error) { tx, err = c.fakeGoverned.DeclareFiles(ctx, cycle, files); return })
	return tx, err
}

func (c *crashGoverned) PutFile(ctx context.Context, cycle string, f jobs.LedgerFile, body, sig []byte) (txs jobs.FileTxs, err error) {
	err = c.hit(func() (err error) { txs, err = c.fakeGoverned.PutFile(ctx, cycle, f, body, sig); return })
	return txs, err
}

func (c *crashGoverned) SettleDeclared(ctx context.Context, cycle string) (tx jobs.LedgerTx, err error) {
	err = c.hit(func() (err error) { tx, err = c.fakeGoverned.SettleDeclared(ctx, cycle); return })
	return tx, err
}

func (c *crashGoverned) Gridlock(ctx context.Context) (v string, err error) {
	err = c.hit(func() (err error) { v, err = c.fakeGoverned.Gridlock(ctx); return })
	return v, err
}

func (c *crashGoverned) ResolveDeclared(ctx context.Context, cycle string) (tx jobs.LedgerTx, err error) {
	err = c.hit(func() (err error) { tx, err = c.fakeGoverned.ResolveDeclared(ctx, cycle); return })
	return tx, err
}

func (c *crashGoverned) Deferral(ctx context.Context, cycle string) (d jobs.LedgerDeferral, ok bool, err error) {
	err = c.hit(func() (err error) { d, ok, err = c.fakeGoverned.Deferral(ctx, cycle); return })
	return d, ok, err
}

// TestCrashGovernedWrapsEveryMethod: crashGoverned defines every method of
// jobs.GovernedLedger itself.
func TestCrashGovernedWrapsEveryMethod(t *testing.T) {
	wrapsEvery(t, reflect.TypeOf((*jobs.GovernedLedger)(nil)).Elem(), crashGoverned{})
}

// TestCrashGovernedAtEveryPointResumes: on the governed path, crash at every
// call of it and at every store call (before and after it takes effect),
// then run again on the same ledger as a restarted process would: the
// cycle ends REPORTED with the positions of an undisturbed run, every
// payment indexed once, settled once, and no breaks.
func TestCrashGovernedAtEveryPointResumes(t *testing.T) {
	const date = settlement.Date("2026-11-24")
	setup := func(t *testing.T) (*world, *fakeGoverned, *jobs.Pipeline, [][]gen.Payment) {
		w := newWorld(t)
		day := w.day(date, 20)
		if _, err := w.intake.Collect(w.ctx); err != nil {
			t.Fatal(err)
		}
		g := &fakeGoverned{w: w, declared: map[string][]jobs.LedgerFile{}, files: map[string][]byte{}}
		p := w.pipeline()
		p.Governed, p.Files = g, w.arc
		return w, g, p, day
	}
	w, g, p, day := setup(t)
	want := expected(t, day)
	probe := &crashGoverned{fakeGoverned: g, k: -1}
	storeProbe := &crashStore{Store: w.store, k: -1}
	p.Governed, p.Store = probe, storeProbe
	if _, err := p.Run(w.ctx, date); err != nil {
		t.Fatal(err)
	}
	calls, storeCalls := probe.n, storeProbe.n
	t.Logf("an undisturbed governed run makes %d calls of the governed path and %d store calls (%s); each is a crash point, twice",
		calls, storeCalls, storeProbe.methods())
	if calls < 5 { // a declaration, three files, a settle
		t.Fatalf("probe counted %d calls", calls)
	}
	check := func(t *testing.T, w *world) {
		t.Helper()
		c, _, _ := w.store.Cycle(w.ctx, date)
		if c.Stage != settlement.StageReported {
			t.Fatalf("stage %s", c.Stage)
		}
		if got := w.positions(date); got != want {
			t.Fatalf("positions differ from an undisturbed run")
		}
		if _, payments := w.ledger.Count(); payments != 20 {
			t.Fatalf("%d payments on the ledger", payments)
		}
		if _, settled := w.ledger.Settled["C2026-11-24"]; !settled {
			t.Fatal("the cycle is not settled on the ledger")
		}
		if active, _ := w.store.ActiveBreaks(w.ctx, date); len(active) != 0 {
			t.Fatalf("breaks after resume: %v", active)
		}
	}
	atEveryCrashPoint(t, "governed-call", calls, func(t *testing.T, k int64, after bool) {
		w, g, p, _ := setup(t)
		p.Governed = &crashGoverned{fakeGoverned: g, k: k, after: after}
		if _, err := p.Run(w.ctx, date); !errors.Is(err, errCrash) {
			t.Fatalf("governed call %d (after=%v): want the crash, got %v", k, after, err)
		}
		p.Governed = g
		if _, err := p.Run(w.ctx, date); err != nil {
			t.Fatalf("resume after governed call %d (after=%v): %v", k, after, err)
		}
		check(t, w)
	})
	// The store's calls on the governed path (its list of the
	// cycle's files among them).
	atEveryCrashPoint(t, "store-call", storeCalls, func(t *testing.T, k int64, after bool) {
		w, _, p, _ := setup(t)
		p.Store = &crashStore{Store: w.store, k: k, after: after}
		if _, err := p.Run(w.ctx, date); !errors.Is(err, errCrash) {
			t.Fatalf("store call %d (after=%v): want the crash, got %v", k, after, err)
		}
		p.Store = w.store
		if _, err := p.Run(w.ctx, date); err != nil {
			t.Fatalf("resume after store call %d (after=%v): %v", k, after, err)
		}
		check(t, w)
	})
}

func TestDayWithNoFiles(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	if _, err := w.store.EnsureCycle(w.ctx, date); err != nil {
		t.Fatal(err)
	}
	c, err := w.pipeline().Run(w.ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stage != settlement.StageReported || c.Entries != 0 {
		t.Fatalf("empty cycle: %+v", c)
	}
	if writes, _ := w.ledger.Count(); writes != 0 {
		t.Fatalf("an empty cycle wrote %d ledger transactions", writes)
	}
	found, _, _, err := w.pipeline().Reconcile(w.ctx, date)
	if err != nil || len(found) != 0 {
		t.Fatalf("empty cycle breaks: %v %v", found, err)
	}
}

func TestFileForAHolidaySettlesNextBusinessDay(t *testing.T) {
	w := newWorld(t)
	w.cal = jobs.NewCalendar(w.cal.Location(), map[settlement.Date]string{"2026-11-25": "a bank holiday"})
	w.intake.Calendar = w.cal
	w.day("2026-11-25", 9)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	if a := w.ack(0, "F-2026-11-25-0.csv"); a.Status != "ACCEPTED" || a.Cycle != "C2026-11-26" {
		t.Fatalf("a file dated a holiday: %+v", a)
	}
}

// TestCrashIntakeAtEveryPointResumes: for every store call of an intake
// pass (the intake's port of the store and its lookup of earlier takes),
// crash there, before and after it takes effect, then collect again as a
// restarted process would: every file has its one verdict (the day's three
// accepted, a bad file rejected), the cycle holds the three files and
// their entries, and it runs to the positions of an undisturbed run.
func TestCrashIntakeAtEveryPointResumes(t *testing.T) {
	const date = settlement.Date("2026-11-24")
	setup := func(t *testing.T) (*world, [][]gen.Payment) {
		w := newWorld(t)
		day := w.day(date, 20)
		b0, b1 := w.banks[0].BIC, w.banks[1].BIC
		w.upload(0, "bad.csv", []byte(fmt.Sprintf("H,F-BAD,%s,%s,2026-11-24T10:00:00+09:00\nP,B1,%s,%s,1.5,KRW\nT,1,1.5\n", b0, date, b0, b1)))
		return w, day
	}
	check := func(t *testing.T, w *world, day [][]gen.Payment) {
		t.Helper()
		for i := range w.banks {
			if a := w.ack(i, fmt.Sprintf("F-%s-%d.csv", date, i)); a.Status != "ACCEPTED" || a.Entries != int64(len(day[i])) {
				t.Fatalf("bank %d's file: %+v", i, a)
			}
		}
		if a := w.ack(0, "bad.csv"); a.Status != "REJECTED" || len(a.Errors) != 1 {
			t.Fatalf("the bad file: %+v", a)
		}
		if c, _, _ := w.store.Cycle(w.ctx, date); c.Files != 3 || c.Entries != 20 {
			t.Fatalf("cycle after the intake: %+v", c)
		}
		if c, err := w.pipeline().Run(w.ctx, date); err != nil || c.Stage != settlement.StageReported {
			t.Fatalf("cycle run: %+v %v", c, err)
		}
		if got, want := w.positions(date), expected(t, day); got != want {
			t.Fatalf("positions\n got %s\nwant %s", got, want)
		}
	}
	w, day := setup(t)
	probe := &crashStore{Store: w.store, k: -1}
	w.intake.Store, w.intake.Files = probe, probe
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 3 || c.Rejected != 1 {
		t.Fatalf("undisturbed intake: %+v %v", c, err)
	}
	calls := probe.n
	t.Logf("an undisturbed intake pass makes %d store calls (%s); each is a crash point, twice", calls, probe.methods())
	if calls < 12 { // per file at least a lookup, a record and a stamp
		t.Fatalf("probe counted %d store calls", calls)
	}
	check(t, w, day)
	atEveryCrashPoint(t, "intake-call", calls, func(t *testing.T, k int64, after bool) {
		w, day := setup(t)
		cs := &crashStore{Store: w.store, k: k, after: after}
		w.intake.Store, w.intake.Files = cs, cs
		if _, err := w.intake.Collect(w.ctx); !errors.Is(err, errCrash) {
			t.Fatalf("intake call %d (after=%v): want the crash, got %v", k, after, err)
		}
		w.intake.Store, w.intake.Files = w.store, w.store
		if _, err := w.intake.Collect(w.ctx); err != nil {
			t.Fatalf("resume after intake call %d (after=%v): %v", k, after, err)
		}
		check(t, w, day)
	})
}

// TestCrashHeldAtEveryPointResumes: a cycle over its caps is held. Crash
// at every store call of the run that holds it (the recording of the hold
// among them), before and after it takes effect, then run again as the
// operator would: the cycle stays frozen and held, each hold recorded is
// announced once and none is lost (the latest failure holds the cycle),
// nothing is on the ledger; once the caps are raised it ends REPORTED
// with the positions of an undisturbed run.
func TestCrashHeldAtEveryPointResumes(t *testing.T) {
	const date = settlement.Date("2026-11-24")
	setup := func(t *testing.T) (*world, [][]gen.Payment) {
		w := newWorld(t)
		day := w.day(date, 20)
		if _, err := w.intake.Collect(w.ctx); err != nil {
			t.Fatal(err)
		}
		w.setCaps(t, decimal.Zero, w.now.Add(-30*time.Minute)) // no bank may be a net debtor
		return w, day
	}
	check := func(t *testing.T, w *world, day [][]gen.Payment) {
		t.Helper()
		if _, err := w.pipeline().Run(w.ctx, date); !errors.Is(err, jobs.ErrCapBreach) && !errors.Is(err, jobs.ErrHeld) {
			t.Fatalf("the restarted run over the caps: %v", err)
		}
		if c, _, _ := w.store.Cycle(w.ctx, date); c.Stage != settlement.StageFrozen {
			t.Fatalf("held cycle at %s", c.Stage)
		}
		var holds int // recorded: the failed attempts over the caps
		for _, f := range w.stepErrors(date) {
			if strings.Contains(f.Err, "net debit cap exceeded") {
				holds++
			}
		}
		if held := w.published(jobs.TopicCycleHeld); holds == 0 || len(held) != holds || held[0].Stage != settlement.StageNetted {
			t.Fatalf("%d holds recorded, announced: %+v; want each announced once, for netting", holds, held)
		}
		if f, ok, _ := w.store.LastFailure(w.ctx, date); !ok || !f.HoldsAt(settlement.StageFrozen) {
			t.Fatalf("the latest failure %+v does not hold the cycle", f)
		}
		if writes, _ := w.ledger.Count(); writes != 0 {
			t.Fatalf("%d ledger writes for a held cycle", writes)
		}
		w.setCaps(t, decimal.New(1, 15), w.now.Add(-20*time.Minute))
		if c, err := w.pipeline().Run(w.ctx, date); err != nil || c.Stage != settlement.StageReported {
			t.Fatalf("after raising the caps: %+v %v", c, err)
		}
		if got, want := w.positions(date), expected(t, day); got != want {
			t.Fatalf("positions differ from an undisturbed run")
		}
	}
	w, day := setup(t)
	probe := &crashStore{Store: w.store, k: -1}
	p := w.pipeline()
	p.Store = probe
	if _, err := p.Run(w.ctx, date); !errors.Is(err, jobs.ErrCapBreach) {
		t.Fatalf("undisturbed run over the caps: %v", err)
	}
	calls := probe.n
	t.Logf("the run that holds the cycle makes %d store calls (%s); each is a crash point, twice", calls, probe.methods())
	check(t, w, day)
	atEveryCrashPoint(t, "store-call", calls, func(t *testing.T, k int64, after bool) {
		w, day := setup(t)
		p := w.pipeline()
		p.Store = &crashStore{Store: w.store, k: k, after: after}
		if _, err := p.Run(w.ctx, date); err == nil {
			t.Fatalf("store call %d (after=%v): a run over the caps went through", k, after)
		}
		check(t, w, day)
	})
}

// TestCrashDeferAtEveryPoint: an operator defers a file to the next day.
// Crash at every store call of the deferral, before and after it takes
// effect, then defer again as the operator would: crashed before, the
// deferral goes through and the bank is told; crashed after, it was
// recorded, and the second is refused (the file has left the cycle).
// Either way the file is in the next day's cycle once, and both cycles run
// to the positions of undisturbed runs.
func TestCrashDeferAtEveryPoint(t *testing.T) {
	const d1, d2 = settlement.Date("2026-11-24"), settlement.Date("2026-11-25")
	setup := func(t *testing.T) (*world, [][]gen.Payment) {
		w := newWorld(t)
		day := w.day(d1, 20)
		if _, err := w.intake.Collect(w.ctx); err != nil {
			t.Fatal(err)
		}
		return w, day
	}
	deferral := func(w *world) jobs.Deferral {
		return jobs.Deferral{Sender: w.banks[0].BIC, FileID: "F20261124-0", From: d1, To: d2, Reason: "cannot fund tonight", Actor: "ops"}
	}
	check := func(t *testing.T, w *world, day [][]gen.Payment) {
		t.Helper()
		for d, want := range map[settlement.Date]string{d1: expected(t, [][]gen.Payment{day[1], day[2]}), d2: expected(t, [][]gen.Payment{day[0]})} {
			if _, err := w.store.EnsureCycle(w.ctx, d); err != nil {
				t.Fatal(err)
			}
			if c, err := w.pipeline().Run(w.ctx, d); err != nil || c.Stage != settlement.StageReported {
				t.Fatalf("%s: %+v %v", d, c, err)
			}
			if got := w.positions(d); got != want {
				t.Fatalf("%s: positions\n got %s\nwant %s", d, got, want)
			}
		}
		if c, _, _ := w.store.Cycle(w.ctx, d2); c.Files != 1 || c.Entries != int64(len(day[0])) {
			t.Fatalf("the next day's cycle: %+v", c)
		}
	}
	w, day := setup(t)
	probe := &crashStore{Store: w.store, k: -1}
	p := w.pipeline()
	p.Store = probe
	if _, err := p.Defer(w.ctx, deferral(w)); err != nil {
		t.Fatal(err)
	}
	calls := probe.n
	t.Logf("a deferral makes %d store calls (%s); each is a crash point, twice", calls, probe.methods())
	check(t, w, day)
	atEveryCrashPoint(t, "store-call", calls, func(t *testing.T, k int64, after bool) {
		w, day := setup(t)
		p := w.pipeline()
		p.Store = &crashStore{Store: w.store, k: k, after: after}
		if _, err := p.Defer(w.ctx, deferral(w)); !errors.Is(err, errCrash) {
			t.Fatalf("store call %d (after=%v): want the crash, got %v", k, after, err)
		}
		_, err := w.pipeline().Defer(w.ctx, deferral(w))
		notice := filepath.Join(w.root, "sftp", "banks", string(w.banks[0].BIC), "outbox", jobs.DeferralNoticeName("F-2026-11-24-0.csv"))
		switch _, serr := os.Stat(notice); {
		case !after && (err != nil || serr != nil):
			t.Fatalf("the deferral again after a crash before it: %v (notice: %v)", err, serr)
		case after && !errors.Is(err, jobs.ErrDeferral):
			t.Fatalf("the deferral again after it was recorded: %v; want it refused", err)
		}
		check(t, w, day)
	})
}

// TestCrashResumeAtEveryPoint: a cycle stopped at NETTED with the ledger
// down; once it is back, a restarted process's resume pass carries it on.
// Crash at every store call of that pass (its check for a hold among
// them), before and after it takes effect, then pass again: the cycle ends
// REPORTED with the positions of an undisturbed run, each payment on the
// ledger once, and no breaks.
func TestCrashResumeAtEveryPoint(t *testing.T) {
	const date = settlement.Date("2026-11-24")
	setup := func(t *testing.T) (*world, [][]gen.Payment) {
		w := newWorld(t)
		day := w.day(date, 20)
		if _, err := w.intake.Collect(w.ctx); err != nil {
			t.Fatal(err)
		}
		w.ledger.FailAfter = 1 // the first chunk goes through, then the peers are down
		// One chunk at a time, so that what the failed run recorded (and
		// so how many store calls the resume pass makes) is the same
		// every time: with workers in parallel, a chunk the ledger took
		// may or may not be recorded before the failure stops the step.
		p := w.pipeline()
		p.Workers = 1
		if _, err := p.Run(w.ctx, date); !errors.Is(err, jobs.ErrLedgerUnavailable) {
			t.Fatalf("the run with the ledger down: %v", err)
		}
		w.ledger.FailAfter = 0
		return w, day
	}
	pass := func(w *world, s jobs.PipelineStore) ([]string, error) {
		p := w.pipeline()
		p.Store = s
		r := &jobs.Resumer{P: p, Log: w.quiet, Cycles: func(ctx context.Context) ([]settlement.Cycle, error) {
			c, _, err := s.Cycle(ctx, date)
			return []settlement.Cycle{c}, err
		}}
		return r.Pass(w.ctx)
	}
	check := func(t *testing.T, w *world, day [][]gen.Payment) {
		t.Helper()
		// It finishes the cycle, unless the crashed one had (a crash at
		// its last look at the finished cycle).
		if done, err := pass(w, w.store); err != nil || len(done) > 1 || len(done) == 1 && done[0] != "C2026-11-24" {
			t.Fatalf("the pass after: %v %v", done, err)
		}
		if c, _, _ := w.store.Cycle(w.ctx, date); c.Stage != settlement.StageReported {
			t.Fatalf("stage %s", c.Stage)
		}
		if got, want := w.positions(date), expected(t, day); got != want {
			t.Fatalf("positions differ from an undisturbed run")
		}
		if _, payments := w.ledger.Count(); payments != 20 {
			t.Fatalf("%d payments on the ledger", payments)
		}
		if active, _ := w.store.ActiveBreaks(w.ctx, date); len(active) != 0 {
			t.Fatalf("breaks after resume: %v", active)
		}
	}
	w, day := setup(t)
	probe := &crashStore{Store: w.store, k: -1}
	if done, err := pass(w, probe); err != nil || fmt.Sprint(done) != "[C2026-11-24]" {
		t.Fatalf("undisturbed pass: %v %v", done, err)
	}
	calls := probe.n
	t.Logf("the resume pass makes %d store calls (%s); each is a crash point, twice", calls, probe.methods())
	check(t, w, day)
	atEveryCrashPoint(t, "store-call", calls, func(t *testing.T, k int64, after bool) {
		w, day := setup(t)
		cs := &crashStore{Store: w.store, k: k, after: after}
		// The pass logs a failure and moves on: it did not finish
		// the cycle.
		if done, _ := pass(w, cs); cs.n < k || len(done) != 0 {
			t.Fatalf("store call %d (after=%v): the pass made %d calls and finished %v", k, after, cs.n, done)
		}
		check(t, w, day)
	})
}

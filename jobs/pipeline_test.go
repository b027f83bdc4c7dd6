package jobs_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/adapters/archive"
	"settle/adapters/journal"
	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/adapters/reports"
	"settle/adapters/sftp"
	"settle/formats/gen"
	"settle/jobs"
	"settle/jobs/memstore"
	"settle/reconciliation"
	"settle/settlement"
)

// world is a store (in memory under -short, on a real Postgres
// otherwise), the built-in SFTP server's storage tree, an archive, and
// three member banks with keys and caps.
type world struct {
	t      *testing.T
	ctx    context.Context
	store  worldStore
	inbox  *sftp.Storage
	root   string
	banks  []gen.Bank
	ledger *memLedger
	cal    *jobs.Calendar
	now    time.Time
	intake *jobs.Intake
	quiet  *slog.Logger
	arc    *archive.Archive

	// The store behind w.store: mem on memory, pg (bank administration)
	// and pgJobs (what only Postgres has: SQL, its break register, the
	// agent's record) on Postgres; the others are nil.
	mem    *memstore.Store
	pg     *postgres.Store
	pgJobs *postgres.JobStore
	locks  *memLocks // the named locks on memory

	mu     sync.Mutex
	events []jobs.Event // what the Postgres store wrote to the outbox, in order
}

// worldStore is the store as the pipeline's tests use it: every port of
// the operational record and the intake's lookup of earlier takes, which
// memstore and Postgres's JobStore both serve.
type worldStore interface {
	jobs.Store
	jobs.FileLookup
}

// published are the events of topic the store wrote to the outbox.
func (w *world) published(topic string) []jobs.Event {
	var all []jobs.Event
	if w.mem != nil {
		all = w.mem.Events()
	} else {
		w.mu.Lock()
		all = append(all, w.events...)
		w.mu.Unlock()
	}
	var out []jobs.Event
	for _, e := range all {
		if e.Topic == topic {
			out = append(out, e)
		}
	}
	return out
}

// newWorld is the world on memory under -short (jobs/memstore, which
// passes the store's contract suites as Postgres does), and on a real
// Postgres otherwise: the full suite keeps its real-component tier.
func newWorld(t *testing.T) *world {
	return newWorldOn(t, !testing.Short())
}

// newPostgresWorld is the world on Postgres, for a test that reads or
// writes the database behind the ports (SQL, triggers) or uses what only
// the Postgres store has; it skips under -short.
func newPostgresWorld(t *testing.T) *world {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	return newWorldOn(t, true)
}

// needPostgres skips a test of a world on memory at the point where it
// needs Postgres, for the reason why: what ran before it ran on memory.
func (w *world) needPostgres(t *testing.T, why string) {
	t.Helper()
	if w.pgJobs == nil {
		t.Skip("needs Postgres from here: " + why)
	}
}

// newWorldOn builds the world on Postgres or on memory: the same banks,
// keys (valid from an hour before now), caps, calendar, inbox and archive.
func newWorldOn(t *testing.T, onPostgres bool) *world {
	w := &world{t: t, ctx: context.Background(), root: t.TempDir(), ledger: newMemLedger(),
		quiet: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	loc, _ := time.LoadLocation(jobs.DefaultZone)
	w.cal = jobs.NewCalendar(loc, nil)
	w.now = time.Date(2026, 11, 24, 10, 0, 0, 0, loc) // Tuesday morning in Seoul
	if onPostgres {
		w.openPostgres(t)
	} else {
		w.mem = memstore.New(func() time.Time { return w.now })
		w.mem.Actor = "test"
		w.store, w.locks = w.mem, &memLocks{held: map[string]bool{}}
	}
	var err error
	if w.inbox, err = sftp.NewStorage(filepath.Join(w.root, "sftp"), w.quiet); err != nil {
		t.Fatal(err)
	}
	if w.arc, err = archive.Open(filepath.Join(w.root, "archive"), 0); err != nil {
		t.Fatal(err)
	}
	bics, _ := gen.Banks(3)
	if w.banks, err = gen.Keys(bics); err != nil {
		t.Fatal(err)
	}
	for _, b := range w.banks {
		pem, _ := gen.PublicPEM(b.Private)
		w.addBank(t, b.BIC, string(pem), w.now.Add(-time.Hour))
	}
	w.setCaps(t, decimal.New(1, 15), w.now.Add(-time.Hour))
	w.intake = &jobs.Intake{Inbox: w.inbox, Archive: w.arc, Store: w.store, Files: w.store, Taking: journal.Takes{Dir: filepath.Join(w.root, "taking")}, Calendar: w.cal,
		CutOff: 18 * time.Hour, Now: func() time.Time { return w.now }, Log: w.quiet}
	// Every status report any test of the world wrote is valid against the
	// official schema (xmllint is the oracle).
	t.Cleanup(func() {
		reports, _ := filepath.Glob(filepath.Join(w.root, "sftp", "banks", "*", "outbox", "*.ack.xml"))
		schemaValid(t, reports...)
	})
	return w
}

// openPostgres makes the world's store a fresh Postgres database whose
// outbox is the world's list of events.
func (w *world) openPostgres(t *testing.T) {
	s, _ := pgtest.NewStore(t)
	w.pg = s
	w.pgJobs = s.Jobs(func(_ context.Context, _ *sql.Tx, e jobs.Event) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.events = append(w.events, e)
		return nil
	}, "test")
	w.store = w.pgJobs
}

// addBank registers a member bank with its key labelled k1, through the
// store's own administration (`settle bank add`, `settle key add`).
func (w *world) addBank(t *testing.T, bic settlement.BIC, pem string, validFrom time.Time) {
	t.Helper()
	if w.mem != nil {
		if err := w.mem.AddBank(bic); err != nil {
			t.Fatal(err)
		}
		if err := w.mem.AddKey(memstore.Key{Bank: bic, Label: "k1", PEM: pem, ValidFrom: validFrom}); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := w.pg.AddBank(w.ctx, postgres.Bank{BIC: bic, Name: string(bic)}); err != nil {
		t.Fatal(err)
	}
	if err := w.pg.AddKey(w.ctx, postgres.BankKey{Bank: bic, Label: "k1", PEM: pem, ValidFrom: validFrom}); err != nil {
		t.Fatal(err)
	}
}

// setCap sets one net debit cap in force from from (`settle cap set`).
func (w *world) setCap(t *testing.T, c settlement.Cap, from time.Time) {
	t.Helper()
	var err error
	if w.mem != nil {
		err = w.mem.SetCap(c, from)
	} else {
		err = w.pg.SetCap(w.ctx, c, from)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// setCaps gives every bank the same cap in every currency of the day, in
// force from from.
func (w *world) setCaps(t *testing.T, amount decimal.Decimal, from time.Time) {
	t.Helper()
	for _, b := range w.banks {
		for _, c := range []string{"KRW", "USD", "JPY", "KWD"} {
			cur, _ := settlement.ParseCurrency(c)
			w.setCap(t, settlement.Cap{Bank: b.BIC, Currency: cur, Amount: amount}, from)
		}
	}
}

// stepErrors are a cycle's failed attempts, oldest first, as the store
// recorded them (at most the latest 10 on Postgres).
func (w *world) stepErrors(date settlement.Date) []jobs.Failure {
	w.t.Helper()
	if w.mem != nil {
		return w.mem.Failures(date)
	}
	errs, err := w.pgJobs.StepErrors(w.ctx, date, 10)
	if err != nil {
		w.t.Fatal(err)
	}
	out := make([]jobs.Failure, len(errs))
	for i, e := range errs {
		out[i] = jobs.Failure{To: e.Stage, Err: e.Error, Actor: e.Actor, At: e.At}
	}
	return out
}

// tryLock is the store's named lock (jobs.Pipeline.Lock): Postgres's
// advisory lock, or its stand-in on memory.
func (w *world) tryLock(ctx context.Context, name string) (func(), bool, error) {
	if w.locks != nil {
		return w.locks.tryLock(name)
	}
	return w.pgJobs.TryLock(ctx, name)
}

// memLocks stands for Postgres's session advisory locks on memory: a name
// is held by one holder at a time, not even twice by the same.
type memLocks struct {
	mu   sync.Mutex
	held map[string]bool
}

func (l *memLocks) tryLock(name string) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[name] {
		return nil, false, nil
	}
	l.held[name] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			delete(l.held, name)
		})
	}, true, nil
}

func (w *world) pipeline() *jobs.Pipeline {
	return &jobs.Pipeline{Store: w.store, Ledger: w.ledger, Outbox: w.inbox, Reports: reports.Dir{Root: filepath.Join(w.root, "reports")}, ChunkSize: 7, Workers: 3,
		Now: func() time.Time { return w.now }, Log: w.quiet}
}

// upload drops a signed file into a bank's inbox as the SFTP server would
// (its own tests drive the real OpenSSH client).
func (w *world) upload(bank int, name string, body []byte) {
	w.t.Helper()
	b := w.banks[bank]
	sig, err := gen.Sign(b.Private, body)
	if err != nil {
		w.t.Fatal(err)
	}
	dir := filepath.Join(w.root, "sftp", "banks", string(b.BIC), "inbox")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		w.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, name), body, 0o640)
	os.WriteFile(filepath.Join(dir, name+".sig"), sig, 0o640)
}

func (w *world) csv(bank int, date settlement.Date, fileID string, ps []gen.Payment) []byte {
	var buf bytes.Buffer
	created, _ := time.Parse(time.RFC3339, string(date)+"T09:00:00+09:00")
	if err := gen.WriteCSV(&buf, fileID, w.banks[bank].BIC, date, created, ps); err != nil {
		w.t.Fatal(err)
	}
	return buf.Bytes()
}

// reversalFile is bank's file F-REV of 2026-11-25 reversing orig (a
// payment bank sent) for reason.
func (w *world) reversalFile(bank int, orig gen.Payment, reason string) []byte {
	return []byte(fmt.Sprintf("H,F-REV,%s,2026-11-25,2026-11-25T10:00:00+09:00\nR,REV-1,%s,%s,%s,%s,%s,%s\nT,1,%s\n",
		w.banks[bank].BIC, orig.ID, orig.Debtor, orig.Creditor, orig.Amount, orig.Currency, reason, orig.Amount))
}

func (w *world) day(date settlement.Date, payments int) [][]gen.Payment {
	bics := make([]settlement.BIC, len(w.banks))
	for i, b := range w.banks {
		bics[i] = b.BIC
	}
	out := make([][]gen.Payment, len(w.banks))
	for i := range w.banks {
		out[i] = gen.DayPayments(gen.Config{Banks: len(bics), Payments: payments, Date: date, Seed: 5}, bics, i)
		w.upload(i, fmt.Sprintf("F-%s-%d.csv", date, i), w.csv(i, date, fmt.Sprintf("F%s-%d", strings.ReplaceAll(string(date), "-", ""), i), out[i]))
	}
	return out
}

func (w *world) ack(bank int, name string) jobs.AckBody {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.root, "sftp", "banks", string(w.banks[bank].BIC), "outbox", name+".ack.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	var a jobs.AckBody
	if err := json.Unmarshal(b, &a); err != nil {
		w.t.Fatal(err)
	}
	return a
}

// expected nets the payments directly: what the cycle must end with.
func expected(t *testing.T, days ...[][]gen.Payment) string {
	var n settlement.Netting
	for _, d := range days {
		for _, ps := range d {
			for _, p := range ps {
				c, _ := settlement.ParseCurrency(p.Currency)
				e := settlement.Entry{Kind: settlement.KindPayment, ID: p.ID, Debtor: p.Debtor, Creditor: p.Creditor, Amount: decimal.RequireFromString(p.Amount), Currency: c}
				if err := n.Add(&e); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	res, err := n.Result()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res.Positions)
	return string(b)
}

func (w *world) positions(date settlement.Date) string {
	ps, err := w.store.Positions(w.ctx, date)
	if err != nil {
		w.t.Fatal(err)
	}
	b, _ := json.Marshal(ps)
	return string(b)
}

func TestCycleEndToEndOnPostgres(t *testing.T) {
	w := newPostgresWorld(t)
	const date = settlement.Date("2026-11-24")
	day := w.day(date, 90)
	counts, err := w.intake.Collect(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Accepted != 3 || counts.Rejected != 0 {
		t.Fatalf("intake: %+v", counts)
	}
	if a := w.ack(0, "F-2026-11-24-0.csv"); a.Status != "ACCEPTED" || a.Cycle != "C2026-11-24" || a.Entries != 30 || len(a.Errors) != 0 {
		t.Fatalf("ack: %+v", a)
	}
	// Taken files leave the inbox: a second pass takes nothing.
	if c, _ := w.intake.Collect(w.ctx); c.Taken != 0 {
		t.Fatalf("second collect took %d", c.Taken)
	}

	c, err := w.pipeline().Run(w.ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stage != settlement.StageReported || c.Files != 3 || c.Entries != 90 {
		t.Fatalf("cycle %+v", c)
	}
	if got, want := w.positions(date), expected(t, day); got != want {
		t.Fatalf("positions\n got %s\nwant %s", got, want)
	}
	writes, payments := w.ledger.Count()
	if payments != 90 || writes != 90/7+1+1 {
		t.Fatalf("ledger: %d writes, %d payments", writes, payments)
	}
	// Running a finished cycle again changes nothing anywhere.
	if _, err := w.pipeline().Run(w.ctx, date); err != nil {
		t.Fatal(err)
	}
	if w2, _ := w.ledger.Count(); w2 != writes {
		t.Fatalf("re-run wrote %d more ledger transactions", w2-writes)
	}
	if active, _ := w.store.ActiveBreaks(w.ctx, date); len(active) != 0 {
		t.Fatalf("clean cycle has breaks: %v", active)
	}
	rep, err := os.ReadFile(filepath.Join(w.root, "sftp", "banks", string(w.banks[1].BIC), "outbox", jobs.ReportName(date)))
	if err != nil || !bytes.Contains(rep, []byte(`"settled_tx"`)) || !bytes.Contains(rep, []byte(string(w.banks[1].BIC))) {
		t.Fatalf("report: %s %v", rep, err)
	}
	// The operators' summary, positions and (empty) break list.
	sum, err := os.ReadFile(filepath.Join(w.root, "reports", "C2026-11-24", "summary.json"))
	if err != nil || !bytes.Contains(sum, []byte(`"entries": 90`)) || !bytes.Contains(sum, []byte(`"open_breaks": 0`)) {
		t.Fatalf("summary: %s %v", sum, err)
	}
	pcsv, _ := os.ReadFile(filepath.Join(w.root, "reports", "C2026-11-24", "positions.csv"))
	if lines := bytes.Count(pcsv, []byte("\n")); lines < 4 {
		t.Fatalf("positions.csv: %s", pcsv)
	}
}

// TestCapBreachStopsBeforeTheLedger: a bank over its net debit cap stops
// the cycle at netting (it stays frozen) and nothing goes to the ledger; once the
// cap is raised (the bank funded), the same run finishes, every payment
// recorded once.
func TestCapBreachStopsBeforeTheLedger(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	day := w.day(date, 60)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.setCaps(t, decimal.Zero, w.now.Add(-30*time.Minute)) // no bank may be a net debtor
	_, err := w.pipeline().Run(w.ctx, date)
	if !errors.Is(err, jobs.ErrCapBreach) || !strings.Contains(err.Error(), "raise the cap") {
		t.Fatalf("want a cap breach, got %v", err)
	}
	c, _, _ := w.store.Cycle(w.ctx, date)
	if c.Stage != settlement.StageFrozen {
		t.Fatalf("cycle at %s, want %s", c.Stage, settlement.StageFrozen)
	}
	if writes, payments := w.ledger.Count(); writes != 0 || payments != 0 {
		t.Fatalf("a cycle over its caps wrote %d ledger transactions (%d payments)", writes, payments)
	}
	// A re-run while the caps still stand stops at the same place.
	if _, err := w.pipeline().Run(w.ctx, date); !errors.Is(err, jobs.ErrCapBreach) {
		t.Fatalf("re-run over the caps: %v", err)
	}
	w.setCaps(t, decimal.New(1, 15), w.now.Add(-20*time.Minute))
	c, err = w.pipeline().Run(w.ctx, date)
	if err != nil || c.Stage != settlement.StageReported {
		t.Fatalf("after the caps were raised: %+v %v", c, err)
	}
	if writes, payments := w.ledger.Count(); payments != 60 || writes != 60/7+1+1 {
		t.Fatalf("ledger: %d writes, %d payments", writes, payments)
	}
	if got, want := w.positions(date), expected(t, day); got != want {
		t.Fatalf("positions\n got %s\nwant %s", got, want)
	}
	if active, _ := w.store.ActiveBreaks(w.ctx, date); len(active) != 0 {
		t.Fatalf("breaks after the raised caps: %v", active)
	}
}

// TestHeldStepIsNotRetried: under the event handlers (settle serve), a
// cycle over its caps is held for the operator: the event is acknowledged,
// not retried into the poison queue, the cycle stays frozen, and the hold
// is reported. A ledger that is down is not a hold: the broker retries.
func TestHeldStepIsNotRetried(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	w.day(date, 30)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.setCaps(t, decimal.Zero, w.now.Add(-30*time.Minute))
	p := w.pipeline()
	if err := p.Step(w.ctx, date, settlement.StageFrozen); err != nil {
		t.Fatal(err)
	}
	var held []error
	h := jobs.HoldForOperator(p.Handle, func(e jobs.Event, err error) {
		if e.Date != date {
			t.Errorf("held event for %s", e.Date)
		}
		held = append(held, err)
	})
	frozen := jobs.NewEvent(jobs.TopicCycleFrozen, date, w.now)
	if err := h(w.ctx, frozen); err != nil {
		t.Fatalf("an over-cap cycle went back to the broker: %v", err)
	}
	if len(held) != 1 || !errors.Is(held[0], jobs.ErrCapBreach) || !jobs.NeedsOperator(held[0]) {
		t.Fatalf("held %v; want one cap breach", held)
	}
	if c, _, _ := w.store.Cycle(w.ctx, date); c.Stage != settlement.StageFrozen {
		t.Fatalf("cycle at %s, want %s", c.Stage, settlement.StageFrozen)
	}
	if writes, _ := w.ledger.Count(); writes != 0 {
		t.Fatalf("%d ledger writes for a held cycle", writes)
	}
	if held := w.published(jobs.TopicCycleHeld); len(held) != 1 || held[0].Stage != settlement.StageNetted || !strings.Contains(held[0].Note, "net debit cap exceeded") {
		t.Fatalf("held events %+v; want one, for netting, naming the cap", held)
	}
	// A redelivery of the event is left to the operator too: nothing is
	// attempted again, and nothing more is announced.
	if err := h(w.ctx, frozen); err != nil || len(held) != 2 || !errors.Is(held[1], jobs.ErrHeld) {
		t.Fatalf("redelivered: %v, left %v", err, held)
	}
	if errs := w.stepErrors(date); len(errs) != 1 || len(w.published(jobs.TopicCycleHeld)) != 1 {
		t.Fatalf("%d attempts recorded, %d holds announced; want the one", len(errs), len(w.published(jobs.TopicCycleHeld)))
	}
	// The operator raises the caps and runs the cycle; the ledger is down
	// after the first chunk: that failure is the broker's to retry.
	w.setCaps(t, decimal.New(1, 15), w.now.Add(-20*time.Minute))
	w.ledger.FailAfter = 1 // the first chunk goes through, then the peers are down
	if _, err := p.Run(w.ctx, date); !errors.Is(err, jobs.ErrLedgerUnavailable) {
		t.Fatalf("the operator's run with the ledger down: %v", err)
	}
	err := h(w.ctx, jobs.NewEvent(jobs.TopicCycleNetted, date, w.now))
	if !errors.Is(err, jobs.ErrLedgerUnavailable) || jobs.NeedsOperator(err) || len(held) != 2 {
		t.Fatalf("ledger down: got %v, held %d; want it back to the broker, not held", err, len(held))
	}
	if n := len(w.published(jobs.TopicCycleHeld)); n != 1 {
		t.Fatalf("%d holds announced; the ledger down is not one", n)
	}
}

// TestHoldByTheOperatorsRunIsKept is the regression test of a hold lost
// when an operator ran `cycle run` while the service was up: the service's
// handler of the frozen event found the cycle busy (the operator's run was
// netting it), left the event to it, and the run then failed on the caps,
// so nobody reported the hold. The hold is now recorded and announced with
// the failed attempt, whoever makes it, and the service leaves a held cycle
// to the operator whenever its event arrives. Three interleavings of the
// operator's run (cli) and the service (svc), one hold each time.
func TestHoldByTheOperatorsRunIsKept(t *testing.T) {
	for _, order := range []string{"svc busy, then cli fails", "cli fails, then svc", "svc fails while cli waits"} {
		t.Run(order, func(t *testing.T) {
			w := newWorld(t)
			const date = settlement.Date("2026-11-24")
			w.day(date, 30)
			if _, err := w.intake.Collect(w.ctx); err != nil {
				t.Fatal(err)
			}
			w.setCaps(t, decimal.Zero, w.now.Add(-30*time.Minute))
			cli, svc := w.pipeline(), w.pipeline()
			svc.Lock = w.tryLock
			cli.Lock = w.tryLock
			serve := jobs.HoldForOperator(svc.Handle, nil)
			frozen := jobs.NewEvent(jobs.TopicCycleFrozen, date, w.now)
			var cliErr error
			switch order {
			case "svc busy, then cli fails":
				if err := cli.Step(w.ctx, date, settlement.StageFrozen); err != nil {
					t.Fatal(err)
				}
				unlock, ok, err := w.tryLock(w.ctx, "cycle:"+string(date)) // the cli's net step holds it
				if err != nil || !ok {
					t.Fatalf("lock: %v %v", ok, err)
				}
				if err := serve(w.ctx, frozen); !errors.Is(err, jobs.ErrBusy) {
					t.Fatalf("svc while cli nets: %v, want busy", err)
				}
				unlock()
				_, cliErr = cli.Run(w.ctx, date)
			case "cli fails, then svc":
				_, cliErr = cli.Run(w.ctx, date)
				if err := serve(w.ctx, frozen); err != nil {
					t.Fatalf("svc after the cli: %v", err)
				}
			case "svc fails while cli waits":
				if err := cli.Step(w.ctx, date, settlement.StageFrozen); err != nil {
					t.Fatal(err)
				}
				// The cli's first try finds the cycle busy; while it waits,
				// svc attempts the step and fails on the caps.
				waiting, open := make(chan struct{}), make(chan struct{})
				var once sync.Once
				cli.Lock = func(ctx context.Context, name string) (func(), bool, error) {
					select {
					case <-open:
						return w.tryLock(ctx, name)
					default:
						once.Do(func() { close(waiting) })
						return nil, false, nil
					}
				}
				done := make(chan error, 1)
				go func() { _, err := cli.Run(w.ctx, date); done <- err }()
				<-waiting
				if err := serve(w.ctx, frozen); err != nil {
					t.Fatalf("svc: %v", err)
				}
				close(open)
				cliErr = <-done
				if !errors.Is(cliErr, jobs.ErrHeld) {
					t.Fatalf("cli after waiting: %v; want the hold svc recorded, not another attempt", cliErr)
				}
			}
			if !errors.Is(cliErr, jobs.ErrCapBreach) && !errors.Is(cliErr, jobs.ErrHeld) || !strings.Contains(cliErr.Error(), "net debit cap exceeded") {
				t.Fatalf("the operator's run: %v", cliErr)
			}
			held := w.published(jobs.TopicCycleHeld)
			errs := w.stepErrors(date)
			if len(held) != 1 || len(errs) != 1 {
				t.Fatalf("%d holds announced, %d attempts recorded; want one of each", len(held), len(errs))
			}
			if c, _, _ := w.store.Cycle(w.ctx, date); c.Stage != settlement.StageFrozen {
				t.Fatalf("held cycle at %s", c.Stage)
			}
			// The resume pass, in any instance, leaves it to the operator.
			r := &jobs.Resumer{P: w.pipeline(), Log: w.quiet, Cycles: func(ctx context.Context) ([]settlement.Cycle, error) {
				c, _, err := w.store.Cycle(ctx, date)
				return []settlement.Cycle{c}, err
			}}
			if done, err := r.Pass(w.ctx); err != nil || len(done) != 0 {
				t.Fatalf("resume pass on a held cycle: %v %v", done, err)
			}
			if errs := w.stepErrors(date); len(errs) != 1 {
				t.Fatalf("the resume pass attempted a held cycle: %d attempts", len(errs))
			}
			// The banks fund; the operator raises the caps and runs it.
			w.setCaps(t, decimal.New(1, 15), w.now.Add(-20*time.Minute))
			if c, err := cli.Run(w.ctx, date); err != nil || c.Stage != settlement.StageReported {
				t.Fatalf("after raising the caps: %s %v", c.Stage, err)
			}
			if err := serve(w.ctx, frozen); err != nil {
				t.Fatalf("a late event of the finished cycle: %v", err)
			}
		})
	}
}

// TestUnregisteredBankStopsBeforeTheLedger: a bank of the cycle that the
// ledger's registry does not hold (added in Postgres, never registered on
// the ledger) stops the cycle before its first chunk, naming the bank and
// the command that fixes it; once registered, the same run finishes.
func TestUnregisteredBankStopsBeforeTheLedger(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	w.day(date, 30)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.ledger.Unregistered = map[settlement.BIC]bool{w.banks[2].BIC: true}
	_, err := w.pipeline().Run(w.ctx, date)
	if !errors.Is(err, jobs.ErrNotOnLedger) || !jobs.NeedsOperator(err) || !strings.Contains(err.Error(), string(w.banks[2].BIC)) ||
		!strings.Contains(err.Error(), "register-banks") {
		t.Fatalf("want the unregistered bank named, got %v", err)
	}
	if c, _, _ := w.store.Cycle(w.ctx, date); c.Stage != settlement.StageNetted {
		t.Fatalf("cycle at %s, want %s", c.Stage, settlement.StageNetted)
	}
	if writes, _ := w.ledger.Count(); writes != 0 {
		t.Fatalf("%d ledger writes before the bank was registered", writes)
	}
	w.ledger.Unregistered = nil
	if c, err := w.pipeline().Run(w.ctx, date); err != nil || c.Stage != settlement.StageReported {
		t.Fatalf("after registering: %+v %v", c, err)
	}
}

// TestReconcileReadsAfterTheRecordedBlocks: a reconciliation run by
// another process than the one that wrote the cycle tells the ledger
// client the highest block Postgres recorded for it, so a peer a block
// behind is waited for instead of read as missing payments.
func TestReconcileReadsAfterTheRecordedBlocks(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	w.day(date, 30)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := w.pipeline().Run(w.ctx, date); err != nil || c.Stage != settlement.StageReported {
		t.Fatalf("%+v %v", c, err)
	}
	last := uint64(w.ledger.Writes) // the settling transaction's block
	w.ledger.ReadFloor = 0
	found, _, _, err := w.pipeline().Reconcile(w.ctx, date)
	if err != nil || len(found) != 0 {
		t.Fatalf("breaks %v, %v", found, err)
	}
	if w.ledger.ReadFloor != last {
		t.Fatalf("told to read after block %d; the cycle's last transaction is in block %d", w.ledger.ReadFloor, last)
	}
}

// TestCrashDuringLedgerWriteResumes: the ledger fails part-way (peers
// down), and once the answer to a committed chunk is lost; a new pipeline
// (a restarted process) finishes the cycle with every payment recorded
// exactly once and the same positions as an undisturbed run.
func TestCrashDuringLedgerWriteResumes(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	day := w.day(date, 100)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.ledger.FailAfter = 5
	_, err := w.pipeline().Run(w.ctx, date)
	if !errors.Is(err, jobs.ErrLedgerUnavailable) {
		t.Fatalf("want the ledger failure, got %v", err)
	}
	c, _, _ := w.store.Cycle(w.ctx, date)
	if c.Stage != settlement.StageNetted {
		t.Fatalf("after the failure the cycle is %s, want NETTED", c.Stage)
	}
	w.ledger.FailAfter = 0
	w.ledger.LostAck = true // the next chunk commits but its answer is lost
	if _, err := w.pipeline().Run(w.ctx, date); !errors.Is(err, jobs.ErrLedgerUnavailable) {
		t.Fatalf("want the lost answer, got %v", err)
	}
	c, err = w.pipeline().Run(w.ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	if c.Stage != settlement.StageReported {
		t.Fatalf("stage %s", c.Stage)
	}
	_, payments := w.ledger.Count()
	if payments != 100 {
		t.Fatalf("%d payments on the ledger, want 100", payments)
	}
	if got, want := w.positions(date), expected(t, day); got != want {
		t.Fatalf("positions differ from an undisturbed run")
	}
	txs, _ := w.store.LedgerTxs(w.ctx, date)
	if len(txs) != 100/7+1+1 {
		t.Fatalf("%d ledger transactions recorded in Postgres", len(txs))
	}
	// The operator sees why the cycle stopped, twice, with the cause.
	errs := w.stepErrors(date)
	if len(errs) != 2 || errs[0].To != settlement.StageRecorded || !strings.Contains(errs[0].Err, "ledger unavailable") {
		t.Fatalf("step errors: %+v", errs)
	}
}

func TestLateFileGoesToNextBusinessDay(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-27") // a Friday
	w.now = time.Date(2026, 11, 27, 10, 0, 0, 0, w.cal.Location())
	w.day(date, 9)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.pipeline().Step(w.ctx, date, settlement.StageFrozen); err != nil {
		t.Fatal(err)
	}
	// After the freeze, another file dated Friday: it settles on Monday.
	ps := []gen.Payment{{ID: "LATE-1", Debtor: w.banks[0].BIC, Creditor: w.banks[1].BIC, Amount: "1000", Currency: "KRW"}}
	w.upload(0, "late.csv", w.csv(0, date, "F-LATE", ps))
	c, err := w.intake.Collect(w.ctx)
	if err != nil || c.Late != 1 || c.Accepted != 1 {
		t.Fatalf("late intake: %+v %v", c, err)
	}
	a := w.ack(0, "late.csv")
	if a.Status != "ACCEPTED" || a.Cycle != "C2026-11-30" || a.Note == "" {
		t.Fatalf("late ack: %+v", a)
	}
	// After 18:00 Seoul time, a file dated today also goes to the next day.
	w.now = time.Date(2026, 11, 30, 18, 30, 0, 0, w.cal.Location())
	ps[0].ID = "LATE-2"
	w.upload(0, "evening.csv", w.csv(0, "2026-11-30", "F-EVENING", ps))
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	if a := w.ack(0, "evening.csv"); a.Cycle != "C2026-12-01" {
		t.Fatalf("after cut-off: %+v", a)
	}
}

func TestDuplicateUploadIsRejectedAndChangesNothing(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	day := w.day(date, 30)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	body := w.csv(0, date, "F20261124-0", day[0])
	w.upload(0, "again-under-another-name.csv", body)
	c, err := w.intake.Collect(w.ctx)
	if err != nil || c.Duplicates != 1 {
		t.Fatalf("%+v %v", c, err)
	}
	a := w.ack(0, "again-under-another-name.csv")
	if a.Status != "REJECTED" || len(a.Errors) != 1 || a.Errors[0].Code != settlement.CodeDuplicateFile {
		t.Fatalf("duplicate ack: %+v", a)
	}
	cy, _, _ := w.store.Cycle(w.ctx, date)
	if cy.Files != 3 || cy.Entries != 30 {
		t.Fatalf("a duplicate changed the cycle: %+v", cy)
	}
	// A bad file is rejected whole, with every bad line, and changes nothing.
	bad := []byte("H,F-BAD,SHBKKRSE,2026-11-24,2026-11-24T10:00:00+09:00\nP,B1,SHBKKRSE,CZNBKRSE,1.5,KRW\nP,B2,SHBKKRSE,SHBKKRSE,1,KRW\nT,2,2.5\n")
	w.upload(0, "bad.csv", bad)
	w.intake.Collect(w.ctx)
	a = w.ack(0, "bad.csv")
	if a.Status != "REJECTED" || len(a.Errors) != 2 || a.Errors[0].Line != 2 || a.Errors[1].Line != 3 {
		t.Fatalf("bad ack: %+v", a)
	}
	if cy2, _, _ := w.store.Cycle(w.ctx, date); cy2.Entries != 30 {
		t.Fatalf("a rejected file changed the cycle: %+v", cy2)
	}
}

func TestReversalInTheNextCycle(t *testing.T) {
	w := newWorld(t)
	day1 := w.day("2026-11-24", 30)
	w.intake.Collect(w.ctx)
	if _, err := w.pipeline().Run(w.ctx, "2026-11-24"); err != nil {
		t.Fatal(err)
	}
	w.now = w.now.AddDate(0, 0, 1)
	orig := day1[0][0]
	body := w.reversalFile(0, orig, "AM05")
	w.upload(0, "rev.csv", body)
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("reversal intake: %+v %v (ack %+v)", c, err, w.ack(0, "rev.csv"))
	}
	if _, err := w.pipeline().Run(w.ctx, "2026-11-25"); err != nil {
		t.Fatal(err)
	}
	ps, _ := w.store.Positions(w.ctx, "2026-11-25")
	for _, p := range ps {
		amt := decimal.RequireFromString(orig.Amount)
		switch p.Bank {
		case orig.Debtor: // receives its money back
			if !p.Net.Equal(amt) {
				t.Errorf("original debtor net %s, want %s", p.Net, amt)
			}
		case orig.Creditor:
			if !p.Net.Equal(amt.Neg()) {
				t.Errorf("original creditor net %s, want -%s", p.Net, amt)
			}
		}
	}
	// Reversing it again is refused by the store, with the bank told why.
	w.upload(0, "rev2.csv", bytes.Replace(bytes.Replace(body, []byte("REV-1"), []byte("REV-2"), 1), []byte("F-REV"), []byte("F-REV2"), 1))
	w.now = w.now.AddDate(0, 0, 1)
	w.intake.Collect(w.ctx)
	if a := w.ack(0, "rev2.csv"); a.Status != "REJECTED" || a.Errors[0].Code != settlement.CodeAlreadyReversed {
		t.Fatalf("second reversal: %+v", a)
	}
}

// TestReversalWaitsForItsOriginalsCycle: day 1 is held over its caps;
// day 2 holds a reversal of a day-1 payment. Day 2 stays frozen, naming
// the reversal and the cycle it waits for, with nothing on the ledger:
// the ledger would refuse a reversal of a payment not settled. Once day 1
// settles, day 2 does.
func TestReversalWaitsForItsOriginalsCycle(t *testing.T) {
	w := newWorld(t)
	const d1, d2 = settlement.Date("2026-11-24"), settlement.Date("2026-11-25")
	day1 := w.day(d1, 30)
	w.intake.Collect(w.ctx)
	w.setCaps(t, decimal.Zero, w.now.Add(-30*time.Minute))
	if _, err := w.pipeline().Run(w.ctx, d1); !errors.Is(err, jobs.ErrCapBreach) {
		t.Fatalf("day 1 over zero caps: %v", err)
	}
	w.now = w.now.AddDate(0, 0, 1)
	orig := day1[0][0]
	w.upload(0, "rev.csv", w.reversalFile(0, orig, "AM05"))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("reversal intake: %+v %v (ack %+v)", c, err, w.ack(0, "rev.csv"))
	}
	if _, err := w.store.EnsureCycle(w.ctx, d2); err != nil {
		t.Fatal(err)
	}
	_, err := w.pipeline().Run(w.ctx, d2)
	want := fmt.Sprintf("%s/REV-1 reverses %s of C2026-11-24, which is FROZEN", w.banks[0].BIC, orig.ID)
	if !errors.Is(err, jobs.ErrOriginalPending) || !jobs.NeedsOperator(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("day 2 before day 1 settled: %v; want %q", err, want)
	}
	if c, _, _ := w.store.Cycle(w.ctx, d2); c.Stage != settlement.StageFrozen {
		t.Fatalf("day 2 at %s, want %s", c.Stage, settlement.StageFrozen)
	}
	if writes, _ := w.ledger.Count(); writes != 0 {
		t.Fatalf("%d ledger writes while both cycles wait", writes)
	}
	// The operator lets day 2 go without the reversal: deferred to day 3,
	// which waits for day 1 in its turn.
	const d3 = settlement.Date("2026-11-26")
	if _, err := w.pipeline().Defer(w.ctx, jobs.Deferral{Sender: w.banks[0].BIC, FileID: "F-REV", From: d2, To: d3,
		Reason: "its original's cycle is held", Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	if c, err := w.pipeline().Run(w.ctx, d2); err != nil || c.Stage != settlement.StageReported {
		t.Fatalf("day 2 without the reversal: %+v %v", c, err)
	}
	if _, err := w.pipeline().Run(w.ctx, d3); !errors.Is(err, jobs.ErrOriginalPending) || !strings.Contains(err.Error(), want) {
		t.Fatalf("day 3 with the deferred reversal, before day 1 settled: %v", err)
	}
	w.setCaps(t, decimal.New(1, 15), w.now.Add(-20*time.Minute))
	for _, d := range []settlement.Date{d1, d3} {
		if c, err := w.pipeline().Run(w.ctx, d); err != nil || c.Stage != settlement.StageReported {
			t.Fatalf("%s: %+v %v", d, c, err)
		}
	}
	if r, ok, _ := w.ledger.Payment(w.ctx, w.banks[0].BIC, "REV-1"); !ok || r.Cycle != settlement.CycleID(d3) {
		t.Fatalf("the reversal on the ledger: %+v %v", r, ok)
	}
}

func TestReconciliationFindsTamperingAndLostEvents(t *testing.T) {
	w := newPostgresWorld(t)
	const date = settlement.Date("2026-11-24")
	w.day(date, 21)
	w.intake.Collect(w.ctx)
	if _, err := w.pipeline().Run(w.ctx, date); err != nil {
		t.Fatal(err)
	}
	// A superuser changes an amount behind the guards, and the ledger's
	// copy of another payment goes missing from what we read back.
	db := w.pgJobs.DB()
	if _, err := db.ExecContext(w.ctx, `ALTER TABLE payments DISABLE TRIGGER payments_append_only`); err != nil {
		t.Fatal(err)
	}
	var sender, id string
	db.QueryRowContext(w.ctx, `SELECT sender, payment_id FROM payments ORDER BY sender, payment_id LIMIT 1`).Scan(&sender, &id)
	if _, err := db.ExecContext(w.ctx, `UPDATE payments SET amount = amount + 1 WHERE sender = $1 AND payment_id = $2`, sender, id); err != nil {
		t.Fatal(err)
	}
	db.ExecContext(w.ctx, `ALTER TABLE payments ENABLE TRIGGER payments_append_only`)
	var s2, id2 string
	db.QueryRowContext(w.ctx, `SELECT sender, payment_id FROM payments ORDER BY sender DESC, payment_id DESC LIMIT 1`).Scan(&s2, &id2)
	w.ledger.Drop = s2 + "/" + id2

	p := w.pipeline()
	found, plan, _, err := p.Reconcile(w.ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, b := range found {
		kinds[string(b.Kind)+" "+b.Subject] = true
	}
	if !kinds["AMOUNT_MISMATCH "+sender+"/"+id] || !kinds["MISSING_ON_LEDGER "+s2+"/"+id2] {
		t.Fatalf("breaks: %v", kinds)
	}
	// Postgres loses its record of one ledger transaction (a commit answer
	// that never arrived): reconciliation names the transaction.
	var lost string
	db.QueryRowContext(w.ctx, `SELECT tx_id FROM ledger_txs WHERE chunk_id = '000001'`).Scan(&lost)
	db.ExecContext(w.ctx, `ALTER TABLE ledger_txs DISABLE TRIGGER ledger_txs_append_only`)
	if _, err := db.ExecContext(w.ctx, `DELETE FROM ledger_txs WHERE tx_id = $1`, lost); err != nil {
		t.Fatal(err)
	}
	db.ExecContext(w.ctx, `ALTER TABLE ledger_txs ENABLE TRIGGER ledger_txs_append_only`)
	found2, _, _, err := p.Reconcile(w.ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	var gotLost bool
	for _, b := range found2 {
		if b.Kind == reconciliation.TxUnrecorded && b.Subject == lost {
			gotLost = true
		}
	}
	if lost == "" || !gotLost {
		t.Fatalf("an unrecorded ledger transaction %q was not reported: %v", lost, found2)
	}
	if err := w.pgJobs.Reconciled(w.ctx, date, plan, reconciliation.Summary{Breaks: int64(len(found))}); err != nil {
		t.Fatal(err)
	}
	active, _ := w.store.ActiveBreaks(w.ctx, date)
	if len(active) != len(found) {
		t.Fatalf("%d active breaks, found %d", len(active), len(found))
	}
	// The lost event turns up: the re-run closes that break (not deleted).
	w.ledger.Drop = ""
	_, plan, _, _ = p.Reconcile(w.ctx, date)
	if len(plan.Close) == 0 || len(plan.Open) != 1 || plan.Open[0].Kind != reconciliation.TxUnrecorded {
		t.Fatalf("re-run plan (the lost payment closes; the still unrecorded transaction opens): %+v", plan)
	}
	w.pgJobs.Reconciled(w.ctx, date, plan, reconciliation.Summary{})
	var closed int
	db.QueryRowContext(w.ctx, `SELECT count(*) FROM recon_breaks WHERE state = 'CLOSED'`).Scan(&closed)
	if closed != len(plan.Close) {
		t.Fatalf("%d closed rows", closed)
	}
}

// TestTwoInstancesRunOneCycle: two pipelines (two instances) run the same
// cycle at once; the per-cycle lock (Postgres's advisory lock, or its
// stand-in on memory) lets one work while the other waits, and both end on the finished cycle with each ledger write
// made once.
func TestTwoInstancesRunOneCycle(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	day := w.day(date, 60)
	w.intake.Collect(w.ctx)
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		p := w.pipeline()
		p.Lock = w.tryLock
		go func() {
			_, err := p.Run(w.ctx, date)
			errs <- err
		}()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c, _, _ := w.store.Cycle(w.ctx, date)
	writes, payments := w.ledger.Count()
	if c.Stage != settlement.StageReported || payments != 60 || writes != 60/7+1+1 {
		t.Fatalf("stage %s, %d ledger writes, %d payments", c.Stage, writes, payments)
	}
	if got, want := w.positions(date), expected(t, day); got != want {
		t.Fatal("positions differ")
	}
}

// TestBreakLifeCycle: a break is opened by a run, put under investigation
// and resolved by an operator with a note and who did it; nothing is
// edited: its history keeps every step, and a resolved break cannot be
// resolved again.
func TestBreakLifeCycle(t *testing.T) {
	w := newPostgresWorld(t)
	const date = settlement.Date("2026-11-24")
	w.day(date, 9)
	w.intake.Collect(w.ctx)
	if _, err := w.pipeline().Run(w.ctx, date); err != nil {
		t.Fatal(err)
	}
	var s2, id2 string
	w.pgJobs.DB().QueryRowContext(w.ctx, `SELECT sender, payment_id FROM payments LIMIT 1`).Scan(&s2, &id2)
	w.ledger.Drop = s2 + "/" + id2
	found, plan, sum, err := w.pipeline().Reconcile(w.ctx, date)
	if err != nil || len(found) == 0 {
		t.Fatalf("%v %v", found, err)
	}
	if err := w.pgJobs.Reconciled(w.ctx, date, plan, sum); err != nil {
		t.Fatal(err)
	}
	key := found[0].Key()
	if err := w.pgJobs.SetBreakState(w.ctx, key, "RESOLVED", "", "ops1"); !errors.Is(err, postgres.ErrNoteRequired) {
		t.Fatalf("a resolution without a note: %v", err)
	}
	if err := w.pgJobs.SetBreakState(w.ctx, key, "INVESTIGATING", "", "ops1"); err != nil {
		t.Fatal(err)
	}
	if err := w.pgJobs.SetBreakState(w.ctx, key, "RESOLVED", "ledger event replayed by the peer operator", "ops2"); err != nil {
		t.Fatal(err)
	}
	if err := w.pgJobs.SetBreakState(w.ctx, key, "RESOLVED", "again", "ops3"); !errors.Is(err, postgres.ErrBreakState) {
		t.Fatalf("resolving twice: %v", err)
	}
	h, err := w.pgJobs.BreakHistory(w.ctx, key)
	if err != nil || len(h) != 3 || h[0].State != "OPEN" || h[1].State != "INVESTIGATING" || h[2].State != "RESOLVED" ||
		h[2].Actor != "ops2" || h[2].Note == "" || h[0].Detail["subject"] != s2+"/"+id2 {
		t.Fatalf("history: %+v %v", h, err)
	}
	if err := w.pgJobs.SetBreakState(w.ctx, "no-such-key", "INVESTIGATING", "", "ops1"); !errors.Is(err, postgres.ErrNoBreak) {
		t.Fatalf("unknown break: %v", err)
	}
	// Nothing in the register can be edited or deleted.
	if _, err := w.pgJobs.DB().ExecContext(w.ctx, `UPDATE recon_breaks SET note = 'x'`); err == nil {
		t.Fatal("a break was edited")
	}
}

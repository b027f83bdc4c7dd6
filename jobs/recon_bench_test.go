package jobs_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"iter"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/formats/gen"
	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// BenchmarkReconcile1M reconciles a 1,000,000-payment cycle: the streaming
// merge-join (reconciliation.Payments over two ordered cursors) against a
// plain SQL FULL OUTER JOIN of the same two record sets inside Postgres,
// the baseline a team would write first. The ledger side is a copy of the
// payments in a table (ledger_mirror) with a few planted differences: the
// comparison, not a Fabric read, is what is measured here (the ledger
// read rate is ledger/fabric's benchmark). It reports peak heap growth.
func BenchmarkReconcile1M(b *testing.B) {
	n := 1_000_000
	if s := getenv("SETTLE_BENCH_PAYMENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	s, _ := pgtest.NewStore(b)
	js := s.Jobs(nil, "bench")
	ctx := context.Background()
	const date = settlement.Date("2026-11-24")
	bics, _ := gen.Banks(20)
	for _, bic := range bics {
		if err := s.AddBank(ctx, postgres.Bank{BIC: bic, Name: string(bic)}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := js.EnsureCycle(ctx, date); err != nil {
		b.Fatal(err)
	}
	cfg := gen.Config{Banks: 20, Payments: n, Date: date, Seed: 9}
	created := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for i, bic := range bics {
		ps := gen.DayPayments(cfg, bics, i)
		var buf bytes.Buffer
		gen.WriteCSV(&buf, fmt.Sprintf("F-%d", i), bic, date, created, ps)
		entries := func(yield func(*settlement.Entry) bool) error {
			for j, p := range ps {
				c, _ := settlement.ParseCurrency(p.Currency)
				e := settlement.Entry{Line: j + 2, Kind: settlement.KindPayment, ID: p.ID, Debtor: p.Debtor, Creditor: p.Creditor,
					Amount: decimal.RequireFromString(p.Amount), Currency: c, Remittance: p.Remittance}
				if !yield(&e) {
					return nil
				}
			}
			return nil
		}
		res, err := js.IngestFile(ctx, jobs.FileRecord{Sender: bic, FileID: fmt.Sprintf("F-%d", i), Name: fmt.Sprintf("f%d.csv", i),
			SHA256: fmt.Sprintf("%064x", i+1), Size: int64(buf.Len()), BusinessDate: date, Cycle: date, Entries: int64(len(ps)),
			ReceivedAt: created}, entries)
		if err != nil || res.Status != jobs.IngestAccepted {
			b.Fatalf("ingest %d: %v %+v", i, err, res.Problems)
		}
	}
	db := s.DB()
	// The ledger's copy, with three planted differences.
	for _, q := range []string{
		`CREATE TABLE ledger_mirror AS SELECT p.sender, p.payment_id, p.kind, p.debtor, p.creditor, p.amount, p.currency,
			f.sha256 AS file_sha256, coalesce(p.original_payment_id, '') AS original FROM payments p JOIN files f ON f.id = p.file_id`,
		`CREATE INDEX ON ledger_mirror (sender COLLATE "C", payment_id COLLATE "C")`,
		`UPDATE ledger_mirror SET amount = amount + 1 WHERE payment_id = (SELECT min(payment_id) FROM ledger_mirror)`,
		`DELETE FROM ledger_mirror WHERE payment_id = (SELECT max(payment_id) FROM ledger_mirror)`,
		`INSERT INTO ledger_mirror SELECT sender, 'ONLY-ON-LEDGER', kind, debtor, creditor, amount, currency, file_sha256, original FROM ledger_mirror LIMIT 1`,
		`ANALYZE`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	// The ledger side is read the way the store's CycleEntries reads (one
	// text column a row, cut at the unit separator), so that the two
	// sides cost alike.
	ledger := func(yield func(reconciliation.Record, error) bool) {
		rows, err := db.QueryContext(ctx, `SELECT concat_ws(E'\x1f', sender, payment_id, kind, debtor, creditor, amount, currency, file_sha256, original)
			FROM ledger_mirror ORDER BY sender COLLATE "C", payment_id COLLATE "C"`)
		if err != nil {
			yield(reconciliation.Record{}, err)
			return
		}
		defer rows.Close()
		curs := map[string]settlement.Currency{}
		var f [9]string
		for rows.Next() {
			var r reconciliation.Record
			var row string
			if err := rows.Scan(&row); err != nil {
				yield(r, err)
				return
			}
			for i := range f {
				if i == len(f)-1 {
					f[i] = row
					break
				}
				f[i], row, _ = strings.Cut(row, "\x1f")
			}
			c, ok := curs[f[6]]
			if !ok {
				c, _ = settlement.ParseCurrency(f[6])
				curs[f[6]] = c
			}
			r.Sender, r.ID, r.Kind, r.Debtor, r.Creditor, r.Currency, r.FileSHA256, r.Original, r.Cycle = settlement.BIC(f[0]), f[1], settlement.Kind(f[2][0]), settlement.BIC(f[3]), settlement.BIC(f[4]), c, f[7], f[8], settlement.CycleID(date)
			if r.Amount, err = decimal.NewFromString(f[5]); err != nil {
				yield(r, err)
				return
			}
			if !yield(r, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(reconciliation.Record{}, err)
		}
	}
	var storeSide iter.Seq2[reconciliation.Record, error] = func(yield func(reconciliation.Record, error) bool) {
		for se, err := range js.CycleEntries(ctx, date) {
			e := se.Entry
			if !yield(reconciliation.Record{Sender: se.Sender, ID: e.ID, Kind: e.Kind, Debtor: e.Debtor, Creditor: e.Creditor,
				Amount: e.Amount, Currency: e.Currency, FileSHA256: se.FileSHA256, Cycle: settlement.CycleID(date), Original: e.Original}, err) {
				return
			}
		}
	}

	b.Run("streaming-merge-join", func(b *testing.B) {
		cpu := cpuMeter(b, db)
		for b.Loop() {
			peak := watchHeap()
			var breaks int
			sum, err := reconciliation.Payments(settlement.CycleID(date), reconciliation.Prefetch(storeSide), reconciliation.Prefetch(ledger),
				func(reconciliation.Break) error { breaks++; return nil })
			if err != nil {
				b.Fatal(err)
			}
			if breaks < 3 || sum.Matched != int64(n-2) {
				b.Fatalf("found %d breaks, matched %d", breaks, sum.Matched)
			}
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "payments/s")
		cpu()
	})
	// As ledger/fabric's client gives a declared cycle's ledger side: read
	// from the peers file by file, sorted, in memory (what that read costs
	// the peers is the ledger benchmark's). Only the store's side is then a
	// cursor, as in the reconcile step.
	b.Run("streaming-merge-join-ledger-read", func(b *testing.B) {
		var read []reconciliation.Record
		for r, err := range ledger {
			if err != nil {
				b.Fatal(err)
			}
			read = append(read, r)
		}
		inMemory := func(yield func(reconciliation.Record, error) bool) {
			for _, r := range read {
				if !yield(r, nil) {
					return
				}
			}
		}
		cpu := cpuMeter(b, db)
		for b.Loop() {
			var breaks int
			sum, err := reconciliation.Payments(settlement.CycleID(date), reconciliation.Prefetch(storeSide), inMemory,
				func(reconciliation.Break) error { breaks++; return nil })
			if err != nil {
				b.Fatal(err)
			}
			if breaks < 3 || sum.Matched != int64(n-2) {
				b.Fatalf("found %d breaks, matched %d", breaks, sum.Matched)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "payments/s")
		cpu()
	})
	b.Run("sql-full-outer-join", func(b *testing.B) {
		cpu := cpuMeter(b, db)
		for b.Loop() {
			var diffs int
			err := db.QueryRowContext(ctx, `SELECT count(*) FROM
				(SELECT p.sender, p.payment_id, p.kind, p.debtor, p.creditor, p.amount, p.currency, f.sha256 AS file_sha256,
				        coalesce(p.original_payment_id, '') AS original
				 FROM payments p JOIN files f ON f.id = p.file_id) s
				FULL OUTER JOIN ledger_mirror l ON l.sender = s.sender AND l.payment_id = s.payment_id
				WHERE s.payment_id IS NULL OR l.payment_id IS NULL OR s.amount <> l.amount OR s.kind <> l.kind
				   OR s.debtor <> l.debtor OR s.creditor <> l.creditor OR s.currency <> l.currency
				   OR s.file_sha256 <> l.file_sha256 OR s.original <> l.original`).Scan(&diffs)
			if err != nil {
				b.Fatal(err)
			}
			if diffs != 3 {
				b.Fatalf("SQL found %d differences, want 3", diffs)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "payments/s")
		cpu()
	})
}

// watchHeap samples the heap while a run goes and returns a function that
// stops and tells the peak growth over the start, in bytes.
func watchHeap() func() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > base && m.HeapAlloc-base > peak.Load() {
					peak.Store(m.HeapAlloc - base)
				}
			}
		}
	}()
	return func() uint64 { close(stop); <-done; return peak.Load() }
}

// cpuMeter starts measuring the CPU time this process and the Postgres
// server behind db use; the function it returns reports both, per run, as
// benchmark metrics (client-CPU-s, server-CPU-s). On a shared machine wall
// time is noise and CPU time the figure. The server's is its postmaster's
// own and reaped children's plus its live children's (backends and
// parallel workers), from /proc: it is reported only when the server runs
// on this machine and its processes can be read.
func cpuMeter(b *testing.B, db *sql.DB) func() {
	var pm string
	var backend int
	if err := db.QueryRow(`SELECT pg_backend_pid()`).Scan(&backend); err == nil {
		if f := statFields(strconv.Itoa(backend)); len(f) > 1 {
			pm = f[1] // ppid
		}
	}
	self0, srv0 := selfCPU(), serverCPU(pm)
	return func() {
		self, srv := selfCPU()-self0, serverCPU(pm)-srv0
		b.ReportMetric(self.Seconds()/float64(b.N), "client-CPU-s")
		if pm != "" {
			b.ReportMetric(srv.Seconds()/float64(b.N), "server-CPU-s")
		}
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// statFields is /proc/PID/stat from field 3 (state) on: [1] is the ppid,
// [11] and [12] utime and stime, [13] and [14] the reaped children's.
func statFields(pid string) []string {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// serverCPU is the CPU time of postmaster pm and of its children, dead and
// alive, in USER_HZ ticks of 10 ms.
func serverCPU(pm string) time.Duration {
	if pm == "" {
		return 0
	}
	ticks := func(f []string, from, to int) int64 {
		var n int64
		for k := from; k <= to && k < len(f); k++ {
			v, _ := strconv.ParseInt(f[k], 10, 64)
			n += v
		}
		return n
	}
	n := ticks(statFields(pm), 11, 14)
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		if f := statFields(p.Name()); len(f) > 12 && f[1] == pm {
			n += ticks(f, 11, 12)
		}
	}
	return time.Duration(n) * 10 * time.Millisecond
}

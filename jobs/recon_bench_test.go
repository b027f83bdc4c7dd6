package jobs_test

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"runtime"
	"strconv"
	"sync/atomic"
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
	ledger := func(yield func(reconciliation.Record, error) bool) {
		rows, err := db.QueryContext(ctx, `SELECT sender, payment_id, kind, debtor, creditor, amount::text, currency, file_sha256, original
			FROM ledger_mirror ORDER BY sender COLLATE "C", payment_id COLLATE "C"`)
		if err != nil {
			yield(reconciliation.Record{}, err)
			return
		}
		defer rows.Close()
		curs := map[string]settlement.Currency{}
		for rows.Next() {
			var r reconciliation.Record
			var sender, kind, debtor, creditor, amount, cur string
			if err := rows.Scan(&sender, &r.ID, &kind, &debtor, &creditor, &amount, &cur, &r.FileSHA256, &r.Original); err != nil {
				yield(r, err)
				return
			}
			c, ok := curs[cur]
			if !ok {
				c, _ = settlement.ParseCurrency(cur)
				curs[cur] = c
			}
			r.Sender, r.Kind, r.Debtor, r.Creditor, r.Currency, r.Cycle = settlement.BIC(sender), settlement.Kind(kind[0]), settlement.BIC(debtor), settlement.BIC(creditor), c, settlement.CycleID(date)
			r.Amount, _ = decimal.NewFromString(amount)
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
	})
	b.Run("sql-full-outer-join", func(b *testing.B) {
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

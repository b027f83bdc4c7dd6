package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/settlement"
)

// benchRows is the size of the benchmark's file; BENCH_ROWS overrides it
// for a quick run.
func benchRows() int {
	if v := os.Getenv("BENCH_ROWS"); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil && n > 0 {
			return n
		}
	}
	return 1_000_000
}

// BenchmarkIngest ingests one file of a million payments (make pg-bench:
// fsync on) and, on a fresh database of the same server, times psql's plain
// COPY FROM STDIN of exactly the same rows into the same table: the floor.
// It reports both rates and their ratio (target: at least 0.8).
func BenchmarkIngest(b *testing.B) {
	n := benchRows()
	banks := make([]settlement.BIC, 20)
	for i := range banks {
		banks[i] = settlement.MustBIC(fmt.Sprintf("BANK%cK%02d", 'A'+i, i))
	}
	sender := banks[0]
	curs := []settlement.Currency{mustCur("KRW"), mustCur("USD"), mustCur("EUR"), mustCur("KWD")}
	rng := rand.New(rand.NewPCG(1, 2))
	es := make([]*settlement.Entry, n)
	for i := range es {
		cur := curs[rng.IntN(len(curs))]
		amt := decimal.New(rng.Int64N(1_000_000_000)+1, -int32(cur.MinorUnit()))
		e := &settlement.Entry{Line: i + 2, Kind: settlement.KindPayment, ID: fmt.Sprintf("SH-%09d", i),
			Debtor: sender, Creditor: banks[1+rng.IntN(len(banks)-1)], Amount: amt, Currency: cur}
		if i%4 == 0 {
			e.Remittance = fmt.Sprintf("invoice %d", i)
		}
		es[i] = e
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		psql = "/usr/lib/postgresql/15/bin/psql"
	}

	setup := func(b *testing.B) (*postgres.Store, string, int64) {
		s, dsn := pgtest.NewStore(b)
		ctx := context.Background()
		for _, bic := range banks {
			if err := s.AddBank(ctx, postgres.Bank{BIC: bic, Name: string(bic)}); err != nil {
				b.Fatal(err)
			}
		}
		c, err := s.OpenCycle(ctx, "2026-11-24")
		if err != nil {
			b.Fatal(err)
		}
		return s, dsn, c.ID
	}

	for b.Loop() {
		b.StopTimer()
		// The floor: psql COPY into a fresh database with the same schema.
		fs, fdsn, fc := setup(b)
		var fsync string
		_ = fs.DB().QueryRow(`SHOW fsync`).Scan(&fsync)
		if fsync != "on" {
			b.Logf("WARNING: fsync is %s on this server; run make pg-bench for durable figures", fsync)
		}
		var frow int64
		if err := fs.DB().QueryRow(`INSERT INTO files (sender, file_id, name, sha256, size_bytes, status, business_date, cycle_id, received_at, entries)
			VALUES ($1, 'FLOOR', 'floor.csv', repeat('f', 64), 1, 'ACCEPTED', '2026-11-24', $2, now(), $3) RETURNING id`,
			string(sender), fc, n).Scan(&frow); err != nil {
			b.Fatal(err)
		}
		text := postgres.CopyText(frow, fc, sender, es)
		if _, err := fs.DB().Exec(`CHECKPOINT`); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", fdsn,
			"-c", "COPY payments ("+postgres.CopyColumns+") FROM STDIN")
		cmd.Stdin = bytes.NewReader(text)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("psql COPY: %v: %s", err, stderr.String())
		}
		floor := time.Since(t0)
		var got int
		_ = fs.DB().QueryRow(`SELECT count(*) FROM payments`).Scan(&got)
		if got != n {
			b.Fatalf("floor copied %d rows", got)
		}
		text = nil

		// The store's ingest into another fresh database.
		s, _, c := setup(b)
		if _, err := s.DB().Exec(`CHECKPOINT`); err != nil {
			b.Fatal(err)
		}
		fr := postgres.FileRecord{Sender: sender, FileID: "BENCH", Name: "bench.csv", SHA256: fmt.Sprintf("%064x", 1),
			Size: int64(n) * 60, BusinessDate: "2026-11-24", Cycle: c, Entries: int64(n), ReceivedAt: time.Now()}
		b.StartTimer()
		t1 := time.Now()
		res, err := s.IngestFile(context.Background(), fr, func(yield func(*settlement.Entry) bool) error {
			for _, e := range es {
				if !yield(e) {
					return nil
				}
			}
			return nil
		})
		ours := time.Since(t1)
		b.StopTimer()
		if err != nil || res.Status != postgres.Accepted {
			b.Fatalf("ingest: %+v %v", res, err)
		}
		b.ReportMetric(float64(n)/ours.Seconds(), "rows/s")
		b.ReportMetric(float64(n)/floor.Seconds(), "floor_rows/s")
		b.ReportMetric(floor.Seconds()/ours.Seconds(), "ratio")
		b.Logf("fsync=%s rows=%d ingest=%v (%.0f rows/s) psql COPY floor=%v (%.0f rows/s) ratio=%.2f",
			fsync, n, ours.Round(time.Millisecond), float64(n)/ours.Seconds(),
			floor.Round(time.Millisecond), float64(n)/floor.Seconds(), floor.Seconds()/ours.Seconds())
		b.StartTimer()
	}
}

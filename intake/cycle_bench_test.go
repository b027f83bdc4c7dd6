package intake

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"settle/formats/gen"
	"settle/settlement"
	"settle/signature"
)

// benchDay is the benchmark day: 1,000,000 payments from 20 banks
// (about 100 MB of signed CSV), generated once per process.
var benchDay struct {
	once  sync.Once
	dir   string
	w     *gen.Written
	err   error
	bytes int64
}

func loadBenchDay(b *testing.B) (*gen.Written, int64) {
	benchDay.once.Do(func() {
		payments := 1_000_000
		if s := os.Getenv("SETTLE_BENCH_PAYMENTS"); s != "" {
			payments, _ = strconv.Atoi(s)
		}
		benchDay.dir, benchDay.err = os.MkdirTemp("", "settle-bench-")
		if benchDay.err != nil {
			return
		}
		benchDay.w, benchDay.err = gen.Day(gen.Config{Banks: 20, Payments: payments, Date: "2026-11-24", Seed: 1}, benchDay.dir)
		for _, f := range benchDay.w.Files {
			st, _ := os.Stat(f)
			benchDay.bytes += st.Size()
		}
	})
	if benchDay.err != nil {
		b.Fatal(benchDay.err)
	}
	return benchDay.w, benchDay.bytes
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDay.dir != "" {
		os.RemoveAll(benchDay.dir)
	}
	os.Exit(code)
}

func fileInputs(files []string) []Input {
	in := make([]Input, len(files))
	for i, name := range files {
		in[i] = Input{Name: filepath.Base(name),
			Open: func() (io.ReadCloser, error) { return os.Open(name) },
			Sig: func() (Sig, error) {
				b, err := os.ReadFile(name + ".sig")
				return Sig{Present: err == nil, Bytes: b}, nil
			}}
	}
	return in
}

// BenchmarkCycle1M parses, verifies the signatures of, validates and nets
// the whole day, as `settle net --keys --members` does.
func BenchmarkCycle1M(b *testing.B) {
	w, size := loadBenchDay(b)
	ring, err := signature.LoadDir(w.KeysDir)
	if err != nil {
		b.Fatal(err)
	}
	members := map[settlement.BIC]bool{}
	for _, bk := range w.Banks {
		members[bk.BIC] = true
	}
	opts := Options{Keys: ring, Member: func(x settlement.BIC) bool { return members[x] }}
	in := fileInputs(w.Files)
	b.SetBytes(size)
	b.ReportAllocs()
	var entries int64
	for b.Loop() {
		res, err := CheckCycle(context.Background(), in, opts, 0)
		if err != nil {
			b.Fatal(err)
		}
		if !res.Accepted() || res.Net == nil {
			b.Fatalf("day rejected: %v", res.Files[0].Problems)
		}
		entries = res.Net.Entries
	}
	b.ReportMetric(float64(entries), "payments")
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "payments/s")
}

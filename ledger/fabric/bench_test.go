package fabric

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"settle/jobs"
)

// Benchmarks run only with -bench (and not under -short), on the network
// TestMain starts, e.g.
//
//	go test -run '^$' -bench . -benchtime 1x ./ledger/fabric
//
// SETTLE_BENCH_PAYMENTS (100000), SETTLE_BENCH_CHUNK (500) and
// SETTLE_BENCH_WORKERS (8) shape the cycle.

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// networkRSS sums the resident memory of the network's processes (orderer,
// peers, chaincode servers) from their pid files, in bytes.
func networkRSS() int64 {
	files, _ := filepath.Glob(filepath.Join(networkDir, "pids", "*.pid"))
	var sum int64
	for _, f := range files {
		pid, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(pid)), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
				sum += kb << 10
			}
		}
	}
	return sum
}

// peakRSS samples networkRSS until stop is called and returns the peak.
func peakRSS() (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if r := networkRSS(); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(done); wg.Wait(); return peak.Load() }
}

func BenchmarkRecordCycle(b *testing.B) {
	payments := envInt("SETTLE_BENCH_PAYMENTS", 100000)
	size := envInt("SETTLE_BENCH_CHUNK", 500)
	workers := envInt("SETTLE_BENCH_WORKERS", 8)
	c := newClient(b, 1)
	w := newWorld(b, c, "1000000000000")
	b.ResetTimer()
	var total time.Duration
	var peak int64
	for i := 0; i < b.N; i++ {
		cycle := fmt.Sprintf("B%s%d", w.run, i)
		var chunks []jobs.Chunk
		for k := 0; k*size < payments; k++ {
			n := min(size, payments-k*size)
			chunks = append(chunks, w.chunk(cycle, fmt.Sprintf("K%05d", k), fmt.Sprintf("B%d%s%05d", i, w.run[10:], k), n))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		stop := peakRSS()
		start := time.Now()
		work := make(chan jobs.Chunk)
		errs := make(chan error, len(chunks))
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ch := range work {
					if _, err := c.RecordChunk(ctx, ch); err != nil {
						errs <- err
					}
				}
			}()
		}
		for _, ch := range chunks {
			work <- ch
		}
		close(work)
		wg.Wait()
		if _, err := c.SettleCycle(ctx, cycle, positions(chunks...)); err != nil {
			errs <- err
		}
		total += time.Since(start)
		peak = max(peak, stop())
		cancel()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(payments*b.N)/total.Seconds(), "payments/s")
	b.ReportMetric(float64(peak)/(1<<20), "network-RSS-MB")
	b.ReportMetric(float64(size), "chunk")
}

func BenchmarkPing(b *testing.B) {
	workers := envInt("SETTLE_BENCH_WORKERS", 8)
	pings := envInt("SETTLE_BENCH_PINGS", 400)
	c := newClient(b, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.ResetTimer()
	var total time.Duration
	var peak int64
	for i := 0; i < b.N; i++ {
		stop := peakRSS()
		start := time.Now()
		var wg sync.WaitGroup
		var failed atomic.Int64
		var next atomic.Int64
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(pings) {
					if _, err := c.Ping(ctx); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		total += time.Since(start)
		peak = max(peak, stop())
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d pings failed", f)
		}
	}
	b.ReportMetric(float64(pings*b.N)/total.Seconds(), "tx/s")
	b.ReportMetric(float64(peak)/(1<<20), "network-RSS-MB")
}

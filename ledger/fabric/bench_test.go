package fabric

import (
	"context"
	"fmt"
	"log/slog"
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

// BenchmarkRecordCycle records one cycle of SETTLE_BENCH_PAYMENTS payments
// (100000; 1000000 for the night) through the legacy write path,
// between every pair of the network's banks (SETTLE_FABRIC_BANKS=5 starts a
// 5-bank network), in chunks of SETTLE_BENCH_CHUNK (500) with
// SETTLE_BENCH_WORKERS (8) in flight, and settles it. Besides payments/s it
// reports what a payment costs, which is the figure that holds on a shared
// machine: the CPU time of every process of the network (orderer, each
// peer, each chaincode server, read from /proc/PID/stat for the pids the
// ops/fabric scripts record) and of this client process, the state keys
// the transactions wrote (from their read-write sets) and the growth of
// the block files. SETTLE_BENCH_ENDORSERS=1,2,3 pins the endorsing peers
// (the others only commit), so the endorsing and the committing peer's
// costs can be told apart; SETTLE_BENCH_ENDORSE_ALL=1 asks every peer, as
// the client did before it asked only a majority. SETTLE_BENCH_LEDGER_OUT,
// when set, is a file the per-process table is written to (make bench
// prints it).
func BenchmarkRecordCycle(b *testing.B) {
	payments := envInt("SETTLE_BENCH_PAYMENTS", 100000)
	size := envInt("SETTLE_BENCH_CHUNK", 500)
	workers := envInt("SETTLE_BENCH_WORKERS", 8)
	endorsers := benchEndorsers()
	n := need(b)
	ctx0, cancel0 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel0()
	c, err := NewFromNetwork(ctx0, n, Config{Org: 1, Endorsers: endorsers, EndorseAll: os.Getenv("SETTLE_BENCH_ENDORSE_ALL") == "1",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	w := newWorld(b, c, "1000000000000")
	b.ResetTimer()
	var total time.Duration
	var peak map[string]int64
	var cost ledgerCost
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cycle := fmt.Sprintf("B%s%d", w.run, i)
		var chunks []jobs.Chunk
		for k := 0; k*size < payments; k++ {
			chunks = append(chunks, w.chunkAll(cycle, fmt.Sprintf("K%05d", k), fmt.Sprintf("B%d%s%05d", i, w.run[10:], k), min(size, payments-k*size)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
		before, err := sampleLedger(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		stop := peakRSSEach()
		start := time.Now()
		work := make(chan jobs.Chunk)
		errs := make(chan error, len(chunks)+1)
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
		if _, err := waitAllPeers(ctx, c); err != nil {
			errs <- err
		}
		if _, err := c.SettleCycle(ctx, cycle, positions(chunks...)); err != nil {
			errs <- err
		}
		wall := time.Since(start)
		total += wall
		b.StopTimer()
		for k, v := range stop() {
			peak = maxInto(peak, k, v)
		}
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		after, err := sampleLedger(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		cc, err := measureCost(ctx, c, before, after, payments, wall)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		cost.add(cc)
		b.StartTimer()
	}
	b.ReportMetric(float64(size), "chunk")
	reportCost(b, &cost, peak, payments*b.N, total, func() string { return cost.table(n, endorsers, c.every) })
}

// reportCost reports a ledger benchmark's metrics (payments/s, CPU-ms,
// keys and block bytes a payment, the network's peak RSS) and its
// per-process table, also to SETTLE_BENCH_LEDGER_OUT when set.
func reportCost(b *testing.B, cost *ledgerCost, peak map[string]int64, payments int, total time.Duration, table func() string) {
	cost.peakRSS = peak
	b.ReportMetric(float64(payments)/total.Seconds(), "payments/s")
	b.ReportMetric(cost.totalCPU().Seconds()*1000/float64(cost.payments), "CPU-ms/payment")
	b.ReportMetric(float64(cost.keys)/float64(cost.payments), "keys/payment")
	b.ReportMetric(float64(cost.blockBytes)/float64(cost.payments), "ledger-B/payment")
	var sum int64
	for _, v := range peak {
		sum += v
	}
	b.ReportMetric(float64(sum)/(1<<20), "network-RSS-MB")
	report := table()
	b.Log("\n" + report)
	if out := os.Getenv("SETTLE_BENCH_LEDGER_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEndorsers is SETTLE_BENCH_ENDORSERS (1,2,3: the banks whose peers
// endorse every transaction), nil when unset: a majority in turn.
func benchEndorsers() []int {
	var endorsers []int
	for _, f := range strings.Split(os.Getenv("SETTLE_BENCH_ENDORSERS"), ",") {
		if i, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			endorsers = append(endorsers, i)
		}
	}
	return endorsers
}

// chunkAll makes n payments between every ordered pair of the world's
// banks in turn: payment i goes from bank i mod B to each of the other
// banks in turn, so every bank sends and receives alike.
func (w *world) chunkAll(cycle, id, prefix string, n int) jobs.Chunk {
	c := jobs.Chunk{Cycle: cycle, ID: id}
	nb := len(w.banks)
	for i := range n {
		from := i % nb
		to := (from + 1 + (i/nb)%(nb-1)) % nb
		c.Entries = append(c.Entries, w.entry(from, to, fmt.Sprintf("%s-%06d", prefix, i), int64(1000+i)))
	}
	return c
}

func maxInto(m map[string]int64, k string, v int64) map[string]int64 {
	if m == nil {
		m = map[string]int64{}
	}
	m[k] = max(m[k], v)
	return m
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

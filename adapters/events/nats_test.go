package events

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"settle/jobs"
	"settle/settlement"
)

// natsServer builds (once) and starts a real nats-server with JetStream on
// a free loopback port, stopped when the test ends.
func natsServer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs nats-server")
	}
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	out, err := exec.Command(filepath.Join(root, "ops", "nats", "build.sh")).Output()
	if err != nil {
		t.Fatalf("ops/nats/build.sh: %v", err)
	}
	bin := strings.TrimSpace(string(out))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", t.TempDir())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	for i := 0; i < 100; i++ {
		if nc, err := nats.Connect(url); err == nil {
			nc.Close()
			return url
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("nats-server did not start")
	return ""
}

// TestPipelineOverNATS: events written to the Postgres outbox inside
// committed transactions reach the same handlers through JetStream, once
// each, and a rolled-back one never does.
func TestPipelineOverNATS(t *testing.T) {
	url := natsServer(t)
	b := newBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 12
	var mu sync.Mutex
	seen := map[settlement.Date]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := b.RunNATS(ctx, url, func(_ context.Context, e jobs.Event) error {
			mu.Lock()
			seen[e.Date]++
			k := len(seen)
			mu.Unlock()
			if k == n {
				time.AfterFunc(500*time.Millisecond, cancel)
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			t.Error(err)
		}
	}()
	for i := 0; i <= n; i++ {
		tx, err := b.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.PublishTx(ctx, tx, jobs.NewEvent(jobs.Topics[i%len(jobs.Topics)], date(i), time.Now())); err != nil {
			t.Fatal(err)
		}
		if i == n {
			tx.Rollback() // never published
			continue
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if len(seen) != n || seen[date(n)] != 0 {
		t.Fatalf("delivered %d distinct events over NATS (want %d), rolled back seen %d times", len(seen), n, seen[date(n)])
	}
	for d, c := range seen {
		if c != 1 {
			t.Errorf("%s delivered %d times", d, c)
		}
	}
	// They really went through JetStream.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	info, err := js.StreamInfo(StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != n {
		t.Fatalf("stream %s holds %d messages, want %d", StreamName, info.State.Msgs, n)
	}
}

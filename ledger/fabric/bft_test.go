package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"settle/jobs"
)

// scriptOut runs one of ops/fabric's scripts on the test network and returns
// its standard output (the log goes to stderr).
func scriptOut(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(fabricDir, name), args...)
	cmd.Env = append(envWithout(os.Environ(), "FABRIC_BASE_PORT"), "FABRIC_NETWORK_DIR="+networkDir, "FABRIC_PORT_BLOCK="+portBlock,
		"FABRIC_BANKS=3", "FABRIC_CHAINCODE_EXTRA="+govChaincode, "FABRIC_BASE_PORT="+basePort)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return stdout.String(), fmt.Errorf("%s %v: %w\n%s", name, args, err, stderr.String())
		}
		return stdout.String(), nil
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return stdout.String(), fmt.Errorf("%s %v: timed out after %s\n%s", name, args, timeout, stderr.String())
	}
}

type ordererConfig struct {
	Sequence   uint64   `json:"sequence"`
	Type       string   `json:"consensusType"`
	Orgs       []string `json:"ordererOrgs"`
	Consenters []struct {
		ID    int    `json:"id"`
		MSPID string `json:"mspId"`
	} `json:"consenters"`
	BatchSize struct {
		MaxMessageCount int `json:"max_message_count"`
	} `json:"batchSize"`
	SmartBFT struct {
		RequestBatchMaxCount int `json:"request_batch_max_count"`
	} `json:"smartBFT"`
	AdminsPolicy string `json:"adminsPolicy"`
}

func showConfig(t *testing.T) ordererConfig {
	t.Helper()
	out, err := scriptOut(t, 2*time.Minute, "config-update.sh", "show")
	if err != nil {
		t.Fatal(err)
	}
	var c ordererConfig
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("config-update.sh show: %v\n%s", err, out)
	}
	return c
}

// TestOrdererConfigNeedsAMajority: the ordering service is BFT with one
// orderer per member (the operator's and each bank's, 4 here), and its part
// of the channel configuration changes only with a majority of the orderer
// orgs' admins (3 of 4). One org's admin, and then two (a minority that
// could not order on its own either), try to change the consenters, the
// batch size and a SmartBFT option, and the orderers refuse each; signed by
// three, the batch size change is taken.
func TestOrdererConfigNeedsAMajority(t *testing.T) {
	n := need(t)
	before := showConfig(t)
	if before.Type != "BFT" || len(before.Consenters) != len(n.Banks)+1 || len(before.Orgs) != len(n.Banks)+1 || before.AdminsPolicy != "MAJORITY Admins" {
		t.Fatalf("ordering config %+v; want BFT, one consenter and org per bank and the operator, MAJORITY Admins", before)
	}
	if len(n.Orderers) != len(before.Consenters) || n.Quorum() != 3 || n.Faults() != 1 {
		t.Fatalf("network.json lists %d orderers (quorum %d, f %d); the channel %d consenters", len(n.Orderers), n.Quorum(), n.Faults(), len(before.Consenters))
	}
	dir := t.TempDir()
	changes := []string{
		"remove-consenter=4",
		fmt.Sprintf("batch-size=%d", before.BatchSize.MaxMessageCount-1),
		fmt.Sprintf("smartbft.request-batch-max-count=%d", before.SmartBFT.RequestBatchMaxCount-1),
	}
	for i, ch := range changes {
		f := filepath.Join(dir, fmt.Sprintf("u%d.tx", i))
		if _, err := scriptOut(t, 2*time.Minute, "config-update.sh", "propose", f, ch); err != nil {
			t.Fatal(err)
		}
		// One org: bank 1's orderer org alone.
		_, err := scriptOut(t, 2*time.Minute, "config-update.sh", "submit", f, "1")
		if err == nil || !strings.Contains(err.Error(), "1 sub-policies were satisfied, but this policy requires 3 of the 'Admins' sub-policies") {
			t.Fatalf("%s signed by one orderer org: %v; want refused by the Admins policy", ch, err)
		}
		// Two orgs: the operator's and bank 1's.
		if _, err := scriptOut(t, time.Minute, "config-update.sh", "sign", f, "0"); err != nil {
			t.Fatal(err)
		}
		_, err = scriptOut(t, 2*time.Minute, "config-update.sh", "submit", f, "1")
		if err == nil || !strings.Contains(err.Error(), "2 sub-policies were satisfied, but this policy requires 3 of the 'Admins' sub-policies") {
			t.Fatalf("%s signed by two orderer orgs: %v; want refused by the Admins policy", ch, err)
		}
		t.Logf("%s: refused with one and with two orgs' signatures", ch)
	}
	if after := showConfig(t); after.Sequence != before.Sequence || len(after.Consenters) != len(before.Consenters) ||
		after.BatchSize != before.BatchSize || after.SmartBFT != before.SmartBFT {
		t.Fatalf("config changed by refused updates: %+v, was %+v", after, before)
	}
	// A majority: the operator's, bank 1's and bank 2's orderer orgs.
	f := filepath.Join(dir, "majority.tx")
	want := before.BatchSize.MaxMessageCount - 1
	if _, err := scriptOut(t, 2*time.Minute, "config-update.sh", "propose", f, fmt.Sprintf("batch-size=%d", want)); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"0", "2"} {
		if _, err := scriptOut(t, time.Minute, "config-update.sh", "sign", f, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := scriptOut(t, 2*time.Minute, "config-update.sh", "submit", f, "1"); err != nil {
		t.Fatalf("batch size signed by three of four orderer orgs: %v", err)
	}
	var after ordererConfig
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		if after = showConfig(t); after.Sequence > before.Sequence || time.Now().After(deadline) {
			break
		}
	}
	if after.Sequence != before.Sequence+1 || after.BatchSize.MaxMessageCount != want {
		t.Fatalf("after the majority's update: %+v; want sequence %d, batch size %d", after, before.Sequence+1, want)
	}
	// The ledger goes on.
	if _, err := newClient(t, 1).Ping(testCtx(t, 2*time.Minute)); err != nil {
		t.Fatalf("ping after the config update: %v", err)
	}
}

// orderersBack is a cleanup: every orderer running and not paused, and the
// network answering a Ping (up.sh restarts whatever is stopped).
func orderersBack(t *testing.T) {
	t.Cleanup(func() {
		all := make([]string, len(testNet.Orderers))
		for i := range all {
			all[i] = fmt.Sprint(i)
		}
		scriptOut(t, time.Minute, "orderer-pause.sh", append([]string{"--resume"}, all...)...)
		if err := script(upTimeout, "up.sh"); err != nil {
			t.Errorf("bringing the orderers back: %v", err)
			return
		}
		// The next test starts with every orderer caught up: a lagging
		// node makes a later view change slower (it must sync first).
		for i := range testNet.Orderers {
			catchUp(t, i, 3*time.Minute)
		}
	})
}

// orderers runs an orderer script and returns the indexes it printed.
func orderers(t *testing.T, name string, args ...string) []int {
	t.Helper()
	out, err := scriptOut(t, 2*time.Minute, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, f := range strings.Fields(out) {
		var i int
		if _, err := fmt.Sscan(f, &i); err != nil {
			t.Fatalf("%s printed %q", name, out)
		}
		idx = append(idx, i)
	}
	return idx
}

func leaderNow(t *testing.T) int {
	t.Helper()
	l := orderers(t, "orderer-leader.sh")
	if len(l) != 1 {
		t.Fatalf("orderer-leader.sh: %v", l)
	}
	return l[0]
}

// ordererHeight is orderer o's channel height, from its admin endpoint.
func ordererHeight(t *testing.T, o Orderer) (uint64, error) {
	t.Helper()
	dir := filepath.Dir(o.TLSCACert)
	out, err := exec.Command(filepath.Join(fabricDir, "bin", "osnadmin"), "channel", "list", "--channelID", testNet.Channel,
		"-o", o.AdminAddress, "--ca-file", o.TLSCACert, "--client-cert", filepath.Join(dir, "server.crt"),
		"--client-key", filepath.Join(dir, "server.key")).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("osnadmin: %v: %s", err, out)
	}
	s := string(out)
	if i := strings.IndexByte(s, '{'); i >= 0 {
		s = s[i:]
	}
	var v struct {
		Height uint64 `json:"height"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return 0, fmt.Errorf("osnadmin said %q", out)
	}
	return v.Height, nil
}

// cycleRun records chunks of a cycle one after another and settles it,
// timing each write; started, if set, is closed after the first commit.
type cycleRun struct {
	cycle  string
	chunks []jobs.Chunk
	times  []time.Duration
	ends   []time.Time
	settle jobs.LedgerTx
	err    error
	// retries is how many writes were answered "unavailable" and tried
	// again; lastRetry the last such answer.
	retries   int
	lastRetry error
}

// A write the ledger answers "unavailable" is tried again, as the service's
// cycle steps do (retries counts them); any other error ends the run.
func runCycle(ctx context.Context, c *Client, r *cycleRun, started chan<- struct{}) {
	for i, k := range r.chunks {
		t0 := time.Now()
		if r.err = r.retry(ctx, func() error { _, err := c.RecordChunk(ctx, k); return err }); r.err != nil {
			r.err = fmt.Errorf("chunk %d: %w", i, r.err)
			return
		}
		r.times = append(r.times, time.Since(t0))
		r.ends = append(r.ends, time.Now())
		if i == 0 && started != nil {
			close(started)
		}
	}
	r.err = r.retry(ctx, func() error {
		var err error
		r.settle, err = c.SettleCycle(ctx, r.cycle, positions(r.chunks...))
		return err
	})
}

func (r *cycleRun) retry(ctx context.Context, write func() error) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		err := write()
		if !errors.Is(err, jobs.ErrLedgerUnavailable) || time.Now().After(deadline) {
			return err
		}
		r.retries++
		r.lastRetry = err
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
	}
}

func newCycle(w *world, tag string, chunks, each int) *cycleRun {
	r := &cycleRun{cycle: tag + w.run}
	for i := range chunks {
		r.chunks = append(r.chunks, w.chunk(r.cycle, fmt.Sprintf("K%d", i+1), fmt.Sprintf("%s%s-%d", tag, w.run[8:], i), each))
	}
	return r
}

// settled checks the cycle is settled on the ledger with every chunk once.
func (r *cycleRun) settled(t *testing.T, c *Client) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("cycle %s: %v", r.cycle, r.err)
	}
	lc, ok, err := c.Cycle(testCtx(t, time.Minute), r.cycle)
	n := 0
	for _, k := range r.chunks {
		n += len(k.Entries)
	}
	if err != nil || !ok || lc.Chunks != len(r.chunks) || lc.Payments != n || lc.TxID != r.settle.ID || lc.Status == "" {
		t.Fatalf("cycle %s on the ledger %+v found=%v %v; want %d chunks, %d payments, settled by %s", r.cycle, lc, ok, err, len(r.chunks), n, r.settle.ID)
	}
}

// TestOrdererFollowerSilent: a follower orderer goes silent (SIGSTOP: its
// port stays open, it answers nothing) during a cycle. The client's
// broadcast counts a quorum of the others, so the cycle goes on and settles.
func TestOrdererFollowerSilent(t *testing.T) {
	c := newClient(t, 1)
	w := newWorld(t, c, "100000000000")
	orderersBack(t)
	l := leaderNow(t)
	f := (l + 1) % len(testNet.Orderers)
	r := newCycle(w, "F", 4, 100)
	ctx := testCtx(t, 10*time.Minute)
	started := make(chan struct{})
	done := make(chan struct{})
	go func() { runCycle(ctx, c, r, started); close(done) }()
	select {
	case <-started:
	case <-done:
	}
	orderers(t, "orderer-pause.sh", fmt.Sprint(f))
	<-done
	r.settled(t, c)
	t.Logf("leader orderer%d, follower orderer%d silent after chunk 1: writes took %v; %d answered unavailable and retried (%v)", l, f, r.times, r.retries, r.lastRetry)
	st, err := c.Ordering(ctx)
	if err != nil || st.LastAccepted < testNet.Quorum() {
		t.Fatalf("ordering with one silent follower: %+v %v; want enough", st, err)
	}
}

// TestOrdererLeaderDownMidCycle: the leading orderer is stopped once the
// cycle's first chunk is on the ledger. The other three change view, elect
// a new leader and order the rest (the client gave every transaction to
// all of them): the cycle settles, with every chunk once. The longest
// write after the stop is the recovery after a view change. The old
// leader, started again, catches up.
func TestOrdererLeaderDownMidCycle(t *testing.T) {
	leaderFault(t, "orderer-stop.sh", "stopped", func(l int) { orderers(t, "orderer-start.sh", fmt.Sprint(l)) })
}

// TestOrdererLeaderSilentMidCycle: the same with a leader that goes silent
// (SIGSTOP: its connections stay open and it answers nothing, as a hung or
// censoring node would) instead of stopping. The followers, holding every
// transaction, complain about it and change view; the peers that pulled
// blocks from it move to another orderer when it stops answering their
// keepalive pings.
func TestOrdererLeaderSilentMidCycle(t *testing.T) {
	leaderFault(t, "orderer-pause.sh", "silent", func(l int) { orderers(t, "orderer-pause.sh", "--resume", fmt.Sprint(l)) })
}

func leaderFault(t *testing.T, fault, what string, undo func(int)) {
	c := newClient(t, 2)
	w := newWorld(t, c, "100000000000")
	orderersBack(t)
	l := leaderNow(t)
	r := newCycle(w, "V", 6, 100)
	ctx := testCtx(t, 10*time.Minute)
	started := make(chan struct{})
	done := make(chan struct{})
	go func() { runCycle(ctx, c, r, started); close(done) }()
	select {
	case <-started:
	case <-done:
	}
	stopped := time.Now()
	orderers(t, fault, fmt.Sprint(l))
	<-done
	r.settled(t, c)
	// The stall: the longest wait, after the fault, of a write that was in
	// flight or began then (the view change is in it).
	var recovered time.Duration
	for i, e := range r.ends {
		if e.After(stopped) {
			recovered = max(recovered, e.Sub(maxTime(e.Add(-r.times[i]), stopped)))
		}
	}
	nl := leaderNow(t)
	if nl == l {
		t.Fatalf("orderer%d %s, and the others still name it leader", l, what)
	}
	t.Logf("VIEW CHANGE: leader orderer%d %s after chunk 1; orderer%d leads now; longest write stall after it %s; writes took %v",
		l, what, nl, recovered.Round(time.Millisecond), r.times)
	t.Logf("%d writes answered unavailable and retried (%v)", r.retries, r.lastRetry)
	// Back, it catches up from the others.
	undo(l)
	catchUp(t, l, 3*time.Minute)
}

// catchUp waits until orderer o holds as many blocks as the highest other.
func catchUp(t *testing.T, o int, wait time.Duration) {
	t.Helper()
	start := time.Now()
	nudged := start // the first nudge after 30 s of lag
	for {
		var top uint64
		for i, other := range testNet.Orderers {
			if i == o {
				continue
			}
			if h, err := ordererHeight(t, other); err == nil {
				top = max(top, h)
			}
		}
		h, err := ordererHeight(t, testNet.Orderers[o])
		if err == nil && top > 0 && h >= top {
			t.Logf("orderer%d at height %d, the others' %d, %s after its start", o, h, top, time.Since(start).Round(time.Second))
			return
		}
		if time.Since(start) > wait {
			t.Fatalf("orderer%d at height %d (%v) after %s; the others at %d", o, h, err, wait, top)
		}
		// A follower restarted one block behind on a quiet channel may
		// wait for traffic before it syncs (seen once in CI: 69 against 70
		// for 3 minutes): a Ping every 30 s of lag makes a new block.
		if err == nil && top > 0 && time.Since(nudged) > 30*time.Second {
			nudge(t)
			nudged = time.Now()
		}
		time.Sleep(2 * time.Second)
	}
}

// nudge sends one Ping through a client of its own (closed after), so that
// the channel makes a block; a failure is logged, not fatal: the wait
// around it decides.
func nudge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := NewFromNetwork(ctx, need(t), Config{Org: 1, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Logf("nudge: client: %v", err)
		return
	}
	defer c.Close()
	if tx, err := c.Ping(ctx); err != nil {
		t.Logf("nudge: ping: %v", err)
	} else {
		t.Logf("nudge: a ping in block %d for a lagging orderer", tx.Block)
	}
}

// TestOrderersTwoDown: with two of four orderers stopped there is no quorum.
// A write is refused at once as "ledger unavailable" (two orderers took it,
// three are needed), and Ordering says so. Once both are back the same
// write goes through: whether the first attempt was ordered after all (it
// sat in two orderers' pools) or the re-run wrote it, the ledger holds the
// chunk once.
func TestOrderersTwoDown(t *testing.T) {
	c := newClient(t, 3)
	w := newWorld(t, c, "100000000000")
	orderersBack(t)
	l := leaderNow(t)
	a, b := (l+1)%len(testNet.Orderers), (l+2)%len(testNet.Orderers)
	orderers(t, "orderer-stop.sh", fmt.Sprint(a), fmt.Sprint(b))
	ctx := testCtx(t, 10*time.Minute)
	st, err := c.Ordering(ctx)
	if !errors.Is(err, jobs.ErrLedgerUnavailable) || st.Reachable != len(testNet.Orderers)-2 {
		t.Fatalf("ordering with two orderers down: %+v %v; want unavailable, %d reachable", st, err, len(testNet.Orderers)-2)
	}
	r := newCycle(w, "Q", 1, 50)
	start := time.Now()
	_, err = c.RecordChunk(ctx, r.chunks[0])
	if !errors.Is(err, jobs.ErrLedgerUnavailable) {
		t.Fatalf("two orderers down: %v; want ErrLedgerUnavailable", err)
	}
	t.Logf("two orderers down (orderer%d, orderer%d): refused after %s: %v", a, b, time.Since(start).Round(time.Millisecond), err)
	if st, err := c.Ordering(ctx); !errors.Is(err, jobs.ErrLedgerUnavailable) || st.LastAccepted != len(testNet.Orderers)-2 {
		t.Fatalf("ordering after the refused write: %+v %v; want unavailable, the write taken by %d", st, err, len(testNet.Orderers)-2)
	}
	orderers(t, "orderer-start.sh", fmt.Sprint(a), fmt.Sprint(b))
	back := time.Now()
	// The service's job retries an unavailable ledger; so does this loop.
	var tx jobs.LedgerTx
	for {
		tx, err = c.RecordChunk(ctx, r.chunks[0])
		if err == nil || !errors.Is(err, jobs.ErrLedgerUnavailable) || time.Since(back) > 5*time.Minute {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	t.Logf("RECOVERY: both orderers back; the chunk is on the ledger %s later (existing: %v, the first attempt was ordered after all)",
		time.Since(back).Round(time.Millisecond), tx.Existing)
	if r.settle, err = c.SettleCycle(ctx, r.cycle, positions(r.chunks...)); err != nil {
		t.Fatal(err)
	}
	r.settled(t, c)
	if st, err := c.Ordering(ctx); err != nil {
		t.Fatalf("ordering with every orderer back: %+v %v", st, err)
	}
}

// TestOrdererWipedCatchesUp: an orderer loses its disk (ledger and
// write-ahead log). Started again, it joins with the genesis block, pulls
// what it lacks from the others and is a consenter again: with another
// orderer stopped, it is one of the three that order.
func TestOrdererWipedCatchesUp(t *testing.T) {
	c := newClient(t, 1)
	w := newWorld(t, c, "100000000000")
	orderersBack(t)
	l := leaderNow(t)
	x, y := (l+1)%len(testNet.Orderers), (l+2)%len(testNet.Orderers)
	orderers(t, "orderer-stop.sh", "--wipe", fmt.Sprint(x))
	ctx := testCtx(t, 10*time.Minute)
	for range 3 {
		if _, err := c.Ping(ctx); err != nil {
			t.Fatalf("ping with orderer%d wiped: %v", x, err)
		}
	}
	orderers(t, "orderer-start.sh", fmt.Sprint(x))
	catchUp(t, x, 5*time.Minute)
	orderers(t, "orderer-stop.sh", fmt.Sprint(y))
	r := newCycle(w, "W", 2, 50)
	runCycle(ctx, c, r, nil)
	r.settled(t, c)
	t.Logf("orderer%d wiped, caught up, and ordered with orderer%d down: writes took %v", x, y, r.times)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

package fabric

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests run against a real 3-bank network that TestMain starts with
// ops/fabric's scripts, in its own state directory and in this checkout's
// `client` port block (ops/ports.sh), so it never meets `make fabric-test`,
// the e2e tests, a demo or another checkout's networks; up.sh moves to a
// free block when another process holds a port of it. Under -short they
// skip. SETTLE_FABRIC_CLIENT_NETWORK=path/network.json uses a running
// network instead (and leaves it running); SETTLE_KEEP=1 leaves the
// started network running. SETTLE_FABRIC_BANKS=N (3 by default, 3..20)
// starts a network of N banks instead, in a state directory of its own: the
// benchmarks' 5-bank network (make bench), or the 20-bank one; the tests
// expect 3. A network of more than 9 banks takes two port blocks (client
// and the next, ops/fabric/common.sh); FABRIC_ORDERERS, passed on to the
// scripts, caps its BFT orderers.
const (
	envNetwork  = "SETTLE_FABRIC_CLIENT_NETWORK"
	portBlock   = "client"
	upTimeout   = 6 * time.Minute
	downTimeout = 2 * time.Minute
	// banksMax is ops/fabric's FABRIC_BANKS limit (common.sh).
	banksMax = 20
)

var (
	testNet    *Network
	basePort   string // the network's, once it is up; up.sh chooses it
	netErr     error
	fabricDir  string
	networkDir string
	banks      = 3
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "ledger/fabric: SKIP: -short: the client's tests need a real Fabric network (started by this test binary without -short)")
		os.Exit(m.Run())
	}
	_, file, _, _ := runtime.Caller(0)
	fabricDir = filepath.Join(filepath.Dir(file), "..", "..", "ops", "fabric")
	if p := os.Getenv(envNetwork); p != "" {
		testNet, netErr = LoadNetwork(p)
		if netErr != nil {
			fmt.Fprintf(os.Stderr, "ledger/fabric: %s=%s: %v\n", envNetwork, p, netErr)
			os.Exit(1)
		}
		networkDir = testNet.NetworkDir
		basePort = strconv.Itoa(testNet.BasePort)
		os.Exit(m.Run())
	}
	networkDir = filepath.Join(fabricDir, ".network-client")
	if v := os.Getenv("SETTLE_FABRIC_BANKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 || n > banksMax {
			fmt.Fprintf(os.Stderr, "ledger/fabric: SETTLE_FABRIC_BANKS=%q: want 3..%d\n", v, banksMax)
			os.Exit(2)
		}
		banks = n
		if n != 3 {
			networkDir += "-" + v
		}
	}
	start := time.Now()
	if err := script(upTimeout, "down.sh", "--clean"); err != nil {
		fmt.Fprintf(os.Stderr, "ledger/fabric: cleaning an earlier network: %v\n", err)
	}
	if err := script(upTimeout, "build.sh"); err != nil {
		fmt.Fprintf(os.Stderr, "ledger/fabric: FAIL: building the Fabric binaries: %v\n", err)
		os.Exit(1)
	}
	// up.sh's work grows with the banks: 2N+1 orgs of crypto, N peers that
	// join, install and approve twice, one at a time.
	if err := script(upTimeout+time.Duration(banks)*30*time.Second, "up.sh"); err != nil {
		fmt.Fprintf(os.Stderr, "ledger/fabric: FAIL: starting the test network: %v\n", err)
		script(downTimeout, "down.sh")
		os.Exit(1)
	}
	testNet, netErr = LoadNetwork(filepath.Join(networkDir, "network.json"))
	if netErr != nil {
		fmt.Fprintf(os.Stderr, "ledger/fabric: FAIL: %v\n", netErr)
		script(downTimeout, "down.sh")
		os.Exit(1)
	}
	basePort = strconv.Itoa(testNet.BasePort)
	fmt.Fprintf(os.Stderr, "ledger/fabric: network up in %s (base port %s)\n", time.Since(start).Round(time.Second), basePort)
	code := m.Run()
	if os.Getenv("SETTLE_KEEP") != "" {
		fmt.Fprintf(os.Stderr, "ledger/fabric: SETTLE_KEEP: network kept; stop it with FABRIC_NETWORK_DIR=%s %s --clean\n", networkDir, filepath.Join(fabricDir, "down.sh"))
		os.Exit(code)
	}
	if code == 0 {
		script(downTimeout, "down.sh", "--clean")
	} else {
		script(downTimeout, "down.sh")
		fmt.Fprintf(os.Stderr, "ledger/fabric: logs kept in %s/logs\n", networkDir)
	}
	os.Exit(code)
}

// script runs one of ops/fabric's scripts on the test network.
func script(timeout time.Duration, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(fabricDir, name), args...)
	// The caller's FABRIC_BASE_PORT is for the network a script starts on its
	// own, not for this package's: a port it takes is the network's.
	cmd.Env = append(envWithout(os.Environ(), "FABRIC_BASE_PORT"), "FABRIC_NETWORK_DIR="+networkDir, "FABRIC_PORT_BLOCK="+portBlock, "FABRIC_BANKS="+strconv.Itoa(banks), "FABRIC_CHAINCODE_EXTRA="+govChaincode)
	if basePort != "" {
		cmd.Env = append(cmd.Env, "FABRIC_BASE_PORT="+basePort)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w\n%s", name, args, err, out)
	}
	return nil
}

// envWithout is env without the variables named.
func envWithout(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func need(t testing.TB) *Network {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs a real Fabric network")
	}
	if testNet == nil {
		t.Fatalf("no network: %v", netErr)
	}
	return testNet
}

func newClient(t testing.TB, org int, endorsers ...int) *Client {
	t.Helper()
	n := need(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := NewFromNetwork(ctx, n, Config{Org: org, Endorsers: endorsers, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPing(t *testing.T) {
	c := newClient(t, 1)
	tx, err := c.Ping(testCtx(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ping: %+v", tx)
	if tx.ID == "" || tx.Block == 0 || len(tx.Endorsers) < 2 || tx.Existing {
		t.Fatalf("ping tx %+v", tx)
	}
	pc, err := c.TxContent(testCtx(t, time.Minute), tx.ID)
	if err != nil || pc.Function != "Ping" || pc.Payments != nil || pc.Tx.ID != tx.ID {
		t.Fatalf("ping tx content %+v %v", pc, err)
	}
	got, err := c.Tx(testCtx(t, time.Minute), tx.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Block != tx.Block || fmt.Sprint(got.Endorsers) != fmt.Sprint(tx.Endorsers) {
		t.Fatalf("Tx %+v, committed %+v", got, tx)
	}
}

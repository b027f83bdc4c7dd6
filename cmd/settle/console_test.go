package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"settle/adapters/events"
	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/reconciliation"
	"settle/settlement"
)

// consoleConfig writes a config whose state lives in the test's folder.
func consoleConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	return write(t, dir, "settle.yaml", "state_dir: "+filepath.Join(dir, "state")+"\nledger:\n  network: "+filepath.Join(dir, "no-network.json")+"\n")
}

func settleIn(t *testing.T, stdin string, args ...string) run {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCLIAcknowledge: `settle breaks acknowledge` takes an open break to
// ACKNOWLEDGED through the store function the console calls; a second
// acknowledgement is a usage error with the lifecycle's words; the listing
// filters on the new state; `resolve --state INVESTIGATING` goes on from it.
func TestCLIAcknowledge(t *testing.T) {
	s, dsn := pgtest.NewStore(t)
	t.Setenv("DATABASE_URL", dsn)
	ctx := context.Background()
	j := s.Jobs(nil, "test")
	const date = settlement.Date("2026-11-24")
	if _, err := j.EnsureCycle(ctx, date); err != nil {
		t.Fatal(err)
	}
	b := reconciliation.Break{Kind: reconciliation.MissingOnLedger, Cycle: settlement.CycleID(date), Subject: "SHBKKRSE/SH-1", Store: "1 KRW"}
	if err := j.Reconciled(ctx, date, reconciliation.Plan{Open: []reconciliation.Break{b}}, reconciliation.Summary{}); err != nil {
		t.Fatal(err)
	}
	cfg := consoleConfig(t)
	key := b.Key()

	r := settle(t, "breaks", "acknowledge", key, "--by", "alice", "--config", cfg)
	r.want(t, 0)
	if !strings.Contains(r.stdout, key+": ACKNOWLEDGED by alice") {
		t.Fatalf("acknowledge: %s", r.stdout)
	}
	r = settle(t, "breaks", "acknowledge", key, "--by", "bob", "--config", cfg)
	r.want(t, 2)
	if !strings.Contains(r.stderr, "only an OPEN break is acknowledged") {
		t.Fatalf("acknowledged twice: %s", r.stderr)
	}
	r = settle(t, "breaks", "list", "--state", "ACKNOWLEDGED", "--format", "csv", "--config", cfg)
	r.want(t, 0)
	if !strings.Contains(r.stdout, key) {
		t.Fatalf("list --state ACKNOWLEDGED: %s", r.stdout)
	}
	settle(t, "breaks", "resolve", key, "--state", "INVESTIGATING", "--note", "asked the peer", "--by", "alice", "--config", cfg).want(t, 0)
	h, err := j.BreakHistory(ctx, key)
	if err != nil || len(h) != 3 || h[1].State != "ACKNOWLEDGED" || h[1].Actor != "alice" || h[2].State != "INVESTIGATING" {
		t.Fatalf("history: %+v %v", h, err)
	}
}

// TestCLIWriteOffFourEyes: the CLI cannot write a break off alone either:
// resolve refuses WRITTEN_OFF, the requester cannot approve, another
// operator can. Then `settle user add` makes an account and `settle
// console` serves its login page.
func TestCLIWriteOffFourEyes(t *testing.T) {
	s, dsn := pgtest.NewStore(t)
	t.Setenv("DATABASE_URL", dsn)
	ctx := context.Background()
	j := s.Jobs(nil, "test")
	const date = settlement.Date("2026-11-24")
	if _, err := j.EnsureCycle(ctx, date); err != nil {
		t.Fatal(err)
	}
	b := reconciliation.Break{Kind: reconciliation.MissingOnLedger, Cycle: settlement.CycleID(date), Subject: "SHBKKRSE/SH-1", Store: "1 KRW"}
	if err := j.Reconciled(ctx, date, reconciliation.Plan{Open: []reconciliation.Break{b}}, reconciliation.Summary{}); err != nil {
		t.Fatal(err)
	}
	cfg := consoleConfig(t)
	key := b.Key()

	r := settle(t, "breaks", "resolve", key, "--state", "WRITTEN_OFF", "--note", "alone", "--by", "alice", "--config", cfg)
	r.want(t, 2)
	if !strings.Contains(r.stderr, "four eyes") {
		t.Fatalf("resolve WRITTEN_OFF: %s", r.stderr)
	}
	r = settle(t, "breaks", "write-off", key, "--note", "below threshold, ref OPS-17", "--by", "alice", "--config", cfg)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "request 1: write off") {
		t.Fatalf("write-off: %s", r.stdout)
	}
	r = settle(t, "breaks", "approve", "1", "--by", "alice", "--config", cfg)
	r.want(t, 1)
	if !strings.Contains(r.stderr, "four eyes") {
		t.Fatalf("self-approval: %s", r.stderr)
	}
	r = settle(t, "breaks", "requests", "--config", cfg)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "PENDING") {
		t.Fatalf("requests: %s", r.stdout)
	}
	settle(t, "breaks", "approve", "1", "--by", "bob", "--config", cfg).want(t, 0)
	h, err := j.BreakHistory(ctx, key)
	if err != nil || len(h) != 2 || h[1].State != "WRITTEN_OFF" || h[1].Actor != "alice, approved by bob" {
		t.Fatalf("history: %+v %v", h, err)
	}

	// A cap raise, the same way.
	if err := s.AddBank(ctx, postgres.Bank{BIC: "SHBKKRSE", Name: "Shinhan"}); err != nil {
		t.Fatal(err)
	}
	// `bank cap set` cannot raise a cap alone (a bank with no cap has a
	// cap of zero: its first cap is a raise too).
	r = settle(t, "bank", "cap", "set", "SHBKKRSE", "KRW", "1000", "--database", dsn)
	if r.want(t, 1); !strings.Contains(r.stderr, "needs a second operator") {
		t.Fatalf("cap set as a raise: %s", r.stderr)
	}
	if caps, err := s.Caps(ctx); err != nil || len(caps) != 0 {
		t.Fatalf("caps after a refused set: %+v %v", caps, err)
	}
	settle(t, "bank", "cap", "set", "SHBKKRSE", "KRW", "0", "--database", dsn).want(t, 0)
	r = settle(t, "bank", "cap", "raise", "SHBKKRSE", "KRW", "5000", "--note", "large payment tonight", "--by", "alice", "--config", cfg)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "request 2: raise the cap of SHBKKRSE/KRW to 5000") {
		t.Fatalf("raise: %s", r.stdout)
	}
	settle(t, "approve", "2", "--by", "alice", "--config", cfg).want(t, 1)
	r = settle(t, "approvals", "--config", cfg)
	if r.want(t, 0); !strings.Contains(r.stdout, "cap.raise\tSHBKKRSE/KRW") {
		t.Fatalf("approvals: %q", r.stdout)
	}
	settle(t, "approve", "2", "--by", "bob", "--config", cfg).want(t, 0)
	if caps, err := s.Caps(ctx); err != nil || len(caps) != 1 || caps[0].Amount.String() != "5000" {
		t.Fatalf("caps %+v %v", caps, err)
	}
	// Lowering needs no second operator; raising again does.
	settle(t, "bank", "cap", "set", "SHBKKRSE", "KRW", "900", "--database", dsn).want(t, 0)
	r = settle(t, "bank", "cap", "raise", "SHBKKRSE", "KRW", "900", "--note", "n", "--by", "alice", "--config", cfg)
	if r.want(t, 1); !strings.Contains(r.stderr, "not a raise") {
		t.Fatalf("raise to the cap in force: %s", r.stderr)
	}
	settle(t, "bank", "cap", "set", "SHBKKRSE", "KRW", "900.01", "--database", dsn).want(t, 2) // KRW has no minor unit
	settle(t, "bank", "cap", "set", "SHBKKRSE", "KRW", "901", "--database", dsn).want(t, 1)
	if caps, err := s.Caps(ctx); err != nil || len(caps) != 1 || caps[0].Amount.String() != "900" {
		t.Fatalf("caps %+v %v", caps, err)
	}

	// A deferral from the CLI is a request too; one that cannot be
	// carried out is refused at once.
	r = settle(t, "cycle", "defer", "--date", "2026-11-24", "--to", "2026-11-25", "--file", "SHBKKRSE/F-NONE", "--reason", "over its cap", "--by", "alice", "--config", cfg)
	if r.want(t, 1); !strings.Contains(r.stderr, "has no accepted file F-NONE") {
		t.Fatalf("defer of no file: %s", r.stderr)
	}
	if err := events.New(s.DB(), nil).Init(ctx); err != nil { // as settle serve does at its start
		t.Fatal(err)
	}
	r = settle(t, "ops", "poison-replay", "no-such-uuid", "--by", "alice", "--config", cfg)
	if r.want(t, 1); !strings.Contains(r.stderr, "no such poisoned message") {
		t.Fatalf("replay of nothing: %s", r.stderr)
	}

	settleIn(t, "alice-alice-secret\n", "user", "add", "alice", "--role", "operator", "--config", cfg).want(t, 0)
	settleIn(t, "short\n", "user", "add", "bob", "--role", "operator", "--config", cfg).want(t, 2)
	settleIn(t, "alice-alice-secret\n", "user", "add", "alice", "--role", "operator", "--config", cfg).want(t, 1)
	settleIn(t, "x-long-enough-password\n", "user", "add", "carol", "--role", "admin", "--config", cfg).want(t, 2)
	settle(t, "console", "--listen", "0.0.0.0:0", "--config", cfg).want(t, 2)

	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, bin, "console", "--listen", "127.0.0.1:0", "--config", cfg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "console: http://127.0.0.1:") {
		t.Fatalf("console said %q: %v", line, err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "console: "))
	resp, err := http.Get(url + "login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="password"`) || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("login page: %d %s", resp.StatusCode, body)
	}
}

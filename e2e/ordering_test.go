package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// orderers runs one of ops/fabric's orderer scripts on the suite's network.
func orderers(t *testing.T, script string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "ops", "fabric", script), args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FABRIC_BASE_PORT=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "FABRIC_BANKS="+fmt.Sprint(banksN), "FABRIC_PORT_BLOCK="+portBlock, "FABRIC_BASE_PORT="+fabricBase,
		"FABRIC_NETWORK_DIR="+filepath.Dir(network))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, out)
	}
}

// TestServeOrderingQuorumLost: two of the network's four orderers stop (the
// BFT ordering service tolerates one). The service keeps taking files;
// /readyz says the ordering service lacks a quorum and the gauge
// settle_ledger_ordering_up is 0; the night's cycle fails as "ledger
// unavailable" and stops before the ledger has it. The two orderers start
// again: /readyz turns ready and the service carries the cycle to its end by
// itself (the resume pass). Reconciliation matches every payment once:
// nothing lost, nothing recorded twice. Business day 12, on a clock of its own.
func TestServeOrderingQuorumLost(t *testing.T) {
	date := businessDay(t, 12)
	s := newSys(t, 30, date)
	s.env = append(s.env, "SETTLE_CLOCK="+date+"T01:00:00Z")
	cfg, _ := os.ReadFile(s.config)
	cfg = []byte(strings.Replace(string(cfg), `resume: 10m}`, `resume: 2s}`, 1))
	os.WriteFile(s.config, cfg, 0o600)
	v := startServe(t, s)
	v.uploadDay()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + v.http + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitReady := func(what string) {
		deadline := time.Now().Add(2 * time.Minute)
		for code, body := get("/readyz"); code != http.StatusOK; code, body = get("/readyz") {
			if time.Now().After(deadline) {
				t.Fatalf("/readyz %s: %d %s", what, code, body)
			}
			time.Sleep(time.Second)
		}
	}
	waitReady("before the fault")
	if _, m := get("/metrics"); !strings.Contains(m, "settle_ledger_ordering_up 1") || !strings.Contains(m, "settle_ledger_orderers_reachable 4") {
		t.Fatalf("metrics with every orderer up: %s", grepLines(m, "settle_ledger_order"))
	}

	t.Cleanup(func() { orderers(t, "up.sh") })
	orderers(t, "orderer-stop.sh", "1", "2")
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "ordering: ") || !strings.Contains(body, "2 of 4 orderers reachable, 3 needed") || !strings.Contains(body, "database: ok") {
		t.Fatalf("/readyz with two orderers down: %d %s", code, body)
	}
	if _, m := get("/metrics"); !strings.Contains(m, "settle_ledger_ordering_up 0") || !strings.Contains(m, "settle_ledger_orderers_reachable 2") {
		t.Fatalf("metrics with two orderers down: %s", grepLines(m, "settle_ledger_order"))
	}
	out, errs, rc := s.settle("cycle", "run", "--date", date)
	if rc == 0 || !strings.Contains(errs, "ledger unavailable") || s.stage(date) == "REPORTED" {
		t.Fatalf("cycle run with two orderers down: exit %d, stage %s\n%s\n%s", rc, s.stage(date), out, lastLines(errs, 5))
	}
	t.Logf("two orderers down: the cycle stopped at %s: %s", s.stage(date), lastLines(errs, 1))

	orderers(t, "orderer-start.sh", "1", "2")
	back := time.Now()
	waitReady("after the orderers came back")
	deadline := time.Now().Add(3 * time.Minute)
	for st := s.stage(date); st != "REPORTED"; st = s.stage(date) {
		if time.Now().After(deadline) {
			t.Fatalf("the cycle stayed at %s after the orderers came back", st)
		}
		time.Sleep(time.Second)
	}
	t.Logf("the cycle finished by itself %s after the orderers came back", time.Since(back).Round(time.Second))
	v.settledEventSeen(date)
	if out := s.must("recon", "run", "--date", date); !strings.Contains(out, "30 matched, 0 breaks") {
		t.Fatalf("reconciliation: %s", out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

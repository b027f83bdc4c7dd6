// Package e2e runs the settle binary against the real services, started by
// the project's own scripts: a Postgres database, a native Fabric network
// of three banks, the SFTP server driven by OpenSSH's sftp client. It is
// the acceptance tier: no stand-in for any component.
package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/formats/gen"
	"settle/settlement"
)

var (
	root       string // the repository
	bin        string // the settle binary under test
	network    string // network.json of the test's Fabric network
	fabricBase string // its base port, chosen by up.sh in this checkout's e2e block
)

const (
	// portBlock is this package's block of the checkout's ports
	// (ops/ports.sh): apart from the other packages' networks, a demo's
	// and another checkout's.
	portBlock = "e2e"
	banksN    = 3
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// suiteClock is when the suite runs, for every process it starts: the
// tests choose their days from it (businessDay), so no test depends on the
// machine's date or time of day. A Tuesday morning in Seoul, before the
// cut-off. Tests that need another time set their own (sys.env).
const suiteClock = "2026-03-03T01:00:00Z"

func run(m *testing.M) int {
	flag.Parse()
	os.Setenv("SETTLE_CLOCK", suiteClock+"@"+time.Now().UTC().Format(time.RFC3339Nano))
	_, here, _, _ := runtime.Caller(0)
	root = filepath.Dir(filepath.Dir(here))
	if testing.Short() || os.Getenv("SETTLE_E2E") == "skip" {
		fmt.Println("e2e: skipped (-short)")
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "settle-e2e-")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bin = filepath.Join(tmp, "settle")
	build := exec.Command("go", "build", "-o", bin, "./cmd/settle")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("e2e: build: %v\n%s", err, out)
		return 1
	}
	netDir := filepath.Join(root, "ops", "fabric", ".network-e2e")
	// The caller's FABRIC_BASE_PORT is for the network a script starts on its own.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FABRIC_BASE_PORT=") {
			env = append(env, kv)
		}
	}
	env = append(env, "FABRIC_BANKS="+fmt.Sprint(banksN), "FABRIC_PORT_BLOCK="+portBlock, "FABRIC_NETWORK_DIR="+netDir)
	up := exec.Command(filepath.Join(root, "ops", "fabric", "up.sh"))
	up.Env, up.Stdout, up.Stderr = env, os.Stderr, os.Stderr
	down := func() {
		d := exec.Command(filepath.Join(root, "ops", "fabric", "down.sh"), "--clean")
		d.Env, d.Stdout, d.Stderr = env, os.Stderr, os.Stderr
		d.Run()
	}
	down() // a network left by an interrupted run
	if err := up.Run(); err != nil {
		fmt.Printf("e2e: the Fabric network did not start: %v\n", err)
		down()
		return 1
	}
	if os.Getenv("SETTLE_KEEP") != "" {
		defer fmt.Printf("e2e: SETTLE_KEEP: network kept; stop it with FABRIC_NETWORK_DIR=%s %s --clean\n", netDir, filepath.Join(root, "ops", "fabric", "down.sh"))
	} else {
		defer down()
	}
	network = filepath.Join(netDir, "network.json")
	var desc struct {
		BasePort int `json:"basePort"`
	}
	if b, err := os.ReadFile(network); err != nil || json.Unmarshal(b, &desc) != nil || desc.BasePort == 0 {
		fmt.Printf("e2e: no basePort in %s: %v\n", network, err)
		return 1
	}
	fabricBase = fmt.Sprint(desc.BasePort)
	return m.Run()
}

// sys is one installation of settle for a test: its database, state and
// config, its banks with signing and SSH keys.
type sys struct {
	t      *testing.T
	dir    string
	config string
	db     *sql.DB
	banks  []gen.Bank
	day    *gen.Written
	// env is added to every process of the test (a clock of its own).
	env []string
	// keyLabel is the label of this test's bank keys (unique on the ledger).
	keyLabel string
}

// businessDay is the n-th business day from the suite clock's today in
// the scheme's zone (0: today, or the next one if today does not settle). The tests share
// one ledger, and a cycle id is recorded once for all time on it (another
// content under the same chunk is refused), so each test takes its own day.
func businessDay(t *testing.T, n int) string {
	if testing.Short() {
		t.Skip("e2e needs the real services")
	}
	out, err := exec.Command(bin, "cycle", "days", "--count", fmt.Sprint(n+1)).Output()
	if err != nil {
		t.Fatal(err)
	}
	days := strings.Fields(string(out))
	return days[n]
}

func newSys(t *testing.T, payments int, date string, with ...func(*gen.Config)) *sys {
	if testing.Short() {
		t.Skip("e2e needs the real services")
	}
	s := &sys{t: t, dir: t.TempDir()}
	dsn := pgtest.NewDB(t)
	db, err := postgres.OpenDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.db = db
	s.config = filepath.Join(s.dir, "settle.yaml")
	os.WriteFile(s.config, []byte(fmt.Sprintf(`zone: Asia/Seoul
database: %q
state_dir: %q
instance: e2e
intake: {poll: 500ms, cutoff: "23:59"}
schedule: {cycle: "0 3 1 1 *", resume: 10m}
ledger: {network: %q, org: 1, chunk_size: 50, workers: 4}
sftp: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
`, dsn, filepath.Join(s.dir, "state"), network)), 0o600)
	s.must("migrate", "up")
	// Each bank's day in files the governed ledger takes (a file's
	// verifying transaction must fit the BFT orderers' 512,000 bytes).
	cfg := gen.Config{Banks: banksN, Payments: payments, Date: settlement.Date(date), Seed: 11, FilePaymentsMax: 250}
	for _, w := range with {
		w(&cfg)
	}
	s.day, err = gen.Day(cfg, filepath.Join(s.dir, "day"))
	if err != nil {
		t.Fatal(err)
	}
	s.banks = s.day.Banks
	// The tests share one founded ledger, where a key label is a bank's
	// for all time: each test's keys get a label of their own.
	s.keyLabel = fmt.Sprintf("k-%016x", rand.Uint64())
	for i, b := range s.banks {
		s.must("bank", "add", string(b.BIC), "--name", "Bank "+fmt.Sprint(i+1), "--msp", fmt.Sprintf("Bank%dMSP", i+1))
		s.must("bank", "key", "add", string(b.BIC), "--label", s.keyLabel, "--pem", filepath.Join(s.day.KeysDir, string(b.BIC)+".pem"))
	}
	caps, _ := os.ReadFile(s.day.Caps)
	for _, line := range strings.Split(strings.TrimSpace(string(caps)), "\n")[1:] {
		f := strings.Split(line, ",")
		s.setCap(f[0], f[1], f[2])
	}
	s.joinLedger()
	return s
}

// The suite's ledger is founded once, by the first test that needs it.
var (
	foundMu sync.Mutex
	founded bool
)

var foundingRe = regexp.MustCompile(`founding ([0-9a-f]{32}) proposed`)

// joinLedger puts this test's banks on the governed ledger, each step as
// one party: the first test's operator admin proposes the founding and each
// bank's admin approves it; then each bank's admin registers this test's key
// of that bank, and the operator sets the caps.
func (s *sys) joinLedger() {
	s.t.Helper()
	foundMu.Lock()
	defer foundMu.Unlock()
	if !founded {
		out := s.must("ledger", "found", "--config", s.config)
		if m := foundingRe.FindStringSubmatch(out); m != nil {
			for _, b := range s.banks {
				s.must("ledger", "approve-founding", m[1], "--bank", string(b.BIC), "--config", s.config)
			}
		} else if !strings.Contains(out, "founded already") {
			s.t.Fatalf("ledger found: %s", out)
		}
		founded = true
	}
	for _, b := range s.banks {
		s.must("ledger", "register-keys", "--bank", string(b.BIC), "--config", s.config)
	}
	s.must("ledger", "register-banks", "--from-store", "--config", s.config)
}

// settle runs the binary with the test's config.
func (s *sys) settle(args ...string) (string, string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	needsConfig := map[string]bool{"ops": true, "cycle": true, "intake": true, "recon": true, "breaks": true, "audit": true, "serve": true}
	if needsConfig[args[0]] && !contains(args, "--config") {
		args = append(args, "--config", s.config)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), "DATABASE_URL="+s.dsn()), s.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("settle %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (s *sys) must(args ...string) string {
	s.t.Helper()
	out, errs, code := s.settle(args...)
	if code != 0 {
		s.t.Fatalf("settle %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, lastLines(errs, 30))
	}
	return out
}

func (s *sys) dsn() string {
	b, _ := os.ReadFile(s.config)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "database: ") {
			var v string
			json.Unmarshal([]byte(strings.TrimPrefix(l, "database: ")), &v)
			return v
		}
	}
	return ""
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func (s *sys) stage(date string) string {
	var st string
	s.db.QueryRow(`SELECT state FROM cycles WHERE business_date = $1`, date).Scan(&st)
	return st
}

// TestNightlyCycleSurvivesKills runs a cycle with `settle cycle run`,
// killing the process with SIGKILL at random moments and starting it
// again, until a run completes; then reconciliation finds nothing and the
// auditor's re-verification from the archived files agrees with Postgres
// and the ledger: no payment lost, none recorded twice.
func TestNightlyCycleSurvivesKills(t *testing.T) {
	date := businessDay(t, 0)
	s := newSys(t, 3000, date)
	// The files reach the inbox as the SFTP server stores them (the
	// OpenSSH path has its own tests); the intake takes them.
	inbox := filepath.Join(s.dir, "state", "sftp", "banks")
	for _, f := range s.day.Files {
		bic := strings.SplitN(filepath.Base(f), "_", 2)[0]
		dst := filepath.Join(inbox, bic, "inbox")
		os.MkdirAll(dst, 0o750)
		for _, src := range []string{f, f + ".sig"} {
			b, _ := os.ReadFile(src)
			os.WriteFile(filepath.Join(dst, filepath.Base(src)), b, 0o640)
		}
	}
	out := s.must("intake", "run")
	if !strings.Contains(out, fmt.Sprintf("accepted %d", len(s.day.Files))) {
		t.Fatalf("intake: %s", out)
	}
	kills := map[string]int{}
	r := rand.New(rand.NewPCG(1, 2))
	killed := 0
	for attempt := 0; attempt < 40; attempt++ {
		cmd := exec.Command(bin, "cycle", "run", "--date", date, "--config", s.config)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("cycle run failed on its own (not killed): %v\n%s", err, lastLines(errb.String(), 20))
			}
			t.Logf("completed after %d kills, landing in stages %v", attempt, kills)
			goto finished
		case <-time.After(time.Duration(150*(attempt+1)+r.IntN(300)) * time.Millisecond):
			// Killed later each time: each restart resumes further along.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			kills[s.stage(date)]++
			killed++
		}
	}
	t.Fatal("the cycle did not complete in 40 runs")
finished:
	if st := s.stage(date); st != "REPORTED" {
		t.Fatalf("stage %s", st)
	}
	if killed < 3 {
		t.Fatalf("only %d kills (%v): the test did not exercise restarts", killed, kills)
	}
	out = s.must("recon", "run", "--date", date)
	if !strings.Contains(out, "3000 in Postgres, 3000 on the ledger, 3000 matched, 0 breaks") {
		t.Fatalf("reconciliation: %s", out)
	}
	out = s.must("audit", "verify", "--date", date)
	if !strings.Contains(out, "agree") {
		t.Fatalf("audit verify: %s", out)
	}
	// What an operator sees: the stages, each once, and no open break.
	var status struct {
		Cycle struct {
			Stage   string
			Entries int64
		} `json:"cycle"`
		Stages []struct{ To string } `json:"stages"`
	}
	if err := json.Unmarshal([]byte(s.must("cycle", "status", "--date", date, "--json")), &status); err != nil {
		t.Fatal(err)
	}
	if status.Cycle.Stage != "REPORTED" || status.Cycle.Entries != 3000 || len(status.Stages) != 6 {
		t.Fatalf("cycle status: %+v", status)
	}
	if out := s.must("breaks", "list", "--date", date, "--format", "csv"); strings.Count(out, "\n") != 1 {
		t.Fatalf("breaks after a clean resume: %s", out)
	}
	var dup int
	s.db.QueryRow(`SELECT count(*) - count(DISTINCT chunk_id) FROM ledger_txs`).Scan(&dup)
	if dup != 0 {
		t.Fatalf("%d chunks recorded twice in Postgres", dup)
	}
}

func settleBIC(s string) settlement.BIC { return settlement.BIC(s) }

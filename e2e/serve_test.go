package e2e

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// served is a running `settle serve` with the banks' OpenSSH logins.
type served struct {
	t        *testing.T
	s        *sys
	port     string            // the SFTP server's
	http     string            // host:port of /healthz /readyz /metrics
	keys     map[string]string // bank -> ssh key file
	kh       string            // known_hosts
	mu       sync.Mutex
	logLines []map[string]any
}

// startServe gives each bank, and each participant of others (the
// settlement agent), an SSH login, starts `settle serve` on s's
// configuration, and waits for its SFTP and HTTP listeners.
func startServe(t *testing.T, s *sys, others ...string) *served {
	v := &served{t: t, s: s, keys: map[string]string{}}
	var users []map[string]any
	logins := append([]string{}, others...)
	for _, b := range s.banks {
		logins = append(logins, string(b.BIC))
	}
	for _, bic := range logins {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, _ := ssh.MarshalPrivateKey(priv, bic)
		kf := filepath.Join(s.dir, bic+".ssh")
		os.WriteFile(kf, pem.EncodeToMemory(block), 0o600)
		signer, _ := ssh.NewSignerFromKey(priv)
		v.keys[bic] = kf
		users = append(users, map[string]any{"bic": bic, "authorized_keys": []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))}})
	}
	ub, _ := json.Marshal(users)
	banksFile := filepath.Join(s.dir, "sftp-banks.json")
	os.WriteFile(banksFile, ub, 0o600)
	cfg, _ := os.ReadFile(s.config)
	cfg = []byte(strings.Replace(string(cfg), `sftp: {listen: "127.0.0.1:0"}`, fmt.Sprintf(`sftp: {listen: "127.0.0.1:0", banks: %q}`, banksFile), 1))
	os.WriteFile(s.config, cfg, 0o600)

	serve := exec.Command(bin, "serve", "--config", s.config)
	serve.Env = append(append(os.Environ(), "DATABASE_URL="+s.dsn()), s.env...)
	stderr, _ := serve.StderrPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	// Stopped however the test ends: SIGTERM, then SIGKILL after a bound.
	exited := make(chan struct{}) // closed once the process is gone
	var exitErr error
	t.Cleanup(func() {
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			serve.Process.Kill()
			<-exited
		}
	})
	sftpAddr, httpAddr := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch line["msg"] {
			case "sftp listening":
				sftpAddr <- fmt.Sprint(line["addr"])
			case "http listening":
				httpAddr <- fmt.Sprint(line["addr"])
			}
			v.mu.Lock()
			v.logLines = append(v.logLines, line)
			v.mu.Unlock()
		}
		exitErr = serve.Wait()
		close(exited)
	}()
	for _, a := range []struct {
		ch  chan string
		out *string
	}{{sftpAddr, &v.port}, {httpAddr, &v.http}} {
		select {
		case addr := <-a.ch:
			*a.out = addr
		case <-exited:
			t.Fatalf("settle serve exited before listening: %v", exitErr)
		case <-time.After(60 * time.Second):
			t.Fatal("settle serve did not start its listeners")
		}
	}
	_, v.port, _ = strings.Cut(v.port, ":")
	hostKey := filepath.Join(s.dir, "state", "sftp", "state", "ssh_host_ed25519_key")
	pub, err := exec.Command("ssh-keygen", "-y", "-f", hostKey).Output()
	if err != nil {
		t.Fatal(err)
	}
	v.kh = filepath.Join(s.dir, "known_hosts")
	os.WriteFile(v.kh, []byte(fmt.Sprintf("[127.0.0.1]:%s %s", v.port, pub)), 0o600)
	return v
}

// sftp runs an OpenSSH sftp batch as bank bic.
func (v *served) sftp(bic, batch string) error {
	bf := filepath.Join(v.s.dir, bic+".batch")
	os.WriteFile(bf, []byte(batch), 0o600)
	out, err := exec.Command("/usr/bin/sftp", "-F", "/dev/null", "-b", bf, "-i", v.keys[bic], "-P", v.port,
		"-o", "UserKnownHostsFile="+v.kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		bic+"@127.0.0.1").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// count is how many of the service's log lines match.
func (v *served) count(match func(map[string]any) bool) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, l := range v.logLines {
		if match(l) {
			n++
		}
	}
	return n
}

// uploadDay uploads the day's files with OpenSSH and waits for each
// acknowledgement, which must be ACCEPTED.
func (v *served) uploadDay() {
	t, s := v.t, v.s
	for _, f := range s.day.Files {
		bic := strings.SplitN(filepath.Base(f), "_", 2)[0]
		name := filepath.Base(f)
		if err := v.sftp(bic, fmt.Sprintf("put %s inbox/%s\nput %s.sig inbox/%s.sig\n", f, name, f, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range s.day.Files {
		bic := strings.SplitN(filepath.Base(f), "_", 2)[0]
		name := filepath.Base(f)
		local := filepath.Join(s.dir, name+".ack.json")
		deadline := time.Now().Add(30 * time.Second)
		for v.sftp(bic, fmt.Sprintf("get outbox/%s.ack.json %s\n", name, local)) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("no acknowledgement for %s within 30 s", name)
			}
			time.Sleep(300 * time.Millisecond)
		}
		b, _ := os.ReadFile(local)
		if !strings.Contains(string(b), `"status": "ACCEPTED"`) {
			t.Fatalf("ack %s: %s", name, b)
		}
	}
}

// settledEventSeen waits until the service has recorded the ledger's
// CycleSettled event of the cycle of date, with its checkpoint.
func (v *served) settledEventSeen(date string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		v.s.db.QueryRow(`SELECT count(*) FROM ledger_events WHERE cycle = $1 AND name = 'CycleSettled'`, "C"+date).Scan(&n)
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("the service recorded %d CycleSettled events for C%s", n, date)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestServeTakesUploadsFromOpenSSH: `settle serve` runs the SFTP server and
// the intake; banks upload with OpenSSH's sftp and find their
// acknowledgement in their outbox within seconds; the cycle then runs
// against the service's state and settles on the ledger.
func TestServeTakesUploadsFromOpenSSH(t *testing.T) {
	date := businessDay(t, 1)
	s := newSys(t, 300, date)
	v := startServe(t, s)
	isMsg := func(msg string, also func(map[string]any) bool) func(map[string]any) bool {
		return func(l map[string]any) bool { return l["msg"] == msg && (also == nil || also(l)) }
	}
	counts := func() (int, int) {
		return v.count(isMsg("cycle held for the operator", nil)),
			v.count(isMsg("cycle step failed", func(l map[string]any) bool { return l["to"] == "NETTED" }))
	}
	start := time.Now()
	v.uploadDay()
	t.Logf("3 files uploaded with OpenSSH and acknowledged in %s", time.Since(start).Round(time.Millisecond))

	// Every bank's caps at zero: the cycle cannot net. The service's
	// handler of the frozen event holds the cycle for the operator once,
	// without retrying it into the poison queue.
	caps, _ := os.ReadFile(s.day.Caps)
	capLines := strings.Split(strings.TrimSpace(string(caps)), "\n")[1:]
	for _, line := range capLines {
		f := strings.Split(line, ",")
		s.setCap(f[0], f[1], "0")
	}
	if _, errs, code := s.settle("cycle", "run", "--date", date); code == 0 || !strings.Contains(errs, "net debit cap exceeded") {
		t.Fatalf("cycle over zero caps: exit %d\n%s", code, lastLines(errs, 10))
	}
	deadline := time.Now().Add(30 * time.Second)
	for h, _ := counts(); h == 0; h, _ = counts() {
		if time.Now().After(deadline) {
			t.Fatal("the service did not hold the over-cap cycle for the operator")
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, before := counts()
	time.Sleep(3 * time.Second) // the broker's first retry would come after 0.5 s
	if h, after := counts(); h != 1 || after != before {
		t.Fatalf("held %d times, %d failed nettings then %d: the held event was retried", h, before, after)
	}
	if st := s.stage(date); st != "FROZEN" {
		t.Fatalf("held cycle at %s, want FROZEN", st)
	}
	if out := s.must("ops", "poison-list"); strings.Count(out, "\n") != 1 {
		t.Fatalf("poison queue: %s", out)
	}
	// The banks fund; the operator restores the caps and runs the cycle.
	for _, line := range capLines {
		f := strings.Split(line, ",")
		s.setCap(f[0], f[1], f[2])
	}
	s.must("cycle", "run", "--date", date)
	out := s.must("recon", "run", "--date", date)
	if !strings.Contains(out, "300 matched, 0 breaks") {
		t.Fatalf("reconciliation: %s", out)
	}
	// The running service heard the ledger's own CycleSettled event and
	// kept it, with its checkpoint, in Postgres.
	v.settledEventSeen(date)
}

// TestServeStartsWithTheLedgerDown: the Fabric network cannot be reached
// when `settle serve` starts (its configured network file points at ports
// nothing listens on). The service starts all the same, banks upload and
// get their acknowledgements, and /readyz says the ledger is down. The
// night's cycle freezes and nets, and stops before the ledger. Once the
// network is reachable (the file points at the running network again),
// the service connects by itself and carries the cycle to its end with
// nobody running anything: /readyz turns ready, the cycle is reported
// and the ledger's event of it reaches the service.
func TestServeStartsWithTheLedgerDown(t *testing.T) {
	date := businessDay(t, 7)
	s := newSys(t, 30, date)
	real, err := os.ReadFile(network)
	if err != nil {
		t.Fatal(err)
	}
	// Every address of the network on a port nothing listens on.
	down := strings.ReplaceAll(string(real), "127.0.0.1:"+fabricBase[:2], "127.0.0.1:"+fmt.Sprint(atoi(t, fabricBase[:2])+10))
	if down == string(real) {
		t.Fatalf("no address to move in %s", network)
	}
	netFile := filepath.Join(s.dir, "network.json")
	os.WriteFile(netFile, []byte(down), 0o600)
	cfg, _ := os.ReadFile(s.config)
	cfg = []byte(strings.Replace(string(cfg), fmt.Sprintf("%q", network), fmt.Sprintf("%q", netFile), 1))
	// This test's day is further ahead than the default 7 days (the days
	// before it are the other tests', on the same ledger).
	cfg = []byte(strings.Replace(string(cfg), `cutoff: "23:59"}`, `cutoff: "23:59", ahead_max_days: 31}`, 1))
	cfg = []byte(strings.Replace(string(cfg), `resume: 10m}`, `resume: 2s}`, 1))
	os.WriteFile(s.config, cfg, 0o600)

	v := startServe(t, s)
	v.uploadDay()
	ready := func() (int, string) {
		resp, err := http.Get("http://" + v.http + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "ledger: ") || !strings.Contains(body, "database: ok") {
		t.Fatalf("/readyz with the ledger down: %d %s", code, body)
	}

	out, errs, code := s.settle("cycle", "run", "--date", date)
	if code == 0 || !strings.Contains(errs, "ledger unavailable") || s.stage(date) != "NETTED" {
		t.Fatalf("cycle run with the ledger down: exit %d, stage %s\n%s\n%s", code, s.stage(date), out, lastLines(errs, 5))
	}

	os.WriteFile(netFile, real, 0o600)
	deadline := time.Now().Add(90 * time.Second)
	for code, body := ready(); code != http.StatusOK; code, body = ready() {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after the network came back: %d %s", code, body)
		}
		time.Sleep(time.Second)
	}
	for st := s.stage(date); st != "REPORTED"; st = s.stage(date) {
		if time.Now().After(deadline) {
			t.Fatalf("the cycle stayed at %s after the ledger came back", st)
		}
		time.Sleep(time.Second)
	}
	v.settledEventSeen(date)
	resumed := v.count(func(l map[string]any) bool { return l["msg"] == "cycle resumed to its end" })
	t.Logf("the cycle finished by itself (by the resume pass: %v)", resumed > 0)
	if out := s.must("recon", "run", "--date", date); !strings.Contains(out, "30 matched, 0 breaks") {
		t.Fatalf("reconciliation: %s", out)
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

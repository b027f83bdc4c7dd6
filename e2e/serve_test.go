package e2e

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestServeTakesUploadsFromOpenSSH: `settle serve` runs the SFTP server and
// the intake; banks upload with OpenSSH's sftp and find their
// acknowledgement in their outbox within seconds; the cycle then runs
// against the service's state and settles on the ledger.
func TestServeTakesUploadsFromOpenSSH(t *testing.T) {
	date := businessDay(t, 1)
	s := newSys(t, 300, date)
	// SSH logins for the banks.
	var users []map[string]any
	keys := map[string]string{}
	for _, b := range s.banks {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, _ := ssh.MarshalPrivateKey(priv, string(b.BIC))
		kf := filepath.Join(s.dir, string(b.BIC)+".ssh")
		os.WriteFile(kf, pem.EncodeToMemory(block), 0o600)
		signer, _ := ssh.NewSignerFromKey(priv)
		keys[string(b.BIC)] = kf
		users = append(users, map[string]any{"bic": string(b.BIC), "authorized_keys": []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))}})
	}
	ub, _ := json.Marshal(users)
	banksFile := filepath.Join(s.dir, "sftp-banks.json")
	os.WriteFile(banksFile, ub, 0o600)
	cfg, _ := os.ReadFile(s.config)
	cfg = []byte(strings.Replace(string(cfg), `sftp: {listen: "127.0.0.1:0"}`, fmt.Sprintf(`sftp: {listen: "127.0.0.1:0", banks: %q}`, banksFile), 1))
	os.WriteFile(s.config, cfg, 0o600)

	serve := exec.Command(bin, "serve", "--config", s.config)
	serve.Env = append(os.Environ(), "DATABASE_URL="+s.dsn())
	stderr, _ := serve.StderrPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	// Stopped however the test ends: SIGTERM, then SIGKILL after a bound.
	exited := make(chan error, 1)
	stop := func() {
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			serve.Process.Kill()
			<-exited
		}
	}
	addrs := make(chan string, 1)
	var mu sync.Mutex
	var held, netFailures int // the service's holds, and its failed attempts at netting
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			msg := fmt.Sprint(line["msg"])
			mu.Lock()
			switch {
			case msg == "sftp listening":
				addrs <- fmt.Sprint(line["addr"])
			case msg == "cycle held for the operator":
				held++
			case msg == "cycle step failed" && line["to"] == "NETTED":
				netFailures++
			}
			mu.Unlock()
		}
		exited <- serve.Wait()
	}()
	counts := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return held, netFailures
	}
	t.Cleanup(stop)
	var addr string
	select {
	case addr = <-addrs:
	case <-time.After(60 * time.Second):
		t.Fatal("settle serve did not start its SFTP server")
	}
	_, port, _ := strings.Cut(addr, ":")
	hostKey := filepath.Join(s.dir, "state", "sftp", "state", "ssh_host_ed25519_key")
	pub, err := exec.Command("ssh-keygen", "-y", "-f", hostKey).Output()
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(s.dir, "known_hosts")
	os.WriteFile(kh, []byte(fmt.Sprintf("[127.0.0.1]:%s %s", port, pub)), 0o600)
	sftpRun := func(bic, batch string) error {
		bf := filepath.Join(s.dir, bic+".batch")
		os.WriteFile(bf, []byte(batch), 0o600)
		out, err := exec.Command("/usr/bin/sftp", "-F", "/dev/null", "-b", bf, "-i", keys[bic], "-P", port,
			"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
			bic+"@127.0.0.1").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	start := time.Now()
	for _, f := range s.day.Files {
		bic := strings.SplitN(filepath.Base(f), "_", 2)[0]
		name := filepath.Base(f)
		if err := sftpRun(bic, fmt.Sprintf("put %s inbox/%s\nput %s.sig inbox/%s.sig\n", f, name, f, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range s.day.Files {
		bic := strings.SplitN(filepath.Base(f), "_", 2)[0]
		name := filepath.Base(f)
		local := filepath.Join(s.dir, name+".ack.json")
		deadline := time.Now().Add(30 * time.Second)
		for sftpRun(bic, fmt.Sprintf("get outbox/%s.ack.json %s\n", name, local)) != nil {
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
	t.Logf("3 files uploaded with OpenSSH and acknowledged in %s", time.Since(start).Round(time.Millisecond))

	// Every bank's caps at zero: the cycle cannot net. The service's
	// handler of the frozen event holds the cycle for the operator once,
	// without retrying it into the poison queue.
	caps, _ := os.ReadFile(s.day.Caps)
	capLines := strings.Split(strings.TrimSpace(string(caps)), "\n")[1:]
	for _, line := range capLines {
		f := strings.Split(line, ",")
		s.must("bank", "cap", "set", f[0], f[1], "0")
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
		s.must("bank", "cap", "set", f[0], f[1], f[2])
	}
	s.must("cycle", "run", "--date", date)
	out := s.must("recon", "run", "--date", date)
	if !strings.Contains(out, "300 matched, 0 breaks") {
		t.Fatalf("reconciliation: %s", out)
	}
	// The running service heard the ledger's own CycleSettled event and
	// kept it, with its checkpoint, in Postgres.
	deadline = time.Now().Add(30 * time.Second)
	for {
		var n int
		s.db.QueryRow(`SELECT count(*) FROM ledger_events WHERE cycle = $1 AND name = 'CycleSettled'`, "C"+date).Scan(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service recorded %d CycleSettled events for C%s", n, date)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"settle/formats/gen"
)

// TestRemoteBankPulledAndAnswered: one bank keeps its files on its own
// SFTP server (here `settle sftpd` started as that bank's server, with a
// collector login for the settlement system). `settle intake run` takes its
// file from there beside another bank's file on the built-in server; each
// bank's acknowledgement, and later its positions report, lands on its
// own side; a second intake takes nothing again.
func TestRemoteBankPulledAndAnswered(t *testing.T) {
	day := businessDay(t, 6)
	s := newSys(t, 3, day)
	b0, b1 := s.banks[0], s.banks[1]

	// The bank's own server, with a login for the settlement system.
	bankRoot := filepath.Join(s.dir, "bank-server")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	block, err := ssh.MarshalPrivateKey(priv, "collector")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(s.dir, "collector_key")
	os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
	users, _ := json.Marshal([]map[string]any{{"bic": string(b0.BIC), "login": "collector", "role": "collector",
		"authorized_keys": []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))}}})
	usersFile := filepath.Join(s.dir, "bank-users.json")
	os.WriteFile(usersFile, users, 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	srv := exec.CommandContext(ctx, bin, "sftpd", "--root", bankRoot, "--banks", usersFile, "--listen", "127.0.0.1:0")
	stdout, _ := srv.StdoutPipe()
	var srvLog bytes.Buffer
	srv.Stderr = &srvLog
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bank server log:\n%s", lastLines(srvLog.String(), 40))
		}
	})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); srv.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, _, ok := strings.Cut(strings.TrimPrefix(line, "listening on "), ",")
	if err != nil || !ok {
		t.Fatalf("bank server: %q %v", line, err)
	}
	hk, err := os.ReadFile(filepath.Join(bankRoot, "state", "ssh_host_ed25519_key"))
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.ParsePrivateKey(hk)
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(s.dir, "bank_known_hosts")
	os.WriteFile(knownHosts, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostSigner.PublicKey())+"\n"), 0o600)
	cfg, _ := os.ReadFile(s.config)
	// This test's day is further ahead than the default 7 days (the days
	// before it belong to other tests: cycle ids are global on the ledger).
	cfg = []byte(strings.Replace(string(cfg), `cutoff: "23:59"}`, `cutoff: "23:59", ahead_max_days: 31}`, 1))
	cfg = append(cfg, fmt.Sprintf("remote_banks:\n  - {bank: %s, addr: %q, user: collector, key: %q, known_hosts: %q}\n",
		b0.BIC, addr, keyFile, knownHosts)...)
	os.WriteFile(s.config, cfg, 0o600)

	// Bank 0 puts its file on its own server; bank 1 uploads to ours.
	body := fmt.Sprintf("H,RM-%s,%s,%s,%sT09:00:00+09:00\nP,RM0-%s,%s,%s,700,KRW\nT,1,700\n", day, b0.BIC, day, day, day, b0.BIC, b1.BIC)
	remoteInbox := filepath.Join(bankRoot, "banks", string(b0.BIC), "inbox")
	os.MkdirAll(remoteInbox, 0o750)
	sig, _ := gen.Sign(b0.Private, []byte(body))
	os.WriteFile(filepath.Join(remoteInbox, "rm.csv"), []byte(body), 0o640)
	os.WriteFile(filepath.Join(remoteInbox, "rm.csv.sig"), sig, 0o640)
	s.drop(b1, "lc.csv", []byte(fmt.Sprintf("H,LC-%s,%s,%s,%sT09:00:00+09:00\nP,LC1-%s,%s,%s,200,KRW\nT,1,200\n", day, b1.BIC, day, day, day, b1.BIC, b0.BIC)))

	if out := s.must("intake", "run"); !strings.Contains(out, "accepted 2") {
		t.Fatalf("intake: %s", out)
	}
	remoteOutbox := filepath.Join(bankRoot, "banks", string(b0.BIC), "outbox")
	localOutbox := filepath.Join(s.dir, "state", "sftp", "banks", string(b1.BIC), "outbox")
	for _, p := range []string{filepath.Join(remoteOutbox, "rm.csv.ack.json"), filepath.Join(localOutbox, "lc.csv.ack.json")} {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), `"ACCEPTED"`) {
			t.Fatalf("ack %s: %s %v", p, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.dir, "state", "sftp", "banks", string(b0.BIC), "outbox", "rm.csv.ack.json")); err == nil {
		t.Fatal("the remote bank's ack was written on the built-in server")
	}
	if out := s.must("intake", "run"); strings.Contains(out, "accepted 1") || strings.Contains(out, "accepted 2") {
		t.Fatalf("second intake took files again: %s", out)
	}
	s.must("cycle", "run", "--date", day)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(remoteOutbox, "positions-"+day+".json"))
		if err == nil && strings.Contains(string(b), "-500") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("positions report on the bank's server: %s %v", b, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(localOutbox, "positions-"+day+".json")); err != nil {
		t.Fatalf("bank 1's report on the built-in server: %v", err)
	}
}

package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"settle/adapters/postgres/pgtest"
)

// serveProc is a `settle serve` of the binary, its JSON log collected.
type serveProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []map[string]any
	sftp   string
	exited chan error
}

func (p *serveProc) logged(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// index is the position of the first line with msg (and stage, if not
// ""), or -1.
func (p *serveProc) index(msg, stage string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, l := range p.lines {
		if l["msg"] == msg && (stage == "" || l["stage"] == stage) {
			return i
		}
	}
	return -1
}

func startServeProc(t *testing.T, config, dsn string) *serveProc {
	t.Helper()
	p := &serveProc{cmd: exec.Command(bin, "serve", "--config", config), exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				l = map[string]any{"msg": "raw", "text": sc.Text()}
			}
			if l["msg"] == "sftp listening" {
				listening <- fmt.Sprint(l["addr"])
			}
			p.mu.Lock()
			p.lines = append(p.lines, l)
			p.mu.Unlock()
		}
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
		}
	})
	select {
	case p.sftp = <-listening:
	case err := <-p.exited:
		t.Fatalf("settle serve exited before listening: %v\n%v", err, p.logged("raw"))
	case <-time.After(60 * time.Second):
		t.Fatal("settle serve did not start")
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("settle serve after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("settle serve still running 60 s after SIGTERM")
	}
}

// TestServeSIGTERMDuringIntake: SIGTERM while the intake is taking a batch
// of uploads stops settle serve cleanly and in order (SFTP first, then the
// intake and the cycle work, then HTTP, then the database), and a restart
// acknowledges every file exactly once (issue 12, also-fix list).
func TestServeSIGTERMDuringIntake(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and OpenSSH")
	}
	dsn := pgtest.NewDB(t)
	if r := func() run {
		cmd := exec.Command(bin, "migrate", "up")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("migrate: %v\n%s", err, out)
		}
		return run{}
	}(); r.code != 0 {
		t.Fatal(r)
	}
	dir := t.TempDir()
	const bic = "SHBKKRSE"
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, bic)
	keyFile := filepath.Join(dir, "bank.ssh")
	os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
	signer, _ := ssh.NewSignerFromKey(priv)
	banks, _ := json.Marshal([]map[string]any{{"bic": bic, "authorized_keys": []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))}}})
	write(t, dir, "banks.json", string(banks))
	// A ledger that is not there: serve starts without it (lazy).
	write(t, dir, "network.json", `{"channel":"settle","chaincode":"netting","orderer":{"address":"127.0.0.1:1"},"banks":[{"index":1,"mspId":"Bank1MSP","peer":{"address":"127.0.0.1:1"}}]}`)
	config := write(t, dir, "settle.yaml", fmt.Sprintf(`state_dir: %q
sftp: {listen: "127.0.0.1:0", banks: %q}
http: {listen: "127.0.0.1:0"}
intake: {poll: 100ms}
schedule: {resume: 1h}
ledger: {network: %q}
`, filepath.Join(dir, "state"), filepath.Join(dir, "banks.json"), filepath.Join(dir, "network.json")))

	p := startServeProc(t, config, dsn)
	// Twenty pairs, uploaded in one OpenSSH session.
	const files = 20
	var batch strings.Builder
	for i := 0; i < files; i++ {
		name := fmt.Sprintf("F%02d.csv", i)
		local := write(t, dir, name, fmt.Sprintf("H,F-%02d,%s,2026-11-24,2026-11-24T09:00:00+09:00\nT,0,0\n", i, bic))
		write(t, dir, name+".sig", "c2ln\n")
		fmt.Fprintf(&batch, "put %s inbox/%s\nput %s.sig inbox/%s.sig\n", local, name, local, name)
	}
	_, port, _ := net.SplitHostPort(p.sftp)
	pub, err := exec.Command("ssh-keygen", "-y", "-f", filepath.Join(dir, "state", "sftp", "state", "ssh_host_ed25519_key")).Output()
	if err != nil {
		t.Fatal(err)
	}
	hk, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	kh := write(t, dir, "known_hosts", knownhosts.Line([]string{knownhosts.Normalize(p.sftp)}, hk)+"\n")
	bf := write(t, dir, "batch", batch.String())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "/usr/bin/sftp", "-F", "/dev/null", "-b", bf, "-i", keyFile, "-P", port,
		"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		bic+"@127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	outbox := filepath.Join(dir, "state", "sftp", "banks", bic, "outbox")
	acks := func() int {
		n := 0
		es, _ := os.ReadDir(outbox)
		for _, e := range es {
			if strings.HasSuffix(e.Name(), ".ack.json") {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for acks() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no acknowledgement within 60 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.stop(t) // the intake is at work on the batch
	t.Logf("%d of %d acknowledged before SIGTERM", acks(), files)
	order := []int{p.index("sftp server stopped", ""), p.index("shutdown: stage stopped", "sftp"),
		p.index("shutdown: stage stopped", "work"), p.index("shutdown: stage stopped", "http"), p.index("settle serve stopped", "")}
	for i, at := range order {
		if at < 0 || (i > 0 && at < order[i-1]) {
			t.Fatalf("shutdown out of order or incomplete (log positions %v)", order)
		}
	}

	p = startServeProc(t, config, dsn)
	deadline = time.Now().Add(60 * time.Second)
	for acks() < files {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged after the restart", acks(), files)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop(t)
	if got := acks(); got != files {
		t.Fatalf("%d acknowledgements for %d files", got, files)
	}
}

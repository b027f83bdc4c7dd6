package sftp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"settle/settlement"
)

const sftpClient = "/usr/bin/sftp"

// commandTimeout bounds one run of the OpenSSH client.
const commandTimeout = 60 * time.Second

// needOpenSSH skips under -short and fails (naming the Debian package)
// when the OpenSSH client is missing.
func needOpenSSH(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped under -short: starts SFTP servers and drives them with OpenSSH's sftp")
	}
	if _, err := os.Stat(sftpClient); err != nil {
		t.Fatalf("%s not found: install the Debian package openssh-client (apt-get install -y openssh-client): %v", sftpClient, err)
	}
}

// testKey is an ed25519 key pair with its private half on disk (0600) for
// the OpenSSH client.
type testKey struct {
	signer ssh.Signer
	pub    ssh.PublicKey
	file   string
}

func newKey(t testing.TB, dir, name string) testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer: s, pub: s.PublicKey(), file: file}
}

// logBuffer collects the server's slog output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type testServer struct {
	srv        *Server
	root       string
	addr       string
	port       string
	knownHosts string
	logs       *logBuffer
}

// startServer runs a server on a free port of 127.0.0.1 until the test ends.
func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("server did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, srv.HostKey())
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testServer{srv: srv, root: cfg.Root, addr: addr, port: port, knownHosts: kh, logs: logs}
}

func bankUser(bic string, keys ...testKey) User {
	u := User{Bank: settlement.MustBIC(bic)}
	for _, k := range keys {
		u.AuthorizedKeys = append(u.AuthorizedKeys, k.pub)
	}
	return u
}

// sftpCmd builds an OpenSSH sftp run in batch mode, as a bank's script
// would make it, in its own process group so that it and its ssh child
// can be stopped together.
func (ts *testServer) sftpCmd(ctx context.Context, t *testing.T, login string, key testKey, batch string, extra ...string) *exec.Cmd {
	t.Helper()
	bf := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(bf, []byte(batch), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-F", "/dev/null", "-b", bf, "-i", key.file, "-P", ts.port,
		"-o", "UserKnownHostsFile=" + ts.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-o", "ConnectTimeout=10"}
	args = append(args, extra...)
	args = append(args, login+"@127.0.0.1")
	cmd := exec.CommandContext(ctx, sftpClient, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// sftp runs one batch and returns its combined output and exit status.
func (ts *testServer) sftp(t *testing.T, login string, key testKey, batch string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := ts.sftpCmd(ctx, t, login, key, batch)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("sftp: %v\n%s", err, out)
	return "", -1
}

// mustSFTP runs a batch that must succeed.
func (ts *testServer) mustSFTP(t *testing.T, login string, key testKey, batch string) string {
	t.Helper()
	out, code := ts.sftp(t, login, key, batch)
	if code != 0 {
		t.Fatalf("sftp as %s exited %d:\n%s\nbatch:\n%s", login, code, out, batch)
	}
	return out
}

// refused runs one command that must fail.
func (ts *testServer) refused(t *testing.T, login string, key testKey, command string) string {
	t.Helper()
	out, code := ts.sftp(t, login, key, command+"\n")
	if code == 0 {
		t.Errorf("sftp as %s: %q succeeded; want it refused\n%s", login, command, out)
	}
	if os.Getenv("SFTP_TEST_SHOW") != "" {
		t.Logf("%s: %q -> exit %d: %s", login, command, code, out)
	}
	return out
}

// localFile writes body to a fresh local file for upload.
func localFile(t *testing.T, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// upload puts body as inbox/name with the OpenSSH client.
func (ts *testServer) upload(t *testing.T, login string, key testKey, name string, body []byte) {
	t.Helper()
	ts.mustSFTP(t, login, key, fmt.Sprintf("put %s inbox/%s\n", localFile(t, name, body), name))
}

// download gets a file with the OpenSSH client.
func (ts *testServer) download(t *testing.T, login string, key testKey, remote string) []byte {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "got")
	ts.mustSFTP(t, login, key, fmt.Sprintf("get %s %s\n", remote, dst))
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", bound, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// goClient logs in with x/crypto/ssh from a chosen loopback source address.
func goClient(ts *testServer, source, login string, auth ssh.AuthMethod) (*ssh.Client, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(source)}
	}
	conn, err := d.Dial("tcp", ts.addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	hk, err := knownhosts.New(ts.knownHosts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, ts.addr, &ssh.ClientConfig{
		User: login, Auth: []ssh.AuthMethod{auth}, HostKeyCallback: hk, Timeout: 10 * time.Second,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(cc, chans, reqs), nil
}

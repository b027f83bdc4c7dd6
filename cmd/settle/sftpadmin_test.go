package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"settle/adapters/sftp"
	"settle/settlement"
)

// `settle sftp lockouts` lists what the running server holds, and
// `settle sftp unlock` lifts it (issue 12, item 1).
func TestSftpLockoutsAndUnlock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an SFTP server")
	}
	root := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	good, _ := ssh.NewSignerFromKey(priv)
	_, priv2, _ := ed25519.GenerateKey(rand.Reader)
	bad, _ := ssh.NewSignerFromKey(priv2)
	srv, err := sftp.NewServer(sftp.Config{Root: root, LoginFailuresMax: 2, LoginBackoffAfter: 1000,
		Users:  []sftp.User{{Bank: settlement.MustBIC("AAAABBCC"), AuthorizedKeys: []ssh.PublicKey{good.PublicKey()}}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
	t.Cleanup(func() { cancel(); <-done })
	login := func(s ssh.Signer) error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		cc, _, _, err := ssh.NewClientConn(c, ln.Addr().String(), &ssh.ClientConfig{User: "AAAABBCC",
			Auth: []ssh.AuthMethod{ssh.PublicKeys(s)}, HostKeyCallback: ssh.FixedHostKey(srv.HostKey())})
		if err == nil {
			cc.Close()
		}
		return err
	}
	login(bad)
	login(bad)
	if login(good) == nil {
		t.Fatal("not locked out")
	}
	run := func(args ...string) string {
		var out bytes.Buffer
		cmd := newRoot()
		cmd.SetOut(&out)
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("settle %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	if out := run("sftp", "lockouts", "--root", root); !strings.Contains(out, "127.0.0.2") || !strings.Contains(out, "AAAABBCC") {
		t.Fatalf("lockouts:\n%s", out)
	}
	if out := run("sftp", "unlock", "--root", root, "--source", "127.0.0.2", "--user", "AAAABBCC"); !strings.Contains(out, "lifted 1") {
		t.Fatalf("unlock:\n%s", out)
	}
	if err := login(good); err != nil {
		t.Fatalf("still locked out: %v", err)
	}
}

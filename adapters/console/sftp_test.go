package console_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"settle/adapters/console"
	"settle/adapters/sftp"
)

// sftpControl reaches a running SFTP server's lockouts through its
// control socket, as cmd/settle wires it.
type sftpControl struct{ root string }

func (c sftpControl) Lockouts(ctx context.Context) ([]sftp.Lockout, error) {
	return sftp.ListLockouts(ctx, c.root)
}
func (c sftpControl) Lift(ctx context.Context, source, user, by string) (int, error) {
	return sftp.LiftLockout(ctx, c.root, source, user, by)
}

func sshSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sshLogin tries a login from source with key; nil if it got in.
func sshLogin(addr, source, login string, key ssh.Signer, host ssh.PublicKey) error {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{User: login, Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(host), Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	ssh.NewClient(cc, chans, reqs).Close()
	return nil
}

// TestSFTPLockoutLifted: a stranger's failed logins as a bank lock that
// bank out from the stranger's address on the real SFTP server; the
// console lists the lockout, an auditor cannot lift it, an operator does
// (logged), and the bank logs in from there again.
func TestSFTPLockoutLifted(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "operator")
	w.user("audrey", "auditor")
	bank := string(w.banks[0].BIC)
	good, bad := sshSigner(t), sshSigner(t)
	root := t.TempDir()
	srv, err := sftp.NewServer(sftp.Config{Root: root, Users: []sftp.User{{Login: bank, Bank: w.banks[0].BIC, Role: sftp.RoleBank, AuthorizedKeys: []ssh.PublicKey{good.PublicKey()}}},
		LoginFailuresMax: 3, LoginFailureWindow: time.Hour, LoginBackoffAfter: 1000, Logger: w.quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(w.ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served })
	addr := ln.Addr().String()
	for range 4 {
		if sshLogin(addr, "127.0.0.2", bank, bad, srv.HostKey()) == nil {
			t.Fatal("a bad key logged in")
		}
	}
	if sshLogin(addr, "127.0.0.2", bank, good, srv.HostKey()) == nil {
		t.Fatal("not locked out")
	}

	con, err := console.New(console.Config{Store: w.store, Accounts: w.pg, Now: w.clock, Log: w.quiet, SFTP: sftpControl{root: root}})
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Close()
	w.srv = httptest.NewServer(con)
	t.Cleanup(w.srv.Close)

	audrey := w.client()
	audrey.login("audrey", password("audrey"))
	r := audrey.get("/ops/sftp")
	rows := findAll(find(find(r.doc, "table#lockouts"), "tbody"), "tr")
	if len(rows) != 1 || !strings.Contains(text(rows[0]), "127.0.0.2 "+bank+" 3") || len(findAll(rows[0], "form")) != 0 {
		t.Fatalf("lockouts as the auditor sees them: %s", text(find(r.doc, "table#lockouts")))
	}
	if r := audrey.post("/ops/sftp/lift", url.Values{"source": {"127.0.0.2"}, "user": {bank}}); r.status != http.StatusForbidden {
		t.Fatalf("auditor's lift: %d", r.status)
	}
	alice := w.client()
	alice.login("alice", password("alice"))
	alice.get("/ops/sftp")
	if r := alice.post("/ops/sftp/lift", url.Values{"source": {"not-an-address"}, "user": {bank}}); r.status != http.StatusBadRequest {
		t.Fatalf("bad source: %d", r.status)
	}
	if r := alice.post("/ops/sftp/lift", url.Values{"source": {"127.0.0.2"}, "user": {bank}}); r.status != http.StatusSeeOther {
		t.Fatalf("lift: %d %s", r.status, problem(r))
	}
	if err := sshLogin(addr, "127.0.0.2", bank, good, srv.HostKey()); err != nil {
		t.Fatalf("still locked out after the lift: %v", err)
	}
	if r := alice.get("/ops/sftp"); !strings.Contains(text(find(r.doc, "table#lockouts")), "No lockout.") {
		t.Fatalf("after the lift: %s", text(find(r.doc, "table#lockouts")))
	}
	if n := w.count(`SELECT count(*) FROM console_actions WHERE actor = 'alice' AND action = 'sftp.unlock' AND outcome = 'ok' AND detail = 'lifted 1 lockout(s)'`); n != 1 {
		t.Fatalf("%d lifts logged", n)
	}
}

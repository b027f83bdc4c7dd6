package sftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"settle/jobs"
	"settle/settlement"
)

// inboxFixture is one jobs.Inbox implementation with a bank that feeds it
// through a real OpenSSH client.
type inboxFixture struct {
	inbox  jobs.Inbox
	reopen func(t *testing.T) jobs.Inbox // a new value over the same state
	bank   settlement.BIC
	upload func(t *testing.T, name string, body []byte)
	outbox func(t *testing.T, name string) []byte
}

// localFixture: banks upload to the built-in server; the intake reads its
// storage.
func localFixture(t *testing.T) inboxFixture {
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}})
	return inboxFixture{
		inbox:  newStorage(t, ts.root),
		reopen: func(t *testing.T) jobs.Inbox { return newStorage(t, ts.root) },
		bank:   bankA,
		upload: func(t *testing.T, name string, body []byte) { ts.upload(t, bankA, ka, name, body) },
		outbox: func(t *testing.T, name string) []byte { return ts.download(t, bankA, ka, "outbox/"+name) },
	}
}

// bankServer is a second server standing in for a bank's own SFTP server:
// the bank uploads as itself, the settlement system logs in as collector.
type bankServer struct {
	ts        *testServer
	bankKey   testKey
	collector testKey
	stateDir  string
}

func startBankServer(t testing.TB) *bankServer {
	dir := t.TempDir()
	ka, kc := newKey(t, dir, "a"), newKey(t, dir, "collector")
	ts := startServer(t, Config{Users: []User{
		bankUser(bankA, ka),
		{Login: "collector", Bank: bankA, Role: RoleCollector, AuthorizedKeys: []ssh.PublicKey{kc.pub}},
	}})
	return &bankServer{ts: ts, bankKey: ka, collector: kc, stateDir: t.TempDir()}
}

func (b *bankServer) remote(t testing.TB) *Remote {
	t.Helper()
	r, err := NewRemote(RemoteConfig{Bank: bankA, Addr: b.ts.addr, User: "collector", Signer: b.collector.signer,
		KnownHostsFile: b.ts.knownHosts, StateDir: b.stateDir, Logger: b.ts.srv.log})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func remoteFixture(t *testing.T) inboxFixture {
	b := startBankServer(t)
	return inboxFixture{
		inbox:  b.remote(t),
		reopen: func(t *testing.T) jobs.Inbox { return b.remote(t) },
		bank:   bankA,
		upload: func(t *testing.T, name string, body []byte) { b.ts.upload(t, bankA, b.bankKey, name, body) },
		outbox: func(t *testing.T, name string) []byte { return b.ts.download(t, bankA, b.bankKey, "outbox/"+name) },
	}
}

// TestInboxContract runs one contract against both implementations.
func TestInboxContract(t *testing.T) {
	needOpenSSH(t)
	for name, mk := range map[string]func(*testing.T) inboxFixture{"local": localFixture, "remote": remoteFixture} {
		t.Run(name, func(t *testing.T) { testInboxContract(t, mk(t)) })
	}
}

func readAll(t *testing.T, rc io.ReadCloser, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testInboxContract(t *testing.T, fx inboxFixture) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if got := listAll(t, fx.inbox); len(got) != 0 {
		t.Fatalf("empty inbox lists %+v", got)
	}
	p1 := []byte("H,P1\nT,0,0\n")
	p2 := []byte("<Document/>")
	fx.upload(t, "P1.csv", p1)
	if got := listAll(t, fx.inbox); len(got) != 0 {
		t.Fatalf("payment file without .sig listed: %+v", got)
	}
	fx.upload(t, "P2.xml", p2)
	fx.upload(t, "P2.xml.sig", []byte("sig2"))
	fx.upload(t, "ORPHAN.csv.sig", []byte("orphan"))
	fx.upload(t, "README.txt", []byte("not a payment file"))
	fx.upload(t, "README.txt.sig", []byte("x"))
	fx.upload(t, "P1.csv.sig", []byte("sig1"))

	// An inbox may also list a complete pair it will never read, marked
	// Ignored, for the intake to tell the bank (issue 12, item 9).
	var got []jobs.InboxFile
	for _, f := range listAll(t, fx.inbox) {
		if f.Ignored == "" {
			got = append(got, f)
		} else if f.Name != "README.txt" {
			t.Errorf("%s listed as ignored: %s", f.Name, f.Ignored)
		}
	}
	if len(got) != 2 {
		t.Fatalf("List = %+v, want P1.csv and P2.xml", got)
	}
	byName := map[string]jobs.InboxFile{}
	for _, f := range got {
		if f.Bank != fx.bank {
			t.Errorf("%s: bank %s, want %s", f.Name, f.Bank, fx.bank)
		}
		if f.ModTime.IsZero() || f.SigModTime.IsZero() {
			t.Errorf("%s: no modification times: %+v", f.Name, f)
		}
		byName[f.Name] = f
	}
	f1, f2 := byName["P1.csv"], byName["P2.xml"]
	if f1.Size != int64(len(p1)) || f1.SigSize != 4 || f2.Size != int64(len(p2)) || f2.SigSize != 4 {
		t.Fatalf("sizes: %+v %+v", f1, f2)
	}
	if l, err := fx.inbox.List(ctx, 1); err != nil || len(l) != 1 {
		t.Fatalf("List(limit 1) = %d files, %v", len(l), err)
	}

	rc, err := fx.inbox.Open(ctx, f1)
	if b := readAll(t, rc, err); !bytes.Equal(b, p1) {
		t.Fatalf("Open = %q", b)
	}
	rc, err = fx.inbox.OpenSig(ctx, f1)
	if b := readAll(t, rc, err); string(b) != "sig1" {
		t.Fatalf("OpenSig = %q", b)
	}

	// The status report goes first, under its own name, written once:
	// the same bytes again count as written, others are refused.
	report := []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Document/>\n")
	for i := 0; i < 2; i++ {
		if err := fx.inbox.Ack(ctx, f1, "P1.csv.ack.xml", report); err != nil {
			t.Fatalf("status report, write %d: %v", i+1, err)
		}
	}
	if err := fx.inbox.Ack(ctx, f1, "P1.csv.ack.xml", []byte("<other/>")); !errors.Is(err, jobs.ErrAckExists) {
		t.Fatalf("status report replaced: %v", err)
	}
	if b := fx.outbox(t, "P1.csv.ack.xml"); !bytes.Equal(b, report) {
		t.Fatalf("bank reads status report %q", b)
	}
	ack := []byte(`{"file":"P1.csv","status":"ACCEPTED"}` + "\n")
	if err := fx.inbox.Ack(ctx, f1, "P1.csv.ack.json", ack); err != nil {
		t.Fatal(err)
	}
	if b := fx.outbox(t, "P1.csv.ack.json"); !bytes.Equal(b, ack) {
		t.Fatalf("bank reads ack %q", b)
	}
	if err := fx.inbox.Ack(ctx, f1, "../escape.json", ack); err == nil {
		t.Fatal("Ack accepted a path as a name")
	}

	if err := fx.inbox.Done(ctx, f1); err != nil {
		t.Fatal(err)
	}
	if err := fx.inbox.Done(ctx, f1); err != nil {
		t.Fatalf("second Done: %v", err)
	}
	readable := func(in jobs.Inbox) []jobs.InboxFile {
		var out []jobs.InboxFile
		for _, f := range listAll(t, in) {
			if f.Ignored == "" {
				out = append(out, f)
			}
		}
		return out
	}
	for _, in := range []jobs.Inbox{fx.inbox, fx.reopen(t)} {
		got := readable(in)
		if len(got) != 1 || got[0].Name != "P2.xml" {
			t.Fatalf("after Done: %+v", got)
		}
	}
	if err := fx.inbox.Done(ctx, f2); err != nil {
		t.Fatal(err)
	}
	if got := readable(fx.reopen(t)); len(got) != 0 {
		t.Fatalf("after Done of all: %+v", got)
	}
}

// A file that changes between List and Open is not taken; its new form
// is listed afresh.
func TestRemoteChangedBetweenListAndOpen(t *testing.T) {
	needOpenSSH(t)
	b := startBankServer(t)
	r := b.remote(t)
	b.ts.upload(t, bankA, b.bankKey, "C.csv", []byte("first version"))
	b.ts.upload(t, bankA, b.bankKey, "C.csv.sig", []byte("sig"))
	got := listAll(t, r)
	if len(got) != 1 {
		t.Fatalf("List = %+v", got)
	}
	// The bank's own server lets the bank rewrite the file (ours would not).
	onDisk := filepath.Join(b.ts.root, "banks", bankA, "inbox", "C.csv")
	if err := os.WriteFile(onDisk, []byte("second, longer version"), 0o640); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Open(ctx, got[0]); !errors.Is(err, jobs.ErrChanged) {
		t.Fatalf("Open of a changed file: %v, want ErrChanged", err)
	}
	if names := dirNames(t, filepath.Join(b.stateDir, "staging")); len(names) != 0 {
		t.Errorf("staging keeps %v", names)
	}
	again := listAll(t, b.remote(t))
	if len(again) != 1 || again[0].Size != int64(len("second, longer version")) {
		t.Fatalf("List after change = %+v", again)
	}
	rc, err := r.Open(ctx, again[0])
	if body := readAll(t, rc, err); string(body) != "second, longer version" {
		t.Fatalf("Open = %q", body)
	}
}

// A file whose bytes keep changing while it is downloaded (same size,
// same time, so only the hash shows it) is not taken after the bounded
// attempts; one that settles is taken in its settled form.
func TestRemoteChangedWhileDownloading(t *testing.T) {
	needOpenSSH(t)
	b := startBankServer(t)
	r := b.remote(t)
	b.ts.upload(t, bankA, b.bankKey, "D.csv", []byte("AAAAAAAA"))
	b.ts.upload(t, bankA, b.bankKey, "D.csv.sig", []byte("sig"))
	f := listAll(t, r)[0]
	onDisk := filepath.Join(b.ts.root, "banks", bankA, "inbox", "D.csv")
	n := 0
	rewrite := func(string) {
		n++
		body := bytes.Repeat([]byte{byte('B' + n%20)}, 8)
		if err := os.WriteFile(onDisk, body, 0o640); err != nil {
			t.Error(err)
		}
		os.Chtimes(onDisk, f.ModTime, f.ModTime)
	}
	r.hook = rewrite
	ctx := context.Background()
	if _, err := r.Open(ctx, f); !errors.Is(err, jobs.ErrChanged) {
		t.Fatalf("Open of a file changing on every read: %v, want ErrChanged", err)
	}
	if n != RemoteAttemptsDefault {
		t.Errorf("downloaded %d times, want %d", n, RemoteAttemptsDefault)
	}
	once := false
	r.hook = func(name string) {
		if !once {
			once = true
			rewrite(name)
		}
	}
	rc, err := r.Open(ctx, f)
	body := readAll(t, rc, err)
	if want, _ := os.ReadFile(onDisk); !bytes.Equal(body, want) {
		t.Fatalf("Open = %q, want the settled bytes %q", body, want)
	}
}

// A bank server whose host key is not the known one is refused.
func TestRemoteChecksHostKey(t *testing.T) {
	needOpenSSH(t)
	b := startBankServer(t)
	impostor := newKey(t, t.TempDir(), "impostor")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(b.ts.addr)}, impostor.pub)
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := NewRemote(RemoteConfig{Bank: bankA, Addr: b.ts.addr, User: "collector", Signer: b.collector.signer,
		KnownHostsFile: kh, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var ke *knownhosts.KeyError
	if _, err := r.List(context.Background(), 0); !errors.As(err, &ke) {
		t.Fatalf("List against an unknown host key: %v, want a knownhosts.KeyError", err)
	}
}

// A collection logs in once, not once per call; a kept login that is gone
// is replaced without the caller noticing; an unused one is closed.
func TestRemoteKeepsOneLogin(t *testing.T) {
	needOpenSSH(t)
	b := startBankServer(t)
	r := b.remote(t)
	r.idleAfter = time.Hour
	defer r.Close()
	ctx := context.Background()
	for i := range 3 {
		name := fmt.Sprintf("K%d.csv", i)
		b.ts.upload(t, bankA, b.bankKey, name, []byte("body"))
		b.ts.upload(t, bankA, b.bankKey, name+".sig", []byte("sig"))
	}
	files, err := r.List(ctx, 0)
	if err != nil || len(files) != 3 {
		t.Fatalf("list: %+v %v", files, err)
	}
	for _, f := range files {
		rc, err := r.Open(ctx, f)
		readAll(t, rc, err)
		rc, err = r.OpenSig(ctx, f)
		readAll(t, rc, err)
		if err := r.Ack(ctx, f, f.Name+".ack.json", []byte("{}\n")); err != nil {
			t.Fatal(err)
		}
		if err := r.Done(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.logins.Load(); n != 1 {
		t.Fatalf("%d logins for one collection of 3 files, want 1", n)
	}
	// The server drops the kept login (a restart, a firewall): the next
	// call logs in again and succeeds.
	r.sessMu.Lock()
	r.sess.conn.Close()
	r.sessMu.Unlock()
	if got, err := r.List(ctx, 0); err != nil || len(got) != 0 {
		t.Fatalf("list over a dropped login: %+v %v", got, err)
	}
	if n := r.logins.Load(); n != 2 {
		t.Fatalf("%d logins after the drop, want 2", n)
	}
	// Unused, the login is closed.
	r.idleAfter = 20 * time.Millisecond
	if _, err := r.List(ctx, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle login closed", 5*time.Second, func() bool {
		r.sessMu.Lock()
		defer r.sessMu.Unlock()
		return r.sess == nil
	})
}

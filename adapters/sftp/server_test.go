package sftp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"settle/jobs"
)

const (
	bankA = "AAAABBCC"
	bankB = "BBBBCCDD"
)

func listAll(t *testing.T, in jobs.Inbox) []jobs.InboxFile {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs, err := in.List(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func newStorage(t *testing.T, root string) *Storage {
	t.Helper()
	s, err := NewStorage(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A payment file becomes complete only when its .sig arrives; the upload is
// logged with its size and sha256.
func TestUploadThenSigIsComplete(t *testing.T) {
	needOpenSSH(t)
	dir := t.TempDir()
	ka := newKey(t, dir, "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}})
	st := newStorage(t, ts.root)
	body := []byte("H,F1,AAAABBCC,2026-11-24,2026-11-24T17:45:00+09:00\nT,0,0\n")

	ts.upload(t, bankA, ka, "F1.csv", body)
	if got := listAll(t, st); len(got) != 0 {
		t.Fatalf("payment file without .sig listed: %+v", got)
	}
	ts.upload(t, bankA, ka, "F1.csv.sig", []byte("c2ln\n"))
	got := listAll(t, st)
	if len(got) != 1 || got[0].Name != "F1.csv" || string(got[0].Bank) != bankA || got[0].Size != int64(len(body)) || got[0].SigSize != 5 {
		t.Fatalf("List = %+v", got)
	}
	sum := sha256.Sum256(body)
	logs := ts.logs.String()
	for _, want := range []string{"login ok", "upload complete", "path=/inbox/F1.csv", "sha256=" + hex.EncodeToString(sum[:]), fmt.Sprintf("size=%d", len(body))} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	// The bank sees its upload under its own name.
	if out := ts.mustSFTP(t, bankA, ka, "ls -1 inbox\n"); !strings.Contains(out, "F1.csv.sig") {
		t.Errorf("ls inbox:\n%s", out)
	}
}

// A .sig, or any other file, without its payment file is never complete;
// neither is a payment file whose .sig never comes.
func TestNoSigNeverComplete(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}})
	ts.upload(t, bankA, ka, "F2.xml", []byte("<x/>"))
	ts.upload(t, bankA, ka, "F3.csv.sig", []byte("sig"))
	ts.upload(t, bankA, ka, "notes.txt", []byte("x"))
	ts.upload(t, bankA, ka, "notes.txt.sig", []byte("x"))
	// A complete pair outside the contract is listed only to be ignored
	// with a notice (issue 12, item 9).
	got := listAll(t, newStorage(t, ts.root))
	if len(got) != 1 || got[0].Name != "notes.txt" || got[0].Ignored == "" {
		t.Fatalf("incomplete files listed: %+v", got)
	}
}

func TestWrongKeyRefused(t *testing.T) {
	needOpenSSH(t)
	dir := t.TempDir()
	ka, other := newKey(t, dir, "a"), newKey(t, dir, "other")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}})
	out, code := ts.sftp(t, bankA, other, "ls\n")
	if code != 255 || !strings.Contains(out, "Permission denied (publickey)") {
		t.Fatalf("wrong key: exit %d, output:\n%s", code, out)
	}
	// An unknown user is refused the same way.
	out, code = ts.sftp(t, "NOBODYXX", ka, "ls\n")
	if code != 255 || !strings.Contains(out, "Permission denied (publickey)") {
		t.Fatalf("unknown user: exit %d, output:\n%s", code, out)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "login failed") {
		t.Errorf("failed login not logged:\n%s", logs)
	}
	// Keys may also come from users/<login>/authorized_keys, read at login.
	kf := filepath.Join(ts.root, "users", bankA, "authorized_keys")
	if err := os.MkdirAll(filepath.Dir(kf), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, ssh.MarshalAuthorizedKey(other.pub), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.mustSFTP(t, bankA, other, "ls\n")
}

// Password and keyboard-interactive logins do not exist; neither do shell,
// exec, port forwarding or any channel but an sftp session.
func TestOnlySFTPIsServed(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}})
	if c, err := goClient(ts, "", bankA, ssh.Password("secret")); err == nil {
		c.Close()
		t.Fatal("password login accepted")
	}
	if c, err := goClient(ts, "", bankA, ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return []string{"x"}, nil })); err == nil {
		c.Close()
		t.Fatal("keyboard-interactive login accepted")
	}
	c, err := goClient(ts, "", bankA, ssh.PublicKeys(ka.signer))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, run := range map[string]func(*ssh.Session) error{
		"exec":            func(s *ssh.Session) error { return s.Run("id") },
		"shell":           func(s *ssh.Session) error { return s.Shell() },
		"other subsystem": func(s *ssh.Session) error { return s.RequestSubsystem("netconf") },
	} {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if err := run(s); err == nil {
			t.Errorf("%s accepted", name)
		}
		s.Close()
	}
	if conn, err := c.Dial("tcp", ts.addr); err == nil {
		conn.Close()
		t.Error("port forwarding (direct-tcpip) accepted")
	}
	if ln, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
		t.Error("remote forwarding (tcpip-forward) accepted")
	}
	// The connection still serves SFTP after all that.
	sc, err := pkgsftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.ReadDir("/inbox"); err != nil {
		t.Fatal(err)
	}
	sc.Close()
}

// Nothing a bank sends reaches outside its own tree: not "..", not an
// absolute path, not a symlink it makes, not one planted on the host.
func TestJailCannotBeLeft(t *testing.T) {
	needOpenSSH(t)
	dir := t.TempDir()
	ka, kb := newKey(t, dir, "a"), newKey(t, dir, "b")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka), bankUser(bankB, kb)}})
	secret := filepath.Join(ts.root, "secret.txt")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.upload(t, bankB, kb, "B1.csv", []byte("bank B's file"))
	// A link planted on the host (by a careless operator) must not be followed.
	if err := os.Symlink(secret, filepath.Join(ts.root, "banks", bankA, "inbox", "planted.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(ts.root, "banks", bankA, "outbox", "etc")); err != nil {
		t.Fatal(err)
	}
	local := localFile(t, "x.csv", []byte("x"))
	got := filepath.Join(t.TempDir(), "got")
	escape := "escape-" + randomName() + ".csv"
	for _, c := range []string{
		"get ../secret.txt " + got,
		"get ../../secret.txt " + got,
		"get /../../../secret.txt " + got,
		"get inbox/../../../secret.txt " + got,
		"get " + secret + " " + got,
		"get /etc/passwd " + got,
		"get ../" + bankB + "/inbox/B1.csv " + got,
		"get /banks/" + bankB + "/inbox/B1.csv " + got,
		"get inbox/planted.csv " + got,
		"get outbox/etc/passwd " + got,
		"ls ../../" + bankB + "/inbox",
		"ls outbox/etc",
		"ls /etc",
		"put " + local + " ../" + escape,
		"put " + local + " /tmp/" + escape,
		"put " + local + " ../../" + escape,
		"put " + local + " inbox/../../" + bankB + "/inbox/" + escape,
		"put " + local + " outbox/" + escape,
		"put " + local + " inbox/.hidden.csv",
		"symlink /etc/passwd inbox/link.csv",
		"symlink ../secret.txt inbox/link2.csv",
		"ln inbox/planted.csv inbox/hard.csv",
		"mkdir inbox/sub",
		"rename inbox/planted.csv inbox/p2.csv",
		"rm inbox/planted.csv",
	} {
		ts.refused(t, bankA, ka, c)
	}
	if _, err := os.Stat(got); err == nil {
		t.Error("a refused get wrote a local file")
	}
	// "cd .." at the top stays at the top: the bank sees only its two folders.
	out := ts.mustSFTP(t, bankA, ka, "cd ..\ncd ../..\nls -1a\n")
	if strings.Contains(out, "secret") || strings.Contains(out, bankB) || strings.Contains(out, "banks") {
		t.Errorf("listing above the jail root shows the host:\n%s", out)
	}
	if out := ts.mustSFTP(t, bankA, ka, "ls -1a inbox\n"); strings.Contains(out, "planted") {
		t.Errorf("a symlink is listed:\n%s", out)
	}
	// Nothing named escape-* exists anywhere, and B's file is B's only.
	filepath.Walk(ts.root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.Contains(p, "escape-") {
			t.Errorf("escaped write landed at %s", p)
		}
		return nil
	})
	if _, err := os.Stat("/tmp/" + escape); err == nil {
		t.Errorf("escaped write landed at /tmp/%s", escape)
	}
	if b, _ := os.ReadFile(secret); string(b) != "secret" {
		t.Error("secret changed")
	}
}

// Bank A cannot list or read bank B, even for the same file name.
func TestBanksAreIsolated(t *testing.T) {
	needOpenSSH(t)
	dir := t.TempDir()
	ka, kb := newKey(t, dir, "a"), newKey(t, dir, "b")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka), bankUser(bankB, kb)}})
	ts.upload(t, bankA, ka, "F.csv", []byte("from A"))
	ts.upload(t, bankB, kb, "F.csv", []byte("from B"))
	ts.upload(t, bankB, kb, "ONLYB.csv", []byte("from B"))
	if b := ts.download(t, bankA, ka, "inbox/F.csv"); string(b) != "from A" {
		t.Errorf("A reads %q", b)
	}
	if b := ts.download(t, bankB, kb, "inbox/F.csv"); string(b) != "from B" {
		t.Errorf("B reads %q", b)
	}
	if out := ts.mustSFTP(t, bankA, ka, "ls -1 inbox\n"); strings.Contains(out, "ONLYB") {
		t.Errorf("A lists B's file:\n%s", out)
	}
	ts.refused(t, bankA, ka, "get inbox/ONLYB.csv "+filepath.Join(t.TempDir(), "x"))
	ts.refused(t, bankA, ka, "ls /"+bankB)
	// A bank's key does not open another bank's login.
	if out, code := ts.sftp(t, bankB, ka, "ls\n"); code != 255 {
		t.Errorf("A's key logged in as B: exit %d\n%s", code, out)
	}
}

// A file over the size limit is refused and leaves nothing behind.
func TestFileSizeLimit(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	const max = 256 << 10
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}, FileBytesMax: max})
	ts.upload(t, bankA, ka, "EXACT.csv", bytes.Repeat([]byte("x"), max))
	big := localFile(t, "BIG.csv", bytes.Repeat([]byte("y"), max+1))
	ts.refused(t, bankA, ka, "put "+big+" inbox/BIG.csv")
	inbox := filepath.Join(ts.root, "banks", bankA, "inbox")
	waitFor(t, "partial upload removed", 10*time.Second, func() bool {
		return len(dirNames(t, filepath.Join(ts.root, "partial", bankA))) == 0
	})
	if names := dirNames(t, inbox); len(names) != 1 || names[0] != "EXACT.csv" {
		t.Fatalf("inbox holds %v", names)
	}
	if !strings.Contains(ts.logs.String(), "file too large") {
		t.Error("refusal not logged")
	}
}

// A connection cut in the middle of an upload leaves no file at all, so
// even a .sig uploaded afterwards does not complete anything.
func TestCutUploadLeavesNothing(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}})
	big := localFile(t, "CUT.csv", bytes.Repeat([]byte("0123456789abcdef"), 1<<20)) // 16 MiB
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	// -l 4096 Kbit/s makes the upload take about half a minute.
	cmd := ts.sftpCmd(ctx, t, bankA, ka, "put "+big+" inbox/CUT.csv\n", "-l", "4096")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(ts.root, "partial", bankA)
	waitFor(t, "upload under way", 30*time.Second, func() bool {
		for _, n := range dirNames(t, partial) {
			if fi, err := os.Stat(filepath.Join(partial, n)); err == nil && fi.Size() > 0 {
				return true
			}
		}
		return false
	})
	if fi, err := os.Stat(filepath.Join(ts.root, "banks", bankA, "inbox", "CUT.csv")); err == nil {
		t.Fatalf("file visible in inbox while being written (%d bytes)", fi.Size())
	}
	cmd.Cancel() // SIGKILL to sftp and its ssh child
	cmd.Wait()
	waitFor(t, "partial upload removed", 30*time.Second, func() bool { return len(dirNames(t, partial)) == 0 })
	ts.upload(t, bankA, ka, "CUT.csv.sig", []byte("sig"))
	if got := listAll(t, newStorage(t, ts.root)); len(got) != 0 {
		t.Fatalf("cut upload listed: %+v", got)
	}
	if names := dirNames(t, filepath.Join(ts.root, "banks", bankA, "inbox")); len(names) != 1 {
		t.Fatalf("inbox holds %v", names)
	}
	if !strings.Contains(ts.logs.String(), "upload discarded") {
		t.Error("discarded upload not logged")
	}
}

// Ten banks upload at once; every pair arrives whole and complete.
func TestManyBanksAtOnce(t *testing.T) {
	needOpenSSH(t)
	dir := t.TempDir()
	const n = 10
	var users []User
	keys := map[string]testKey{}
	for i := 0; i < n; i++ {
		bic := fmt.Sprintf("BANKXX%02d", i)
		keys[bic] = newKey(t, dir, bic)
		users = append(users, bankUser(bic, keys[bic]))
	}
	ts := startServer(t, Config{Users: users})
	var wg sync.WaitGroup
	for bic, k := range keys {
		body := bytes.Repeat([]byte(bic+"\n"), 20000)
		pay, sig := localFile(t, "P.csv", body), localFile(t, "P.csv.sig", []byte(bic))
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, code := ts.sftp(t, bic, k, fmt.Sprintf("put %s inbox/P.csv\nput %s inbox/P.csv.sig\n", pay, sig))
			if code != 0 {
				t.Errorf("%s: exit %d\n%s", bic, code, out)
			}
		}()
	}
	wg.Wait()
	st := newStorage(t, ts.root)
	got := listAll(t, st)
	if len(got) != n {
		t.Fatalf("listed %d files, want %d: %+v", len(got), n, got)
	}
	for _, f := range got {
		rc, err := st.Open(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		if want := bytes.Repeat([]byte(string(f.Bank)+"\n"), 20000); !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s: content differs", f.Bank)
		}
	}
}

// The outbox is readable, never writable, by the bank.
func TestOutboxReadOnly(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}})
	ts.upload(t, bankA, ka, "F.csv", []byte("pay"))
	ts.upload(t, bankA, ka, "F.csv.sig", []byte("sig"))
	st := newStorage(t, ts.root)
	f := listAll(t, st)[0]
	ack := []byte(`{"file":"F.csv","status":"ACCEPTED"}`)
	if err := st.Ack(context.Background(), f, "F.csv.ack.json", ack); err != nil {
		t.Fatal(err)
	}
	if got := ts.download(t, bankA, ka, "outbox/F.csv.ack.json"); !bytes.Equal(got, ack) {
		t.Fatalf("ack = %q", got)
	}
	local := localFile(t, "y", []byte("y"))
	ts.refused(t, bankA, ka, "put "+local+" outbox/F.csv.ack.json")
	ts.refused(t, bankA, ka, "put "+local+" outbox/new.txt")
	ts.refused(t, bankA, ka, "rm outbox/F.csv.ack.json")
	ts.refused(t, bankA, ka, "rename outbox/F.csv.ack.json outbox/x.json")
	ts.refused(t, bankA, ka, "rename outbox/F.csv.ack.json inbox/x.json")
	if got := ts.download(t, bankA, ka, "outbox/F.csv.ack.json"); !bytes.Equal(got, ack) {
		t.Fatalf("ack changed to %q", got)
	}
}

// Once its .sig is there a pair is submitted: the bank can no longer
// replace, rename or delete either half. Before that it can.
func TestSubmittedPairIsFrozen(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}})
	ts.upload(t, bankA, ka, "G.csv", []byte("draft"))
	ts.upload(t, bankA, ka, "G.csv", []byte("final")) // replacing a draft is fine
	ts.mustSFTP(t, bankA, ka, "rename inbox/G.csv inbox/H.csv\nrename inbox/H.csv inbox/G.csv\n")
	ts.upload(t, bankA, ka, "G.csv.sig", []byte("sig"))
	other := localFile(t, "o", []byte("other"))
	for _, c := range []string{
		"put " + other + " inbox/G.csv",
		"put " + other + " inbox/G.csv.sig",
		"rm inbox/G.csv",
		"rm inbox/G.csv.sig",
		"rename inbox/G.csv inbox/Z.csv",
		"rename inbox/G.csv.sig inbox/Z.csv.sig",
	} {
		ts.refused(t, bankA, ka, c)
	}
	if b := ts.download(t, bankA, ka, "inbox/G.csv"); string(b) != "final" {
		t.Fatalf("G.csv = %q", b)
	}
	ts.upload(t, bankA, ka, "D.csv", []byte("d"))
	ts.mustSFTP(t, bankA, ka, "rm inbox/D.csv\n")
	if !strings.Contains(ts.logs.String(), "msg=delete") || !strings.Contains(ts.logs.String(), "msg=rename") {
		t.Error("delete or rename not logged")
	}
}

func TestInboxFilesMax(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}, InboxFilesMax: 2})
	ts.upload(t, bankA, ka, "A.csv", []byte("a"))
	ts.upload(t, bankA, ka, "A.csv.sig", []byte("a"))
	ts.refused(t, bankA, ka, "put "+localFile(t, "B.csv", []byte("b"))+" inbox/B.csv")
}

func TestSessionsPerBankMax(t *testing.T) {
	needOpenSSH(t)
	dir := t.TempDir()
	ka, kb := newKey(t, dir, "a"), newKey(t, dir, "b")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka), bankUser(bankB, kb)}, SessionsPerBankMax: 2})
	open := func(login string, k testKey) (*pkgsftp.Client, error) {
		c, err := goClient(ts, "", login, ssh.PublicKeys(k.signer))
		if err != nil {
			return nil, err
		}
		sc, err := pkgsftp.NewClient(c)
		if err != nil {
			c.Close()
			return nil, err
		}
		return sc, nil
	}
	c1, err := open(bankA, ka)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := open(bankA, ka)
	if err != nil {
		t.Fatal(err)
	}
	if c3, err := open(bankA, ka); err == nil {
		c3.Close()
		t.Fatal("third session of one bank accepted")
	}
	cb, err := open(bankB, kb)
	if err != nil {
		t.Fatalf("other bank refused: %v", err)
	}
	cb.Close()
	c1.Close()
	waitFor(t, "session freed", 10*time.Second, func() bool {
		c, err := open(bankA, ka)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	c2.Close()
}

func TestHostKeyPersists(t *testing.T) {
	root := t.TempDir()
	cfg := Config{Root: root, Users: []User{{Bank: bankA}}}
	s1, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s1.HostKey().Marshal(), s2.HostKey().Marshal()) {
		t.Fatal("host key changed across restarts")
	}
	fi, err := os.Stat(filepath.Join(root, "state", "ssh_host_ed25519_key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key mode %v", fi.Mode().Perm())
	}
	os.Chmod(filepath.Join(root, "state", "ssh_host_ed25519_key"), 0o644)
	if _, err := NewServer(cfg); err == nil {
		t.Fatal("host key readable by others accepted")
	}
}

func TestFailureTrackerWindow(t *testing.T) {
	f := newFailureTracker(2, time.Minute)
	t0 := time.Unix(1000, 0)
	f.add("k", t0)
	if f.locked("k", t0) {
		t.Fatal("locked after one failure")
	}
	f.add("k", t0.Add(time.Second))
	if !f.locked("k", t0.Add(2*time.Second)) {
		t.Fatal("not locked after two")
	}
	if f.locked("k", t0.Add(61*time.Second)) {
		t.Fatal("still locked after the window")
	}
	f.remove("k", t0.Add(time.Second))
	if f.locked("k", t0.Add(2*time.Second)) {
		t.Fatal("still locked after a failure was taken back")
	}
	f.remove("k", t0)
	f.remove("nothing", t0)
	if len(f.m) != 0 {
		t.Fatalf("tracker keeps %v after every failure was taken back", f.m)
	}
}

// A client that offers a wrong key before the right one logs in, and that
// connection does not count as a failed login.
func TestWrongKeyFirstThenRightIsNoFailure(t *testing.T) {
	needOpenSSH(t)
	dir := t.TempDir()
	ka, bad := newKey(t, dir, "a"), newKey(t, dir, "bad")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}, LoginFailuresMax: 2, LoginFailureWindow: time.Hour})
	for i := 0; i < 3; i++ {
		c, err := goClient(ts, "127.0.0.4", bankA, ssh.PublicKeys(bad.signer, ka.signer))
		if err != nil {
			t.Fatalf("login %d with a wrong key offered first: %v", i, err)
		}
		c.Close()
	}
	// One real failure is still under the limit of two.
	if c, err := goClient(ts, "127.0.0.4", bankA, ssh.PublicKeys(bad.signer)); err == nil {
		c.Close()
		t.Fatal("bad key accepted")
	}
	c, err := goClient(ts, "127.0.0.4", bankA, ssh.PublicKeys(ka.signer))
	if err != nil {
		t.Fatalf("locked out after one failed login: %v", err)
	}
	c.Close()
}

// A connection that stays silent past the idle timeout is closed by the
// server.
func TestIdleConnectionClosed(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	// 2 s: short enough to wait for, long enough that a login on a loaded
	// machine does not count as idle.
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}, IdleTimeout: 2 * time.Second})
	c, err := goClient(ts, "", bankA, ssh.PublicKeys(ka.signer))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan error, 1)
	go func() { closed <- c.Wait() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("idle connection still open after 30s")
	}
}

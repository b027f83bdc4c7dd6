package sftp

// The attack suite (issue 12): hostile or clumsy callers against the real
// server, driven by OpenSSH's sftp where a bank is involved, on loopback
// only. Every test is named TestAttack*, so `make test-attack` runs them
// alone; `make test` runs them with the rest. Each is bounded: a handful
// of connections, files of at most a few MiB, no wall-clock waits but the
// pre-auth deadline's own (1 s).

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// fakeClock is the injected clock of lockouts and backoff.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sftpFrom runs one OpenSSH batch from a chosen loopback source address.
func (ts *testServer) sftpFrom(t *testing.T, source, login string, key testKey, batch string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := ts.sftpCmd(ctx, t, login, key, batch, "-o", "BindAddress="+source).CombinedOutput()
	if err == nil {
		return string(out), 0
	}
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		return string(out), ee.ExitCode()
	}
	t.Fatalf("sftp: %v\n%s", err, out)
	return "", -1
}

func failLogin(t *testing.T, ts *testServer, source, login string, bad testKey) {
	t.Helper()
	if c, err := goClient(ts, source, login, ssh.PublicKeys(bad.signer)); err == nil {
		c.Close()
		t.Fatalf("bad key accepted for %s from %s", login, source)
	}
}

func canLogin(ts *testServer, source, login string, k testKey) error {
	c, err := goClient(ts, source, login, ssh.PublicKeys(k.signer))
	if err == nil {
		c.Close()
	}
	return err
}

// Issue 12, item 1: failed logins as a bank from a stranger's address
// lock that bank out from that address only; the bank's own key from its
// own address (OpenSSH) still logs in, and an operator can list and lift
// the lockout, which is logged.
func TestAttackStrangerCannotLockBankOut(t *testing.T) {
	needOpenSSH(t)
	dir := t.TempDir()
	ka, kb, bad := newKey(t, dir, "a"), newKey(t, dir, "b"), newKey(t, dir, "bad")
	clk := newFakeClock()
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka), bankUser(bankB, kb)},
		LoginFailuresMax: 3, LoginFailureWindow: time.Hour, LoginBackoffAfter: 1000, Now: clk.Now})
	for i := 0; i < 5; i++ {
		failLogin(t, ts, "127.0.0.2", bankA, bad)
	}
	// The bank, from its own address, with OpenSSH.
	ts.mustSFTP(t, bankA, ka, "ls inbox\n")
	if err := canLogin(ts, "127.0.0.3", bankA, ka); err != nil {
		t.Fatalf("bank refused from a third address: %v", err)
	}
	if err := canLogin(ts, "127.0.0.2", bankA, ka); err == nil {
		t.Fatal("locked user logged in from the locked source")
	}
	if err := canLogin(ts, "127.0.0.2", bankB, kb); err != nil {
		t.Fatalf("another user refused from the stranger's source: %v", err)
	}
	if !strings.Contains(ts.logs.String(), "locked out") {
		t.Error("lockout not logged")
	}
	ls, err := ListLockouts(context.Background(), ts.root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Source != "127.0.0.2" || ls[0].User != bankA || ls[0].Failures != 3 || !ls[0].Until.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("lockouts = %+v", ls)
	}
	n, err := LiftLockout(context.Background(), ts.root, "127.0.0.2", bankA, "tester")
	if err != nil || n != 1 {
		t.Fatalf("unlock: %d, %v", n, err)
	}
	if err := canLogin(ts, "127.0.0.2", bankA, ka); err != nil {
		t.Fatalf("still refused after the operator lifted the lockout: %v", err)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "lockout lifted by operator") || !strings.Contains(logs, "by=tester") {
		t.Error("operator's unlock not logged")
	}
	if ls, _ := ListLockouts(context.Background(), ts.root); len(ls) != 0 {
		t.Fatalf("lockouts after unlock = %+v", ls)
	}
}

// Issue 12, item 1: a bank locked out from its own address by its own
// mistakes is let in again once the window has passed, however often it
// retried meanwhile: refused retries do not extend the lockout.
func TestAttackRetriesDoNotExtendLockout(t *testing.T) {
	needOpenSSH(t)
	dir := t.TempDir()
	ka, bad := newKey(t, dir, "a"), newKey(t, dir, "bad")
	clk := newFakeClock()
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)},
		LoginFailuresMax: 2, LoginFailureWindow: 10 * time.Minute, LoginBackoffAfter: 1000, Now: clk.Now})
	failLogin(t, ts, "127.0.0.1", bankA, bad)
	failLogin(t, ts, "127.0.0.1", bankA, bad)
	for i := 0; i < 3; i++ {
		clk.Add(3 * time.Minute)
		if out, code := ts.sftp(t, bankA, ka, "ls\n"); code == 0 {
			t.Fatalf("locked bank logged in:\n%s", out)
		}
	}
	clk.Add(2 * time.Minute) // 11 minutes after the first failure
	ts.mustSFTP(t, bankA, ka, "ls\n")
}

// Issue 12, item 1: backoff is per source: a source that keeps failing
// waits, longer each time, whatever user it tries; other sources do not.
func TestAttackBackoffPerSource(t *testing.T) {
	needOpenSSH(t)
	dir := t.TempDir()
	ka, kb, bad := newKey(t, dir, "a"), newKey(t, dir, "b"), newKey(t, dir, "bad")
	clk := newFakeClock()
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka), bankUser(bankB, kb)},
		LoginFailuresMax: 100, LoginFailureWindow: time.Hour,
		LoginBackoffAfter: 2, LoginBackoffBase: time.Minute, LoginBackoffMax: 4 * time.Minute, Now: clk.Now})
	failLogin(t, ts, "127.0.0.2", bankA, bad)
	failLogin(t, ts, "127.0.0.2", "NOBODYXX", bad)
	if err := canLogin(ts, "127.0.0.2", bankB, kb); err == nil {
		t.Fatal("source backing off was served")
	}
	ts.mustSFTP(t, bankA, ka, "ls\n") // 127.0.0.1 is not backing off
	if ls := ts.srv.Lockouts(); len(ls) != 1 || ls[0].User != "" || ls[0].Source != "127.0.0.2" {
		t.Fatalf("lockouts = %+v", ls)
	}
	clk.Add(61 * time.Second)
	failLogin(t, ts, "127.0.0.2", bankB, bad) // third failure: two minutes now
	clk.Add(61 * time.Second)
	if err := canLogin(ts, "127.0.0.2", bankB, kb); err == nil {
		t.Fatal("backoff did not grow")
	}
	clk.Add(60 * time.Second)
	if err := canLogin(ts, "127.0.0.2", bankB, kb); err != nil {
		t.Fatalf("refused after the backoff: %v", err)
	}
	if d := ts.srv.PreAuthDrops()[DropBackoff]; d != 2 {
		t.Errorf("backoff drops = %d, want 2", d)
	}
	if !strings.Contains(ts.logs.String(), "reason="+DropBackoff) {
		t.Error("backoff drop not logged")
	}
}

// Issue 12, item 2: one address opening many idle connections takes only
// its own share of the slots; a bank logs in with OpenSSH and uploads
// during the flood; every drop is logged and counted.
func TestAttackIdleFloodLeavesRoomForBanks(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}, ConnectionsMax: 16, ConnectionsPerSourceMax: 4})
	const flood = 24
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
	for i := 0; i < flood; i++ {
		c, err := d.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor(t, "the flood's drops", 30*time.Second, func() bool { return ts.srv.PreAuthDrops()[DropSourceCap] >= flood-4 })
	ts.upload(t, bankA, ka, "F1.csv", []byte("x"))
	if got := ts.srv.PreAuthDrops()[DropSourceCap]; got != flood-4 {
		t.Errorf("source cap drops = %d, want %d", got, flood-4)
	}
	if !strings.Contains(ts.logs.String(), "reason="+DropSourceCap) {
		t.Error("drops not logged")
	}
}

// Issue 12, item 2: a connection that does not log in within the pre-auth
// deadline is closed, logged and counted.
func TestAttackPreAuthDeadline(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}, HandshakeTimeout: time.Second})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("connection still open 30s after a 1s pre-auth deadline")
			}
			break
		}
	}
	waitFor(t, "the drop to be counted", 10*time.Second, func() bool { return ts.srv.PreAuthDrops()[DropHandshakeTimeout] == 1 })
	if !strings.Contains(ts.logs.String(), "reason="+DropHandshakeTimeout) {
		t.Error("pre-auth timeout not logged")
	}
}

// rawSFTP is a pkg/sftp client: it can send what OpenSSH never would.
func rawSFTP(t *testing.T, ts *testServer, login string, k testKey) *pkgsftp.Client {
	t.Helper()
	c, err := goClient(ts, "", login, ssh.PublicKeys(k.signer))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := pkgsftp.NewClient(c)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close(); c.Close() })
	return sc
}

// Issue 12, item 3: a write far past the end of the file (a sparse file:
// one byte at 32 MiB) is refused at once, and a smaller hole at close;
// nothing of either is kept. A real multi-MiB upload with OpenSSH, whose
// writes overlap in flight, still goes through.
func TestAttackSparseUploadRefused(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}})
	sc := rawSFTP(t, ts, bankA, ka)
	f, err := sc.Create("/inbox/far.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 32<<20); err == nil {
		t.Error("write 32 MiB past the end accepted")
	}
	f.Close()
	f, err = sc.Create("/inbox/hole.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 1<<20); err != nil {
		t.Fatalf("write within the reorder window refused at once: %v", err)
	}
	if err := f.Close(); err == nil {
		t.Error("file with a hole accepted at close")
	}
	if got := dirNames(t, filepath.Join(ts.root, "banks", bankA, "inbox")); len(got) != 0 {
		t.Fatalf("inbox holds %v", got)
	}
	if got := dirNames(t, filepath.Join(ts.root, "partial", bankA)); len(got) != 0 {
		t.Fatalf("partial holds %v", got)
	}
	big := make([]byte, 3<<20)
	rand.Read(big)
	ts.upload(t, bankA, ka, "big.csv", big)
	got, err := os.ReadFile(filepath.Join(ts.root, "banks", bankA, "inbox", "big.csv"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("3 MiB OpenSSH upload not kept whole: %v", err)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "write past the end") || !strings.Contains(logs, "has a hole") {
		t.Error("refusals not logged")
	}
}

// Issue 12, item 3: a bank's inbox has a byte quota, uploads in progress
// included; OpenSSH is refused past it, and nothing is kept.
func TestAttackInboxByteQuota(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}, InboxBytesMax: 100 << 10})
	ts.upload(t, bankA, ka, "one.csv", make([]byte, 60<<10))
	out, code := ts.sftp(t, bankA, ka, fmt.Sprintf("put %s inbox/two.csv\n", localFile(t, "two.csv", make([]byte, 60<<10))))
	if code == 0 {
		t.Fatalf("upload past the inbox quota accepted:\n%s", out)
	}
	if got := dirNames(t, filepath.Join(ts.root, "banks", bankA, "inbox")); len(got) != 1 {
		t.Fatalf("inbox holds %v", got)
	}
	if got := dirNames(t, filepath.Join(ts.root, "partial", bankA)); len(got) != 0 {
		t.Fatalf("partial holds %v", got)
	}
	if !strings.Contains(ts.logs.String(), "inbox quota exceeded") {
		t.Error("quota refusal not logged")
	}
}

// Issue 12, item 6: a .sig larger than the intake reads (13,336 bytes
// against 1,024) is refused whole at upload, with OpenSSH, and logged;
// one within the limit is kept exactly.
func TestAttackLargeSigRefusedWhole(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}})
	out, code := ts.sftp(t, bankA, ka, fmt.Sprintf("put %s inbox/F.csv.sig\n", localFile(t, "F.csv.sig", bytes.Repeat([]byte("A"), 13336))))
	if code == 0 {
		t.Fatalf("13,336-byte .sig accepted:\n%s", out)
	}
	if got := dirNames(t, filepath.Join(ts.root, "banks", bankA, "inbox")); len(got) != 0 {
		t.Fatalf("inbox holds %v", got)
	}
	if !strings.Contains(ts.logs.String(), "signature file too large") {
		t.Error("refusal not logged")
	}
	sig := bytes.Repeat([]byte("B"), 1024)
	ts.upload(t, bankA, ka, "F.csv.sig", sig)
	if got, _ := os.ReadFile(filepath.Join(ts.root, "banks", bankA, "inbox", "F.csv.sig")); !bytes.Equal(got, sig) {
		t.Fatal("1,024-byte .sig not kept exactly")
	}
}

// Issue 12, items 4 and 9: every refusal reaches OpenSSH as "Permission
// denied" (not "Failure", not "No such file"), carries a message that
// clients printing it show, and is logged with the bank and the reason.
func TestAttackRefusalsAreToldAndLogged(t *testing.T) {
	needOpenSSH(t)
	ka := newKey(t, t.TempDir(), "a")
	ts := startServer(t, Config{Users: []User{bankUser(bankA, ka)}, FileBytesMax: 1000})
	small := localFile(t, "small", []byte("x"))
	ts.upload(t, bankA, ka, "G.csv", []byte("x"))
	ts.upload(t, bankA, ka, "G.csv.sig", []byte("x"))
	long := strings.Repeat("L", 99-4) + ".csv" // 99 characters: one too many
	cases := []struct{ command, log string }{
		{"put " + small + " inbox/.hidden.csv", "invalid path or file name"},
		{"put " + small + " inbox/" + long, "too long for its acknowledgements"},
		{"put " + small + " inbox/" + long + ".sig", "too long for its acknowledgements"},
		{"put " + small + " inbox/G.csv", "file already submitted"},
		{"put " + localFile(t, "big", make([]byte, 5000)) + " inbox/B.csv", "file too large"},
		{"put " + small + " outbox/x.csv", "read-only location"},
		{"rename inbox/G.csv inbox/.x", "invalid target name"},
	}
	for _, c := range cases {
		out := ts.refused(t, bankA, ka, c.command)
		if !strings.Contains(out, "Permission denied") || strings.Contains(out, "Failure") || strings.Contains(out, "No such file") {
			t.Errorf("%q: OpenSSH printed\n%s", c.command, out)
		}
		if !strings.Contains(ts.logs.String(), c.log) {
			t.Errorf("%q: no %q in the log", c.command, c.log)
		}
	}
	if !strings.Contains(ts.logs.String(), "bank="+bankA) {
		t.Error("refusals logged without the bank")
	}
	// The status carries the reason as its message (pkg/sftp's server
	// sends err.Error() with the code it finds in the chain).
	for _, err := range []error{errExists("open", "/inbox/G.csv"), errTooBig("write", "/inbox/B.csv"), errNoSpace("open", "/inbox/B.csv"), errBadName("/inbox/.x")} {
		if !errors.Is(err, pkgsftp.ErrSSHFxPermissionDenied) || !strings.Contains(err.Error(), ": ") {
			t.Errorf("%v: not a PERMISSION_DENIED with a message", err)
		}
	}
	if got := dirNames(t, filepath.Join(ts.root, "banks", bankA, "inbox")); len(got) != 2 {
		t.Fatalf("inbox holds %v", got)
	}
}

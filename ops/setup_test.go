// Package ops holds the tests of the setup scripts under ops/: that they work
// from a checkout anywhere (under /root, in a 0700 folder, as root and as an
// ordinary user) and that two checkouts on one machine never share a port or
// a data directory. Each test clones this checkout into folders of its own and
// runs the scripts there, so it never touches this checkout's services.
package ops

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"settle/adapters/postgres"
)

// scriptTimeout bounds one script (a first up.sh as root may apt-get install).
const scriptTimeout = 3 * time.Minute

// testUserDefault is the ordinary user the scripts are run as when the tests
// run as root (SETTLE_TEST_USER chooses another).
const testUserDefault = "nobody"

// checkout is a clone of this repository and the user who runs its scripts.
type checkout struct {
	dir  string
	user string // "" for the test's own user
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Dir(filepath.Dir(here))
}

// git runs git in dir and returns its stdout.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// cloneInto clones this checkout into parent/settle: its HEAD, with the
// working tree's uncommitted changes laid over (modified and new files git
// does not ignore, deletions), so the scripts tested are the ones in the
// working tree. Ignored state (.run, built binaries, networks) is not copied.
func cloneInto(t *testing.T, parent string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	src := repoRoot(t)
	dst := filepath.Join(parent, "settle")
	head := strings.TrimSpace(git(t, src, "rev-parse", "HEAD"))
	git(t, parent, "clone", "-q", "--no-checkout", src, dst)
	git(t, dst, "checkout", "-q", "--detach", head)
	for _, f := range strings.Split(git(t, src, "ls-files", "-z", "-m", "-o", "--exclude-standard"), "\x00") {
		if f == "" {
			continue
		}
		st, err := os.Lstat(filepath.Join(src, f))
		if errors.Is(err, fs.ErrNotExist) {
			os.Remove(filepath.Join(dst, f))
			continue
		}
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dst, f), st.Mode().Perm())
	}
	return dst
}

// newCheckout clones the repository into a fresh 0700 folder owned by the
// test's user (t.TempDir: it and its parent are 0700, like /root or
// mktemp -d), and stops and purges its cluster when the test ends.
func newCheckout(t *testing.T) *checkout {
	t.Helper()
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o700); err != nil { // as mktemp -d makes it
		t.Fatal(err)
	}
	mustMode(t, filepath.Dir(parent), 0o700)
	c := &checkout{dir: cloneInto(t, parent)}
	t.Cleanup(func() { c.purge(t) })
	return c
}

// newUserCheckout clones the repository into a 0700 folder owned by an
// ordinary user (a mktemp -d of theirs), for the tests run as root.
func newUserCheckout(t *testing.T, name string) *checkout {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("no user %s to run the scripts as (SETTLE_TEST_USER): %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	parent, err := os.MkdirTemp("", "settle-setup-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	dir := cloneInto(t, parent)
	err = filepath.WalkDir(parent, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	mustMode(t, parent, 0o700)
	c := &checkout{dir: dir, user: name}
	t.Cleanup(func() { c.purge(t) })
	return c
}

func mustMode(t *testing.T, dir string, want fs.FileMode) {
	t.Helper()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Fatalf("%s has mode %o, want %o", dir, st.Mode().Perm(), want)
	}
}

// result is what a script did.
type result struct {
	stdout, stderr string
	code           int
}

// run runs one of the checkout's scripts (a path under it) as its user.
func (c *checkout) run(t *testing.T, env []string, script string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	path := filepath.Join(c.dir, script)
	var cmd *exec.Cmd
	if c.user != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.user, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	// The scripts' settings come from the test, not from the caller's shell.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PGPORT_SETTLE=") && !strings.HasPrefix(kv, "SETTLE_PORT_BASE=") &&
			!strings.HasPrefix(kv, "FABRIC_") && !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "SETTLE_DEMO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PGFSYNC_SETTLE=off")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s %v: %v", script, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v: did not finish in %s\n%s", script, args, scriptTimeout, r.stderr)
	}
	return r
}

// must runs a script that must succeed.
func (c *checkout) must(t *testing.T, env []string, script string, args ...string) result {
	t.Helper()
	r := c.run(t, env, script, args...)
	if r.code != 0 {
		t.Fatalf("%s %v in %s exited %d:\n%s%s", script, args, c.dir, r.code, r.stdout, r.stderr)
	}
	return r
}

var urlLine = regexp.MustCompile(`^export DATABASE_URL='([^']+)'\n$`)

// up starts the checkout's cluster and returns its URL.
func (c *checkout) up(t *testing.T, env ...string) string {
	t.Helper()
	r := c.must(t, env, "ops/postgres/up.sh")
	m := urlLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("up.sh printed %q on stdout, not one export line", r.stdout)
	}
	return m[1]
}

// status is what ops/postgres/status.sh says: running, the port and the data directory.
func (c *checkout) status(t *testing.T) (running bool, port int, data string) {
	t.Helper()
	r := c.run(t, nil, "ops/postgres/status.sh")
	f := strings.Fields(r.stdout)
	switch {
	case r.code == 0 && len(f) == 5 && f[0] == "running" && f[1] == "port" && f[3] == "data":
		p, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("status.sh: %q", r.stdout)
		}
		return true, p, f[4]
	case r.code == 3 && len(f) == 3 && f[0] == "stopped" && f[1] == "data":
		return false, 0, f[2]
	}
	t.Fatalf("status.sh exited %d: %q %s", r.code, r.stdout, r.stderr)
	return
}

// purge stops and removes the checkout's cluster; the tests' cleanup.
func (c *checkout) purge(t *testing.T) {
	r := c.run(t, nil, "ops/postgres/down.sh", "--purge")
	if r.code != 0 {
		t.Errorf("cleanup: down.sh --purge in %s exited %d: %s", c.dir, r.code, r.stderr)
	}
}

// serverDataDir connects to url and returns the server's data directory.
func serverDataDir(t *testing.T, url string) string {
	t.Helper()
	db, err := postgres.OpenDB(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var dir string
	if err := db.QueryRowContext(ctx, `SELECT current_setting('data_directory')`).Scan(&dir); err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	return dir
}

func listening(port int) bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func portOf(t *testing.T, url string) int {
	t.Helper()
	m := regexp.MustCompile(`@127\.0\.0\.1:(\d+)/`).FindStringSubmatch(url)
	if m == nil {
		t.Fatalf("no port in %s", url)
	}
	p, _ := strconv.Atoi(m[1])
	return p
}

func needIntegration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts Postgres clusters in clones of the repository (run without -short)")
	}
	if os.Geteuid() != 0 {
		if _, err := os.Stat("/usr/lib/postgresql/15/bin/initdb"); err != nil {
			t.Skip("PostgreSQL 15 is not installed and only root can install it")
		}
	}
}

// exercise runs the cluster's life in c: up, connect, up again (found
// running), down, up from the kept data, down --purge.
func exercise(t *testing.T, c *checkout) {
	parent := filepath.Dir(c.dir)
	url := c.up(t)
	running, port, data := c.status(t)
	if !running || port != portOf(t, url) {
		t.Fatalf("after up.sh (%s) status.sh says running=%v port=%d", url, running, port)
	}
	if got := serverDataDir(t, url); got != data {
		t.Fatalf("the server at %s has data directory %s, not this checkout's %s", url, got, data)
	}
	t.Logf("%s: cluster on port %d, data in %s", c.dir, port, data)
	if os.Geteuid() == 0 && c.user == "" && strings.HasPrefix(data, parent+"/") {
		t.Errorf("as root the data (%s) is under the 0700 checkout, which the postgres user cannot reach", data)
	}
	// up.sh leaves the modes of the checkout's parents alone.
	mustMode(t, parent, 0o700)
	if again := c.up(t); again != url {
		t.Fatalf("up.sh on the running cluster gave %s, then %s", url, again)
	}

	c.must(t, nil, "ops/postgres/down.sh")
	if running, _, _ := c.status(t); running || listening(port) {
		t.Fatalf("after down.sh: status running=%v, port %d listening=%v", running, port, listening(port))
	}
	url = c.up(t) // from the data kept by down.sh
	if got := serverDataDir(t, url); got != data {
		t.Fatalf("restarted server has data directory %s, not %s", got, data)
	}
	c.must(t, nil, "ops/postgres/down.sh", "--purge")
	if running, _, _ := c.status(t); running || listening(portOf(t, url)) {
		t.Fatal("after down.sh --purge the cluster still runs")
	}
	if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("down.sh --purge left %s (%v)", data, err)
	}
}

// TestPostgresScriptsFromA0700Clone: a clone in a folder only its owner can
// enter (as /root and mktemp -d folders are) runs its own cluster, as root
// (the cluster runs as postgres, its data where postgres can reach it) and as
// an ordinary user (the cluster runs as that user).
func TestPostgresScriptsFromA0700Clone(t *testing.T) {
	needIntegration(t)
	t.Run("own user", func(t *testing.T) {
		exercise(t, newCheckout(t))
	})
	t.Run("ordinary user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("the test runs as an ordinary user already (the case above)")
		}
		name := os.Getenv("SETTLE_TEST_USER")
		if name == "" {
			name = testUserDefault
		}
		exercise(t, newUserCheckout(t, name))
	})
}

// TestTwoClonesRunSideBySide: two clones get clusters of their own (own port,
// own data directory) running at once; a port explicitly set to the other's is
// refused in one line naming the other's data directory, and the demo stops
// there with that message rather than an unbound variable; a port of the
// checkout's own held by another process is passed over.
func TestTwoClonesRunSideBySide(t *testing.T) {
	needIntegration(t)
	a, b := newCheckout(t), newCheckout(t)
	urlA, urlB := a.up(t), b.up(t)
	idA := strings.TrimSpace(a.must(t, nil, "ops/ports.sh", "--id").stdout)
	idB := strings.TrimSpace(b.must(t, nil, "ops/ports.sh", "--id").stdout)
	if idA == idB {
		t.Fatalf("two clones have one checkout id %s", idA)
	}
	_, portA, dataA := a.status(t)
	_, portB, dataB := b.status(t)
	if portA == portB || dataA == dataB {
		t.Fatalf("two clones share: ports %d %d, data %s %s", portA, portB, dataA, dataB)
	}
	if got := serverDataDir(t, urlA); got != dataA {
		t.Fatalf("clone a's url reaches %s", got)
	}
	if got := serverDataDir(t, urlB); got != dataB {
		t.Fatalf("clone b's url reaches %s", got)
	}
	t.Logf("a: port %d data %s; b: port %d data %s", portA, dataA, portB, dataB)

	// b, stopped, told to use a's port: refused, naming a's data directory.
	b.must(t, nil, "ops/postgres/down.sh")
	r := b.run(t, []string{"PGPORT_SETTLE=" + strconv.Itoa(portA)}, "ops/postgres/up.sh")
	if r.code == 0 || r.stdout != "" {
		t.Fatalf("up.sh on a port another clone's cluster holds exited %d, printed %q", r.code, r.stdout)
	}
	line := errorLine(r.stderr)
	if !strings.Contains(line, strconv.Itoa(portA)) || !strings.Contains(line, dataA) || !strings.Contains(line, "PGPORT_SETTLE=N") {
		t.Fatalf("up.sh's refusal does not name the port, a's data directory %s and how to choose another:\n%s", dataA, r.stderr)
	}
	if got := serverDataDir(t, urlA); got != dataA {
		t.Fatalf("after b's refusal a's url reaches %s", got)
	}

	// The demo in b, with the same port: stops at step 0 with that message.
	stub := filepath.Join(b.dir, "bin", "settle")
	os.MkdirAll(filepath.Dir(stub), 0o755)
	if err := os.WriteFile(stub, []byte("#!/bin/sh\necho 'stub: the demo ran the binary' >&2\nexit 99\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = b.run(t, []string{"PGPORT_SETTLE=" + strconv.Itoa(portA)}, "ops/demo-cycle.sh")
	if r.code == 0 || strings.Contains(r.stderr, "unbound variable") || strings.Contains(r.stderr, "stub:") ||
		!strings.Contains(r.stderr, dataA) || !strings.Contains(r.stderr, "demo: ERROR:") {
		t.Fatalf("demo-cycle.sh with a taken port exited %d:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "ops", "fabric", ".network-demo")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the demo went on to the Fabric network after Postgres failed (%v)", err)
	}

	// b's own port held by another process: up.sh takes the next free one.
	own, err := strconv.Atoi(strings.TrimSpace(b.must(t, nil, "ops/ports.sh", "postgres").stdout))
	if err != nil {
		t.Fatal(err)
	}
	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", own)); err != nil {
		t.Logf("port %d is taken already (%v): the fallback is tested all the same", own, err)
	} else {
		defer ln.Close()
	}
	r = b.must(t, nil, "ops/postgres/up.sh")
	m := urlLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("up.sh printed %q", r.stdout)
	}
	if p := portOf(t, m[1]); p == own || p == portA {
		t.Fatalf("up.sh with its port %d taken started on %d (a has %d)", own, p, portA)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("port %d (this checkout's) is taken by", own)) {
		t.Fatalf("up.sh did not say it moved from port %d:\n%s", own, r.stderr)
	}
	if got := serverDataDir(t, m[1]); got != dataB {
		t.Fatalf("b's cluster on its new port has data directory %s", got)
	}
}

// errorLine is the first "ERROR:" line of a script's stderr.
func errorLine(stderr string) string {
	s := bufio.NewScanner(strings.NewReader(stderr))
	for s.Scan() {
		if strings.Contains(s.Text(), "ERROR:") {
			return s.Text()
		}
	}
	return ""
}

// TestPortPlan: this checkout's ports are distinct, in blocks that do not
// overlap (a Fabric network of 9 banks uses BASE..BASE+97; one of 10..20
// banks takes two blocks, TestFabricPortPlan), below the ephemeral range,
// the same on every call, and moved whole by SETTLE_PORT_BASE.
func TestPortPlan(t *testing.T) {
	root := repoRoot(t)
	plan := func(env ...string) map[string]int {
		cmd := exec.Command(filepath.Join(root, "ops", "ports.sh"))
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ops/ports.sh: %v", err)
		}
		p := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				t.Fatalf("ops/ports.sh line %q", line)
			}
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("ops/ports.sh line %q", line)
			}
			p[f[0]] = n
		}
		return p
	}
	p := plan("SETTLE_PORT_BASE=")
	if len(p) < 8 {
		t.Fatalf("plan %v", p)
	}
	width := func(name string) int {
		if strings.HasPrefix(name, "fabric-") {
			return 95
		}
		return 1
	}
	for n, port := range p {
		if port < 1024 || port+width(n) > 32768 {
			t.Errorf("%s: port %d outside 1024..32767", n, port)
		}
		for m, other := range p {
			if n < m && port < other+width(m) && other < port+width(n) {
				t.Errorf("%s (%d) and %s (%d) overlap", n, port, m, other)
			}
		}
	}
	if again := plan("SETTLE_PORT_BASE="); fmt.Sprint(again) != fmt.Sprint(p) {
		t.Errorf("the plan changed between two calls: %v, %v", p, again)
	}
	moved := plan("SETTLE_PORT_BASE=40000")
	if moved["postgres"] != 40000 || moved["fabric-e2e"]-moved["postgres"] != p["fabric-e2e"]-p["postgres"] {
		t.Errorf("SETTLE_PORT_BASE=40000 gives %v", moved)
	}
}

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleLedgerFromFabric drives Debian's Chromium through `settle
// console` on the real Postgres and the real Fabric network after a cycle
// ran: with Postgres's record of every transaction's endorsers forged, the
// cycle's ledger page still shows the endorsers and the submitter read
// from the blocks (and says the record differs), the Ledger page shows
// each peer's height, the recent blocks with their endorsers, and the
// transactions the service did not sign flagged; with bank 3's peer
// stopped it warns that the peer does not answer; a bank's file traced
// from the page reaches the ledger transactions as the ledger holds them.
func TestConsoleLedgerFromFabric(t *testing.T) {
	date := businessDay(t, 14)
	s := newSys(t, 30, date)
	s.env = append(s.env, "SETTLE_CLOCK="+date+"T01:00:00Z") // the day's morning in Seoul
	for _, f := range s.day.Files {
		b, _ := os.ReadFile(f)
		bic := strings.SplitN(filepath.Base(f), "_", 2)[0]
		for _, bk := range s.banks {
			if string(bk.BIC) == bic {
				s.drop(bk, filepath.Base(f), b)
			}
		}
	}
	t.Logf("intake: %s", s.must("intake", "run"))
	t.Logf("cycle run: %s", s.must("cycle", "run", "--date", date))

	// Postgres's record of the endorsers, forged: the page must not show it
	// as the ledger's.
	if _, err := s.db.Exec(`ALTER TABLE ledger_txs DISABLE TRIGGER ledger_txs_append_only;
		UPDATE ledger_txs SET endorsers = '{ForgedMSP}';
		ALTER TABLE ledger_txs ENABLE TRIGGER ledger_txs_append_only`); err != nil {
		t.Fatal(err)
	}
	var txID, sender, fileID string
	if err := s.db.QueryRow(`SELECT tx_id FROM ledger_txs ORDER BY id LIMIT 1`).Scan(&txID); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT sender, file_id FROM files WHERE status = 'ACCEPTED' ORDER BY id LIMIT 1`).Scan(&sender, &fileID); err != nil {
		var n int
		s.db.QueryRow(`SELECT count(*) FROM files`).Scan(&n)
		t.Fatalf("no accepted file (%d files): %v", n, err)
	}

	add := exec.Command(bin, "user", "add", "audrey", "--role", "auditor", "--config", s.config)
	add.Env = append(append(os.Environ(), "DATABASE_URL="+s.dsn()), s.env...)
	add.Stdin = strings.NewReader("audrey-audrey-secret\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v %s", err, out)
	}
	base := s.startConsole()
	// The service writes the governed ledger as the operator (ledger.governed
	// is the default): its transactions' submitter, read from the blocks.
	const svc = "OperatorMSP client "

	b := newChromium(t)
	b.run("sign in", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "audrey"), chromedp.SendKeys(chromedp.CSS("#password"), "audrey-audrey-secret"),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#whoami")))

	// The cycle's ledger page: recorded beside read back.
	b.run("the cycle's ledger", chromedp.Navigate(base+"/cycles/"+date+"/ledger"), chromedp.WaitVisible(chromedp.CSS("#ledger")))
	rows := b.eval("rows", `JSON.stringify(Array.from(document.querySelectorAll("#ledger tbody tr")).map(r => [
		r.querySelector("td.endorsers").textContent, r.querySelector("td.submitter").textContent, r.querySelector("td.held").textContent]))`)
	var table [][]string
	if err := json.Unmarshal([]byte(rows), &table); err != nil {
		b.fail("ledger rows", err)
	}
	n := len(table)
	for _, f := range table {
		recorded, submitter, held := f[0], f[1], f[2]
		if recorded != "ForgedMSP" || !strings.HasPrefix(submitter, svc) ||
			strings.Contains(held, "ForgedMSP") || !strings.Contains(held, "Bank") || !strings.Contains(held, "differs from the record") {
			b.fail("ledger row", fmt.Errorf("recorded %q, submitter %q, ledger %q", recorded, submitter, held))
		}
	}
	if n < 2 {
		b.fail("ledger rows", fmt.Errorf("%d rows: %s", n, rows))
	}

	// The channel: heights and blocks from the peers.
	b.run("the Ledger page", chromedp.Navigate(base+"/ledger?blocks=50"), chromedp.WaitVisible(chromedp.CSS("#blocks")))
	b.shot("ledger-channel")
	if got := b.eval("peers", `Array.from(document.querySelectorAll("#peers tbody tr")).map(r => r.id + "=" + r.querySelector("td.height").textContent).join(" ")`); !strings.Contains(got, "peer-Bank1MSP=") ||
		!strings.Contains(got, "peer-Bank3MSP=") || strings.Contains(got, "=-") {
		b.fail("peers", fmt.Errorf("%q", got))
	}
	if b.eval("no lag", `String(document.querySelector("#no-lag") !== null && document.querySelector("#lag-warning") === null)`) != "true" {
		b.fail("no lag", fmt.Errorf("a lag warning with every peer up"))
	}
	tx := b.eval("the cycle's transaction", `(() => { const r = document.getElementById("tx-`+txID+`"); return r ? r.querySelector("td.endorsers").textContent + "|" + r.querySelector("td.submitter").textContent : "absent" })()`)
	if !strings.Contains(tx, "Bank") || strings.Contains(tx, "ForgedMSP") || strings.Contains(tx, "does not verify") || !strings.Contains(tx, "|"+svc) || strings.Contains(tx, "not the service") {
		b.fail("the cycle's transaction in the blocks", fmt.Errorf("%q", tx))
	}
	// The banks' admins registered this test's keys: signed by them, not
	// by the service, so flagged.
	foreign := b.eval("flagged", `Array.from(document.querySelectorAll("#blocks tbody tr.bad td.submitter")).map(td => td.textContent).join("; ")`)
	if !strings.Contains(foreign, "admin") || !strings.Contains(foreign, "not the service") || b.eval("alert", `String(document.querySelector("#foreign[role=alert]") !== null)`) != "true" {
		b.fail("foreign transactions", fmt.Errorf("flagged %q", foreign))
	}

	// Bank 3's peer stopped: the page warns.
	s.fabricScript("peer-stop.sh", "3")
	t.Cleanup(func() { s.fabricScript("peer-start.sh", "3") })
	b.run("the Ledger page, a peer down", chromedp.Navigate(base+"/ledger"), chromedp.WaitVisible(chromedp.CSS("#lag-warning")))
	if w := b.text("#lag-warning"); !strings.Contains(w, "Bank3MSP") || !strings.Contains(w, "did not answer") {
		b.fail("lag warning", fmt.Errorf("%q", w))
	}
	b.shot("ledger-peer-down")

	// A bank's file traced forward to the ledger's transactions.
	b.run("trace the file", chromedp.Navigate(base+"/trace?by=file&q="+sender+"/"+fileID), chromedp.WaitVisible(chromedp.CSS("#file-trace")))
	if v := b.text("#file-trace #verdict"); v != "every step checks" {
		b.fail("file trace", fmt.Errorf("verdict %q: %s", v, b.text("#file-trace")))
	}
	ft := b.text("#file-txs")
	if !strings.Contains(ft, svc) || strings.Contains(ft, "ForgedMSP") || !strings.Contains(ft, "Bank") || !strings.Contains(ft, "verified") {
		b.fail("file trace transactions", fmt.Errorf("%q", ft))
	}
}

// startConsole runs `settle console` on a free loopback port until the
// test ends; it returns the console's URL.
func (s *sys) startConsole() string {
	s.t.Helper()
	cmd := exec.Command(bin, "console", "--listen", "127.0.0.1:0", "--config", s.config)
	cmd.Env = append(append(os.Environ(), "DATABASE_URL="+s.dsn()), s.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	logf, _ := os.Create(filepath.Join(s.dir, "console.log"))
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
	})
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "console: "); ok {
				url <- strings.TrimSuffix(u, "/")
			}
		}
	}()
	select {
	case u := <-url:
		return u
	case <-time.After(time.Minute):
		b, _ := os.ReadFile(filepath.Join(s.dir, "console.log"))
		s.t.Fatalf("settle console did not start:\n%s", lastLines(string(b), 20))
	}
	return ""
}

// fabricScript runs one of ops/fabric's scripts on the suite's network.
func (s *sys) fabricScript(name string, args ...string) {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(root, "ops", "fabric", name), args...)
	cmd.Env = append(os.Environ(), "FABRIC_BANKS="+fmt.Sprint(banksN), "FABRIC_PORT_BLOCK="+portBlock,
		"FABRIC_NETWORK_DIR="+filepath.Dir(network), "FABRIC_BASE_PORT="+fabricBase)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// chromium is one headless Debian Chromium with a fresh profile and its
// background networking off; a failed step saves a screenshot and the
// page's HTML.
type chromium struct {
	t   *testing.T
	ctx context.Context
}

func newChromium(t *testing.T) *chromium {
	t.Helper()
	const path = "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run ops/deps.sh (installs Debian's chromium)", path)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &chromium{t: t, ctx: ctx}
}

func (b *chromium) fail(step string, err error) {
	b.t.Helper()
	dir := os.Getenv("SETTLE_BROWSER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "settle-browser-failures")
	}
	dir = filepath.Join(dir, b.t.Name())
	os.MkdirAll(dir, 0o755)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(dir, "page.png"), png, 0o644)
	}
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
		os.WriteFile(filepath.Join(dir, "page.html"), []byte(html), 0o644)
	}
	b.t.Fatalf("%s: %v (screenshot and HTML in %s)", step, err, dir)
}

func (b *chromium) run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(step, err)
	}
}

func (b *chromium) eval(step, js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.fail(step, err)
	}
	return s
}

func (b *chromium) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail("read "+sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// shot saves a screenshot for the README when SETTLE_CONSOLE_SHOTS names
// a folder (docs/console).
func (b *chromium) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("SETTLE_CONSOLE_SHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

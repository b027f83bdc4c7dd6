package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

var update = flag.Bool("update", false, "rewrite testdata/net.golden.json")

// bin is the settle binary built once for every end-to-end test.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "settle-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "settle")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building settle:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type run struct {
	code           int
	stdout, stderr string
}

// settle runs the binary as a bank's script would: arguments, no
// terminal, exit status and both streams.
func settle(t *testing.T, args ...string) run {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("settle %v: %v", args, err)
	}
	return r
}

func (r run) want(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}

func cycleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "cycle", "*"))
	if err != nil || len(files) != 4 {
		t.Fatalf("testdata/cycle: %v %v", files, err)
	}
	sort.Strings(files)
	return files
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodCSV = "H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\nP,SH-1,SHBKKRSE,CZNBKRSE,10,KRW\nT,1,10\n"

func TestUsageExitsTwo(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.csv", goodCSV)
	noPerm := write(t, dir, "members-unreadable.txt", "SHBKKRSE\n")
	if err := os.Chmod(noPerm, 0); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"unknown flag validate":  {"validate", "--bogus", good},
		"unknown flag net":       {"net", "--bogus", good},
		"unknown command":        {"validat", good},
		"validate no files":      {"validate"},
		"net no files":           {"net", "--format", "json"},
		"validate keys missing":  {"validate", "--keys", filepath.Join(dir, "nokeys"), good},
		"net keys missing":       {"net", "--keys", filepath.Join(dir, "nokeys"), good},
		"keys is a file":         {"validate", "--keys", good, good},
		"members missing":        {"validate", "--members", filepath.Join(dir, "nomembers.txt"), good},
		"net members missing":    {"net", "--members", filepath.Join(dir, "nomembers.txt"), good},
		"caps missing":           {"net", "--caps", filepath.Join(dir, "nocaps.csv"), good},
		"bad format":             {"net", "--format", "xml", good},
		"format needs argument":  {"net", good, "--format"},
		"members not BICs":       {"validate", "--members", write(t, dir, "m.txt", "not a bic\n"), good},
		"caps not caps":          {"net", "--caps", write(t, dir, "c.csv", "SHBKKRSE,KRW\n"), good},
		"caps bad scale":         {"net", "--caps", write(t, dir, "c2.csv", "SHBKKRSE,KRW,1.5\n"), good},
		"keys dir with bad pem":  {"validate", "--keys", badKeysDir(t), good},
		"payment file missing":   {"validate", filepath.Join(dir, "nofile.csv")},
		"payment file is a dir":  {"validate", dir},
		"net caps before format": {"net", "--caps", filepath.Join(dir, "nocaps.csv"), "--format", "text", good},
		// The governed path's set-up: one party per step, named.
		"approve without id":     {"ledger", "approve-founding", "--bank", "SHBKKRSE"},
		"approve without bank":   {"ledger", "approve-founding", strings.Repeat("ab", 16)},
		"approve bad bank":       {"ledger", "approve-founding", strings.Repeat("ab", 16), "--bank", "not a bic"},
		"register-keys no bank":  {"ledger", "register-keys"},
		"register-keys half key": {"ledger", "register-keys", "--bank", "SHBKKRSE", "--label", "k2"},
		// A cap reaches the governed ledger only from the store (four eyes).
		"caps file on the governed ledger": {"ledger", "register-banks", "--banks", "SHBKKRSE=Bank1MSP", "--caps", write(t, dir, "lc.txt", "SHBKKRSE KRW 1\n")},
	}
	if os.Geteuid() != 0 { // root reads files whatever their mode
		cases["members unreadable"] = []string{"validate", "--members", noPerm, good}
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			r := settle(t, args...)
			r.want(t, 2)
			if strings.TrimSpace(r.stderr) == "" {
				t.Error("exit 2 with nothing on stderr")
			}
			if r.stdout != "" && strings.HasPrefix(args[0], "net") {
				t.Errorf("usage error printed a result: %s", r.stdout)
			}
		})
	}
}

func badKeysDir(t *testing.T) string {
	dir := t.TempDir()
	write(t, dir, "SHBKKRSE.pem", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
	return dir
}

var problemLine = regexp.MustCompile(`^(.+):(\d+): ([A-Z_]+): (.+)$`)

// problems parses stderr's FILE:LINE: CODE: message lines.
func problems(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if m := problemLine.FindStringSubmatch(l); m != nil {
			out = append(out, m[1]+":"+m[2]+": "+m[3])
		}
	}
	return out
}

func TestRejectedExitsOneWithEveryError(t *testing.T) {
	dir := t.TempDir()
	bad := write(t, dir, "bad.csv", "H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\n"+
		"P,SH-1,SHBKKRSE,CZNBKRSE,0,KRW\n"+
		"P,SH-2,SHBKKRSE,CZNBKRSE,10,KRW\n"+
		"P,SH-3,SHBKKRSE,CZNBKRSE,1.5,KRW\n"+
		"P,SH-4,CZNBKRSE,HVBKKRSE,10,KRW\n"+
		"T,4,20\n")
	good := write(t, dir, "good.csv", strings.Replace(goodCSV, "SHBKKRSE", "HVBKKRSE", 2))
	want := []string{bad + ":2: AMOUNT_ZERO", bad + ":4: AMOUNT_SCALE", bad + ":5: DEBTOR_NOT_SENDER"}
	for _, cmd := range []string{"validate", "net"} {
		t.Run(cmd, func(t *testing.T) {
			r := settle(t, cmd, good, bad)
			r.want(t, 1)
			got := problems(r.stderr)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("stderr problems\n got %q\nwant %q\nstderr: %s", got, want, r.stderr)
			}
			if cmd == "net" && r.stdout != "" {
				t.Errorf("net printed positions for a rejected cycle: %s", r.stdout)
			}
			if cmd == "validate" && (!strings.Contains(r.stdout, "REJECTED") || !strings.Contains(r.stdout, "ACCEPTED")) {
				t.Errorf("validate lists each file's status: %s", r.stdout)
			}
		})
	}
	// An error message never spans lines, whatever the file holds.
	multi := write(t, dir, "multi.csv", "H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\nP,SH-1,SHBKKRSE,CZNBKRSE,10,KRW,\"a\nb\"\nT,1,10\n")
	r := settle(t, "validate", multi)
	r.want(t, 1)
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !problemLine.MatchString(l) && !strings.Contains(l, "warning") {
			t.Errorf("stderr line not FILE:LINE: CODE: message: %q", l)
		}
	}
}

func TestWarningWithoutKeys(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.csv", goodCSV)
	r := settle(t, "validate", good)
	r.want(t, 0)
	if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "--keys") {
		t.Errorf("no warning that signatures are not checked: %q", r.stderr)
	}
	keys, _ := signDir(t, dir, "SHBKKRSE")
	r = settle(t, "validate", "--keys", keys, good)
	r.want(t, 0)
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("warning with --keys: %q", r.stderr)
	}
}

// signDir makes an Ed25519 key for bank, writes its public key into a new
// keys directory, and signs every payment file of dir.
func signDir(t *testing.T, dir, bank string) (string, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	write(t, keys, bank+".pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		write(t, dir, filepath.Base(f)+".sig", base64.StdEncoding.EncodeToString(ed25519.Sign(priv, b))+"\n")
	}
	return keys, priv
}

func TestSignaturesChecked(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.csv", goodCSV)
	keys, _ := signDir(t, dir, "SHBKKRSE")
	settle(t, "validate", "--keys", keys, good).want(t, 0)

	tampered := write(t, dir, "tampered.csv", strings.Replace(goodCSV, "10", "11", -1))
	if err := os.Rename(good+".sig", tampered+".sig"); err != nil {
		t.Fatal(err)
	}
	r := settle(t, "validate", "--keys", keys, tampered, good)
	r.want(t, 1)
	got := strings.Join(problems(r.stderr), "\n")
	for _, w := range []string{tampered + ":0: SIGNATURE_INVALID", good + ":0: SIGNATURE_MISSING"} {
		if !strings.Contains(got, w) {
			t.Errorf("want %q in\n%s", w, r.stderr)
		}
	}
	other := write(t, dir, "other.csv", strings.Replace(goodCSV, "SHBKKRSE", "HVBKKRSE", 2))
	write(t, dir, "other.csv.sig", "AAAA\n")
	r = settle(t, "validate", "--keys", keys, other)
	r.want(t, 1)
	if !strings.Contains(r.stderr, "SIGNATURE_NO_KEY") {
		t.Errorf("sender without key: %s", r.stderr)
	}
}

func TestMembers(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "f.csv", strings.Replace(goodCSV, "CZNBKRSE", "NACFKRSE", 1))
	r := settle(t, "validate", "--members", filepath.Join("testdata", "members.txt"), f)
	r.want(t, 1)
	if got := problems(r.stderr); len(got) != 1 || got[0] != f+":2: UNKNOWN_BANK" {
		t.Errorf("got %q", got)
	}
	settle(t, "validate", f).want(t, 0)
}

func TestCycleDuplicates(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.csv", goodCSV)
	b := write(t, dir, "b.csv", goodCSV)
	c := write(t, dir, "c.csv", strings.Replace(goodCSV, "F1", "F2", 1))
	r := settle(t, "validate", a, b, c)
	r.want(t, 1)
	want := []string{b + ":0: DUPLICATE_FILE", b + ":1: DUPLICATE_FILE_ID", b + ":2: DUPLICATE_PAYMENT_ID", c + ":2: DUPLICATE_PAYMENT_ID"}
	if got := problems(r.stderr); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Reported in the later file of the command line, the same way twice.
	again := settle(t, "validate", a, b, c)
	if again.stderr != r.stderr || again.stdout != r.stdout {
		t.Errorf("second run differs:\n%s\n%s", r.stderr, again.stderr)
	}
}

func cycleArgs(t *testing.T, files []string) []string {
	return append([]string{"net", "--format", "json", "--members", filepath.Join("testdata", "members.txt"),
		"--caps", filepath.Join("testdata", "caps.csv")}, files...)
}

func TestNetGolden(t *testing.T) {
	files := cycleFiles(t)
	r := settle(t, cycleArgs(t, files)...)
	r.want(t, 0)
	golden := filepath.Join("testdata", "net.golden.json")
	if *update {
		if err := os.WriteFile(golden, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(want) {
		t.Errorf("net output differs from %s\n got: %s\nwant: %s", golden, r.stdout, want)
	}

	// Any order of the files: byte-identical output.
	rev := append([]string(nil), files...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	for _, order := range [][]string{rev, {files[2], files[0], files[3], files[1]}} {
		r2 := settle(t, cycleArgs(t, order)...)
		r2.want(t, 0)
		if r2.stdout != r.stdout {
			t.Errorf("order %v changes the output:\n%s", order, r2.stdout)
		}
	}
	// Text output works too.
	txt := settle(t, append([]string{"net", "--format", "text"}, files...)...)
	txt.want(t, 0)
	if !strings.Contains(txt.stdout, "SHBKKRSE") || !strings.Contains(txt.stdout, "-7.25") {
		t.Errorf("text output: %s", txt.stdout)
	}
}

// TestNetJSONContract checks the shape of the output, key by key and type
// by type, independently of the golden file.
func TestNetJSONContract(t *testing.T) {
	r := settle(t, cycleArgs(t, cycleFiles(t))...)
	r.want(t, 0)
	if strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 {
		t.Errorf("want one JSON object on one line: %q", r.stdout)
	}
	var top map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		t.Fatal(err)
	}
	keys(t, "top", top, "files", "entries", "positions", "bilateral", "cap_breaches")
	var files, entries int
	json.Unmarshal(top["files"], &files)
	json.Unmarshal(top["entries"], &entries)
	if files != 4 || entries != 9 || string(top["files"]) != "4" || string(top["entries"]) != "9" {
		t.Errorf("files %s entries %s, want 4 and 9", top["files"], top["entries"])
	}
	var positions, bilateral, breaches []map[string]json.RawMessage
	for name, dst := range map[string]*[]map[string]json.RawMessage{"positions": &positions, "bilateral": &bilateral, "cap_breaches": &breaches} {
		if err := json.Unmarshal(top[name], dst); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	type pos struct{ bank, cur, sent, recv, net string }
	var ps []pos
	sums := map[string]decimal.Decimal{}
	for _, p := range positions {
		keys(t, "position", p, "bank", "currency", "sent", "received", "net")
		q := pos{str(t, p["bank"]), str(t, p["currency"]), str(t, p["sent"]), str(t, p["received"]), str(t, p["net"])}
		ps = append(ps, q)
		for _, a := range []string{q.sent, q.recv, q.net} {
			digits(t, q.cur, a)
		}
		sums[q.cur] = sums[q.cur].Add(decimal.RequireFromString(q.net))
	}
	for c, s := range sums {
		if !s.IsZero() {
			t.Errorf("%s positions sum to %s", c, s)
		}
	}
	if !sort.SliceIsSorted(ps, func(i, j int) bool {
		if ps[i].cur != ps[j].cur {
			return ps[i].cur < ps[j].cur
		}
		return ps[i].bank < ps[j].bank
	}) {
		t.Errorf("positions not sorted by currency then bank: %v", ps)
	}
	find := func(bank, cur string) pos {
		for _, p := range ps {
			if p.bank == bank && p.cur == cur {
				return p
			}
		}
		t.Fatalf("no position %s %s in %v", bank, cur, ps)
		return pos{}
	}
	// The contract's own examples of amounts.
	if p := find("CZNBKRSE", "KRW"); p.recv != "1500000" || p.sent != "0" {
		t.Errorf("KRW: %+v", p)
	}
	if p := find("SHBKKRSE", "USD"); p.sent != "12.50" || p.net != "-7.25" {
		t.Errorf("USD: %+v", p)
	}
	if p := find("KOEXKRSE", "USD"); p.net != "0.00" {
		t.Errorf("USD zero: %+v", p)
	}
	if p := find("HVBKKRSE", "KWD"); p.recv != "0.125" || p.sent != "0.000" {
		t.Errorf("KWD: %+v", p)
	}
	// HVBKKRSEXXX in the files is reported as HVBKKRSE.
	for _, p := range ps {
		if len(p.bank) != 8 && len(p.bank) != 11 || strings.HasSuffix(p.bank, "XXX") {
			t.Errorf("bank %q not in canonical form", p.bank)
		}
	}
	for _, o := range bilateral {
		keys(t, "bilateral", o, "from", "to", "currency", "amount")
		digits(t, str(t, o["currency"]), str(t, o["amount"]))
		if a := decimal.RequireFromString(str(t, o["amount"])); !a.IsPositive() {
			t.Errorf("bilateral amount %s not positive", a)
		}
	}
	if len(breaches) != 1 {
		t.Fatalf("want one cap breach, got %v", breaches)
	}
	b := breaches[0]
	keys(t, "cap_breach", b, "bank", "currency", "net", "cap")
	if str(t, b["bank"]) != "SHBKKRSE" || str(t, b["currency"]) != "KRW" || str(t, b["net"]) != "-910000" || str(t, b["cap"]) != "900000" {
		t.Errorf("cap breach %v", b)
	}

	// No breach: an empty list, never null.
	cf := cycleFiles(t)
	r = settle(t, append([]string{"net", "--format", "json"}, cf...)...)
	r.want(t, 0)
	if !strings.Contains(r.stdout, `"cap_breaches":[]`) {
		t.Errorf("cap_breaches must be [] without caps: %s", r.stdout)
	}
}

func keys(t *testing.T, what string, m map[string]json.RawMessage, want ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s keys %v, want exactly %v", what, got, want)
	}
}

func str(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Errorf("%s is not a JSON string", raw)
	}
	return s
}

var minor = map[string]int{"KRW": 0, "USD": 2, "KWD": 3}

func digits(t *testing.T, cur, amount string) {
	t.Helper()
	want, ok := minor[cur]
	if !ok {
		t.Fatalf("unexpected currency %s", cur)
	}
	_, frac, dot := strings.Cut(amount, ".")
	if want == 0 && dot || want > 0 && len(frac) != want {
		t.Errorf("%s amount %q does not have exactly %d decimals", cur, amount, want)
	}
	if !regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`).MatchString(amount) {
		t.Errorf("%s amount %q is not a plain decimal", cur, amount)
	}
}

// TestGenThenNet: a generated day, checked with its keys, members and
// caps, nets; both formats included.
func TestGenThenNet(t *testing.T) {
	out := t.TempDir()
	r := settle(t, "gen", "--banks", "5", "--payments", "300", "--date", "2026-11-24", "--out", out, "--xml-every", "2")
	r.want(t, 0)
	files, _ := filepath.Glob(filepath.Join(out, "files", "*"))
	var pay []string
	nxml := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".sig") {
			continue
		}
		if strings.HasSuffix(f, ".xml") {
			nxml++
		}
		pay = append(pay, f)
	}
	if len(pay) != 5 || nxml == 0 {
		t.Fatalf("gen wrote %v", files)
	}
	args := append([]string{"net", "--format", "json", "--keys", filepath.Join(out, "keys"),
		"--members", filepath.Join(out, "members.txt"), "--caps", filepath.Join(out, "caps.csv")}, pay...)
	r = settle(t, args...)
	r.want(t, 0)
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("warning with --keys: %s", r.stderr)
	}
	var res struct {
		Files     int `json:"files"`
		Entries   int `json:"entries"`
		Positions []struct {
			Currency, Net string
		} `json:"positions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Files != 5 || res.Entries != 300 || len(res.Positions) == 0 {
		t.Errorf("files %d entries %d positions %d", res.Files, res.Entries, len(res.Positions))
	}
	sums := map[string]decimal.Decimal{}
	for _, p := range res.Positions {
		sums[p.Currency] = sums[p.Currency].Add(decimal.RequireFromString(p.Net))
	}
	for c, s := range sums {
		if !s.IsZero() {
			t.Errorf("%s sums to %s", c, s)
		}
	}
	settle(t, append([]string{"validate", "--keys", filepath.Join(out, "keys")}, pay...)...).want(t, 0)

	// One byte changed in one file: its signature fails, exit 1.
	b, err := os.ReadFile(pay[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-2] ^= 1
	if err := os.WriteFile(pay[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	r = settle(t, append([]string{"validate", "--keys", filepath.Join(out, "keys")}, pay...)...)
	r.want(t, 1)
	if !strings.Contains(r.stderr, pay[0]+":0: SIGNATURE_INVALID") {
		t.Errorf("tampered file: %s", r.stderr)
	}
}

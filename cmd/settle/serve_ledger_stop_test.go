package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"settle/adapters/postgres/pgtest"
	"settle/formats/gen"
)

// fakeIdentity writes a self-signed ECDSA certificate and its key, shaped
// as the SDK reads an MSP identity and a TLS CA.
func fakeIdentity(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "User1@bank1"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	os.MkdirAll(filepath.Join(dir, "msp", "signcerts"), 0o700)
	os.MkdirAll(filepath.Join(dir, "msp", "keystore"), 0o700)
	cert, key = filepath.Join(dir, "msp", "signcerts", "cert.pem"), filepath.Join(dir, "msp", "keystore", "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	return cert, key
}

func networkJSON(t *testing.T, dir, addr string) string {
	cert, key := fakeIdentity(t, filepath.Join(dir, "crypto"))
	n := map[string]any{"channel": "settle", "chaincode": "netting",
		"orderer": map[string]any{"mspId": "OrdererMSP", "address": addr, "tlsCACert": cert},
		"banks": []map[string]any{{"index": 1, "org": "Bank1", "mspId": "Bank1MSP",
			"peer":  map[string]any{"address": addr, "tlsCACert": cert},
			"admin": map[string]any{"cert": cert, "key": key}, "user": map[string]any{"cert": cert, "key": key}}},
		// The governed path (the default) signs as the operator org.
		"operators": []map[string]any{{"index": 1, "org": "Operator", "mspId": "OperatorMSP",
			"admin": map[string]any{"cert": cert, "key": key}, "user": map[string]any{"cert": cert, "key": key}}}}
	b, _ := json.Marshal(n)
	return write(t, dir, "network.json", string(b))
}

// TestServeSIGTERMDuringLedgerWrite: a cycle waits at NETTED for the
// ledger; settle serve carries it on and calls the ledger, whose peer
// accepts the connection and never answers. SIGTERM then stops the service
// cleanly and in order, every stage within its bound (the call does not
// hold the shutdown for the ledger's own connect timeout), and the cycle
// is left as it was, to be carried on later (issue 12, also-fix list).
func TestServeSIGTERMDuringLedgerWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	dsn := pgtest.NewDB(t)
	dir := t.TempDir()
	env := append(os.Environ(), "DATABASE_URL="+dsn, "SETTLE_CLOCK=2026-11-24T10:00:00+09:00")
	settleCmd := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	}
	must := func(args ...string) {
		t.Helper()
		if out, code := settleCmd(args...); code != 0 {
			t.Fatalf("settle %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	must("migrate", "up")
	day, err := gen.Day(gen.Config{Banks: 3, Payments: 12, Date: "2026-11-24", Seed: 5}, filepath.Join(dir, "day"))
	if err != nil {
		t.Fatal(err)
	}
	var users []map[string]any
	for i, b := range day.Banks {
		must("bank", "add", string(b.BIC), "--name", fmt.Sprint("Bank ", i+1), "--msp", fmt.Sprintf("Bank%dMSP", i+1))
		must("bank", "key", "add", string(b.BIC), "--label", "k1", "--pem", filepath.Join(day.KeysDir, string(b.BIC)+".pem"))
		users = append(users, map[string]any{"bic": string(b.BIC)})
	}
	state := filepath.Join(dir, "state")
	for _, f := range day.Files {
		bic := strings.SplitN(filepath.Base(f), "_", 2)[0]
		inbox := filepath.Join(state, "sftp", "banks", bic, "inbox")
		os.MkdirAll(inbox, 0o750)
		for _, p := range []string{f, f + ".sig"} {
			b, _ := os.ReadFile(p)
			os.WriteFile(filepath.Join(inbox, filepath.Base(p)), b, 0o640)
		}
	}
	ub, _ := json.Marshal(users)
	banksFile := write(t, dir, "banks.json", string(ub))
	config := func(name, network string) string {
		return write(t, dir, name, fmt.Sprintf(`zone: Asia/Seoul
state_dir: %q
sftp: {listen: "127.0.0.1:0", banks: %q}
http: {listen: "127.0.0.1:0"}
intake: {poll: 100ms, cutoff: "23:59"}
schedule: {cycle: "0 3 1 1 *", resume: 1s}
ledger: {network: %q}
`, state, banksFile, network))
	}
	// The cycle is netted with the ledger refusing connections ...
	refused := config("refused.yaml", networkJSON(t, filepath.Join(dir, "refused"), "127.0.0.1:1"))
	// The caps, under four eyes: one operator requests each, another approves.
	caps, _ := os.ReadFile(day.Caps)
	for _, line := range strings.Split(strings.TrimSpace(string(caps)), "\n")[1:] {
		f := strings.Split(line, ",")
		out, code := settleCmd("bank", "cap", "raise", f[0], f[1], f[2], "--note", "opening cap", "--by", "ops-kim", "--config", refused)
		m := regexp.MustCompile(`(?m)^request (\d+): raise`).FindStringSubmatch(out) // the output has the log's lines too
		if code != 0 || m == nil {
			t.Fatalf("cap raise: exit %d\n%s", code, out)
		}
		must("approve", m[1], "--by", "ops-lee", "--config", refused)
	}
	must("intake", "run", "--config", refused)
	if out, code := settleCmd("cycle", "run", "--date", "2026-11-24", "--config", refused); code == 0 {
		t.Fatalf("cycle run with no ledger succeeded:\n%s", out)
	}
	stage := func() string {
		out, _ := settleCmd("cycle", "status", "--date", "2026-11-24", "--config", refused)
		return out
	}
	if st := stage(); !strings.Contains(st, "NETTED") {
		t.Fatalf("cycle not waiting at NETTED:\n%s", st)
	}
	// ... then settle serve finds a ledger that takes connections and
	// never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	dialed := make(chan struct{})
	var once sync.Once
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			once.Do(func() { close(dialed) })
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	cfg := config("serve.yaml", networkJSON(t, filepath.Join(dir, "silent"), silent.Addr().String()))
	t.Setenv("SETTLE_CLOCK", "2026-11-24T10:00:00+09:00") // for the service, as for the commands
	p := startServeProc(t, cfg, dsn)
	select {
	case <-dialed: // the resume pass is in a ledger call
	case <-time.After(60 * time.Second):
		t.Fatal("settle serve never called the ledger")
	}
	p.stop(t)
	if late := p.logged("shutdown: stage did not stop in time"); len(late) > 0 {
		t.Fatalf("a stage outlived its bound: %v", late)
	}
	order := []int{p.index("shutdown: stage stopped", "sftp"), p.index("shutdown: stage stopped", "work"),
		p.index("shutdown: stage stopped", "http"), p.index("settle serve stopped", "")}
	for i, at := range order {
		if at < 0 || (i > 0 && at < order[i-1]) {
			t.Fatalf("shutdown out of order or incomplete (log positions %v)", order)
		}
	}
	if st := stage(); !strings.Contains(st, "NETTED") {
		t.Fatalf("cycle after the interrupted ledger call:\n%s", st)
	}
}

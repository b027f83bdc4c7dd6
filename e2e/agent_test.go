package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAfterSettlementAtTheAgent: a day settles on the real ledger; each bank
// finds its camt.053 statement signed by the scheme, which OpenSSL alone
// verifies and xmllint finds valid; the settlement agent (the simulator)
// takes its pacs.009 instructions, books all but one, one with a wrong
// amount, and answers with signed camt.054 notifications; the three-way
// reconciliation then holds exactly those two differences as breaks.
func TestAfterSettlementAtTheAgent(t *testing.T) {
	day := businessDay(t, 10)
	s := newSys(t, 120, day)
	s.env = append(s.env, "SETTLE_CLOCK="+day+"T01:00:00Z") // a day of its own, further ahead than a file may be dated
	const agent = "BOKRKRSE"
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(s.dir, "agent", "keys")
	os.MkdirAll(keys, 0o755)
	pkix, _ := x509.MarshalPKIXPublicKey(pub)
	os.WriteFile(filepath.Join(keys, agent+".k1.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}), 0o644)
	p8, _ := x509.MarshalPKCS8PrivateKey(priv)
	agentKey := filepath.Join(s.dir, "agent", "agent.key")
	os.WriteFile(agentKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	conf := fmt.Sprintf("agent:\n  bic: %s\n  scheme_account: SETTLE-01\n  keys: %s\n  unfunded_after: 10m\n  accounts:\n", agent, keys)
	for _, b := range s.banks {
		conf += fmt.Sprintf("    %s: RTGS-%s\n", b.BIC, b.BIC)
	}
	f, _ := os.OpenFile(s.config, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(conf)
	f.Close()

	s.dropAll(s.day)
	s.must("intake", "run")
	s.must("cycle", "run", "--date", day)

	// A bank checks its statement with nothing but OpenSSL and the scheme's
	// public key from its own outbox.
	outbox := func(bic string) string { return filepath.Join(s.dir, "state", "sftp", "banks", bic, "outbox") }
	b0 := string(s.banks[0].BIC)
	stmts, _ := filepath.Glob(filepath.Join(outbox(b0), "*.camt053.xml"))
	if len(stmts) != 1 {
		t.Fatalf("%s's outbox: statements %v", b0, stmts)
	}
	// The scheme's public key, as a member gets it (settle serve also puts
	// it in every outbox when it starts).
	keyOut := s.must("scheme", "key", "--config", s.config)
	blk, _ := pem.Decode([]byte(keyOut))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		t.Fatalf("settle scheme key printed no PEM public key:\n%s", keyOut)
	}
	schemeKey := filepath.Join(s.dir, "scheme.pem")
	os.WriteFile(schemeKey, pem.EncodeToMemory(blk), 0o644)
	sig, err := os.ReadFile(stmts[0] + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(s.dir, "stmt.sig.bin")
	dec := exec.Command("base64", "-d")
	dec.Stdin = strings.NewReader(string(sig))
	bin, err := dec.Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(raw, bin, 0o600)
	if out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", schemeKey, "-rawin", "-in", stmts[0], "-sigfile", raw).CombinedOutput(); err != nil {
		t.Fatalf("OpenSSL does not verify the statement: %v\n%s", err, out)
	}
	xsd := filepath.Join("..", "..", "shared", "iso20022", "xsd", "camt.053.001.08.xsd")
	if out, err := exec.Command("xmllint", "--noout", "--huge", "--schema", xsd, stmts[0]).CombinedOutput(); err != nil {
		t.Fatalf("the statement is not valid camt.053.001.08: %v\n%s", err, out)
	}

	// The agent takes its instructions and answers.
	in, out := filepath.Join(s.dir, "agent", "in"), filepath.Join(s.dir, "agent", "out")
	os.MkdirAll(in, 0o755)
	os.MkdirAll(out, 0o755)
	files, _ := filepath.Glob(filepath.Join(outbox(agent), "*"))
	n := 0
	for _, f := range files {
		if strings.Contains(f, ".pacs009.xml") || strings.Contains(filepath.Base(f), "scheme.") {
			b, _ := os.ReadFile(f)
			os.WriteFile(filepath.Join(in, filepath.Base(f)), b, 0o644)
			n += map[bool]int{true: 1}[strings.HasSuffix(f, ".pacs009.xml")]
		}
	}
	if n == 0 {
		t.Fatalf("no pacs.009 instructions in the agent's outbox: %v", files)
	}
	// The scheme's key, as the agent holds it, to check the instructions.
	pk, _ := os.ReadFile(schemeKey)
	os.WriteFile(filepath.Join(in, "scheme.k1.pem"), pk, 0o644)
	s.must("agent-sim", "--in", in, "--out", out, "--key", agentKey, "--account", "SETTLE-01", "--wrong-amount", "1", "--skip", "2")
	answers, _ := filepath.Glob(filepath.Join(out, "*.camt054.xml"))
	if len(answers) == 0 {
		t.Fatal("the agent simulator answered nothing")
	}
	agentInbox := filepath.Join(s.dir, "state", "sftp", "banks", agent, "inbox")
	os.MkdirAll(agentInbox, 0o750)
	for _, a := range answers {
		for _, name := range []string{a, a + ".sig"} {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(agentInbox, filepath.Base(name)), b, 0o640)
		}
	}
	s.must("agent", "collect", "--config", s.config)

	recon, _, code := s.settle("recon", "run", "--date", day)
	if code == 0 {
		t.Fatalf("recon run with the agent's two differences exited 0:\n%s", recon)
	}
	if !strings.Contains(recon, "PARTLY") || !strings.Contains(recon, "AGENT_AMOUNT_MISMATCH") || !strings.Contains(recon, "AGENT_MISSING") {
		t.Fatalf("three-way reconciliation:\n%s", recon)
	}
	breaks := s.must("breaks", "list", "--date", day, "--format", "csv")
	if strings.Count(breaks, ",AGENT_AMOUNT_MISMATCH,OPEN,") != 1 || strings.Count(breaks, ",AGENT_MISSING,OPEN,") != 1 || strings.Count(breaks, "\n") != 3 {
		t.Fatalf("the register holds other than the agent's two breaks:\n%s", breaks)
	}
}

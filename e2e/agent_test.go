package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAfterSettlementAtTheAgent: a day settles on the real ledger, every
// side moving its files with OpenSSH's sftp against `settle serve`. The
// banks upload theirs; a bank fetches its camt.053 statement, its .sig and
// the scheme's key from its outbox, and OpenSSL alone verifies it, xmllint
// finds it valid, and each entry names one of the cycle's Fabric
// transactions. The settlement agent logs in with its own key, fetches its
// pacs.009 instructions; the simulator books all but one, one with a
// wrong amount, and the agent uploads the signed camt.054 notifications
// and fetches their acks. The three-way reconciliation then holds exactly
// those two differences as breaks.
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

	// Every side over OpenSSH's sftp client, against `settle serve`: the
	// banks upload their files and fetch their statements; the agent has
	// a login of its own, fetches its instructions and uploads its answers.
	v := startServe(t, s, agent)
	v.uploadDay()
	s.must("cycle", "run", "--date", day)

	// A bank fetches its statement, its signature and the scheme's public
	// key from its own outbox, and checks the statement with nothing but
	// OpenSSL; xmllint finds it valid.
	b0 := string(s.banks[0].BIC)
	cycle := "C" + day
	got := filepath.Join(s.dir, "bank0")
	os.MkdirAll(got, 0o755)
	if err := v.sftp(b0, fmt.Sprintf("get outbox/%s.camt053.xml %s/\nget outbox/%s.camt053.xml.sig %s/\nget outbox/scheme.k1.pem %s/\n", cycle, got, cycle, got, got)); err != nil {
		t.Fatalf("%s fetching its statement over sftp: %v", b0, err)
	}
	stmt := filepath.Join(got, cycle+".camt053.xml")
	schemeKey := filepath.Join(got, "scheme.k1.pem")
	// The key in the outbox is the one `settle scheme key` prints.
	keyOut := s.must("scheme", "key", "--config", s.config)
	blk, _ := pem.Decode([]byte(keyOut))
	inOutbox, _ := os.ReadFile(schemeKey)
	if blk2, _ := pem.Decode(inOutbox); blk == nil || blk2 == nil || blk.Type != "PUBLIC KEY" || string(blk.Bytes) != string(blk2.Bytes) {
		t.Fatalf("settle scheme key printed %q, the outbox holds %q", keyOut, inOutbox)
	}
	sig, err := os.ReadFile(stmt + ".sig")
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
	if out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", schemeKey, "-rawin", "-in", stmt, "-sigfile", raw).CombinedOutput(); err != nil {
		t.Fatalf("OpenSSL does not verify the statement: %v\n%s", err, out)
	}
	xsd := filepath.Join("..", "..", "shared", "iso20022", "xsd", "camt.053.001.08.xsd")
	if out, err := exec.Command("xmllint", "--noout", "--huge", "--schema", xsd, stmt).CombinedOutput(); err != nil {
		t.Fatalf("the statement is not valid camt.053.001.08: %v\n%s", err, out)
	}

	// Each entry's AcctSvcrRef is the first 35 hex digits of a Fabric
	// transaction of the cycle, and AddtlNtryInf the whole 64 (README,
	// "Additions to the bank contract").
	txs := map[string]bool{}
	rows, err := s.db.Query(`SELECT t.tx_id FROM ledger_txs t JOIN cycles c ON c.id = t.cycle_id WHERE c.business_date = $1`, day)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		txs[id] = true
	}
	rows.Close()
	body, _ := os.ReadFile(stmt)
	var doc struct {
		Ntry []struct {
			Ref  string `xml:"AcctSvcrRef"`
			Info string `xml:"AddtlNtryInf"`
		} `xml:"BkToCstmrStmt>Stmt>Ntry"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil || len(doc.Ntry) == 0 {
		t.Fatalf("the statement's entries: %d, %v", len(doc.Ntry), err)
	}
	for _, n := range doc.Ntry {
		id := strings.TrimPrefix(n.Info, "ledger tx ")
		if len(id) != 64 || !txs[id] || n.Ref != id[:35] {
			t.Fatalf("entry AcctSvcrRef %q AddtlNtryInf %q: not the first 35 and the whole id of one of the cycle's %d ledger transactions", n.Ref, n.Info, len(txs))
		}
	}

	// The agent fetches its instructions, their signatures and the
	// scheme's keys from its outbox over sftp.
	in, out := filepath.Join(s.dir, "agent", "in"), filepath.Join(s.dir, "agent", "out")
	os.MkdirAll(in, 0o755)
	os.MkdirAll(out, 0o755)
	if err := v.sftp(agent, fmt.Sprintf("get outbox/*.pacs009.xml %s/\nget outbox/*.pacs009.xml.sig %s/\nget outbox/scheme.*.pem %s/\n", in, in, in)); err != nil {
		t.Fatalf("the agent fetching its instructions over sftp: %v", err)
	}
	instr, _ := filepath.Glob(filepath.Join(in, "*.pacs009.xml"))
	if len(instr) == 0 {
		t.Fatal("no pacs.009 instructions fetched from the agent's outbox")
	}
	s.must("agent-sim", "--in", in, "--out", out, "--key", agentKey, "--account", "SETTLE-01", "--wrong-amount", "1", "--skip", "2")
	answers, _ := filepath.Glob(filepath.Join(out, "*.camt054.xml"))
	if len(answers) == 0 {
		t.Fatal("the agent simulator answered nothing")
	}
	// It uploads each answer, then its signature, into its inbox; the
	// service takes them and acknowledges each in the agent's outbox.
	var batch strings.Builder
	for _, a := range answers {
		fmt.Fprintf(&batch, "put %s inbox/%s\nput %s.sig inbox/%s.sig\n", a, filepath.Base(a), a, filepath.Base(a))
	}
	if err := v.sftp(agent, batch.String()); err != nil {
		t.Fatalf("the agent uploading its answers over sftp: %v", err)
	}
	for _, a := range answers {
		local := filepath.Join(s.dir, "agent", filepath.Base(a)+".ack.json")
		deadline := time.Now().Add(60 * time.Second)
		for v.sftp(agent, fmt.Sprintf("get outbox/%s.ack.json %s\n", filepath.Base(a), local)) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("no acknowledgement of the agent's %s within 60 s", filepath.Base(a))
			}
			time.Sleep(300 * time.Millisecond)
		}
		if b, _ := os.ReadFile(local); !strings.Contains(string(b), `"status": "ACCEPTED"`) {
			t.Fatalf("the agent's %s: %s", filepath.Base(a), b)
		}
	}

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

// Package networktest runs the settlement chaincode's checks against a real Fabric
// network started by ops/fabric/up.sh, through the peer CLI, bypassing any client.
// SETTLE_FABRIC_NETWORK names the network.json that up.sh wrote; without it the
// tests skip. `make fabric-test` starts a network, sets it, and runs them.
package networktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const envNetwork = "SETTLE_FABRIC_NETWORK"

// Network is the part of network.json the tests use.
type Network struct {
	Channel       string `json:"channel"`
	Chaincode     string `json:"chaincode"`
	NetworkDir    string `json:"networkDir"`
	FabricDir     string `json:"fabricDir"`
	BinDir        string `json:"binDir"`
	PeerConfigDir string `json:"peerConfigDir"`
	BasePort      int    `json:"basePort"`
	Orderer       struct {
		Address   string `json:"address"`
		TLSCACert string `json:"tlsCACert"`
	} `json:"orderer"`
	Banks []struct {
		Index int    `json:"index"`
		MSPID string `json:"mspId"`
		Peer  struct {
			Address   string `json:"address"`
			TLSCACert string `json:"tlsCACert"`
		} `json:"peer"`
		Admin struct {
			MSPDir string `json:"mspDir"`
		} `json:"admin"`
		User struct {
			MSPDir string `json:"mspDir"`
		} `json:"user"`
	} `json:"banks"`
	// Operators are the scheme-operator orgs: no peers, not endorsers.
	Operators []struct {
		MSPID string `json:"mspId"`
		Admin struct {
			MSPDir string `json:"mspDir"`
		} `json:"admin"`
		User struct {
			MSPDir string `json:"mspDir"`
		} `json:"user"`
	} `json:"operators"`
}

var network *Network

func TestMain(m *testing.M) {
	path := os.Getenv(envNetwork)
	if path == "" {
		fmt.Fprintf(os.Stderr, "networktest: SKIP: %s is not set; these tests need a running network: run `make fabric-test` (or ops/fabric/up.sh and set %s to its network.json)\n", envNetwork, envNetwork)
		os.Exit(m.Run()) // each test skips itself
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "networktest: %s=%s: %v\n", envNetwork, path, err)
		os.Exit(1)
	}
	network = &Network{}
	if err := json.Unmarshal(raw, network); err != nil {
		fmt.Fprintf(os.Stderr, "networktest: %s: %v\n", path, err)
		os.Exit(1)
	}
	if len(network.Banks) != 3 && len(network.Banks) < 4 {
		fmt.Fprintf(os.Stderr, "networktest: the tests are written for 3 banks (legacy) or 4 (governed), %s has %d\n", path, len(network.Banks))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// need is the network for the legacy path's tests: three banks (the scenarios name
// their majorities and minorities for three), on an unfounded ledger.
func need(t *testing.T) *Network {
	t.Helper()
	if network == nil {
		t.Skipf("%s not set: no Fabric network to test against (run `make fabric-test`)", envNetwork)
	}
	if len(network.Banks) != 3 {
		t.Skipf("the legacy path's tests are written for 3 banks; this network has %d (it is the governed test's)", len(network.Banks))
	}
	return network
}

// Result is what the peer CLI reported for one invoke.
type Result struct {
	Status   string // validation code of the committed transaction, e.g. VALID
	Refusal  string // chaincode or endorsement error, when there was no transaction
	Payload  string // chaincode response payload (unescaped JSON)
	TxID     string
	Output   string
	Endorser []int
}

var (
	committedRe = regexp.MustCompile(`txid \[([0-9a-f]+)\] committed with status \((\w+)\)`)
	invalidRe   = regexp.MustCompile(`transaction invalidated with status \((\w+)\)`)
	payloadRe   = regexp.MustCompile(`payload:"((?:[^"\\]|\\.)*)"`)
	messageRe   = regexp.MustCompile(`message:"((?:[^"\\]|\\.)*)"`)
)

func (n *Network) env(bank int) []string {
	b := n.Banks[bank-1]
	return n.envAs(b.MSPID, b.User.MSPDir, bank)
}

// envAs is the peer CLI's environment for the identity in mspDir (of mspID), talking
// to bank peer's peer (queries, and the first endorser).
func (n *Network) envAs(mspID, mspDir string, peer int) []string {
	b := n.Banks[peer-1]
	return append(os.Environ(),
		"FABRIC_CFG_PATH="+n.PeerConfigDir,
		"CORE_PEER_TLS_ENABLED=true",
		"CORE_PEER_LOCALMSPID="+mspID,
		"CORE_PEER_MSPCONFIGPATH="+mspDir,
		"CORE_PEER_ADDRESS="+b.Peer.Address,
		"CORE_PEER_TLS_ROOTCERT_FILE="+b.Peer.TLSCACert,
		"FABRIC_LOGGING_SPEC=info",
	)
}

func argsJSON(fn string, args ...string) string {
	b, _ := json.Marshal(map[string][]string{"Args": append([]string{fn}, args...)})
	return string(b)
}

func unquote(s string) string {
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}

// invoke submits fn as bank endorsers[0]'s client, collecting endorsements from the
// listed banks' peers only, and waits for the commit event on those peers.
func (n *Network) invoke(t *testing.T, endorsers []int, fn string, args ...string) Result {
	t.Helper()
	return n.invokeEnv(t, n.env(endorsers[0]), endorsers, fn, args...)
}

// invokeEnv submits fn with the identity env names, endorsed by the listed banks' peers.
func (n *Network) invokeEnv(t *testing.T, env []string, endorsers []int, fn string, args ...string) Result {
	t.Helper()
	cli := []string{"chaincode", "invoke", "-o", n.Orderer.Address, "--tls", "--cafile", n.Orderer.TLSCACert,
		"-C", n.Channel, "-n", n.Chaincode, "-c", argsJSON(fn, args...),
		"--waitForEvent", "--waitForEventTimeout", "30s"}
	for _, e := range endorsers {
		b := n.Banks[e-1]
		cli = append(cli, "--peerAddresses", b.Peer.Address, "--tlsRootCertFiles", b.Peer.TLSCACert)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(n.BinDir, "peer"), cli...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	r := Result{Output: out.String(), Endorser: endorsers}
	if m := committedRe.FindStringSubmatch(r.Output); m != nil {
		r.TxID, r.Status = m[1], m[2]
	}
	if m := invalidRe.FindStringSubmatch(r.Output); m != nil {
		r.Status = m[1]
	}
	if m := payloadRe.FindStringSubmatch(r.Output); m != nil {
		r.Payload = unquote(m[1])
	}
	if err != nil && r.Status == "" {
		r.Refusal = r.Output
		if m := messageRe.FindStringSubmatch(r.Output); m != nil {
			r.Refusal = unquote(m[1])
		}
	}
	t.Logf("%s by %v: status=%q refusal=%q", fn, endorsers, r.Status, clip(r.Refusal))
	return r
}

// query evaluates fn on one bank's peer; err carries the chaincode's message.
func (n *Network) query(t *testing.T, bank int, fn string, args ...string) (string, error) {
	t.Helper()
	return n.queryEnv(t, n.env(bank), fn, args...)
}

// queryEnv evaluates fn with the identity env names, on the peer it names.
func (n *Network) queryEnv(t *testing.T, env []string, fn string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(n.BinDir, "peer"), "chaincode", "query",
		"-C", n.Channel, "-n", n.Chaincode, "-c", argsJSON(fn, args...))
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := stderr.String()
		if m := messageRe.FindStringSubmatch(msg); m != nil {
			msg = unquote(m[1])
		}
		return "", fmt.Errorf("%s", msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func (r Result) mustCommit(t *testing.T) Result {
	t.Helper()
	if r.Status != "VALID" {
		t.Fatalf("endorsed by %v: want a VALID commit, got status %q refusal %q\n%s", r.Endorser, r.Status, r.Refusal, clip(r.Output))
	}
	return r
}

func (r Result) mustBeRefused(t *testing.T, code string) {
	t.Helper()
	if r.Status != "" || !strings.Contains(r.Refusal, code+":") {
		t.Fatalf("want the chaincode to refuse with %s, got status %q refusal %q\n%s", code, r.Status, r.Refusal, clip(r.Output))
	}
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

// run is unique per test run, so the tests can run again on the same network.
var run = fmt.Sprintf("%x", time.Now().UnixNano()/1e6)

// bic makes a fresh BIC that no earlier run registered.
func bic(prefix string) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := []byte(prefix)
	for len(b) < 8 {
		b = append(b, letters[rand.IntN(len(letters))])
	}
	return string(b)
}

const fileSum = "2222222222222222222222222222222222222222222222222222222222222222"

type payment struct {
	Sender     string `json:"sender"`
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Debtor     string `json:"debtor"`
	Creditor   string `json:"creditor"`
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	FileSHA256 string `json:"fileSha256"`
	OriginalID string `json:"originalId,omitempty"`
}

func p(sender, id, creditor, amount, ccy string) payment {
	return payment{sender, id, "P", sender, creditor, amount, ccy, fileSum, ""}
}

func r(sender, id, orig, creditor, amount, ccy string) payment {
	return payment{sender, id, "R", sender, creditor, amount, ccy, fileSum, orig}
}

func chunk(t *testing.T, ps ...payment) string {
	b, err := json.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type position struct {
	Bank     string `json:"bank"`
	Currency string `json:"currency"`
	Net      string `json:"net"`
}

func positions(t *testing.T, ps ...position) string {
	b, _ := json.Marshal(ps)
	return string(b)
}

var majority = []int{1, 2}

// members registers three fresh banks with KRW caps, endorsed by a majority.
func members(t *testing.T, n *Network, capKRW string) (a, b, c string) {
	t.Helper()
	a, b, c = bic("TSTA"), bic("TSTB"), bic("TSTC")
	for i, x := range []string{a, b, c} {
		n.invoke(t, majority, "RegisterBank", x, n.Banks[i].MSPID).mustCommit(t)
		n.invoke(t, majority, "SetCap", x, "KRW", capKRW).mustCommit(t)
	}
	return a, b, c
}

// eventually polls fn on one bank's peer until ok, within a bound (peers commit
// blocks independently, so a peer that did not endorse may lag slightly).
func eventually(t *testing.T, n *Network, bank int, fn string, args []string, ok func(string, error) bool) string {
	t.Helper()
	var out string
	var err error
	for i := 0; i < 60; i++ {
		out, err = n.query(t, bank, fn, args...)
		if ok(out, err) {
			return out
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s%v on bank %d: condition not met within 30 s; last answer %q, error %v", fn, args, bank, out, err)
	return ""
}

func TestMajorityEndorsementCommits(t *testing.T) {
	n := need(t)
	x := bic("MAJX")
	res := n.invoke(t, []int{1, 3}, "RegisterBank", x, n.Banks[0].MSPID).mustCommit(t)
	if res.TxID == "" {
		t.Fatal("no tx id in the CLI output")
	}
	// Every peer, including the one that did not endorse, commits it.
	out := eventually(t, n, 2, "GetBank", []string{x}, func(s string, err error) bool { return err == nil })
	if b := decodeJSON[map[string]string](t, out); b["mspId"] != n.Banks[0].MSPID || b["txId"] != res.TxID {
		t.Fatalf("bank on peer 2: %v, want tx %s", b, res.TxID)
	}
	n.invoke(t, []int{1, 2, 3}, "Ping").mustCommit(t)
}

func TestSingleEndorserIsRejected(t *testing.T) {
	n := need(t)
	for i := 1; i <= len(n.Banks); i++ {
		x := bic("MINX")
		res := n.invoke(t, []int{i}, "RegisterBank", x, n.Banks[i-1].MSPID)
		if res.Status != "ENDORSEMENT_POLICY_FAILURE" {
			t.Fatalf("endorsed by bank %d only: want ENDORSEMENT_POLICY_FAILURE, got %q %q\n%s", i, res.Status, res.Refusal, clip(res.Output))
		}
		// The transaction is in a block but marked invalid: nothing was written, on
		// any peer, once every peer has committed a later block.
		barrier(t, n)
		for j := 1; j <= len(n.Banks); j++ {
			if _, err := n.query(t, j, "GetBank", x); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
				t.Fatalf("bank %s visible on peer %d after a minority endorsement (err %v)", x, j, err)
			}
		}
	}
	// A payment chunk endorsed by one bank is rejected the same way.
	a, b, _ := members(t, n, "1000000")
	id := "MIN-" + run
	res := n.invoke(t, []int{2}, "RecordChunk", "MIN"+run, "K1", chunk(t, p(a, id, b, "100", "KRW")))
	if res.Status != "ENDORSEMENT_POLICY_FAILURE" {
		t.Fatalf("chunk endorsed by one bank: got %q %q", res.Status, res.Refusal)
	}
	barrier(t, n)
	for j := 1; j <= len(n.Banks); j++ {
		if _, err := n.query(t, j, "GetPayment", a, id); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
			t.Fatalf("payment recorded on peer %d by a minority endorsement (err %v)", j, err)
		}
	}
}

// barrier commits a fresh transaction with a majority and waits until every peer
// has it: blocks commit in order, so every earlier transaction is then final on
// every peer too.
func barrier(t *testing.T, n *Network) {
	t.Helper()
	x := bic("BARR")
	n.invoke(t, majority, "RegisterBank", x, n.Banks[0].MSPID).mustCommit(t)
	for j := 1; j <= len(n.Banks); j++ {
		eventually(t, n, j, "GetBank", []string{x}, func(s string, err error) bool { return err == nil })
	}
}

func TestDuplicatePaymentIsRefusedByTheChaincode(t *testing.T) {
	n := need(t)
	a, b, c := members(t, n, "1000000")
	cycle := "DUP" + run
	first := chunk(t, p(a, "D-1", b, "100", "KRW"), p(a, "D-2", c, "50", "KRW"))
	rec := n.invoke(t, majority, "RecordChunk", cycle, "K1", first).mustCommit(t)
	got := decodeJSON[map[string]any](t, rec.Payload)
	if got["status"] != "recorded" || got["count"] != float64(2) || got["controlSum"] != "150" {
		t.Fatalf("record result %v", got)
	}
	pay := decodeJSON[map[string]any](t, eventually(t, n, 3, "GetPayment", []string{a, "D-1"}, func(s string, err error) bool { return err == nil }))
	if pay["txId"] != rec.TxID || pay["amount"] != "100" || pay["creditor"] != b {
		t.Fatalf("payment %v, want tx %s", pay, rec.TxID)
	}

	// Same payment id in another chunk, sent by every bank's peer: each refuses.
	for _, e := range [][]int{{1, 2, 3}, {3}, {2}} {
		res := n.invoke(t, e, "RecordChunk", cycle, "K2", chunk(t, p(a, "D-3", b, "7", "KRW"), p(a, "D-1", c, "9", "KRW")))
		res.mustBeRefused(t, "DUPLICATE_PAYMENT")
	}
	if _, err := n.query(t, 1, "GetPayment", a, "D-3"); err == nil {
		t.Fatal("a refused chunk left a partial write (D-3)")
	}
	// Re-recording the identical chunk is answered, not written twice.
	again := n.invoke(t, majority, "RecordChunk", cycle, "K1", first).mustCommit(t)
	if g := decodeJSON[map[string]any](t, again.Payload); g["status"] != "already_recorded" || g["txId"] != rec.TxID {
		t.Fatalf("re-record answered %v", g)
	}
	hist := decodeJSON[[]map[string]any](t, eventually(t, n, 1, "GetHistory", []string{"pay/" + a + "/D-1"}, func(s string, err error) bool { return err == nil }))
	if len(hist) != 1 {
		t.Fatalf("payment D-1 has %d versions, want 1", len(hist))
	}
	// Other content under the same chunk id is refused.
	n.invoke(t, majority, "RecordChunk", cycle, "K1", chunk(t, p(a, "D-9", b, "1", "KRW"))).mustBeRefused(t, "CHUNK_CONFLICT")
}

func TestInvalidReversalIsRefusedByTheChaincode(t *testing.T) {
	n := need(t)
	a, b, c := members(t, n, "1000000")
	c1, c2 := "REV1"+run, "REV2"+run
	n.invoke(t, majority, "RecordChunk", c1, "K1", chunk(t, p(a, "O-1", b, "1000", "KRW"), p(b, "O-2", c, "300", "KRW"))).mustCommit(t)

	// Not settled yet.
	n.invoke(t, majority, "RecordChunk", c2, "K1", chunk(t, r(a, "R-1", "O-1", b, "1000", "KRW"))).mustBeRefused(t, "REVERSAL_INVALID")
	n.invoke(t, majority, "SettleCycle", c1, positions(t,
		position{a, "KRW", "-1000"}, position{b, "KRW", "700"}, position{c, "KRW", "300"})).mustCommit(t)

	bad := []struct {
		name string
		rv   payment
	}{
		{"original does not exist", r(a, "R-1", "O-404", b, "1000", "KRW")},
		{"amount differs", r(a, "R-1", "O-1", b, "999", "KRW")},
		{"creditor differs", r(a, "R-1", "O-1", c, "1000", "KRW")},
		{"currency differs", r(a, "R-1", "O-1", b, "1000", "JPY")},
		{"another sender's payment", r(c, "R-1", "O-2", b, "300", "KRW")},
	}
	for _, x := range bad {
		t.Run(x.name, func(t *testing.T) {
			n.invoke(t, majority, "RecordChunk", c2, "K1", chunk(t, x.rv)).mustBeRefused(t, "REVERSAL_INVALID")
		})
	}
	ok := n.invoke(t, majority, "RecordChunk", c2, "K1", chunk(t, r(a, "R-1", "O-1", b, "1000", "KRW"))).mustCommit(t)
	if g := decodeJSON[map[string]any](t, ok.Payload); fmt.Sprint(g["positions"]) != fmt.Sprint([]any{
		map[string]any{"bank": a, "currency": "KRW", "net": "1000"},
		map[string]any{"bank": b, "currency": "KRW", "net": "-1000"},
	}) && fmt.Sprint(g["positions"]) != fmt.Sprint([]any{
		map[string]any{"bank": b, "currency": "KRW", "net": "-1000"},
		map[string]any{"bank": a, "currency": "KRW", "net": "1000"},
	}) {
		t.Fatalf("a reversal must move the money back: %v", g["positions"])
	}
	n.invoke(t, majority, "RecordChunk", c2, "K2", chunk(t, r(a, "R-2", "O-1", b, "1000", "KRW"))).mustBeRefused(t, "REVERSAL_INVALID")
	chain := decodeJSON[map[string]map[string]any](t, eventually(t, n, 3, "GetReversalChain", []string{a, "O-1"}, func(s string, err error) bool {
		return err == nil && strings.Contains(s, `"reversal":{`)
	}))
	if chain["original"]["id"] != "O-1" || chain["reversal"]["id"] != "R-1" || chain["reversal"]["txId"] != ok.TxID {
		t.Fatalf("reversal chain %v", chain)
	}
}

func TestSettleChecks(t *testing.T) {
	n := need(t)
	a, b, c := members(t, n, "1000000")
	cycle := "SET" + run
	n.invoke(t, majority, "RecordChunk", cycle, "K1", chunk(t, p(a, "S-1", b, "600000", "KRW"))).mustCommit(t)
	n.invoke(t, []int{2, 3}, "RecordChunk", cycle, "K2", chunk(t, p(b, "S-2", c, "100000", "KRW"), p(c, "S-3", a, "50000", "KRW"))).mustCommit(t)
	good := positions(t, position{a, "KRW", "-550000"}, position{b, "KRW", "500000"}, position{c, "KRW", "50000"})

	n.invoke(t, majority, "SettleCycle", cycle, positions(t,
		position{a, "KRW", "-550000"}, position{b, "KRW", "400000"}, position{c, "KRW", "150000"})).mustBeRefused(t, "POSITIONS_MISMATCH")
	n.invoke(t, majority, "SettleCycle", cycle, positions(t,
		position{a, "KRW", "-550000"}, position{b, "KRW", "500000"})).mustBeRefused(t, "POSITIONS_MISMATCH")

	n.invoke(t, majority, "SetCap", a, "KRW", "549999").mustCommit(t)
	eventually(t, n, 1, "GetCap", []string{a, "KRW"}, func(s string, err error) bool { return err == nil && strings.Contains(s, `"549999"`) })
	n.invoke(t, majority, "SettleCycle", cycle, good).mustBeRefused(t, "CAP_EXCEEDED")
	n.invoke(t, majority, "SetCap", a, "KRW", "550000").mustCommit(t)
	eventually(t, n, 1, "GetCap", []string{a, "KRW"}, func(s string, err error) bool { return err == nil && strings.Contains(s, `"550000"`) })

	res := n.invoke(t, majority, "SettleCycle", cycle, good).mustCommit(t)
	if g := decodeJSON[map[string]any](t, res.Payload); g["outcome"] != "settled" || g["payments"] != float64(3) {
		t.Fatalf("settle answered %v", g)
	}
	cy := decodeJSON[map[string]any](t, eventually(t, n, 3, "GetCycle", []string{cycle}, func(s string, err error) bool {
		return err == nil && strings.Contains(s, `"status":"settled"`)
	}))
	if cy["settledTxId"] != res.TxID || len(cy["chunks"].([]any)) != 2 {
		t.Fatalf("cycle %v", cy)
	}
	again := n.invoke(t, majority, "SettleCycle", cycle, good).mustCommit(t)
	if g := decodeJSON[map[string]any](t, again.Payload); g["outcome"] != "already_settled" {
		t.Fatalf("repeat settle answered %v", g)
	}
	n.invoke(t, majority, "RecordChunk", cycle, "K3", chunk(t, p(a, "S-4", b, "1", "KRW"))).mustBeRefused(t, "CYCLE_SETTLED")
}

// script runs one of the ops/fabric scripts on this network and returns its output.
func script(t *testing.T, n *Network, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(n.FabricDir, name), args...)
	cmd.Env = append(os.Environ(), "FABRIC_NETWORK_DIR="+n.NetworkDir, fmt.Sprintf("FABRIC_BASE_PORT=%d", n.BasePort),
		fmt.Sprintf("FABRIC_BANKS=%d", len(n.Banks)), "FABRIC_CHANNEL="+n.Channel, "FABRIC_CHAINCODE="+n.Chaincode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// peerScript runs ops/fabric/peer-stop.sh or peer-start.sh for one bank.
func peerScript(t *testing.T, n *Network, name string, bank int) {
	t.Helper()
	script(t, n, name, fmt.Sprint(bank))
}

func TestUpOnARunningNetworkChangesNothing(t *testing.T) {
	n := need(t)
	out := script(t, n, "up.sh")
	if !strings.Contains(out, "network already up") {
		t.Fatalf("up.sh on a running network said:\n%s", out)
	}
	n.invoke(t, majority, "Ping").mustCommit(t)
}

func TestPeerDown(t *testing.T) {
	n := need(t)
	a, b, _ := members(t, n, "1000000")
	cycle := "DOWN" + run
	last := len(n.Banks)
	peerScript(t, n, "peer-stop.sh", last)
	t.Cleanup(func() { peerScript(t, n, "peer-start.sh", last) })

	// One bank's peer down: the others are still a majority, and a cycle settles.
	n.invoke(t, majority, "RecordChunk", cycle, "K1", chunk(t, p(a, "PD-1", b, "10", "KRW"))).mustCommit(t)
	n.invoke(t, majority, "SettleCycle", cycle, positions(t, position{a, "KRW", "-10"}, position{b, "KRW", "10"})).mustCommit(t)
	if res := n.invoke(t, []int{1, last}, "Ping"); res.Status == "VALID" {
		t.Fatal("an invoke that needs the stopped peer committed")
	}

	// A majority down (with 3 banks: two of them): the one left cannot write.
	peerScript(t, n, "peer-stop.sh", 2)
	t.Cleanup(func() { peerScript(t, n, "peer-start.sh", 2) })
	res := n.invoke(t, []int{1}, "RecordChunk", cycle+"B", "K1", chunk(t, p(a, "PD-2", b, "10", "KRW")))
	if res.Status != "ENDORSEMENT_POLICY_FAILURE" {
		t.Fatalf("majority down: want ENDORSEMENT_POLICY_FAILURE, got %q %q", res.Status, res.Refusal)
	}

	// Back up: the stopped peers catch up from the orderer and see what was written.
	peerScript(t, n, "peer-start.sh", 2)
	peerScript(t, n, "peer-start.sh", last)
	eventually(t, n, last, "GetCycle", []string{cycle}, func(s string, err error) bool {
		return err == nil && strings.Contains(s, `"status":"settled"`)
	})
	if _, err := n.query(t, last, "GetPayment", a, "PD-2"); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("the minority write is visible after the peers returned (err %v)", err)
	}
	n.invoke(t, majority, "RecordChunk", cycle+"B", "K1", chunk(t, p(a, "PD-2", b, "10", "KRW"))).mustCommit(t)
	n.invoke(t, []int{2, last}, "Ping").mustCommit(t)
}

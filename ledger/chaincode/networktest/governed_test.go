package networktest

import (
	"errors"
	"fmt"
	"testing"

	"settle/ledger/chaincode/contracttest"
)

// govNetwork is the real network as a contracttest.Governed ledger: every identity
// is a real certificate issued by its org's CA (cryptogen, NodeOUs), the peer CLI
// signs with it, and a majority of the banks' peers endorse. The operator orgs have
// no peers: their transactions are endorsed by the banks' peers like anyone's.
type govNetwork struct {
	n    *Network
	bics []string
}

// needGoverned is a network with at least four banks and two operator orgs (the
// founding operator and a successor the banks vote in), not founded yet: the
// governed contract founds its ledger, which happens once, so it runs on a network
// of its own (ops/fabric/test.sh starts one with FABRIC_BANKS=4 FABRIC_OPERATORS=2).
func needGoverned(t *testing.T) *Network {
	t.Helper()
	if network == nil {
		t.Skipf("%s not set: no Fabric network to test against (run `make fabric-test`)", envNetwork)
	}
	if len(network.Banks) < 4 || len(network.Operators) < 2 {
		t.Skipf("the governed contract needs 4 banks and 2 operator orgs; this network has %d and %d (FABRIC_BANKS=4 FABRIC_OPERATORS=2)", len(network.Banks), len(network.Operators))
	}
	if out, err := network.query(t, 1, "GetGovernance"); err == nil {
		t.Fatalf("this network's ledger is already founded (%s): a founding happens once; the governed contract needs a fresh network (ops/fabric/down.sh --clean, then up.sh)", clip(out))
	}
	return network
}

// endorsers is a majority of the banks' peers: the channel's OutOf policy.
func (g govNetwork) endorsers() []int {
	var out []int
	for i := 1; i <= len(g.n.Banks)/2+1; i++ {
		out = append(out, i)
	}
	return out
}

func (g govNetwork) mspDir(t *testing.T, msp, role string) string {
	pick := func(admin, user string) string {
		if role == contracttest.Admin {
			return admin
		}
		return user
	}
	for _, b := range g.n.Banks {
		if b.MSPID == msp {
			return pick(b.Admin.MSPDir, b.User.MSPDir)
		}
	}
	for _, o := range g.n.Operators {
		if o.MSPID == msp {
			return pick(o.Admin.MSPDir, o.User.MSPDir)
		}
	}
	t.Fatalf("no identity of %s on this network", msp)
	return ""
}

type govBackend struct {
	g         govNetwork
	msp, role string
}

func (g govNetwork) As(msp, role string) contracttest.Backend {
	return govBackend{g, msp, role}
}

func (g govNetwork) Operator() string { return g.n.Operators[0].MSPID }

// NextOperator is the operator org the banks vote in (contracttest.Successor).
func (g govNetwork) NextOperator() string { return g.n.Operators[1].MSPID }

func (g govNetwork) Banks() []contracttest.Org {
	var out []contracttest.Org
	for i, b := range g.n.Banks[:4] {
		out = append(out, contracttest.Org{MSPID: b.MSPID, BIC: g.bics[i]})
	}
	return out
}

func (b govBackend) Submit(t *testing.T, fn string, args ...string) ([]byte, error) {
	t.Helper()
	env := b.g.n.envAs(b.msp, b.g.mspDir(t, b.msp, b.role), 1)
	r := b.g.n.invokeEnv(t, env, b.g.endorsers(), fn, args...)
	switch {
	case r.Status == "VALID":
		return []byte(r.Payload), nil
	case r.Refusal != "":
		return nil, errors.New(r.Refusal)
	default:
		return nil, fmt.Errorf("transaction not committed: status %q\n%s", r.Status, clip(r.Output))
	}
}

func (b govBackend) Evaluate(t *testing.T, fn string, args ...string) ([]byte, error) {
	t.Helper()
	out, err := b.g.n.queryEnv(t, b.g.n.envAs(b.msp, b.g.mspDir(t, b.msp, b.role), 1), fn, args...)
	return []byte(out), err
}

// SubmitAll is Submit endorsed by every bank peer (contracttest.AllPeers). The peer
// CLI forms the transaction only when every proposal response is the same bytes
// ("ProposalResponsePayloads do not match" otherwise), and with --waitForEvent it
// waits for the commit event of each endorsing peer, which carries the
// transaction's validation code: each peer must report this transaction VALID.
func (g govNetwork) SubmitAll(t *testing.T, msp, role, fn string, args ...string) ([]byte, string, string, error) {
	t.Helper()
	var all []int
	for i := range g.n.Banks {
		all = append(all, i+1)
	}
	r := g.n.invokeEnv(t, g.n.envAs(msp, g.mspDir(t, msp, role), 1), all, fn, args...)
	if r.Status == "" {
		return nil, "", "", fmt.Errorf("not committed (refusal %q)\n%s", r.Refusal, clip(r.Output))
	}
	events := committedRe.FindAllStringSubmatch(r.Output, -1)
	if len(events) != len(all) {
		return nil, r.TxID, r.Status, fmt.Errorf("%d commit events for %d endorsing peers\n%s", len(events), len(all), clip(r.Output))
	}
	for _, e := range events {
		if e[1] != r.TxID || e[2] != r.Status {
			return nil, r.TxID, r.Status, fmt.Errorf("peers report tx %s %s and tx %s %s", r.TxID, r.Status, e[1], e[2])
		}
	}
	return []byte(r.Payload), r.TxID, r.Status, nil
}

// Peers is the number of bank peers.
func (g govNetwork) Peers() int { return len(g.n.Banks) }

// EvaluateOn evaluates fn on bank peer i's peer, as msp's role.
func (g govNetwork) EvaluateOn(t *testing.T, peer int, msp, role, fn string, args ...string) ([]byte, error) {
	t.Helper()
	out, err := g.n.queryEnv(t, g.n.envAs(msp, g.mspDir(t, msp, role), peer), fn, args...)
	return []byte(out), err
}

// TestGovernedContract runs the governed path's contract (every attack of issue 11
// and the auditor's next ones) on the real network, with real admin and client
// certificates of each bank org and of the operator orgs: each attack must be
// refused by real peers.
func TestGovernedContract(t *testing.T) {
	n := needGoverned(t)
	contracttest.RunGoverned(t, govNetwork{n: n, bics: []string{bic("GOVA"), bic("GOVB"), bic("GOVC"), bic("GOVD")}})
}

package networktest

import (
	"errors"
	"fmt"
	"testing"

	"settle/ledger/chaincode/contracttest"
)

// cliBackend runs the contract test through the peer CLI: transactions endorsed by
// banks 1 and 2 (a majority of 3) and waited for; queries on bank 1's peer.
type cliBackend struct{ n *Network }

func (c cliBackend) Submit(t *testing.T, fn string, args ...string) ([]byte, error) {
	t.Helper()
	r := c.n.invoke(t, majority, fn, args...)
	switch {
	case r.Status == "VALID":
		return []byte(r.Payload), nil
	case r.Refusal != "":
		return nil, errors.New(r.Refusal)
	default:
		return nil, fmt.Errorf("transaction not committed: status %q\n%s", r.Status, clip(r.Output))
	}
}

func (c cliBackend) Evaluate(t *testing.T, fn string, args ...string) ([]byte, error) {
	t.Helper()
	out, err := c.n.query(t, 1, fn, args...)
	return []byte(out), err
}

// TestContract runs the same contract as the chaincode's unit tests, on the real network.
func TestContract(t *testing.T) { contracttest.Run(t, cliBackend{need(t)}) }

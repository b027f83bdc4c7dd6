package chaincode

import (
	"testing"

	"settle/ledger/chaincode/contracttest"
)

// memBackend runs the contract test on the in-memory ledger.
type memBackend struct{ l *memLedger }

func (m memBackend) Submit(_ *testing.T, fn string, args ...string) ([]byte, error) {
	return m.l.invoke(fn, args...)
}

func (m memBackend) Evaluate(_ *testing.T, fn string, args ...string) ([]byte, error) {
	before := len(m.l.state)
	out, err := m.l.invoke(fn, args...)
	if len(m.l.state) != before {
		panic("a query wrote to the ledger: " + fn)
	}
	return out, err
}

func TestContract(t *testing.T) { contracttest.Run(t, memBackend{newLedger()}) }

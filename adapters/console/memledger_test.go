package console_test

// A copy of jobs/memledger_test.go (test files cannot be imported): the
// ledger stand-in that keeps the chaincode rules the pipeline relies on.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"os"
	"sort"
	"sync"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// memLedger stands in for the Fabric ledger in the pipeline's tests on
// Postgres; it keeps the chaincode's rules that the pipeline relies on
// (idempotent chunks and settle, a payment recorded once, settle refused
// unless the positions match the chunks). The real ledger has its own
// contract tests against the running network.
type memLedger struct {
	mu        sync.Mutex
	chunks    map[string]string // cycle/chunk -> content hash
	txs       map[string]jobs.LedgerTx
	payments  map[string]reconciliation.Record
	positions map[string][]reconciliation.NetPosition
	settled   map[string]string
	writes    int // transactions that wrote something
	failAfter int // fail every write after this many (0: never)
	lostAck   bool
	drop      string                    // payment key to leave out of CyclePayments (a lost event)
	content   map[string]jobs.TxContent // tx id -> what it carried
	readAfter uint64                    // the block a reader was told to wait for (jobs.ReadFloor)
	// unregistered banks are not in the ledger's registry (jobs.BankRegistry).
	unregistered map[settlement.BIC]bool
}

func (m *memLedger) Registered(_ context.Context, bic settlement.BIC) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.unregistered[bic], nil
}

func (m *memLedger) ReadAfter(block uint64) {
	m.mu.Lock()
	m.readAfter = block
	m.mu.Unlock()
}

func newMemLedger() *memLedger {
	return &memLedger{chunks: map[string]string{}, txs: map[string]jobs.LedgerTx{}, payments: map[string]reconciliation.Record{},
		positions: map[string][]reconciliation.NetPosition{}, settled: map[string]string{}, content: map[string]jobs.TxContent{}}
}

var errLedgerDown = fmt.Errorf("%w: peers down", jobs.ErrLedgerUnavailable)

func chunkHash(c jobs.Chunk) string {
	h := sha256.New()
	for _, e := range c.Entries {
		fmt.Fprintf(h, "%s|%s|%s|%s|%s|%s|%s|%s\n", e.Sender, e.Entry.ID, e.Entry.Kind, e.Entry.Debtor, e.Entry.Creditor, e.Entry.Amount, e.Entry.Currency, e.FileSHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (m *memLedger) RecordChunk(_ context.Context, c jobs.Chunk) (jobs.LedgerTx, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := c.Cycle + "/" + c.ID
	h := chunkHash(c)
	if prev, ok := m.chunks[k]; ok {
		if prev != h {
			return jobs.LedgerTx{}, fmt.Errorf("%w: chunk %s recorded with other content", jobs.ErrLedgerRefused, k)
		}
		tx := m.txs[k]
		tx.Existing = true
		return tx, nil
	}
	if m.failAfter > 0 && m.writes >= m.failAfter {
		return jobs.LedgerTx{}, errLedgerDown
	}
	for _, e := range c.Entries {
		if _, dup := m.payments[string(e.Sender)+"/"+e.Entry.ID]; dup {
			return jobs.LedgerTx{}, fmt.Errorf("%w: payment %s/%s already recorded", jobs.ErrLedgerRefused, e.Sender, e.Entry.ID)
		}
	}
	m.writes++
	tx := jobs.LedgerTx{ID: fmt.Sprintf("tx%04d", m.writes), Block: uint64(m.writes), Endorsers: []string{"Bank1MSP", "Bank2MSP"}}
	carried := jobs.TxContent{Tx: tx, Function: "RecordChunk", Cycle: c.Cycle, Chunk: c.ID}
	for _, e := range c.Entries {
		en := e.Entry
		r := reconciliation.Record{Sender: e.Sender, ID: en.ID, Kind: en.Kind, Debtor: en.Debtor,
			Creditor: en.Creditor, Amount: en.Amount, Currency: en.Currency, FileSHA256: e.FileSHA256, Cycle: c.Cycle, Original: en.Original, TxID: tx.ID}
		m.payments[string(e.Sender)+"/"+en.ID] = r
		carried.Payments = append(carried.Payments, r)
	}
	m.content[tx.ID] = carried
	m.chunks[k], m.txs[k] = h, tx
	if m.lostAck { // committed, but the answer never reached the client
		m.lostAck = false
		return jobs.LedgerTx{}, errLedgerDown
	}
	return tx, nil
}

func (m *memLedger) SettleCycle(_ context.Context, cycle string, ps []settlement.Position) (jobs.LedgerTx, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if tx, ok := m.settled[cycle]; ok {
		return jobs.LedgerTx{ID: tx, Existing: true}, nil
	}
	if m.failAfter > 0 && m.writes >= m.failAfter {
		return jobs.LedgerTx{}, errLedgerDown
	}
	// The chaincode sums its chunks; here, the payments of the cycle.
	var n settlement.Netting
	for _, r := range m.payments {
		if r.Cycle != cycle {
			continue
		}
		e := settlement.Entry{Kind: r.Kind, ID: r.ID, Debtor: r.Debtor, Creditor: r.Creditor, Amount: r.Amount, Currency: r.Currency}
		if err := n.Add(&e); err != nil {
			return jobs.LedgerTx{}, err
		}
	}
	res, err := n.Result()
	if err != nil {
		return jobs.LedgerTx{}, err
	}
	want := map[string]decimal.Decimal{}
	for _, p := range res.Positions {
		want[string(p.Bank)+p.Currency.Code()] = p.Net
	}
	for _, p := range ps {
		if !want[string(p.Bank)+p.Currency.Code()].Equal(p.Net) {
			return jobs.LedgerTx{}, fmt.Errorf("%w: positions do not match the chunks", jobs.ErrLedgerRefused)
		}
	}
	m.writes++
	tx := fmt.Sprintf("settle%04d", m.writes)
	m.settled[cycle] = tx
	for _, p := range ps {
		m.positions[cycle] = append(m.positions[cycle], reconciliation.NetPosition{Bank: p.Bank, Currency: p.Currency, Net: p.Net})
	}
	lt := jobs.LedgerTx{ID: tx, Block: uint64(m.writes), Endorsers: []string{"Bank1MSP", "Bank2MSP"}}
	m.content[tx] = jobs.TxContent{Tx: lt, Function: "SettleCycle", Cycle: cycle, Positions: m.positions[cycle]}
	return lt, nil
}

func (m *memLedger) Cycle(_ context.Context, cycle string) (jobs.LedgerCycle, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, ok := m.settled[cycle]
	if !ok {
		return jobs.LedgerCycle{ID: cycle, Status: "open"}, false, nil
	}
	return jobs.LedgerCycle{ID: cycle, Status: "settled", Positions: m.positions[cycle], TxID: tx}, true, nil
}

func (m *memLedger) CyclePayments(_ context.Context, cycle string) iter.Seq2[reconciliation.Record, error] {
	m.mu.Lock()
	var rs []reconciliation.Record
	for k, r := range m.payments {
		if r.Cycle == cycle && k != m.drop {
			rs = append(rs, r)
		}
	}
	m.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Sender != rs[j].Sender {
			return rs[i].Sender < rs[j].Sender
		}
		return rs[i].ID < rs[j].ID
	})
	return func(yield func(reconciliation.Record, error) bool) {
		for _, r := range rs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func (m *memLedger) Payment(_ context.Context, s settlement.BIC, id string) (reconciliation.Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.payments[string(s)+"/"+id]
	return r, ok, nil
}

func (m *memLedger) ReversalChain(_ context.Context, s settlement.BIC, id string) ([]reconciliation.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.payments[string(s)+"/"+id]
	if !ok {
		return nil, nil
	}
	if r.Kind == settlement.KindReversal {
		return []reconciliation.Record{m.payments[string(s)+"/"+r.Original], r}, nil
	}
	for _, x := range m.payments {
		if x.Sender == s && x.Kind == settlement.KindReversal && x.Original == id {
			return []reconciliation.Record{r, x}, nil
		}
	}
	return []reconciliation.Record{r}, nil
}

func (m *memLedger) Tx(_ context.Context, id string) (jobs.LedgerTx, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tx := range m.txs {
		if tx.ID == id {
			return tx, nil
		}
	}
	return jobs.LedgerTx{}, errors.New("no such transaction")
}
func (m *memLedger) TxContent(_ context.Context, id string) (jobs.TxContent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.content[id]
	if !ok {
		return jobs.TxContent{}, fmt.Errorf("tx %s: not found", id)
	}
	return c, nil
}

func (m *memLedger) RegisterBank(context.Context, settlement.BIC, string) (jobs.LedgerTx, error) {
	return jobs.LedgerTx{}, nil
}
func (m *memLedger) SetCap(context.Context, settlement.Cap) (jobs.LedgerTx, error) {
	return jobs.LedgerTx{}, nil
}

func (m *memLedger) count() (writes, payments int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes, len(m.payments)
}

func getenv(k string) string { return os.Getenv(k) }

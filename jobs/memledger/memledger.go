// Package memledger is an in-memory stand-in for the Fabric ledger, for the
// unit tests of the pipeline and of the console on Postgres: it keeps the
// chaincode's rules the pipeline relies on (idempotent chunks and settle, a
// payment recorded once, settle refused unless the positions match the
// chunks). It is never wired into the service; the real ledger has its own
// contract tests against the running network.
package memledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"sort"
	"sync"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// Ledger stands in for the Fabric ledger in the pipeline's tests on
// Postgres; it keeps the chaincode's rules that the pipeline relies on
// (idempotent chunks and settle, a payment recorded once, settle refused
// unless the positions match the chunks). The real ledger has its own
// contract tests against the running network.
type Ledger struct {
	Mu        sync.Mutex
	chunks    map[string]string // cycle/chunk -> content hash
	txs       map[string]jobs.LedgerTx
	payments  map[string]reconciliation.Record
	positions map[string][]reconciliation.NetPosition
	Settled   map[string]string
	Writes    int // transactions that wrote something
	FailAfter int // fail every write after this many (0: never)
	LostAck   bool
	Drop      string                    // payment key to leave out of CyclePayments (a lost event)
	content   map[string]jobs.TxContent // tx id -> what it carried
	ReadFloor uint64                    // the block a reader was told to wait for (jobs.ReadFloor)
	// unregistered banks are not in the ledger's registry (jobs.BankRegistry).
	Unregistered map[settlement.BIC]bool
}

func (m *Ledger) Registered(_ context.Context, bic settlement.BIC) (bool, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	return !m.Unregistered[bic], nil
}

func (m *Ledger) ReadAfter(block uint64) {
	m.Mu.Lock()
	m.ReadFloor = block
	m.Mu.Unlock()
}

// New is an empty ledger.
func New() *Ledger {
	return &Ledger{chunks: map[string]string{}, txs: map[string]jobs.LedgerTx{}, payments: map[string]reconciliation.Record{},
		positions: map[string][]reconciliation.NetPosition{}, Settled: map[string]string{}, content: map[string]jobs.TxContent{}}
}

var errLedgerDown = fmt.Errorf("%w: peers down", jobs.ErrLedgerUnavailable)

func chunkHash(c jobs.Chunk) string {
	h := sha256.New()
	for _, e := range c.Entries {
		fmt.Fprintf(h, "%s|%s|%s|%s|%s|%s|%s|%s\n", e.Sender, e.Entry.ID, e.Entry.Kind, e.Entry.Debtor, e.Entry.Creditor, e.Entry.Amount, e.Entry.Currency, e.FileSHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (m *Ledger) RecordChunk(_ context.Context, c jobs.Chunk) (jobs.LedgerTx, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
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
	if m.FailAfter > 0 && m.Writes >= m.FailAfter {
		return jobs.LedgerTx{}, errLedgerDown
	}
	for _, e := range c.Entries {
		if _, dup := m.payments[string(e.Sender)+"/"+e.Entry.ID]; dup {
			return jobs.LedgerTx{}, fmt.Errorf("%w: payment %s/%s already recorded", jobs.ErrLedgerRefused, e.Sender, e.Entry.ID)
		}
	}
	m.Writes++
	tx := jobs.LedgerTx{ID: fmt.Sprintf("tx%04d", m.Writes), Block: uint64(m.Writes), Endorsers: []string{"Bank1MSP", "Bank2MSP"}}
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
	if m.LostAck { // committed, but the answer never reached the client
		m.LostAck = false
		return jobs.LedgerTx{}, errLedgerDown
	}
	return tx, nil
}

func (m *Ledger) SettleCycle(_ context.Context, cycle string, ps []settlement.Position) (jobs.LedgerTx, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if tx, ok := m.Settled[cycle]; ok {
		return jobs.LedgerTx{ID: tx, Existing: true}, nil
	}
	if m.FailAfter > 0 && m.Writes >= m.FailAfter {
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
	m.Writes++
	tx := fmt.Sprintf("settle%04d", m.Writes)
	m.Settled[cycle] = tx
	for _, p := range ps {
		m.positions[cycle] = append(m.positions[cycle], reconciliation.NetPosition{Bank: p.Bank, Currency: p.Currency, Net: p.Net})
	}
	lt := jobs.LedgerTx{ID: tx, Block: uint64(m.Writes), Endorsers: []string{"Bank1MSP", "Bank2MSP"}}
	m.txs["settle/"+cycle] = lt // read back by Tx, as a peer finds any committed transaction
	m.content[tx] = jobs.TxContent{Tx: lt, Function: "SettleCycle", Cycle: cycle, Positions: m.positions[cycle]}
	return lt, nil
}

func (m *Ledger) Cycle(_ context.Context, cycle string) (jobs.LedgerCycle, bool, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	tx, ok := m.Settled[cycle]
	if !ok {
		return jobs.LedgerCycle{ID: cycle, Status: "open"}, false, nil
	}
	// The fingerprint the chaincode writes when it settles, by the same
	// domain function.
	ps := make([]settlement.Position, 0, len(m.positions[cycle]))
	for _, p := range m.positions[cycle] {
		ps = append(ps, settlement.Position{Bank: p.Bank, Currency: p.Currency, Net: p.Net})
	}
	fp, err := settlement.PositionsSHA256(ps)
	if err != nil {
		return jobs.LedgerCycle{}, false, err
	}
	return jobs.LedgerCycle{ID: cycle, Status: "settled", Positions: m.positions[cycle], TxID: tx, PositionsSHA256: fp}, true, nil
}

func (m *Ledger) CyclePayments(_ context.Context, cycle string) iter.Seq2[reconciliation.Record, error] {
	m.Mu.Lock()
	var rs []reconciliation.Record
	for k, r := range m.payments {
		if r.Cycle == cycle && k != m.Drop {
			rs = append(rs, r)
		}
	}
	m.Mu.Unlock()
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

func (m *Ledger) Payment(_ context.Context, s settlement.BIC, id string) (reconciliation.Record, bool, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	r, ok := m.payments[string(s)+"/"+id]
	return r, ok, nil
}

func (m *Ledger) ReversalChain(_ context.Context, s settlement.BIC, id string) ([]reconciliation.Record, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
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

func (m *Ledger) Tx(_ context.Context, id string) (jobs.LedgerTx, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	for _, tx := range m.txs {
		if tx.ID == id {
			return tx, nil
		}
	}
	return jobs.LedgerTx{}, errors.New("no such transaction")
}
func (m *Ledger) TxContent(_ context.Context, id string) (jobs.TxContent, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	c, ok := m.content[id]
	if !ok {
		return jobs.TxContent{}, fmt.Errorf("tx %s: not found", id)
	}
	return c, nil
}

func (m *Ledger) RegisterBank(context.Context, settlement.BIC, string) (jobs.LedgerTx, error) {
	return jobs.LedgerTx{}, nil
}
func (m *Ledger) SetCap(context.Context, settlement.Cap) (jobs.LedgerTx, error) {
	return jobs.LedgerTx{}, nil
}

// Count is the transactions that wrote something and the payments recorded.
func (m *Ledger) Count() (writes, payments int) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	return m.Writes, len(m.payments)
}

// Package memledger is an in-memory stand-in for the Fabric ledger, for the
// unit tests of the pipeline and of the console on Postgres: it keeps the
// chaincode's rules the pipeline relies on (idempotent chunks and settle, a
// payment recorded once, settle refused unless the positions match the
// chunks). It is never wired into the service. The port's contract
// (jobs/ledgertest) runs on it and on the real network, so where the two
// answer differently the suite says so.
package memledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strings"
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
	Writes    int // transactions that recorded a chunk or settled a cycle
	FailAfter int // fail every chunk or settle write after this many (0: never)
	LostAck   bool
	Drop      string                    // payment key to leave out of CyclePayments (a lost event)
	content   map[string]jobs.TxContent // tx id -> what it carried
	ReadFloor uint64                    // the block a reader was told to wait for (jobs.ReadFloor)
	// unregistered banks are not in the ledger's registry (jobs.BankRegistry).
	Unregistered map[settlement.BIC]bool
	// Registry makes the ledger keep the chaincode's registry and caps, as
	// the contract suite (jobs/ledgertest) checks them: only a bank that
	// RegisterBank registered is known, and a net debtor needs a cap that
	// covers its debit. Without it (the pipeline's tests) every bank is
	// registered unless Unregistered names it, and no cap is checked.
	Registry bool
	// Operator, when set, makes this a founded ledger whose operator is
	// that MSP: RecordChunk is closed, and RegisterBank, SetCap and
	// SettleCycle are the operator's (a bank's admin may lower its own
	// cap), refused to any other identity (As) with jobs.ErrLedgerForbidden,
	// as the chaincode refuses them from the creator's certificate. The
	// Ledger's own methods sign as the operator's client.
	Operator string
	banks    map[settlement.BIC]string // bic -> MSP, registered by RegisterBank
	caps     map[capKey]settlement.Cap
	// registryWrites are the RegisterBank and SetCap transactions.
	registryWrites int
}

type capKey struct {
	bank     settlement.BIC
	currency string
}

// Identity is who signs a client's calls, as the chaincode reads it from
// the transaction creator's certificate: an MSP and a role.
type Identity struct {
	MSPID string
	Role  string // RoleClient or RoleAdmin
}

// The roles of a certificate (its NodeOU) that the chaincode tells apart.
const (
	RoleClient = "client"
	RoleAdmin  = "admin"
)

// Client is a client of the same ledger that signs as another identity,
// for the role checks of a founded ledger (Operator).
type Client struct {
	*Ledger
	ID Identity
}

// As is a client of m signing as id.
func (m *Ledger) As(id Identity) *Client { return &Client{Ledger: m, ID: id} }

func (c *Client) SettleCycle(ctx context.Context, cycle string, ps []settlement.Position) (jobs.LedgerTx, error) {
	return c.Ledger.settleCycle(c.ID, cycle, ps)
}

func (c *Client) RegisterBank(_ context.Context, bic settlement.BIC, mspID string) (jobs.LedgerTx, error) {
	return c.Ledger.registerBank(c.ID, bic, mspID)
}

func (c *Client) SetCap(_ context.Context, cp settlement.Cap) (jobs.LedgerTx, error) {
	return c.Ledger.setCap(c.ID, cp)
}

// self is the identity of the Ledger's own calls: the operator's client.
func (m *Ledger) self() Identity { return Identity{MSPID: m.Operator, Role: RoleClient} }

// forbidden is the chaincode's NOT_AUTHORIZED refusal, as the Fabric client
// reports it: refused, and refused for the caller's role.
func forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{jobs.ErrLedgerRefused, jobs.ErrLedgerForbidden}, args...)...)
}

// requireOperator refuses, on a founded ledger, a caller that is not a
// client or admin of the operator's MSP.
func (m *Ledger) requireOperator(id Identity, what string) error {
	if m.Operator == "" || id.MSPID == m.Operator && (id.Role == RoleClient || id.Role == RoleAdmin) {
		return nil
	}
	return forbidden("%s is for the operator (%s); the caller is %s %s", what, m.Operator, id.MSPID, id.Role)
}

// known tells whether bic is in the registry (m.Mu held).
func (m *Ledger) known(bic settlement.BIC) bool {
	if _, ok := m.banks[bic]; ok {
		return true
	}
	return !m.Registry && !m.Unregistered[bic]
}

func (m *Ledger) Registered(_ context.Context, bic settlement.BIC) (bool, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	return m.known(bic), nil
}

func (m *Ledger) ReadAfter(block uint64) {
	m.Mu.Lock()
	m.ReadFloor = block
	m.Mu.Unlock()
}

// New is an empty ledger.
func New() *Ledger {
	return &Ledger{chunks: map[string]string{}, txs: map[string]jobs.LedgerTx{}, payments: map[string]reconciliation.Record{},
		positions: map[string][]reconciliation.NetPosition{}, Settled: map[string]string{}, content: map[string]jobs.TxContent{},
		banks: map[settlement.BIC]string{}, caps: map[capKey]settlement.Cap{}}
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
	if m.Operator != "" {
		return jobs.LedgerTx{}, fmt.Errorf("%w: RecordChunk is closed since the founding: payments come from signed files", jobs.ErrLedgerRefused)
	}
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
	if err := m.checkChunk(c); err != nil {
		return jobs.LedgerTx{}, err
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

// checkChunk refuses a new chunk the chaincode refuses (m.Mu held): one
// for a settled cycle, one naming a bank not in the registry, one with a
// payment id twice or already on the ledger.
func (m *Ledger) checkChunk(c jobs.Chunk) error {
	if _, settled := m.Settled[c.Cycle]; settled {
		return fmt.Errorf("%w: cycle %s was settled; it takes no more chunks", jobs.ErrLedgerRefused, c.Cycle)
	}
	seen := map[string]bool{}
	for _, e := range c.Entries {
		for _, b := range []settlement.BIC{e.Entry.Debtor, e.Entry.Creditor} {
			if !m.known(b) {
				return fmt.Errorf("%w: bank %s is not registered", jobs.ErrLedgerRefused, b)
			}
		}
		k := string(e.Sender) + "/" + e.Entry.ID
		if _, dup := m.payments[k]; dup || seen[k] {
			return fmt.Errorf("%w: payment %s/%s already recorded", jobs.ErrLedgerRefused, e.Sender, e.Entry.ID)
		}
		seen[k] = true
	}
	return nil
}

func (m *Ledger) SettleCycle(_ context.Context, cycle string, ps []settlement.Position) (jobs.LedgerTx, error) {
	return m.settleCycle(m.self(), cycle, ps)
}

// settleCycle settles cycle on ps for the caller id, with the chaincode's
// refusals: the operator's call on a founded ledger, the same positions
// when settled again, a cycle with chunks, the positions of its chunks
// exactly, and (Registry) every net debit within its bank's cap.
func (m *Ledger) settleCycle(id Identity, cycle string, ps []settlement.Position) (jobs.LedgerTx, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if err := m.requireOperator(id, "SettleCycle"); err != nil {
		return jobs.LedgerTx{}, err
	}
	if tx, ok := m.Settled[cycle]; ok {
		lt, known := m.txs["settle/"+cycle]
		if !known { // a test set Settled itself
			return jobs.LedgerTx{ID: tx, Existing: true}, nil
		}
		if !netEqual(netOf(m.positions[cycle]), netOfPositions(ps)) {
			return jobs.LedgerTx{}, fmt.Errorf("%w: cycle %s was settled by tx %s on other positions", jobs.ErrLedgerRefused, cycle, tx)
		}
		lt.Existing = true
		return lt, nil
	}
	if m.FailAfter > 0 && m.Writes >= m.FailAfter {
		return jobs.LedgerTx{}, errLedgerDown
	}
	onLedger, err := m.cycleNet(cycle)
	if err != nil {
		return jobs.LedgerTx{}, err
	}
	if !netEqual(onLedger, netOfPositions(ps)) {
		return jobs.LedgerTx{}, fmt.Errorf("%w: positions do not match the chunks", jobs.ErrLedgerRefused)
	}
	if m.Registry {
		if b := settlement.CapBreaches(ps, m.capList()); len(b) > 0 {
			return jobs.LedgerTx{}, fmt.Errorf("%w: %s net debit %s %s exceeds its cap %s", jobs.ErrLedgerRefused, b[0].Bank, b[0].Net.Neg(), b[0].Currency, b[0].Cap)
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

// cycleNet is the net position of every (bank, currency) of the cycle's
// recorded payments (m.Mu held), as the chaincode sums its chunks; a cycle
// with no chunk is refused.
func (m *Ledger) cycleNet(cycle string) (map[string]decimal.Decimal, error) {
	var n settlement.Netting
	count := 0
	for _, r := range m.payments {
		if r.Cycle != cycle {
			continue
		}
		count++
		e := settlement.Entry{Kind: r.Kind, ID: r.ID, Debtor: r.Debtor, Creditor: r.Creditor, Amount: r.Amount, Currency: r.Currency}
		if err := n.Add(&e); err != nil {
			return nil, err
		}
	}
	if count == 0 {
		return nil, fmt.Errorf("%w: cycle %s has no recorded chunks", jobs.ErrLedgerRefused, cycle)
	}
	res, err := n.Result()
	if err != nil {
		return nil, err
	}
	return netOfPositions(res.Positions), nil
}

func netOfPositions(ps []settlement.Position) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, p := range ps {
		out[string(p.Bank)+p.Currency.Code()] = p.Net
	}
	return out
}

func netOf(ps []reconciliation.NetPosition) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, p := range ps {
		out[string(p.Bank)+p.Currency.Code()] = p.Net
	}
	return out
}

// netEqual compares two sets of positions as the chaincode does: a
// position absent from one is a zero there.
func netEqual(a, b map[string]decimal.Decimal) bool {
	for k, v := range a {
		if !v.Equal(b[k]) {
			return false
		}
	}
	for k, v := range b {
		if !v.Equal(a[k]) {
			return false
		}
	}
	return true
}

// capList is the caps the ledger holds (m.Mu held).
func (m *Ledger) capList() []settlement.Cap {
	out := make([]settlement.Cap, 0, len(m.caps))
	for _, c := range m.caps {
		out = append(out, c)
	}
	return out
}

func (m *Ledger) Cycle(_ context.Context, cycle string) (jobs.LedgerCycle, bool, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	chunks, payments := m.counts(cycle)
	tx, ok := m.Settled[cycle]
	if !ok {
		if chunks == 0 { // the chaincode holds nothing for it
			return jobs.LedgerCycle{}, false, nil
		}
		return jobs.LedgerCycle{ID: cycle, Status: "open", Chunks: chunks, Payments: payments}, true, nil
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
	return jobs.LedgerCycle{ID: cycle, Status: "settled", Positions: m.positions[cycle], TxID: tx, PositionsSHA256: fp,
		Chunks: chunks, Payments: payments}, true, nil
}

// counts is the chunks and payments recorded for cycle (m.Mu held).
func (m *Ledger) counts(cycle string) (chunks, payments int) {
	for k := range m.chunks {
		if strings.HasPrefix(k, cycle+"/") {
			chunks++
		}
	}
	for _, r := range m.payments {
		if r.Cycle == cycle {
			payments++
		}
	}
	return chunks, payments
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

func (m *Ledger) RegisterBank(_ context.Context, bic settlement.BIC, mspID string) (jobs.LedgerTx, error) {
	return m.registerBank(m.self(), bic, mspID)
}

// registerBank registers bic under mspID for the caller id: the same pair
// again answers the first registration, another MSP is refused.
func (m *Ledger) registerBank(id Identity, bic settlement.BIC, mspID string) (jobs.LedgerTx, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if err := m.requireOperator(id, "RegisterBank"); err != nil {
		return jobs.LedgerTx{}, err
	}
	if old, ok := m.banks[bic]; ok {
		if old != mspID {
			return jobs.LedgerTx{}, fmt.Errorf("%w: bank %s is registered with MSP %s, not %s", jobs.ErrLedgerRefused, bic, old, mspID)
		}
		tx := m.txs["bank/"+string(bic)]
		tx.Existing = true
		return tx, nil
	}
	tx, err := m.write("bank/"+string(bic), "RegisterBank")
	if err == nil {
		m.banks[bic] = mspID
	}
	return tx, err
}

func (m *Ledger) SetCap(_ context.Context, cp settlement.Cap) (jobs.LedgerTx, error) {
	return m.setCap(m.self(), cp)
}

// setCap sets a known bank's cap for the caller id: on a founded ledger
// the operator's, or a bank's admin lowering its own. The same cap again
// answers the transaction that set it.
func (m *Ledger) setCap(id Identity, cp settlement.Cap) (jobs.LedgerTx, error) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	if !m.known(cp.Bank) {
		return jobs.LedgerTx{}, fmt.Errorf("%w: bank %s is not registered", jobs.ErrLedgerRefused, cp.Bank)
	}
	k := capKey{cp.Bank, cp.Currency.Code()}
	old, had := m.caps[k]
	if m.requireOperator(id, "SetCap") != nil {
		lowers := had && cp.Amount.LessThan(old.Amount)
		if id.MSPID != m.banks[cp.Bank] || id.Role != RoleAdmin || !lowers {
			return jobs.LedgerTx{}, forbidden("SetCap for %s is for the operator, or for an admin of %s lowering its own cap; the caller is %s %s", cp.Bank, m.banks[cp.Bank], id.MSPID, id.Role)
		}
	}
	key := "cap/" + string(cp.Bank) + "/" + k.currency
	if had && old.Amount.Equal(cp.Amount) {
		tx := m.txs[key]
		tx.Existing = true
		return tx, nil
	}
	tx, err := m.write(key, "SetCap")
	if err == nil {
		m.caps[k] = cp
	}
	return tx, err
}

// write commits one registry transaction under key (m.Mu held). It is
// not one of Writes, which the pipeline's tests count as the cycle's
// chunks and settlement, nor subject to FailAfter.
func (m *Ledger) write(key, function string) (jobs.LedgerTx, error) {
	m.registryWrites++
	tx := jobs.LedgerTx{ID: fmt.Sprintf("reg%04d", m.registryWrites), Block: uint64(m.Writes + m.registryWrites), Endorsers: []string{"Bank1MSP", "Bank2MSP"}}
	m.txs[key] = tx
	m.content[tx.ID] = jobs.TxContent{Tx: tx, Function: function}
	return tx, nil
}

// Count is the chunk and settle transactions (Writes) and the payments recorded.
func (m *Ledger) Count() (writes, payments int) {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	return m.Writes, len(m.payments)
}

package chaincode

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// chunksPerCycleMax bounds the range read of a cycle's chunks.
const chunksPerCycleMax = 100000

// EventCycleSettled is the chaincode event SettleCycle emits.
const EventCycleSettled = "CycleSettled"

// SettleResult is what SettleCycle answers.
type SettleResult struct {
	Outcome string `json:"outcome"` // "settled" or "already_settled"
	Cycle
}

// ChunkRef lists a recorded chunk in a cycle.
type ChunkRef struct {
	ChunkID    string `json:"chunkId"`
	Count      int    `json:"count"`
	ControlSum string `json:"controlSum"`
	TxID       string `json:"txId"`
}

// cycleChunks reads every chunk of a cycle in key order and sums their positions.
func cycleChunks(s Stub, cycleID string) (refs []ChunkRef, payments int, sum positions, err error) {
	it, err := s.GetStateByPartialCompositeKey(keyChunk, []string{cycleID})
	if err != nil {
		return nil, 0, nil, internal("range read of cycle %s: %v", cycleID, err)
	}
	defer it.Close()
	sum = positions{}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, 0, nil, internal("range read of cycle %s: %v", cycleID, err)
		}
		if len(refs) >= chunksPerCycleMax {
			return nil, 0, nil, refuse(CodeLimit, "cycle %s has more than %d chunks", cycleID, chunksPerCycleMax)
		}
		var c Chunk
		if err := json.Unmarshal(kv.Value, &c); err != nil {
			return nil, 0, nil, internal("chunk %q is not valid JSON: %v", printable(kv.Key), err)
		}
		p, err := parsePositions(c.Positions)
		if err != nil {
			return nil, 0, nil, internal("chunk %s/%s holds bad positions: %v", cycleID, c.ChunkID, err)
		}
		for k, v := range p {
			sum.add(k.bank, k.currency, v)
		}
		refs = append(refs, ChunkRef{ChunkID: c.ChunkID, Count: c.Count, ControlSum: c.ControlSum, TxID: c.TxID})
		payments += c.Count
	}
	return refs, payments, sum, nil
}

// settleCycle settles a cycle on the positions the system submits, after checking
// them against the chunks on the ledger, the zero sum per currency and the caps.
func settleCycle(s Stub, cycleID, positionsJSON string) ([]byte, error) {
	if err := checkID("cycleId", cycleID); err != nil {
		return nil, err
	}
	var list []Position
	if err := decodeStrict("positions", positionsJSON, &list, jsonLimit{bytesMax: argBytesMax, itemsMax: positionsMax, depthMax: 2}); err != nil {
		return nil, err
	}
	if len(list) > positionsMax {
		return nil, refuse(CodeLimit, "%d positions, at most %d", len(list), positionsMax)
	}
	submitted, err := parsePositions(list)
	if err != nil {
		return nil, err
	}

	cycles := cycleCache{s: s, seen: map[string]*Cycle{}}
	settled, err := cycles.get(cycleID)
	if err != nil {
		return nil, err
	}
	if settled != nil {
		stored, err := parsePositions(settled.Positions)
		if err != nil {
			return nil, internal("settled cycle %s holds bad positions: %v", cycleID, err)
		}
		if !stored.equal(submitted) {
			return nil, refuse(CodeSettleConflict, "cycle %s was settled by tx %s on other positions", cycleID, settled.TxID)
		}
		return marshal(SettleResult{Outcome: "already_settled", Cycle: *settled})
	}

	refs, payments, onLedger, err := cycleChunks(s, cycleID)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, refuse(CodeCycleEmpty, "cycle %s has no recorded chunks", cycleID)
	}
	if bad := onLedger.unbalanced(); len(bad) > 0 {
		// Each chunk balances when recorded; a sum that does not is a broken ledger.
		return nil, internal("chunks of cycle %s do not balance: %s", cycleID, strings.Join(bad, ", "))
	}
	if !onLedger.equal(submitted) {
		return nil, refuse(CodePositionsMismatch, "cycle %s: submitted positions differ from the %d recorded chunks: %s", cycleID, len(refs), diffPositions(onLedger, submitted))
	}
	if bad := submitted.unbalanced(); len(bad) > 0 {
		return nil, refuse(CodeNotBalanced, "cycle %s: positions do not sum to zero: %s", cycleID, strings.Join(bad, ", "))
	}
	if err := checkCaps(s, onLedger); err != nil {
		return nil, err
	}

	fp, err := onLedger.sha256()
	if err != nil {
		return nil, err
	}
	cycle := Cycle{
		CycleID: cycleID, Status: StatusSettled, Positions: onLedger.list(),
		Chunks: len(refs), Payments: payments, PositionsSHA256: fp, TxID: s.GetTxID(),
	}
	k, err := key(s, keyCycle, cycleID)
	if err != nil {
		return nil, err
	}
	if err := putJSON(s, k, cycle); err != nil {
		return nil, err
	}
	event, err := marshal(cycle)
	if err != nil {
		return nil, err
	}
	if err := s.SetEvent(EventCycleSettled, event); err != nil {
		return nil, internal("set event: %v", err)
	}
	return marshal(SettleResult{Outcome: "settled", Cycle: cycle})
}

// checkCaps refuses when a net debtor has no cap in that currency or goes beyond it.
func checkCaps(s Stub, p positions) error {
	var prob problems
	for _, pos := range p.list() {
		net, _ := decimal.NewFromString(pos.Net)
		if !net.IsNegative() {
			continue
		}
		k, err := key(s, keyCap, pos.Bank, pos.Currency)
		if err != nil {
			return err
		}
		var c Cap
		found, err := getJSON(s, k, &c)
		if err != nil {
			return err
		}
		if !found {
			prob.add(refuse(CodeCapExceeded, "%s is a net debtor of %s %s but has no cap in %s", pos.Bank, net.Neg().StringFixed(minorUnit(pos.Currency)), pos.Currency, pos.Currency))
			continue
		}
		limit, err := decimal.NewFromString(c.Cap)
		if err != nil {
			return internal("cap of %s %s: %v", pos.Bank, pos.Currency, err)
		}
		if net.Neg().GreaterThan(limit) {
			prob.add(refuse(CodeCapExceeded, "%s net debit %s %s exceeds its cap %s", pos.Bank, net.Neg().StringFixed(minorUnit(pos.Currency)), pos.Currency, c.Cap))
		}
	}
	return prob.err()
}

// diffPositions lists, in order, where submitted positions differ from the ledger's.
func diffPositions(ledger, submitted positions) string {
	all := positions{}
	for k := range ledger {
		all[k] = decimal.NewFromInt(1)
	}
	for k := range submitted {
		all[k] = decimal.NewFromInt(1)
	}
	var out []string
	for _, pos := range all.list() {
		k := posKey{pos.Bank, pos.Currency}
		if !ledger[k].Equal(submitted[k]) {
			out = append(out, fmt.Sprintf("%s %s ledger %s submitted %s", k.bank, k.currency, fixed(ledger[k], k.currency), fixed(submitted[k], k.currency)))
			if len(out) == problemsMax {
				out = append(out, "...")
				break
			}
		}
	}
	return strings.Join(out, "; ")
}

package chaincode

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// settleGoverned settles a declared cycle, the operator's call once founded.
// It succeeds only when every declared file is verified and fully indexed
// (IndexFile), or was dropped unverified; the positions are the ledger's own, from settlement.Netting of
// each verified file, checked to balance and against the caps with
// settlement.CapBreaches. The caller may pass the positions it computed: they
// must then be the ledger's exactly.
func settleGoverned(s Stub, g *Governance, c Caller, cycleID string, positionsJSON *string, opt settleOpts) ([]byte, error) {
	if err := requireOperator(g, c, "SettleCycle"); err != nil {
		return nil, err
	}
	if _, err := checkCycleID(cycleID); err != nil {
		return nil, err
	}
	submitted, err := submittedPositions(positionsJSON)
	if err != nil {
		return nil, err
	}
	d, err := loadDeclared(s, cycleID)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, refuse(CodeNotDeclared, "cycle %s was not declared; the operator declares a cycle's files before it settles", cycleID)
	}
	if out, done, err := settledAgain(s, cycleID, submitted); err != nil || done {
		return out, err
	}
	sums, err := sumFilePositions(s, d, cycleID)
	if err != nil {
		return nil, err
	}
	ps, nets, err := netFilePositions(cycleID, sums)
	if err != nil {
		return nil, err
	}
	// The same invariant from the other side: the payments the ledger indexed
	// (the files' chunks) give the same positions.
	refs, payments, onLedger, err := cycleChunks(s, cycleID)
	if err != nil {
		return nil, err
	}
	if !onLedger.equal(nets) {
		return nil, internal("cycle %s: the indexed payments net to other positions than the files: %s", cycleID, diffPositions(onLedger, nets))
	}
	// The ledger's answer: the nets, or the gridlock resolution (resolve.go).
	dec, err := decide(s, d, cycleID, ps, nets, submitted, opt.deferred, opt.force)
	if err != nil {
		return nil, err
	}
	if opt.dryRun {
		return marshal(dryRunResult(cycleID, dec))
	}
	return writeSettled(s, cycleID, dec, len(refs), payments)
}

// submittedPositions decodes the positions the caller computed, if it passed
// any (nil when it did not): strictly, within the argument's limits, so that a
// caller's mistake is refused before the ledger reads a single file.
func submittedPositions(positionsJSON *string) (positions, error) {
	if positionsJSON == nil {
		return nil, nil
	}
	var list []Position
	if err := decodeStrict("positions", *positionsJSON, &list, jsonLimit{bytesMax: argBytesMax, itemsMax: positionsMax, depthMax: 2}); err != nil {
		return nil, err
	}
	return parsePositions(list)
}

// settledAgain answers a SettleCycle of a cycle already settled (done true):
// a retry is "already_settled", and a retry on other positions than the
// stored ones is a conflict, so that settling stays idempotent without ever
// accepting two answers for one cycle.
func settledAgain(s Stub, cycleID string, submitted positions) (out []byte, done bool, err error) {
	settled, err := (&cycleCache{s: s, seen: map[string]*Cycle{}}).get(cycleID)
	if err != nil {
		return nil, true, err
	}
	if settled == nil {
		return nil, false, nil
	}
	if submitted != nil {
		stored, err := parsePositions(settled.Positions)
		if err != nil {
			return nil, true, internal("settled cycle %s holds bad positions: %v", cycleID, err)
		}
		if !stored.equal(submitted) {
			return nil, true, refuse(CodeSettleConflict, "cycle %s was settled by tx %s on other positions", cycleID, settled.TxID)
		}
	}
	out, err = marshal(SettleResult{Outcome: "already_settled", Cycle: *settled})
	return out, true, err
}

// sentReceived is what a bank sent and received in a currency, summed over
// the cycle's verified files.
type sentReceived struct{ sent, received decimal.Decimal }

// sumFilePositions sums the positions each verified file recorded when it was
// verified. A declared file neither verified and fully indexed nor dropped
// makes the cycle incomplete: every such file is named (up to problemsMax) in
// one refusal, so that the operator sees all that is missing at once.
func sumFilePositions(s Stub, d *Declared, cycleID string) (map[posKey]*sentReceived, error) {
	sums := map[posKey]*sentReceived{}
	var missing []string
	for _, f := range d.Files {
		k, err := key(s, keyFile, cycleID, f.Sender, f.FileID)
		if err != nil {
			return nil, err
		}
		var st FileState
		if found, err := getJSON(s, k, &st); err != nil {
			return nil, err
		} else if !found {
			return nil, internal("declared file %s/%s of %s has no state", f.Sender, f.FileID, cycleID)
		}
		switch st.Status {
		case FileDropped:
			continue
		case FileDeclared:
			missing = append(missing, fmt.Sprintf("%s/%s (%d parts, %d bytes)", f.Sender, f.FileID, st.Parts, st.Bytes))
			continue
		}
		if int64(st.Indexed) < st.Entries {
			missing = append(missing, fmt.Sprintf("%s/%s (verified, %d of %d entries indexed)", f.Sender, f.FileID, st.Indexed, st.Entries))
			continue
		}
		for _, p := range st.Positions {
			sent, err1 := decimal.NewFromString(p.Sent)
			recv, err2 := decimal.NewFromString(p.Received)
			if err1 != nil || err2 != nil {
				return nil, internal("file %s/%s holds bad positions", f.Sender, f.FileID)
			}
			pk := posKey{p.Bank, p.Currency}
			if sums[pk] == nil {
				sums[pk] = &sentReceived{}
			}
			sums[pk].sent = sums[pk].sent.Add(sent)
			sums[pk].received = sums[pk].received.Add(recv)
		}
	}
	if len(missing) > 0 {
		more := ""
		if len(missing) > problemsMax {
			more = fmt.Sprintf("; and %d more", len(missing)-problemsMax)
			missing = missing[:problemsMax]
		}
		return nil, refuse(CodeCycleIncomplete, "cycle %s: %d declared files are not verified and indexed: %s%s", cycleID, len(missing), strings.Join(missing, ", "), more)
	}
	return sums, nil
}

// netFilePositions turns the summed file positions into the domain's
// positions, sorted by currency then bank so that the order never depends on
// map iteration, and asserts that they balance: a cycle whose files do not
// net to zero is a bug, stopped here before anything is written.
func netFilePositions(cycleID string, sums map[posKey]*sentReceived) ([]settlement.Position, positions, error) {
	ps := make([]settlement.Position, 0, len(sums))
	nets := positions{}
	for k, a := range sums {
		cur, err := settlement.ParseCurrency(k.currency)
		if err != nil {
			return nil, nil, internal("file position in %q: %v", k.currency, err)
		}
		net := a.received.Sub(a.sent)
		ps = append(ps, settlement.Position{Bank: settlement.BIC(k.bank), Currency: cur, Sent: a.sent, Received: a.received, Net: net})
		nets.add(k.bank, k.currency, net)
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Currency != ps[j].Currency {
			return ps[i].Currency.Code() < ps[j].Currency.Code()
		}
		return ps[i].Bank < ps[j].Bank
	})
	if err := settlement.AssertBalanced(ps); err != nil {
		return nil, nil, internal("cycle %s: %v", cycleID, err)
	}
	return ps, nets, nil
}

// writeSettled writes the settled cycle, then the decision's records
// (writeDecision), then the CycleSettled event: the order in which every
// endorsing peer writes them, so that their write sets are the same.
func writeSettled(s Stub, cycleID string, dec *decision, chunks, payments int) ([]byte, error) {
	nets := dec.nets
	fp, err := nets.sha256()
	if err != nil {
		return nil, err
	}
	cycle := Cycle{CycleID: cycleID, Status: StatusSettled, Positions: nets.list(),
		Chunks: chunks, Payments: payments, PositionsSHA256: fp, TxID: s.GetTxID()}
	if cycle.Positions == nil {
		cycle.Positions = []Position{}
	}
	k, err := key(s, keyCycle, cycleID)
	if err != nil {
		return nil, err
	}
	if dec.record != nil {
		cycle.Deferred, cycle.CarriedIn = len(dec.record.Deferred), dec.record.CarriedIn
	}
	if err := putJSON(s, k, cycle); err != nil {
		return nil, err
	}
	if err := writeDecision(s, dec); err != nil {
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

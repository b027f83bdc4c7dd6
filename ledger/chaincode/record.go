package chaincode

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// problemsMax bounds how many problems one refusal lists.
const problemsMax = 20

// problems collects the refusals found in one call so the caller can fix them all
// in one round trip; the first problem's code is the code of the whole refusal.
type problems struct {
	list  []*Error
	extra int
}

func (p *problems) add(err error) {
	e, ok := err.(*Error)
	if !ok {
		e = &Error{Code: CodeInternal, Msg: err.Error()}
	}
	if len(p.list) < problemsMax {
		p.list = append(p.list, e)
		return
	}
	p.extra++
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	msgs := make([]string, len(p.list))
	for i, e := range p.list {
		msgs[i] = e.Msg
		if e.Code != p.list[0].Code {
			msgs[i] = string(e.Code) + ": " + e.Msg
		}
	}
	msg := strings.Join(msgs, "; ")
	if p.extra > 0 {
		msg += fmt.Sprintf("; and %d more", p.extra)
	}
	return &Error{Code: p.list[0].Code, Msg: msg}
}

// ChunkResult is what RecordChunk answers.
type ChunkResult struct {
	Status string `json:"status"` // "recorded" or "already_recorded"
	Chunk
}

// ping writes one key and nothing else: the baseline cost of a transaction.
func ping(s Stub) ([]byte, error) {
	k, err := key(s, keyPing, s.GetTxID())
	if err != nil {
		return nil, err
	}
	if err := s.PutState(k, []byte(s.GetTxID())); err != nil {
		return nil, internal("write state: %v", err)
	}
	return marshal(map[string]string{"txId": s.GetTxID()})
}

// registerBank adds a member bank. Registering the same BIC with the same MSP again is
// answered as already registered; another MSP under a registered BIC is refused.
func registerBank(s Stub, bicArg, mspID string) ([]byte, error) {
	bic, err := normBIC("bic", bicArg)
	if err != nil {
		return nil, err
	}
	if !mspIDRe.MatchString(mspID) {
		return nil, refuse(CodeInvalid, "mspId %q must be 1-64 characters [A-Za-z0-9._-]", clip(mspID))
	}
	k, err := key(s, keyBank, bic)
	if err != nil {
		return nil, err
	}
	var old Bank
	found, err := getJSON(s, k, &old)
	if err != nil {
		return nil, err
	}
	if found {
		if old.MSPID != mspID {
			return nil, refuse(CodeBankConflict, "bank %s is registered with MSP %s, not %s", bic, old.MSPID, mspID)
		}
		return marshal(struct {
			Status string `json:"status"`
			Bank
		}{"already_registered", old})
	}
	b := Bank{BIC: bic, MSPID: mspID, TxID: s.GetTxID()}
	if err := putJSON(s, k, b); err != nil {
		return nil, err
	}
	return marshal(struct {
		Status string `json:"status"`
		Bank
	}{"registered", b})
}

// setCap sets a registered bank's net debit cap in one currency (zero allowed: the
// bank may not be a net debtor there). A later SetCap replaces it; history keeps all.
func setCap(s Stub, bicArg, currency, capArg string) ([]byte, error) {
	bic, err := normBIC("bic", bicArg)
	if err != nil {
		return nil, err
	}
	if _, err := checkCurrency("currency", currency); err != nil {
		return nil, err
	}
	amount, err := parseAmount("cap", capArg, currency, true)
	if err != nil {
		return nil, err
	}
	if err := requireBanks(s, []string{bic}); err != nil {
		return nil, err
	}
	k, err := key(s, keyCap, bic, currency)
	if err != nil {
		return nil, err
	}
	c := Cap{BIC: bic, Currency: currency, Cap: fixed(amount, currency), TxID: s.GetTxID()}
	if err := putJSON(s, k, c); err != nil {
		return nil, err
	}
	return marshal(c)
}

// requireBanks refuses unless every BIC (already normalised) is a registered bank.
func requireBanks(s Stub, bics []string) error {
	var p problems
	for _, bic := range bics {
		k, err := key(s, keyBank, bic)
		if err != nil {
			return err
		}
		var b Bank
		found, err := getJSON(s, k, &b)
		if err != nil {
			return err
		}
		if !found {
			p.add(refuse(CodeUnknownBank, "bank %s is not registered", bic))
		}
	}
	return p.err()
}

// parsePayments validates every field of every payment of a chunk and returns them in
// their canonical form (normalised BICs, amounts fixed to the minor unit).
func parsePayments(cycleID, chunkID, raw string) ([]*Payment, error) {
	var in []PaymentIn
	if err := decodeStrict("payments", raw, &in, jsonLimit{bytesMax: argBytesMax, itemsMax: paymentsPerChunkMax, depthMax: 2}); err != nil {
		return nil, err
	}
	if len(in) == 0 {
		return nil, refuse(CodeBadArgs, "payments is empty: a chunk holds at least one payment")
	}
	if len(in) > paymentsPerChunkMax {
		return nil, refuse(CodeLimit, "chunk has %d payments, at most %d", len(in), paymentsPerChunkMax)
	}
	var p problems
	out := make([]*Payment, 0, len(in))
	seen := make(map[[2]string]int, len(in))
	for i, pi := range in {
		at := fmt.Sprintf("payments[%d]", i)
		before := len(p.list) + p.extra
		pay := paymentFields(at, pi, cycleID, chunkID, &p)
		if len(p.list)+p.extra > before {
			continue // the checks below need valid fields
		}
		if pay.Debtor != pay.Sender {
			if pay.Kind == KindPayment {
				p.add(refuse(CodeInvalid, "%s: debtor %s must be the sender %s", at, pay.Debtor, pay.Sender))
			} else {
				p.add(refuse(CodeReversalInvalid, "%s: reversal %s/%s names original debtor %s; only the original's sender (its debtor) may reverse it", at, pay.Sender, pay.ID, pay.Debtor))
			}
			continue
		}
		if pay.Creditor == pay.Debtor {
			p.add(refuse(CodeInvalid, "%s: creditor must be another bank than the debtor %s", at, pay.Debtor))
			continue
		}
		id := [2]string{pay.Sender, pay.ID}
		if j, dup := seen[id]; dup {
			p.add(refuse(CodeDuplicatePayment, "%s: payment %s/%s appears twice in the chunk (also payments[%d])", at, pay.Sender, pay.ID, j))
			continue
		}
		seen[id] = i
		out = append(out, pay)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// paymentFields checks each field of payment pi (at names it in refusals)
// on its own, adding every problem to p, and returns the payment in its
// canonical form. The checks across fields are the caller's, made only when
// every field is valid.
func paymentFields(at string, pi PaymentIn, cycleID, chunkID string, p *problems) *Payment {
	pay := &Payment{Kind: pi.Kind, ID: pi.ID, Currency: pi.Currency, CycleID: cycleID, ChunkID: chunkID}
	var err error
	if pay.Sender, err = normBIC(at+".sender", pi.Sender); err != nil {
		p.add(err)
	}
	if pay.Debtor, err = normBIC(at+".debtor", pi.Debtor); err != nil {
		p.add(err)
	}
	if pay.Creditor, err = normBIC(at+".creditor", pi.Creditor); err != nil {
		p.add(err)
	}
	if err := checkPaymentID(at+".id", pi.ID); err != nil {
		p.add(err)
	}
	if _, err := checkCurrency(at+".currency", pi.Currency); err != nil {
		p.add(err)
	} else if pay.amount, err = parseAmount(at+".amount", pi.Amount, pi.Currency, false); err != nil {
		p.add(err)
	} else {
		pay.Amount = fixed(pay.amount, pi.Currency)
	}
	fileSum := strings.ToLower(pi.FileSHA256)
	if !sha256Re.MatchString(fileSum) {
		p.add(refuse(CodeInvalid, "%s.fileSha256 %q must be 64 hex digits", at, clip(pi.FileSHA256)))
	}
	pay.FileSHA256 = fileSum
	switch pi.Kind {
	case KindPayment:
		if pi.OriginalID != "" {
			p.add(refuse(CodeInvalid, "%s.originalId is only for a reversal (kind R)", at))
		}
	case KindReversal:
		if err := checkPaymentID(at+".originalId", pi.OriginalID); err != nil {
			p.add(err)
		}
		pay.OriginalID = pi.OriginalID
	default:
		p.add(refuse(CodeInvalid, "%s.kind %q must be P (payment) or R (reversal)", at, clip(pi.Kind)))
	}
	return pay
}

// contentHash identifies a chunk's content: the canonical payments in their order.
func contentHash(cycleID, chunkID string, pays []*Payment) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode([]string{cycleID, chunkID})
	for _, p := range pays {
		_ = enc.Encode([]string{p.Sender, p.ID, p.Kind, p.Debtor, p.Creditor, p.Amount, p.Currency, p.FileSHA256, p.OriginalID})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// summarize computes a chunk's count, control sum and net positions.
func summarize(pays []*Payment) (count int, controlSum decimal.Decimal, pos positions) {
	pos = positions{}
	for _, p := range pays {
		controlSum = controlSum.Add(p.amount)
		pos.apply(p)
	}
	return len(pays), controlSum, pos
}

// recordChunk records the payments of one chunk of a cycle, all or nothing.
func recordChunk(s Stub, cycleID, chunkID, paymentsJSON string) ([]byte, error) {
	if err := checkID("cycleId", cycleID); err != nil {
		return nil, err
	}
	if err := checkID("chunkId", chunkID); err != nil {
		return nil, err
	}
	pays, err := parsePayments(cycleID, chunkID, paymentsJSON)
	if err != nil {
		return nil, err
	}
	res, err := recordPayments(s, cycleID, chunkID, pays)
	if err != nil {
		return nil, err
	}
	return marshal(res)
}

// recordPayments records checked payments as one chunk of a cycle, all or
// nothing: the legacy RecordChunk's list, or the entries of a file the ledger
// verified itself.
func recordPayments(s Stub, cycleID, chunkID string, pays []*Payment) (ChunkResult, error) {
	hash := contentHash(cycleID, chunkID, pays)

	chunkKey, err := key(s, keyChunk, cycleID, chunkID)
	if err != nil {
		return ChunkResult{}, err
	}
	var old Chunk
	found, err := getJSON(s, chunkKey, &old)
	if err != nil {
		return ChunkResult{}, err
	}
	if found {
		if old.ContentSHA256 != hash {
			return ChunkResult{}, refuse(CodeChunkConflict, "chunk %s/%s was recorded by tx %s with other content (sha256 %s, this one %s)", cycleID, chunkID, old.TxID, old.ContentSHA256, hash)
		}
		return ChunkResult{Status: "already_recorded", Chunk: old}, nil
	}
	cycles := cycleCache{s: s, seen: map[string]*Cycle{}}
	if c, err := cycles.get(cycleID); err != nil {
		return ChunkResult{}, err
	} else if c != nil {
		return ChunkResult{}, refuse(CodeCycleSettled, "cycle %s was settled by tx %s; it takes no more chunks", cycleID, c.TxID)
	}
	if err := requireBanks(s, chunkBanks(pays)); err != nil {
		return ChunkResult{}, err
	}
	revs, err := checkNewPayments(s, pays)
	if err != nil {
		return ChunkResult{}, err
	}
	return writeChunk(s, cycleID, chunkID, chunkKey, hash, pays, revs)
}

// chunkBanks is every bank the payments name, debtor then creditor, in the
// order they first appear, so that requireBanks reads them in one order on
// every peer.
func chunkBanks(pays []*Payment) []string {
	var banks []string
	seenBank := map[string]bool{}
	for _, p := range pays {
		for _, b := range []string{p.Debtor, p.Creditor} {
			if !seenBank[b] {
				seenBank[b] = true
				banks = append(banks, b)
			}
		}
	}
	return banks
}

// checkNewPayments refuses, all at once, the payments already on the ledger
// and the reversals checkReversal refuses; it returns the reversal records to
// write. The legacy path writes a key a payment, and the governed path's
// id index is empty until the founding closes it, so its keys are all there
// is to check. An internal error stops at once: it is not the caller's fault.
func checkNewPayments(s Stub, pays []*Payment) ([]Reversal, error) {
	var prob problems
	fresh := make([]*Payment, 0, len(pays))
	for _, p := range pays {
		k, err := key(s, keyPayment, p.Sender, p.ID)
		if err != nil {
			return nil, err
		}
		var prev Payment
		if found, err := getJSON(s, k, &prev); err != nil {
			return nil, err
		} else if found {
			prob.add(refuse(CodeDuplicatePayment, "payment %s/%s is already on the ledger (cycle %s, tx %s)", p.Sender, p.ID, prev.CycleID, prev.TxID))
			continue
		}
		fresh = append(fresh, p)
	}
	revs, err := checkReversals(s, newPaymentReader(s), fresh, &prob)
	if err != nil {
		return nil, err
	}
	if err := prob.err(); err != nil {
		return nil, err
	}
	return revs, nil
}

// writeChunk writes the checked chunk of the legacy path: each payment and
// its cycle index, then the chunk's record (writeChunkRecord), in that order
// on every peer. The chunk's positions are asserted to balance before
// anything is written.
func writeChunk(s Stub, cycleID, chunkID, chunkKey, hash string, pays []*Payment, revs []Reversal) (ChunkResult, error) {
	if _, _, pos := summarize(pays); len(pos.unbalanced()) > 0 {
		return writeChunkRecord(s, cycleID, chunkID, chunkKey, hash, pays, revs)
	}
	txID := s.GetTxID()
	for _, p := range pays {
		p.TxID = txID
		k, err := key(s, keyPayment, p.Sender, p.ID)
		if err != nil {
			return ChunkResult{}, err
		}
		if err := putJSON(s, k, p); err != nil {
			return ChunkResult{}, err
		}
		ik, err := key(s, keyCyclePay, cycleID, p.Sender, p.ID)
		if err != nil {
			return ChunkResult{}, err
		}
		if err := s.PutState(ik, []byte("1")); err != nil {
			return ChunkResult{}, internal("write state: %v", err)
		}
	}
	if err := s.PutState(keyLegacyPaid, []byte("1")); err != nil {
		return ChunkResult{}, internal("write state: %v", err)
	}
	return writeChunkRecord(s, cycleID, chunkID, chunkKey, hash, pays, revs)
}

// writeChunkRecord writes a chunk's reversals, then its record: count,
// control sum and positions, asserted to balance before anything is
// written. The legacy chunk and each IndexFile range have one.
func writeChunkRecord(s Stub, cycleID, chunkID, chunkKey, hash string, pays []*Payment, revs []Reversal) (ChunkResult, error) {
	count, sum, pos := summarize(pays)
	if bad := pos.unbalanced(); len(bad) > 0 {
		// Every payment adds and subtracts the same amount, so this cannot happen.
		return ChunkResult{}, internal("chunk %s/%s positions do not balance: %s", cycleID, chunkID, strings.Join(bad, ", "))
	}
	txID := s.GetTxID()
	for _, r := range revs {
		k, err := key(s, keyReversal, r.Sender, r.OriginalID)
		if err != nil {
			return ChunkResult{}, err
		}
		if err := putJSON(s, k, r); err != nil {
			return ChunkResult{}, err
		}
	}
	chunk := Chunk{
		CycleID: cycleID, ChunkID: chunkID, Count: count, ControlSum: sum.String(),
		Positions: pos.list(), ContentSHA256: hash, TxID: txID,
	}
	if err := putJSON(s, chunkKey, chunk); err != nil {
		return ChunkResult{}, err
	}
	return ChunkResult{Status: "recorded", Chunk: chunk}, nil
}

// checkReversal refuses a reversal unless its original exists, was sent by the same
// sender, is a payment (not itself a reversal), repeats debtor, creditor, amount and
// currency exactly, was settled, and was not reversed before (on the ledger or earlier
// in this chunk).
func checkReversal(cycles *cycleCache, pr *paymentReader, r *Payment, reversedHere map[[2]string]string) error {
	orig, found, err := pr.find(r.Sender, r.OriginalID)
	if err != nil {
		return err
	}
	if !found {
		// Say so plainly when the id is another bank's payment to this sender.
		if o, f, err := pr.find(r.Creditor, r.OriginalID); err != nil {
			return err
		} else if f {
			return refuse(CodeReversalInvalid, "reversal %s/%s: original %s belongs to sender %s, not %s", r.Sender, r.ID, r.OriginalID, o.Sender, r.Sender)
		}
		return refuse(CodeReversalInvalid, "reversal %s/%s: original payment %s/%s does not exist", r.Sender, r.ID, r.Sender, r.OriginalID)
	}
	if orig.Kind != KindPayment {
		return refuse(CodeReversalInvalid, "reversal %s/%s: %s/%s is itself a reversal; only a payment can be reversed", r.Sender, r.ID, r.Sender, r.OriginalID)
	}
	var diffs []string
	if orig.Debtor != r.Debtor {
		diffs = append(diffs, fmt.Sprintf("debtor %s != original %s", r.Debtor, orig.Debtor))
	}
	if orig.Creditor != r.Creditor {
		diffs = append(diffs, fmt.Sprintf("creditor %s != original %s", r.Creditor, orig.Creditor))
	}
	if orig.Currency != r.Currency {
		diffs = append(diffs, fmt.Sprintf("currency %s != original %s", r.Currency, orig.Currency))
	}
	origAmount, err := decimal.NewFromString(orig.Amount)
	if err != nil {
		return internal("stored amount of %s/%s: %v", orig.Sender, orig.ID, err)
	}
	if !origAmount.Equal(r.amount) {
		diffs = append(diffs, fmt.Sprintf("amount %s != original %s", r.Amount, orig.Amount))
	}
	if len(diffs) > 0 {
		return refuse(CodeReversalInvalid, "reversal %s/%s does not match original %s/%s: %s", r.Sender, r.ID, r.Sender, r.OriginalID, strings.Join(diffs, ", "))
	}
	if c, err := cycles.get(orig.CycleID); err != nil {
		return err
	} else if c == nil {
		return refuse(CodeReversalInvalid, "reversal %s/%s: original %s/%s is in cycle %s, which has not settled", r.Sender, r.ID, r.Sender, r.OriginalID, orig.CycleID)
	}
	if prev, dup := reversedHere[[2]string{r.Sender, r.OriginalID}]; dup {
		return refuse(CodeReversalInvalid, "reversal %s/%s: original %s/%s is already reversed by %s in this chunk", r.Sender, r.ID, r.Sender, r.OriginalID, prev)
	}
	rk, err := key(pr.s, keyReversal, r.Sender, r.OriginalID)
	if err != nil {
		return err
	}
	var prev Reversal
	if f, err := getJSON(pr.s, rk, &prev); err != nil {
		return err
	} else if f {
		return refuse(CodeReversalInvalid, "reversal %s/%s: original %s/%s was already reversed by %s (tx %s)", r.Sender, r.ID, r.Sender, r.OriginalID, prev.ReversalID, prev.TxID)
	}
	return nil
}

// cycleCache reads each settled-cycle key at most once per call.
type cycleCache struct {
	s    Stub
	seen map[string]*Cycle
}

// get returns the settled cycle, or nil while it is open.
func (c *cycleCache) get(id string) (*Cycle, error) {
	if v, ok := c.seen[id]; ok {
		return v, nil
	}
	k, err := key(c.s, keyCycle, id)
	if err != nil {
		return nil, err
	}
	var cy Cycle
	found, err := getJSON(c.s, k, &cy)
	if err != nil {
		return nil, err
	}
	var v *Cycle
	if found {
		v = &cy
	}
	c.seen[id] = v
	return v, nil
}

package chaincode

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"settle/formats"
	"settle/intake"
	"settle/settlement"
)

// Gridlock resolution on the ledger (issue 19 item 1). When a cycle's nets
// break a cap, every endorsing peer recomputes the resolution itself: the
// cycle's verified files are read back from their stored parts with the
// parse verification used (intake.Check), each bank's queue is ordered and
// resolved by the domain's one copy of the rule (settlement.OrderQueues,
// Queues.Resolve) against the caps held on the ledger. What does not fit is
// deferred, in one record per cycle (deferral/CYCLE), to the next cycle
// settled, where it is queued ahead of that cycle's files. A reversal whose
// original waits in the carry waits with it. Whether a cycle resolves by
// itself or is held for the operator is the scheme setting "gridlock"
// (auto | hold; hold until changed), changed only by the operator and a
// majority of the active banks.

// Object types and codes of the resolution.
const (
	keyScheme      = "scheme"      // ["gridlock"] -> SchemeSetting
	keySettingProp = "settingprop" // [id] -> SettingProposal
	keyDeferral    = "deferral"    // [cycleID] -> DeferralRecord
	keyCarry       = "carry"       // ["open"] -> Carry

	SettingGridlock = "gridlock"
	GridlockAuto    = "auto"
	GridlockHold    = "hold"

	CodeDeferralMismatch Code = "DEFERRAL_MISMATCH" // a proposed deferral list that is not the ledger's
)

// SchemeSetting is a scheme-wide setting on the ledger.
type SchemeSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	TxID  string `json:"txId,omitempty"` // the tx that applied it; empty: the default
}

// SettingProposal is a change of a scheme setting waiting for the operator
// and a majority of the active banks.
type SettingProposal struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Value      string   `json:"value"`
	Epoch      int      `json:"epoch"` // valid only while the operator is unchanged
	ProposedBy string   `json:"proposedBy"`
	Approvals  []string `json:"approvals"` // MSPs, sorted: the operator's and banks'
	Status     string   `json:"status"`    // "open" or "done"
	ProposedTx string   `json:"proposedTx"`
}

// DeferredPayment is one entry a cycle did not settle, carried to the next.
type DeferredPayment struct {
	Sender     string `json:"sender"`
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Debtor     string `json:"debtor"`
	Creditor   string `json:"creditor"`
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	Priority   string `json:"priority"`
	OriginalID string `json:"originalId,omitempty"`
	FirstCycle string `json:"firstCycle"` // the cycle whose file holds it
	Times      int    `json:"times"`      // how many cycles deferred it so far, this one included
	Waiting    bool   `json:"waiting,omitempty"`
}

// BankDeferral is what one bank defers in one currency.
type BankDeferral struct {
	Bank     string `json:"bank"`
	Currency string `json:"currency"`
	Cap      string `json:"cap"`
	Net      string `json:"net"`        // with every entry of the cycle
	Settled  string `json:"settledNet"` // over what settles
	Amount   string `json:"amount"`     // deferred
	Count    int    `json:"count"`
}

// DeferralRecord is a cycle's resolution: what it took from the carry and
// what it defers, in queue order (currency, bank, queue), then the waiting
// reversals.
type DeferralRecord struct {
	CycleID     string            `json:"cycleId"`
	CarriedFrom string            `json:"carriedFrom,omitempty"`
	CarriedIn   int               `json:"carriedIn"`
	Entries     int64             `json:"entries"`
	Settled     int64             `json:"settled"`
	Banks       []BankDeferral    `json:"banks"`
	Deferred    []DeferredPayment `json:"deferred"`
	TxID        string            `json:"txId"`
}

// Carry names the cycle whose deferred payments the next cycle takes first.
type Carry struct {
	CycleID string `json:"cycleId"` // empty: nothing carried
}

func gridlockSetting(s Stub) (SchemeSetting, error) {
	k, err := key(s, keyScheme, SettingGridlock)
	if err != nil {
		return SchemeSetting{}, err
	}
	v := SchemeSetting{Name: SettingGridlock, Value: GridlockHold}
	if _, err := getJSON(s, k, &v); err != nil {
		return SchemeSetting{}, err
	}
	return v, nil
}

// proposeSetting is the operator or a bank's admin proposing a setting.
func proposeSetting(s Stub, name, value string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	if err := settingVoter(g, c); err != nil {
		return nil, err
	}
	if name != SettingGridlock {
		return nil, refuse(CodeInvalid, "unknown setting %q (known: %s)", clip(name), SettingGridlock)
	}
	if value != GridlockAuto && value != GridlockHold {
		return nil, refuse(CodeInvalid, "setting %s is %s or %s, not %q", name, GridlockAuto, GridlockHold, clip(value))
	}
	p := &SettingProposal{ID: s.GetTxID(), Name: name, Value: value, Epoch: g.Epoch, ProposedBy: c.MSPID,
		Approvals: []string{c.MSPID}, Status: "open", ProposedTx: s.GetTxID()}
	return applySetting(s, g, p)
}

// approveSetting is the operator or a bank's admin approving a setting.
func approveSetting(s Stub, id string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	if err := settingVoter(g, c); err != nil {
		return nil, err
	}
	if len(id) == 0 || len(id) > 128 {
		return nil, refuse(CodeInvalid, "proposal id must be 1-128 characters")
	}
	pk, err := key(s, keySettingProp, id)
	if err != nil {
		return nil, err
	}
	var p SettingProposal
	if found, err := getJSON(s, pk, &p); err != nil {
		return nil, err
	} else if !found {
		return nil, refuse(CodeNotFound, "no setting proposal %s", clip(id))
	}
	if p.Status != "open" || p.Epoch != g.Epoch {
		return nil, refuse(CodeGovernance, "setting proposal %s is closed (it passed, or the operator changed since)", clip(id))
	}
	p.Approvals = addSorted(p.Approvals, c.MSPID)
	return applySetting(s, g, &p)
}

// settingVoter: the operator (an admin of its MSP) or an active bank's admin.
func settingVoter(g *Governance, c Caller) error {
	if c.Role == RoleAdmin && (c.MSPID == g.OperatorMSP || g.activeMSPs()[c.MSPID]) {
		return nil
	}
	return refuse(CodeNotAuthorized, "a scheme setting is proposed and approved by the operator's admin or an active bank's admin; the caller is %s", c)
}

// applySetting stores the proposal and applies it once the operator and
// more than half of the active bank MSPs approve: the same count as a change
// of operator (settleProposal), with the operator's approval required too.
func applySetting(s Stub, g *Governance, p *SettingProposal) ([]byte, error) {
	electorate := g.activeMSPs()
	votes, operator := 0, false
	for _, m := range p.Approvals {
		if electorate[m] {
			votes++
		}
		operator = operator || m == g.OperatorMSP
	}
	status := "proposed"
	if operator && 2*votes > len(electorate) {
		p.Status = "done"
		k, err := key(s, keyScheme, p.Name)
		if err != nil {
			return nil, err
		}
		if err := putJSON(s, k, SchemeSetting{Name: p.Name, Value: p.Value, TxID: s.GetTxID()}); err != nil {
			return nil, err
		}
		status = "applied"
	}
	pk, err := key(s, keySettingProp, p.ID)
	if err != nil {
		return nil, err
	}
	if err := putJSON(s, pk, p); err != nil {
		return nil, err
	}
	return marshal(struct {
		Status     string `json:"status"`
		Votes      int    `json:"votes"`
		Electorate int    `json:"electorate"`
		Operator   bool   `json:"operatorApproved"`
		SettingProposal
	}{status, votes, len(electorate), operator, *p})
}

func getScheme(s Stub) ([]byte, error) {
	v, err := gridlockSetting(s)
	if err != nil {
		return nil, err
	}
	return marshal(v)
}

func getDeferral(s Stub, cycleID string) ([]byte, error) {
	if _, err := checkCycleID(cycleID); err != nil {
		return nil, err
	}
	k, err := key(s, keyDeferral, cycleID)
	if err != nil {
		return nil, err
	}
	var r DeferralRecord
	if found, err := getJSON(s, k, &r); err != nil {
		return nil, err
	} else if !found {
		return nil, refuse(CodeNotFound, "cycle %s deferred nothing and carried nothing in", cycleID)
	}
	return marshal(r)
}

// loadCarry returns the deferral record whose payments the next cycle takes
// first, or nil.
func loadCarry(s Stub) (*DeferralRecord, error) {
	k, err := key(s, keyCarry, "open")
	if err != nil {
		return nil, err
	}
	var c Carry
	if found, err := getJSON(s, k, &c); err != nil || !found || c.CycleID == "" {
		return nil, err
	}
	dk, err := key(s, keyDeferral, c.CycleID)
	if err != nil {
		return nil, err
	}
	var r DeferralRecord
	if found, err := getJSON(s, dk, &r); err != nil {
		return nil, err
	} else if !found {
		return nil, internal("carry names cycle %s, which has no deferral record", c.CycleID)
	}
	return &r, nil
}

// decision is what SettleCycle settles: the positions, and the deferral
// record to write (nil: nothing carried in or out).
type decision struct {
	nets   positions
	record *DeferralRecord
}

// decide is the ledger's answer for a cycle whose files net to ps: the
// positions as they are when nothing is carried and no cap breaks;
// otherwise the gridlock resolution, when the setting is auto or the
// operator resolves the cycle (force), else the cycle is held
// (CAP_EXCEEDED). A submitted split (positions, deferred ids) must be the
// ledger's.
func decide(s Stub, d *Declared, cycleID string, ps []settlement.Position, nets positions,
	submitted positions, deferredJSON *string, force bool) (*decision, error) {
	carry, err := loadCarry(s)
	if err != nil {
		return nil, err
	}
	if carry != nil && carry.CycleID >= cycleID {
		return nil, refuse(CodeGovernance, "cycle %s is not after cycle %s, whose deferred payments settle next", cycleID, carry.CycleID)
	}
	var proposed []string
	if deferredJSON != nil {
		if err := decodeStrict("deferred", *deferredJSON, &proposed, jsonLimit{bytesMax: argBytesMax, itemsMax: entriesPerFileMax * 4, depthMax: 1}); err != nil {
			return nil, err
		}
	}
	caps, err := ledgerCaps(s, ps, carry)
	if err != nil {
		return nil, err
	}
	breaches := settlement.CapBreaches(ps, caps)
	if carry == nil && len(breaches) == 0 {
		if submitted != nil && !nets.equal(submitted) {
			return nil, refuse(CodePositionsMismatch, "cycle %s: submitted positions differ from the ledger's: %s", cycleID, diffPositions(nets, submitted))
		}
		if len(proposed) > 0 {
			return nil, refuse(CodeDeferralMismatch, "cycle %s: the ledger defers nothing, %d payments proposed", cycleID, len(proposed))
		}
		return &decision{nets: nets}, nil
	}
	setting, err := gridlockSetting(s)
	if err != nil {
		return nil, err
	}
	held := !force && setting.Value != GridlockAuto
	if held && len(breaches) > 0 {
		var prob problems
		for _, b := range breaches {
			prob.add(refuse(CodeCapExceeded, "%s net debit %s %s exceeds its cap %s (the scheme setting is %s: ResolveCycle defers what does not fit)", b.Bank,
				settlement.FormatAmount(b.Net.Neg(), b.Currency), b.Currency, settlement.FormatAmount(b.Cap, b.Currency), setting.Value))
		}
		return nil, prob.err()
	}
	rec, res, err := resolveCycle(s, d, cycleID, carry, caps)
	if err != nil {
		return nil, err
	}
	if held && len(rec.Deferred) > 0 {
		return nil, refuse(CodeCapExceeded, "cycle %s: %d payments would be deferred (the scheme setting is %s: ResolveCycle defers them)", cycleID, len(rec.Deferred), setting.Value)
	}
	got := positions{}
	for _, p := range res.Positions {
		got.add(string(p.Bank), p.Currency.Code(), p.Net)
	}
	if err := settlement.AssertBalanced(res.Positions); err != nil {
		return nil, internal("cycle %s resolved: %v", cycleID, err)
	}
	if submitted != nil && !got.equal(submitted) {
		return nil, refuse(CodePositionsMismatch, "cycle %s: submitted positions differ from the ledger's resolution: %s", cycleID, diffPositions(got, submitted))
	}
	if deferredJSON != nil {
		want := rec.ids()
		if strings.Join(want, "\n") != strings.Join(proposed, "\n") {
			return nil, refuse(CodeDeferralMismatch, "cycle %s: the ledger defers %d payments (%s), the caller proposed %d (%s)", cycleID,
				len(want), clipList(want), len(proposed), clipList(proposed))
		}
	}
	rec.TxID = s.GetTxID()
	return &decision{nets: got, record: rec}, nil
}

// ids lists the deferred entries as SENDER/ID, in the record's order.
func (r *DeferralRecord) ids() []string {
	out := make([]string, 0, len(r.Deferred))
	for _, p := range r.Deferred {
		out = append(out, p.Sender+"/"+p.ID)
	}
	return out
}

func clipList(l []string) string {
	if len(l) > problemsMax {
		return strings.Join(l[:problemsMax], ",") + fmt.Sprintf(",... %d more", len(l)-problemsMax)
	}
	return strings.Join(l, ",")
}

// ledgerCaps reads the cap of every bank and currency the cycle names (its
// files' positions and the carried payments).
func ledgerCaps(s Stub, ps []settlement.Position, carry *DeferralRecord) ([]settlement.Cap, error) {
	type bc struct {
		bank string
		cur  settlement.Currency
	}
	var want []bc
	seen := map[bc]bool{}
	addK := func(k bc) {
		if !seen[k] {
			seen[k] = true
			want = append(want, k)
		}
	}
	for _, p := range ps {
		addK(bc{string(p.Bank), p.Currency})
	}
	if carry != nil {
		for _, p := range carry.Deferred {
			cur, err := settlement.ParseCurrency(p.Currency)
			if err != nil {
				return nil, internal("carried payment %s/%s: %v", p.Sender, p.ID, err)
			}
			addK(bc{p.Debtor, cur})
			addK(bc{p.Creditor, cur})
		}
	}
	var caps []settlement.Cap
	for _, w := range want {
		k, err := key(s, keyCap, w.bank, w.cur.Code())
		if err != nil {
			return nil, err
		}
		var cp Cap
		found, err := getJSON(s, k, &cp)
		if err != nil {
			return nil, err
		}
		if !found {
			continue // no cap: a cap of zero (settlement.CapLimit)
		}
		amount, err := decimal.NewFromString(cp.Cap)
		if err != nil {
			return nil, internal("cap of %s %s: %v", w.bank, w.cur, err)
		}
		caps = append(caps, settlement.Cap{Bank: settlement.BIC(w.bank), Currency: w.cur, Amount: amount})
	}
	return caps, nil
}

// qentry is an entry of the resolution with where it comes from.
type qentry struct {
	sender, first string
	times         int
}

// resolveCycle reads the cycle's verified files back, queues the carried
// payments first, and resolves against the caps. A reversal whose original
// is carried and deferred again waits with it: it is taken out and the
// resolution run again, until no more reversals wait (each run takes out
// at least one more, so at most as many runs as carried reversals plus one).
func resolveCycle(s Stub, d *Declared, cycleID string, carry *DeferralRecord, caps []settlement.Cap) (*DeferralRecord, *settlement.Resolution, error) {
	q, err := loadCycleQueue(s, d, cycleID, carry)
	if err != nil {
		return nil, nil, err
	}
	for runs := 0; ; runs++ {
		if runs > len(q.carried)+len(q.files)*entriesPerFileMax+1 {
			return nil, nil, internal("cycle %s: the waiting reversals do not settle down", cycleID)
		}
		in, inFrom := q.input()
		res, err := resolveEntries(cycleID, in, caps)
		if err != nil {
			return nil, nil, err
		}
		origin := q.origins(in, inFrom)
		if q.moreWaiting(res, origin) {
			continue
		}
		return q.record(carry, res, origin), res, nil
	}
}

// cycleQueue is what resolveCycle resolves: the carried payments, the
// cycle's verified files, and the reversals taken out so far to wait with
// their carried originals.
type cycleQueue struct {
	cycleID     string
	carried     []settlement.Entry
	carriedFrom []qentry             // where each carried entry comes from
	files       [][]settlement.Entry // files[0] is nil: the carried payments' place
	senders     []string             // each file's sender; senders[0] is ""
	carriedPay  map[[2]string]int    // carried payments (sender, id) -> index in carried
	waiting     map[[2]string]bool   // reversals (sender, id) taken out
}

// loadCycleQueue reads the carried payments back as entries, then the
// cycle's verified files in their declared order (the order every peer
// reads them in), skipping those dropped or never verified.
func loadCycleQueue(s Stub, d *Declared, cycleID string, carry *DeferralRecord) (*cycleQueue, error) {
	q := &cycleQueue{cycleID: cycleID, files: [][]settlement.Entry{nil}, senders: []string{""}}
	if carry != nil {
		for _, p := range carry.Deferred {
			e, err := carriedEntry(p)
			if err != nil {
				return nil, err
			}
			q.carried = append(q.carried, e)
			q.carriedFrom = append(q.carriedFrom, qentry{sender: p.Sender, first: p.FirstCycle, times: p.Times})
		}
	}
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
		if st.Status != FileVerified {
			continue
		}
		es, err := readVerified(s, &st)
		if err != nil {
			return nil, err
		}
		q.files = append(q.files, es)
		q.senders = append(q.senders, st.Sender)
	}
	// Which carried payments are originals a carried or new reversal needs.
	q.carriedPay = map[[2]string]int{}
	for i, e := range q.carried {
		if e.Kind == settlement.KindPayment {
			q.carriedPay[[2]string{q.carriedFrom[i].sender, e.ID}] = i
		}
	}
	q.waiting = map[[2]string]bool{}
	return q, nil
}

// input is the resolution's input without the waiting reversals: the
// carried payments as the first file (with where each comes from), then the
// cycle's files.
func (q *cycleQueue) input() ([][]settlement.Entry, []qentry) {
	in := make([][]settlement.Entry, len(q.files))
	in[0] = nil
	var inFrom []qentry
	for i, e := range q.carried {
		if e.Kind == settlement.KindReversal && q.waiting[[2]string{q.carriedFrom[i].sender, e.ID}] {
			continue
		}
		in[0] = append(in[0], e)
		inFrom = append(inFrom, q.carriedFrom[i])
	}
	for fi := 1; fi < len(q.files); fi++ {
		if len(q.waiting) == 0 {
			in[fi] = q.files[fi]
			continue
		}
		for _, e := range q.files[fi] {
			if e.Kind == settlement.KindReversal && q.waiting[[2]string{q.senders[fi], e.ID}] {
				continue
			}
			in[fi] = append(in[fi], e)
		}
	}
	return in, inFrom
}

// resolveEntries queues and resolves one input against the caps. Reversals
// that alone break a cap, with every payment deferred, are held for the
// operator (CAP_EXCEEDED): deferring cannot bring such a bank under its cap.
func resolveEntries(cycleID string, in [][]settlement.Entry, caps []settlement.Cap) (*settlement.Resolution, error) {
	queues, err := settlement.OrderQueues(in)
	if err != nil {
		return nil, internal("cycle %s: %v", cycleID, err)
	}
	res, err := queues.Resolve(caps)
	var over *settlement.ReversalsOverCapError
	if errors.As(err, &over) {
		var prob problems
		for _, b := range over.Breaches {
			prob.add(refuse(CodeCapExceeded, "%s %s: its reversals alone put it at %s, over its cap %s, with every payment deferred; held for the operator: reversals %s",
				b.Bank, b.Currency, settlement.FormatAmount(b.Net, b.Currency), settlement.FormatAmount(b.Cap, b.Currency), strings.Join(b.Reversals, ",")))
		}
		return nil, prob.err()
	} else if err != nil {
		return nil, internal("cycle %s: %v", cycleID, err)
	}
	return res, nil
}

// origins says which entry is which: the carried file's by position, the
// others by their file's sender.
func (q *cycleQueue) origins(in [][]settlement.Entry, inFrom []qentry) map[*settlement.Entry]qentry {
	origin := map[*settlement.Entry]qentry{}
	for i := range in[0] {
		origin[&in[0][i]] = inFrom[i]
	}
	for fi := 1; fi < len(in); fi++ {
		for i := range in[fi] {
			origin[&in[fi][i]] = qentry{sender: q.senders[fi], first: q.cycleID}
		}
	}
	return origin
}

// moreWaiting takes out, to wait, every reversal (carried or new) whose
// carried original the resolution deferred again, and reports whether it
// took out any: then the resolution runs again without them.
func (q *cycleQueue) moreWaiting(res *settlement.Resolution, origin map[*settlement.Entry]qentry) bool {
	deferredPay := map[[2]string]bool{}
	for _, df := range res.Deferrals {
		for _, e := range df.Payments {
			deferredPay[[2]string{origin[e].sender, e.ID}] = true
		}
	}
	more := false
	for i, e := range q.carried {
		if e.Kind != settlement.KindReversal {
			continue
		}
		k := [2]string{q.carriedFrom[i].sender, e.ID}
		if q.waiting[k] {
			continue
		}
		if _, isCarried := q.carriedPay[[2]string{q.carriedFrom[i].sender, e.Original}]; isCarried && deferredPay[[2]string{q.carriedFrom[i].sender, e.Original}] {
			q.waiting[k], more = true, true
		}
	}
	for fi := 1; fi < len(q.files); fi++ {
		for _, e := range q.files[fi] {
			k := [2]string{q.senders[fi], e.ID}
			if e.Kind != settlement.KindReversal || q.waiting[k] {
				continue
			}
			o := [2]string{q.senders[fi], e.Original}
			if _, isCarried := q.carriedPay[o]; isCarried && deferredPay[o] {
				q.waiting[k], more = true, true
			}
		}
	}
	return more
}

// record is the deferral record of the final resolution: each deferring
// bank, its deferred payments in the resolution's order, then the waiting
// reversals in the order they came (carried, then files).
func (q *cycleQueue) record(carry *DeferralRecord, res *settlement.Resolution, origin map[*settlement.Entry]qentry) *DeferralRecord {
	rec := &DeferralRecord{CycleID: q.cycleID, Entries: res.Entries, Settled: res.Settled, Banks: []BankDeferral{}, Deferred: []DeferredPayment{}}
	if carry != nil {
		rec.CarriedFrom, rec.CarriedIn = carry.CycleID, len(carry.Deferred)
	}
	for _, df := range res.Deferrals {
		rec.Banks = append(rec.Banks, BankDeferral{Bank: string(df.Bank), Currency: df.Currency.Code(),
			Cap: settlement.FormatAmount(df.Cap, df.Currency), Net: settlement.FormatAmount(df.Net, df.Currency),
			Settled: settlement.FormatAmount(df.Settled, df.Currency), Amount: settlement.FormatAmount(df.Amount, df.Currency), Count: len(df.Payments)})
		for _, e := range df.Payments {
			rec.Deferred = append(rec.Deferred, deferredOf(e, origin[e], false))
		}
	}
	// The waiting reversals, in the order they came: carried, then files.
	for i, e := range q.carried {
		if q.waiting[[2]string{q.carriedFrom[i].sender, e.ID}] && e.Kind == settlement.KindReversal {
			rec.Deferred = append(rec.Deferred, deferredOf(&q.carried[i], q.carriedFrom[i], true))
		}
	}
	for fi := 1; fi < len(q.files); fi++ {
		for i, e := range q.files[fi] {
			if e.Kind == settlement.KindReversal && q.waiting[[2]string{q.senders[fi], e.ID}] {
				rec.Deferred = append(rec.Deferred, deferredOf(&q.files[fi][i], qentry{sender: q.senders[fi], first: q.cycleID}, true))
			}
		}
	}
	rec.Entries += int64(len(q.waiting))
	return rec
}

func deferredOf(e *settlement.Entry, o qentry, waiting bool) DeferredPayment {
	return DeferredPayment{Sender: o.sender, ID: e.ID, Kind: e.Kind.String(), Debtor: string(e.Debtor), Creditor: string(e.Creditor),
		Amount: settlement.FormatAmount(e.Amount, e.Currency), Currency: e.Currency.Code(), Priority: e.Priority.String(),
		OriginalID: e.Original, FirstCycle: o.first, Times: o.times + 1, Waiting: waiting}
}

// carriedEntry is a deferred payment back as the domain's entry.
func carriedEntry(p DeferredPayment) (settlement.Entry, error) {
	cur, err := settlement.ParseCurrency(p.Currency)
	if err != nil {
		return settlement.Entry{}, internal("carried %s/%s: %v", p.Sender, p.ID, err)
	}
	amt, err := decimal.NewFromString(p.Amount)
	if err != nil {
		return settlement.Entry{}, internal("carried %s/%s amount: %v", p.Sender, p.ID, err)
	}
	e := settlement.Entry{Kind: settlement.Kind(p.Kind[0]), ID: p.ID, Debtor: settlement.BIC(p.Debtor), Creditor: settlement.BIC(p.Creditor),
		Amount: amt, Currency: cur, Original: p.OriginalID}
	if p.Priority == settlement.PriorityHigh.String() {
		e.Priority = settlement.PriorityHigh
	}
	return e, nil
}

// readVerified reads a verified file back from its stored parts with the
// parse its verification used, and returns its entries in file order. The
// signature was checked at verification; the bytes read back must hash to
// the declared digest, so they are the bytes it covered.
func readVerified(s Stub, st *FileState) ([]settlement.Entry, error) {
	name := st.FileID + ".csv"
	if st.Format != FormatCSV {
		name = st.FileID + ".xml"
	}
	r := &partsReader{s: s, cycle: st.CycleID, sender: st.Sender, fileID: st.FileID, enc: st.Encoding, stored: st.Parts, lastDone: true}
	var out []settlement.Entry
	opts := intake.Options{
		Uploader: settlementBIC(st.Sender),
		Limits:   formats.Limits{FileBytesMax: fileBytesMax, RecordsMax: entriesPerFileMax + 2, ProblemsMax: problemsMax},
		Entry: func(e *settlement.Entry, ok bool) {
			if ok && len(out) < entriesPerFileMax {
				c := *e
				c.Remittance = ""
				out = append(out, c)
			}
		},
	}
	res, err := intake.Check(name, r, intake.Sig{}, opts)
	if r.err != nil {
		return nil, r.err
	}
	if err != nil {
		return nil, internal("read %s/%s back: %v", st.Sender, st.FileID, err)
	}
	if hex.EncodeToString(res.SHA256[:]) != st.SHA256 {
		return nil, internal("verified file %s/%s reads back as %s, declared %s", st.Sender, st.FileID, res.Hash(), st.SHA256)
	}
	if int64(len(out)) != st.Entries {
		return nil, internal("verified file %s/%s reads back %d entries, declared %d", st.Sender, st.FileID, len(out), st.Entries)
	}
	return out, nil
}

// writeDecision writes the cycle's deferral record and moves the carry.
func writeDecision(s Stub, dec *decision) error {
	if dec.record == nil {
		return nil
	}
	k, err := key(s, keyDeferral, dec.record.CycleID)
	if err != nil {
		return err
	}
	if err := putJSON(s, k, dec.record); err != nil {
		return err
	}
	ck, err := key(s, keyCarry, "open")
	if err != nil {
		return err
	}
	next := Carry{}
	if len(dec.record.Deferred) > 0 {
		next.CycleID = dec.record.CycleID
	}
	return putJSON(s, ck, next)
}

// settleOpts are SettleCycle's and ResolveCycle's choices.
type settleOpts struct {
	deferred *string // the caller's deferral list: must be the ledger's
	force    bool    // the operator resolves a held cycle
	dryRun   bool    // answer what would settle and defer; write nothing
}

// resolveCycleCall is ResolveCycle(cycleId[, "dry-run"]): the operator
// settles a held cycle with the gridlock resolution in one step, or sees
// what it would defer.
func resolveCycleCall(s Stub, a []string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	opt := settleOpts{force: true}
	if len(a) == 2 {
		if a[1] != "dry-run" {
			return nil, refuse(CodeBadArgs, "ResolveCycle's second argument is \"dry-run\" or absent, not %q", clip(a[1]))
		}
		opt.dryRun = true
	}
	return settleGoverned(s, g, c, a[0], nil, opt)
}

// DryRun is what ResolveCycle(cycle, "dry-run") answers.
type DryRun struct {
	CycleID   string          `json:"cycleId"`
	Outcome   string          `json:"outcome"` // "dry_run"
	Positions []Position      `json:"positions"`
	Record    *DeferralRecord `json:"resolution,omitempty"`
}

func dryRunResult(cycleID string, dec *decision) DryRun {
	r := DryRun{CycleID: cycleID, Outcome: "dry_run", Positions: dec.nets.list(), Record: dec.record}
	if r.Positions == nil {
		r.Positions = []Position{}
	}
	return r
}

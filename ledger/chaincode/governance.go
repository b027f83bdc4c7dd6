package chaincode

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"sort"

	"settle/signature"
)

// Governance: who may do what on the ledger (issue 11 item 3).
//
// The roles come from the transaction's creator certificate (caller), never
// from a payload field:
//   - the operator is one MSP, not a bank's. Any client or admin identity of it
//     declares and settles cycles, admits banks, raises caps, drops or resets an
//     unverified file;
//   - a bank is a member BIC mapped to its MSP. Its admin identity registers,
//     rotates and revokes the bank's file-signing keys, lowers its own caps and
//     votes; its client identities may upload its own files' parts.
//
// The operator is established once, by a founding that the operator's admin
// proposes (Found) and every founding bank's admin approves (ApproveFounding):
// nobody can found a ledger in the name of banks that did not sign for it. It is
// changed only by a majority of the active banks (ProposeOperator, then
// ApproveProposal by bank admins until more than half of the active bank MSPs
// approve). A bank admitted by the operator is active, and so counts and votes,
// only once its own admin has registered a key: the operator cannot pad the
// electorate with MSPs nobody holds.

// Object types of governance keys.
const (
	keyGov       = "gov"      // ["state"] -> Governance
	keyFounding  = "founding" // [id] -> Founding
	keyProposal  = "proposal" // [id] -> Proposal
	keySignKey   = "signkey"  // [bic, label] -> SigningKey
	membersMax   = 200
	pemBytesMax  = 4 << 10
	foundingBank = 2 // distinct bank MSPs at least, so that a majority means something
)

// Member is a bank of the scheme.
type Member struct {
	BIC        string `json:"bic"`
	MSPID      string `json:"mspId"`
	Active     bool   `json:"active"`
	AdmittedTx string `json:"admittedTx"`
}

// Governance is the founded state of the ledger.
type Governance struct {
	OperatorMSP string   `json:"operatorMsp"`
	Members     []Member `json:"members"` // sorted by BIC
	FoundedTx   string   `json:"foundedTx"`
	OperatorTx  string   `json:"operatorTx"` // the tx that set the current operator
	Epoch       int      `json:"epoch"`      // operator changes so far
}

// FoundingBank is a bank named by a founding.
type FoundingBank struct {
	BIC   string `json:"bic"`
	MSPID string `json:"mspId"`
}

// Founding is a proposed founding waiting for its banks' approvals.
type Founding struct {
	ID          string         `json:"id"`
	OperatorMSP string         `json:"operatorMsp"`
	Banks       []FoundingBank `json:"banks"`
	Approvals   []string       `json:"approvals"` // bank MSPs, sorted
	ProposedTx  string         `json:"proposedTx"`
}

// Proposal is a change of operator waiting for a majority of banks.
type Proposal struct {
	ID             string   `json:"id"`
	NewOperatorMSP string   `json:"newOperatorMsp"`
	Epoch          int      `json:"epoch"` // valid only while the operator is unchanged
	ProposedBy     string   `json:"proposedBy"`
	Approvals      []string `json:"approvals"`
	Status         string   `json:"status"` // "open" or "done"
	ProposedTx     string   `json:"proposedTx"`
}

// SigningKey is a bank's registered file-signing public key.
type SigningKey struct {
	BIC       string `json:"bic"`
	Label     string `json:"label"`
	PEM       string `json:"pem"`
	Status    string `json:"status"` // "active" or "revoked"
	TxID      string `json:"txId"`
	RevokedTx string `json:"revokedTx,omitempty"`
}

// foundingIDRe: a founding's id, the first 16 bytes of its content's SHA-256.
var foundingIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// loadGov returns the governance, or nil while the ledger is not founded.
func loadGov(s Stub) (*Governance, error) {
	k, err := key(s, keyGov, "state")
	if err != nil {
		return nil, err
	}
	var g Governance
	found, err := getJSON(s, k, &g)
	if err != nil || !found {
		return nil, err
	}
	return &g, nil
}

func saveGov(s Stub, g *Governance) error {
	sort.Slice(g.Members, func(i, j int) bool { return g.Members[i].BIC < g.Members[j].BIC })
	k, err := key(s, keyGov, "state")
	if err != nil {
		return err
	}
	return putJSON(s, k, g)
}

func (g *Governance) member(bic string) *Member {
	for i := range g.Members {
		if g.Members[i].BIC == bic {
			return &g.Members[i]
		}
	}
	return nil
}

// activeMSPs are the distinct MSPs of active members: the electorate.
func (g *Governance) activeMSPs() map[string]bool {
	m := map[string]bool{}
	for _, b := range g.Members {
		if b.Active {
			m[b.MSPID] = true
		}
	}
	return m
}

func (g *Governance) isBankMSP(msp string) bool {
	for _, b := range g.Members {
		if b.MSPID == msp {
			return true
		}
	}
	return false
}

// requireGov refuses a governed function before founding.
func requireGov(s Stub) (*Governance, Caller, error) {
	g, err := loadGov(s)
	if err != nil {
		return nil, Caller{}, err
	}
	if g == nil {
		return nil, Caller{}, refuse(CodeNotFounded, "the ledger is not founded yet (Found, then ApproveFounding by every founding bank)")
	}
	c, err := caller(s)
	if err != nil {
		return nil, Caller{}, err
	}
	return g, c, nil
}

// requireOperator refuses unless the creator is a client or admin of the operator MSP.
func requireOperator(g *Governance, c Caller, what string) error {
	if c.MSPID != g.OperatorMSP {
		return refuse(CodeNotAuthorized, "%s is for the operator (%s); the caller is %s", what, g.OperatorMSP, c)
	}
	if c.Role != RoleClient && c.Role != RoleAdmin {
		return refuse(CodeNotAuthorized, "%s needs a client or admin identity of the operator; the caller is %s", what, c)
	}
	return nil
}

// requireBankAdmin refuses unless the creator is an admin of bic's MSP.
func requireBankAdmin(g *Governance, c Caller, bic, what string) (*Member, error) {
	m := g.member(bic)
	if m == nil {
		return nil, refuse(CodeUnknownBank, "bank %s is not a member", bic)
	}
	if c.MSPID != m.MSPID || c.Role != RoleAdmin {
		return nil, refuse(CodeNotAuthorized, "%s for bank %s needs an admin of %s; the caller is %s", what, bic, m.MSPID, c)
	}
	return m, nil
}

// checkBanks validates a list of banks: BICs, MSPs, no BIC twice, one MSP per
// institution (an 8-character BIC and its branches belong to one bank), and
// none under the operator's MSP.
func checkBanks(list []FoundingBank, operatorMSP string) ([]FoundingBank, error) {
	var p problems
	out := make([]FoundingBank, 0, len(list))
	byBIC := map[string]bool{}
	inst := map[string]string{}
	for i, b := range list {
		bic, err := normBIC("banks["+itoa(i)+"].bic", b.BIC)
		if err != nil {
			p.add(err)
			continue
		}
		if !mspIDRe.MatchString(b.MSPID) {
			p.add(refuse(CodeInvalid, "banks[%d].mspId %q must be 1-64 characters [A-Za-z0-9._-]", i, clip(b.MSPID)))
			continue
		}
		if b.MSPID == operatorMSP {
			p.add(refuse(CodeGovernance, "bank %s cannot be under the operator's MSP %s: the operator's identity is not a bank's", bic, operatorMSP))
			continue
		}
		if byBIC[bic] {
			p.add(refuse(CodeGovernance, "bank %s is listed twice", bic))
			continue
		}
		byBIC[bic] = true
		if prev, ok := inst[bic[:8]]; ok && prev != b.MSPID {
			p.add(refuse(CodeBankConflict, "bank %s is under %s but %s is under %s: one institution, one MSP", bic, b.MSPID, bic[:8], prev))
			continue
		}
		inst[bic[:8]] = b.MSPID
		out = append(out, FoundingBank{BIC: bic, MSPID: b.MSPID})
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].BIC < out[j].BIC })
	return out, nil
}

// found proposes the founding: operatorMSP and the member banks. Only an admin
// of operatorMSP may propose it, and it takes effect once every founding bank's
// admin has approved it.
func found(s Stub, operatorMSP, banksJSON string) ([]byte, error) {
	if g, err := loadGov(s); err != nil {
		return nil, err
	} else if g != nil {
		return nil, refuse(CodeFounded, "the ledger was founded by tx %s; a founding happens once", g.FoundedTx)
	}
	c, err := caller(s)
	if err != nil {
		return nil, err
	}
	if !mspIDRe.MatchString(operatorMSP) {
		return nil, refuse(CodeInvalid, "operatorMsp %q must be 1-64 characters [A-Za-z0-9._-]", clip(operatorMSP))
	}
	if c.MSPID != operatorMSP || c.Role != RoleAdmin {
		return nil, refuse(CodeNotAuthorized, "a founding naming operator %s is proposed by an admin of %s; the caller is %s", operatorMSP, operatorMSP, c)
	}
	var list []FoundingBank
	if err := decodeStrict("banks", banksJSON, &list, jsonLimit{bytesMax: 64 << 10, itemsMax: membersMax, depthMax: 2}); err != nil {
		return nil, err
	}
	banks, err := checkBanks(list, operatorMSP)
	if err != nil {
		return nil, err
	}
	msps := map[string]bool{}
	for _, b := range banks {
		msps[b.MSPID] = true
		// A bank the legacy path registered keeps its MSP.
		k, err := key(s, keyBank, b.BIC)
		if err != nil {
			return nil, err
		}
		var old Bank
		if found, err := getJSON(s, k, &old); err != nil {
			return nil, err
		} else if found && old.MSPID != b.MSPID {
			return nil, refuse(CodeBankConflict, "bank %s is registered with MSP %s, not %s", b.BIC, old.MSPID, b.MSPID)
		}
	}
	if len(msps) < foundingBank {
		return nil, refuse(CodeGovernance, "a founding names at least %d banks of distinct MSPs, got %d", foundingBank, len(msps))
	}
	canon, _ := json.Marshal(struct {
		O string         `json:"o"`
		B []FoundingBank `json:"b"`
	}{operatorMSP, banks})
	sum := sha256.Sum256(canon)
	id := hex.EncodeToString(sum[:16])
	fk, err := key(s, keyFounding, id)
	if err != nil {
		return nil, err
	}
	var f Founding
	if found, err := getJSON(s, fk, &f); err != nil {
		return nil, err
	} else if found {
		return marshal(struct {
			Status string `json:"status"`
			Founding
		}{"already_proposed", f})
	}
	f = Founding{ID: id, OperatorMSP: operatorMSP, Banks: banks, Approvals: []string{}, ProposedTx: s.GetTxID()}
	if err := putJSON(s, fk, f); err != nil {
		return nil, err
	}
	return marshal(struct {
		Status string `json:"status"`
		Founding
	}{"proposed", f})
}

// approveFounding is a founding bank's admin agreeing to a founding. The last
// approval founds the ledger: the operator, the members (active: their admins
// signed) and their bank keys.
func approveFounding(s Stub, id string) ([]byte, error) {
	if g, err := loadGov(s); err != nil {
		return nil, err
	} else if g != nil {
		return nil, refuse(CodeFounded, "the ledger was founded by tx %s", g.FoundedTx)
	}
	c, err := caller(s)
	if err != nil {
		return nil, err
	}
	if !foundingIDRe.MatchString(id) {
		return nil, refuse(CodeInvalid, "founding id %q must be 32 hex digits", clip(id))
	}
	fk, err := key(s, keyFounding, id)
	if err != nil {
		return nil, err
	}
	var f Founding
	if found, err := getJSON(s, fk, &f); err != nil {
		return nil, err
	} else if !found {
		return nil, refuse(CodeNotFound, "no founding %s was proposed", id)
	}
	named := map[string]bool{}
	for _, b := range f.Banks {
		named[b.MSPID] = true
	}
	if !named[c.MSPID] || c.Role != RoleAdmin {
		return nil, refuse(CodeNotAuthorized, "founding %s is approved by an admin of one of its banks; the caller is %s", id, c)
	}
	f.Approvals = addSorted(f.Approvals, c.MSPID)
	if len(f.Approvals) < len(named) {
		if err := putJSON(s, fk, f); err != nil {
			return nil, err
		}
		return marshal(struct {
			Status string `json:"status"`
			Founding
		}{"approved", f})
	}
	g := &Governance{OperatorMSP: f.OperatorMSP, FoundedTx: s.GetTxID(), OperatorTx: s.GetTxID()}
	for _, b := range f.Banks {
		g.Members = append(g.Members, Member{BIC: b.BIC, MSPID: b.MSPID, Active: true, AdmittedTx: s.GetTxID()})
		if err := writeBank(s, b.BIC, b.MSPID); err != nil {
			return nil, err
		}
	}
	if err := saveGov(s, g); err != nil {
		return nil, err
	}
	return marshal(struct {
		Status string `json:"status"`
		Governance
	}{"founded", *g})
}

// writeBank writes the bank key the legacy path and the queries read.
func writeBank(s Stub, bic, msp string) error {
	k, err := key(s, keyBank, bic)
	if err != nil {
		return err
	}
	var old Bank
	if found, err := getJSON(s, k, &old); err != nil {
		return err
	} else if found && old.MSPID == msp {
		return nil
	}
	return putJSON(s, k, Bank{BIC: bic, MSPID: msp, TxID: s.GetTxID()})
}

func addSorted(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	list = append(list, v)
	sort.Strings(list)
	return list
}

// proposeOperator is an active bank's admin proposing another operator MSP.
func proposeOperator(s Stub, newMSP string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	if !g.activeMSPs()[c.MSPID] || c.Role != RoleAdmin {
		return nil, refuse(CodeNotAuthorized, "a change of operator is proposed by an admin of an active bank; the caller is %s", c)
	}
	if !mspIDRe.MatchString(newMSP) {
		return nil, refuse(CodeInvalid, "newOperatorMsp %q must be 1-64 characters [A-Za-z0-9._-]", clip(newMSP))
	}
	if newMSP == g.OperatorMSP {
		return nil, refuse(CodeGovernance, "%s is already the operator", newMSP)
	}
	if g.isBankMSP(newMSP) {
		return nil, refuse(CodeGovernance, "%s is a bank's MSP; the operator's identity is not a bank's", newMSP)
	}
	p := &Proposal{ID: s.GetTxID(), NewOperatorMSP: newMSP, Epoch: g.Epoch, ProposedBy: c.MSPID,
		Approvals: []string{c.MSPID}, Status: "open", ProposedTx: s.GetTxID()}
	return settleProposal(s, g, p)
}

// approveProposal is an active bank's admin approving a change of operator.
func approveProposal(s Stub, id string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	if !g.activeMSPs()[c.MSPID] || c.Role != RoleAdmin {
		return nil, refuse(CodeNotAuthorized, "a change of operator is approved by an admin of an active bank; the caller is %s", c)
	}
	if len(id) == 0 || len(id) > 128 {
		return nil, refuse(CodeInvalid, "proposal id must be 1-128 characters")
	}
	pk, err := key(s, keyProposal, id)
	if err != nil {
		return nil, err
	}
	var p Proposal
	if found, err := getJSON(s, pk, &p); err != nil {
		return nil, err
	} else if !found {
		return nil, refuse(CodeNotFound, "no proposal %s", clip(id))
	}
	if p.Status != "open" || p.Epoch != g.Epoch {
		return nil, refuse(CodeGovernance, "proposal %s is closed (the operator changed since, or it passed)", clip(id))
	}
	p.Approvals = addSorted(p.Approvals, c.MSPID)
	return settleProposal(s, g, &p)
}

// settleProposal stores a proposal and applies it once more than half of the
// active bank MSPs approve it.
func settleProposal(s Stub, g *Governance, p *Proposal) ([]byte, error) {
	electorate := g.activeMSPs()
	votes := 0
	for _, m := range p.Approvals {
		if electorate[m] {
			votes++
		}
	}
	status := "proposed"
	if 2*votes > len(electorate) {
		p.Status = "done"
		g.OperatorMSP, g.OperatorTx = p.NewOperatorMSP, s.GetTxID()
		g.Epoch++
		if err := saveGov(s, g); err != nil {
			return nil, err
		}
		status = "operator_changed"
	}
	pk, err := key(s, keyProposal, p.ID)
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
		Proposal
	}{status, votes, len(electorate), *p})
}

// admitBank is the operator admitting a bank (RegisterBank once founded).
func admitBank(s Stub, g *Governance, c Caller, bicArg, msp string) ([]byte, error) {
	if err := requireOperator(g, c, "RegisterBank"); err != nil {
		return nil, err
	}
	list := []FoundingBank{{BIC: bicArg, MSPID: msp}}
	for _, m := range g.Members {
		list = append(list, FoundingBank{BIC: m.BIC, MSPID: m.MSPID})
	}
	banks, err := checkBanks(list[:1], g.OperatorMSP)
	if err != nil {
		return nil, err
	}
	b := banks[0]
	if old := g.member(b.BIC); old != nil {
		if old.MSPID != b.MSPID {
			return nil, refuse(CodeBankConflict, "bank %s is registered with MSP %s, not %s", b.BIC, old.MSPID, b.MSPID)
		}
		return marshal(struct {
			Status string `json:"status"`
			Member
		}{"already_registered", *old})
	}
	if _, err := checkBanks(list, g.OperatorMSP); err != nil {
		return nil, err
	}
	m := Member{BIC: b.BIC, MSPID: b.MSPID, Active: g.isBankMSP(b.MSPID) && g.activeMSPs()[b.MSPID], AdmittedTx: s.GetTxID()}
	if len(g.Members) >= membersMax {
		return nil, refuse(CodeLimit, "the scheme has %d members, at most %d", len(g.Members), membersMax)
	}
	g.Members = append(g.Members, m)
	if err := saveGov(s, g); err != nil {
		return nil, err
	}
	if err := writeBank(s, b.BIC, b.MSPID); err != nil {
		return nil, err
	}
	return marshal(struct {
		Status string `json:"status"`
		Member
	}{"registered", m})
}

// setCapGoverned: the operator sets any cap; a bank's admin may only lower an
// existing cap of its own (no cap is a cap of zero, so there is nothing lower).
func setCapGoverned(s Stub, g *Governance, c Caller, bicArg, currency, capArg string) ([]byte, error) {
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
	m := g.member(bic)
	if m == nil {
		return nil, refuse(CodeUnknownBank, "bank %s is not a member", bic)
	}
	k, err := key(s, keyCap, bic, currency)
	if err != nil {
		return nil, err
	}
	if c.MSPID != g.OperatorMSP || (c.Role != RoleClient && c.Role != RoleAdmin) {
		if c.MSPID != m.MSPID || c.Role != RoleAdmin {
			return nil, refuse(CodeNotAuthorized, "SetCap for %s is for the operator, or for an admin of %s lowering its own cap; the caller is %s", bic, m.MSPID, c)
		}
		var old Cap
		found, err := getJSON(s, k, &old)
		if err != nil {
			return nil, err
		}
		oldAmount, _ := parseAmount("stored cap", old.Cap, currency, true)
		if !found || amount.GreaterThanOrEqual(oldAmount) {
			return nil, refuse(CodeNotAuthorized, "a bank may only lower its own cap: %s %s is %s, asked %s; raising it is the operator's", bic, currency, capOrNone(found, old.Cap), fixed(amount, currency))
		}
	}
	cp := Cap{BIC: bic, Currency: currency, Cap: fixed(amount, currency), TxID: s.GetTxID()}
	if err := putJSON(s, k, cp); err != nil {
		return nil, err
	}
	return marshal(cp)
}

func capOrNone(found bool, v string) string {
	if !found {
		return "none (zero)"
	}
	return v
}

// registerKey adds a file-signing key of a bank, by that bank's admin. Labels
// are never reused: a rotation registers a new label and revokes the old one.
func registerKey(s Stub, bicArg, label, pemText string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	bic, err := normBIC("bic", bicArg)
	if err != nil {
		return nil, err
	}
	m, err := requireBankAdmin(g, c, bic, "RegisterKey")
	if err != nil {
		return nil, err
	}
	if err := checkID("label", label); err != nil {
		return nil, err
	}
	if len(pemText) > pemBytesMax {
		return nil, refuse(CodeLimit, "key is %d bytes, at most %d", len(pemText), pemBytesMax)
	}
	if _, err := signature.ParsePublicKey([]byte(pemText)); err != nil {
		return nil, refuse(CodeInvalid, "key %s/%s: %v", bic, label, err)
	}
	k, err := key(s, keySignKey, bic, label)
	if err != nil {
		return nil, err
	}
	var old SigningKey
	if found, err := getJSON(s, k, &old); err != nil {
		return nil, err
	} else if found {
		if old.PEM == pemText && old.Status == "active" {
			return marshal(struct {
				Status string `json:"status"`
				SigningKey
			}{"already_registered", old})
		}
		return nil, refuse(CodeKeyConflict, "key label %s/%s is taken (%s, tx %s); a rotation uses a new label", bic, label, old.Status, old.TxID)
	}
	sk := SigningKey{BIC: bic, Label: label, PEM: pemText, Status: "active", TxID: s.GetTxID()}
	if err := putJSON(s, k, sk); err != nil {
		return nil, err
	}
	if !m.Active {
		m.Active = true
		if err := saveGov(s, g); err != nil {
			return nil, err
		}
	}
	return marshal(struct {
		Status string `json:"status"`
		SigningKey
	}{"registered", sk})
}

// revokeKey withdraws a key, by the bank's admin; files verified before stay verified.
func revokeKey(s Stub, bicArg, label string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	bic, err := normBIC("bic", bicArg)
	if err != nil {
		return nil, err
	}
	if _, err := requireBankAdmin(g, c, bic, "RevokeKey"); err != nil {
		return nil, err
	}
	if err := checkID("label", label); err != nil {
		return nil, err
	}
	k, err := key(s, keySignKey, bic, label)
	if err != nil {
		return nil, err
	}
	var sk SigningKey
	if found, err := getJSON(s, k, &sk); err != nil {
		return nil, err
	} else if !found {
		return nil, refuse(CodeNotFound, "bank %s has no key %s", bic, label)
	}
	if sk.Status == "revoked" {
		return marshal(struct {
			Status string `json:"status"`
			SigningKey
		}{"already_revoked", sk})
	}
	sk.Status, sk.RevokedTx = "revoked", s.GetTxID()
	if err := putJSON(s, k, sk); err != nil {
		return nil, err
	}
	return marshal(struct {
		Status string `json:"status"`
		SigningKey
	}{"revoked", sk})
}

// activeKeys returns a bank's active keys in label order.
func activeKeys(s Stub, bic string) ([]signature.Key, error) {
	it, err := s.GetStateByPartialCompositeKey(keySignKey, []string{bic})
	if err != nil {
		return nil, internal("range read of keys of %s: %v", bic, err)
	}
	defer it.Close()
	var out []signature.Key
	for n := 0; it.HasNext(); n++ {
		kv, err := it.Next()
		if err != nil {
			return nil, internal("range read of keys of %s: %v", bic, err)
		}
		if n >= 1000 {
			return nil, refuse(CodeLimit, "bank %s has more than 1000 keys", bic)
		}
		var sk SigningKey
		if err := json.Unmarshal(kv.Value, &sk); err != nil {
			return nil, internal("key %q: %v", printable(kv.Key), err)
		}
		if sk.Status != "active" || sk.BIC != bic {
			continue
		}
		pub, err := signature.ParsePublicKey([]byte(sk.PEM))
		if err != nil {
			return nil, internal("stored key %s/%s: %v", bic, sk.Label, err)
		}
		out = append(out, signature.Key{Bank: settlementBIC(bic), Label: sk.Label, Public: pub})
	}
	return out, nil
}

func getGovernance(s Stub) ([]byte, error) {
	g, err := loadGov(s)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, refuse(CodeNotFounded, "the ledger is not founded yet")
	}
	return marshal(g)
}

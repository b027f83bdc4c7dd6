package chaincode

import (
	"bytes"
	"maps"
	"slices"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"strings"
	"testing"
)

// gridNet is a founded ledger of five banks, each with a signing key.
type gridNet struct {
	l    *memLedger
	id   func(msp, role string) []byte
	keys map[string]*ecdsa.PrivateKey
	msp  map[string]string
}

var gridBanks = []string{"AAAAKRSE", "BBBBKRSE", "CCCCKRSE", "DDDDKRSE", "EEEEKRSE"}

func newGridNet(t *testing.T) *gridNet {
	t.Helper()
	l := newLedger()
	ids := map[string][]byte{}
	id := func(m, r string) []byte {
		if ids[m+r] == nil {
			ids[m+r] = identity(t, m, r)
		}
		return ids[m+r]
	}
	n := &gridNet{l: l, id: id, keys: map[string]*ecdsa.PrivateKey{}, msp: map[string]string{}}
	var fb []FoundingBank
	for i, b := range gridBanks {
		n.msp[b] = fmt.Sprintf("Bank%dMSP", i+1)
		fb = append(fb, FoundingBank{BIC: b, MSPID: n.msp[b]})
	}
	out, err := l.invokeAs(id("OperatorMSP", "admin"), "Found", "OperatorMSP", js(t, fb))
	if err != nil {
		t.Fatal(err)
	}
	var f Founding
	_ = json.Unmarshal(out, &f)
	for _, b := range gridBanks {
		if _, err := l.invokeAs(id(n.msp[b], "admin"), "ApproveFounding", f.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range gridBanks {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		n.keys[b] = k
		if _, err := l.invokeAs(id(n.msp[b], "admin"), "RegisterKey", b, "k1", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func (n *gridNet) op() []byte { return n.id("OperatorMSP", "client") }

func (n *gridNet) cap(t *testing.T, bank, amount string) {
	t.Helper()
	if _, err := n.l.invokeAs(n.op(), "SetCap", bank, "KRW", amount); err != nil {
		t.Fatal(err)
	}
}

// day declares and uploads one CSV file a sender; pays are "ID,DEBTOR,CREDITOR,AMOUNT" or
// "R,ID,ORIG,DEBTOR,CREDITOR,AMOUNT" lines.
func (n *gridNet) day(t *testing.T, date string, files map[string][]string) {
	t.Helper()
	type up struct{ sender, id, body, sig string }
	var ups []up
	var decl []DeclaredFile
	for _, sender := range gridBanks {
		lines, ok := files[sender]
		if !ok {
			continue
		}
		fid := "F" + strings.ReplaceAll(date, "-", "") + sender[:1]
		var b strings.Builder
		fmt.Fprintf(&b, "H,%s,%s,%s,%sT17:45:00+09:00\n", fid, sender, date, date)
		sum := 0
		for _, ln := range lines {
			f := strings.Split(ln, ",")
			var amt int
			if f[0] == "R" {
				fmt.Sscan(f[5], &amt)
				fmt.Fprintf(&b, "R,%s,%s,%s,%s,%s,KRW,AC03\n", f[1], f[2], f[3], f[4], f[5])
			} else {
				fmt.Sscan(f[3], &amt)
				fmt.Fprintf(&b, "P,%s,%s,%s,%s,KRW\n", f[0], f[1], f[2], f[3])
			}
			sum += amt
		}
		fmt.Fprintf(&b, "T,%d,%d\n", len(lines), sum)
		body := b.String()
		digest := sha256.Sum256([]byte(body))
		raw, _ := ecdsa.SignASN1(rand.Reader, n.keys[sender], digest[:])
		ups = append(ups, up{sender, fid, body, base64.StdEncoding.EncodeToString(raw)})
		decl = append(decl, DeclaredFile{Sender: sender, FileID: fid, Format: "csv", SHA256: sha256hex(body), Entries: int64(len(lines)), ControlSum: fmt.Sprint(sum)})
	}
	cycle := "C" + date
	if _, err := n.l.invokeAs(n.op(), "DeclareCycle", cycle, js(t, decl)); err != nil {
		t.Fatal(err)
	}
	for _, u := range ups {
		if _, err := n.l.invokeAs(n.id(n.msp[u.sender], "client"), "PutFilePart", cycle, u.sender, u.id, "0", u.body, u.sig); err != nil {
			t.Fatalf("%s: %v\n%s", u.id, err, u.body)
		}
		if _, err := n.l.invokeAs(n.id(n.msp[u.sender], "client"), "IndexFile", cycle, u.sender, u.id); err != nil {
			t.Fatalf("index %s: %v", u.id, err)
		}
	}
}

// setAuto turns the gridlock setting to auto: the operator and three of five banks.
func (n *gridNet) setAuto(t *testing.T) {
	t.Helper()
	out, err := n.l.invokeAs(n.id("OperatorMSP", "admin"), "ProposeSetting", "gridlock", "auto")
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ ID, Status string }
	_ = json.Unmarshal(out, &p)
	for i, b := range gridBanks[:3] {
		out, err := n.l.invokeAs(n.id(n.msp[b], "admin"), "ApproveSetting", p.ID)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(out, &p)
		if want := map[bool]string{true: "applied", false: "proposed"}[i == 2]; p.Status != want {
			t.Fatalf("after %d bank approvals: %s, want %s", i+1, p.Status, want)
		}
	}
}

// TestSettingNeedsOperatorAndMajority: a majority of banks alone does not
// change the setting, nor the operator with a minority; a bank's client
// cannot vote.
func TestSettingNeedsOperatorAndMajority(t *testing.T) {
	n := newGridNet(t)
	out, err := n.l.invokeAs(n.id("Bank1MSP", "admin"), "ProposeSetting", "gridlock", "auto")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		ID, Status string
		Votes      int
	}
	_ = json.Unmarshal(out, &p)
	for _, m := range []string{"Bank2MSP", "Bank3MSP", "Bank4MSP"} {
		out, err = n.l.invokeAs(n.id(m, "admin"), "ApproveSetting", p.ID)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(out, &p)
	}
	if p.Status != "proposed" || p.Votes != 4 {
		t.Fatalf("four banks without the operator: %s with %d votes", p.Status, p.Votes)
	}
	if _, err := n.l.invokeAs(n.id("Bank5MSP", "client"), "ApproveSetting", p.ID); codeOf(err) != CodeNotAuthorized {
		t.Errorf("a bank's client approving: %v", err)
	}
	if _, err := n.l.invokeAs(n.id("OperatorMSP", "client"), "ProposeSetting", "gridlock", "hold"); codeOf(err) != CodeNotAuthorized {
		t.Errorf("the operator's client proposing: %v", err)
	}
	if _, err := n.l.invokeAs(n.id("OperatorMSP", "admin"), "ProposeSetting", "gridlock", "sometimes"); codeOf(err) != CodeInvalid {
		t.Errorf("an unknown value: %v", err)
	}
	var sc SchemeSetting
	_ = json.Unmarshal(n.l.must(t, "GetScheme"), &sc)
	if sc.Value != GridlockHold {
		t.Fatalf("setting %s before the operator approved", sc.Value)
	}
	out, err = n.l.invokeAs(n.id("OperatorMSP", "admin"), "ApproveSetting", p.ID)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(out, &p)
	_ = json.Unmarshal(n.l.must(t, "GetScheme"), &sc)
	if p.Status != "applied" || sc.Value != GridlockAuto {
		t.Fatalf("operator and four banks: %s, setting %s", p.Status, sc.Value)
	}
	if _, err := n.l.invokeAs(n.id("Bank5MSP", "admin"), "ApproveSetting", p.ID); codeOf(err) != CodeGovernance {
		t.Errorf("approving a passed proposal: %v", err)
	}
	// The operator with two banks (a minority of five) does not pass either.
	out, _ = n.l.invokeAs(n.id("OperatorMSP", "admin"), "ProposeSetting", "gridlock", "hold")
	_ = json.Unmarshal(out, &p)
	for _, m := range []string{"Bank1MSP", "Bank2MSP"} {
		out, _ = n.l.invokeAs(n.id(m, "admin"), "ApproveSetting", p.ID)
		_ = json.Unmarshal(out, &p)
	}
	if p.Status != "proposed" {
		t.Fatalf("operator and two banks: %s", p.Status)
	}
}

// TestGridlockCascade: A's cap defers A->B, which puts B over its cap, which
// defers B->D (the cascade across two banks' caps). Held while the setting is
// hold; the dry run shows the split; a caller's other split is refused; the
// operator resolves it in one step; the next day the deferred payments come
// first, and a reversal whose original waits waits with it.
func TestGridlockCascade(t *testing.T) {
	n := newGridNet(t)
	n.cap(t, "AAAAKRSE", "70")
	n.cap(t, "BBBBKRSE", "30")
	n.cap(t, "DDDDKRSE", "100")
	n.day(t, "2026-11-24", map[string][]string{
		"AAAAKRSE": {"A1,AAAAKRSE,CCCCKRSE,50", "A2,AAAAKRSE,BBBBKRSE,60"},
		"BBBBKRSE": {"B1,BBBBKRSE,DDDDKRSE,80"},
		"DDDDKRSE": {"D1,DDDDKRSE,EEEEKRSE,10"},
	})
	c := "C2026-11-24"
	if _, err := n.l.invokeAs(n.op(), "SettleCycle", c); codeOf(err) != CodeCapExceeded {
		t.Fatalf("held setting, cap broken: %v", err)
	}
	out, err := n.l.invokeAs(n.op(), "ResolveCycle", c, "dry-run")
	if err != nil {
		t.Fatal(err)
	}
	var dry DryRun
	_ = json.Unmarshal(out, &dry)
	if got := strings.Join(dry.Record.ids(), " "); got != "AAAAKRSE/A2 BBBBKRSE/B1" {
		t.Fatalf("dry run defers %s", got)
	}
	if b := dry.Record.Banks; len(b) != 2 || b[0].Bank != "AAAAKRSE" || b[0].Amount != "60" || b[1].Bank != "BBBBKRSE" || b[1].Amount != "80" {
		t.Fatalf("dry run per bank: %+v", b)
	}
	if _, err := n.l.invokeAs(n.op(), "GetDeferral", c); codeOf(err) != CodeNotFound {
		t.Fatalf("a dry run wrote a record: %v", err)
	}
	want := map[string]string{"AAAAKRSE KRW": "-50", "CCCCKRSE KRW": "50", "DDDDKRSE KRW": "-10", "EEEEKRSE KRW": "10"}
	if got := positionsOf(t, dry.Positions); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("dry-run positions %v, want %v", got, want)
	}
	n.setAuto(t)
	// Another split: deferring only A2 would leave B over its cap; deferring more is not the greatest set.
	for _, split := range []string{`["AAAAKRSE/A2"]`, `["AAAAKRSE/A2","BBBBKRSE/B1","DDDDKRSE/D1"]`, `[]`} {
		if _, err := n.l.invokeAs(n.op(), "SettleCycle", c, "", split); codeOf(err) != CodeDeferralMismatch {
			t.Errorf("split %s: %v", split, err)
		}
	}
	wrongPos := js(t, []Position{{Bank: "AAAAKRSE", Currency: "KRW", Net: "-110"}, {Bank: "BBBBKRSE", Currency: "KRW", Net: "-20"},
		{Bank: "CCCCKRSE", Currency: "KRW", Net: "50"}, {Bank: "DDDDKRSE", Currency: "KRW", Net: "70"}, {Bank: "EEEEKRSE", Currency: "KRW", Net: "10"}})
	if _, err := n.l.invokeAs(n.op(), "SettleCycle", c, wrongPos); codeOf(err) != CodePositionsMismatch {
		t.Errorf("the unresolved positions proposed: %v", err)
	}
	// Endorsers agree: the same transaction on copies of the same state writes
	// the same bytes, however often it runs (maps never decide an order).
	var writes []string
	for range 5 {
		fork := &memLedger{state: maps.Clone(n.l.state), history: map[string][]*queryresult.KeyModification{}, txs: n.l.txs}
		before := maps.Clone(fork.state)
		if _, err := fork.invokeAs(n.op(), "SettleCycle", c); err != nil {
			t.Fatal(err)
		}
		var w []string
		for k, v := range fork.state {
			if !bytes.Equal(before[k], v) {
				w = append(w, k+"="+string(v))
			}
		}
		slices.Sort(w)
		writes = append(writes, strings.Join(w, "\n"))
	}
	if !strings.Contains(writes[0], "deferral") || !strings.Contains(writes[0], `"deferred":2`) {
		t.Fatalf("the settling transaction wrote no deferral record: %s", writes[0])
	}
	for i := range writes {
		if writes[i] != writes[0] {
			t.Fatalf("run %d wrote other state:\n%s\nthan run 0:\n%s", i, writes[i], writes[0])
		}
	}
	out, err = n.l.invokeAs(n.op(), "SettleCycle", c, js(t, dry.Positions), `["AAAAKRSE/A2","BBBBKRSE/B1"]`)
	if err != nil {
		t.Fatal(err)
	}
	var r SettleResult
	_ = json.Unmarshal(out, &r)
	if r.Deferred != 2 || fmt.Sprint(positionsOf(t, r.Positions)) != fmt.Sprint(want) {
		t.Fatalf("settled %+v", r)
	}
	var rec DeferralRecord
	_ = json.Unmarshal(n.l.must(t, "GetDeferral", c), &rec)
	if rec.Deferred[0].Times != 1 || rec.Deferred[0].FirstCycle != c || rec.Settled != 2 {
		t.Fatalf("record %+v", rec)
	}

	// Day 2: A's cap is raised, B's is not: A2 settles first in A's queue, B1
	// is deferred again. A new HIGH-less A3 comes after A2.
	n.cap(t, "AAAAKRSE", "200")
	n.day(t, "2026-11-25", map[string][]string{
		"AAAAKRSE": {"A3,AAAAKRSE,EEEEKRSE,5"},
		"CCCCKRSE": {"C0,CCCCKRSE,BBBBKRSE,20", "C1,CCCCKRSE,BBBBKRSE,10"},
	})
	out, err = n.l.invokeAs(n.op(), "SettleCycle", "C2026-11-25")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(out, &r)
	_ = json.Unmarshal(n.l.must(t, "GetDeferral", "C2026-11-25"), &rec)
	// C has no cap: C0 and C1 are deferred; B: +60 (A2) -80 (B1) = -20, within 30.
	if rec.CarriedIn != 2 || rec.CarriedFrom != c || strings.Join(rec.ids(), " ") != "CCCCKRSE/C0 CCCCKRSE/C1" {
		t.Fatalf("day 2 record %+v", rec)
	}
	want2 := map[string]string{"AAAAKRSE KRW": "-65", "BBBBKRSE KRW": "-20", "DDDDKRSE KRW": "80", "EEEEKRSE KRW": "5"}
	if got := positionsOf(t, r.Positions); fmt.Sprint(got) != fmt.Sprint(want2) {
		t.Fatalf("day 2 positions %v, want %v", got, want2)
	}

	// Day 3: C reverses C1. The reversal funds C1, but C0 is ahead of it in
	// C's queue and does not fit: both are deferred again, and the reversal
	// waits with its original.
	n.day(t, "2026-11-26", map[string][]string{
		"CCCCKRSE": {"R,RC1,C1,CCCCKRSE,BBBBKRSE,10"},
		"DDDDKRSE": {"D2,DDDDKRSE,EEEEKRSE,1"},
	})
	if _, err := n.l.invokeAs(n.op(), "SettleCycle", "C2026-11-26"); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(n.l.must(t, "GetDeferral", "C2026-11-26"), &rec)
	if strings.Join(rec.ids(), " ") != "CCCCKRSE/C0 CCCCKRSE/C1 CCCCKRSE/RC1" || rec.Deferred[1].Times != 2 ||
		rec.Deferred[1].FirstCycle != "C2026-11-25" || !rec.Deferred[2].Waiting || rec.Deferred[2].Times != 1 {
		t.Fatalf("day 3 record %+v", rec)
	}

	// Day 4: reversals alone over a cap hold the cycle, naming bank and reversals
	// (E pays back D1 with no cap); the carry stays where it was.
	n.day(t, "2026-11-27", map[string][]string{
		"DDDDKRSE": {"R,RD1,D1,DDDDKRSE,EEEEKRSE,10"},
	})
	_, err = n.l.invokeAs(n.op(), "SettleCycle", "C2026-11-27")
	if codeOf(err) != CodeCapExceeded || !strings.Contains(err.Error(), "EEEEKRSE") || !strings.Contains(err.Error(), "RD1") {
		t.Fatalf("reversals over a cap: %v", err)
	}
	if _, err := n.l.invokeAs(n.op(), "ResolveCycle", "C2026-11-27"); codeOf(err) != CodeCapExceeded {
		t.Fatalf("resolving a cycle held on reversals: %v", err)
	}
	// With a cap for E and C, the carried payment and its reversal settle together.
	n.cap(t, "EEEEKRSE", "10")
	n.cap(t, "CCCCKRSE", "30")
	if _, err := n.l.invokeAs(n.op(), "SettleCycle", "C2026-11-27"); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(n.l.must(t, "GetDeferral", "C2026-11-27"), &rec)
	if rec.CarriedIn != 3 || len(rec.Deferred) != 0 {
		t.Fatalf("day 4 record %+v", rec)
	}
}

package contracttest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// AllPeers is a Governed ledger on a real network, whose transactions can be
// endorsed by every bank's peer and whose state can be read from each.
type AllPeers interface {
	// SubmitAll submits fn as msp's role, endorsed by every bank peer, and
	// waits for its commit on each: the client forms the transaction only
	// when all the endorsements are the same bytes. It answers the payload,
	// the transaction id and its validation code (VALID when committed).
	SubmitAll(t *testing.T, msp, role, fn string, args ...string) (payload []byte, txID, code string, err error)
	// Peers is the number of bank peers; EvaluateOn reads on peer i (1-based).
	Peers() int
	EvaluateOn(t *testing.T, peer int, msp, role, fn string, args ...string) ([]byte, error)
}

// gpay is one payment of the gridlock day.
type gpay struct {
	id, from, to string
	amt          int64
}

// gfile is a file of the gridlock day: its sender (a BIC), who uploads it
// (a bank index: a branch's file is its head office's), its payments.
type gfile struct {
	f    *csvFile
	by   int
	pays []gpay
}

// entries are the file's payments as the domain reads them.
func (f gfile) entries(t *testing.T) []settlement.Entry {
	krw, err := settlement.ParseCurrency("KRW")
	if err != nil {
		t.Fatal(err)
	}
	var out []settlement.Entry
	for i, p := range f.pays {
		out = append(out, settlement.Entry{Line: i + 2, Kind: settlement.KindPayment, ID: p.id, Debtor: settlement.BIC(p.from),
			Creditor: settlement.BIC(p.to), Amount: decimal.NewFromInt(p.amt), Currency: krw, Priority: settlement.PriorityNormal})
	}
	return out
}

// oracle is the domain's answer for a cycle: the carried payments queued
// first, then the files in their declared order, against the caps
// (settlement.OrderQueues, Queues.Resolve: the one copy of the rule). It
// answers the resolution, its deferred payments as "SENDER/ID" in the order
// the ledger's record lists them (currency, bank, queue order), and the
// deferred entries themselves (the next cycle's carry).
func oracle(t *testing.T, carried []settlement.Entry, files []gfile, caps map[string]int64) (*settlement.Resolution, []string, []settlement.Entry) {
	t.Helper()
	in := [][]settlement.Entry{carried}
	for _, f := range files {
		in = append(in, f.entries(t))
	}
	return resolveIn(t, in, caps)
}

// resolveIn resolves the entries of in, queued in its order, against caps.
func resolveIn(t *testing.T, in [][]settlement.Entry, caps map[string]int64) (*settlement.Resolution, []string, []settlement.Entry) {
	t.Helper()
	q, err := settlement.OrderQueues(in)
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	krw, _ := settlement.ParseCurrency("KRW")
	var cs []settlement.Cap
	for bic, amt := range caps {
		cs = append(cs, settlement.Cap{Bank: settlement.BIC(bic), Currency: krw, Amount: decimal.NewFromInt(amt)})
	}
	res, err := q.Resolve(cs)
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	var ids []string
	var next []settlement.Entry
	for _, d := range res.Deferrals {
		for _, e := range d.Payments {
			ids = append(ids, string(e.Payer())+"/"+e.ID)
			next = append(next, *e)
		}
	}
	return res, ids, next
}

// posOf is a resolution's positions as netOf answers a result's.
func posOf(res *settlement.Resolution) map[string]string {
	out := map[string]string{}
	for _, p := range res.Positions {
		out[string(p.Bank)+" "+p.Currency.Code()] = settlement.FormatAmount(p.Net, p.Currency)
	}
	return out
}

// deferredIDs are a deferral record's payments as "SENDER/ID", in its order.
func deferredIDs(t *testing.T, rec map[string]any) []string {
	t.Helper()
	list, _ := rec["deferred"].([]any)
	out := []string{}
	for _, v := range list {
		m := v.(map[string]any)
		out = append(out, m["sender"].(string)+"/"+m["id"].(string))
	}
	return out
}

// gridlockDay declares the files, uploads and indexes each, and answers
// the oracle's view of them.
func (x *g) gridlockDay(files []gfile) {
	x.t.Helper()
	var decl []map[string]any
	bodies := make([][]byte, len(files))
	for i, f := range files {
		for _, p := range f.pays {
			f.f.pay(p.id, p.to, p.amt)
		}
		bodies[i] = f.f.bytes()
		decl = append(decl, declared(f.f, bodies[i]))
	}
	eq(x.t, "declared", x.opc().ok("DeclareCycle", x.cycle, js(decl))["status"], "declared")
	for i, f := range files {
		out := x.upload(x.client(f.by), f.f, bodies[i], x.keys[f.f.sender].sig(bodies[i]), 1)
		eq(x.t, "file "+f.f.id, out["status"], "verified")
	}
}

// settleAll settles the cycle with the deferral list split: on a real
// network endorsed by every bank peer (the transaction forms only if their
// results are the same bytes), committed VALID, and the cycle's state then
// read the same from every peer.
func (x *g) settleAll(positions, split string) map[string]any {
	x.t.Helper()
	ap, ok := x.l.(AllPeers)
	if !ok {
		return x.opc().ok("SettleCycle", x.cycle, positions, split)
	}
	payload, txID, code, err := ap.SubmitAll(x.t, x.op, Client, "SettleCycle", x.cycle, positions, split)
	if err != nil {
		x.t.Fatalf("SettleCycle endorsed by all %d bank peers: %v", ap.Peers(), err)
	}
	eq(x.t, "validation code of the settling transaction "+txID, code, "VALID")
	var out map[string]any
	if err := json.Unmarshal(payload, &out); err != nil {
		x.t.Fatalf("SettleCycle answered %q: %v", payload, err)
	}
	for _, fn := range []string{"GetDeferral", "GetCycle"} {
		var first []byte
		for p := 1; p <= ap.Peers(); p++ {
			got, err := ap.EvaluateOn(x.t, p, x.op, Client, fn, x.cycle)
			if err != nil {
				x.t.Fatalf("%s on peer %d: %v", fn, p, err)
			}
			if !strings.Contains(string(got), txID) {
				x.t.Fatalf("%s on peer %d does not name the settling transaction %s: %s", fn, p, txID, got)
			}
			if p == 1 {
				first = got
			} else if string(got) != string(first) {
				x.t.Fatalf("%s on peer %d:\n%s\nbut on peer 1:\n%s", fn, p, got, first)
			}
		}
	}
	x.t.Logf("SettleCycle %s: tx %s endorsed by all %d bank peers, VALID, its records the same on each", x.cycle, txID, ap.Peers())
	return out
}

// gridlock is the scenario of issue 19, item 5: five BICs (the fourth
// bank's branch the fifth) on a day where A's cap defers A's payment to B,
// which puts B over its cap, which defers B's payment to D: a cascade
// across two banks' caps. The setting is turned to auto by the operator and
// a majority of the banks; the dry run is the domain's answer; a different
// split is refused; the right one settles and its record lists the
// oracle's deferrals; the next cycle settles the carried payments first.
func (x *g) gridlock(t *testing.T) {
	gr := &gridlockRun{x: x}
	gr.bic, gr.caps = x.gridlockBanks(t)
	gr.day1(t)
	for _, step := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"the setting auto needs the operator and a majority of banks", gr.autoSetting},
		{"another split is refused, the oracle's settles", gr.settleDay1},
		{"the next cycle settles the carried payments first", gr.settleDay2},
	} {
		t.Run(step.name, func(t *testing.T) {
			x.t = t
			step.run(t)
		})
		x.t = t
	}
}

// gridlockRun is the state the gridlock steps share: the five BICs, their
// caps, and day 1's cycle with the oracle's answer for it.
type gridlockRun struct {
	x         *g
	bic       []string
	caps      map[string]int64
	res1      *settlement.Resolution
	want1     []string           // day 1's deferrals, "SENDER/ID"
	carry     []settlement.Entry // day 1's deferred payments, carried to day 2
	day1Cycle string
}

// gridlockBanks makes the fourth bank and its branch active (keys) and sets
// the five BICs' caps.
func (x *g) gridlockBanks(t *testing.T) (bic []string, caps map[string]int64) {
	e := x.bic(d) + "BR5" // a branch of the fourth bank, under its MSP
	bic = []string{x.bic(a), x.bic(b), x.bic(cc), x.bic(d), e}
	// The fourth bank and its branch become active: keys, caps.
	eq(t, "branch", x.opc().ok("RegisterBank", e, x.banks[d].MSPID)["status"], "registered")
	for _, k := range []struct {
		bic   string
		label string
	}{{x.bic(d), "d1"}, {e, "e1"}} {
		x.keys[k.bic] = newECDSA(t, k.label)
		eq(t, "key "+k.label, x.admin(d).ok("RegisterKey", k.bic, k.label, x.keys[k.bic].pem)["status"], "registered")
	}
	caps = map[string]int64{bic[0]: 70, bic[1]: 30, bic[2]: 1000000, bic[3]: 100, bic[4]: 5}
	for k, v := range caps {
		eq(t, "cap "+k, x.opc().ok("SetCap", k, "KRW", fmt.Sprint(v))["cap"], v)
	}
	return bic, caps
}

// day1 declares and uploads day 1's files, checks with the oracle that the
// day is the cascade, and that the ledger holds the cycle (the setting is
// hold) while its dry run is the domain's answer.
func (gr *gridlockRun) day1(t *testing.T) {
	x, bic, caps := gr.x, gr.bic, gr.caps
	e := bic[4] // the fourth bank's branch
	prev := x.date
	for x.newCycle(); x.date <= prev; x.newCycle() {
	}
	day1 := []gfile{
		{x.file(a, "GA1"), a, []gpay{{x.run + "-GA-1", bic[0], bic[2], 50}, {x.run + "-GA-2", bic[0], bic[1], 60}}},
		{x.file(b, "GB1"), b, []gpay{{x.run + "-GB-1", bic[1], bic[3], 80}}},
		{x.file(cc, "GC1"), cc, []gpay{{x.run + "-GC-1", bic[2], bic[0], 20}}},
		{x.file(d, "GD1"), d, []gpay{{x.run + "-GD-1", bic[3], bic[4], 10}}},
		{&csvFile{id: x.run + "-GE1", sender: e, date: x.date}, d, []gpay{{x.run + "-GE-1", e, bic[2], 3}}},
	}
	res1, want1, carry := oracle(t, nil, day1, caps)
	gr.res1, gr.want1, gr.carry = res1, want1, carry
	// The scenario is the cascade: A2 (A over its cap), then B1 (B over
	// its cap once A2 no longer funds it), and nothing else.
	cascade := []string{bic[0] + "/" + x.run + "-GA-2", bic[1] + "/" + x.run + "-GB-1"}
	slices.Sort(cascade) // the record lists banks in ascending BIC order
	eq(t, "the oracle's deferrals", strings.Join(want1, " "), strings.Join(cascade, " "))
	if _, only, _ := oracle(t, nil, day1[:1], caps); len(only) != 1 {
		t.Fatalf("A's file alone: the oracle defers %v, want A2 only", only)
	}
	x.gridlockDay(day1)
	gr.day1Cycle = x.cycle

	// Held: the setting is hold until the operator and a majority change it.
	x.opc().refused("CAP_EXCEEDED", "SettleCycle", x.cycle)
	eq(t, "scheme", x.opc().query("GetScheme")["value"], "hold")

	dry := x.opc().ok("ResolveCycle", x.cycle, "dry-run")
	eq(t, "dry-run outcome", dry["outcome"], "dry_run")
	rec, _ := dry["resolution"].(map[string]any)
	if rec == nil {
		t.Fatalf("the dry run resolves nothing: %v", dry)
	}
	eq(t, "dry run deferrals", strings.Join(deferredIDs(t, rec), " "), strings.Join(want1, " "))
	eq(t, "dry run positions", fmt.Sprint(netOf(t, dry)), fmt.Sprint(posOf(res1)))
	x.opc().notFound("GetDeferral", x.cycle)
}

// autoSetting turns the gridlock setting to auto: proposed by the operator's
// admin, applied at the approval of a majority of the active banks.
func (gr *gridlockRun) autoSetting(t *testing.T) {
	x := gr.x
	x.client(a).refused("NOT_AUTHORIZED", "ProposeSetting", "gridlock", "auto")
	x.opc().refused("NOT_AUTHORIZED", "ProposeSetting", "gridlock", "auto")
	p := x.as(x.op, Admin).ok("ProposeSetting", "gridlock", "auto")
	id, _ := p["id"].(string)
	eq(t, "proposed", p["status"], "proposed")
	x.client(b).refused("NOT_AUTHORIZED", "ApproveSetting", id)
	// Four active bank MSPs (the branch is its head office's): three are a majority.
	for i, bank := range []int{a, b, cc} {
		want := map[bool]string{true: "applied", false: "proposed"}[i == 2]
		eq(t, fmt.Sprintf("after %d bank approvals", i+1), x.admin(bank).ok("ApproveSetting", id)["status"], want)
	}
	eq(t, "scheme", x.opc().query("GetScheme")["value"], "auto")
}

// settleDay1 settles day 1 with the oracle's deferrals, after every other
// split is refused; a replay changes nothing.
func (gr *gridlockRun) settleDay1(t *testing.T) {
	x, bic, res1, want1 := gr.x, gr.bic, gr.res1, gr.want1
	A2, B1, D1 := bic[0]+"/"+x.run+"-GA-2", bic[1]+"/"+x.run+"-GB-1", bic[3]+"/"+x.run+"-GD-1"
	for _, split := range [][]string{{A2}, {B1}, {A2, D1}, {A2, B1, D1}, {}} {
		x.opc().refused("DEFERRAL_MISMATCH", "SettleCycle", x.cycle, "", js(split))
	}
	x.client(a).refused("NOT_AUTHORIZED", "SettleCycle", x.cycle, "", js(want1))
	out := x.settleAll("", js(want1))
	eq(t, "deferred", out["deferred"], len(want1))
	eq(t, "positions", fmt.Sprint(netOf(t, out)), fmt.Sprint(posOf(res1)))
	rec := x.opc().query("GetDeferral", x.cycle)
	eq(t, "record", strings.Join(deferredIDs(t, rec), " "), strings.Join(want1, " "))
	eq(t, "settled", rec["settled"], res1.Settled)
	eq(t, "entries", rec["entries"], res1.Entries)
	// Settled once: a replay changes nothing, the record stays.
	eq(t, "again", x.opc().ok("SettleCycle", x.cycle, "", js(want1))["outcome"], "already_settled")
	eq(t, "record after the replay", fmt.Sprint(x.opc().query("GetDeferral", x.cycle)), fmt.Sprint(rec))
}

// settleDay2 settles the next cycle, whose files only tell the two orders
// apart: the carried payments queue first.
func (gr *gridlockRun) settleDay2(t *testing.T) {
	x, bic, caps, want1, carry, day1Cycle := gr.x, gr.bic, gr.caps, gr.want1, gr.carry, gr.day1Cycle
	prev := x.date
	for x.newCycle(); x.date <= prev; x.newCycle() {
	}
	day2 := []gfile{
		{x.file(a, "GA2"), a, []gpay{{x.run + "-GA-3", bic[0], bic[3], 30}}},
		{x.file(b, "GB2"), b, []gpay{{x.run + "-GB-2", bic[1], bic[2], 5}}},
	}
	res2, want2, _ := oracle(t, carry, day2, caps)
	// A's cap holds A2 (carried, 60) or A2 and nothing more: queued
	// first, A2 settles and A's new A3 waits; were the files first, A3
	// would settle and A2 wait again. B1 settles on A2's funds.
	eq(t, "the oracle's day 2", strings.Join(want2, " "), bic[0]+"/"+x.run+"-GA-3")
	// The same day with the carry queued after the files: the oracle
	// would then defer A2 again, so the day tells the two orders apart.
	in := [][]settlement.Entry{}
	for _, f := range day2 {
		in = append(in, f.entries(t))
	}
	_, last, _ := resolveIn(t, append(in, carry), caps)
	if !slices.Contains(last, bic[0]+"/"+x.run+"-GA-2") || slices.Contains(last, bic[0]+"/"+x.run+"-GA-3") {
		t.Fatalf("with the carry queued last the day defers %v: the scenario cannot show the carry goes first", last)
	}
	x.gridlockDay(day2)
	dry := x.opc().ok("ResolveCycle", x.cycle, "dry-run")
	rec, _ := dry["resolution"].(map[string]any)
	if rec == nil {
		t.Fatalf("day 2's dry run resolves nothing: %v", dry)
	}
	eq(t, "day 2 dry run", strings.Join(deferredIDs(t, rec), " "), strings.Join(want2, " "))
	out := x.settleAll("", js(want2))
	eq(t, "day 2 positions", fmt.Sprint(netOf(t, out)), fmt.Sprint(posOf(res2)))
	rec = x.opc().query("GetDeferral", x.cycle)
	eq(t, "day 2 record", strings.Join(deferredIDs(t, rec), " "), strings.Join(want2, " "))
	eq(t, "carried from", rec["carriedFrom"], day1Cycle)
	eq(t, "carried in", rec["carriedIn"], len(want1))
	eq(t, "day 2 settled", rec["settled"], res2.Settled)
	// The carried payments settled: neither is in day 2's record, and
	// the day settled them with the files' payments but A3.
	for _, id := range want1 {
		if slices.Contains(deferredIDs(t, rec), id) {
			t.Fatalf("carried %s deferred again", id)
		}
	}
	eq(t, "day 2 settled count", rec["settled"], len(want1)+2-1)
}

package jobs_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/adapters/schemekey"
	"settle/formats/agentcamt"
	"settle/formats/camt053"
	"settle/formats/formatstest"
	"settle/formats/pacs002"
	"settle/formats/pacs009"
	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
	"settle/signature"
)

const (
	schemeBIC = settlement.BIC("SETLKRSE")
	agentBIC  = settlement.BIC("BOKRKRSE")
)

// afterWorld is a world whose pipeline writes the after-settlement files
// through the scheme's signing outbox, with a settlement agent.
func afterWorld(t *testing.T) (*world, *jobs.Pipeline, jobs.SignedInbox, *schemekey.Signer) {
	w := newPostgresWorld(t)
	keys := schemekey.Dir{Path: filepath.Join(w.root, "scheme-keys")}
	if _, err := keys.Init("k1"); err != nil {
		t.Fatal(err)
	}
	signer := &schemekey.Signer{Dir: keys}
	out := jobs.SignedInbox{BankInbox: w.inbox, Signer: signer}
	ag := pacs009.Agent{BIC: agentBIC, SchemeAccount: "SETTLE-SETTLEMENT-01", Accounts: map[settlement.BIC]string{}}
	for _, b := range w.banks {
		ag.Accounts[b.BIC] = "RTGS-" + string(b.BIC)
	}
	p := w.pipeline()
	p.Outbox = out
	p.Agent = w.pgJobs
	p.After = &jobs.AfterSettlement{Scheme: schemeBIC, Agent: ag, Files: w.pgJobs, TempDir: t.TempDir()}
	w.intake.Inbox = jobs.WithoutBank{BankInbox: out, Bank: agentBIC}
	return w, p, out, signer
}

func (w *world) outboxOf(bank settlement.BIC) string {
	return filepath.Join(w.root, "sftp", "banks", string(bank), "outbox")
}

// TestAfterSettlement: once the cycle settles, every bank has a signed
// camt.053 statement closing at its net position and a signed pacs.002
// settlement confirmation per file, and the agent a signed pacs.009 per
// currency, all valid against their schemas. The agent (as the demo's
// simulator does) books every instruction but one, one with a wrong
// amount: its camt.054, signed with its key, is taken (never as a
// payment file), the two breaks open in the register, and the cycle is
// partly confirmed; a corrected answer later confirms it and closes them.
func TestAfterSettlement(t *testing.T) {
	w, p, out, signer := afterWorld(t)
	const date = settlement.Date("2026-11-24")
	w.day(date, 60)
	if _, err := w.intake.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(w.ctx, date); err != nil {
		t.Fatal(err)
	}
	set, _ := signer.Keys()
	signed := func(dir, name string) []byte {
		t.Helper()
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := os.ReadFile(filepath.Join(dir, name+".sig"))
		if _, ok := set.Verify(body, sig); err != nil || !ok {
			t.Fatalf("%s: not signed by the scheme (%v)", name, err)
		}
		return body
	}
	positions, _ := w.store.Positions(w.ctx, date)
	for i, b := range w.banks {
		dir := w.outboxOf(b.BIC)
		stmt := signed(dir, camt053.Name("C2026-11-24"))
		formatstest.WrittenValid(t, "camt.053.001.08", filepath.Join(dir, camt053.Name("C2026-11-24")))
		var doc struct {
			Stmts []struct {
				Ccy string `xml:"Acct>Ccy"`
				Bal []struct {
					Amt string `xml:"Amt"`
					Ind string `xml:"CdtDbtInd"`
				} `xml:"Bal"`
			} `xml:"BkToCstmrStmt>Stmt"`
		}
		if err := xml.Unmarshal(stmt, &doc); err != nil {
			t.Fatal(err)
		}
		for _, st := range doc.Stmts {
			closing := decimal.RequireFromString(st.Bal[1].Amt)
			if st.Bal[1].Ind == "DBIT" {
				closing = closing.Neg()
			}
			found := false
			for _, x := range positions {
				if x.Bank == b.BIC && x.Currency.Code() == st.Ccy {
					found = closing.Equal(x.Net)
				}
			}
			if !found {
				t.Errorf("%s %s: closing %s is not the net position", b.BIC, st.Ccy, closing)
			}
		}
		name := pacs002.SettledName("F-2026-11-24-" + string(rune('0'+i)) + ".csv")
		conf := signed(dir, name)
		formatstest.WrittenValid(t, "pacs.002.001.10", filepath.Join(dir, name))
		if !bytes.Contains(conf, []byte("<GrpSts>ACSC</GrpSts>")) || !bytes.Contains(conf, []byte("ledger tx ")) {
			t.Errorf("%s: %s", name, conf)
		}
	}
	// The agent's instructions, and the agent simulator's answer.
	adir := w.outboxOf(agentBIC)
	all, _ := settlement.CycleInstructions("C2026-11-24", positions)
	var bookings []agentcamt.Booking
	for c, ins := range all {
		name := pacs009.Name("C2026-11-24", c)
		signed(adir, name)
		formatstest.WrittenValid(t, "pacs.009.001.08", filepath.Join(adir, name))
		for _, i := range ins {
			bookings = append(bookings, agentcamt.FromInstruction(i, date))
		}
	}
	if len(bookings) < 3 {
		t.Fatalf("%d instructions: the test wants three", len(bookings))
	}
	wrong := bookings[0]
	missing := bookings[len(bookings)-1]
	answer := append([]agentcamt.Booking{}, bookings[:len(bookings)-1]...)
	answer[0].Amount = answer[0].Amount.Add(decimal.New(1, 0))
	apub, apriv, _ := ed25519.GenerateKey(rand.Reader)
	ai := &jobs.AgentIntake{Agent: agentBIC, Inbox: out, Store: w.pgJobs, Recorder: w.pgJobs, Pipeline: p, Log: w.quiet,
		Now: func() time.Time { return w.now },
		Keys: func() (signature.Ring, error) {
			return signature.Ring{agentBIC: {{Bank: agentBIC, Label: "k1", Public: apub}}}, nil
		}}
	upload := func(name string, bs []agentcamt.Booking) {
		var buf bytes.Buffer
		if err := agentcamt.WriteNotification(&buf, agentcamt.Notification{MsgID: strings.TrimSuffix(name, ".xml"), Created: w.now, Account: "SETTLE-SETTLEMENT-01", Bookings: bs}); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(w.root, "sftp", "banks", string(agentBIC), "inbox")
		os.MkdirAll(dir, 0o750)
		os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o640)
		os.WriteFile(filepath.Join(dir, name+".sig"), schemekeySig(apriv, buf.Bytes()), 0o640)
	}
	upload("N1.xml", answer)
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Taken != 0 {
		t.Fatalf("the payment intake took the agent's file: %+v %v", c, err)
	}
	if n, err := ai.Collect(w.ctx); err != nil || n != 1 {
		t.Fatalf("agent intake: %d %v", n, err)
	}
	var ack struct{ Status string }
	json.Unmarshal(signed(adir, "N1.xml.ack.json"), &ack)
	if ack.Status != "ACCEPTED" {
		t.Fatalf("agent ack %+v", ack)
	}
	breaks, _ := w.store.OpenBreaks(w.ctx, date)
	var kinds []string
	for _, b := range breaks {
		kinds = append(kinds, string(b.Kind)+" "+b.Subject)
	}
	want := []string{string(reconciliation.AgentAmount) + " " + string(wrong.EndToEndID[12:20]) + "/" + wrong.Currency.Code(),
		string(reconciliation.MissingAtAgent) + " " + string(missing.EndToEndID[12:20]) + "/" + missing.Currency.Code()}
	if strings.Join(kinds, ",") != strings.Join(want, ",") && strings.Join(kinds, ",") != want[1]+","+want[0] {
		t.Fatalf("breaks %v, want %v", kinds, want)
	}
	if st, _, _ := w.pgJobs.AgentConfirmation(w.ctx, date); st != reconciliation.Partly {
		t.Fatalf("confirmation %s", st)
	}
	// The agent corrects: the right amount and the missing transfer.
	fix := []agentcamt.Booking{bookings[0], missing}
	fix[0].Amount = wrong.Amount
	// The wrong booking stays booked: the agent reverses it.
	rev := answer[0]
	rev.Reversal = true
	upload("N2.xml", append(fix, rev))
	if _, err := ai.Collect(w.ctx); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := w.pgJobs.AgentConfirmation(w.ctx, date); st == reconciliation.Confirmed {
		t.Fatalf("confirmed with a booking reversed and one booked twice")
	}
}

func schemekeySig(k ed25519.PrivateKey, body []byte) []byte {
	return []byte(encodeStd(ed25519.Sign(k, body)) + "\n")
}

func encodeStd(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestAgentAnswerRefused: an answer signed by another key, one that is
// not an agent's message, and one the schema refuses are acknowledged
// REJECTED with their problems, and nothing of them is recorded.
func TestAgentAnswerRefused(t *testing.T) {
	w, p, out, _ := afterWorld(t)
	apub, apriv, _ := ed25519.GenerateKey(rand.Reader)
	_, mallory, _ := ed25519.GenerateKey(rand.Reader)
	ai := &jobs.AgentIntake{Agent: agentBIC, Inbox: out, Store: w.pgJobs, Recorder: w.pgJobs, Pipeline: p, Log: w.quiet,
		Now: func() time.Time { return w.now },
		Keys: func() (signature.Ring, error) {
			return signature.Ring{agentBIC: {{Bank: agentBIC, Label: "k1", Public: apub}}}, nil
		}}
	krw, _ := settlement.ParseCurrency("KRW")
	good := agentcamt.Booking{EndToEndID: "C2026-11-24:" + string(w.banks[0].BIC) + ":KRW", Amount: decimal.New(5, 0), Currency: krw, Credit: true, Status: "BOOK", ValueDate: "2026-11-24"}
	var doc bytes.Buffer
	agentcamt.WriteNotification(&doc, agentcamt.Notification{MsgID: "N9", Created: w.now, Account: "SETTLE-SETTLEMENT-01", Bookings: []agentcamt.Booking{good}})
	dir := filepath.Join(w.root, "sftp", "banks", string(agentBIC), "inbox")
	os.MkdirAll(dir, 0o750)
	put := func(name string, body []byte, key ed25519.PrivateKey) {
		os.WriteFile(filepath.Join(dir, name), body, 0o640)
		os.WriteFile(filepath.Join(dir, name+".sig"), schemekeySig(key, body), 0o640)
	}
	put("forged.xml", doc.Bytes(), mallory)
	put("payments.xml", []byte(strings.Replace(doc.String(), "camt.054.001.08", "pacs.008.001.08", 1)), apriv)
	put("schema.xml", []byte(strings.Replace(doc.String(), "<Sts><Cd>BOOK</Cd></Sts>", "", 1)), apriv)
	if n, err := ai.Collect(w.ctx); err != nil || n != 3 {
		t.Fatalf("%d %v", n, err)
	}
	for name, code := range map[string]string{"forged.xml": settlement.CodeSignatureInvalid, "payments.xml": settlement.CodeFormat, "schema.xml": settlement.CodeSchema} {
		b, err := os.ReadFile(filepath.Join(w.outboxOf(agentBIC), name+".ack.json"))
		if err != nil {
			t.Fatal(err)
		}
		var ack struct {
			Status string
			Errors []settlement.Problem
		}
		json.Unmarshal(b, &ack)
		found := false
		for _, p := range ack.Errors {
			found = found || p.Code == code
		}
		if ack.Status != "REJECTED" || !found {
			t.Errorf("%s: %s", name, b)
		}
	}
	if bs, err := w.pgJobs.AgentBookings(w.ctx, "C2026-11-24", nil); err != nil || len(bs) != 0 {
		t.Fatalf("refused answers recorded: %v %v", bs, err)
	}
}

// TestDeferredFileConfirmedPending: a file deferred out of a cycle gets,
// when that cycle settles, a PDNG confirmation naming the cycle it moved
// to; the next day, once it settled there, an ACSC one.
func TestDeferredFileConfirmedPending(t *testing.T) {
	w, p, _, _ := afterWorld(t)
	const d1, d2 = settlement.Date("2026-11-24"), settlement.Date("2026-11-25")
	b := func(i int) settlement.BIC { return w.banks[i].BIC }
	w.upload(0, "fa.csv", []byte("H,FA-1,"+string(b(0))+",2026-11-24,2026-11-24T09:00:00+09:00\nP,A-1,"+string(b(0))+","+string(b(1))+",1000,KRW\nT,1,1000\n"))
	w.upload(1, "fb.csv", []byte("H,FB-1,"+string(b(1))+",2026-11-24,2026-11-24T09:00:00+09:00\nP,B-1,"+string(b(1))+","+string(b(2))+",10,KRW\nT,1,10\n"))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 2 {
		t.Fatalf("intake: %+v %v", c, err)
	}
	if _, err := w.store.EnsureCycle(w.ctx, d2); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Defer(w.ctx, jobs.Deferral{Sender: b(0), FileID: "FA-1", From: d1, To: d2, Reason: "cannot fund tonight", Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(w.ctx, d1); err != nil {
		t.Fatal(err)
	}
	read := func(bank settlement.BIC, name string) string {
		body, err := os.ReadFile(filepath.Join(w.outboxOf(bank), name))
		if err != nil {
			t.Fatal(err)
		}
		formatstest.WrittenValidBytes(t, "pacs.002.001.10", body)
		return string(body)
	}
	if got := read(b(0), pacs002.SettledName("fa.csv")); !strings.Contains(got, "<GrpSts>PDNG</GrpSts>") || !strings.Contains(got, "deferred to C2026-11-25") {
		t.Fatalf("deferred file: %s", got)
	}
	if got := read(b(1), pacs002.SettledName("fb.csv")); !strings.Contains(got, "<GrpSts>ACSC</GrpSts>") {
		t.Fatalf("settled file: %s", got)
	}
	// The statements hold what settled: nothing of the deferred file.
	if _, err := os.Stat(filepath.Join(w.outboxOf(b(0)), camt053.Name("C2026-11-24"))); !os.IsNotExist(err) {
		t.Fatalf("bank 0 settled nothing on %s, yet has a statement: %v", d1, err)
	}
	stmt, err := os.ReadFile(filepath.Join(w.outboxOf(b(1)), camt053.Name("C2026-11-24")))
	if err != nil || strings.Count(string(stmt), "<Ntry>") != 1 || !strings.Contains(string(stmt), "<Cd>CLBD</Cd></CdOrPrtry></Tp>\n        <Amt Ccy=\"KRW\">10</Amt>\n        <CdtDbtInd>DBIT</CdtDbtInd>") {
		t.Fatalf("bank 1's statement: %s %v", stmt, err)
	}
	pending := read(b(0), pacs002.SettledName("fa.csv"))
	w.now = w.now.Add(24 * time.Hour)
	if _, err := p.Run(w.ctx, d2); err != nil {
		t.Fatal(err)
	}
	// The later confirmation has a name of its own; the first stays.
	if got := read(b(0), "fa.csv.C2026-11-25.settled.xml"); !strings.Contains(got, "<GrpSts>ACSC</GrpSts>") || !strings.Contains(got, "settled in C2026-11-25") {
		t.Fatalf("deferred file, once settled: %s", got)
	}
	if got := read(b(0), pacs002.SettledName("fa.csv")); got != pending {
		t.Fatalf("the PDNG confirmation was replaced:\n%s", got)
	}
}

package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"settle/formats/camt053"
	"settle/formats/formatstest"
	"settle/jobs"
	"settle/settlement"
)

// noReplace is the pipeline's outbox, refusing (and failing the test on)
// any write under a name the bank's outbox already holds.
type noReplace struct {
	t    *testing.T
	next jobs.PipelineOutbox
	dir  func(settlement.BIC) string
}

func (o noReplace) check(bank settlement.BIC, name string) error {
	if _, err := os.Stat(filepath.Join(o.dir(bank), name)); err == nil {
		o.t.Errorf("%s/outbox/%s written again", bank, name)
		return fmt.Errorf("%s exists", name)
	}
	return nil
}

func (o noReplace) Put(ctx context.Context, bank settlement.BIC, name string, body []byte) error {
	if err := o.check(bank, name); err != nil {
		return err
	}
	return o.next.Put(ctx, bank, name, body)
}

func (o noReplace) PutFile(ctx context.Context, bank settlement.BIC, name, path string) error {
	if err := o.check(bank, name); err != nil {
		return err
	}
	return o.next.PutFile(ctx, bank, name, path)
}

// TestConfirmationsNeverReplaced follows files through three cycles:
// bank 0's file is deferred from day 1 to day 2, then again to day 3,
// where it settles; one of bank 2's is deferred and moved back into day 1,
// another deferred to day 3 and moved back to day 2; bank 1 sends two
// files under one name. Each cycle's confirmation of a file
// has a name of its own (the first <file>.settled.xml, each later one
// <file>.<cycle>.settled.xml, a reused name's under its ack's
// <file>.<16 hex>), and no outbox file is ever written twice. Each
// deferred payment is in its sender's JSON report with the cycle it
// moved to, statements hold only what settled, reconciliation finds no
// break on any day, and the audit trace shows both deferrals and the
// cycle that settled the payment.
func TestConfirmationsNeverReplaced(t *testing.T) {
	w, p, out, _ := afterWorld(t)
	p.Outbox = noReplace{t: t, next: out, dir: w.outboxOf}
	const d1, d2, d3 = settlement.Date("2026-11-24"), settlement.Date("2026-11-25"), settlement.Date("2026-11-26")
	b := func(i int) string { return string(w.banks[i].BIC) }
	file := func(sender int, id string, date settlement.Date, lines ...string) []byte {
		var sum int
		for _, l := range lines {
			var amount int
			f := strings.Split(l, ",")
			fmt.Sscan(f[4], &amount)
			sum += amount
		}
		return []byte(fmt.Sprintf("H,%s,%s,%s,%sT09:00:00+09:00\n%s\nT,%d,%d\n", id, b(sender), date, d1, strings.Join(lines, "\n"), len(lines), sum))
	}
	w.upload(0, "fa.csv", file(0, "FA-1", d1, "P,A-1,"+b(0)+","+b(1)+",1000,KRW", "P,A-2,"+b(0)+","+b(2)+",5,KRW"))
	w.upload(1, "fb.csv", file(1, "FB-1", d1, "P,B-1,"+b(1)+","+b(2)+",10,KRW"))
	w.upload(2, "fc.csv", file(2, "FC-1", d1, "P,C-1,"+b(2)+","+b(0)+",7,KRW"))
	w.upload(2, "fe.csv", file(2, "FE-1", d1, "P,E-1,"+b(2)+","+b(1)+",2,KRW"))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 4 {
		t.Fatalf("intake: %+v %v", c, err)
	}
	second := file(1, "FB-2", d1, "P,B-2,"+b(1)+","+b(0)+",3,KRW")
	w.upload(1, "fb.csv", second) // a name used before: its ack is fb.csv.<16 hex>.ack.json
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("intake of the reused name: %+v %v", c, err)
	}
	sum := sha256.Sum256(second)
	reused := "fb.csv." + hex.EncodeToString(sum[:])[:16]
	if _, err := os.Stat(filepath.Join(w.outboxOf(w.banks[1].BIC), reused+".ack.json")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []settlement.Date{d2, d3} {
		if _, err := w.store.EnsureCycle(w.ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	move := func(sender int, id string, from, to settlement.Date) {
		t.Helper()
		if _, err := p.Defer(w.ctx, jobs.Deferral{Sender: w.banks[sender].BIC, FileID: id, From: from, To: to, Reason: "cap", Actor: "ops"}); err != nil {
			t.Fatal(err)
		}
	}
	move(0, "FA-1", d1, d2)
	move(2, "FC-1", d1, d2)
	move(2, "FC-1", d2, d1) // back: it settles on day 1, and day 2 has nothing to say of it
	move(2, "FE-1", d1, d3)
	move(2, "FE-1", d3, d2) // back, but still after day 1: day 1 names day 2, day 3 says nothing

	read := func(bank int, name string) string {
		t.Helper()
		body, err := os.ReadFile(filepath.Join(w.outboxOf(w.banks[bank].BIC), name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".settled.xml") {
			formatstest.WrittenValidBytes(t, "pacs.002.001.10", body)
		}
		if strings.HasSuffix(name, ".camt053.xml") {
			formatstest.WrittenValidBytes(t, "camt.053.001.08", body)
		}
		return string(body)
	}
	absent := func(bank int, name string) {
		t.Helper()
		if _, err := os.Stat(filepath.Join(w.outboxOf(w.banks[bank].BIC), name)); !os.IsNotExist(err) {
			t.Errorf("%s/outbox/%s: want none, got %v", b(bank), name, err)
		}
	}
	confirms := func(bank int, name, status, info, orgnl string) string {
		t.Helper()
		got := read(bank, name)
		var doc struct {
			Orgnl string `xml:"FIToFIPmtStsRpt>OrgnlGrpInfAndSts>OrgnlMsgId"`
			Sts   string `xml:"FIToFIPmtStsRpt>OrgnlGrpInfAndSts>GrpSts"`
			Info  string `xml:"FIToFIPmtStsRpt>OrgnlGrpInfAndSts>StsRsnInf>AddtlInf"`
		}
		if err := xml.Unmarshal([]byte(got), &doc); err != nil || doc.Sts != status || !strings.HasPrefix(doc.Info, info) || doc.Orgnl != orgnl {
			t.Errorf("%s of %s: want %s %q of %s, got %+v %v", name, b(bank), status, info, orgnl, doc, err)
		}
		return got
	}
	report := func(bank int, date settlement.Date) jobs.PositionReport {
		t.Helper()
		var r jobs.PositionReport
		if err := json.Unmarshal([]byte(read(bank, jobs.ReportName(date))), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	deferred := func(r jobs.PositionReport) string {
		var s []string
		for _, d := range r.Deferred {
			s = append(s, d.PaymentID+" "+d.Kind+" "+d.File+" "+d.FileID+" "+d.Debtor+">"+d.Creditor+" "+d.Amount+" "+d.Currency+" "+d.ToCycle)
		}
		return fmt.Sprintf("%d: %s", r.DeferredCount, strings.Join(s, "; "))
	}
	entries := func(bank int, date settlement.Date) string {
		t.Helper()
		var doc struct {
			IDs []string `xml:"BkToCstmrStmt>Stmt>Ntry>NtryDtls>TxDtls>Refs>EndToEndId"`
		}
		if err := xml.Unmarshal([]byte(read(bank, camt053.Name(settlement.CycleID(date)))), &doc); err != nil {
			t.Fatal(err)
		}
		sort.Strings(doc.IDs)
		return strings.Join(doc.IDs, " ")
	}

	// Day 1: FA deferred (PDNG), the rest settled (ACSC).
	if _, err := p.Run(w.ctx, d1); err != nil {
		t.Fatal(err)
	}
	pending := confirms(0, "fa.csv.settled.xml", "PDNG", "deferred to C2026-11-25", "FA-1")
	confirms(1, "fb.csv.settled.xml", "ACSC", "settled in C2026-11-24 ledger tx ", "FB-1")
	confirms(1, reused+".settled.xml", "ACSC", "settled in C2026-11-24 ledger tx ", "FB-2")
	fc := confirms(2, "fc.csv.settled.xml", "ACSC", "settled in C2026-11-24 ledger tx ", "FC-1")
	if got, want := deferred(report(0, d1)), "2: A-1 payment fa.csv FA-1 "+b(0)+">"+b(1)+" 1000 KRW C2026-11-25; A-2 payment fa.csv FA-1 "+b(0)+">"+b(2)+" 5 KRW C2026-11-25"; got != want {
		t.Errorf("bank 0's day 1 report lists as deferred\n got %s\nwant %s", got, want)
	}
	if r := report(1, d1); r.Deferred == nil || deferred(r) != "0: " {
		t.Errorf("bank 1's day 1 report lists as deferred %s", deferred(r))
	}
	if got, want := deferred(report(2, d1)), "1: E-1 payment fe.csv FE-1 "+b(2)+">"+b(1)+" 2 KRW C2026-11-25"; got != want {
		t.Errorf("bank 2's day 1 report lists as deferred\n got %s\nwant %s", got, want)
	}
	confirms(2, "fe.csv.settled.xml", "PDNG", "deferred to C2026-11-25", "FE-1")
	// The statements hold what settled, nothing of the deferred file.
	if got := entries(0, d1); got != "B-2 C-1" {
		t.Errorf("bank 0's day 1 statement: %s", got)
	}
	if got := entries(1, d1); got != "B-1 B-2" {
		t.Errorf("bank 1's day 1 statement: %s", got)
	}
	if got := entries(2, d1); got != "B-1 C-1" {
		t.Errorf("bank 2's day 1 statement: %s", got)
	}

	// Day 2: FA deferred again, to day 3.
	w.upload(1, "fd.csv", file(1, "FD-1", d2, "P,D-1,"+b(1)+","+b(2)+",1,KRW"))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("intake day 2: %+v %v", c, err)
	}
	move(0, "FA-1", d2, d3)
	w.now = w.now.Add(24 * time.Hour)
	if _, err := p.Run(w.ctx, d2); err != nil {
		t.Fatal(err)
	}
	confirms(0, "fa.csv.C2026-11-25.settled.xml", "PDNG", "deferred to C2026-11-26", "FA-1")
	confirms(1, "fd.csv.settled.xml", "ACSC", "settled in C2026-11-25 ledger tx ", "FD-1")
	absent(2, "fc.csv.C2026-11-25.settled.xml")
	confirms(2, "fe.csv.C2026-11-25.settled.xml", "ACSC", "settled in C2026-11-25 ledger tx ", "FE-1")
	if got := deferred(report(0, d2)); !strings.HasPrefix(got, "2: A-1 ") || strings.Count(got, "C2026-11-26") != 2 {
		t.Errorf("bank 0's day 2 report lists as deferred %s", got)
	}
	absent(0, camt053.Name("C2026-11-25"))

	// Day 3: FA settles.
	w.now = w.now.Add(24 * time.Hour)
	if _, err := p.Run(w.ctx, d3); err != nil {
		t.Fatal(err)
	}
	confirms(0, "fa.csv.C2026-11-26.settled.xml", "ACSC", "settled in C2026-11-26 ledger tx ", "FA-1")
	absent(2, "fe.csv.C2026-11-26.settled.xml")
	if got := deferred(report(0, d3)); got != "0: " {
		t.Errorf("bank 0's day 3 report lists as deferred %s", got)
	}
	if got := entries(0, d3); got != "A-1 A-2" {
		t.Errorf("bank 0's day 3 statement: %s", got)
	}
	if got := entries(1, d3); got != "A-1" {
		t.Errorf("bank 1's day 3 statement: %s", got)
	}
	// The first confirmations stay as they were.
	if read(0, "fa.csv.settled.xml") != pending || read(2, "fc.csv.settled.xml") != fc {
		t.Error("a confirmation was replaced")
	}

	// Reconciliation never calls the deferred payments missing, on any day.
	for _, d := range []settlement.Date{d1, d2, d3} {
		breaks, _, _, err := p.Reconcile(w.ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, br := range breaks {
			t.Errorf("%s: %s", d, br)
		}
		if active, _ := w.store.ActiveBreaks(w.ctx, d); len(active) != 0 {
			t.Errorf("%s has breaks: %v", d, active)
		}
	}
	// The audit trace: the payment's two deferrals, and day 3 settled it.
	tr, err := w.auditor(t).Trace(w.ctx, w.banks[0].BIC, "A-2")
	if err != nil || !tr.OK {
		t.Fatalf("trace: %+v %v", tr, err)
	}
	var moves []string
	for _, s := range tr.Steps {
		switch s.Step {
		case "deferred":
			moves = append(moves, s.Facts["from"]+">"+s.Facts["to"])
		case "cycle":
			if s.Facts["cycle"] != "C2026-11-26" || s.Facts["deferred_from"] != "C2026-11-24" || s.Facts["settled_in"] != "C2026-11-26" {
				t.Errorf("trace's cycle step: %+v", s)
			}
		case "settlement":
			if s.Facts["cycle"] != "C2026-11-26" || s.Check != "ok" {
				t.Errorf("trace's settlement step: %+v", s)
			}
		}
	}
	if got := strings.Join(moves, " "); got != "C2026-11-24>C2026-11-25 C2026-11-25>C2026-11-26" {
		t.Errorf("the trace's deferrals: %s", got)
	}
}

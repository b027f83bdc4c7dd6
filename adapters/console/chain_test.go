package console_test

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"settle/jobs"
)

// chainStub stands in for the peers behind the console's Chain port: the
// heights and blocks a test sets.
type chainStub struct {
	mu      sync.Mutex
	heights []jobs.PeerHeight
	blocks  []jobs.LedgerBlock
	err     error
	asked   int // the n of the last RecentBlocks
}

func (c *chainStub) PeerHeights(context.Context) []jobs.PeerHeight {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]jobs.PeerHeight(nil), c.heights...)
}

func (c *chainStub) RecentBlocks(_ context.Context, n int) ([]jobs.LedgerBlock, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = n
	return c.blocks, c.err
}

func (c *chainStub) set(h []jobs.PeerHeight, b []jobs.LedgerBlock, err error) {
	c.mu.Lock()
	c.heights, c.blocks, c.err = h, b, err
	c.mu.Unlock()
}

// TestChainPage: the Ledger page shows each peer's height and warns when
// one is more than console.lag_blocks behind or does not answer (and not
// when all are within it); it lists the last blocks' transactions with
// their submitter and endorsers and flags the chaincode's transactions
// the service did not sign; both tables download as CSV; a viewer may not
// see it; a bad block count is refused.
func TestChainPage(t *testing.T) {
	w := newWorld(t)
	w.user("audrey", "auditor")
	w.user("vic", "viewer")
	svc := "Bank1MSP client User1@bank1.settle.local"
	blocks := []jobs.LedgerBlock{
		{Number: 12, Txs: []jobs.BlockTx{
			{ID: "aa12", Chaincode: "settle", Function: "RecordChunk", Submitter: svc, Endorsers: []string{"Bank1MSP", "Bank2MSP"}, Valid: true, Code: "VALID"},
			{ID: "bb12", Chaincode: "settle", Function: "SetCap", Submitter: "Bank3MSP client User1@bank3.settle.local", Endorsers: []string{"Bank2MSP", "Bank3MSP"}, Valid: true, Code: "VALID", Foreign: true},
		}},
		{Number: 11, Txs: []jobs.BlockTx{{ID: "cc11", Config: true, Submitter: "OrdererMSP admin Admin@orderer", Code: "VALID", Valid: true}}},
	}
	w.chain.set([]jobs.PeerHeight{
		{Peer: "127.0.0.1:7051", MSP: "Bank1MSP", Height: 13},
		{Peer: "127.0.0.1:8051", MSP: "Bank2MSP", Height: 11},
		{Peer: "127.0.0.1:9051", MSP: "Bank3MSP", Height: 9},
	}, blocks, nil)

	c := w.client()
	c.login("audrey", password("audrey"))
	r := c.get("/ledger?blocks=5")
	if r.status != http.StatusOK {
		t.Fatalf("ledger page: %d %s", r.status, r.body)
	}
	if w.chain.asked != 5 {
		t.Fatalf("asked for %d blocks, want 5", w.chain.asked)
	}
	// Bank2 is 2 behind (within 2), Bank3 4 behind: one warning.
	if got := text(find(r.doc, "tr#peer-Bank2MSP")); !strings.Contains(got, "11 2") || strings.Contains(got, "lags") {
		t.Fatalf("Bank2's row %q", got)
	}
	if got := text(find(r.doc, "tr#peer-Bank3MSP")); !strings.Contains(got, "9 4 (lags)") || attrOf(find(r.doc, "tr#peer-Bank3MSP"), "class") != "bad" {
		t.Fatalf("Bank3's row %q", got)
	}
	warn := find(r.doc, "div#lag-warning")
	if attrOf(warn, "role") != "alert" || !strings.Contains(text(warn), "1 peer lagging or not answering") || !strings.Contains(text(warn), "Bank3MSP (127.0.0.1:9051): height 9, 4 blocks behind") ||
		strings.Contains(text(warn), "Bank2MSP") {
		t.Fatalf("lag warning %q", text(warn))
	}
	rows := findAll(find(find(r.doc, "table#blocks"), "tbody"), "tr")
	if len(rows) != 3 {
		t.Fatalf("%d transaction rows, want 3", len(rows))
	}
	if got := text(find(r.doc, "tr#tx-aa12")); !strings.Contains(got, "12 aa12 VALID settle RecordChunk "+svc+" Bank1MSP, Bank2MSP") || strings.Contains(got, "not the service") {
		t.Fatalf("the service's transaction %q", got)
	}
	if got := text(find(r.doc, "tr#tx-bb12")); !strings.Contains(got, "SetCap Bank3MSP client User1@bank3.settle.local not the service Bank2MSP, Bank3MSP") {
		t.Fatalf("the foreign transaction %q", got)
	}
	if got := text(find(r.doc, "tr#tx-cc11")); !strings.Contains(got, "channel configuration") {
		t.Fatalf("the config transaction %q", got)
	}
	if f := find(r.doc, "div#foreign"); attrOf(f, "role") != "alert" || !strings.Contains(text(f), "1 transaction of the settlement chaincode") || attrOf(find(f, "a"), "href") != "#tx-bb12" {
		t.Fatalf("foreign flag %q", text(f))
	}
	if href := attrOf(find(find(r.doc, "tr#tx-aa12"), "a"), "href"); href != "/trace?q=aa12" {
		t.Fatalf("trace link %q", href)
	}

	// CSV of both tables.
	for path, want := range map[string][]string{
		"/ledger?format=csv":             {"block", "12", "bb12", "true"},
		"/ledger?format=csv&table=peers": {"msp", "Bank3MSP", "4", "true"},
	} {
		r := c.get(path)
		recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("%s: %d %v", path, r.status, err)
		}
		flat := map[string]bool{}
		for _, rec := range recs {
			for _, f := range rec {
				flat[f] = true
			}
		}
		for _, s := range want {
			if !flat[s] {
				t.Fatalf("%s lacks %q: %v", path, s, recs)
			}
		}
	}

	// Every peer within the threshold; one that does not answer warns.
	w.chain.set([]jobs.PeerHeight{{Peer: "p1", MSP: "Bank1MSP", Height: 13}, {Peer: "p2", MSP: "Bank2MSP", Height: 12}}, blocks[:1], nil)
	r = c.get("/ledger")
	if find(r.doc, "div#lag-warning") != nil || !strings.Contains(text(find(r.doc, "p#no-lag")), "within 2 blocks of the highest (13)") {
		t.Fatalf("no lag: %s", text(find(r.doc, "main")))
	}
	if w.chain.asked != 10 {
		t.Fatalf("asked for %d blocks by default, want 10", w.chain.asked)
	}
	w.chain.set([]jobs.PeerHeight{{Peer: "p1", MSP: "Bank1MSP", Height: 13}, {Peer: "p2", MSP: "Bank2MSP", Err: "connection refused"}}, nil, errors.New("block 12 from Bank1MSP: timeout"))
	r = c.get("/ledger")
	if got := text(find(r.doc, "div#lag-warning")); !strings.Contains(got, "Bank2MSP (p2): did not answer: connection refused") {
		t.Fatalf("unanswered peer: %q", got)
	}
	if got := text(find(r.doc, "p#problem")); !strings.Contains(got, "block 12 from Bank1MSP: timeout") {
		t.Fatalf("blocks problem %q", got)
	}

	for _, v := range []string{"0", "51", "x"} {
		if r := c.get("/ledger?blocks=" + url.QueryEscape(v)); r.status != http.StatusBadRequest {
			t.Fatalf("blocks=%s: %d", v, r.status)
		}
	}
	vic := w.client()
	vic.login("vic", password("vic"))
	if r := vic.get("/ledger"); r.status != http.StatusForbidden {
		t.Fatalf("a viewer on the ledger page: %d", r.status)
	}
	if find(r.doc, "a[href=/ledger]") == nil {
		t.Fatal("no Ledger link in the auditor's menu")
	}
}

// TestTraceByFile: an auditor traces bank 0's file FP-1 from the cycle's
// Files table: the archived file checks, its payment PX-1 is on the
// ledger in the transaction that recorded it (read back: block,
// submitter, endorsers), reversed by RX-1, whose file FR-1 traces to the
// reversal and back; each transaction's trace links back to the file; an
// unknown file and a malformed query say so.
func TestTraceByFile(t *testing.T) {
	w := newWorld(t)
	w.user("audrey", "auditor")
	b0 := string(w.banks[0].BIC)
	next := w.reversedNextDay()
	c := w.client()
	c.login("audrey", password("audrey"))

	r := c.get("/cycles/" + string(day))
	link := attrOf(find(find(r.doc, "tr#file-"+b0+"-FP-1"), "a[class=file-trace]"), "href")
	if link != "/trace?by=file&q="+b0+"/FP-1" {
		t.Fatalf("the file's trace link %q", link)
	}
	r = c.get(link)
	sec := find(r.doc, "section#file-trace")
	if r.status != http.StatusOK || sec == nil {
		t.Fatalf("file trace: %d %s", r.status, text(find(r.doc, "main")))
	}
	if v := text(find(sec, "span#verdict")); v != "every step checks" {
		t.Fatalf("verdict %q: %s", v, text(sec))
	}
	steps := text(find(sec, "table"))
	for _, want := range []string{"file postgres+archive ok", "FP-1.csv", "C" + string(day), "REPORTED"} {
		if !strings.Contains(steps, want) {
			t.Fatalf("steps lack %q: %s", want, steps)
		}
	}
	row := find(r.doc, "tr#pay-PX-1")
	if got := text(row); !strings.Contains(got, "2 PX-1 payment 1000 KRW "+string(w.banks[1].BIC)+" reversed by RX-1") || !strings.HasSuffix(got, " ok") {
		t.Fatalf("the payment's row %q", got)
	}
	lp, ok, err := w.ledger.Payment(w.ctx, w.banks[0].BIC, "PX-1")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if href := attrOf(find(find(row, "td[class=tx]"), "a"), "href"); href != "/trace?by=tx&q="+lp.TxID {
		t.Fatalf("the payment's transaction link %q, want tx %s", href, lp.TxID)
	}
	tx, err := w.ledger.Tx(w.ctx, lp.TxID)
	if err != nil {
		t.Fatal(err)
	}
	txs := findAll(find(find(r.doc, "table#file-txs"), "tbody"), "tr")
	if len(txs) != 1 || !strings.Contains(text(txs[0]), lp.TxID) || text(find(txs[0], "td[class=endorsers]")) != strings.Join(tx.Endorsers, ", ") ||
		text(find(txs[0], "td[class=submitter]")) != tx.Submitter {
		t.Fatalf("the file's transactions: %d rows, %q; ledger says %+v", len(txs), text(find(r.doc, "table#file-txs")), tx)
	}

	// The reversal's file, forward, and from its transaction back to it.
	r = c.get("/trace?by=file&q=" + url.QueryEscape(b0+"/FR-1"))
	if got := text(find(r.doc, "tr#pay-RX-1")); !strings.Contains(got, "RX-1 reversal 1000 KRW") || !strings.Contains(got, "reverses PX-1") {
		t.Fatalf("the reversal's row %q", got)
	}
	if !strings.Contains(text(find(r.doc, "section#file-trace")), "C"+string(next)) {
		t.Fatalf("the reversal's file is not in C%s", next)
	}
	rl, _, _ := w.ledger.Payment(w.ctx, w.banks[0].BIC, "RX-1")
	r = c.get("/trace?by=tx&q=" + rl.TxID)
	back := ""
	for _, a := range findAll(find(r.doc, "table#tx-payments"), "a[class=file-trace]") {
		if strings.HasSuffix(attrOf(a, "href"), "/FR-1") {
			back = attrOf(a, "href")
		}
	}
	if back != "/trace?by=file&q="+b0+"/FR-1" {
		t.Fatalf("no link from the transaction back to FR-1: %s", text(find(r.doc, "table#tx-payments")))
	}

	r = c.get("/trace?by=file&q=" + url.QueryEscape(b0+"/NOPE-1"))
	if v := text(find(r.doc, "span#verdict")); v != "SOMETHING DIFFERS" || !strings.Contains(text(find(r.doc, "section#file-trace")), "no accepted file NOPE-1") {
		t.Fatalf("unknown file: %q %s", v, text(find(r.doc, "main")))
	}
	for _, q := range []string{"by=file&q=NOTABIC", "by=nonsense&q=" + b0 + "/FP-1", "by=tx&q=" + url.QueryEscape("a/b")} {
		if r := c.get("/trace?" + q); r.status != http.StatusBadRequest || text(find(r.doc, "p#problem")) == "" {
			t.Fatalf("%s: %d %q", q, r.status, text(find(r.doc, "p#problem")))
		}
	}
}

package fabric

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/formats/gen"
	"settle/jobs"
	"settle/settlement"
)

// govChaincode is the second definition of the chaincode on the client tests'
// network (FABRIC_CHAINCODE_EXTRA): the governed tests found its ledger, which
// happens once, and leave the legacy tests' ledger unfounded.
const govChaincode = "settle-gov"

// gov is the governed ledger with every identity the tests use: the operator's
// admin and client, and each bank's admin and client, all real certificates.
type gov struct {
	opAdmin, op *Client
	admin, user []*Client // one a bank of the network, in bank order
	banks       []settlement.BIC
	keys        []ed25519.PrivateKey
	run         string
}

var (
	govOnce sync.Once
	govW    *gov
	govErr  error
)

func govClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	n := need(t)
	if !slices.Contains(n.ExtraChaincodes, govChaincode) || len(n.Operators) == 0 {
		t.Skipf("the network has no %s chaincode or no operator org (ops/fabric FABRIC_CHAINCODE_EXTRA=%s)", govChaincode, govChaincode)
	}
	cfg.Chaincode = govChaincode
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := NewFromNetwork(ctx, n, cfg)
	if err != nil {
		t.Fatalf("client %+v: %v", cfg, err)
	}
	return c // shared by the tests of this binary; the process's end closes it
}

// governed founds the governed ledger once per test binary (or, on a network
// founded earlier, takes its founding members' BICs), registers a fresh
// Ed25519 key per bank from that bank's admin, and gives every bank a large cap.
func governed(t testing.TB) *gov {
	t.Helper()
	need(t)
	govOnce.Do(func() { govW, govErr = setupGov(t) })
	if govErr != nil {
		t.Fatal(govErr)
	}
	return govW
}

func setupGov(t testing.TB) (*gov, error) {
	nb := len(testNet.Banks)
	g := &gov{run: fmt.Sprintf("%x", time.Now().UnixNano())[6:], admin: make([]*Client, nb), user: make([]*Client, nb),
		banks: make([]settlement.BIC, nb), keys: make([]ed25519.PrivateKey, nb)}
	g.opAdmin = govClient(t, Config{Operator: 1, Admin: true})
	g.op = govClient(t, Config{Operator: 1})
	for i := range nb {
		g.admin[i] = govClient(t, Config{Org: i + 1, Admin: true})
		g.user[i] = govClient(t, Config{Org: i + 1})
	}
	// Founding takes a transaction a bank, and registering its key and cap
	// two more: about 60 on a 20-bank network, each endorsed by 11 peers.
	ctx, cancel := context.WithTimeout(context.Background(), max(3*time.Minute, time.Duration(nb)*15*time.Second))
	defer cancel()
	gv, err := g.op.Governance(ctx)
	switch {
	case RefusalCode(err) == CodeNotFounded:
		var founding []FoundingBank
		for i := range g.banks {
			b := make([]byte, 8)
			for j := range b {
				b[j] = byte('A' + mrand.IntN(26))
			}
			g.banks[i] = settlement.BIC(b)
			founding = append(founding, FoundingBank{BIC: g.banks[i], MSPID: testNet.Banks[i].MSPID})
		}
		// Only the operator's admin may propose, and only with every founding
		// bank's admin approving.
		if _, _, err := g.op.Found(ctx, testNet.Operators[0].MSPID, founding); !errors.Is(err, jobs.ErrLedgerForbidden) {
			return nil, fmt.Errorf("Found by the operator's client: want NOT_AUTHORIZED, got %v", err)
		}
		id, _, err := g.opAdmin.Found(ctx, testNet.Operators[0].MSPID, founding)
		if err != nil {
			return nil, err
		}
		for i := range nb {
			st, _, err := g.admin[i].ApproveFounding(ctx, id)
			if err != nil {
				return nil, err
			}
			if want := map[bool]string{true: "founded", false: "approved"}[i == nb-1]; st != want {
				return nil, fmt.Errorf("approval %d: status %q, want %q", i+1, st, want)
			}
		}
	case err != nil:
		return nil, err
	default:
		for i := range g.banks {
			for _, m := range gv.Members {
				if m.MSPID == testNet.Banks[i].MSPID && len(m.BIC) == 8 {
					g.banks[i] = settlement.BIC(m.BIC)
				}
			}
			if g.banks[i] == "" {
				return nil, fmt.Errorf("the founded %s ledger has no bank under %s", govChaincode, testNet.Banks[i].MSPID)
			}
		}
	}
	for i := range nb {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(pub)
		g.keys[i] = priv
		if _, err := g.admin[i].RegisterKey(ctx, g.banks[i], "k"+g.run, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))); err != nil {
			return nil, err
		}
		if _, err := g.op.SetCap(ctx, settlement.Cap{Bank: g.banks[i], Currency: krw, Amount: decimal.RequireFromString("999999999999999")}); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// govFile is a CSV file of bank from, n payments to the other banks in turn.
type govFile struct {
	decl DeclaredFile
	body []byte
	sig  []byte
}

func (g *gov) file(t testing.TB, date settlement.Date, from int, id string, n int) govFile {
	t.Helper()
	return g.written(t, date, from, id, n, "csv", gen.WriteCSV)
}

// xmlFile is file's payments as a pacs.008, n transactions.
func (g *gov) xmlFile(t testing.TB, date settlement.Date, from int, id string, n int) govFile {
	t.Helper()
	return g.written(t, date, from, id, n, "pacs.008", gen.WriteXML)
}

// written is a file of bank from, n payments to the other banks in turn, as
// write renders them in format, signed by the bank, with its declaration.
func (g *gov) written(t testing.TB, date settlement.Date, from int, id string, n int, format string,
	write func(io.Writer, string, settlement.BIC, settlement.Date, time.Time, []gen.Payment) error) govFile {
	t.Helper()
	var ps []gen.Payment
	var sum int64
	for i := range n {
		amt := int64(1000 + i%977)
		sum += amt
		ps = append(ps, gen.Payment{ID: fmt.Sprintf("%s-%06d", id, i), Debtor: g.banks[from], Creditor: g.banks[(from+1+i%(len(g.banks)-1))%len(g.banks)],
			Amount: fmt.Sprint(amt), Currency: "KRW"})
	}
	var b bytes.Buffer
	if err := write(&b, id, g.banks[from], date, time.Date(2026, 11, 24, 17, 45, 0, 0, time.UTC), ps); err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(b.Bytes())
	return govFile{
		decl: DeclaredFile{Sender: g.banks[from], FileID: id, Format: format, SHA256: hex.EncodeToString(d[:]), Entries: int64(n), ControlSum: fmt.Sprint(sum)},
		body: b.Bytes(), sig: sigFile(g.keys[from], b.Bytes()),
	}
}

// sigFile is a .sig file's content: the base64 of the Ed25519 signature.
func sigFile(k ed25519.PrivateKey, body []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(k, body)) + "\n")
}

// newDate is a business date no earlier run declared (a cycle is declared once).
func newDate() settlement.Date {
	return settlement.Date(fmt.Sprintf("%04d-%02d-%02d", 2100+mrand.IntN(800), 1+mrand.IntN(12), 1+mrand.IntN(28)))
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if !errors.Is(err, jobs.ErrLedgerRefused) || RefusalCode(err) != code {
		t.Fatalf("want a %s refusal, got %v", code, err)
	}
	if code == CodeNotAuthorized && !errors.Is(err, jobs.ErrLedgerForbidden) {
		t.Fatalf("a NOT_AUTHORIZED refusal must be jobs.ErrLedgerForbidden: %v", err)
	}
}

// TestGovernedWritePath is the client's governed write path on the real
// network: declare, parts (by the sender's client and relayed by the
// operator), settle on the ledger's own positions, read back; and the client's
// typed refusals for callers without the role.
func TestGovernedWritePath(t *testing.T) {
	g := governed(t)
	ctx := testCtx(t, 5*time.Minute)
	date := newDate()
	cycle := settlement.CycleID(date)
	var files []govFile
	for i := range 3 {
		files = append(files, g.file(t, date, i, fmt.Sprintf("W%s-%d", g.run, i), 40))
	}
	decl := []DeclaredFile{files[0].decl, files[1].decl, files[2].decl}
	_, err := g.user[1].DeclareCycle(ctx, cycle, decl)
	wantCode(t, err, CodeNotAuthorized)
	_, err = g.admin[0].DeclareCycle(ctx, cycle, decl)
	wantCode(t, err, CodeNotAuthorized)
	tx, err := g.op.DeclareCycle(ctx, cycle, decl)
	if err != nil {
		t.Fatal(err)
	}
	majorityTx(t, tx)
	again, err := g.op.DeclareCycle(ctx, cycle, decl)
	if err != nil || !again.Existing || again.ID != tx.ID {
		t.Fatalf("declaring again: %+v %v, want the first tx %s", again, err, tx.ID)
	}
	// Bank 2's client cannot send bank 1's file; bank 1 cannot sign bank 2's.
	_, _, err = g.user[1].PutFilePart(ctx, cycle, files[0].decl.Sender, files[0].decl.FileID, 0, files[0].body, files[0].sig)
	wantCode(t, err, CodeNotAuthorized)
	_, _, err = g.op.PutFilePart(ctx, cycle, files[1].decl.Sender, files[1].decl.FileID, 0, files[1].body, sigFile(g.keys[0], files[1].body))
	wantCode(t, err, CodeSignature)
	_, err = g.op.SettleDeclared(ctx, cycle)
	wantCode(t, err, CodeCycleIncomplete)
	// Bank 1 sends its own file in three parts; the operator relays the others.
	partBytes := len(compressPart(files[0].body).Sent)/3 + 1 // parts go compressed
	parts, err := PartsOf("csv", files[0].body, partBytes)
	if err != nil || len(parts) < 3 {
		t.Fatalf("cut: %d parts, %v", len(parts), err)
	}
	if _, err := g.user[0].PutFile(ctx, cycle, files[0].decl, files[0].body, files[0].sig, partBytes); err != nil {
		t.Fatal(err)
	}
	for _, f := range files[1:] {
		if _, err := g.op.PutFile(ctx, cycle, f.decl, f.body, f.sig, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err = g.user[0].SettleDeclared(ctx, cycle)
	wantCode(t, err, CodeNotAuthorized)
	st, err := g.op.SettleDeclared(ctx, cycle)
	if err != nil {
		t.Fatal(err)
	}
	majorityTx(t, st)
	g.user[2].ReadAfter(st.Block) // another client: read from a peer that holds the settlement
	lc, ok, err := g.user[2].Cycle(ctx, cycle)
	if err != nil || !ok || lc.Status != "settled" || lc.Payments != 120 {
		t.Fatalf("cycle on the ledger: %+v %v %v", lc, ok, err)
	}
	d, ok, err := g.user[2].Declared(ctx, cycle)
	if err != nil || !ok {
		t.Fatalf("declared: %v %v", ok, err)
	}
	for _, s := range d.Status {
		if s.Status != "verified" {
			t.Errorf("file %s/%s: %s", s.Sender, s.FileID, s.Status)
		}
	}
	back, err := g.user[2].FileBytes(ctx, cycle, files[0].decl.Sender, files[0].decl.FileID, len(parts))
	if err != nil || !bytes.Equal(back, files[0].body) {
		t.Fatalf("file bytes read back from the ledger differ (%v)", err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(files[0].sig)))
	if !ed25519.Verify(g.keys[0].Public().(ed25519.PublicKey), back, raw) {
		t.Fatal("the signature does not verify over the bytes read back")
	}
}

// BenchmarkGovernedCycle is the governed write path's throughput and cost on
// the real network (issue 18's ledger stage): the operator declares a cycle
// of SETTLE_BENCH_PAYMENTS (100000) payments in files of SETTLE_BENCH_FILE
// (5000, the chaincode's maximum), every bank sending in turn to every other
// bank, relays every file's parts (SETTLE_BENCH_PART bytes) with
// SETTLE_BENCH_WORKERS (8) files at a time, and settles on the ledger's own
// positions. The files are made before the clock starts. Besides payments/s
// it reports the CPU time of every process of the network (and the client)
// per payment, state keys written per payment and the growth of the block
// files, as BenchmarkRecordCycle does for the legacy path, and the peak
// growth of the client's live heap while it records (client-heap-growth-MB:
// flat in the number of payments, unlike the test binary's RSS, which holds
// the files); SETTLE_BENCH_LEDGER_OUT names a file for its per-process table.
func BenchmarkGovernedCycle(b *testing.B) {
	payments := envInt("SETTLE_BENCH_PAYMENTS", 100000)
	per := envInt("SETTLE_BENCH_FILE", 5000)
	workers := envInt("SETTLE_BENCH_WORKERS", 8)
	part := envInt("SETTLE_BENCH_PART", PartBytesDefault)
	g := governed(b)
	n := need(b)
	op, endorsers := g.op, benchEndorsers()
	if endorsers != nil {
		// Pinned endorsers: the endorsing peer's and the committing
		// peer's costs apart.
		op = govClient(b, Config{Operator: 1, Endorsers: endorsers})
	}
	b.ResetTimer()
	var total time.Duration
	var peak map[string]int64
	var cost ledgerCost
	parts := 0
	var clientHeap uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		date := newDate()
		cycle := settlement.CycleID(date)
		var files []govFile
		var decl []DeclaredFile
		for k := 0; k*per < payments; k++ {
			f := g.file(b, date, k%len(g.banks), fmt.Sprintf("B%s%d-%04d", g.run, i, k), min(per, payments-k*per))
			files = append(files, f)
			decl = append(decl, f.decl)
			ps, _ := PartsOf("csv", f.body, part)
			parts += len(ps)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
		before, err := sampleLedger(ctx, op)
		if err != nil {
			b.Fatal(err)
		}
		heap := heapGrowth()
		b.StartTimer()
		stop := peakRSSEach()
		start := time.Now()
		if _, err := op.DeclareCycle(ctx, cycle, decl); err != nil {
			b.Fatal(err)
		}
		work := make(chan govFile)
		errs := make(chan error, len(files)+1)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for f := range work {
					if _, err := op.PutFile(ctx, cycle, f.decl, f.body, f.sig, part); err != nil {
						errs <- err
					}
				}
			}()
		}
		for _, f := range files {
			work <- f
		}
		close(work)
		wg.Wait()
		if _, err := op.SettleDeclared(ctx, cycle); err != nil {
			errs <- err
		}
		wall := time.Since(start)
		total += wall
		b.StopTimer()
		clientHeap = max(clientHeap, heap())
		for k, v := range stop() {
			peak = maxInto(peak, k, v)
		}
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		after, err := sampleLedger(ctx, op)
		if err != nil {
			b.Fatal(err)
		}
		cc, err := measureCost(ctx, op, before, after, payments, wall)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		cost.add(cc)
		b.StartTimer()
	}
	b.ReportMetric(float64(parts)/float64(b.N), "parts")
	// The client's RSS includes the files made before the clock started;
	// its own working memory while recording is this.
	b.ReportMetric(float64(clientHeap)/(1<<20), "client-heap-growth-MB")
	reportCost(b, &cost, peak, payments*b.N, total, func() string { return cost.table(n, endorsers, op.every) })
}

// TestForeignTransactionsAreReported: a client listening with OnForeign is
// told of a transaction of its chaincode that another identity signed (bank
// 2's client), with the submitter from the creator's certificate, and not of
// its own.
func TestForeignTransactionsAreReported(t *testing.T) {
	n := need(t)
	foreign := make(chan ForeignTx, 16)
	ctx := testCtx(t, 2*time.Minute)
	c, err := NewFromNetwork(ctx, n, Config{Org: 1, OnForeign: func(f ForeignTx) { foreign <- f },
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	own, err := c.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := newClient(t, 2)
	theirs, err := other.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.Listen(lctx, own.Block, func(Event) error { return nil })
	for {
		select {
		case f := <-foreign:
			if f.TxID == own.ID {
				t.Fatalf("its own transaction reported as foreign: %+v", f)
			}
			if f.TxID != theirs.ID {
				continue // another test's, in a later block
			}
			if !strings.HasPrefix(f.Submitter, n.Banks[1].MSPID+" client ") || f.Function != "Ping" || !f.Valid {
				t.Fatalf("foreign tx %+v", f)
			}
			return
		case <-ctx.Done():
			t.Fatal("bank 2's Ping was not reported")
		}
	}
}

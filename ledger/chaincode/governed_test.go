package chaincode

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

func codeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestDecodeStrict(t *testing.T) {
	lim := jsonLimit{bytesMax: 1 << 20, itemsMax: 3, depthMax: 2}
	ok := `[{"sender":"SHBKKRSE","id":"1","kind":"P"}]`
	var v []PaymentIn
	if err := decodeStrict("p", ok, &v, lim); err != nil || len(v) != 1 || v[0].Sender != "SHBKKRSE" {
		t.Fatalf("a plain list: %v %v", v, err)
	}
	for name, tc := range map[string]struct {
		raw  string
		code Code
	}{
		"duplicate key":         {`[{"sender":"A","sender":"B"}]`, CodeBadArgs},
		"case-variant key":      {`[{"sender":"A","Sender":"B"}]`, CodeBadArgs},
		"case-variant alone":    {`[{"SENDER":"A"}]`, CodeBadArgs},
		"unknown key":           {`[{"debitor":"A"}]`, CodeBadArgs},
		"too many elements":     {`[{},{},{},{}]`, CodeLimit},
		"too deep":              {`[[{}]]`, CodeLimit},
		"not a list":            {`{"sender":"A"}`, CodeBadArgs},
		"two values":            {`[] []`, CodeBadArgs},
		"trailing garbage":      {`[]x`, CodeBadArgs},
		"empty":                 {``, CodeBadArgs},
		"too large":             {`[` + strings.Repeat(" ", 1<<20) + `]`, CodeLimit},
		"number for string":     {`[{"sender":1}]`, CodeBadArgs},
		"escaped duplicate key": {`[{"sender":"A","s\u0065nder":"B"}]`, CodeBadArgs},
	} {
		var v []PaymentIn
		if err := decodeStrict("p", tc.raw, &v, lim); codeOf(err) != tc.code {
			t.Errorf("%s: got %v, want %s", name, err, tc.code)
		}
	}
}

// TestBigListRefusedBeforeDecoding is the regression test of issue 11's
// "a 4 MB list grew one chaincode server by about 386 MB": a chunk of more
// payments than allowed is refused by the scan, before any is decoded.
func TestBigListRefusedBeforeDecoding(t *testing.T) {
	raw := "[" + strings.Repeat(`{"sender":"SHBKKRSE"},`, paymentsPerChunkMax) + `{"sender":"SHBKKRSE"}]`
	l := newLedger()
	_, err := l.invoke("RecordChunk", "c1", "k1", raw)
	// The scan's message, not the one counting decoded payments ("chunk has N
	// payments"): the scan keeps no value, so what it holds does not grow
	// with the list.
	if codeOf(err) != CodeLimit || !strings.Contains(err.Error(), "more than 5000 elements") {
		t.Fatalf("got %v, want the scan's LIMIT", err)
	}
}

func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`[]`, `[{"sender":"SHBKKRSE","id":"1","kind":"P","debtor":"SHBKKRSE","creditor":"CZNBKRSE","amount":"1","currency":"KRW","fileSha256":"00"}]`,
		`[{"sender":"A","Sender":"B"}]`, `[{"id":"\u0041"}]`, `[[[]]]`, `[{}, {}]`, `[{"originalId":null}]`, "[\n{\"kind\" : \"R\"}\t]"} {
		f.Add(s)
	}
	allowed := jsonKeys(reflect.TypeOf([]PaymentIn{}))
	f.Fuzz(func(t *testing.T, raw string) {
		var v []PaymentIn
		err := decodeStrict("p", raw, &v, jsonLimit{bytesMax: 1 << 16, itemsMax: 10, depthMax: 2})
		if err != nil {
			if c := codeOf(err); c != CodeBadArgs && c != CodeLimit {
				t.Fatalf("code %s for %q: %v", c, raw, err)
			}
			return
		}
		// Accepted: the standard decoder agrees, there are at most itemsMax
		// elements, and every key is a field's exact name, once.
		var std []PaymentIn
		if err := json.Unmarshal([]byte(raw), &std); err != nil {
			t.Fatalf("accepted %q, json.Unmarshal refuses it: %v", raw, err)
		}
		if !reflect.DeepEqual(std, v) || len(v) > 10 {
			t.Fatalf("accepted %q as %v, json.Unmarshal reads %v", raw, v, std)
		}
		var objs []map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &objs); err != nil {
			t.Fatalf("accepted %q: %v", raw, err)
		}
		for _, o := range objs {
			for k := range o {
				if !allowed[k] {
					t.Fatalf("accepted %q with key %q", raw, k)
				}
			}
		}
	})
}

func TestCallerFromCreator(t *testing.T) {
	for name, tc := range map[string]struct {
		creator []byte
		role    string
		code    Code
	}{
		"admin":        {identity(t, "Bank1MSP", "admin"), RoleAdmin, ""},
		"client":       {identity(t, "Bank1MSP", "client"), RoleClient, ""},
		"peer":         {identity(t, "Bank1MSP", "peer"), RolePeer, ""},
		"no NodeOU":    {identity(t, "Bank1MSP", "sales"), RoleOther, ""},
		"empty":        {nil, "", CodeNotAuthorized},
		"not protobuf": {[]byte{0xff, 0xff, 0xff}, "", CodeNotAuthorized},
		"no cert":      {mustProto(t, &msp.SerializedIdentity{Mspid: "Bank1MSP", IdBytes: []byte("hello")}), "", CodeNotAuthorized},
	} {
		c, err := caller(&memStub{creator: tc.creator})
		if codeOf(err) != tc.code || (err == nil && (c.Role != tc.role || c.MSPID != "Bank1MSP")) {
			t.Errorf("%s: %+v %v", name, c, err)
		}
	}
}

func mustProto(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// founded returns a ledger founded with OperatorMSP and three banks.
func founded(t testing.TB) (*memLedger, func(msp, role string) []byte) {
	l := newLedger()
	ids := map[string][]byte{}
	id := func(m, r string) []byte {
		if ids[m+r] == nil {
			ids[m+r] = identity(t, m, r)
		}
		return ids[m+r]
	}
	banks := `[{"bic":"SHBKKRSE","mspId":"Bank1MSP"},{"bic":"CZNBKRSE","mspId":"Bank2MSP"},{"bic":"HVBKKRSE","mspId":"Bank3MSP"}]`
	out, err := l.invokeAs(id("OperatorMSP", "admin"), "Found", "OperatorMSP", banks)
	if err != nil {
		t.Fatal(err)
	}
	var f Founding
	_ = json.Unmarshal(out, &f)
	for _, m := range []string{"Bank1MSP", "Bank2MSP", "Bank3MSP"} {
		if _, err := l.invokeAs(id(m, "admin"), "ApproveFounding", f.ID); err != nil {
			t.Fatal(err)
		}
	}
	return l, id
}

func TestRolesOtherThanClientOrAdmin(t *testing.T) {
	l, id := founded(t)
	for _, role := range []string{"peer", "sales"} {
		if _, err := l.invokeAs(id("OperatorMSP", role), "DeclareCycle", "C2026-11-24", "[]"); codeOf(err) != CodeNotAuthorized {
			t.Errorf("operator %s declaring: %v", role, err)
		}
		if _, err := l.invokeAs(id("Bank1MSP", role), "SetCap", "SHBKKRSE", "KRW", "0"); codeOf(err) != CodeNotAuthorized {
			t.Errorf("bank %s setting a cap: %v", role, err)
		}
	}
	if _, err := l.invokeAs(nil, "DeclareCycle", "C2026-11-24", "[]"); codeOf(err) != CodeNotAuthorized {
		t.Errorf("no creator: %v", err)
	}
	// An MSP the channel does not know could only be forged in a creator the
	// peer would refuse; here it is simply not the operator.
	if _, err := l.invokeAs(id("OperatorMSP2", "admin"), "DeclareCycle", "C2026-11-24", "[]"); codeOf(err) != CodeNotAuthorized {
		t.Errorf("another MSP: %v", err)
	}
}

// TestDeclareRefusesLegacyChunks: a cycle the legacy path wrote chunks into
// before founding cannot become a declared cycle (its chunks were never
// verified), so nobody can take a cycle id the operator needs through the
// legacy path either.
func TestDeclareRefusesLegacyChunks(t *testing.T) {
	l := newLedger()
	l.must(t, "RegisterBank", "SHBKKRSE", "Bank1MSP")
	l.must(t, "RegisterBank", "CZNBKRSE", "Bank2MSP")
	p := `[{"sender":"SHBKKRSE","id":"P1","kind":"P","debtor":"SHBKKRSE","creditor":"CZNBKRSE","amount":"5","currency":"KRW","fileSha256":"` + strings.Repeat("0", 64) + `"}]`
	l.must(t, "RecordChunk", "C2026-11-24", "F.SHBKKRSE.X", p)
	banks := `[{"bic":"SHBKKRSE","mspId":"Bank1MSP"},{"bic":"CZNBKRSE","mspId":"Bank2MSP"}]`
	if _, err := l.invokeAs(identity(t, "OperatorMSP", "admin"), "Found", "OperatorMSP", `[{"bic":"SHBKKRSE","mspId":"Bank2MSP"},{"bic":"CZNBKRSE","mspId":"Bank1MSP"}]`); codeOf(err) != CodeBankConflict {
		t.Errorf("founding over legacy banks with other MSPs: %v", err)
	}
	out, err := l.invokeAs(identity(t, "OperatorMSP", "admin"), "Found", "OperatorMSP", banks)
	if err != nil {
		t.Fatal(err)
	}
	var f Founding
	_ = json.Unmarshal(out, &f)
	for _, m := range []string{"Bank1MSP", "Bank2MSP"} {
		if _, err := l.invokeAs(identity(t, m, "admin"), "ApproveFounding", f.ID); err != nil {
			t.Fatal(err)
		}
	}
	op := identity(t, "OperatorMSP", "client")
	if _, err := l.invokeAs(op, "DeclareCycle", "C2026-11-24", "[]"); codeOf(err) != CodeCycleDeclared {
		t.Errorf("declaring a cycle with legacy chunks: %v", err)
	}
	if _, err := l.invokeAs(op, "DeclareCycle", "C2026-11-25", "[]"); err != nil {
		t.Errorf("declaring an empty cycle: %v", err)
	}
	if _, err := l.invokeAs(op, "SettleCycle", "C2026-11-25"); err != nil {
		t.Errorf("settling an empty declared cycle: %v", err)
	}
}

func TestResetFileAndLimits(t *testing.T) {
	l, id := founded(t)
	op := id("OperatorMSP", "client")
	body := "H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00+09:00\nP,P1,SHBKKRSE,CZNBKRSE,5,KRW\nT,1,5\n"
	files := `[{"sender":"SHBKKRSE","fileId":"F1","format":"csv","sha256":"` + sha256hex(body) + `","entries":1,"controlSum":"5"}]`
	if _, err := l.invokeAs(op, "DeclareCycle", "C2026-11-24", files); err != nil {
		t.Fatal(err)
	}
	a := id("Bank1MSP", "client")
	if _, err := l.invokeAs(a, "PutFilePart", "C2026-11-24", "SHBKKRSE", "F1", "0", "garbage\n", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := l.invokeAs(a, "PutFilePart", "C2026-11-24", "SHBKKRSE", "F1", "0", body, ""); codeOf(err) != CodePartOrder {
		t.Errorf("part 0 again with other bytes: %v", err)
	}
	if _, err := l.invokeAs(a, "ResetFile", "C2026-11-24", "SHBKKRSE", "F1"); codeOf(err) != CodeNotAuthorized {
		t.Errorf("a bank resetting: %v", err)
	}
	if _, err := l.invokeAs(op, "ResetFile", "C2026-11-24", "SHBKKRSE", "F1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.invokeAs(a, "PutFilePart", "C2026-11-24", "SHBKKRSE", "F1", "0", body[:50]+"\n", ""); err != nil {
		t.Errorf("part 0 after a reset: %v", err)
	}
	big := strings.Repeat("P\n", partBytesMax/2+1)
	if _, err := l.invokeAs(a, "PutFilePart", "C2026-11-24", "SHBKKRSE", "F1", "1", big, ""); codeOf(err) != CodeLimit {
		t.Errorf("a part over %d bytes: %v", partBytesMax, err)
	}
	if _, err := l.invokeAs(a, "PutFilePart", "C2026-11-24", "SHBKKRSE", "F1", "-1", "x\n", ""); codeOf(err) != CodeInvalid {
		t.Errorf("a negative index: %v", err)
	}
	tooMany := `[{"sender":"SHBKKRSE","fileId":"F2","format":"csv","sha256":"` + strings.Repeat("0", 64) + `","entries":5001,"controlSum":"5"}]`
	if _, err := l.invokeAs(op, "DeclareCycle", "C2026-11-26", tooMany); codeOf(err) != CodeLimit {
		t.Errorf("a file of more entries than the ledger takes: %v", err)
	}
	if _, err := l.invokeAs(op, "DeclareCycle", "C2026-11-26", strings.Replace(tooMany, `"format":"csv"`, `"format":"pacs.009"`, 1)); codeOf(err) != CodeInvalid {
		t.Errorf("an unknown format: %v", err)
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestPartsMeanTheWholeFile is the property the part boundaries must keep:
// however a file is cut at the allowed boundaries, the ledger verifies it,
// indexes the same payments and settles the same positions as when it comes
// in one part. Cuts inside a quoted field (one that holds a line break) are
// refused.
func TestPartsMeanTheWholeFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00+09:00\r\n")
	sum := 0
	for i := range 200 {
		to := []string{"CZNBKRSE", "HVBKKRSE"}[i%2]
		rem := ""
		if i%3 == 0 {
			rem = `,"inv, ""` + strconv.Itoa(i) + `"""`
		}
		fmt.Fprintf(&b, "P,P%d,SHBKKRSE,%s,%d,KRW%s\n", i, to, 1000+i, rem)
		sum += 1000 + i
	}
	fmt.Fprintf(&b, "T,200,%d\n", sum)
	body := b.String()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	digest := sha256.Sum256([]byte(body))
	rawSig, _ := ecdsa.SignASN1(rand.Reader, k, digest[:])
	sig := base64.StdEncoding.EncodeToString(rawSig)
	files := `[{"sender":"SHBKKRSE","fileId":"F1","format":"csv","sha256":"` + sha256hex(body) + `","entries":200,"controlSum":"` + strconv.Itoa(sum) + `"}]`

	lines := strings.SplitAfter(body, "\n")
	lines = lines[:len(lines)-1]
	settleWith := func(t *testing.T, parts []string) string {
		l, id := founded(t)
		op := id("OperatorMSP", "client")
		if _, err := l.invokeAs(id("Bank1MSP", "admin"), "RegisterKey", "SHBKKRSE", "k1", pubPEM); err != nil {
			t.Fatal(err)
		}
		if _, err := l.invokeAs(op, "SetCap", "SHBKKRSE", "KRW", "100000000"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.invokeAs(op, "DeclareCycle", "C2026-11-24", files); err != nil {
			t.Fatal(err)
		}
		for i, p := range parts {
			s := ""
			if i == len(parts)-1 {
				s = sig
			}
			if _, err := l.invokeAs(id("Bank1MSP", "client"), "PutFilePart", "C2026-11-24", "SHBKKRSE", "F1", strconv.Itoa(i), p, s); err != nil {
				t.Fatalf("part %d of %d: %v", i, len(parts), err)
			}
		}
		// The verifying part indexed the file when its ids fit beside the
		// part; else SettleCycle waits for IndexFile.
		raw, err := l.invoke("GetFile", "C2026-11-24", "SHBKKRSE", "F1")
		if err != nil {
			t.Fatal(err)
		}
		var st FileState
		_ = json.Unmarshal(raw, &st)
		if st.Indexed == 200 {
			if len(st.IndexTxs) != 1 || st.IndexTxs[0].TxID != st.TxID {
				t.Fatalf("indexed by the verifying part, but its index transactions are %+v (verified by %s)", st.IndexTxs, st.TxID)
			}
		} else if _, err := l.invokeAs(op, "SettleCycle", "C2026-11-24"); codeOf(err) != CodeCycleIncomplete {
			t.Fatalf("SettleCycle before IndexFile: %v, want %s", err, CodeCycleIncomplete)
		}
		for {
			out, err := l.invokeAs(id("Bank1MSP", "client"), "IndexFile", "C2026-11-24", "SHBKKRSE", "F1")
			if err != nil {
				t.Fatal(err)
			}
			var r struct{ Status string }
			_ = json.Unmarshal(out, &r)
			if r.Status == "already_indexed" {
				break
			}
		}
		out, err := l.invokeAs(op, "SettleCycle", "C2026-11-24")
		if err != nil {
			t.Fatal(err)
		}
		var r SettleResult
		_ = json.Unmarshal(out, &r)
		page, err := l.invoke("GetCyclePayments", "C2026-11-24", "", "5000")
		if err != nil {
			t.Fatal(err)
		}
		var pays struct{ Payments []map[string]any }
		_ = json.Unmarshal(page, &pays)
		for _, p := range pays.Payments {
			delete(p, "txId")
		}
		got, _ := json.Marshal([]any{r.Positions, r.Payments, pays.Payments})
		return string(got)
	}
	whole := settleWith(t, []string{body})
	rnd := mrand.New(mrand.NewPCG(1, 2))
	for trial := range 8 {
		n := 2 + rnd.IntN(6)
		cuts := map[int]bool{}
		for len(cuts) < n-1 {
			cuts[1+rnd.IntN(len(lines)-1)] = true
		}
		var parts []string
		cur := ""
		for i, ln := range lines {
			if cuts[i] {
				parts = append(parts, cur)
				cur = ""
			}
			cur += ln
		}
		parts = append(parts, cur)
		if got := settleWith(t, parts); got != whole {
			t.Fatalf("trial %d, %d parts: settled\n%s\nwhole file:\n%s", trial, len(parts), got, whole)
		}
	}

	// A quoted field holding a line break: a cut right after it is inside the record.
	quoted := "H,F2,SHBKKRSE,2026-11-24,2026-11-24T17:45:00+09:00\nP,Q1,SHBKKRSE,CZNBKRSE,5,KRW,\"two\nlines\"\nT,1,5\n"
	l, id := founded(t)
	decl := `[{"sender":"SHBKKRSE","fileId":"F2","format":"csv","sha256":"` + sha256hex(quoted) + `","entries":1,"controlSum":"5"}]`
	if _, err := l.invokeAs(id("OperatorMSP", "client"), "DeclareCycle", "C2026-11-24", decl); err != nil {
		t.Fatal(err)
	}
	cut := strings.Index(quoted, "two\n") + 4
	if _, err := l.invokeAs(id("Bank1MSP", "client"), "PutFilePart", "C2026-11-24", "SHBKKRSE", "F2", "0", quoted[:cut], ""); codeOf(err) != CodePartBoundary {
		t.Errorf("a cut inside a quoted field: %v", err)
	}
	if _, err := l.invokeAs(id("Bank1MSP", "client"), "PutFilePart", "C2026-11-24", "SHBKKRSE", "F2", "0", quoted[:strings.Index(quoted, "P,")], ""); err != nil {
		t.Errorf("a cut after the header: %v", err)
	}
}

// BenchmarkGovernedFile measures the governed write path's chaincode work on
// the in-memory ledger: one 5000-payment CSV file sent in 4 parts, the last
// verifying (ECDSA), parsing with intake.Check and indexing every payment.
// It reports payments/s of chaincode CPU only: no endorsement, ordering or
// commit (the real network's figure is `go test -bench . ./ledger/fabric`).
func BenchmarkGovernedFile(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	const n = entriesPerFileMax
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l, id := founded(b)
		op := id("OperatorMSP", "client")
		if _, err := l.invokeAs(id("Bank1MSP", "admin"), "RegisterKey", "SHBKKRSE", "k1", pubPEM); err != nil {
			b.Fatal(err)
		}
		var sb strings.Builder
		fileID := "B" + strconv.Itoa(i)
		fmt.Fprintf(&sb, "H,%s,SHBKKRSE,2026-11-24,2026-11-24T17:45:00+09:00\n", fileID)
		for j := range n {
			fmt.Fprintf(&sb, "P,%s-%d,SHBKKRSE,CZNBKRSE,%d,KRW,invoice %d\n", fileID, j, 1+j, j)
		}
		fmt.Fprintf(&sb, "T,%d,%d\n", n, n*(n+1)/2)
		body := sb.String()
		digest := sha256.Sum256([]byte(body))
		rawSig, _ := ecdsa.SignASN1(rand.Reader, k, digest[:])
		files := `[{"sender":"SHBKKRSE","fileId":"` + fileID + `","format":"csv","sha256":"` + sha256hex(body) + `","entries":` + strconv.Itoa(n) + `,"controlSum":"` + strconv.Itoa(n*(n+1)/2) + `"}]`
		if _, err := l.invokeAs(op, "DeclareCycle", "C2026-11-24", files); err != nil {
			b.Fatal(err)
		}
		lines := strings.SplitAfter(body, "\n")
		q := len(lines) / 4
		parts := []string{strings.Join(lines[:q], ""), strings.Join(lines[q:2*q], ""), strings.Join(lines[2*q:3*q], ""), strings.Join(lines[3*q:], "")}
		a := id("Bank1MSP", "client")
		b.StartTimer()
		for j, p := range parts {
			s := ""
			if j == len(parts)-1 {
				s = base64.StdEncoding.EncodeToString(rawSig)
			}
			if _, err := l.invokeAs(a, "PutFilePart", "C2026-11-24", "SHBKKRSE", fileID, strconv.Itoa(j), p, s); err != nil {
				b.Fatal(err)
			}
		}
		for {
			out, err := l.invokeAs(a, "IndexFile", "C2026-11-24", "SHBKKRSE", fileID)
			if err != nil {
				b.Fatal(err)
			}
			if strings.Contains(string(out), `"status":"already_indexed"`) {
				break
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "payments/s")
}

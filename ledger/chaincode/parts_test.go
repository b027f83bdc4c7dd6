package chaincode

import (
	"bytes"
	"compress/flate"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
)

func deflate(b []byte) []byte {
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.DefaultCompression)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// foundedWithKey is a founded ledger on which SHBKKRSE's admin registered
// an ECDSA key, k1.
func foundedWithKey(t *testing.T) (*memLedger, func(msp, role string) []byte, *ecdsa.PrivateKey) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	l, id := founded(t)
	if _, err := l.invokeAs(id("Bank1MSP", "admin"), "RegisterKey", "SHBKKRSE", "k1", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))); err != nil {
		t.Fatal(err)
	}
	return l, id, k
}

// FuzzInflate: any argument inflates to at most partBytesMax bytes or is
// refused; a stream with bytes after its end is refused.
func FuzzInflate(f *testing.F) {
	f.Add([]byte{})
	f.Add(deflate([]byte("P,1,A,B,1,KRW\n")))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := inflate(b, 1<<12)
		if err == nil && len(out) > 1<<12 {
			t.Fatalf("inflated to %d bytes", len(out))
		}
	})
}

// TestCompressedParts: a file sent as deflate parts is verified and indexed
// as the same file sent as it is; GetFilePart answers the file's bytes; a
// part that does not inflate, inflates past the limit, carries bytes after
// its stream, names an unknown encoding, or changes encoding mid-file is
// refused, and writes nothing.
func TestCompressedParts(t *testing.T) {
	l, id, k := foundedWithKey(t)
	op, bank := id("OperatorMSP", "client"), id("Bank1MSP", "client")
	var sb strings.Builder
	sb.WriteString("H,Z1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00+09:00\n")
	const n = 300
	for j := range n {
		fmt.Fprintf(&sb, "P,Z1-%04d,SHBKKRSE,CZNBKRSE,%d,KRW\n", j, 1+j)
	}
	fmt.Fprintf(&sb, "T,%d,%d\n", n, n*(n+1)/2)
	body := sb.String()
	digest := sha256.Sum256([]byte(body))
	rawSig, _ := ecdsa.SignASN1(rand.Reader, k, digest[:])
	sig := base64.StdEncoding.EncodeToString(rawSig)
	decl := fmt.Sprintf(`[{"sender":"SHBKKRSE","fileId":"Z1","format":"csv","sha256":"%x","entries":%d,"controlSum":"%d"}]`, digest, n, n*(n+1)/2)
	if _, err := l.invokeAs(op, "DeclareCycle", "C2026-11-24", decl); err != nil {
		t.Fatal(err)
	}
	half := strings.Index(body, "P,Z1-0150")
	p0, p1 := deflate([]byte(body[:half])), deflate([]byte(body[half:]))
	put := func(index string, arg []byte, sig string, enc ...string) error {
		_, err := l.invokeAs(bank, "PutFilePart", append([]string{"C2026-11-24", "SHBKKRSE", "Z1", index, string(arg), sig}, enc...)...)
		return err
	}
	bomb := deflate(bytes.Repeat([]byte("P"), partBytesMax+1))
	for _, c := range []struct {
		what string
		arg  []byte
		enc  string
		code Code
	}{
		{"not a deflate stream", []byte("P,Z1-0000,SHBKKRSE"), "deflate", CodeInvalid},
		{"a stream with bytes after its end", append(append([]byte{}, p0...), 'x'), "deflate", CodeInvalid},
		{"a stream inflating past the part limit", bomb, "deflate", CodeInvalid},
		{"an unknown encoding", p0, "gzip", CodeBadArgs},
	} {
		before := len(l.state)
		if err := put("0", c.arg, "", c.enc); codeOf(err) != c.code {
			t.Errorf("%s: %v, want %s", c.what, err, c.code)
		}
		if len(l.state) != before {
			t.Errorf("%s: wrote state", c.what)
		}
	}
	if err := put("0", p0, "", "deflate"); err != nil {
		t.Fatal(err)
	}
	if err := put("1", []byte(body[half:]), sig); codeOf(err) != CodeBadArgs {
		t.Errorf("a raw part after a deflate one: %v", err)
	}
	if err := put("1", p1, sig, "deflate"); err != nil {
		t.Fatal(err)
	}
	if err := put("1", p1, sig, "deflate"); err != nil {
		t.Errorf("the last part again: %v", err)
	}
	for {
		out, err := l.invokeAs(bank, "IndexFile", "C2026-11-24", "SHBKKRSE", "Z1")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "already_indexed") {
			break
		}
	}
	var got bytes.Buffer
	for i := range 2 {
		raw, err := l.invoke("GetFilePart", "C2026-11-24", "SHBKKRSE", "Z1", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		var part struct{ Bytes []byte }
		if err := json.Unmarshal(raw, &part); err != nil {
			t.Fatal(err)
		}
		got.Write(part.Bytes)
	}
	if got.String() != body {
		t.Fatal("GetFilePart does not answer the file's bytes")
	}
	raw, err := l.invoke("GetPayment", "SHBKKRSE", "Z1-0299")
	if err != nil || !strings.Contains(string(raw), `"amount":"300"`) {
		t.Fatalf("a payment of a compressed file: %s %v", raw, err)
	}
}

// TestVerifyIndexesWhatFits: a file whose last part leaves no room for its
// ids (a raw part of over half the index budget) is verified and left to
// IndexFile; one whose part is small is indexed by the verifying part.
func TestVerifyIndexesWhatFits(t *testing.T) {
	l, id, k := foundedWithKey(t)
	op, bank := id("OperatorMSP", "client"), id("Bank1MSP", "client")
	file := func(name string, n int, remittance int) (string, string) {
		var sb strings.Builder
		fmt.Fprintf(&sb, "H,%s,SHBKKRSE,2026-11-24,2026-11-24T17:45:00+09:00\n", name)
		for j := range n {
			fmt.Fprintf(&sb, "P,%s-%04d,SHBKKRSE,CZNBKRSE,%d,KRW,%s\n", name, j, 1+j, strings.Repeat("r", remittance))
		}
		fmt.Fprintf(&sb, "T,%d,%d\n", n, n*(n+1)/2)
		body := sb.String()
		digest := sha256.Sum256([]byte(body))
		rawSig, _ := ecdsa.SignASN1(rand.Reader, k, digest[:])
		return body, fmt.Sprintf(`{"sender":"SHBKKRSE","fileId":"%s","format":"csv","sha256":"%x","entries":%d,"controlSum":"%d","sig":"%s"}`, name, digest, n, n*(n+1)/2, base64.StdEncoding.EncodeToString(rawSig))
	}
	big, bigDecl := file("BIG", 1200, 130) // about 170,000 bytes in one part
	small, smallDecl := file("SMALL", 50, 0)
	strip := func(d string) string { return d[:strings.Index(d, `,"sig"`)] + "}" }
	sigOf := func(d string) string { return d[strings.Index(d, `"sig":"`)+7 : len(d)-2] }
	if _, err := l.invokeAs(op, "DeclareCycle", "C2026-11-24", "["+strip(bigDecl)+","+strip(smallDecl)+"]"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, body, decl string
		byVerify         bool
	}{{"BIG", big, bigDecl, false}, {"SMALL", small, smallDecl, true}} {
		raw, err := l.invokeAs(bank, "PutFilePart", "C2026-11-24", "SHBKKRSE", c.name, "0", c.body, sigOf(c.decl))
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Status  string `json:"status"`
			Indexed int    `json:"indexed"`
		}
		_ = json.Unmarshal(raw, &st)
		if st.Status != "verified" || (st.Indexed > 0) != c.byVerify {
			t.Fatalf("%s (%d bytes): %s, %d indexed by the verifying part", c.name, len(c.body), st.Status, st.Indexed)
		}
		out, err := l.invokeAs(bank, "IndexFile", "C2026-11-24", "SHBKKRSE", c.name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "already_indexed") != c.byVerify {
			t.Fatalf("%s: IndexFile answered %s", c.name, out)
		}
	}
	if _, err := l.invokeAs(op, "SetCap", "SHBKKRSE", "KRW", "100000000"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.invokeAs(op, "SettleCycle", "C2026-11-24"); err != nil {
		t.Fatal(err)
	}
}

// TestIndexBudgetCountsReversals: a file of 3,000 reversals writes a
// reversal record each besides its id pages; the verifying part does not
// take them whole, and each IndexFile writes at most the index's budget
// (plus its chunk record and the file's state), so no transaction outgrows
// an ordering service's limit. Every reversal is then on the ledger.
func TestIndexBudgetCountsReversals(t *testing.T) {
	l, id, k := foundedWithKey(t)
	op, bank := id("OperatorMSP", "client"), id("Bank1MSP", "client")
	if _, err := l.invokeAs(op, "SetCap", "SHBKKRSE", "KRW", "100000000000"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.invokeAs(op, "SetCap", "CZNBKRSE", "KRW", "100000000000"); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	send := func(date, name string, record func(j int) string) {
		t.Helper()
		var sb strings.Builder
		fmt.Fprintf(&sb, "H,%s,SHBKKRSE,%s,%sT17:45:00+09:00\n", name, date, date)
		for j := range n {
			sb.WriteString(record(j) + "\n")
		}
		fmt.Fprintf(&sb, "T,%d,%d\n", n, n*(n+1)/2)
		body := sb.String()
		digest := sha256.Sum256([]byte(body))
		rawSig, _ := ecdsa.SignASN1(rand.Reader, k, digest[:])
		cycle := "C" + date
		decl := fmt.Sprintf(`[{"sender":"SHBKKRSE","fileId":"%s","format":"csv","sha256":"%x","entries":%d,"controlSum":"%d"}]`, name, digest, n, n*(n+1)/2)
		if _, err := l.invokeAs(op, "DeclareCycle", cycle, decl); err != nil {
			t.Fatal(err)
		}
		if _, err := l.invokeAs(bank, "PutFilePart", cycle, "SHBKKRSE", name, "0", string(deflate([]byte(body))), base64.StdEncoding.EncodeToString(rawSig), "deflate"); err != nil {
			t.Fatal(err)
		}
		if l.lastWrites > indexWriteBytesMax+20_000 {
			t.Fatalf("%s: the verifying part wrote %d bytes", name, l.lastWrites)
		}
		calls := 0
		for {
			out, err := l.invokeAs(bank, "IndexFile", cycle, "SHBKKRSE", name)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "already_indexed") {
				break
			}
			calls++
			if l.lastWrites > indexWriteBytesMax+20_000 {
				t.Fatalf("%s: IndexFile call %d wrote %d bytes", name, calls, l.lastWrites)
			}
		}
		if name == "REV" && calls < 2 {
			t.Fatalf("%s: %d IndexFile calls; its reversal records alone are over the budget", name, calls)
		}
		if _, err := l.invokeAs(op, "SettleCycle", cycle); err != nil {
			t.Fatal(err)
		}
	}
	send("2026-11-24", "ORIG", func(j int) string { return fmt.Sprintf("P,O-%05d,SHBKKRSE,CZNBKRSE,%d,KRW", j, 1+j) })
	send("2026-11-25", "REV", func(j int) string {
		return fmt.Sprintf("R,R-%05d,O-%05d,SHBKKRSE,CZNBKRSE,%d,KRW,AM05", j, j, 1+j)
	})
	for _, j := range []int{0, n / 2, n - 1} {
		raw, err := l.invoke("GetReversalChain", "SHBKKRSE", fmt.Sprintf("O-%05d", j))
		if err != nil || !strings.Contains(string(raw), fmt.Sprintf(`"reversalId":"R-%05d"`, j)) {
			t.Fatalf("O-%05d is not shown reversed: %s %v", j, raw, err)
		}
	}
}

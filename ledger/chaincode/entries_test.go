package chaincode

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
)

func entriesSample() (*FileState, string, []*Payment) {
	st := &FileState{CycleID: "C2026-11-24", Status: FileVerified}
	st.Sender, st.FileID, st.SHA256 = "SHBKKRSE", "F1", strings.Repeat("ab", 32)
	chunkID := rangeChunkID(st, 0)
	var pays []*Payment
	add := func(id, kind, debtor, creditor, amount, ccy, orig string) {
		pays = append(pays, &Payment{Sender: st.Sender, ID: id, Kind: kind, Debtor: debtor, Creditor: creditor,
			Amount: amount, Currency: ccy, FileSHA256: st.SHA256, CycleID: st.CycleID, ChunkID: chunkID,
			OriginalID: orig, TxID: "tx1"})
	}
	add("PAY-000001", KindPayment, "SHBKKRSE", "CZNBKRSE", "1000", "KRW", "")
	add("PAY-000002", KindPayment, "SHBKKRSE", "HVBKKRSEXXX", "0.01", "EUR", "")
	add("PAY-000010", KindPayment, "SHBKKRSEBR1", "CZNBKRSE", "12345678901234.99", "EUR", "")
	add("P", KindPayment, "SHBKKRSE", "CZNBKRSE", "7", "KRW", "")
	add("PAY/9.x-1", KindReversal, "SHBKKRSE", "CZNBKRSE", "1000", "KRW", "ORIG-1")
	add("Z2345678901234567890123456789012345", KindPayment, "SHBKKRSE", "CZNBKRSE", "3", "KRW", "")
	return st, chunkID, pays
}

// TestEntriesRoundTrip: a range's entries record gives back every field of
// its payments, ids front-coded, parties and currencies numbered.
func TestEntriesRoundTrip(t *testing.T) {
	st, chunkID, pays := entriesSample()
	b, err := encodeEntries(pays)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEntries(b, st, chunkID, len(pays), "tx1", contentHash(st.CycleID, chunkID, pays))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, pays) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, pays)
	}
	if per := len(b) / len(pays); per > 40 {
		t.Fatalf("%d bytes a payment:\n%s", per, b)
	}
}

// TestEntriesRefuseWhatDoesNotHold: a changed amount, a missing or extra
// entry, a wrong count and bytes that are not a record are each an
// internal error naming the chunk, never a payment.
func TestEntriesRefuseWhatDoesNotHold(t *testing.T) {
	st, chunkID, pays := entriesSample()
	b, _ := encodeEntries(pays)
	hash := contentHash(st.CycleID, chunkID, pays)
	cases := map[string][]byte{
		"amount":      bytes.Replace(b, []byte("\t1000\t"), []byte("\t1001\t"), 1),
		"party":       bytes.Replace(b, []byte("\t0\t1\t"), []byte("\t1\t1\t"), 1),
		"cut":         b[:len(b)-10],
		"extra":       append(append([]byte(nil), b...), "0\tX\tP\t0\t1\t0\t1\t\n"...),
		"empty":       nil,
		"magic":       bytes.Replace(b, []byte(entriesMagic), []byte("settle-entries 2"), 1),
		"prefix":      bytes.Replace(b, []byte("\n9\t"), []byte("\n99\t"), 1),
		"index":       bytes.Replace(b, []byte("\t0\t1\t"), []byte("\t0\t9\t"), 1),
		"kind":        bytes.Replace(b, []byte("\tP\t"), []byte("\tQ\t"), 1),
		"not entries": []byte("{}"),
	}
	for name, raw := range cases {
		_, err := decodeEntries(raw, st, chunkID, len(pays), "tx1", hash)
		if codeOf(err) != CodeInternal || !strings.Contains(err.Error(), chunkID) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := decodeEntries(b, st, chunkID, len(pays)-1, "tx1", hash); codeOf(err) != CodeInternal {
		t.Errorf("a wrong count: %v", err)
	}
	bad := *pays[0]
	bad.ID = "A\tB"
	if _, err := encodeEntries([]*Payment{&bad}); codeOf(err) != CodeInternal {
		t.Errorf("a tab in an id: %v", err)
	}
}

func FuzzDecodeEntries(f *testing.F) {
	st, chunkID, pays := entriesSample()
	b, _ := encodeEntries(pays)
	hash := contentHash(st.CycleID, chunkID, pays)
	f.Add(b, len(pays))
	f.Add([]byte(entriesMagic+"\n\n\n0\t\tP\t0\t0\t0\t1\t\n"), 1)
	f.Fuzz(func(t *testing.T, raw []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		got, err := decodeEntries(raw, st, chunkID, n, "tx1", hash)
		if err == nil && !bytes.Equal(raw, b) {
			// Only the record itself hashes to its chunk's content hash.
			again, _ := encodeEntries(got)
			if contentHash(st.CycleID, chunkID, got) != hash {
				t.Fatalf("decoded %d payments whose hash is not the chunk's: %q (re-encoded %q)", len(got), raw, again)
			}
		}
		if err != nil && codeOf(err) != CodeInternal {
			t.Fatalf("%v", err)
		}
	})
}

// TestReversalsReadEntriesNotFiles: a file of reversals of payments in
// several settled files reads each original from its range's entries
// record, never the originals' stored parts (a pacs.007 naming payments in
// 200 files of 5,000 made every endorser parse a million payments and time
// out). GetFilePayments and GetPayment answer what the file's own bytes
// say, read back both ways.
func TestReversalsReadEntriesNotFiles(t *testing.T) {
	l, id, k := foundedWithKey(t)
	op, bank := id("OperatorMSP", "client"), id("Bank1MSP", "client")
	for _, b := range []string{"SHBKKRSE", "CZNBKRSE"} {
		if _, err := l.invokeAs(op, "SetCap", b, "KRW", "100000000000"); err != nil {
			t.Fatal(err)
		}
	}
	const files, n = 6, 300
	day := func(date string, names []string, record func(f, j int) string) {
		t.Helper()
		cycle := "C" + date
		var decls []string
		bodies := map[string]string{}
		sigs := map[string]string{}
		for f, name := range names {
			var sb strings.Builder
			fmt.Fprintf(&sb, "H,%s,SHBKKRSE,%s,%sT17:45:00+09:00\n", name, date, date)
			sum := 0
			for j := range n {
				sb.WriteString(record(f, j) + "\n")
				sum += 1 + j
			}
			fmt.Fprintf(&sb, "T,%d,%d\n", n, sum)
			bodies[name] = sb.String()
			digest := sha256.Sum256([]byte(bodies[name]))
			rawSig, _ := ecdsa.SignASN1(rand.Reader, k, digest[:])
			sigs[name] = base64.StdEncoding.EncodeToString(rawSig)
			decls = append(decls, fmt.Sprintf(`{"sender":"SHBKKRSE","fileId":"%s","format":"csv","sha256":"%x","entries":%d,"controlSum":"%d"}`, name, digest, n, sum))
		}
		if _, err := l.invokeAs(op, "DeclareCycle", cycle, "["+strings.Join(decls, ",")+"]"); err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if _, err := l.invokeAs(bank, "PutFilePart", cycle, "SHBKKRSE", name, "0", string(deflate([]byte(bodies[name]))), sigs[name], "deflate"); err != nil {
				t.Fatal(err)
			}
			if l.lastPartReads != 0 && strings.HasPrefix(name, "REV") {
				t.Fatalf("%s: the verifying part read %d stored parts", name, l.lastPartReads)
			}
			for {
				out, err := l.invokeAs(bank, "IndexFile", cycle, "SHBKKRSE", name)
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(name, "REV") && l.lastPartReads != 0 {
					t.Fatalf("%s: IndexFile read %d stored parts", name, l.lastPartReads)
				}
				if strings.Contains(string(out), "already_indexed") {
					break
				}
			}
		}
		if _, err := l.invokeAs(op, "SettleCycle", cycle); err != nil {
			t.Fatal(err)
		}
	}
	var orig []string
	for f := range files {
		orig = append(orig, fmt.Sprintf("ORIG%d", f))
	}
	day("2026-11-24", orig, func(f, j int) string {
		return fmt.Sprintf("P,O%d-%05d,SHBKKRSE,CZNBKRSE,%d,KRW", f, j, 1+j)
	})
	// One reversal file of n reversals, each of a payment in another file.
	day("2026-11-25", []string{"REV"}, func(_, j int) string {
		return fmt.Sprintf("R,R-%05d,O%d-%05d,SHBKKRSE,CZNBKRSE,%d,KRW,AM05", j, j%files, j, 1+j)
	})
	for _, j := range []int{0, 1, n - 1} {
		oid := fmt.Sprintf("O%d-%05d", j%files, j)
		raw, err := l.invoke("GetPayment", "SHBKKRSE", oid)
		if err != nil || !strings.Contains(string(raw), fmt.Sprintf(`"reversalId":"R-%05d"`, j)) {
			t.Fatalf("%s is not shown reversed: %s %v", oid, raw, err)
		}
	}
	// Entries and stored bytes give the same payments.
	for _, name := range []string{"ORIG0", "ORIG5"} {
		raw, err := l.invoke("GetFilePayments", "C2026-11-24", "SHBKKRSE", name)
		if err != nil {
			t.Fatal(err)
		}
		var fp FilePayments
		if err := json.Unmarshal(raw, &fp); err != nil {
			t.Fatal(err)
		}
		fk, _ := shim.CreateCompositeKey(keyFile, []string{"C2026-11-24", "SHBKKRSE", name})
		var st FileState
		if err := json.Unmarshal(l.state[fk], &st); err != nil {
			t.Fatal(err)
		}
		fromParts, err := storedPayments(&memStub{l: l, writes: map[string][]byte{}}, &st)
		if err != nil {
			t.Fatal(err)
		}
		if len(fp.Payments) != n || len(fromParts) != n {
			t.Fatalf("%s: %d payments from entries, %d from parts", name, len(fp.Payments), len(fromParts))
		}
		for i := range fromParts {
			want := *fromParts[i]
			want.amount = fp.Payments[i].amount
			if fp.Payments[i] != want {
				t.Fatalf("%s entry %d: entries say %+v, the file %+v", name, i, fp.Payments[i], want)
			}
		}
	}
	// A record that no longer holds what its range recorded is an internal
	// error on a whole read, never a payment list.
	ek, _ := shim.CreateCompositeKey(keyEntries, []string{"C2026-11-24", rangeChunkID(&FileState{DeclaredFile: DeclaredFile{Sender: "SHBKKRSE", FileID: "ORIG1"}}, 0)})
	raw := l.state[ek]
	if raw == nil {
		t.Fatalf("no entries record under %q", ek)
	}
	l.state[ek] = bytes.Replace(raw, []byte("\t7\t\n"), []byte("\t8\t\n"), 1)
	if bytes.Equal(l.state[ek], raw) {
		t.Fatal("the amount to change is not in the record")
	}
	if _, err := l.invoke("GetFilePayments", "C2026-11-24", "SHBKKRSE", "ORIG1"); codeOf(err) != CodeInternal || !strings.Contains(err.Error(), "hash") {
		t.Fatalf("a changed entries record: %v", err)
	}
}

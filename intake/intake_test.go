package intake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"settle/formats"
	"settle/intake"
	"settle/settlement"
	"settle/signature"
)

// openssl runs the openssl command line, as a bank's tooling would.
func openssl(t *testing.T, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl not found (%v): these tests sign files as banks do, with the openssl CLI; install the Debian package \"openssl\" (apt-get install openssl)", err)
	}
	cmd := exec.Command("openssl", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

// bankKey is a key pair made by openssl, private key in a PEM file.
type bankKey struct {
	kind    string // "ed25519" or "ecdsa"
	private string
	public  []byte // PEM PUBLIC KEY
}

func newKey(t *testing.T, kind string) bankKey {
	t.Helper()
	dir := t.TempDir()
	priv := filepath.Join(dir, kind+".key")
	switch kind {
	case "ed25519":
		openssl(t, "genpkey", "-algorithm", "ed25519", "-out", priv)
	case "ecdsa":
		openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", priv)
	default:
		t.Fatalf("kind %s", kind)
	}
	return bankKey{kind: kind, private: priv, public: openssl(t, "pkey", "-in", priv, "-pubout")}
}

// sign makes the raw signature of data with openssl exactly as the spec
// says a bank does.
func (k bankKey) sign(t *testing.T, data []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "file")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sig.bin")
	if k.kind == "ed25519" {
		openssl(t, "pkeyutl", "-sign", "-rawin", "-inkey", k.private, "-in", in, "-out", out)
	} else {
		openssl(t, "dgst", "-sha256", "-sign", k.private, "-out", out, in)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// base64 encodings a bank's script may produce.
func opensslBase64(t *testing.T, raw []byte) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sig.bin")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return openssl(t, "base64", "-in", p) // wrapped at 64 columns, final newline
}

func coreutilsBase64(t *testing.T, raw []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath("base64"); err != nil {
		t.Fatalf("base64 not found: install the Debian package coreutils")
	}
	cmd := exec.Command("base64", "-w0")
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out // one line, no newline
}

func ring(t *testing.T, bank string, keys map[string]bankKey) signature.Ring {
	t.Helper()
	r := signature.Ring{}
	labels := make([]string, 0, len(keys))
	for l := range keys {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		pub, err := signature.ParsePublicKey(keys[l].public)
		if err != nil {
			t.Fatalf("openssl public key %s: %v", l, err)
		}
		r.Add(signature.Key{Bank: settlement.MustBIC(bank), Label: l, Public: pub})
	}
	return r
}

const csvFile = "H,F20261124-001,SHBKKRSE,2026-11-24,2026-11-24T17:45:00+09:00\n" +
	"P,SH-000001,SHBKKRSE,CZNBKRSE,1500000,KRW,invoice 2211\n" +
	"P,SH-000002,SHBKKRSE,HVBKKRSE,250000,KRW\n" +
	"R,SH-R-000001,SH-000777,SHBKKRSE,CZNBKRSE,90000,KRW,AM05\n" +
	"T,3,1840000\n"

const xmlFile = `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">
<FIToFICstmrCdtTrf>
<GrpHdr><MsgId>X20261124-001</MsgId><CreDtTm>2026-11-24T17:45:00+09:00</CreDtTm><NbOfTxs>1</NbOfTxs><CtrlSum>12.5</CtrlSum>
<IntrBkSttlmDt>2026-11-24</IntrBkSttlmDt><SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf><InstgAgt><FinInstnId><BICFI>SHBKKRSEXXX</BICFI></FinInstnId></InstgAgt></GrpHdr>
<CdtTrfTxInf><PmtId><EndToEndId>SH-X-1</EndToEndId></PmtId><IntrBkSttlmAmt Ccy="USD">12.50</IntrBkSttlmAmt><ChrgBr>SLEV</ChrgBr><Dbtr><Nm>D</Nm></Dbtr>
<DbtrAgt><FinInstnId><BICFI>SHBKKRSE</BICFI></FinInstnId></DbtrAgt><CdtrAgt><FinInstnId><BICFI>CZNBKRSE</BICFI></FinInstnId></CdtrAgt><Cdtr><Nm>C</Nm></Cdtr></CdtTrfTxInf>
</FIToFICstmrCdtTrf>
</Document>
`

func check(t *testing.T, name, data string, sig intake.Sig, opts intake.Options) *intake.Result {
	t.Helper()
	r, err := intake.Check(name, strings.NewReader(data), sig, opts)
	if err != nil {
		t.Fatalf("Check(%s): %v", name, err)
	}
	return r
}

func codes(r *intake.Result) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, fmt.Sprintf("%d:%s", p.Line, p.Code))
	}
	return out
}

func TestOpenSSLSignaturesVerify(t *testing.T) {
	files := map[string]string{"F20261124-001.csv": csvFile, "X20261124-001.xml": xmlFile}
	for _, kind := range []string{"ed25519", "ecdsa"} {
		k := newKey(t, kind)
		keys := ring(t, "SHBKKRSE", map[string]bankKey{"2026": k})
		for name, data := range files {
			raw := k.sign(t, []byte(data))
			encodings := map[string][]byte{
				"openssl base64":      opensslBase64(t, raw),
				"base64 -w0":          coreutilsBase64(t, raw),
				"base64 -w0 newline":  append(coreutilsBase64(t, raw), '\n'),
				"openssl base64 crlf": bytes.ReplaceAll(opensslBase64(t, raw), []byte("\n"), []byte("\r\n")),
			}
			if kind == "ed25519" && !bytes.Contains(encodings["openssl base64"][:len(encodings["openssl base64"])-1], []byte("\n")) {
				t.Fatalf("openssl base64 of a 64-byte signature should wrap: %q", encodings["openssl base64"])
			}
			for enc, sig := range encodings {
				t.Run(kind+"/"+name+"/"+enc, func(t *testing.T) {
					r := check(t, name, data, intake.Sig{Present: true, Bytes: sig}, intake.Options{Keys: keys})
					if !r.Accepted() {
						t.Fatalf("rejected: %v", r.Problems)
					}
					if r.KeyLabel != "2026" {
						t.Errorf("KeyLabel %q", r.KeyLabel)
					}
					if r.Sender != "SHBKKRSE" {
						t.Errorf("sender %q", r.Sender)
					}
				})
			}
		}
	}
}

func TestKeyRotation(t *testing.T) {
	old, cur := newKey(t, "ecdsa"), newKey(t, "ed25519")
	keys := ring(t, "SHBKKRSE", map[string]bankKey{"2025": old, "2026": cur})
	for label, k := range map[string]bankKey{"2025": old, "2026": cur} {
		for _, f := range []struct{ name, data string }{{"a.csv", csvFile}, {"a.xml", xmlFile}} {
			sig := opensslBase64(t, k.sign(t, []byte(f.data)))
			r := check(t, f.name, f.data, intake.Sig{Present: true, Bytes: sig}, intake.Options{Keys: keys})
			if !r.Accepted() || r.KeyLabel != label {
				t.Errorf("%s signed with %s: accepted %v label %q problems %v", f.name, label, r.Accepted(), r.KeyLabel, r.Problems)
			}
		}
	}
}

func TestSignatureProblems(t *testing.T) {
	k, other := newKey(t, "ed25519"), newKey(t, "ecdsa")
	keys := ring(t, "SHBKKRSE", map[string]bankKey{"k": k})
	raw := k.sign(t, []byte(csvFile))
	good := coreutilsBase64(t, raw)
	ecRaw := other.sign(t, []byte(csvFile))
	cases := []struct {
		name string
		data string
		sig  intake.Sig
		keys signature.Ring
		want string
	}{
		{"wrong key", csvFile, intake.Sig{Present: true, Bytes: coreutilsBase64(t, ecRaw)}, keys, settlement.CodeSignatureInvalid},
		{"other bank's key", csvFile, intake.Sig{Present: true, Bytes: good}, ring(t, "SHBKKRSE", map[string]bankKey{"x": other}), settlement.CodeSignatureInvalid},
		{"tampered file", strings.Replace(csvFile, "250000", "250001", 1), intake.Sig{Present: true, Bytes: good}, keys, settlement.CodeSignatureInvalid},
		{"file with a byte added", csvFile + "\n", intake.Sig{Present: true, Bytes: good}, keys, settlement.CodeSignatureInvalid},
		{"truncated signature bytes", csvFile, intake.Sig{Present: true, Bytes: coreutilsBase64(t, raw[:63])}, keys, settlement.CodeSignatureInvalid},
		{"signature bit flipped", csvFile, intake.Sig{Present: true, Bytes: coreutilsBase64(t, flip(raw))}, keys, settlement.CodeSignatureInvalid},
		{"truncated base64", csvFile, intake.Sig{Present: true, Bytes: good[:len(good)-1]}, keys, settlement.CodeSignatureMalform},
		{"not base64", csvFile, intake.Sig{Present: true, Bytes: []byte("this is not base64!\n")}, keys, settlement.CodeSignatureMalform},
		{"url-safe base64", csvFile, intake.Sig{Present: true, Bytes: []byte(strings.NewReplacer("+", "-", "/", "_").Replace(string(good)) + "-_")}, keys, settlement.CodeSignatureMalform},
		{"empty sig file", csvFile, intake.Sig{Present: true, Bytes: nil}, keys, settlement.CodeSignatureMalform},
		{"sig file too large", csvFile, intake.Sig{Present: true, Bytes: bytes.Repeat([]byte("QUFB\n"), 300)}, keys, settlement.CodeSignatureMalform},
		{"missing", csvFile, intake.Sig{}, keys, settlement.CodeSignatureMissing},
		{"no key for sender", csvFile, intake.Sig{Present: true, Bytes: good}, ring(t, "CZNBKRSE", map[string]bankKey{"k": k}), settlement.CodeSignatureNoKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := check(t, "F20261124-001.csv", c.data, c.sig, intake.Options{Keys: c.keys})
			var sigCodes []string
			for _, p := range r.Problems {
				if strings.HasPrefix(p.Code, "SIGNATURE_") {
					sigCodes = append(sigCodes, p.Code)
					if p.Field != "signature" || p.Message == "" {
						t.Errorf("problem %+v", p)
					}
				}
			}
			if len(sigCodes) != 1 || sigCodes[0] != c.want {
				t.Errorf("signature problems %v, want [%s]; all: %v", sigCodes, c.want, codes(r))
			}
			if r.Accepted() || r.KeyLabel != "" {
				t.Errorf("accepted %v with key %q", r.Accepted(), r.KeyLabel)
			}
		})
	}
	// Without a keyring signatures are not checked at all.
	r := check(t, "F20261124-001.csv", csvFile, intake.Sig{}, intake.Options{})
	if !r.Accepted() {
		t.Errorf("no keys: %v", r.Problems)
	}
}

func flip(b []byte) []byte {
	c := append([]byte(nil), b...)
	c[10] ^= 0x01
	return c
}

func TestUploader(t *testing.T) {
	r := check(t, "a.csv", csvFile, intake.Sig{}, intake.Options{Uploader: "CZNBKRSE"})
	if got := codes(r); len(got) != 1 || got[0] != "1:"+settlement.CodeSenderNotUploader {
		t.Errorf("csv from another bank's inbox: %v", got)
	}
	r = check(t, "a.xml", xmlFile, intake.Sig{}, intake.Options{Uploader: "CZNBKRSE"})
	if got := codes(r); len(got) != 1 || got[0] != "0:"+settlement.CodeSenderNotUploader {
		t.Errorf("xml from another bank's inbox: %v", got)
	}
	// The XML names SHBKKRSEXXX: the same bank as SHBKKRSE.
	for _, f := range []struct{ name, data string }{{"a.csv", csvFile}, {"a.xml", xmlFile}} {
		if r := check(t, f.name, f.data, intake.Sig{}, intake.Options{Uploader: "SHBKKRSE"}); !r.Accepted() {
			t.Errorf("%s from its sender's inbox: %v", f.name, r.Problems)
		}
	}
}

func TestAckAccepted(t *testing.T) {
	r := check(t, "inbox/F20261124-001.csv", csvFile, intake.Sig{}, intake.Options{})
	at := time.Date(2026, 11, 24, 18, 0, 0, 0, time.FixedZone("KST", 9*3600))
	b, err := json.Marshal(r.Ack(at))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keysExactly(t, "ack", m, "file", "file_id", "sha256", "status", "received_at", "entries", "control_sum", "errors")
	sum := sha256.Sum256([]byte(csvFile))
	want := map[string]string{
		"file": `"F20261124-001.csv"`, "file_id": `"F20261124-001"`, "sha256": `"` + hex.EncodeToString(sum[:]) + `"`,
		"status": `"ACCEPTED"`, "received_at": `"2026-11-24T18:00:00+09:00"`, "entries": `3`, "control_sum": `"1840000"`, "errors": `[]`,
	}
	for k, v := range want {
		if string(m[k]) != v {
			t.Errorf("%s = %s, want %s", k, m[k], v)
		}
	}
	var ts string
	json.Unmarshal(m["received_at"], &ts)
	if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Errorf("received_at %q: %v", ts, err)
	}
	if intake.AckName("inbox/F20261124-001.csv") != "F20261124-001.csv.ack.json" {
		t.Errorf("AckName %q", intake.AckName("inbox/F20261124-001.csv"))
	}
}

func TestAckRejected(t *testing.T) {
	bad := strings.Replace(csvFile, "250000,KRW", "2500.5,KRW", 1)
	r := check(t, "F20261124-001.csv", bad, intake.Sig{}, intake.Options{})
	b, _ := json.Marshal(r.Ack(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)))
	var a struct {
		Status     string            `json:"status"`
		ReceivedAt string            `json:"received_at"`
		Entries    int               `json:"entries"`
		Errors     []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if a.Status != "REJECTED" || a.Entries != 3 || len(a.Errors) != 1 || a.ReceivedAt != "2026-11-24T09:00:00Z" {
		t.Fatalf("ack %s", b)
	}
	var e map[string]json.RawMessage
	json.Unmarshal(a.Errors[0], &e)
	keysExactly(t, "error", e, "line", "field", "code", "message")
	if string(e["line"]) != "3" || string(e["field"]) != `"amount"` || string(e["code"]) != `"AMOUNT_SCALE"` {
		t.Errorf("error %s", a.Errors[0])
	}
}

// TestAckErrorAlwaysHasField: the contract writes every error as
// {"line", "field", "code", "message"}; a bank's strict decoder expects all
// four, also for an error about the file as a whole.
func TestAckErrorAlwaysHasField(t *testing.T) {
	r := check(t, "F1.csv", "", intake.Sig{}, intake.Options{})
	b, _ := json.Marshal(r.Ack(time.Now()))
	var a struct {
		Errors []map[string]json.RawMessage `json:"errors"`
	}
	json.Unmarshal(b, &a)
	if len(a.Errors) == 0 {
		t.Fatalf("empty file accepted: %s", b)
	}
	if _, ok := a.Errors[0]["field"]; !ok {
		t.Errorf("a file-level error has no \"field\" key; the contract lists line, field, code, message: %s", b)
	}
}

func keysExactly(t *testing.T, what string, m map[string]json.RawMessage, want ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s keys %v, want exactly %v", what, got, want)
	}
}

func TestFormatByName(t *testing.T) {
	r := check(t, "F1.txt", csvFile, intake.Sig{}, intake.Options{})
	if got := codes(r); len(got) != 1 || got[0] != "0:"+settlement.CodeFormat {
		t.Errorf("unknown extension: %v", got)
	}
	r = check(t, "F1.CSV.xml", csvFile, intake.Sig{}, intake.Options{})
	if r.Accepted() {
		t.Error("CSV bytes in a .xml file accepted")
	}
}

func TestLimitsThroughCheck(t *testing.T) {
	for _, f := range []struct{ name, data string }{{"a.csv", csvFile}, {"a.xml", xmlFile}} {
		r := check(t, f.name, f.data, intake.Sig{}, intake.Options{Limits: formats.Limits{FileBytesMax: 100}})
		if !hasCode(r, 0, settlement.CodeFileTooLarge) {
			t.Errorf("%s over FileBytesMax: %v", f.name, codes(r))
		}
		n := 0
		for _, p := range r.Problems {
			if p.Code == settlement.CodeFileTooLarge {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: FILE_TOO_LARGE listed %d times", f.name, n)
		}
		if r.Size != 101 {
			t.Errorf("%s: read %d bytes of an oversized file, want FileBytesMax+1", f.name, r.Size)
		}
	}
	many := "H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00Z\n" + strings.Repeat("P,SH-1,SHBKKRSE,CZNBKRSE,0,KRW\n", 30) + "T,30,0\n"
	r := check(t, "m.csv", many, intake.Sig{}, intake.Options{Limits: formats.Limits{ProblemsMax: 4}})
	if len(r.Problems) != 5 || r.Problems[4].Code != settlement.CodeTooManyErrors {
		t.Errorf("ProblemsMax 4: %v", codes(r))
	}
	r = check(t, "m.csv", many, intake.Sig{}, intake.Options{Limits: formats.Limits{RecordsMax: 10}})
	if !hasCode(r, 11, settlement.CodeTooManyRecords) {
		t.Errorf("RecordsMax 10: %v", codes(r))
	}
}

func hasCode(r *intake.Result, line int, code string) bool {
	for _, p := range r.Problems {
		if p.Line == line && p.Code == code {
			return true
		}
	}
	return false
}

// TestSignatureOverWholeFile: a parser that stops early (too many records)
// still hashes and verifies every byte.
func TestSignatureOverWholeFile(t *testing.T) {
	k := newKey(t, "ed25519")
	keys := ring(t, "SHBKKRSE", map[string]bankKey{"k": k})
	sig := opensslBase64(t, k.sign(t, []byte(csvFile)))
	r := check(t, "a.csv", csvFile, intake.Sig{Present: true, Bytes: sig}, intake.Options{Keys: keys, Limits: formats.Limits{RecordsMax: 2}})
	sum := sha256.Sum256([]byte(csvFile))
	if r.SHA256 != sum || r.Size != int64(len(csvFile)) {
		t.Errorf("hash over %d bytes, want %d", r.Size, len(csvFile))
	}
	for _, p := range r.Problems {
		if strings.HasPrefix(p.Code, "SIGNATURE_") {
			t.Errorf("signature of a good file failed after an early stop: %v", codes(r))
		}
	}
}

type erroring struct{}

func (erroring) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestReaderErrorIsAnError(t *testing.T) {
	for _, name := range []string{"a.csv", "a.xml"} {
		if _, err := intake.Check(name, io.MultiReader(strings.NewReader("H,F1"), erroring{}), intake.Sig{}, intake.Options{}); err == nil {
			t.Errorf("%s: a failing reader must be an error, not a verdict", name)
		}
	}
	in := []intake.Input{{Name: "a.csv", Open: func() (io.ReadCloser, error) { return nil, os.ErrNotExist }, Sig: func() (intake.Sig, error) { return intake.Sig{}, nil }}}
	if _, err := intake.CheckCycle(context.Background(), in, intake.Options{}, 1); err == nil {
		t.Error("CheckCycle with a file that cannot be opened: no error")
	}
}

// A pacs.008 as CBPR+ writes it (date and sender in each transaction, no
// CtrlSum, CreDtTm without an offset) is accepted; its acknowledgement
// reports the sum computed, and the creation time is read in the scheme's
// zone, which intake must be given.
func TestCBPRFileAcknowledged(t *testing.T) {
	data, err := os.ReadFile("../formats/pacs008/testdata/accepted/cbpr_transaction_level.xml")
	if err != nil {
		t.Fatal(err)
	}
	seoul := time.FixedZone("KST", 9*3600)
	r := check(t, "inbox/cbpr.xml", string(data), intake.Sig{}, intake.Options{Limits: formats.Limits{Zone: seoul}})
	if len(r.Problems) != 0 {
		t.Fatalf("problems: %v", r.Problems)
	}
	ack := r.Ack(time.Date(2026, 11, 24, 18, 0, 0, 0, seoul))
	if ack.Status != "ACCEPTED" || ack.ControlSum != "1750000" || ack.Entries != 2 || ack.FileID != "F20261124-CBPR" {
		t.Errorf("ack %+v, want ACCEPTED, 2 entries adding up to 1750000", ack)
	}
	if r.Sender != "SHBKKRSE" || r.BusinessDate != "2026-11-24" {
		t.Errorf("sender %s on %s, want SHBKKRSE on 2026-11-24 from the transactions", r.Sender, r.BusinessDate)
	}

	// Without a zone to read it in, a time without an offset is refused.
	r = check(t, "inbox/cbpr.xml", string(data), intake.Sig{}, intake.Options{})
	if got := codes(r); len(got) != 1 || got[0] != "0:TIMESTAMP" {
		t.Errorf("without a zone: %v, want [0:TIMESTAMP]", got)
	}
}

// A file naming another bank as its sender, signed by the bank that
// uploaded it, is SENDER_NOT_UPLOADER alone: the signature is checked
// against the uploader's keys, and no message says that the named bank
// has no key (issue 12, item 7).
func TestSenderNotUploaderMessage(t *testing.T) {
	k := newKey(t, "ed25519")
	sig := coreutilsBase64(t, k.sign(t, []byte(csvFile)))
	r := check(t, "a.csv", csvFile, intake.Sig{Present: true, Bytes: sig},
		intake.Options{Uploader: "CZNBKRSE", Keys: ring(t, "CZNBKRSE", map[string]bankKey{"k1": k})})
	if got := codes(r); len(got) != 1 || got[0] != "1:"+settlement.CodeSenderNotUploader {
		t.Fatalf("problems %v", r.Problems)
	}
	if strings.Contains(r.Problems[0].Message, "no registered public key") || !strings.Contains(r.Problems[0].Message, "CZNBKRSE") {
		t.Fatalf("message %q", r.Problems[0].Message)
	}
	// Signed with another key: the signature problem names the uploader.
	other := newKey(t, "ed25519")
	r = check(t, "a.csv", csvFile, intake.Sig{Present: true, Bytes: coreutilsBase64(t, other.sign(t, []byte(csvFile)))},
		intake.Options{Uploader: "CZNBKRSE", Keys: ring(t, "CZNBKRSE", map[string]bankKey{"k1": k})})
	for _, p := range r.Problems {
		if strings.Contains(p.Message, "SHBKKRSE has no registered") {
			t.Errorf("message blames the named sender's keys: %q", p.Message)
		}
	}
}

// TestResultTellsWhatTheFileDeclared: the verdict carries what the status
// report gives back of the file: its message (by extension, and for XML by
// namespace), its header's creation time and its trailer as declared,
// where it could be read that far.
func TestResultTellsWhatTheFileDeclared(t *testing.T) {
	const b0, b1 = "SHBKKRSE", "CZNBKRSE"
	pacs := func(ns, root, extra string) string {
		return `<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:` + ns + `"><` + root + `>` + extra + `</` + root + `></Document>`
	}
	for _, c := range []struct {
		name, body, msg, created, trailer string
	}{
		{"ok.csv", "H,F1," + b0 + ",2026-11-24,2026-11-24T09:00:00+09:00\nP,P-1," + b0 + "," + b1 + ",1000,KRW\nT,3,999\n",
			"settle.csv", "2026-11-24T09:00:00+09:00", "3 999"},
		{"junk.csv", "junk\n", "settle.csv", "", "none"},
		{"p8.xml", pacs("pacs.008.001.08", "FIToFICstmrCdtTrf", ""), "pacs.008.001.08", "", "none"},
		{"p7.xml", pacs("pacs.007.001.09", "FIToFIPmtRvsl", ""), "pacs.007.001.09", "", "none"},
		{"other.xml", pacs("camt.053.001.08", "BkToCstmrStmt", ""), "pacs.008.001.08", "", "none"},
	} {
		res, err := intake.Check(c.name, strings.NewReader(c.body), intake.Sig{}, intake.Options{})
		if err != nil {
			t.Fatal(err)
		}
		created, trailer := "", "none"
		if !res.CreatedAt.IsZero() {
			created = res.CreatedAt.Format(time.RFC3339)
		}
		if res.Trailer != nil {
			trailer = fmt.Sprintf("%d %s", res.Trailer.Count, res.Trailer.ControlSum)
		}
		if res.Message != c.msg || created != c.created || trailer != c.trailer {
			t.Errorf("%s: %q %q %q; want %q %q %q", c.name, res.Message, created, trailer, c.msg, c.created, c.trailer)
		}
	}
}

package contracttest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"settle/formats/gen"
	"settle/settlement"
)

// Org is a bank organisation of the channel: its MSP and its BIC.
type Org struct {
	MSPID string
	BIC   string
}

// Governed is a ledger whose callers can be chosen: the governed path's
// contract test needs the operator, several banks, and each of them as an
// admin and as an ordinary client. A Governed ledger must not be founded yet.
type Governed interface {
	// As is the ledger as one identity of msp with role "admin" or "client".
	As(msp, role string) Backend
	// Operator is the operator's MSP (an org of its own, not a bank's).
	Operator() string
	// Banks are at least four bank orgs: the first three found the ledger, the
	// fourth is admitted later.
	Banks() []Org
}

// Successor is a Governed ledger that names the operator org the banks vote in
// (an org of the channel on a real network). Without it the new operator is an
// MSP id that no org holds, which only an in-memory ledger can act as.
type Successor interface {
	NextOperator() string
}

// Roles of the identities the test uses.
const (
	Admin  = "admin"
	Client = "client"
)

// signer is a bank's file-signing key.
type signer struct {
	label string
	pem   string
	sign  func([]byte) []byte
}

func newECDSA(t *testing.T, label string) signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return signer{label, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), func(b []byte) []byte {
		sum := sha256.Sum256(b)
		sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}}
}

func newEd25519(t *testing.T, label string) signer {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return signer{label, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), func(b []byte) []byte {
		return ed25519.Sign(priv, b)
	}}
}

func (s signer) sig(b []byte) string { return base64.StdEncoding.EncodeToString(s.sign(b)) }

// csvFile is a Format 1 file: header, records, trailer with the right totals
// (unless the test overrides them).
type csvFile struct {
	id, sender, date string
	records          []string
	sum              int64
	count            int
}

func (f *csvFile) pay(id, creditor string, amount int64) *csvFile {
	f.records = append(f.records, fmt.Sprintf("P,%s,%s,%s,%d,KRW", id, f.sender, creditor, amount))
	f.sum += amount
	f.count++
	return f
}

func (f *csvFile) rawPay(id, debtor, creditor string, amount int64) *csvFile {
	f.records = append(f.records, fmt.Sprintf("P,%s,%s,%s,%d,KRW", id, debtor, creditor, amount))
	f.sum += amount
	f.count++
	return f
}

func (f *csvFile) rev(id, orig, creditor string, amount int64) *csvFile {
	f.records = append(f.records, fmt.Sprintf("R,%s,%s,%s,%s,%d,KRW,AM05", id, orig, f.sender, creditor, amount))
	f.sum += amount
	f.count++
	return f
}

func (f *csvFile) bytes() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "H,%s,%s,%s,%sT17:45:00+09:00\n", f.id, f.sender, f.date, f.date)
	for _, r := range f.records {
		b.WriteString(r + "\n")
	}
	fmt.Fprintf(&b, "T,%d,%d\n", f.count, f.sum)
	return []byte(b.String())
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// declared is a file as DeclareCycle names it.
func declared(f *csvFile, body []byte) map[string]any {
	return map[string]any{"sender": f.sender, "fileId": f.id, "format": "csv", "sha256": sha(body),
		"entries": f.count, "controlSum": fmt.Sprint(f.sum)}
}

// g holds the scenario's identities.
type g struct {
	t     *testing.T
	l     Governed
	op    string
	banks []Org
	cycle string
	date  string
	run   string
	keys  map[string]signer
	// The settled pacs.008 payments (B to A) that the reversal subtest reverses.
	xp    []gen.Payment
	xDate string
	first *firstCycle // the first cycle's files
}

func (x *g) as(msp, role string) c { return c{x.t, x.l.As(msp, role)} }
func (x *g) opc() c                { return x.as(x.op, Client) }
func (x *g) admin(i int) c         { return x.as(x.banks[i].MSPID, Admin) }
func (x *g) client(i int) c        { return x.as(x.banks[i].MSPID, Client) }
func (x *g) bic(i int) string      { return x.banks[i].BIC }

func (x *g) file(i int, name string) *csvFile {
	return &csvFile{id: x.run + "-" + name, sender: x.bic(i), date: x.date}
}

// upload sends a file in parts cut after line breaks (nparts of them, the last
// with the signature) and must succeed.
func (x *g) upload(who c, f *csvFile, body []byte, sig string, nparts int) map[string]any {
	x.t.Helper()
	parts := cut(body, nparts)
	var out map[string]any
	for i, p := range parts {
		s := ""
		if i == len(parts)-1 {
			s = sig
		}
		out = who.ok("PutFilePart", x.cycle, f.sender, f.id, fmt.Sprint(i), string(p), s)
	}
	x.index(who, f.sender, f.id)
	return out
}

// index calls IndexFile on a verified file until all its entries are
// indexed, checking each call advances (the chaincode bounds a call by the
// bytes of id pages it writes, not by entries), and that one more call is
// answered already_indexed. A file the verifying part indexed whole (its ids
// fit beside the part) is already_indexed at once, its one index
// transaction the verifying one. It answers the number of calls.
func (x *g) index(who c, sender, id string) int {
	x.t.Helper()
	calls, prev := 0, 0
	for {
		out := who.ok("IndexFile", x.cycle, sender, id)
		n, entries := int(out["indexed"].(float64)), int(out["entries"].(float64))
		if out["status"] == "already_indexed" {
			if n != entries {
				x.t.Fatalf("IndexFile %s: already_indexed at %d of %d after %d calls", id, n, entries, calls)
			}
			// The file's state names each IndexFile transaction and the
			// range it indexed: contiguous, in order, covering the file.
			file := x.opc().query("GetFile", x.cycle, sender, id)
			txs, _ := file["indexTxs"].([]any)
			byVerify := calls == 0 && entries > 0
			if byVerify && (len(txs) != 1 || txs[0].(map[string]any)["txId"] != file["txId"]) {
				x.t.Fatalf("IndexFile %s: indexed before any call, but not by the verifying transaction %v: %v", id, file["txId"], txs)
			}
			if !byVerify && len(txs) != calls {
				x.t.Fatalf("IndexFile %s: %d calls, the file's state lists %d index transactions", id, calls, len(txs))
			}
			next := 0
			for _, v := range txs {
				m := v.(map[string]any)
				if int(m["start"].(float64)) != next || m["entries"].(float64) < 1 || m["txId"] == "" {
					x.t.Fatalf("IndexFile %s: index transactions %v are not contiguous from 0", id, txs)
				}
				next += int(m["entries"].(float64))
			}
			if next != entries {
				x.t.Fatalf("IndexFile %s: index transactions cover %d of %d entries", id, next, entries)
			}
			return calls
		}
		calls++
		if out["status"] != "indexed" || n <= prev || n > entries || calls > entries {
			x.t.Fatalf("IndexFile %s call %d: %v (before: %d indexed)", id, calls, out, prev)
		}
		prev = n
	}
}

// indexRefused verifies a one-part file, then its IndexFile must be refused
// with code: the ledger refuses the payments, not the file's signature.
func (x *g) indexRefused(code string, who c, sender, id string, body []byte, sig string) string {
	x.t.Helper()
	eq(x.t, "verified", who.ok("PutFilePart", x.cycle, sender, id, "0", string(body), sig)["status"], "verified")
	return who.refused(code, "IndexFile", x.cycle, sender, id)
}

// cut splits b after line breaks into at most n parts.
func cut(b []byte, n int) [][]byte {
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	per := (len(lines) + n - 1) / n
	var out [][]byte
	for i := 0; i < len(lines); i += per {
		out = append(out, []byte(strings.Join(lines[i:min(i+per, len(lines))], "")))
	}
	return out
}

func (x *g) newCycle() {
	y := 2100 + mrand.IntN(800)
	x.date = fmt.Sprintf("%04d-%02d-%02d", y, 1+mrand.IntN(12), 1+mrand.IntN(28))
	x.cycle = "C" + x.date
}

// RunGoverned is the contract test of the governed path (issue 11): every
// attack of "What was measured", and the ones an auditor tries next, each
// refused with its code, on a ledger that is not founded yet.
func RunGoverned(t *testing.T, l Governed) {
	run, _ := fresh()
	x := &g{t: t, l: l, op: l.Operator(), banks: l.Banks(), run: "G" + run[len(run)-8:], keys: map[string]signer{}}
	if len(x.banks) < 4 {
		t.Fatalf("the governed contract needs 4 bank orgs, got %d", len(x.banks))
	}
	x.newCycle()
	x.first = x.firstCycleFiles()
	// The steps, in order: each one's ledger state is the next one's start,
	// and on a real network the order of the transactions is the test's.
	for _, step := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"founding", x.foundLedger},
		{"legacy writes are closed or governed once founded", x.legacyClosed},
		{"admitting banks is the operator's", x.admitBank},
		{"caps: the operator sets, a bank only lowers its own", x.setCaps},
		{"keys are the bank admin's", x.registerKeys},
		{"declare", x.declareFirstCycle},
		{"parts", x.uploadInParts},
		{"the operator cannot forge a bank's file", x.cannotForge},
		{"bank B and C, one part each, ECDSA and Ed25519", x.uploadBAndC},
		{"settle", x.settleFirstCycle},
		{"the next cycle: ids, reversals, declarations", x.nextCycleRefusals},
		{"changing the operator needs a majority of active banks", x.changeOperator},
		{"a revoked key signs nothing", x.revokedKey},
		{"pacs.008 in parts cut inside a comment and a tag, a large CSV in many parts", x.largeFiles},
		{"pacs.007 reversals: a bank corrects only its own payments, by a reversing transaction", x.pacs007Reversals},
		{"late and deferred files settle in a later cycle, declared with their own date", x.lateFiles},
		{"ids fill and split the sender's id pages; a repeat from deep in them is refused", x.idPages},
		{"gridlock: two banks' caps cascade, the ledger defers what the domain does", x.gridlock},
	} {
		t.Run(step.name, func(t *testing.T) {
			x.t = t
			step.run(t)
		})
	}
}

// The four banks of the scenario, by index in x.banks: a, b and cc found
// the ledger, d is admitted later (cc, not c: c is a caller).
const a, b, cc, d = 0, 1, 2, 3

// largeCSV is as many payments as one governed file can hold on the real
// network: the part that completes a file writes all of its payments in
// one transaction, and BFT ordering (SmartBFT in this Fabric) takes at
// most 512,000 bytes a transaction, about 800 payments of a file.
const largeCSV = 500

// firstCycle is the first cycle's files: A's three payments, B's and C's
// one each, and a file in A's name that A never signs.
type firstCycle struct {
	fa, fb, fc, forged  *csvFile
	ba, bb, bc, bforged []byte
	files               string // the cycle's declaration
}

func (x *g) firstCycleFiles() *firstCycle {
	fa := x.file(a, "A1").pay(x.run+"-A-1", x.bic(b), 300000).pay(x.run+"-A-2", x.bic(cc), 200000).pay(x.run+"-A-3", x.bic(b), 100000)
	fb := x.file(b, "B1").pay(x.run+"-B-1", x.bic(a), 50000)
	fc := x.file(cc, "C1").pay(x.run+"-C-1", x.bic(a), 70000)
	forged := x.file(a, "A2").pay(x.run+"-A-9", x.bic(b), 4000000000000)
	ba, bb, bc, bforged := fa.bytes(), fb.bytes(), fc.bytes(), forged.bytes()
	files := js([]map[string]any{declared(fa, ba), declared(fb, bb), declared(fc, bc), declared(forged, bforged)})
	return &firstCycle{fa: fa, fb: fb, fc: fc, forged: forged, ba: ba, bb: bb, bc: bc, bforged: bforged, files: files}
}

// foundLedger is the founding: only the operator proposes, only the three
// founding banks approve, and nothing governed works before the last approval.
func (x *g) foundLedger(t *testing.T) {
	founding := js([]map[string]string{
		{"bic": x.bic(a), "mspId": x.banks[a].MSPID},
		{"bic": x.bic(b), "mspId": x.banks[b].MSPID},
		{"bic": x.bic(cc), "mspId": x.banks[cc].MSPID},
	})
	x.client(a).refused("NOT_FOUNDED", "DeclareCycle", x.cycle, "[]")
	x.client(b).refused("NOT_AUTHORIZED", "Found", x.op, founding)
	x.as(x.op, Client).refused("NOT_AUTHORIZED", "Found", x.op, founding)
	// A bank cannot found the ledger with itself as operator over the
	// others: it may propose, but the others never approve.
	x.admin(b).refused("GOVERNANCE", "Found", x.banks[b].MSPID, founding)
	x.as(x.op, Admin).refused("GOVERNANCE", "Found", x.op, js([]map[string]string{{"bic": x.bic(a), "mspId": x.banks[a].MSPID}}))
	x.as(x.op, Admin).refused("GOVERNANCE", "Found", x.op, js([]map[string]string{{"bic": x.bic(a), "mspId": x.banks[a].MSPID}, {"bic": x.bic(b), "mspId": x.op}}))
	// A branch of bank A under bank B's MSP (issue 11: "a branch BIC of an
	// existing bank mapped to another bank's MSP").
	x.as(x.op, Admin).refused("BANK_CONFLICT", "Found", x.op, js([]map[string]string{
		{"bic": x.bic(a), "mspId": x.banks[a].MSPID}, {"bic": x.bic(a) + "BR1", "mspId": x.banks[b].MSPID}, {"bic": x.bic(cc), "mspId": x.banks[cc].MSPID}}))
	x.as(x.op, Admin).refused("BAD_ARGS", "Found", x.op, `[{"bic":"`+x.bic(a)+`","bic":"`+x.bic(b)+`","mspId":"X"}]`)
	x.as(x.op, Admin).refused("BAD_ARGS", "Found", x.op, `[{"bic":"`+x.bic(a)+`","BIC":"`+x.bic(b)+`","mspId":"X"}]`)
	x.as(x.op, Admin).refused("BAD_ARGS", "Found", x.op, `[{"Bic":"`+x.bic(a)+`","mspId":"X"}]`)

	f := x.as(x.op, Admin).ok("Found", x.op, founding)
	id, _ := f["id"].(string)
	eq(t, "status", f["status"], "proposed")
	x.client(a).refused("NOT_AUTHORIZED", "ApproveFounding", id)
	x.as(x.op, Admin).refused("NOT_AUTHORIZED", "ApproveFounding", id)
	x.admin(d).refused("NOT_AUTHORIZED", "ApproveFounding", id) // not a founding bank
	eq(t, "status", x.admin(a).ok("ApproveFounding", id)["status"], "approved")
	eq(t, "status", x.admin(b).ok("ApproveFounding", id)["status"], "approved")
	x.client(a).refused("NOT_FOUNDED", "DeclareCycle", x.cycle, "[]")
	eq(t, "status", x.admin(cc).ok("ApproveFounding", id)["status"], "founded")
	x.as(x.op, Admin).refused("FOUNDED", "Found", x.op, founding)
	x.admin(a).refused("FOUNDED", "ApproveFounding", id)
	gv := x.opc().query("GetGovernance")
	eq(t, "operator", gv["operatorMsp"], x.op)
}

// legacyClosed checks that the legacy write path is closed once the ledger is
// founded, so that no payment bypasses the signed files.
func (x *g) legacyClosed(t *testing.T) {
	p := js([]payment{pay(x.bic(a), x.run+"-L1", x.bic(b), "4000000000000", "KRW")})
	// Issue 11: another bank's client recording a payment for a different bank.
	x.client(b).refused("FOUNDED", "RecordChunk", x.cycle, "c1", p)
	x.opc().refused("FOUNDED", "RecordChunk", x.cycle, "F."+x.bic(a)+"."+x.run+"-A1", p) // taking a file's chunk id
	x.client(b).refused("NOT_AUTHORIZED", "SettleCycle", x.cycle, "[]")
}

// admitBank admits the fourth bank: the operator's call only, and never a BIC
// or MSP that would alias another bank.
func (x *g) admitBank(t *testing.T) {
	x.admin(b).refused("NOT_AUTHORIZED", "RegisterBank", x.bic(d), x.banks[d].MSPID)
	x.client(b).refused("NOT_AUTHORIZED", "RegisterBank", x.bic(d), x.banks[d].MSPID)
	x.opc().refused("BANK_CONFLICT", "RegisterBank", x.bic(a)+"BR2", x.banks[b].MSPID)
	x.opc().refused("GOVERNANCE", "RegisterBank", x.bic(d), x.op)
	x.opc().refused("BANK_CONFLICT", "RegisterBank", x.bic(a), x.banks[b].MSPID)
	eq(t, "status", x.opc().ok("RegisterBank", x.bic(d), x.banks[d].MSPID)["status"], "registered")
	eq(t, "status", x.opc().ok("RegisterBank", x.bic(d), x.banks[d].MSPID)["status"], "already_registered")
}

// setCaps sets the caps: the operator sets any, a bank admin only lowers its
// own.
func (x *g) setCaps(t *testing.T) {
	x.client(b).refused("NOT_AUTHORIZED", "SetCap", x.bic(b), "KRW", "999999999999999999")
	x.admin(b).refused("NOT_AUTHORIZED", "SetCap", x.bic(b), "KRW", "1000") // no cap is zero: 1000 raises it
	x.admin(b).refused("NOT_AUTHORIZED", "SetCap", x.bic(a), "KRW", "0")    // another bank's cap
	for _, i := range []int{a, b, cc} {
		x.opc().ok("SetCap", x.bic(i), "KRW", "1000000")
	}
	x.admin(b).refused("NOT_AUTHORIZED", "SetCap", x.bic(b), "KRW", "2000000")
	eq(t, "cap", x.admin(b).ok("SetCap", x.bic(b), "KRW", "900000")["cap"], "900000")
	x.admin(b).refused("NOT_AUTHORIZED", "SetCap", x.bic(b), "KRW", "900000")
}

// registerKeys registers each founding bank's file-signing key, which only
// that bank's admin may do.
func (x *g) registerKeys(t *testing.T) {
	x.keys[x.bic(a)] = newECDSA(t, "a1")
	x.keys[x.bic(b)] = newECDSA(t, "b1")
	x.keys[x.bic(cc)] = newEd25519(t, "c1")
	ka := x.keys[x.bic(a)]
	x.admin(b).refused("NOT_AUTHORIZED", "RegisterKey", x.bic(a), "evil", x.keys[x.bic(b)].pem)
	x.client(a).refused("NOT_AUTHORIZED", "RegisterKey", x.bic(a), "a1", ka.pem)
	x.opc().refused("NOT_AUTHORIZED", "RegisterKey", x.bic(a), "a1", ka.pem)
	x.as(x.op, Admin).refused("NOT_AUTHORIZED", "RegisterKey", x.bic(a), "a1", ka.pem)
	x.admin(a).refused("INVALID_FIELD", "RegisterKey", x.bic(a), "bad", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
	for _, i := range []int{a, b, cc} {
		k := x.keys[x.bic(i)]
		eq(t, "status", x.admin(i).ok("RegisterKey", x.bic(i), k.label, k.pem)["status"], "registered")
	}
	x.admin(a).refused("KEY_CONFLICT", "RegisterKey", x.bic(a), "a1", x.keys[x.bic(b)].pem)
	x.admin(b).refused("NOT_AUTHORIZED", "RevokeKey", x.bic(a), "a1")
}

// declareFirstCycle declares the first cycle's files after the refusals of
// every bad declaration.
func (x *g) declareFirstCycle(t *testing.T) {
	fa, ba, files := x.first.fa, x.first.ba, x.first.files
	x.client(a).refused("NOT_AUTHORIZED", "DeclareCycle", x.cycle, files)
	x.admin(a).refused("NOT_AUTHORIZED", "DeclareCycle", x.cycle, files)
	x.opc().refused("INVALID_FIELD", "DeclareCycle", "cycle-1", files)
	x.opc().refused("INVALID_FIELD", "DeclareCycle", "C2026-02-30", files)
	x.opc().refused("UNKNOWN_BANK", "DeclareCycle", x.cycle, js([]map[string]any{{"sender": "ZZZZZZZZ", "fileId": "x", "format": "csv",
		"sha256": sha(nil), "entries": 0, "controlSum": "0"}}))
	x.opc().refused("DUPLICATE_FILE", "DeclareCycle", x.cycle, js([]map[string]any{declared(fa, ba), declared(fa, ba)}))
	x.opc().refused("BAD_ARGS", "DeclareCycle", x.cycle, strings.Replace(files, `"fileId"`, `"FileId"`, 1))
	eq(t, "status", x.opc().ok("DeclareCycle", x.cycle, files)["status"], "declared")
	eq(t, "status", x.opc().ok("DeclareCycle", x.cycle, files)["status"], "already_declared")
	x.opc().refused("CYCLE_DECLARED", "DeclareCycle", x.cycle, js([]map[string]any{declared(fa, ba)}))
}

// uploadInParts sends bank A's file in three parts with every out-of-order,
// foreign and forged part refused, then indexes it and reads the exact bytes
// back.
func (x *g) uploadInParts(t *testing.T) {
	fa, fb, ba := x.first.fa, x.first.fb, x.first.ba
	parts := cut(ba, 3)
	sigA := x.keys[x.bic(a)].sig(ba)
	// Another bank's client cannot send bank A's file, nor an undeclared one.
	x.client(b).refused("NOT_AUTHORIZED", "PutFilePart", x.cycle, fa.sender, fa.id, "0", string(parts[0]), "")
	x.admin(b).refused("NOT_AUTHORIZED", "PutFilePart", x.cycle, fa.sender, fa.id, "0", string(parts[0]), "")
	x.client(a).refused("NOT_DECLARED", "PutFilePart", x.cycle, fa.sender, x.run+"-A7", "0", string(parts[0]), "")
	x.client(a).refused("NOT_DECLARED", "PutFilePart", "C2999-12-31", fa.sender, fa.id, "0", string(parts[0]), "")
	x.client(a).refused("PART_ORDER", "PutFilePart", x.cycle, fa.sender, fa.id, "1", string(parts[1]), "")
	x.client(a).refused("PART_BOUNDARY", "PutFilePart", x.cycle, fa.sender, fa.id, "0", strings.TrimSuffix(string(parts[0]), "\n"), "")
	x.client(a).refused("INVALID_FIELD", "PutFilePart", x.cycle, fa.sender, fa.id, "00", string(parts[0]), "")
	x.client(a).ok("PutFilePart", x.cycle, fa.sender, fa.id, "0", string(parts[0]), "")
	eq(t, "retry", x.client(a).ok("PutFilePart", x.cycle, fa.sender, fa.id, "0", string(parts[0]), "")["status"], "already_stored")
	x.client(a).refused("PART_ORDER", "PutFilePart", x.cycle, fa.sender, fa.id, "0", string(parts[1]), "")
	x.opc().ok("PutFilePart", x.cycle, fa.sender, fa.id, "1", string(parts[1]), "") // the operator relays parts too
	// The last part: wrong bytes, a signature by another bank, a broken one.
	bad := string(parts[2]) + "\n"
	x.client(a).refused("DIGEST_MISMATCH", "PutFilePart", x.cycle, fa.sender, fa.id, "2", bad, sigA)
	x.client(a).refused("SIGNATURE", "PutFilePart", x.cycle, fa.sender, fa.id, "2", string(parts[2]), x.keys[x.bic(b)].sig(ba))
	x.client(a).refused("SIGNATURE", "PutFilePart", x.cycle, fa.sender, fa.id, "2", string(parts[2]), "not base64!")
	x.client(a).query("GetFile", x.cycle, fa.sender, fa.id) // still unverified
	settleRefused := x.opc().refused("CYCLE_INCOMPLETE", "SettleCycle", x.cycle)
	if !strings.Contains(settleRefused, fa.id) {
		t.Errorf("CYCLE_INCOMPLETE should name %s: %s", fa.id, settleRefused)
	}
	out := x.client(a).ok("PutFilePart", x.cycle, fa.sender, fa.id, "2", string(parts[2]), sigA)
	eq(t, "status", out["status"], "verified")
	eq(t, "key", out["keyLabel"], "a1")
	// A client that lost that answer sends the last part again: it is
	// told which transaction verified the file, and nothing changes.
	again := x.client(a).ok("PutFilePart", x.cycle, fa.sender, fa.id, "2", string(parts[2]), sigA)
	eq(t, "again", again["status"], "already_verified")
	eq(t, "verifying tx", again["txId"], out["txId"])
	x.client(a).refused("FILE_VERIFIED", "PutFilePart", x.cycle, fa.sender, fa.id, "2", string(parts[2])+"P\n", sigA)
	x.client(a).refused("FILE_VERIFIED", "PutFilePart", x.cycle, fa.sender, fa.id, "3", "P\n", sigA)
	// Its three ids fit beside the last part: the verifying transaction
	// indexed them (issue 18), so no IndexFile is needed; the cycle still
	// waits for B's and C's files.
	eq(t, "indexed by the verifying part", out["indexed"], 3)
	if msg := x.opc().refused("CYCLE_INCOMPLETE", "SettleCycle", x.cycle); strings.Contains(msg, fa.id) || !strings.Contains(msg, fb.id) {
		t.Errorf("CYCLE_INCOMPLETE should name %s, not %s: %s", fb.id, fa.id, msg)
	}
	// Another bank cannot index A's file; A (or the operator) can.
	x.client(b).refused("NOT_AUTHORIZED", "IndexFile", x.cycle, fa.sender, fa.id)
	x.admin(b).refused("NOT_AUTHORIZED", "IndexFile", x.cycle, fa.sender, fa.id)
	x.client(a).refused("NOT_DECLARED", "IndexFile", x.cycle, fa.sender, x.run+"-A7")
	x.client(b).refused("PART_ORDER", "IndexFile", x.cycle, fb.sender, fb.id) // not verified yet
	eq(t, "index calls", x.index(x.client(a), fa.sender, fa.id), 0)
	eq(t, "again", x.opc().ok("IndexFile", x.cycle, fa.sender, fa.id)["status"], "already_indexed")
	x.opc().refused("FILE_VERIFIED", "DropFile", x.cycle, fa.sender, fa.id, "no")
	x.opc().refused("FILE_VERIFIED", "ResetFile", x.cycle, fa.sender, fa.id)
	// What the ledger holds is the bank's exact bytes, part by part.
	var whole []byte
	for i := range 3 {
		part := x.client(cc).query("GetFilePart", x.cycle, fa.sender, fa.id, fmt.Sprint(i))
		raw, err := base64.StdEncoding.DecodeString(part["bytes"].(string))
		if err != nil {
			t.Fatal(err)
		}
		whole = append(whole, raw...)
	}
	if string(whole) != string(ba) {
		t.Errorf("the stored parts are not the file:\n%s", whole)
	}
	dv := x.client(cc).query("GetDeclared", x.cycle)
	st := dv["status"].([]any)[0].(map[string]any)
	eq(t, "declared status", st["status"], "verified")
	p := x.opc().query("GetPayment", fa.sender, x.run+"-A-2")
	eq(t, "creditor", p["creditor"], x.bic(cc))
	eq(t, "file", p["fileSha256"], sha(ba))
}

// cannotForge checks that a file the operator declared but its sender did not
// sign is never verified; the operator drops it.
func (x *g) cannotForge(t *testing.T) {
	forged, bforged := x.first.forged, x.first.bforged
	// Declared by the operator with its digest, but signed by bank B, not A.
	x.opc().refused("SIGNATURE", "PutFilePart", x.cycle, forged.sender, forged.id, "0", string(bforged), x.keys[x.bic(b)].sig(bforged))
	x.opc().refused("SIGNATURE", "PutFilePart", x.cycle, forged.sender, forged.id, "0", string(bforged), x.keys[x.bic(cc)].sig(bforged))
	x.client(b).refused("NOT_AUTHORIZED", "DropFile", x.cycle, forged.sender, forged.id, "x")
	x.opc().refused("INVALID_FIELD", "DropFile", x.cycle, forged.sender, forged.id, "")
	eq(t, "status", x.opc().ok("DropFile", x.cycle, forged.sender, forged.id, "not signed by its sender")["status"], "dropped")
	x.opc().refused("FILE_VERIFIED", "PutFilePart", x.cycle, forged.sender, forged.id, "0", string(bforged), x.keys[x.bic(a)].sig(bforged))
	x.opc().notFound("GetPayment", forged.sender, x.run+"-A-9")
}

// uploadBAndC uploads bank B's (ECDSA) and bank C's (Ed25519) files, one part
// each.
func (x *g) uploadBAndC(t *testing.T) {
	fb, fc, bb, bc := x.first.fb, x.first.fc, x.first.bb, x.first.bc
	x.upload(x.client(b), fb, bb, x.keys[x.bic(b)].sig(bb), 1)
	x.client(cc).refused("SIGNATURE", "PutFilePart", x.cycle, fc.sender, fc.id, "0", string(bc), x.keys[x.bic(a)].sig(bc))
	x.upload(x.client(cc), fc, bc, x.keys[x.bic(cc)].sig(bc), 1)
}

// settleFirstCycle settles the first cycle: held over a cap, refused on wrong
// positions, then settled once and answered already_settled.
func (x *g) settleFirstCycle(t *testing.T) {
	forged := x.first.forged
	x.client(a).refused("NOT_AUTHORIZED", "SettleCycle", x.cycle)
	x.admin(a).refused("NOT_AUTHORIZED", "SettleCycle", x.cycle)
	// A is a net debtor of 600000 - 120000 = 480000; lower its cap below.
	x.admin(a).ok("SetCap", x.bic(a), "KRW", "400000")
	msg := x.opc().refused("CAP_EXCEEDED", "SettleCycle", x.cycle)
	if !strings.Contains(msg, x.bic(a)) {
		t.Errorf("CAP_EXCEEDED should name %s: %s", x.bic(a), msg)
	}
	x.opc().ok("SetCap", x.bic(a), "KRW", "480000")
	x.opc().refused("POSITIONS_MISMATCH", "SettleCycle", x.cycle, js([]position{{x.bic(a), "KRW", "-1"}, {x.bic(b), "KRW", "1"}}))
	want := []position{{x.bic(a), "KRW", "-480000"}, {x.bic(b), "KRW", "350000"}, {x.bic(cc), "KRW", "130000"}}
	out := x.opc().ok("SettleCycle", x.cycle, js(want))
	eq(t, "outcome", out["outcome"], "settled")
	eq(t, "net A", netOf(t, out)[x.bic(a)+" KRW"], "-480000")
	eq(t, "again", x.opc().ok("SettleCycle", x.cycle)["outcome"], "already_settled")
	x.client(a).refused("CYCLE_SETTLED", "PutFilePart", x.cycle, forged.sender, forged.id, "0", "x", "")
}

// nextCycleRefusals is the second cycle: the files whose payments the ledger
// refuses (another bank's reversal, pre-claimed ids, a reused id, another day,
// a lying declaration) and a bank's own reversal, which settles.
func (x *g) nextCycleRefusals(t *testing.T) {
	fa, ba := x.first.fa, x.first.ba
	prev := x.cycle
	x.newCycle()
	for x.cycle == prev {
		x.newCycle()
	}
	// Bank B reversing bank A's settled payment; B pre-claiming ids in A's
	// name (debtor A); A reusing a settled id; the file of another day.
	revOther := x.file(b, "B2").rev(x.run+"-B-R1", x.run+"-A-1", x.bic(a), 300000)
	revOther2 := x.file(b, "B4")
	revOther2.records = append(revOther2.records, fmt.Sprintf("R,%s,%s,%s,%s,300000,KRW,AM05", x.run+"-B-R2", x.run+"-A-1", x.bic(a), x.bic(b)))
	revOther2.sum, revOther2.count = 300000, 1
	preclaim := x.file(b, "B3").rawPay(x.run+"-A-100", x.bic(a), x.bic(b), 1)
	dup := x.file(a, "A3").pay(x.run+"-A-1", x.bic(b), 300000)
	otherDay := &csvFile{id: x.run + "-A4", sender: x.bic(a), date: "2099-01-01"}
	otherDay.pay(x.run+"-A-40", x.bic(b), 10)
	good := x.file(a, "A5").rev(x.run+"-A-R1", x.run+"-A-1", x.bic(b), 300000)
	lying := x.file(cc, "C2").pay(x.run+"-C-2", x.bic(b), 10)
	bodies := map[*csvFile][]byte{}
	var decl []map[string]any
	for _, f := range []*csvFile{revOther, revOther2, preclaim, dup, otherDay, good, lying} {
		bodies[f] = f.bytes()
		decl = append(decl, declared(f, bodies[f]))
	}
	decl[len(decl)-1]["entries"] = 2 // the operator's declaration and the file disagree
	x.opc().refused("DUPLICATE_FILE", "DeclareCycle", x.cycle, js([]map[string]any{declared(fa, ba)}))
	x.opc().ok("DeclareCycle", x.cycle, js(decl))
	try := func(code string, f *csvFile, i int) {
		t.Helper()
		msg := x.client(i).refused(code, "PutFilePart", x.cycle, f.sender, f.id, "0", string(bodies[f]), x.keys[f.sender].sig(bodies[f]))
		t.Logf("%s: %s", f.id, msg)
	}
	// A signed, well-formed file whose payments the ledger refuses is
	// verified, then refused at its IndexFile.
	tryIndex := func(code string, f *csvFile, i int) {
		t.Helper()
		msg := x.indexRefused(code, x.client(i), f.sender, f.id, bodies[f], x.keys[f.sender].sig(bodies[f]))
		t.Logf("%s: %s", f.id, msg)
	}
	tryIndex("REVERSAL_INVALID", revOther, b)
	try("FILE_REJECTED", revOther2, b)
	try("FILE_REJECTED", preclaim, b)
	tryIndex("DUPLICATE_PAYMENT", dup, a)
	x.opc().notFound("GetPayment", dup.sender, x.run+"-A-1-none")
	try("DECLARED_MISMATCH", otherDay, a)
	try("DECLARED_MISMATCH", lying, cc)
	x.upload(x.client(a), good, bodies[good], x.keys[x.bic(a)].sig(bodies[good]), 1)
	x.opc().refused("CYCLE_INCOMPLETE", "SettleCycle", x.cycle)
	for _, f := range []*csvFile{revOther, revOther2, preclaim, dup, otherDay, lying} {
		x.opc().ok("DropFile", x.cycle, f.sender, f.id, "refused by the ledger")
	}
	// The reversal moves 300000 back from B to A; B's cap is 900000.
	out := x.opc().ok("SettleCycle", x.cycle)
	eq(t, "net B", netOf(t, out)[x.bic(b)+" KRW"], "-300000")
	chain := x.opc().query("GetReversalChain", x.bic(a), x.run+"-A-1")
	if chain["reversal"] == nil {
		t.Errorf("A-1 should be reversed: %v", chain)
	}
}

// changeOperator votes a new operator in: a majority of active banks, one vote
// each; the old operator loses its powers at once.
func (x *g) changeOperator(t *testing.T) {
	newOp := x.banks[d].MSPID + "-operator"
	if s, ok := x.l.(Successor); ok {
		newOp = s.NextOperator()
	}
	x.opc().refused("NOT_AUTHORIZED", "ProposeOperator", newOp)
	x.as(x.op, Admin).refused("NOT_AUTHORIZED", "ProposeOperator", newOp)
	x.client(a).refused("NOT_AUTHORIZED", "ProposeOperator", newOp)
	x.admin(d).refused("NOT_AUTHORIZED", "ProposeOperator", newOp) // admitted, but no key yet: not active
	x.admin(a).refused("GOVERNANCE", "ProposeOperator", x.banks[b].MSPID)
	p := x.admin(a).ok("ProposeOperator", newOp)
	eq(t, "status", p["status"], "proposed")
	id, _ := p["id"].(string)
	x.client(b).refused("NOT_AUTHORIZED", "ApproveProposal", id)
	x.opc().refused("NOT_AUTHORIZED", "ApproveProposal", id)
	eq(t, "again", x.admin(a).ok("ApproveProposal", id)["status"], "proposed") // one bank, one vote
	eq(t, "majority", x.admin(b).ok("ApproveProposal", id)["status"], "operator_changed")
	x.admin(cc).refused("GOVERNANCE", "ApproveProposal", id)
	eq(t, "operator", x.opc().query("GetGovernance")["operatorMsp"], newOp)
	hist, err := x.l.As(newOp, Client).Evaluate(t, "GetHistory", "gov/state")
	if err != nil || !strings.Contains(string(hist), `"operatorMsp":"`+newOp+`"`) || !strings.Contains(string(hist), `"operatorMsp":"`+x.op+`"`) {
		t.Errorf("the history of gov/state shows both operators: %s %v", hist, err)
	}
	x.newCycle()
	x.opc().refused("NOT_AUTHORIZED", "DeclareCycle", x.cycle, "[]")
	x.opc().refused("NOT_AUTHORIZED", "SetCap", x.bic(a), "KRW", "999999999")
	x.as(newOp, Client).ok("DeclareCycle", x.cycle, "[]")
	x.op = newOp
}

// revokedKey checks that a revoked key verifies no file, and that the bank's
// next key does.
func (x *g) revokedKey(t *testing.T) {
	x.admin(a).ok("RevokeKey", x.bic(a), "a1")
	eq(t, "again", x.admin(a).ok("RevokeKey", x.bic(a), "a1")["status"], "already_revoked")
	x.admin(a).refused("KEY_CONFLICT", "RegisterKey", x.bic(a), "a1", x.keys[x.bic(a)].pem)
	x.newCycle()
	f := x.file(a, "A6").pay(x.run+"-A-60", x.bic(b), 1)
	body := f.bytes()
	x.opc().ok("DeclareCycle", x.cycle, js([]map[string]any{declared(f, body)}))
	x.client(a).refused("SIGNATURE", "PutFilePart", x.cycle, f.sender, f.id, "0", string(body), x.keys[x.bic(a)].sig(body))
	k2 := newEd25519(t, "a2")
	x.admin(a).ok("RegisterKey", x.bic(a), "a2", k2.pem)
	x.client(a).refused("SIGNATURE", "PutFilePart", x.cycle, f.sender, f.id, "0", string(body), x.keys[x.bic(a)].sig(body))
	out := x.client(a).ok("PutFilePart", x.cycle, f.sender, f.id, "0", string(body), k2.sig(body))
	eq(t, "key", out["keyLabel"], "a2")
	x.keys[x.bic(a)] = k2
}

// idPages fills bank A's id pages with ids in sequence (even numbers, more
// than a page holds), then with ids between them (odd ones), so pages are
// cut from the last page and from the middle; every id is found where it
// was indexed, an id never sent is not, and a file repeating one of the
// first file's ids from the middle of its pages is refused, naming the file
// that holds it. The listings answer the files' payments.
func (x *g) idPages(t *testing.T) {
	x.newCycle()
	even, odd := x.file(a, "S1"), x.file(a, "S2")
	for i := 0; i < 1400; i += 2 {
		even.pay(fmt.Sprintf("%s-S-%05d", x.run, i), x.bic(b), 1)
	}
	for i := 1; i < 1400; i += 4 {
		odd.pay(fmt.Sprintf("%s-S-%05d", x.run, i), x.bic(b), 2)
	}
	repeat := x.file(a, "S3").pay(x.run+"-S-99999", x.bic(b), 1).pay(fmt.Sprintf("%s-S-%05d", x.run, 700), x.bic(b), 1)
	files := []*csvFile{even, odd, repeat}
	bodies := map[*csvFile][]byte{}
	var decl []map[string]any
	for _, f := range files {
		bodies[f] = f.bytes()
		decl = append(decl, declared(f, bodies[f]))
	}
	x.opc().ok("DeclareCycle", x.cycle, js(decl))
	sig := func(f *csvFile) string { return x.keys[f.sender].sig(bodies[f]) }
	x.upload(x.client(a), even, bodies[even], sig(even), 3)
	x.upload(x.client(a), odd, bodies[odd], sig(odd), 2)
	msg := x.indexRefused("DUPLICATE_PAYMENT", x.client(a), repeat.sender, repeat.id, bodies[repeat], sig(repeat))
	if !strings.Contains(msg, fmt.Sprintf("%s-S-00700", x.run)) || !strings.Contains(msg, even.id) {
		t.Fatalf("the repeat's refusal does not name the id and the file that holds it: %s", msg)
	}
	x.opc().ok("DropFile", x.cycle, repeat.sender, repeat.id, "a repeated payment id")
	for _, i := range []int{0, 1, 5, 698, 700, 1397, 1398} {
		want := map[bool]string{true: "1", false: "2"}[i%2 == 0]
		eq(t, fmt.Sprintf("payment %d", i), x.opc().query("GetPayment", x.bic(a), fmt.Sprintf("%s-S-%05d", x.run, i))["amount"], want)
	}
	for _, i := range []int{3, 699, 1399, 99999} {
		x.opc().notFound("GetPayment", x.bic(a), fmt.Sprintf("%s-S-%05d", x.run, i))
	}
	fp := x.opc().query("GetFilePayments", x.cycle, x.bic(a), odd.id)
	pays, _ := fp["payments"].([]any)
	if len(pays) != odd.count || pays[0].(map[string]any)["id"] != fmt.Sprintf("%s-S-%05d", x.run, 1) || pays[0].(map[string]any)["txId"] == "" {
		t.Fatalf("GetFilePayments %s: %d payments, first %v", odd.id, len(pays), pays[:min(1, len(pays))])
	}
	page := x.opc().query("GetCyclePayments", x.cycle, "", "3")
	first, _ := page["payments"].([]any)
	if len(first) != 3 || first[1].(map[string]any)["id"] != fmt.Sprintf("%s-S-%05d", x.run, 1) || page["bookmark"] == "" {
		t.Fatalf("GetCyclePayments of a declared cycle: %v", page)
	}
	res := x.opc().ok("SettleCycle", x.cycle)
	eq(t, "payments", res["payments"], even.count+odd.count)
	eq(t, "net A", netOf(t, res)[x.bic(a)+" KRW"], fmt.Sprint(-(even.sum + odd.sum)))
}

// largeFiles settles a pacs.008 file cut inside a comment and a tag, and a CSV
// of largeCSV payments in seven parts. It keeps the pacs.008 payments (x.xp)
// for pacs007Reversals.
func (x *g) largeFiles(t *testing.T) {
	x.newCycle()
	created := time.Date(2026, 11, 24, 17, 45, 0, 0, time.UTC)
	var xp, cp []gen.Payment
	for i := range 40 {
		xp = append(xp, gen.Payment{ID: fmt.Sprintf("%s-X-%d", x.run, i), Debtor: settlement.BIC(x.bic(b)), Creditor: settlement.BIC(x.bic(a)), Amount: "1000", Currency: "KRW"})
	}
	for i := range largeCSV {
		cp = append(cp, gen.Payment{ID: fmt.Sprintf("%s-L-%d", x.run, i), Debtor: settlement.BIC(x.bic(a)), Creditor: settlement.BIC(x.bic(1 + i%2)),
			Amount: fmt.Sprint(1 + i), Currency: "KRW", Remittance: "INV " + strings.Repeat("x", i%40)})
	}
	var xb, cb bytes.Buffer
	if err := gen.WriteXML(&xb, x.run+"-X1", settlement.BIC(x.bic(b)), settlement.Date(x.date), created, xp); err != nil {
		t.Fatal(err)
	}
	// A bank's odd XML: a comment holding a whole transaction's markup
	// before the first transaction. Cut inside that comment, and again
	// in the middle of a tag, the parts must still mean the file: 40
	// payments, not 41, and none lost at a cut.
	first := bytes.Index(xb.Bytes(), []byte("<CdtTrfTxInf>"))
	comment := []byte("<!-- not a payment: <CdtTrfTxInf><PmtId><EndToEndId>" + x.run + "-X-99</EndToEndId></PmtId></CdtTrfTxInf> -->\n")
	odd := append(append(append([]byte{}, xb.Bytes()[:first]...), comment...), xb.Bytes()[first:]...)
	xb.Reset()
	xb.Write(odd)
	cutInComment := first + len(comment)/2
	cutInTag := bytes.Index(xb.Bytes()[xb.Len()/2:], []byte("<CdtTrfTxInf>")) + xb.Len()/2 + 4
	if err := gen.WriteCSV(&cb, x.run+"-L1", settlement.BIC(x.bic(a)), settlement.Date(x.date), created, cp); err != nil {
		t.Fatal(err)
	}
	sumL := 0
	for i := range largeCSV {
		sumL += 1 + i
	}
	decl := js([]map[string]any{
		{"sender": x.bic(b), "fileId": x.run + "-X1", "format": "pacs.008", "sha256": sha(xb.Bytes()), "entries": 40, "controlSum": "40000"},
		{"sender": x.bic(a), "fileId": x.run + "-L1", "format": "csv", "sha256": sha(cb.Bytes()), "entries": largeCSV, "controlSum": fmt.Sprint(sumL)},
	})
	x.opc().ok("DeclareCycle", x.cycle, decl)
	xparts := [][]byte{xb.Bytes()[:cutInComment], xb.Bytes()[cutInComment:cutInTag], xb.Bytes()[cutInTag:]}
	eq(t, "xml part 0", x.client(b).ok("PutFilePart", x.cycle, x.bic(b), x.run+"-X1", "0", string(xparts[0]), "")["status"], "stored")
	eq(t, "xml part 1", x.client(b).ok("PutFilePart", x.cycle, x.bic(b), x.run+"-X1", "1", string(xparts[1]), "")["status"], "stored")
	out := x.client(b).ok("PutFilePart", x.cycle, x.bic(b), x.run+"-X1", "2", string(xparts[2]), x.keys[x.bic(b)].sig(xb.Bytes()))
	eq(t, "xml", out["status"], "verified")
	eq(t, "xml parts", out["parts"], 3)
	eq(t, "xml index calls", x.index(x.client(b), x.bic(b), x.run+"-X1"), 0) // the verifying part indexed it
	x.opc().notFound("GetPayment", x.bic(b), x.run+"-X-99")
	for _, i := range []int{0, 20, 39} {
		eq(t, "xml payment", x.opc().query("GetPayment", x.bic(b), fmt.Sprintf("%s-X-%d", x.run, i))["amount"], "1000")
	}
	lf := &csvFile{id: x.run + "-L1", sender: x.bic(a), date: x.date}
	out = x.upload(x.client(a), lf, cb.Bytes(), x.keys[x.bic(a)].sig(cb.Bytes()), 7) // Ed25519 over 7 parts
	eq(t, "csv", out["status"], "verified")
	eq(t, "parts", out["parts"], 7)
	eq(t, "csv indexed", x.opc().query("GetFile", x.cycle, x.bic(a), x.run+"-L1")["indexed"], largeCSV)
	x.as(x.op, Client).ok("SetCap", x.bic(a), "KRW", "999999999999")
	res := x.as(x.op, Client).ok("SettleCycle", x.cycle)
	eq(t, "payments", res["payments"], largeCSV+40)
	eq(t, "net A", netOf(t, res)[x.bic(a)+" KRW"], fmt.Sprint(40000-sumL))
	x.xp, x.xDate = xp, x.date
}

// pacs007Reversals reverses largeFiles' settled pacs.008 payments: a bank only
// its own, each original once, and both stay visible.
func (x *g) pacs007Reversals(t *testing.T) {
	if x.xp == nil {
		t.Skip("needs the settled pacs.008 of the subtest before")
	}
	x.newCycle()
	for x.cycle <= "C"+x.xDate {
		x.newCycle()
	}
	created := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	rev := func(id, sender string, rs []gen.Reversal) ([]byte, map[string]any) {
		var b bytes.Buffer
		if err := gen.WriteReversals(&b, id, settlement.BIC(sender), settlement.Date(x.date), created, rs); err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, r := range rs {
			var n int
			fmt.Sscan(r.Original.Amount, &n)
			sum += n
		}
		return b.Bytes(), map[string]any{"sender": sender, "fileId": id, "format": "pacs.007", "sha256": sha(b.Bytes()), "entries": len(rs), "controlSum": fmt.Sprint(sum)}
	}
	// B reverses two of its own settled payments (B paid A 1000 each).
	own, dOwn := rev(x.run+"-V1", x.bic(b), []gen.Reversal{{ID: x.run + "-RV-1", Original: x.xp[0], Reason: "AM05"}, {ID: x.run + "-RV-2", Original: x.xp[1], Reason: "AM09"}})
	// A "reverses" B's payment to it: the ledger has no such payment of A's.
	theirs, dTheirs := rev(x.run+"-V2", x.bic(a), []gen.Reversal{{ID: x.run + "-RV-3", Original: gen.Payment{ID: x.xp[2].ID, Debtor: settlement.BIC(x.bic(a)), Creditor: x.xp[2].Debtor, Amount: "1000", Currency: "KRW"}, Reason: "AM05"}})
	// B reverses the first one again, in a file of its own.
	again, dAgain := rev(x.run+"-V3", x.bic(b), []gen.Reversal{{ID: x.run + "-RV-4", Original: x.xp[0], Reason: "AM05"}})
	// Declared as pacs.008: the parser reads pacs.007.
	wrongMsg, dWrong := rev(x.run+"-V4", x.bic(b), []gen.Reversal{{ID: x.run + "-RV-5", Original: x.xp[3], Reason: "AM05"}})
	dWrong["format"] = "pacs.008"
	x.opc().ok("DeclareCycle", x.cycle, js([]map[string]any{dOwn, dTheirs, dAgain, dWrong}))
	x.indexRefused("REVERSAL_INVALID", x.client(a), x.bic(a), x.run+"-V2", theirs, x.keys[x.bic(a)].sig(theirs))
	x.client(b).refused("DECLARED_MISMATCH", "PutFilePart", x.cycle, x.bic(b), x.run+"-V4", "0", string(wrongMsg), x.keys[x.bic(b)].sig(wrongMsg))
	out := x.client(b).ok("PutFilePart", x.cycle, x.bic(b), x.run+"-V1", "0", string(own), x.keys[x.bic(b)].sig(own))
	eq(t, "status", out["status"], "verified")
	eq(t, "message", out["message"], "pacs.007.001.09")
	x.index(x.client(b), x.bic(b), x.run+"-V1")
	// The same original twice: the first reversal is not settled yet, but
	// it is on the ledger, so a second one is refused.
	x.indexRefused("REVERSAL_INVALID", x.client(b), x.bic(b), x.run+"-V3", again, x.keys[x.bic(b)].sig(again))
	for _, id := range []string{x.run + "-V2", x.run + "-V3", x.run + "-V4"} {
		x.opc().ok("DropFile", x.cycle, settleSender(id, x.bic(a), x.bic(b)), id, "refused by the ledger")
	}
	x.opc().ok("SetCap", x.bic(a), "KRW", "999999999999")
	res := x.opc().ok("SettleCycle", x.cycle)
	eq(t, "net A", netOf(t, res)[x.bic(a)+" KRW"], "-2000")
	eq(t, "net B", netOf(t, res)[x.bic(b)+" KRW"], "2000")
	// Both stay visible: the original payment unchanged, the reversal
	// pointing at it.
	orig := x.opc().query("GetPayment", x.bic(b), x.xp[0].ID)
	eq(t, "original amount", orig["amount"], "1000")
	eq(t, "original kind", orig["kind"], "P")
	chain := x.opc().query("GetReversalChain", x.bic(b), x.xp[0].ID)
	if chain["reversal"] == nil {
		t.Errorf("%s should be reversed: %v", x.xp[0].ID, chain)
	}
	r := x.opc().query("GetPayment", x.bic(b), x.run+"-RV-1")
	eq(t, "reversal kind", r["kind"], "R")
	eq(t, "reversal points at", r["originalId"], x.xp[0].ID)
}

// lateFiles settles a late file in a later cycle, declared with its own
// business date, within the limits of how late and never after the cycle.
func (x *g) lateFiles(t *testing.T) {
	prev := x.date
	x.newCycle()
	for x.date <= prev {
		x.newCycle()
	}
	day := func(d string, n int) string {
		v, _ := time.Parse(time.DateOnly, d)
		return v.AddDate(0, 0, n).Format(time.DateOnly)
	}
	late := &csvFile{id: x.run + "-D1", sender: x.bic(cc), date: day(x.date, -3)}
	late.pay(x.run+"-D-1", x.bic(a), 500)
	body := late.bytes()
	dl := declared(late, body)
	// Without its own date the file is not what the freeze names.
	x.opc().ok("DeclareCycle", x.cycle, js([]map[string]any{dl}))
	x.client(cc).refused("DECLARED_MISMATCH", "PutFilePart", x.cycle, late.sender, late.id, "0", string(body), x.keys[x.bic(cc)].sig(body))
	x.opc().ok("DropFile", x.cycle, late.sender, late.id, "declared without its business date")
	x.opc().ok("SettleCycle", x.cycle)
	// A file id is once for all time, so the bank sends it again under a new one.
	late.id = x.run + "-D2"
	body = late.bytes()
	prev = x.date
	x.newCycle()
	for x.date <= prev {
		x.newCycle()
	}
	late.date = day(x.date, -2)
	late.records = nil
	late.sum, late.count = 0, 0
	late.pay(x.run+"-D-2", x.bic(a), 500)
	body = late.bytes()
	dl = declared(late, body)
	after := map[string]any{}
	for k, v := range dl {
		after[k] = v
	}
	after["businessDate"] = day(x.date, 1)
	x.opc().refused("INVALID_FIELD", "DeclareCycle", x.cycle, js([]map[string]any{after}))
	after["businessDate"] = day(x.date, -400)
	x.opc().refused("LIMIT", "DeclareCycle", x.cycle, js([]map[string]any{after}))
	dl["businessDate"] = late.date
	x.opc().ok("DeclareCycle", x.cycle, js([]map[string]any{dl}))
	dv := x.opc().query("GetDeclared", x.cycle)
	eq(t, "declared date", dv["files"].([]any)[0].(map[string]any)["businessDate"], late.date)
	out := x.client(cc).ok("PutFilePart", x.cycle, late.sender, late.id, "0", string(body), x.keys[x.bic(cc)].sig(body))
	eq(t, "status", out["status"], "verified")
	x.index(x.client(cc), late.sender, late.id)
	x.opc().ok("SetCap", x.bic(cc), "KRW", "1000000")
	res := x.opc().ok("SettleCycle", x.cycle)
	eq(t, "net C", netOf(t, res)[x.bic(cc)+" KRW"], "-500")
}

// settleSender is the sender of the pacs.007 files of the reversal subtest:
// V2 is A's, the others B's.
func settleSender(id, a, b string) string {
	if strings.HasSuffix(id, "-V2") {
		return a
	}
	return b
}

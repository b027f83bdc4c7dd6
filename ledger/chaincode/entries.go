package chaincode

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// keyEntries holds an indexed range's payments in a compact form, written
// with the range's id pages and chunk record: [cycle id, chunk id] -> the
// entries (encodeEntries). A reversal's check, GetPayment and
// GetFilePayments read a payment back from it instead of parsing its
// file's stored bytes again, which for a pacs.007 naming payments in 200
// files of 5,000 made every endorser parse a million payments.
//
// It is derived from the verified bytes by the same endorsed code that
// writes the index. Read whole (GetFilePayments), the payments it gives
// must hash to the chunk record's ContentSHA256; a single payment's
// lookup checks its id (noHashCheck). It is not compressed:
// every endorser must write the same bytes, and a deflate stream's bytes
// depend on the compressor's version, which the banks' builds of the
// chaincode need not share.
const keyEntries = "entries"

const entriesMagic = "settle-entries 1"

// encodeEntries writes a range's payments, in order:
//
//	settle-entries 1
//	PARTY\tPARTY...           the debtors and creditors, first seen first
//	CCY\tCCY...               the currencies, first seen first
//	SHARED\tREST\tKIND\tD\tC\tCUR\tAMOUNT\tORIGINAL   one line an entry
//
// where the id is front-coded on the previous entry's (SHARED bytes of it,
// then REST), D, C and CUR are indexes into the header's lists and ORIGINAL
// is a reversal's original id (empty for a payment). No field can hold a
// tab or a line break (ids, BICs, currencies and amounts are checked when
// the file is read); one that does is an internal error.
func encodeEntries(pays []*Payment) ([]byte, error) {
	parties, cur := dict{}, dict{}
	for _, p := range pays {
		parties.add(p.Debtor)
		parties.add(p.Creditor)
		cur.add(p.Currency)
	}
	var b bytes.Buffer
	b.Grow(64 + 24*len(pays))
	b.WriteString(entriesMagic + "\n")
	b.WriteString(strings.Join(parties.list, "\t") + "\n")
	b.WriteString(strings.Join(cur.list, "\t") + "\n")
	prev := ""
	for _, p := range pays {
		for _, f := range []string{p.ID, p.Kind, p.Amount, p.OriginalID, p.Debtor, p.Creditor, p.Currency} {
			if strings.ContainsAny(f, "\t\n") {
				return nil, internal("payment %s/%s: a field holds a tab or a line break", p.Sender, printable(p.ID))
			}
		}
		n := sharedPrefix(prev, p.ID)
		b.WriteString(strconv.Itoa(n))
		b.WriteByte('\t')
		b.WriteString(p.ID[n:])
		b.WriteByte('\t')
		b.WriteString(p.Kind)
		b.WriteByte('\t')
		b.WriteString(strconv.Itoa(parties.at[p.Debtor]))
		b.WriteByte('\t')
		b.WriteString(strconv.Itoa(parties.at[p.Creditor]))
		b.WriteByte('\t')
		b.WriteString(strconv.Itoa(cur.at[p.Currency]))
		b.WriteByte('\t')
		b.WriteString(p.Amount)
		b.WriteByte('\t')
		b.WriteString(p.OriginalID)
		b.WriteByte('\n')
		prev = p.ID
	}
	return b.Bytes(), nil
}

// dict numbers strings in the order they are first added.
type dict struct {
	list []string
	at   map[string]int
}

func (d *dict) add(v string) {
	if d.at == nil {
		d.at = map[string]int{}
	}
	if _, ok := d.at[v]; !ok {
		d.at[v] = len(d.list)
		d.list = append(d.list, v)
	}
}

func sharedPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// decodeEntries reads the n entries of a range of st's file (chunk
// chunkID, recorded by tx) and, unless hash is noHashCheck, checks that
// they hash to the chunk record's content hash, hash.
func decodeEntries(b []byte, st *FileState, chunkID string, n int, tx, hash string) ([]*Payment, error) {
	bad := func(format string, a ...any) error {
		return internal("entries of %s/%s chunk %s: %s", st.Sender, st.FileID, chunkID, fmt.Sprintf(format, a...))
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) != n+4 || lines[0] != entriesMagic || lines[n+3] != "" {
		return nil, bad("not %d entries after the header", n)
	}
	parties := strings.Split(lines[1], "\t")
	cur := strings.Split(lines[2], "\t")
	pick := func(list []string, v string) (string, bool) {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= len(list) || list[i] == "" {
			return "", false
		}
		return list[i], true
	}
	pays := make([]*Payment, 0, n)
	prev := ""
	for i, line := range lines[3 : n+3] {
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			return nil, bad("entry %d has %d fields, not 8", i, len(f))
		}
		shared, err := strconv.Atoi(f[0])
		if err != nil || shared < 0 || shared > len(prev) || shared+len(f[1]) == 0 || shared+len(f[1]) > 35 {
			return nil, bad("entry %d: id prefix %q does not fit", i, printable(f[0]))
		}
		id := prev[:shared] + f[1]
		debtor, ok1 := pick(parties, f[3])
		creditor, ok2 := pick(parties, f[4])
		ccy, ok3 := pick(cur, f[5])
		if !ok1 || !ok2 || !ok3 || (f[2] != KindPayment && f[2] != KindReversal) || f[6] == "" {
			return nil, bad("entry %d (%s) is malformed", i, printable(id))
		}
		pays = append(pays, &Payment{Sender: st.Sender, ID: id, Kind: f[2], Debtor: debtor, Creditor: creditor,
			Amount: f[6], Currency: ccy, FileSHA256: st.SHA256, CycleID: st.CycleID, ChunkID: chunkID,
			OriginalID: f[7], TxID: tx})
		prev = id
	}
	if hash == noHashCheck {
		return pays, nil
	}
	if got := contentHash(st.CycleID, chunkID, pays); got != hash {
		return nil, bad("they hash to %s, the chunk record says %s", got, hash)
	}
	return pays, nil
}

// noHashCheck is decodeEntries' hash for a reader that looks up single
// payments (a reversal's original, GetPayment): the record is the
// endorsed write of the transaction that indexed the range, and hashing a
// whole range of 5,000 to find one payment made a file of 800 reversals
// of payments in 200 files hash a million payments on every endorser. A
// whole range read (GetFilePayments) is checked.
const noHashCheck = ""

// entriesRecord is what writeIndex writes for a range: its key and value.
type entriesRecord struct {
	key   string
	value []byte
}

func (e *entriesRecord) bytes() int { return len(e.key) + len(e.value) }

func newEntriesRecord(s Stub, cycleID, chunkID string, pays []*Payment) (*entriesRecord, error) {
	k, err := key(s, keyEntries, cycleID, chunkID)
	if err != nil {
		return nil, err
	}
	v, err := encodeEntries(pays)
	if err != nil {
		return nil, err
	}
	return &entriesRecord{key: k, value: v}, nil
}

package chaincode

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// historyMax bounds the entries GetHistory returns.
const historyMax = 1000

// cyclePaymentsPageMax bounds one page of GetCyclePayments (about 400 bytes a payment).
const cyclePaymentsPageMax = 5000

// CycleView is what GetCycle answers. Positions are the settled ones, or while the
// cycle is open, the running sum of its recorded chunks.
type CycleView struct {
	CycleID     string     `json:"cycleId"`
	Status      string     `json:"status"`
	Positions   []Position `json:"positions"`
	Chunks      []ChunkRef `json:"chunks"`
	Payments    int        `json:"payments"`
	SettledTxID string     `json:"settledTxId,omitempty"`
	// PositionsSHA256 is the fingerprint the settling transaction wrote
	// (settlement.PositionsSHA256 of Positions); empty while open.
	PositionsSHA256 string `json:"positionsSha256,omitempty"`
}

func getCycle(s Stub, cycleID string) ([]byte, error) {
	if err := checkID("cycleId", cycleID); err != nil {
		return nil, err
	}
	refs, payments, sum, err := cycleChunks(s, cycleID)
	if err != nil {
		return nil, err
	}
	cycles := cycleCache{s: s, seen: map[string]*Cycle{}}
	settled, err := cycles.get(cycleID)
	if err != nil {
		return nil, err
	}
	v := CycleView{CycleID: cycleID, Status: StatusOpen, Positions: sum.list(), Chunks: refs, Payments: payments}
	if settled != nil {
		v.Status, v.Positions, v.SettledTxID, v.PositionsSHA256 = StatusSettled, settled.Positions, settled.TxID, settled.PositionsSHA256
	} else if len(refs) == 0 {
		return nil, refuse(CodeNotFound, "cycle %s has no recorded chunks", cycleID)
	}
	if v.Chunks == nil {
		v.Chunks = []ChunkRef{}
	}
	return marshal(v)
}

// PaymentView is a payment's digest with the reversal that undid it, if any.
type PaymentView struct {
	Payment
	ReversedBy *Reversal `json:"reversedBy,omitempty"`
}

func readPayment(s Stub, senderArg, id string) (*PaymentView, error) {
	sender, err := normBIC("sender", senderArg)
	if err != nil {
		return nil, err
	}
	if err := checkPaymentID("paymentId", id); err != nil {
		return nil, err
	}
	p, found, err := newPaymentReader(s).find(sender, id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, refuse(CodeNotFound, "payment %s/%s is not on the ledger", sender, id)
	}
	v := PaymentView{Payment: *p}
	rk, err := key(s, keyReversal, sender, id)
	if err != nil {
		return nil, err
	}
	var r Reversal
	if f, err := getJSON(s, rk, &r); err != nil {
		return nil, err
	} else if f {
		v.ReversedBy = &r
	}
	return &v, nil
}

func getPayment(s Stub, sender, id string) ([]byte, error) {
	v, err := readPayment(s, sender, id)
	if err != nil {
		return nil, err
	}
	return marshal(v)
}

// ReversalChain is a payment and the reversal that undid it (nil if none).
type ReversalChain struct {
	Original *PaymentView `json:"original"`
	Reversal *PaymentView `json:"reversal"`
}

// getReversalChain answers original -> reversal, starting from either end.
func getReversalChain(s Stub, sender, id string) ([]byte, error) {
	v, err := readPayment(s, sender, id)
	if err != nil {
		return nil, err
	}
	var chain ReversalChain
	if v.Kind == KindReversal {
		chain.Reversal = v
		if chain.Original, err = readPayment(s, v.Sender, v.OriginalID); err != nil {
			return nil, internal("reversal %s/%s points at %s, which cannot be read: %v", v.Sender, v.ID, v.OriginalID, err)
		}
	} else {
		chain.Original = v
		if v.ReversedBy != nil {
			if chain.Reversal, err = readPayment(s, v.Sender, v.ReversedBy.ReversalID); err != nil {
				return nil, internal("payment %s/%s is marked reversed by %s, which cannot be read: %v", v.Sender, v.ID, v.ReversedBy.ReversalID, err)
			}
		}
	}
	return marshal(chain)
}

// HistoryEntry is one modification of a key.
type HistoryEntry struct {
	TxID      string          `json:"txId"`
	Timestamp string          `json:"timestamp"`
	IsDelete  bool            `json:"isDelete"`
	Value     json.RawMessage `json:"value,omitempty"`
}

// historyKey parses "type/attr/...": bank/BIC, cap/BIC/CCY, pay/SENDER/ID, rev/SENDER/ID,
// chunk/CYCLE/CHUNK, cycle/CYCLE. The last attribute takes the rest of the string
// (a payment id may contain '/').
func historyKey(s Stub, ref string) (string, error) {
	typ, rest, _ := strings.Cut(ref, "/")
	check := map[string][]func(string) (string, error){
		keyBank:     {bicAttr},
		keyCap:      {bicAttr, currencyAttr},
		keyPayment:  {bicAttr, paymentIDAttr},
		keyReversal: {bicAttr, paymentIDAttr},
		keyChunk:    {idAttr, idAttr},
		keyCycle:    {idAttr},
		// The governed path's keys, so an auditor can follow who changed them.
		keyGov:      {stateAttr},
		keyFounding: {idAttr},
		keyProposal: {idAttr},
		keySignKey:  {bicAttr, idAttr},
		keyDeclared: {idAttr},
		keyFile:     {idAttr, bicAttr, idAttr},
	}[typ]
	if check == nil {
		return "", refuse(CodeBadArgs, "key %q must start with bank/, cap/, pay/, rev/, chunk/, cycle/, gov/, founding/, proposal/, signkey/, declared/ or file/", clip(ref))
	}
	parts := strings.SplitN(rest, "/", len(check))
	if len(parts) != len(check) {
		return "", refuse(CodeBadArgs, "key %q: %s takes %d attributes", clip(ref), typ, len(check))
	}
	attrs := make([]string, len(parts))
	for i, p := range parts {
		a, err := check[i](p)
		if err != nil {
			return "", err
		}
		attrs[i] = a
	}
	return key(s, typ, attrs...)
}

func bicAttr(v string) (string, error) { return normBIC("key attribute", v) }
func currencyAttr(v string) (string, error) {
	_, err := checkCurrency("key attribute", v)
	return v, err
}
func paymentIDAttr(v string) (string, error) { return v, checkPaymentID("key attribute", v) }
func idAttr(v string) (string, error)        { return v, checkID("key attribute", v) }
func stateAttr(v string) (string, error) {
	if v != "state" {
		return "", refuse(CodeBadArgs, "key attribute %q: the governance key is gov/state", clip(v))
	}
	return v, nil
}

func getHistory(s Stub, ref string) ([]byte, error) {
	k, err := historyKey(s, ref)
	if err != nil {
		return nil, err
	}
	it, err := s.GetHistoryForKey(k)
	if err != nil {
		return nil, internal("history of %s: %v", ref, err)
	}
	defer it.Close()
	out := []HistoryEntry{}
	for it.HasNext() {
		m, err := it.Next()
		if err != nil {
			return nil, internal("history of %s: %v", ref, err)
		}
		if len(out) >= historyMax {
			return nil, refuse(CodeLimit, "key %s has more than %d modifications", ref, historyMax)
		}
		e := HistoryEntry{TxID: m.GetTxId(), IsDelete: m.GetIsDelete()}
		if ts := m.GetTimestamp(); ts != nil {
			e.Timestamp = ts.AsTime().UTC().Format(time.RFC3339Nano)
		}
		if !m.GetIsDelete() && json.Valid(m.GetValue()) {
			e.Value = m.GetValue()
		}
		out = append(out, e)
	}
	return marshal(out)
}

func getBank(s Stub, bicArg string) ([]byte, error) {
	bic, err := normBIC("bic", bicArg)
	if err != nil {
		return nil, err
	}
	k, err := key(s, keyBank, bic)
	if err != nil {
		return nil, err
	}
	var b Bank
	if found, err := getJSON(s, k, &b); err != nil {
		return nil, err
	} else if !found {
		return nil, refuse(CodeNotFound, "bank %s is not registered", bic)
	}
	return marshal(b)
}

func getCap(s Stub, bicArg, currency string) ([]byte, error) {
	bic, err := normBIC("bic", bicArg)
	if err != nil {
		return nil, err
	}
	if _, err := checkCurrency("currency", currency); err != nil {
		return nil, err
	}
	k, err := key(s, keyCap, bic, currency)
	if err != nil {
		return nil, err
	}
	var c Cap
	if found, err := getJSON(s, k, &c); err != nil {
		return nil, err
	} else if !found {
		return nil, refuse(CodeNotFound, "bank %s has no cap in %s", bic, currency)
	}
	return marshal(c)
}

// CyclePaymentsPage is one page of a cycle's payments, in (sender, payment id)
// byte order. Bookmark continues the range; it is empty after the last page.
type CyclePaymentsPage struct {
	Payments []Payment `json:"payments"`
	Bookmark string    `json:"bookmark"`
}

// getCyclePayments pages through a cycle's payments in (sender, payment id)
// byte order. A legacy cycle's come from its payment index (keyCyclePay); a
// declared cycle's from its verified files, read back from their stored
// bytes (storedPayments) and sorted for every page, so each page costs the
// whole cycle: the service reads a declared cycle a file at a time
// (GetFilePayments) and sorts once. Pagination works only in a query
// (Fabric refuses it in a transaction that is submitted for ordering).
func getCyclePayments(s Stub, cycleID, bookmark, pageSizeArg string) ([]byte, error) {
	if err := checkID("cycleId", cycleID); err != nil {
		return nil, err
	}
	size, err := strconv.Atoi(pageSizeArg)
	if err != nil || size < 1 || size > cyclePaymentsPageMax {
		return nil, refuse(CodeBadArgs, "pageSize %q must be 1..%d", clip(pageSizeArg), cyclePaymentsPageMax)
	}
	if len(bookmark) > 512 {
		return nil, refuse(CodeBadArgs, "bookmark is longer than 512 bytes")
	}
	if _, err := checkCycleID(cycleID); err == nil {
		if d, err := loadDeclared(s, cycleID); err != nil {
			return nil, err
		} else if d != nil {
			return declaredCyclePayments(s, d, cycleID, bookmark, size)
		}
	}
	it, meta, err := s.GetStateByPartialCompositeKeyWithPagination(keyCyclePay, []string{cycleID}, int32(size), bookmark)
	if err != nil {
		return nil, internal("range read of cycle %s payments: %v", cycleID, err)
	}
	defer it.Close()
	page := CyclePaymentsPage{Payments: []Payment{}}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, internal("range read of cycle %s payments: %v", cycleID, err)
		}
		_, attrs, err := s.SplitCompositeKey(kv.Key)
		if err != nil || len(attrs) != 3 {
			return nil, internal("index key %q is malformed", printable(kv.Key))
		}
		k, err := key(s, keyPayment, attrs[1], attrs[2])
		if err != nil {
			return nil, err
		}
		var p Payment
		if found, err := getJSON(s, k, &p); err != nil {
			return nil, err
		} else if !found {
			return nil, internal("cycle %s indexes payment %s/%s, which is not on the ledger", cycleID, attrs[1], attrs[2])
		}
		page.Payments = append(page.Payments, p)
	}
	if meta != nil && len(page.Payments) == size {
		page.Bookmark = meta.GetBookmark()
	}
	return marshal(page)
}

// declaredCyclePayments is a page of a declared cycle's payments after the
// bookmark ("SENDER/ID" of the last one before it).
func declaredCyclePayments(s Stub, d *Declared, cycleID, bookmark string, size int) ([]byte, error) {
	r := newPaymentReader(s)
	var all []*Payment
	for _, f := range d.Files {
		pays, err := r.file(cycleID, f.Sender, f.FileID)
		if err != nil {
			return nil, err
		}
		all = append(all, pays...)
	}
	order := func(sender, id string) string { return sender + "\x00" + id }
	slices.SortFunc(all, func(a, b *Payment) int { return strings.Compare(order(a.Sender, a.ID), order(b.Sender, b.ID)) })
	from := 0
	if bookmark != "" {
		sender, id, ok := strings.Cut(bookmark, "/")
		if !ok {
			return nil, refuse(CodeBadArgs, "bookmark %q is not SENDER/ID", clip(bookmark))
		}
		from, _ = slices.BinarySearchFunc(all, order(sender, id), func(p *Payment, k string) int { return strings.Compare(order(p.Sender, p.ID), k) })
		if from < len(all) && order(all[from].Sender, all[from].ID) == order(sender, id) {
			from++
		}
	}
	page := CyclePaymentsPage{Payments: []Payment{}}
	for _, p := range all[from:min(from+size, len(all))] {
		page.Payments = append(page.Payments, *p)
	}
	if n := len(page.Payments); n == size && from+size < len(all) {
		page.Bookmark = page.Payments[n-1].Sender + "/" + page.Payments[n-1].ID
	}
	return marshal(page)
}

// FilePayments is a declared file's indexed payments, in the file's order,
// each with the IndexFile transaction that recorded it.
type FilePayments struct {
	CycleID  string    `json:"cycleId"`
	Sender   string    `json:"sender"`
	FileID   string    `json:"fileId"`
	Status   string    `json:"status"`
	Entries  int64     `json:"entries"`
	Indexed  int       `json:"indexed"`
	Payments []Payment `json:"payments"`
}

// getFilePayments answers a declared file's indexed payments (settled or
// not), read back from its ranges' entries records (or, for a file indexed
// before they were written, its stored bytes): how a declared cycle's
// payments are listed (at most entriesPerFileMax a call).
func getFilePayments(s Stub, cycleID, senderArg, fileID string) ([]byte, error) {
	sender, err := fileAddress(cycleID, senderArg, fileID)
	if err != nil {
		return nil, err
	}
	fk, err := key(s, keyFile, cycleID, sender, fileID)
	if err != nil {
		return nil, err
	}
	var st FileState
	if found, err := getJSON(s, fk, &st); err != nil {
		return nil, err
	} else if !found {
		return nil, refuse(CodeNotFound, "file %s/%s is not declared in cycle %s", sender, fileID, cycleID)
	}
	r := newPaymentReader(s)
	r.states[cycleID+"/"+sender+"/"+fileID] = &st
	pays, err := r.file(cycleID, sender, fileID)
	if err != nil {
		return nil, err
	}
	out := FilePayments{CycleID: cycleID, Sender: sender, FileID: fileID, Status: st.Status, Entries: st.Entries, Indexed: st.Indexed, Payments: make([]Payment, 0, len(pays))}
	for _, p := range pays {
		out.Payments = append(out.Payments, *p)
	}
	return marshal(out)
}

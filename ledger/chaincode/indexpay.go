package chaincode

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"settle/formats"
	"settle/intake"
	"settle/settlement"
)

// keyLegacyPaid marks a ledger on which the legacy path recorded payments
// (RecordChunk, before the founding) under a key each (pay~SENDER~ID).
// The governed path checks those keys too, one read a payment, only there.
const keyLegacyPaid = "legacy|payments"

// indexPayments indexes a verified file's entries from start (IndexFile):
// as many as the index can take in one transaction (indexWriteBytesMax), all
// of them when the ids follow the sender's earlier ones. A payment id already
// on the ledger is DUPLICATE_PAYMENT and a reversal is checked against its
// settled original, as for a chunk; then the id pages, the reversals and the
// range's chunk record (count, control sum, positions) are written. It
// answers where the next range starts.
func indexPayments(s Stub, st *FileState, pays []*Payment, start int) (int, error) {
	if err := requireBanks(s, chunkBanks(pays[start:])); err != nil {
		return 0, err
	}
	legacy, err := s.GetState(keyLegacyPaid)
	if err != nil {
		return 0, internal("read state: %v", err)
	}
	end := len(pays)
	r := newPaymentReader(s) // the originals' files, read once for every halving
	for {
		plan, revs, err := planIndex(s, r, st, pays[start:end], start, legacy != nil)
		if err != nil {
			return 0, err
		}
		if plan.bytes+reversalBytes(s, revs, len(r.files)) > indexWriteBytesMax && end-start > 1 {
			end = start + (end-start)/2
			continue
		}
		return end, writeIndex(s, st, pays, start, end, plan, revs)
	}
}

// indexWhole indexes all of a file's payments in the transaction that
// verified it, when their id pages fit in budget bytes and the ledger would
// take them all. Otherwise it writes nothing and leaves them to IndexFile,
// which indexes them in ranges, or refuses them with the reason (a
// duplicate, a reversal without its original): the file stays verified.
func indexWhole(s Stub, st *FileState, pays []*Payment, budget int) error {
	if len(pays) == 0 || budget <= 0 {
		return nil
	}
	if err := requireBanks(s, chunkBanks(pays)); err != nil {
		return keepRefusal(err)
	}
	if legacy, err := s.GetState(keyLegacyPaid); err != nil {
		return internal("read state: %v", err)
	} else if legacy != nil {
		return nil // a key a payment to read: IndexFile's ranges
	}
	r := newPaymentReader(s)
	plan, revs, err := planIndex(s, r, st, pays, 0, false)
	if err != nil {
		return keepRefusal(err)
	}
	if plan.bytes+reversalBytes(s, revs, len(r.files)) > budget {
		return nil
	}
	if err := writeIndex(s, st, pays, 0, len(pays), plan, revs); err != nil {
		return err
	}
	st.Indexed = len(pays)
	st.IndexTxs = []IndexTx{{Start: 0, Entries: len(pays), TxID: s.GetTxID()}}
	return nil
}

// reversalBytes is what a range's reversals put in its transaction besides
// the id pages: each one's record (key and value), and what checking it
// read, which the transaction's read set carries (its original's key, the
// range read that found its id page, its reversal key: readsPerReversal),
// and the parts of each original's file (readsPerFile). A file of reversals
// has one a payment, so the index's budget counts them.
func reversalBytes(s Stub, revs []Reversal, files int) int {
	n := files * readsPerFile
	for _, r := range revs {
		k, _ := key(s, keyReversal, r.Sender, r.OriginalID)
		v, _ := json.Marshal(r)
		n += len(k) + len(v) + readsPerReversal
	}
	return n
}

// What a reversal's checks and an original's file add to a transaction's
// read set, with room to spare: a key of at most about 80 bytes, a version
// and the protobuf around them, for each read (measured: a pacs.007 of 800
// reversals of payments in 200 files made a transaction of 534,252 bytes
// before the reads were counted).
const (
	readsPerReversal = 4 * 120
	readsPerFile     = 600
)

// keepRefusal drops a refusal (the file's IndexFile gives it) and keeps
// an internal error.
func keepRefusal(err error) error {
	if e, ok := err.(*Error); ok && e.Code != CodeInternal {
		return nil
	}
	return err
}

// writeIndex writes a planned range [start, end) of a file's payments: its
// id pages, its reversals and its chunk record.
func writeIndex(s Stub, st *FileState, pays []*Payment, start, end int, plan *idPlan, revs []Reversal) error {
	if err := plan.apply(s); err != nil {
		return err
	}
	chunkID := fmt.Sprintf("%s.%d", fileChunkID(st.Sender, st.FileID), start)
	chunkKey, err := key(s, keyChunk, st.CycleID, chunkID)
	if err != nil {
		return err
	}
	if old, err := s.GetState(chunkKey); err != nil {
		return internal("read state: %v", err)
	} else if old != nil {
		return internal("file %s/%s: chunk %s is recorded but the file says %d indexed", st.Sender, st.FileID, chunkID, start)
	}
	rng := pays[start:end]
	for _, p := range rng {
		p.ChunkID = chunkID
	}
	_, err = writeChunkRecord(s, st.CycleID, chunkID, chunkKey, contentHash(st.CycleID, chunkID, rng), rng, revs)
	return err
}

// planIndex checks a range of a file's payments and plans its id pages,
// writing nothing.
func planIndex(s Stub, r *paymentReader, st *FileState, rng []*Payment, start int, legacy bool) (*idPlan, []Reversal, error) {
	batch := make([]idLoc, len(rng))
	for i, p := range rng {
		batch[i] = idLoc{ID: p.ID, Cycle: st.CycleID, File: st.FileID, Entry: start + i}
	}
	slices.SortFunc(batch, func(a, b idLoc) int { return strings.Compare(a.ID, b.ID) })
	var prob problems
	for i := 1; i < len(batch); i++ {
		if batch[i].ID == batch[i-1].ID {
			prob.add(refuse(CodeDuplicatePayment, "payment %s/%s is twice in file %s (entries %d and %d)", st.Sender, batch[i].ID, st.FileID, batch[i-1].Entry, batch[i].Entry))
		}
	}
	if err := prob.err(); err != nil {
		return nil, nil, err
	}
	if legacy {
		for _, p := range rng {
			k, err := key(s, keyPayment, p.Sender, p.ID)
			if err != nil {
				return nil, nil, err
			}
			var prev Payment
			if found, err := getJSON(s, k, &prev); err != nil {
				return nil, nil, err
			} else if found {
				prob.add(refuse(CodeDuplicatePayment, "payment %s/%s is already on the ledger (cycle %s, tx %s)", p.Sender, p.ID, prev.CycleID, prev.TxID))
			}
		}
	}
	plan, err := planIDs(s, st.Sender, batch)
	if err != nil {
		return nil, nil, err
	}
	dup := map[string]bool{}
	for _, d := range plan.dups {
		dup[d.id] = true
		prob.add(refuse(CodeDuplicatePayment, "payment %s/%s is already on the ledger (cycle %s, file %s, entry %d)", st.Sender, d.id, d.was.Cycle, d.was.File, d.was.Entry))
	}
	fresh := make([]*Payment, 0, len(rng))
	for _, p := range rng {
		if !dup[p.ID] {
			fresh = append(fresh, p)
		}
	}
	revs, err := checkReversals(s, r, fresh, &prob)
	if err != nil {
		return nil, nil, err
	}
	if err := prob.err(); err != nil {
		return nil, nil, err
	}
	return plan, revs, nil
}

// checkReversals adds the reversals checkReversal refuses to prob and
// answers the reversal records to write; an internal error stops at once.
func checkReversals(s Stub, r *paymentReader, pays []*Payment, prob *problems) ([]Reversal, error) {
	cycles := cycleCache{s: s, seen: map[string]*Cycle{}}
	reversedHere := map[[2]string]string{}
	var revs []Reversal
	for _, p := range pays {
		if p.Kind != KindReversal {
			continue
		}
		if err := checkReversal(&cycles, r, p, reversedHere); err != nil {
			if e, ok := err.(*Error); ok && e.Code != CodeInternal {
				prob.add(err)
				continue
			}
			return nil, err
		}
		reversedHere[[2]string{p.Sender, p.OriginalID}] = p.ID
		revs = append(revs, Reversal{Sender: p.Sender, OriginalID: p.OriginalID, ReversalID: p.ID, TxID: s.GetTxID()})
	}
	return revs, nil
}

// paymentReader finds a payment on the ledger: under its own key when the
// legacy path wrote it, else through the id index and its file's stored
// bytes, each file read once.
type paymentReader struct {
	s     Stub
	files map[string][]*Payment
}

func newPaymentReader(s Stub) *paymentReader {
	return &paymentReader{s: s, files: map[string][]*Payment{}}
}

func (r *paymentReader) find(sender, id string) (*Payment, bool, error) {
	k, err := key(r.s, keyPayment, sender, id)
	if err != nil {
		return nil, false, err
	}
	var p Payment
	if found, err := getJSON(r.s, k, &p); err != nil || found {
		return &p, found, err
	}
	loc, found, err := lookupID(r.s, sender, id)
	if err != nil || !found {
		return nil, false, err
	}
	pays, err := r.file(loc.Cycle, sender, loc.File)
	if err != nil {
		return nil, false, err
	}
	if loc.Entry >= len(pays) || pays[loc.Entry].ID != id || pays[loc.Entry].TxID == "" {
		return nil, false, internal("the id index puts %s/%s at entry %d of file %s/%s, which does not hold it indexed", sender, id, loc.Entry, loc.Cycle, loc.File)
	}
	return pays[loc.Entry], true, nil
}

// file answers a verified file's indexed payments.
func (r *paymentReader) file(cycleID, sender, fileID string) ([]*Payment, error) {
	ck := cycleID + "/" + sender + "/" + fileID
	if pays, ok := r.files[ck]; ok {
		return pays, nil
	}
	fk, err := key(r.s, keyFile, cycleID, sender, fileID)
	if err != nil {
		return nil, err
	}
	var st FileState
	if found, err := getJSON(r.s, fk, &st); err != nil {
		return nil, err
	} else if !found {
		return nil, internal("file %s is indexed but has no state", ck)
	}
	pays, err := storedPayments(r.s, &st)
	if err != nil {
		return nil, err
	}
	r.files[ck] = pays
	return pays, nil
}

// storedPayments reads a verified file's payments back from its stored
// parts: the bytes the verification checked (their SHA-256 must still be
// the declared one), parsed by the service's reader without the signature,
// which was checked when the file was verified (its key may since have been
// rotated). Only the indexed entries are answered, each with the IndexFile
// transaction that recorded it.
func storedPayments(s Stub, st *FileState) ([]*Payment, error) {
	if st.Status != FileVerified {
		return nil, nil
	}
	r := &partsReader{s: s, cycle: st.CycleID, sender: st.Sender, fileID: st.FileID, enc: st.Encoding, stored: st.Parts, lastDone: true}
	var pays []*Payment
	opts := intake.Options{
		Uploader: settlementBIC(st.Sender),
		Limits:   formats.Limits{FileBytesMax: fileBytesMax, RecordsMax: entriesPerFileMax + 2, ProblemsMax: problemsMax},
		Entry: func(e *settlement.Entry, ok bool) {
			if ok && len(pays) < st.Indexed {
				pays = append(pays, entryPayment(e, st))
			}
		},
	}
	res, err := intake.Check(fileName(st), r, intake.Sig{}, opts)
	if r.err != nil {
		return nil, r.err
	}
	if err != nil {
		return nil, internal("read %s/%s: %v", st.Sender, st.FileID, err)
	}
	if hex.EncodeToString(res.SHA256[:]) != st.SHA256 || !res.Accepted() || len(pays) != st.Indexed {
		return nil, internal("verified file %s/%s no longer reads as verified (sha256 %s, %d problems, %d of %d indexed entries)", st.Sender, st.FileID, res.Hash(), len(res.Problems), len(pays), st.Indexed)
	}
	for _, x := range st.IndexTxs {
		for i := x.Start; i < x.Start+x.Entries && i < len(pays); i++ {
			pays[i].TxID = x.TxID
			pays[i].ChunkID = fmt.Sprintf("%s.%d", fileChunkID(st.Sender, st.FileID), x.Start)
		}
	}
	return pays, nil
}

// fileName is the name the service's reader takes a file's format from.
func fileName(st *FileState) string {
	if st.Format == FormatCSV {
		return st.FileID + ".csv"
	}
	return st.FileID + ".xml"
}

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
		ent, err := newEntriesRecord(s, st.CycleID, rangeChunkID(st, start), pays[start:end])
		if err != nil {
			return 0, err
		}
		if plan.bytes+ent.bytes()+reversalBytes(s, revs, r.reads()) > indexWriteBytesMax && end-start > 1 {
			end = start + (end-start)/2
			continue
		}
		return end, writeIndex(s, st, pays, start, end, plan, revs, ent)
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
	ent, err := newEntriesRecord(s, st.CycleID, rangeChunkID(st, 0), pays)
	if err != nil {
		return err
	}
	if plan.bytes+ent.bytes()+reversalBytes(s, revs, r.reads()) > budget {
		return nil
	}
	if err := writeIndex(s, st, pays, 0, len(pays), plan, revs, ent); err != nil {
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
// and the reads that found the originals (reads, paymentReader.reads). A
// file of reversals has one a payment, so the index's budget counts them.
func reversalBytes(s Stub, revs []Reversal, reads int) int {
	n := reads
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
// before the reads were counted). A file read back from its parts reads
// them all (readsPerFile); its state, a chunk record or an entries record
// is one read (readBytes).
const (
	readBytes        = 120
	readsPerReversal = 4 * readBytes
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

// rangeChunkID names the chunk of a file's range that starts at entry start.
func rangeChunkID(st *FileState, start int) string {
	return fmt.Sprintf("%s.%d", fileChunkID(st.Sender, st.FileID), start)
}

// writeIndex writes a planned range [start, end) of a file's payments: its
// id pages, its reversals, its chunk record and its entries record.
func writeIndex(s Stub, st *FileState, pays []*Payment, start, end int, plan *idPlan, revs []Reversal, ent *entriesRecord) error {
	if err := plan.apply(s); err != nil {
		return err
	}
	if err := s.PutState(ent.key, ent.value); err != nil {
		return internal("write state: %v", err)
	}
	chunkID := rangeChunkID(st, start)
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
// legacy path wrote it, else through the id index and its range's entries
// record; a file indexed before entries records were written is read back
// from its stored bytes. Each file state, range and file is read once.
type paymentReader struct {
	s       Stub
	states  map[string]*FileState // cycle/sender/file
	chunks  map[string][]*Payment // cycle/chunk id: a range's entries
	checked map[string]bool       // cycle/chunk id: checked against its chunk record
	files   map[string][]*Payment // cycle/sender/file: read from its parts
	legacy  map[string]bool       // cycle/sender/file: a range without entries
}

func newPaymentReader(s Stub) *paymentReader {
	return &paymentReader{s: s, states: map[string]*FileState{}, chunks: map[string][]*Payment{},
		checked: map[string]bool{}, files: map[string][]*Payment{}, legacy: map[string]bool{}}
}

// reads is what the reader's reads add to a transaction's read set.
func (r *paymentReader) reads() int {
	return (len(r.states)+len(r.chunks)+len(r.checked))*readBytes + len(r.files)*readsPerFile
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
	st, err := r.state(loc.Cycle, sender, loc.File)
	if err != nil {
		return nil, false, err
	}
	x, ok := indexTxOf(st, loc.Entry)
	if !ok {
		return nil, false, internal("the id index puts %s/%s at entry %d of file %s/%s, which has %d indexed", sender, id, loc.Entry, loc.Cycle, loc.File, st.Indexed)
	}
	pays, err := r.chunk(st, x, false)
	if err != nil {
		return nil, false, err
	}
	if i := loc.Entry - x.Start; i >= len(pays) || pays[i].ID != id || pays[i].TxID == "" {
		return nil, false, internal("the id index puts %s/%s at entry %d of file %s/%s, which does not hold it indexed", sender, id, loc.Entry, loc.Cycle, loc.File)
	} else {
		return pays[i], true, nil
	}
}

// indexTxOf finds the IndexFile transaction that indexed a file's entry.
func indexTxOf(st *FileState, entry int) (IndexTx, bool) {
	i, found := slices.BinarySearchFunc(st.IndexTxs, entry, func(x IndexTx, e int) int {
		switch {
		case e < x.Start:
			return 1
		case e >= x.Start+x.Entries:
			return -1
		}
		return 0
	})
	if !found {
		return IndexTx{}, false
	}
	return st.IndexTxs[i], true
}

// state reads a declared file's state.
func (r *paymentReader) state(cycleID, sender, fileID string) (*FileState, error) {
	ck := cycleID + "/" + sender + "/" + fileID
	if st, ok := r.states[ck]; ok {
		return st, nil
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
	r.states[ck] = &st
	return &st, nil
}

// chunk answers an indexed range's payments, from its entries record;
// when whole is true (the file's payments are read, not one of them),
// checked against its chunk record's content hash.
func (r *paymentReader) chunk(st *FileState, x IndexTx, whole bool) ([]*Payment, error) {
	fk := st.CycleID + "/" + st.Sender + "/" + st.FileID
	chunkID := rangeChunkID(st, x.Start)
	ck := st.CycleID + "/" + chunkID
	if pays, ok := r.chunks[ck]; ok && (!whole || r.checked[ck]) {
		return pays, nil
	}
	if !r.legacy[fk] {
		ek, err := key(r.s, keyEntries, st.CycleID, chunkID)
		if err != nil {
			return nil, err
		}
		raw, err := r.s.GetState(ek)
		if err != nil {
			return nil, internal("read state: %v", err)
		}
		if raw != nil {
			hash := noHashCheck
			if whole {
				var c Chunk
				if err := chunkRecord(r.s, st.CycleID, chunkID, &c); err != nil {
					return nil, err
				}
				hash = c.ContentSHA256
			}
			pays, err := decodeEntries(raw, st, chunkID, x.Entries, x.TxID, hash)
			if err != nil {
				return nil, err
			}
			r.chunks[ck], r.checked[ck] = pays, whole
			return pays, nil
		}
		r.legacy[fk] = true
	}
	all, err := r.parts(st)
	if err != nil {
		return nil, err
	}
	if x.Start+x.Entries > len(all) {
		return nil, internal("file %s: range %d+%d is past its %d indexed entries", fk, x.Start, x.Entries, len(all))
	}
	return all[x.Start : x.Start+x.Entries], nil
}

// chunkRecord reads a recorded chunk.
func chunkRecord(s Stub, cycleID, chunkID string, c *Chunk) error {
	k, err := key(s, keyChunk, cycleID, chunkID)
	if err != nil {
		return err
	}
	if found, err := getJSON(s, k, c); err != nil {
		return err
	} else if !found {
		return internal("chunk %s/%s has entries but no record", cycleID, chunkID)
	}
	return nil
}

// parts answers a verified file's indexed payments read from its stored
// parts.
func (r *paymentReader) parts(st *FileState) ([]*Payment, error) {
	fk := st.CycleID + "/" + st.Sender + "/" + st.FileID
	if pays, ok := r.files[fk]; ok {
		return pays, nil
	}
	pays, err := storedPayments(r.s, st)
	if err != nil {
		return nil, err
	}
	r.files[fk] = pays
	return pays, nil
}

// file answers a verified file's indexed payments, in the file's order.
func (r *paymentReader) file(cycleID, sender, fileID string) ([]*Payment, error) {
	st, err := r.state(cycleID, sender, fileID)
	if err != nil {
		return nil, err
	}
	if st.Status != FileVerified {
		return nil, nil
	}
	pays := make([]*Payment, 0, st.Indexed)
	for _, x := range st.IndexTxs {
		c, err := r.chunk(st, x, true)
		if err != nil {
			return nil, err
		}
		pays = append(pays, c...)
	}
	if len(pays) != st.Indexed {
		return nil, internal("file %s/%s/%s: its ranges hold %d entries, it says %d indexed", cycleID, sender, fileID, len(pays), st.Indexed)
	}
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

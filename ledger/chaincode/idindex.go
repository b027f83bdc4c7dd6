package chaincode

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
)

// The payment id index of the governed path (issue 18): how the ledger
// proves "never twice" without a key per payment.
//
// Each sender's payment ids live in pages, sorted by id. A page is one
// state key, idx|SENDER|HIGH, whose value lists ids with where each one is
// (cycle, file, entry): the page holds the ids above the page before it,
// up to and including HIGH. The sender's last page is keyed "~", which sorts
// above every id (an id is [A-Za-z0-9._/-], all below '~'), so it takes every
// id above the others. The page that holds an id, or would take it, is
// therefore the first key at or after idx|SENDER|ID: one range read that
// stops at its first result (Fabric takes no composite key in a range read,
// hence the plain keys; '|' sorts above every BIC and id character, so one
// sender's range never reaches a longer BIC's keys).
//
// A page holds at most idPageMax ids. When an insert takes it over that, it
// is cut into pages of at most idPageMax, each keyed by its own highest id;
// the last page's remainder keeps "~". Keys are never renamed or deleted.
//
// What it costs: a file whose ids follow the sender's last ones (a bank's
// sequence numbers) touches the last page only and writes about
// ceil(entries/idPageMax)+1 keys; a payment id is then about 10 bytes of
// state (front-coded, encodePage) instead of two keys of about 500. Ids that fall between earlier ones
// touch one page each (read and rewritten whole), which is why IndexFile
// bounds its writes by bytes (indexWriteBytesMax), not by entries: a file of
// scattered ids takes more IndexFile transactions, never a bigger one.
//
// Pages are per sender, so two transactions of one sender that touch the
// same page conflict (MVCC): the client indexes one sender's files one at a
// time; other senders' files go on in parallel.
const (
	idxPrefix = "idx|"
	idxTail   = "~"
	idxEnd    = "\x7f" // above idxTail: the end of a sender's range
	idPageMax = 512
	// indexWriteBytesMax bounds the page bytes one IndexFile writes, so a
	// transaction stays under an ordering service's 512,000-byte limit
	// whatever the ids.
	indexWriteBytesMax = 300_000
)

// idLoc is where an indexed payment id is: its file's entry.
type idLoc struct {
	ID    string
	Cycle string
	File  string
	Entry int
}

func idPageKey(sender, high string) string { return idxPrefix + sender + "|" + high }

// encodePage writes a page: first its files, one "#CYCLE TAB FILE" line
// each in the order the ids first name them, then its ids in order, one
// "SHARED TAB REST TAB FILE# TAB ENTRY" line each: the id is the first
// SHARED bytes of the id before it followed by REST (front coding: ids in
// sequence share most of their bytes), FILE# counts the file lines from 0.
// An id in sequence costs about 10 bytes.
func encodePage(locs []idLoc) []byte {
	type file struct{ cycle, file string }
	ref := map[file]int{}
	var files []file
	for _, l := range locs {
		f := file{l.Cycle, l.File}
		if _, ok := ref[f]; !ok {
			ref[f] = len(files)
			files = append(files, f)
		}
	}
	var b bytes.Buffer
	for _, f := range files {
		b.WriteByte('#')
		b.WriteString(f.cycle)
		b.WriteByte('\t')
		b.WriteString(f.file)
		b.WriteByte('\n')
	}
	prev := ""
	for _, l := range locs {
		n := 0
		for n < len(prev) && n < len(l.ID) && prev[n] == l.ID[n] {
			n++
		}
		b.WriteString(strconv.Itoa(n))
		b.WriteByte('\t')
		b.WriteString(l.ID[n:])
		b.WriteByte('\t')
		b.WriteString(strconv.Itoa(ref[file{l.Cycle, l.File}]))
		b.WriteByte('\t')
		b.WriteString(strconv.Itoa(l.Entry))
		b.WriteByte('\n')
		prev = l.ID
	}
	return b.Bytes()
}

func decodePage(k string, raw []byte) ([]idLoc, error) {
	var out []idLoc
	var files [][2]string
	prev := ""
	for line := range strings.SplitSeq(strings.TrimSuffix(string(raw), "\n"), "\n") {
		if f, ok := strings.CutPrefix(line, "#"); ok {
			cycle, file, ok := strings.Cut(f, "\t")
			if !ok || len(out) > 0 {
				return nil, internal("id page %s: malformed file line %q", k, clip(line))
			}
			files = append(files, [2]string{cycle, file})
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return nil, internal("id page %s: malformed line %q", k, clip(line))
		}
		shared, err := strconv.Atoi(f[0])
		if err != nil || shared < 0 || shared > len(prev) {
			return nil, internal("id page %s: shared prefix %q", k, clip(f[0]))
		}
		ref, err := strconv.Atoi(f[2])
		if err != nil || ref < 0 || ref >= len(files) {
			return nil, internal("id page %s: file %q", k, clip(f[2]))
		}
		n, err := strconv.Atoi(f[3])
		if err != nil || n < 0 {
			return nil, internal("id page %s: entry %q", k, clip(f[3]))
		}
		id := prev[:shared] + f[1]
		if len(out) > 0 && prev >= id {
			return nil, internal("id page %s: ids out of order at %q", k, clip(id))
		}
		out = append(out, idLoc{ID: id, Cycle: files[ref][0], File: files[ref][1], Entry: n})
		prev = id
	}
	return out, nil
}

// firstPage reads the page that holds id or would take it; found is false
// only when the sender has no page yet.
func firstPage(s Stub, sender, id string) (k string, page []idLoc, found bool, err error) {
	it, err := s.GetStateByRange(idPageKey(sender, id), idPageKey(sender, idxEnd))
	if err != nil {
		return "", nil, false, internal("range read of %s's ids: %v", sender, err)
	}
	defer it.Close()
	if !it.HasNext() {
		return "", nil, false, nil
	}
	kv, err := it.Next()
	if err != nil {
		return "", nil, false, internal("range read of %s's ids: %v", sender, err)
	}
	page, err = decodePage(kv.Key, kv.Value)
	return kv.Key, page, err == nil, err
}

// lookupID finds an indexed payment id of a sender.
func lookupID(s Stub, sender, id string) (idLoc, bool, error) {
	_, page, found, err := firstPage(s, sender, id)
	if err != nil || !found {
		return idLoc{}, false, err
	}
	i, ok := slices.BinarySearchFunc(page, id, func(l idLoc, id string) int { return strings.Compare(l.ID, id) })
	if !ok {
		return idLoc{}, false, nil
	}
	return page[i], true, nil
}

// pageWrite is one page an index plan writes.
type pageWrite struct {
	key string
	raw []byte
}

// idDup is a new id that is already indexed, and where.
type idDup struct {
	id  string
	was idLoc
}

// idPlan is what adding a batch of new ids writes, decided before anything
// is written, so that a refusal or a smaller batch writes nothing.
type idPlan struct {
	sender string
	writes []pageWrite
	bytes  int
	dups   []idDup
}

// planIDs reads the pages a batch of new ids (sorted, distinct) falls in and
// plans their rewrite; the ids already indexed are in dups.
func planIDs(s Stub, sender string, batch []idLoc) (*idPlan, error) {
	p := &idPlan{sender: sender}
	tail := idPageKey(sender, idxTail)
	for i := 0; i < len(batch); {
		k, page, found, err := firstPage(s, sender, batch[i].ID)
		if err != nil {
			return nil, err
		}
		if !found {
			k = tail
		}
		high := strings.TrimPrefix(k, idxPrefix+sender+"|")
		j := i + 1
		for j < len(batch) && (k == tail || batch[j].ID <= high) {
			j++
		}
		merged, dups := mergeIDs(page, batch[i:j])
		p.dups = append(p.dups, dups...)
		p.add(k, k == tail, merged)
		i = j
	}
	return p, nil
}

// mergeIDs merges two sorted lists; an id in both is a duplicate and keeps
// its place in the page.
func mergeIDs(page, batch []idLoc) (merged []idLoc, dups []idDup) {
	merged = make([]idLoc, 0, len(page)+len(batch))
	i, j := 0, 0
	for i < len(page) || j < len(batch) {
		switch {
		case j == len(batch) || i < len(page) && page[i].ID < batch[j].ID:
			merged = append(merged, page[i])
			i++
		case i == len(page) || batch[j].ID < page[i].ID:
			merged = append(merged, batch[j])
			j++
		default:
			dups = append(dups, idDup{id: batch[j].ID, was: page[i]})
			merged = append(merged, page[i])
			i++
			j++
		}
	}
	return merged, dups
}

// add plans a page's new content, cut into pages of at most idPageMax: the
// last page fills pages from its lowest ids and keeps the rest; another
// page is cut evenly, its last piece keeping the page's key (its highest id).
func (p *idPlan) add(k string, tail bool, locs []idLoc) {
	size := idPageMax
	if !tail && len(locs) > idPageMax {
		n := (len(locs) + idPageMax - 1) / idPageMax
		size = (len(locs) + n - 1) / n
	}
	for len(locs) > size {
		p.put(idPageKey(p.sender, locs[size-1].ID), locs[:size])
		locs = locs[size:]
	}
	p.put(k, locs)
}

func (p *idPlan) put(k string, locs []idLoc) {
	raw := encodePage(locs)
	p.writes = append(p.writes, pageWrite{key: k, raw: raw})
	p.bytes += len(k) + len(raw)
}

// apply writes the planned pages.
func (p *idPlan) apply(s Stub) error {
	for _, w := range p.writes {
		if err := s.PutState(w.key, w.raw); err != nil {
			return internal("write state: %v", err)
		}
	}
	return nil
}

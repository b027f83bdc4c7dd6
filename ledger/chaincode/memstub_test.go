package chaincode

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// memLedger is an in-memory world state with key history, for unit tests only. Like a
// peer, a transaction reads committed state (not its own writes), and its writes are
// applied only when it succeeds.
type memLedger struct {
	state   map[string][]byte
	history map[string][]*queryresult.KeyModification
	events  []memEvent
	txs     int
	// lastWrites is what the last successful transaction wrote, keys and
	// values, in bytes.
	lastWrites int
	// lastPartReads is how many stored parts of files the last transaction
	// read (GetState).
	lastPartReads int
}

type memEvent struct {
	name    string
	payload []byte
}

func newLedger() *memLedger {
	return &memLedger{state: map[string][]byte{}, history: map[string][]*queryresult.KeyModification{}}
}

// memStub is one transaction against a memLedger.
type memStub struct {
	l       *memLedger
	args    [][]byte
	txID    string
	writes  map[string][]byte
	event   *memEvent
	creator []byte
}

func (s *memStub) GetCreator() ([]byte, error) { return s.creator, nil }

func (s *memStub) GetArgs() [][]byte { return s.args }
func (s *memStub) GetTxID() string   { return s.txID }

func (s *memStub) GetState(key string) ([]byte, error) {
	if strings.HasPrefix(key, "\x00"+keyPart+"\x00") {
		s.l.lastPartReads++
	}
	return s.l.state[key], nil
}

func (s *memStub) PutState(key string, value []byte) error {
	if key == "" {
		return errors.New("empty key")
	}
	if _, ok := s.writes[key]; ok {
		return fmt.Errorf("key %q written twice in one transaction", key) // a bug in the contract
	}
	s.writes[key] = append([]byte(nil), value...)
	return nil
}

func (s *memStub) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return shim.CreateCompositeKey(objectType, attributes)
}

func (s *memStub) SplitCompositeKey(key string) (string, []string, error) {
	parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(key, "\x00"), "\x00"), "\x00")
	return parts[0], parts[1:], nil
}

func (s *memStub) GetStateByPartialCompositeKey(objectType string, attrs []string) (shim.StateQueryIteratorInterface, error) {
	prefix, err := shim.CreateCompositeKey(objectType, attrs)
	if err != nil {
		return nil, err
	}
	return s.keysWhere(func(k string) bool { return strings.HasPrefix(k, prefix) }), nil
}

// keysWhere iterates the committed keys that match, in key order.
func (s *memStub) keysWhere(match func(string) bool) *memIter {
	var keys []string
	for k := range s.l.state {
		if match(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	it := &memIter{}
	for _, k := range keys {
		it.kvs = append(it.kvs, &queryresult.KV{Key: k, Value: s.l.state[k]})
	}
	return it
}

// GetStateByRange answers [startKey, endKey) in key order, as Fabric does.
func (s *memStub) GetStateByRange(startKey, endKey string) (shim.StateQueryIteratorInterface, error) {
	return s.keysWhere(func(k string) bool { return k >= startKey && (endKey == "" || k < endKey) }), nil
}

// GetStateByPartialCompositeKeyWithPagination pages as Fabric does: the bookmark
// is the first key of the next page, empty after the last.
func (s *memStub) GetStateByPartialCompositeKeyWithPagination(objectType string, attrs []string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	all, err := s.GetStateByPartialCompositeKey(objectType, attrs)
	if err != nil {
		return nil, nil, err
	}
	kvs := all.(*memIter).kvs
	start := 0
	if bookmark != "" {
		start = sort.Search(len(kvs), func(i int) bool { return kvs[i].Key >= bookmark })
	}
	end := min(len(kvs), start+int(pageSize))
	meta := &peer.QueryResponseMetadata{FetchedRecordsCount: int32(end - start)}
	if end < len(kvs) {
		meta.Bookmark = kvs[end].Key
	}
	return &memIter{kvs: kvs[start:end]}, meta, nil
}

func (s *memStub) GetHistoryForKey(key string) (shim.HistoryQueryIteratorInterface, error) {
	return &memHistIter{mods: s.l.history[key]}, nil
}

func (s *memStub) SetEvent(name string, payload []byte) error {
	if name == "" {
		return errors.New("event name must not be empty")
	}
	s.event = &memEvent{name, payload}
	return nil
}

type memIter struct {
	kvs []*queryresult.KV
	i   int
}

func (it *memIter) HasNext() bool { return it.i < len(it.kvs) }
func (it *memIter) Close() error  { return nil }
func (it *memIter) Next() (*queryresult.KV, error) {
	if !it.HasNext() {
		return nil, errors.New("no more")
	}
	it.i++
	return it.kvs[it.i-1], nil
}

type memHistIter struct {
	mods []*queryresult.KeyModification
	i    int
}

func (it *memHistIter) HasNext() bool { return it.i < len(it.mods) }
func (it *memHistIter) Close() error  { return nil }
func (it *memHistIter) Next() (*queryresult.KeyModification, error) {
	if !it.HasNext() {
		return nil, errors.New("no more")
	}
	it.i++
	return it.mods[it.i-1], nil
}

// invoke runs one transaction and commits its writes if it succeeds.
func (l *memLedger) invoke(fn string, args ...string) ([]byte, error) {
	return l.invokeAs(nil, fn, args...)
}

// invokeAs runs one transaction whose creator is the serialized identity creator.
func (l *memLedger) invokeAs(creator []byte, fn string, args ...string) ([]byte, error) {
	l.txs++
	l.lastPartReads = 0
	s := &memStub{l: l, txID: fmt.Sprintf("tx%04d", l.txs), writes: map[string][]byte{}, creator: creator}
	s.args = append(s.args, []byte(fn))
	for _, a := range args {
		s.args = append(s.args, []byte(a))
	}
	payload, err := Contract{}.Call(s)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(s.writes))
	for k := range s.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	l.lastWrites = 0
	for _, k := range keys {
		l.lastWrites += len(k) + len(s.writes[k])
		l.state[k] = s.writes[k]
		l.history[k] = append(l.history[k], &queryresult.KeyModification{
			TxId: s.txID, Value: s.writes[k], Timestamp: timestamppb.Now(),
		})
	}
	if s.event != nil {
		l.events = append(l.events, *s.event)
	}
	return payload, nil
}

// must runs a transaction that has to succeed.
func (l *memLedger) must(t *testing.T, fn string, args ...string) []byte {
	t.Helper()
	out, err := l.invoke(fn, args...)
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	return out
}

// refused runs a transaction that has to fail with code, and checks it wrote nothing.
func (l *memLedger) refused(t *testing.T, code Code, fn string, args ...string) *Error {
	t.Helper()
	before := len(l.state)
	out, err := l.invoke(fn, args...)
	if err == nil {
		t.Fatalf("%s succeeded (%s), want %s", fn, out, code)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %v is not an *Error", fn, err)
	}
	if e.Code != code {
		t.Fatalf("%s: code %s (%s), want %s", fn, e.Code, e.Msg, code)
	}
	if len(l.state) != before {
		t.Fatalf("%s was refused but the state changed", fn)
	}
	return e
}

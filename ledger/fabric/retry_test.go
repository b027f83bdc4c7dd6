package fabric

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"settle/jobs"

	pb "github.com/hyperledger/fabric-protos-go/peer"
)

// outcomes plays a fixed list of submit outcomes, one per try.
type outcomes struct {
	results []error
	tries   int
	pauses  []int
}

func (o *outcomes) once() (txOutcome, error) {
	i := o.tries
	o.tries++
	if i >= len(o.results) {
		return txOutcome{}, errors.New("script ran out")
	}
	if o.results[i] == nil {
		return txOutcome{tx: jobs.LedgerTx{ID: "tx-ok", Block: 7}}, nil
	}
	return txOutcome{}, o.results[i]
}

func (o *outcomes) pause(_ context.Context, attempt int) error {
	o.pauses = append(o.pauses, attempt)
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A peer a block behind refuses what the others accept: the split is
// asked again and the write goes through once the peer has caught up.
func TestRetrySubmitSplitThenAgreed(t *testing.T) {
	unknown := &RefusalError{Code: "UNKNOWN_BANK", Msg: "bank X is not registered", Fn: "SetCap"}
	o := &outcomes{results: []error{
		&disagreeError{err: unknown, agreed: 1, answered: 3},
		&disagreeError{err: unknown, agreed: 1, answered: 3},
		nil,
	}}
	out, err := retrySubmit(context.Background(), quiet(), "SetCap", o.once, o.pause)
	if err != nil || out.tx.ID != "tx-ok" || out.tx.Block != 7 {
		t.Fatalf("got %+v, %v; want the write on the third try", out, err)
	}
	if o.tries != 3 || len(o.pauses) != 2 || o.pauses[0] != 1 || o.pauses[1] != 2 {
		t.Fatalf("tries %d, pauses %v; want 3 tries and pauses for attempts 1, 2", o.tries, o.pauses)
	}
}

// A split that lasts ends in the refusal itself, not in a policy or
// availability error, after disagreeRetryMax extra tries.
func TestRetrySubmitLastingSplitGivesTheRefusal(t *testing.T) {
	dup := &RefusalError{Code: "DUPLICATE_PAYMENT", Msg: "already recorded", Fn: "RecordChunk"}
	var results []error
	for range disagreeRetryMax + 1 {
		results = append(results, &disagreeError{err: dup, agreed: 1, answered: 3})
	}
	o := &outcomes{results: results}
	_, err := retrySubmit(context.Background(), quiet(), "RecordChunk", o.once, o.pause)
	var r *RefusalError
	if !errors.As(err, &r) || r.Code != "DUPLICATE_PAYMENT" || !errors.Is(err, jobs.ErrLedgerRefused) {
		t.Fatalf("got %v; want the DUPLICATE_PAYMENT refusal", err)
	}
	if o.tries != disagreeRetryMax+1 {
		t.Fatalf("tries %d, want %d", o.tries, disagreeRetryMax+1)
	}
}

// A unanimous refusal is final at once: nothing to wait for.
func TestRetrySubmitRefusalIsFinal(t *testing.T) {
	o := &outcomes{results: []error{&RefusalError{Code: "CAP_EXCEEDED", Msg: "over", Fn: "SettleCycle"}, nil}}
	_, err := retrySubmit(context.Background(), quiet(), "SettleCycle", o.once, o.pause)
	if !errors.Is(err, jobs.ErrLedgerRefused) || o.tries != 1 || len(o.pauses) != 0 {
		t.Fatalf("got %v after %d tries; want the refusal after one", err, o.tries)
	}
}

// Each kind of retry keeps its own count: conflicts and splits mixed do
// not use up one another's budget.
func TestRetrySubmitCountsKindsApart(t *testing.T) {
	split := &disagreeError{err: &RefusalError{Code: "UNKNOWN_BANK", Fn: "SetCap"}, agreed: 1, answered: 3}
	conflict := &invalidError{txID: "t", code: pb.TxValidationCode_MVCC_READ_CONFLICT, block: 3}
	var results []error
	for range disagreeRetryMax {
		results = append(results, split, conflict)
	}
	results = append(results, nil)
	o := &outcomes{results: results}
	if _, err := retrySubmit(context.Background(), quiet(), "SetCap", o.once, o.pause); err != nil {
		t.Fatalf("got %v after %d tries; want success", err, o.tries)
	}
}

// A cancelled context stops the retries at the pause.
func TestRetrySubmitStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := &outcomes{results: []error{&disagreeError{err: errors.New("split"), agreed: 1, answered: 3}, nil}}
	_, err := retrySubmit(ctx, quiet(), "Ping", o.once, sleepJitter)
	if !errors.Is(err, context.Canceled) || o.tries != 1 {
		t.Fatalf("got %v after %d tries; want context.Canceled after one", err, o.tries)
	}
}

// waitHeight returns once the peer reaches the height needed, polling.
func TestWaitHeightReachesNeed(t *testing.T) {
	heights := []uint64{5, 5, 6, 7}
	calls := 0
	h, err := waitHeight(context.Background(), 7, func(context.Context) (uint64, error) {
		v := heights[min(calls, len(heights)-1)]
		calls++
		return v, nil
	}, time.Minute, time.Millisecond)
	if err != nil || h != 7 || calls != 4 {
		t.Fatalf("height %d after %d calls, %v; want 7 after 4", h, calls, err)
	}
}

// A peer that stays behind is an error naming its height and the need.
func TestWaitHeightPeerStaysBehind(t *testing.T) {
	h, err := waitHeight(context.Background(), 9, func(context.Context) (uint64, error) { return 4, nil }, 20*time.Millisecond, time.Millisecond)
	if err == nil || h != 4 || !strings.Contains(err.Error(), "height 4") || !strings.Contains(err.Error(), "9 needed") {
		t.Fatalf("got %d, %v; want an error naming height 4 and 9 needed", h, err)
	}
}

// A peer that cannot tell its height is given up at once.
func TestWaitHeightErrorAtOnce(t *testing.T) {
	calls := 0
	_, err := waitHeight(context.Background(), 3, func(context.Context) (uint64, error) {
		calls++
		return 0, errors.New("connection refused")
	}, time.Minute, time.Millisecond)
	if err == nil || calls != 1 {
		t.Fatalf("%v after %d calls; want the error after one", err, calls)
	}
}

// An attempt that failed before anything reached the orderer (the
// commit-event stream could not connect) is started again, and after
// notSentRetryMax extra tries the last failure, unavailable, comes back.
func TestRetrySubmitNotSentStartsAgain(t *testing.T) {
	down := &notSentError{err: fmt.Errorf("%w: commit events: dial timeout", jobs.ErrLedgerUnavailable)}
	o := &outcomes{results: []error{down, down, nil}}
	out, err := retrySubmit(context.Background(), quiet(), "RecordChunk", o.once, o.pause)
	if err != nil || out.tx.ID != "tx-ok" || o.tries != 3 {
		t.Fatalf("got %+v, %v after %d tries; want the write on the third", out, err, o.tries)
	}
	var results []error
	for range notSentRetryMax + 2 {
		results = append(results, down)
	}
	o = &outcomes{results: results}
	_, err = retrySubmit(context.Background(), quiet(), "RecordChunk", o.once, o.pause)
	if !errors.Is(err, jobs.ErrLedgerUnavailable) || !strings.Contains(err.Error(), "commit events") || o.tries != notSentRetryMax+1 {
		t.Fatalf("got %v after %d tries; want unavailable after %d", err, o.tries, notSentRetryMax+1)
	}
}

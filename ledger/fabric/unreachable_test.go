package fabric

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// A peer is judged unreachable by the error's type, never its text: a
// chaincode message that happens to say "connection" or "deadline" is an
// answer (issue 12, also-fix list).
func TestUnreachableByTypeNotText(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("endorse: %w", context.DeadlineExceeded),
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		fmt.Errorf("send: %w", grpcstatus.Error(codes.Unavailable, "x")),
	} {
		if !unreachable(err) {
			t.Errorf("%v: not unreachable", err)
		}
	}
	for _, err := range []error{
		errors.New("CAP_EXCEEDED: no connection between the payment and the cap"),
		errors.New("BAD_ARGS: deadline timed out in the payload"),
		grpcstatus.Error(codes.InvalidArgument, "Unavailable"),
	} {
		if unreachable(err) {
			t.Errorf("%v: judged unreachable by its text", err)
		}
	}
}

// stuckTransactor never answers a proposal until released.
type stuckTransactor struct {
	fab.Transactor
	release chan struct{}
}

func (s stuckTransactor) SendTransactionProposal(*fab.TransactionProposal, []fab.ProposalProcessor) ([]*fab.TransactionProposalResponse, error) {
	<-s.release
	return nil, errors.New("late")
}

// endorseAll returns when its context ends, whatever the peers do
// (issue 12, also-fix list: it used to wait for every peer).
func TestEndorseAllHonoursContext(t *testing.T) {
	c := &Client{peers: []*endorser{{bank: &Bank{MSPID: "Org1MSP"}}, {bank: &Bank{MSPID: "Org2MSP"}}},
		downUntil: map[string]time.Time{}}
	tr := stuckTransactor{release: make(chan struct{})}
	defer close(tr.release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []answer, 1)
	go func() { done <- c.endorseAll(ctx, tr, &fab.TransactionProposal{}) }()
	cancel()
	select {
	case out := <-done:
		for _, a := range out {
			if !errors.Is(a.err, context.Canceled) {
				t.Errorf("%s: %v, want the context's error", a.e.bank.MSPID, a.err)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("endorseAll still waiting for the peers after its context ended")
	}
}

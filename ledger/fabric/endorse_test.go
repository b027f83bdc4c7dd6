package fabric

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"
)

// namedPeer is a peer the scriptedTransactor knows by name.
type namedPeer struct {
	fab.Peer
	name string
}

// scriptedTransactor answers each peer as told: an endorsement of the
// payload in answers[name], an error, or a chaincode refusal (status 500);
// it counts the proposals each peer got.
type scriptedTransactor struct {
	fab.Transactor
	mu      sync.Mutex
	answers map[string]string // "" endorses "ok"; "down" is unreachable; "refuse" is a status 500
	asked   map[string]int
}

func (s *scriptedTransactor) SendTransactionProposal(_ *fab.TransactionProposal, ts []fab.ProposalProcessor) ([]*fab.TransactionProposalResponse, error) {
	name := ts[0].(namedPeer).name
	s.mu.Lock()
	s.asked[name]++
	a := s.answers[name]
	s.mu.Unlock()
	switch a {
	case "down":
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	case "refuse":
		return []*fab.TransactionProposalResponse{{ProposalResponse: &pb.ProposalResponse{Response: &pb.Response{Status: 500, Message: "CYCLE_EMPTY"}}}}, nil
	case "":
		a = "ok"
	}
	return []*fab.TransactionProposalResponse{{ProposalResponse: &pb.ProposalResponse{Response: &pb.Response{Status: 200}, Payload: []byte(a)}}}, nil
}

func fiveBankClient() (*Client, *scriptedTransactor) {
	c := &Client{majority: 3, downUntil: map[string]time.Time{}}
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("Bank%dMSP", i)
		c.peers = append(c.peers, &endorser{bank: &Bank{Index: i, MSPID: name}, peer: namedPeer{name: name}})
	}
	return c, &scriptedTransactor{answers: map[string]string{}, asked: map[string]int{}}
}

// The client asks only the peers a majority needs, and over many
// transactions every bank's peer endorses its share (3 of 5 each).
func TestEndorseAsksAMajorityInTurn(t *testing.T) {
	c, tr := fiveBankClient()
	const txs = 500
	for range txs {
		out := c.endorse(context.Background(), tr, &fab.TransactionProposal{})
		if len(out) != 3 || !unanimous(out) {
			t.Fatalf("answers %d, unanimous %v", len(out), unanimous(out))
		}
	}
	for _, e := range c.peers {
		if n := tr.asked[e.bank.MSPID]; n != txs*3/5 {
			t.Errorf("%s asked %d times of %d, want %d", e.bank.MSPID, n, txs, txs*3/5)
		}
	}
}

// A peer that is down, refuses or endorses another result makes the client
// ask the others too, so the caller judges every answer; a peer that
// refused connections is left out of the first set while it is backed off.
func TestEndorseAsksTheRestWhenTheMajorityDisagrees(t *testing.T) {
	for _, odd := range []string{"down", "refuse", "other result"} {
		t.Run(odd, func(t *testing.T) {
			c, tr := fiveBankClient()
			tr.answers["Bank2MSP"] = odd
			c.turn.Store(0) // the first set starts at bank 2: banks 2, 3, 4
			out := c.endorse(context.Background(), tr, &fab.TransactionProposal{})
			if len(out) != 5 {
				t.Fatalf("%d answers, want all 5", len(out))
			}
			ok := 0
			for _, a := range out {
				if a.err == nil && a.resp.ProposalResponse.GetResponse().GetStatus() == 200 && string(a.resp.ProposalResponse.GetPayload()) == "ok" {
					ok++
				}
			}
			if ok != 4 {
				t.Fatalf("%d peers endorsed alike, want 4", ok)
			}
			if odd != "down" {
				return
			}
			// Backed off: the next transactions leave bank 2 for last.
			for range 10 {
				out := c.endorse(context.Background(), tr, &fab.TransactionProposal{})
				if len(out) != 3 || !unanimous(out) {
					t.Fatalf("with bank 2 backed off: %d answers", len(out))
				}
			}
			if tr.asked["Bank2MSP"] != 1 {
				t.Fatalf("bank 2 asked %d times while backed off", tr.asked["Bank2MSP"])
			}
		})
	}
}

// EndorseAll and pinned endorsers ask every configured peer.
func TestEndorseAllAsksEveryPeer(t *testing.T) {
	c, tr := fiveBankClient()
	c.every = true
	if out := c.endorse(context.Background(), tr, &fab.TransactionProposal{}); len(out) != 5 {
		t.Fatalf("EndorseAll: %d answers", len(out))
	}
	c.every, c.strict = false, true
	if out := c.endorse(context.Background(), tr, &fab.TransactionProposal{}); len(out) != 5 {
		t.Fatalf("pinned: %d answers", len(out))
	}
}

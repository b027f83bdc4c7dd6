package fabric

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestQuorum: f = (n-1)/3 orderers may fail, and ceil((n+f+1)/2) order, as
// SmartBFT counts them; a description without "orderers" has its one.
func TestQuorum(t *testing.T) {
	for _, c := range []struct{ n, f, q int }{{1, 0, 1}, {4, 1, 3}, {5, 1, 4}, {6, 1, 4}, {7, 2, 5}, {10, 3, 7}, {21, 6, 14}} {
		n := &Network{Orderers: make([]Orderer, c.n)}
		if n.Faults() != c.f || n.Quorum() != c.q {
			t.Errorf("%d orderers: f %d, quorum %d; want %d, %d", c.n, n.Faults(), n.Quorum(), c.f, c.q)
		}
	}
	one := &Network{}
	one.Orderer.Address = "127.0.0.1:7050"
	if got := one.orderers(); len(got) != 1 || got[0].Address != "127.0.0.1:7050" || one.Quorum() != 1 {
		t.Errorf("a single-orderer description: %+v, quorum %d", got, one.Quorum())
	}
}

// TestHeldAlready: SmartBFT's answers for a request it holds or ordered
// already count as taken (a regression from the 20-bank run, where 14 of 21
// orderers answered "already processed" and the client took the commit for
// unknown); other refusals do not.
func TestHeldAlready(t *testing.T) {
	for _, c := range []struct {
		msg  string
		held bool
	}{
		{"Orderer Server Status Code: (503) SERVICE_UNAVAILABLE. Description: failed to submit request: request already processed", true},
		{"Orderer Server Status Code: (503) SERVICE_UNAVAILABLE. Description: failed to submit request: request already exists", true},
		{"Orderer Server Status Code: (503) SERVICE_UNAVAILABLE. Description: failed to submit request: submitted request (708884) is bigger than request max bytes (512000)", false},
		{"Orderer Server Status Code: (503) SERVICE_UNAVAILABLE. Description: failed to submit request: pool closed, request rejected", false},
		{"connection refused", false},
	} {
		if got := heldAlready(errors.New(c.msg)); got != c.held {
			t.Errorf("%q: held %v, want %v", c.msg, got, c.held)
		}
	}
}

// TestReadNetworkOrderers: every listed orderer needs an address, an MSP and
// a TLS CA, in index order.
func TestReadNetworkOrderers(t *testing.T) {
	base := `{"channel":"c","chaincode":"cc","orderer":{"address":"127.0.0.1:1"},"banks":[{"index":1,"mspId":"B1","peer":{"address":"127.0.0.1:2"}}],"orderers":[%s]}`
	ok := `{"index":0,"address":"127.0.0.1:1","mspId":"O0","tlsCACert":"/x"},{"index":1,"address":"127.0.0.1:3","mspId":"O1","tlsCACert":"/y"}`
	n, err := ReadNetwork(strings.NewReader(fmt.Sprintf(base, ok)))
	if err != nil || len(n.orderers()) != 2 || n.orderers()[1].MSPID != "O1" {
		t.Fatalf("two orderers: %+v %v", n, err)
	}
	for _, bad := range []string{
		`{"index":1,"address":"127.0.0.1:1","mspId":"O0","tlsCACert":"/x"}`,
		`{"index":0,"mspId":"O0","tlsCACert":"/x"}`,
		`{"index":0,"address":"127.0.0.1:1","tlsCACert":"/x"}`,
		`{"index":0,"address":"127.0.0.1:1","mspId":"O0"}`,
	} {
		if _, err := ReadNetwork(strings.NewReader(fmt.Sprintf(base, bad))); err == nil {
			t.Errorf("orderer %s accepted", bad)
		}
	}
}

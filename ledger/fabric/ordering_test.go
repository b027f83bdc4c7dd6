package fabric

import (
	"fmt"
	"strings"
	"testing"
)

// TestQuorum: f = (n-1)/3 orderers may fail, and ceil((n+f+1)/2) order, as
// SmartBFT counts them; a description without "orderers" has its one.
func TestQuorum(t *testing.T) {
	for _, c := range []struct{ n, f, q int }{{1, 0, 1}, {4, 1, 3}, {5, 1, 4}, {6, 1, 4}, {7, 2, 5}, {10, 3, 7}} {
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

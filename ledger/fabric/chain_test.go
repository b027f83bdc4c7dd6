package fabric

import (
	"strings"
	"testing"
	"time"
)

// TestPeerHeightsAndRecentBlocks: after bank 1's and bank 2's pings, bank
// 1's client reads every bank's peer's height (each at least the block of
// the last ping) and the recent blocks: its own ping with its submitter,
// its endorsers and their signatures verified, not flagged; bank 2's
// flagged as not signed by it; Tx of its ping has every signature checked.
func TestPeerHeightsAndRecentBlocks(t *testing.T) {
	n := need(t)
	c, other := newClient(t, 1), newClient(t, 2)
	ctx := testCtx(t, 2*time.Minute)
	own, err := c.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := other.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.ReadAfter(max(own.Block, theirs.Block))
	hs := c.PeerHeights(ctx)
	if len(hs) != len(n.Banks) {
		t.Fatalf("%d heights for %d banks: %+v", len(hs), len(n.Banks), hs)
	}
	for i, h := range hs {
		if h.MSP != n.Banks[i].MSPID || h.Err != "" || h.Peer != n.Banks[i].Peer.Address {
			t.Fatalf("height %d: %+v", i, h)
		}
	}
	bs, err := c.RecentBlocks(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) == 0 || bs[0].Number+1 < max(own.Block, theirs.Block)+1 {
		t.Fatalf("%d blocks, newest %d; pings in %d and %d", len(bs), bs[0].Number, own.Block, theirs.Block)
	}
	seen := 0
	for i, b := range bs {
		if i > 0 && b.Number != bs[i-1].Number-1 {
			t.Fatalf("blocks out of order: %d after %d", b.Number, bs[i-1].Number)
		}
		for _, tx := range b.Txs {
			switch tx.ID {
			case own.ID:
				seen++
				if tx.Foreign || tx.Function != "Ping" || !tx.Valid || tx.Code != "VALID" || !strings.HasPrefix(tx.Submitter, n.Banks[0].MSPID+" client ") ||
					len(tx.Endorsers) < 2 || len(tx.BadSignatures) > 0 || b.Number != own.Block {
					t.Fatalf("own ping %+v in block %d", tx, b.Number)
				}
			case theirs.ID:
				seen++
				if !tx.Foreign || !strings.HasPrefix(tx.Submitter, n.Banks[1].MSPID+" client ") || len(tx.BadSignatures) > 0 {
					t.Fatalf("bank 2's ping %+v", tx)
				}
			}
		}
	}
	if seen != 2 {
		t.Fatalf("found %d of the 2 pings in the last %d blocks", seen, len(bs))
	}
	got, err := c.Tx(ctx, own.ID)
	if err != nil || !got.SignaturesChecked || len(got.BadSignatures) > 0 {
		t.Fatalf("Tx %+v %v", got, err)
	}
}

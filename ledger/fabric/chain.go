package fabric

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric-protos-go/msp"
	pb "github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric-sdk-go/pkg/client/ledger"

	"settle/jobs"
)

// recentBlocksMax bounds one reading of recent blocks.
const recentBlocksMax = 50

// PeerHeights asks every bank's peer of the channel its height, all at
// once; a peer that does not answer within catchUpWait says why. The
// order is the network's (bank 1 first).
func (c *Client) PeerHeights(ctx context.Context) []jobs.PeerHeight {
	out := make([]jobs.PeerHeight, len(c.peers))
	var wg sync.WaitGroup
	for i, e := range c.peers {
		out[i] = jobs.PeerHeight{Peer: e.bank.Peer.Address, MSP: e.bank.MSPID}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := c.height(ctx, e)
			if err != nil {
				out[i].Err = shortErr(err)
				return
			}
			out[i].Height = h
			c.mu.Lock()
			c.heights[e.bank.MSPID] = max(c.heights[e.bank.MSPID], h)
			c.mu.Unlock()
		}()
	}
	wg.Wait()
	sortByBank(out, c.net)
	return out
}

func sortByBank(hs []jobs.PeerHeight, n *Network) {
	idx := map[string]int{}
	for _, b := range n.Banks {
		idx[b.MSPID] = b.Index
	}
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && idx[hs[j].MSP] < idx[hs[j-1].MSP]; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
}

// RecentBlocks reads the channel's last n blocks (at most
// recentBlocksMax), newest first, from the first peer that answers, with
// each transaction's submitter, endorsers, function and validation code
// read from the block's bytes.
func (c *Client) RecentBlocks(ctx context.Context, n int) ([]jobs.LedgerBlock, error) {
	n = min(max(n, 1), recentBlocksMax)
	var failed []string
	for _, e := range c.queryOrder() {
		// A peer behind the last block this client wrote (or was told of,
		// ReadAfter) would show a chain without it: read from one that
		// has caught up, as every query does.
		err := c.catchUp(ctx, e)
		var h uint64
		if err == nil {
			h, err = c.height(ctx, e)
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %s", e.bank.MSPID, shortErr(err)))
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		var out []jobs.LedgerBlock
		for num := h; num > 0 && len(out) < n; num-- {
			qctx, cancel := context.WithTimeout(ctx, queryTimeout)
			b, err := c.ledger.QueryBlock(num-1, ledger.WithTargets(e.peer), ledger.WithParentContext(qctx))
			cancel()
			if err != nil {
				return nil, fmt.Errorf("block %d from %s: %w", num-1, e.bank.MSPID, err)
			}
			lb, err := c.blockTxs(b)
			if err != nil {
				return nil, err
			}
			out = append(out, lb)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: no peer answered: %v", jobs.ErrLedgerUnavailable, failed)
}

// blockTxs describes every transaction of a block.
func (c *Client) blockTxs(b *common.Block) (jobs.LedgerBlock, error) {
	num := b.GetHeader().GetNumber()
	out := jobs.LedgerBlock{Number: num}
	filter := txFilter(b)
	for i, raw := range b.GetData().GetData() {
		t, err := c.blockTx(raw, i, filter)
		if err != nil {
			return out, fmt.Errorf("block %d tx %d: %w", num, i, err)
		}
		out.Txs = append(out.Txs, t)
	}
	return out, nil
}

// txFilter is a block's validation codes, one byte per transaction.
func txFilter(b *common.Block) []byte {
	if md := b.GetMetadata().GetMetadata(); len(md) > int(common.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		return md[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
	}
	return nil
}

// blockTx describes the i-th transaction of a block from its bytes and
// the block's validation codes.
func (c *Client) blockTx(raw []byte, i int, filter []byte) (jobs.BlockTx, error) {
	id, creator, actions, err := envelopeCreatorActions(raw)
	if err != nil {
		return jobs.BlockTx{}, err
	}
	_, endorsers, bad, submitter, err := envelopeTxChecked(raw)
	if err != nil {
		return jobs.BlockTx{}, err
	}
	t := jobs.BlockTx{ID: id, Config: len(actions) == 0, Submitter: submitter, Endorsers: endorsers, BadSignatures: bad,
		Code: pb.TxValidationCode_NOT_VALIDATED.String()}
	if i < len(filter) {
		code := pb.TxValidationCode(filter[i])
		t.Code, t.Valid = code.String(), code == pb.TxValidationCode_VALID
	}
	for _, a := range actions {
		var cpp pb.ChaincodeProposalPayload
		if proto.Unmarshal(a.ChaincodeProposalPayload, &cpp) != nil {
			continue
		}
		var spec pb.ChaincodeInvocationSpec
		if proto.Unmarshal(cpp.Input, &spec) != nil {
			continue
		}
		t.Chaincode = spec.GetChaincodeSpec().GetChaincodeId().GetName()
		if args := spec.GetChaincodeSpec().GetInput().GetArgs(); len(args) > 0 {
			t.Function = string(args[0])
		}
		break
	}
	if t.Chaincode == c.net.Chaincode {
		var sid msp.SerializedIdentity
		self := proto.Unmarshal(creator, &sid) == nil && c.selfCert != nil && bytes.Equal(certDER(sid.IdBytes), c.selfCert)
		t.Foreign = !self
	}
	return t, nil
}

package fabric

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-protos-go/common"
	pb "github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric-sdk-go/pkg/client/ledger"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"

	"settle/jobs"
)

// Tx describes a committed transaction: the block that holds it and the
// MSP ids of the organisations whose endorsements it carries. A
// transaction the peers marked invalid is an error naming its code.
func (c *Client) Tx(ctx context.Context, txID string) (jobs.LedgerTx, error) {
	if txID == "" {
		return jobs.LedgerTx{}, fmt.Errorf("tx: empty id")
	}
	var failed []string
	for _, e := range c.queryOrder() {
		if err := c.catchUp(ctx, e); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %s", e.bank.MSPID, shortErr(err)))
			if ctx.Err() != nil {
				return jobs.LedgerTx{}, ctx.Err()
			}
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		b, err := c.ledger.QueryBlockByTxID(fab.TransactionID(txID), ledger.WithTargets(e.peer), ledger.WithParentContext(qctx))
		cancel()
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %s", e.bank.MSPID, shortErr(err)))
			if ctx.Err() != nil {
				return jobs.LedgerTx{}, ctx.Err()
			}
			continue
		}
		t, code, err := txInBlock(b, txID)
		if err != nil {
			return jobs.LedgerTx{}, err
		}
		if code != pb.TxValidationCode_VALID {
			return t, &invalidError{txID: txID, code: code, block: t.Block}
		}
		return t, nil
	}
	return jobs.LedgerTx{}, fmt.Errorf("tx %s: not found on any peer: %s", txID, strings.Join(failed, "; "))
}

// txInBlock finds txID in b and reads its endorsers and validation code.
func txInBlock(b *common.Block, txID string) (jobs.LedgerTx, pb.TxValidationCode, error) {
	num := b.GetHeader().GetNumber()
	var filter []byte
	if md := b.GetMetadata().GetMetadata(); len(md) > int(common.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		filter = md[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
	}
	for i, raw := range b.GetData().GetData() {
		id, endorsers, err := envelopeTx(raw)
		if err != nil {
			return jobs.LedgerTx{}, 0, fmt.Errorf("block %d tx %d: %w", num, i, err)
		}
		if id != txID {
			continue
		}
		code := pb.TxValidationCode_NOT_VALIDATED
		if i < len(filter) {
			code = pb.TxValidationCode(filter[i])
		}
		return jobs.LedgerTx{ID: txID, Block: num, Endorsers: endorsers, Existing: true}, code, nil
	}
	return jobs.LedgerTx{}, 0, fmt.Errorf("block %d does not hold tx %s", num, txID)
}

// envelopeTx reads the tx id and the endorsing MSPs of one block entry.
func envelopeTx(raw []byte) (string, []string, error) {
	var env common.Envelope
	if err := proto.Unmarshal(raw, &env); err != nil {
		return "", nil, err
	}
	var pl common.Payload
	if err := proto.Unmarshal(env.Payload, &pl); err != nil {
		return "", nil, err
	}
	var ch common.ChannelHeader
	if err := proto.Unmarshal(pl.GetHeader().GetChannelHeader(), &ch); err != nil {
		return "", nil, err
	}
	if common.HeaderType(ch.Type) != common.HeaderType_ENDORSER_TRANSACTION {
		return ch.TxId, nil, nil
	}
	var tx pb.Transaction
	if err := proto.Unmarshal(pl.Data, &tx); err != nil {
		return "", nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range tx.Actions {
		var cap pb.ChaincodeActionPayload
		if err := proto.Unmarshal(a.Payload, &cap); err != nil {
			return "", nil, err
		}
		for _, e := range cap.GetAction().GetEndorsements() {
			if m := mspOf(e.Endorser); m != "" && !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return ch.TxId, out, nil
}

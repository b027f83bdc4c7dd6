package fabric

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"sort"
	"strings"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric-protos-go/msp"
	pb "github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric-sdk-go/pkg/client/ledger"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"

	"settle/jobs"
)

// Tx describes a committed transaction: the block that holds it and the
// MSP ids of the organisations whose endorsements it carries. A
// transaction the peers marked invalid is an error naming its code.
func (c *Client) Tx(ctx context.Context, txID string) (jobs.LedgerTx, error) {
	t, _, err := c.txBlock(ctx, txID)
	return t, err
}

// txBlock finds the block that holds txID and describes the transaction;
// it returns the block too.
func (c *Client) txBlock(ctx context.Context, txID string) (jobs.LedgerTx, *common.Block, error) {
	if txID == "" {
		return jobs.LedgerTx{}, nil, fmt.Errorf("tx: empty id")
	}
	var failed []string
	for _, e := range c.queryOrder() {
		if err := c.catchUp(ctx, e); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %s", e.bank.MSPID, shortErr(err)))
			if ctx.Err() != nil {
				return jobs.LedgerTx{}, nil, ctx.Err()
			}
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		b, err := c.ledger.QueryBlockByTxID(fab.TransactionID(txID), ledger.WithTargets(e.peer), ledger.WithParentContext(qctx))
		cancel()
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %s", e.bank.MSPID, shortErr(err)))
			if ctx.Err() != nil {
				return jobs.LedgerTx{}, nil, ctx.Err()
			}
			continue
		}
		t, code, err := txInBlock(b, txID)
		if err != nil {
			return jobs.LedgerTx{}, nil, err
		}
		if code != pb.TxValidationCode_VALID {
			return t, b, &invalidError{txID: txID, code: code, block: t.Block}
		}
		return t, b, nil
	}
	return jobs.LedgerTx{}, nil, fmt.Errorf("tx %s: not found on any peer: %s", txID, strings.Join(failed, "; "))
}

// TxContent reads what a committed transaction carried, from the block
// that holds it: the chaincode function and, for the settlement's own
// functions, the payments or positions as the endorsers signed them.
func (c *Client) TxContent(ctx context.Context, txID string) (jobs.TxContent, error) {
	t, b, err := c.txBlock(ctx, txID)
	if err != nil {
		return jobs.TxContent{}, err
	}
	for _, raw := range b.GetData().GetData() {
		id, args, err := envelopeArgs(raw)
		if err != nil {
			return jobs.TxContent{}, fmt.Errorf("tx %s: %w", txID, err)
		}
		if id == txID {
			return txContent(t, args)
		}
	}
	return jobs.TxContent{}, fmt.Errorf("block %d does not hold tx %s", t.Block, txID)
}

// txContent reads a transaction's invocation arguments.
func txContent(t jobs.LedgerTx, args [][]byte) (jobs.TxContent, error) {
	out := jobs.TxContent{Tx: t}
	if len(args) == 0 {
		return out, fmt.Errorf("tx %s: no chaincode function", t.ID)
	}
	out.Function = string(args[0])
	bad := func(err error) (jobs.TxContent, error) {
		return jobs.TxContent{}, fmt.Errorf("tx %s: %s arguments: %w", t.ID, out.Function, err)
	}
	switch out.Function {
	case "RecordChunk":
		if len(args) != 4 {
			return bad(fmt.Errorf("%d, want 3", len(args)-1))
		}
		out.Cycle, out.Chunk = string(args[1]), string(args[2])
		var pays []paymentJSON
		if err := json.Unmarshal(args[3], &pays); err != nil {
			return bad(err)
		}
		for i := range pays {
			pays[i].CycleID, pays[i].ChunkID, pays[i].TxID = out.Cycle, out.Chunk, t.ID
			r, err := pays[i].record()
			if err != nil {
				return bad(err)
			}
			out.Payments = append(out.Payments, r)
		}
	case "SettleCycle":
		if len(args) == 2 || (len(args) == 4 && len(args[2]) == 0) {
			// The governed path's: the ledger computed the positions itself
			// (GetCycle has them); the transaction names only the cycle, and
			// perhaps the deferral list the caller expected (GetDeferral has
			// the ledger's).
			out.Cycle = string(args[1])
			break
		}
		if len(args) != 3 && len(args) != 4 {
			return bad(fmt.Errorf("%d, want 1 to 3", len(args)-1))
		}
		out.Cycle = string(args[1])
		var ps []positionJSON
		if err := json.Unmarshal(args[2], &ps); err != nil {
			return bad(err)
		}
		for _, p := range ps {
			np, err := netPosition(p)
			if err != nil {
				return bad(err)
			}
			out.Positions = append(out.Positions, np)
		}
	default:
		for _, a := range args[1:] {
			out.Args = append(out.Args, string(a))
		}
	}
	return out, nil
}

// txInBlock finds txID in b and reads its endorsers and validation code.
func txInBlock(b *common.Block, txID string) (jobs.LedgerTx, pb.TxValidationCode, error) {
	num := b.GetHeader().GetNumber()
	var filter []byte
	if md := b.GetMetadata().GetMetadata(); len(md) > int(common.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		filter = md[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
	}
	for i, raw := range b.GetData().GetData() {
		id, endorsers, bad, submitter, err := envelopeTxChecked(raw)
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
		return jobs.LedgerTx{ID: txID, Block: num, Endorsers: endorsers, Submitter: submitter, Existing: true,
			SignaturesChecked: true, BadSignatures: bad}, code, nil
	}
	return jobs.LedgerTx{}, 0, fmt.Errorf("block %d does not hold tx %s", num, txID)
}

// envelopeActions decodes one block entry down to its tx id and, for an
// endorser transaction, the chaincode actions it carries (none for a
// config transaction).
func envelopeActions(raw []byte) (string, []*pb.ChaincodeActionPayload, error) {
	id, _, actions, err := envelopeCreatorActions(raw)
	return id, actions, err
}

// envelopeCreatorActions is envelopeActions with the transaction's creator
// (the serialized identity that signed it).
func envelopeCreatorActions(raw []byte) (string, []byte, []*pb.ChaincodeActionPayload, error) {
	var env common.Envelope
	if err := proto.Unmarshal(raw, &env); err != nil {
		return "", nil, nil, err
	}
	var pl common.Payload
	if err := proto.Unmarshal(env.Payload, &pl); err != nil {
		return "", nil, nil, err
	}
	var sh common.SignatureHeader
	if err := proto.Unmarshal(pl.GetHeader().GetSignatureHeader(), &sh); err != nil {
		return "", nil, nil, err
	}
	creator := sh.Creator
	var ch common.ChannelHeader
	if err := proto.Unmarshal(pl.GetHeader().GetChannelHeader(), &ch); err != nil {
		return "", nil, nil, err
	}
	if common.HeaderType(ch.Type) != common.HeaderType_ENDORSER_TRANSACTION {
		return ch.TxId, creator, nil, nil
	}
	var tx pb.Transaction
	if err := proto.Unmarshal(pl.Data, &tx); err != nil {
		return "", nil, nil, err
	}
	out := make([]*pb.ChaincodeActionPayload, len(tx.Actions))
	for i, a := range tx.Actions {
		out[i] = &pb.ChaincodeActionPayload{}
		if err := proto.Unmarshal(a.Payload, out[i]); err != nil {
			return "", nil, nil, err
		}
	}
	return ch.TxId, creator, out, nil
}

// envelopeTx reads the tx id, the endorsing MSPs and the submitter of one
// block entry.
func envelopeTx(raw []byte) (string, []string, string, error) {
	id, endorsers, _, submitter, err := envelopeTxChecked(raw)
	return id, endorsers, submitter, err
}

// envelopeTxChecked is envelopeTx with each endorsement's signature
// verified over the proposal response and the endorser's identity, with
// the public key of the certificate the endorsement carries: bad lists
// the MSPs of the endorsements whose signature does not verify (the
// committing peers also checked the certificates against the channel's
// MSPs before they marked the transaction VALID).
func envelopeTxChecked(raw []byte) (id string, endorsers, bad []string, submitter string, err error) {
	id, creator, actions, err := envelopeCreatorActions(raw)
	if err != nil {
		return "", nil, nil, "", err
	}
	seen, wrong := map[string]bool{}, map[string]bool{}
	for _, cap := range actions {
		prp := cap.GetAction().GetProposalResponsePayload()
		for _, e := range cap.GetAction().GetEndorsements() {
			m := mspOf(e.Endorser)
			if m != "" && !seen[m] {
				seen[m] = true
				endorsers = append(endorsers, m)
			}
			if !endorsementVerifies(prp, e.Endorser, e.Signature) && !wrong[m] {
				wrong[m] = true
				bad = append(bad, m)
			}
		}
	}
	sort.Strings(endorsers)
	sort.Strings(bad)
	return id, endorsers, bad, Submitter(creator), nil
}

// endorsementVerifies checks an endorsement's ECDSA signature over the
// proposal response payload followed by the endorser's serialized
// identity, as Fabric signs it (SHA-256, P-256).
func endorsementVerifies(prp, endorser, sig []byte) bool {
	var sid msp.SerializedIdentity
	if proto.Unmarshal(endorser, &sid) != nil {
		return false
	}
	blk, _ := pem.Decode(sid.IdBytes)
	if blk == nil {
		return false
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return false
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return false
	}
	sum := sha256.Sum256(append(append([]byte(nil), prp...), endorser...))
	return ecdsa.VerifyASN1(pub, sum[:], sig)
}

// Submitter describes a serialized identity as "MSP role CN": the MSP id, the
// NodeOU role its certificate carries (admin, client, peer, orderer; "member"
// when none) and the certificate's common name. "" when it does not parse.
func Submitter(serialized []byte) string {
	var id msp.SerializedIdentity
	if err := proto.Unmarshal(serialized, &id); err != nil || id.Mspid == "" {
		return ""
	}
	blk, _ := pem.Decode(id.IdBytes)
	if blk == nil {
		return id.Mspid
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return id.Mspid
	}
	role := "member"
	for _, ou := range cert.Subject.OrganizationalUnit {
		switch ou {
		case "admin", "client", "peer", "orderer":
			role = ou
		}
	}
	return id.Mspid + " " + role + " " + cert.Subject.CommonName
}

// envelopeArgs reads the tx id and the chaincode invocation arguments
// (function first) of one block entry; a config transaction has none.
func envelopeArgs(raw []byte) (string, [][]byte, error) {
	id, actions, err := envelopeActions(raw)
	if err != nil {
		return "", nil, err
	}
	for _, cap := range actions {
		var cpp pb.ChaincodeProposalPayload
		if err := proto.Unmarshal(cap.ChaincodeProposalPayload, &cpp); err != nil {
			return "", nil, err
		}
		var spec pb.ChaincodeInvocationSpec
		if err := proto.Unmarshal(cpp.Input, &spec); err != nil {
			return "", nil, err
		}
		return id, spec.GetChaincodeSpec().GetInput().GetArgs(), nil
	}
	return id, nil, nil
}

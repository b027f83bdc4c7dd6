package jobs

// PeerHeight is one peer's chain height as the peer itself answered (the
// number of blocks it has committed), or why it did not answer.
type PeerHeight struct {
	Peer   string // the peer's address
	MSP    string // the organisation that runs it
	Height uint64
	Err    string // "" when it answered
}

// LedgerBlock is one block of the channel as a peer holds it.
type LedgerBlock struct {
	Number uint64
	Txs    []BlockTx
}

// BlockTx is one transaction of a block, read from the block's bytes: who
// signed it, who endorsed it, what it called, and whether the committing
// peers validated it.
type BlockTx struct {
	ID        string
	Config    bool   // a channel configuration transaction (no chaincode)
	Chaincode string // the chaincode it invoked
	Function  string // the chaincode function (its first argument)
	// Submitter is the creator's identity, "MSP role CN" (as LedgerTx's).
	Submitter string
	Endorsers []string // the endorsing organisations' MSP ids, sorted
	// BadSignatures are the endorsers whose signature does not verify.
	BadSignatures []string
	Valid         bool
	Code          string // the validation code, e.g. VALID, MVCC_READ_CONFLICT
	// Foreign is a transaction of the settlement's own chaincode that the
	// reading client's identity (the service's) did not sign.
	Foreign bool
}

// Package chaincode is the settlement chaincode every endorsing bank runs.
//
// Each bank's peer executes it independently, so it re-checks, deterministically,
// everything it is asked to record: a payment id is written once, a reversal only
// undoes an existing, settled, unreversed payment of the same sender, chunk totals
// and net positions are recomputed here with exact decimal math, and a cycle settles
// only on positions that equal the sum of its chunks, balance to zero per currency
// and respect the net debit caps held on the ledger. A majority of banks agreeing
// on that result (the channel's endorsement policy) is what makes a record true.
//
// Errors are returned to the client as "CODE: message" so callers can tell a
// permanent refusal (DUPLICATE_PAYMENT, POSITIONS_MISMATCH, ...) from a bad call.
package chaincode

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// Limits on what one call may carry. A chunk of paymentsPerChunkMax payments is about
// 1.5 MB of arguments and 2.5 MB of writes, well below the orderer's 10 MB block limit.
const (
	argBytesMax         = 4 << 20 // all arguments of one call together
	argsMax             = 8       // function name included
	paymentsPerChunkMax = 5000
	positionsMax        = 10000 // bank+currency pairs submitted to SettleCycle
	idLenMax            = 64    // cycle and chunk ids
)

// Code classifies a refusal. It is the prefix of the error message the client sees.
type Code string

// The refusal codes.
const (
	CodeBadArgs           Code = "BAD_ARGS"
	CodeLimit             Code = "LIMIT"
	CodeInvalid           Code = "INVALID_FIELD"
	CodeUnknownBank       Code = "UNKNOWN_BANK"
	CodeDuplicatePayment  Code = "DUPLICATE_PAYMENT"
	CodeReversalInvalid   Code = "REVERSAL_INVALID"
	CodeChunkConflict     Code = "CHUNK_CONFLICT"
	CodeCycleSettled      Code = "CYCLE_SETTLED"
	CodeCycleEmpty        Code = "CYCLE_EMPTY"
	CodePositionsMismatch Code = "POSITIONS_MISMATCH"
	CodeNotBalanced       Code = "NOT_BALANCED"
	CodeCapExceeded       Code = "CAP_EXCEEDED"
	CodeSettleConflict    Code = "SETTLE_CONFLICT"
	CodeBankConflict      Code = "BANK_CONFLICT"
	CodeNotFound          Code = "NOT_FOUND"
	CodeInternal          Code = "INTERNAL"
	// The governed path (issue 11).
	CodeNotAuthorized    Code = "NOT_AUTHORIZED"    // the creator's MSP or role may not do this
	CodeNotFounded       Code = "NOT_FOUNDED"       // a governed function before Found completed
	CodeFounded          Code = "FOUNDED"           // a founding step after founding, or a legacy write after it
	CodeGovernance       Code = "GOVERNANCE"        // a founding or proposal that does not hold together
	CodeKeyConflict      Code = "KEY_CONFLICT"      // a key label reused with another key
	CodeCycleDeclared    Code = "CYCLE_DECLARED"    // a cycle declared again with other files, or one with legacy chunks
	CodeNotDeclared      Code = "NOT_DECLARED"      // a file or cycle the operator did not declare
	CodeDuplicateFile    Code = "DUPLICATE_FILE"    // a sender's file id used before
	CodePartOrder        Code = "PART_ORDER"        // a part out of order, or another part under a stored index
	CodePartBoundary     Code = "PART_BOUNDARY"     // a part not cut where the format allows
	CodeFileVerified     Code = "FILE_VERIFIED"     // a part or reset for a file already verified
	CodeDigestMismatch   Code = "DIGEST_MISMATCH"   // the bytes do not hash to the declared sha256
	CodeSignature        Code = "SIGNATURE"         // no key, malformed or invalid signature
	CodeFileRejected     Code = "FILE_REJECTED"     // the service's own rules reject the file
	CodeDeclaredMismatch Code = "DECLARED_MISMATCH" // the file differs from what the operator declared
	CodeCycleIncomplete  Code = "CYCLE_INCOMPLETE"  // SettleCycle while a declared file is not verified
)

// Error is a refusal with its code; its message is what the client receives.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Msg }

func refuse(code Code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// internal wraps a failure of the peer or of the ledger data itself.
func internal(format string, args ...any) error {
	return &Error{Code: CodeInternal, Msg: fmt.Sprintf(format, args...)}
}

// Stub is the part of shim.ChaincodeStubInterface the contract uses; unit tests
// provide an in-memory implementation of it.
type Stub interface {
	GetArgs() [][]byte
	GetTxID() string
	GetCreator() ([]byte, error)
	GetState(key string) ([]byte, error)
	PutState(key string, value []byte) error
	CreateCompositeKey(objectType string, attributes []string) (string, error)
	SplitCompositeKey(compositeKey string) (string, []string, error)
	GetStateByPartialCompositeKey(objectType string, keys []string) (shim.StateQueryIteratorInterface, error)
	GetStateByRange(startKey, endKey string) (shim.StateQueryIteratorInterface, error)
	GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error)
	GetHistoryForKey(key string) (shim.HistoryQueryIteratorInterface, error)
	SetEvent(name string, payload []byte) error
}

// Contract is the settlement chaincode. It holds no state between calls.
type Contract struct{}

// Init does nothing: the chaincode needs no initialisation (no --init-required).
func (Contract) Init(shim.ChaincodeStubInterface) *peer.Response { return shim.Success(nil) }

// Invoke dispatches one transaction proposal.
func (c Contract) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	payload, err := c.Call(stub)
	if err != nil {
		return shim.Error(err.Error())
	}
	return shim.Success(payload)
}

type handler struct {
	nargs, maxArgs int // arguments after the function name: nargs..maxArgs (maxArgs 0: exactly nargs)
	fn             func(s Stub, args []string) ([]byte, error)
}

var handlers = map[string]handler{
	"Ping": {0, 0, func(s Stub, _ []string) ([]byte, error) { return ping(s) }},

	// Legacy writes: open to any member until the ledger is founded, then
	// RecordChunk is closed and the others take the governed meaning.
	"RegisterBank": {2, 0, func(s Stub, a []string) ([]byte, error) { return registerBankAny(s, a[0], a[1]) }},
	"SetCap":       {3, 0, func(s Stub, a []string) ([]byte, error) { return setCapAny(s, a[0], a[1], a[2]) }},
	"RecordChunk":  {3, 0, func(s Stub, a []string) ([]byte, error) { return recordChunkLegacy(s, a[0], a[1], a[2]) }},
	"SettleCycle":  {1, 3, func(s Stub, a []string) ([]byte, error) { return settleCycleAny(s, a) }},

	// Governance (governance.go).
	"Found":           {2, 0, func(s Stub, a []string) ([]byte, error) { return found(s, a[0], a[1]) }},
	"ApproveFounding": {1, 0, func(s Stub, a []string) ([]byte, error) { return approveFounding(s, a[0]) }},
	"ProposeOperator": {1, 0, func(s Stub, a []string) ([]byte, error) { return proposeOperator(s, a[0]) }},
	"ApproveProposal": {1, 0, func(s Stub, a []string) ([]byte, error) { return approveProposal(s, a[0]) }},
	"RegisterKey":     {3, 0, func(s Stub, a []string) ([]byte, error) { return registerKey(s, a[0], a[1], a[2]) }},
	"RevokeKey":       {2, 0, func(s Stub, a []string) ([]byte, error) { return revokeKey(s, a[0], a[1]) }},

	// The governed cycle (files.go, settlegov.go).
	"DeclareCycle": {2, 0, func(s Stub, a []string) ([]byte, error) { return declareCycle(s, a[0], a[1]) }},
	"PutFilePart": {6, 7, func(s Stub, a []string) ([]byte, error) {
		enc := ""
		if len(a) == 7 {
			enc = a[6]
		}
		return putFilePart(s, a[0], a[1], a[2], a[3], a[4], a[5], enc)
	}},
	"IndexFile": {3, 0, func(s Stub, a []string) ([]byte, error) { return indexFile(s, a[0], a[1], a[2]) }},
	"ResetFile": {3, 0, func(s Stub, a []string) ([]byte, error) { return resetFile(s, a[0], a[1], a[2]) }},
	"DropFile":  {4, 0, func(s Stub, a []string) ([]byte, error) { return dropFile(s, a[0], a[1], a[2], a[3]) }},

	// The gridlock resolution (resolve.go).
	"ResolveCycle":   {1, 2, func(s Stub, a []string) ([]byte, error) { return resolveCycleCall(s, a) }},
	"ProposeSetting": {2, 0, func(s Stub, a []string) ([]byte, error) { return proposeSetting(s, a[0], a[1]) }},
	"ApproveSetting": {1, 0, func(s Stub, a []string) ([]byte, error) { return approveSetting(s, a[0]) }},
	"GetScheme":      {0, 0, func(s Stub, _ []string) ([]byte, error) { return getScheme(s) }},
	"GetDeferral":    {1, 0, func(s Stub, a []string) ([]byte, error) { return getDeferral(s, a[0]) }},

	// Queries.
	"GetCycle":         {1, 0, func(s Stub, a []string) ([]byte, error) { return getCycle(s, a[0]) }},
	"GetPayment":       {2, 0, func(s Stub, a []string) ([]byte, error) { return getPayment(s, a[0], a[1]) }},
	"GetReversalChain": {2, 0, func(s Stub, a []string) ([]byte, error) { return getReversalChain(s, a[0], a[1]) }},
	"GetHistory":       {1, 0, func(s Stub, a []string) ([]byte, error) { return getHistory(s, a[0]) }},
	"GetBank":          {1, 0, func(s Stub, a []string) ([]byte, error) { return getBank(s, a[0]) }},
	"GetCap":           {2, 0, func(s Stub, a []string) ([]byte, error) { return getCap(s, a[0], a[1]) }},
	"GetCyclePayments": {3, 0, func(s Stub, a []string) ([]byte, error) { return getCyclePayments(s, a[0], a[1], a[2]) }},
	"GetGovernance":    {0, 0, func(s Stub, _ []string) ([]byte, error) { return getGovernance(s) }},
	"GetFile":          {3, 0, func(s Stub, a []string) ([]byte, error) { return getFile(s, a[0], a[1], a[2]) }},
	"GetDeclared":      {1, 0, func(s Stub, a []string) ([]byte, error) { return getDeclared(s, a[0]) }},
	"GetFilePart":      {4, 0, func(s Stub, a []string) ([]byte, error) { return getFilePart(s, a[0], a[1], a[2], a[3]) }},
	"GetFilePayments":  {3, 0, func(s Stub, a []string) ([]byte, error) { return getFilePayments(s, a[0], a[1], a[2]) }},
}

// registerBankAny is the legacy RegisterBank until founding, then the
// operator's admission of a bank.
func registerBankAny(s Stub, bic, mspID string) ([]byte, error) {
	g, err := loadGov(s)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return registerBank(s, bic, mspID)
	}
	c, err := caller(s)
	if err != nil {
		return nil, err
	}
	return admitBank(s, g, c, bic, mspID)
}

// setCapAny is the legacy SetCap until founding, then the governed one.
func setCapAny(s Stub, bic, currency, capArg string) ([]byte, error) {
	g, err := loadGov(s)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return setCap(s, bic, currency, capArg)
	}
	c, err := caller(s)
	if err != nil {
		return nil, err
	}
	return setCapGoverned(s, g, c, bic, currency, capArg)
}

// recordChunkLegacy is refused once founded: a payment then comes only from
// bytes its bank signed (PutFilePart).
func recordChunkLegacy(s Stub, cycleID, chunkID, payments string) ([]byte, error) {
	if g, err := loadGov(s); err != nil {
		return nil, err
	} else if g != nil {
		return nil, refuse(CodeFounded, "RecordChunk is closed since the founding (tx %s): payments come from signed files (DeclareCycle, PutFilePart)", g.FoundedTx)
	}
	return recordChunk(s, cycleID, chunkID, payments)
}

// settleCycleAny is the legacy SettleCycle(cycle, positions) until founding,
// then the operator's SettleCycle(cycle[, positions]) of a declared cycle.
func settleCycleAny(s Stub, a []string) ([]byte, error) {
	g, err := loadGov(s)
	if err != nil {
		return nil, err
	}
	if g == nil {
		if len(a) != 2 {
			return nil, refuse(CodeBadArgs, "SettleCycle takes 2 arguments (cycleId, positions) until the ledger is founded, got %d", len(a))
		}
		return settleCycle(s, a[0], a[1])
	}
	c, err := caller(s)
	if err != nil {
		return nil, err
	}
	var pos *string
	var opt settleOpts
	if len(a) >= 2 && (a[1] != "" || len(a) == 2) {
		pos = &a[1]
	}
	if len(a) == 3 {
		opt.deferred = &a[2]
	}
	return settleGoverned(s, g, c, a[0], pos, opt)
}

// Call checks the arguments' shape and size, runs the named function and turns any
// panic into an INTERNAL error, so a malformed call never takes the chaincode down.
func (Contract) Call(s Stub) (payload []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("chaincode panic", "panic", r, "stack", string(debug.Stack()))
			payload, err = nil, internal("panic: %v", r)
		}
	}()
	raw := s.GetArgs()
	if len(raw) == 0 {
		return nil, refuse(CodeBadArgs, "no function name")
	}
	if len(raw) > argsMax {
		return nil, refuse(CodeLimit, "%d arguments, at most %d", len(raw), argsMax)
	}
	total := 0
	for _, a := range raw {
		total += len(a)
	}
	if total > argBytesMax {
		return nil, refuse(CodeLimit, "arguments are %d bytes, at most %d", total, argBytesMax)
	}
	name := string(raw[0])
	h, ok := handlers[name]
	if !ok {
		return nil, refuse(CodeBadArgs, "unknown function %q", clip(name))
	}
	maxArgs := max(h.nargs, h.maxArgs)
	if n := len(raw) - 1; n < h.nargs || n > maxArgs {
		if maxArgs == h.nargs {
			return nil, refuse(CodeBadArgs, "%s takes %d arguments, got %d", name, h.nargs, n)
		}
		return nil, refuse(CodeBadArgs, "%s takes %d to %d arguments, got %d", name, h.nargs, maxArgs, n)
	}
	args := make([]string, len(raw)-1)
	for i := range args {
		args[i] = string(raw[i+1])
	}
	payload, err = h.fn(s, args)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			err = internal("%s: %v", name, err)
		}
		return nil, err
	}
	return payload, nil
}

// clip shortens a caller-supplied string before it goes into an error message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

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
	GetState(key string) ([]byte, error)
	PutState(key string, value []byte) error
	CreateCompositeKey(objectType string, attributes []string) (string, error)
	SplitCompositeKey(compositeKey string) (string, []string, error)
	GetStateByPartialCompositeKey(objectType string, keys []string) (shim.StateQueryIteratorInterface, error)
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
	nargs int // arguments after the function name
	fn    func(s Stub, args []string) ([]byte, error)
}

var handlers = map[string]handler{
	"Ping":             {0, func(s Stub, _ []string) ([]byte, error) { return ping(s) }},
	"RegisterBank":     {2, func(s Stub, a []string) ([]byte, error) { return registerBank(s, a[0], a[1]) }},
	"SetCap":           {3, func(s Stub, a []string) ([]byte, error) { return setCap(s, a[0], a[1], a[2]) }},
	"RecordChunk":      {3, func(s Stub, a []string) ([]byte, error) { return recordChunk(s, a[0], a[1], a[2]) }},
	"SettleCycle":      {2, func(s Stub, a []string) ([]byte, error) { return settleCycle(s, a[0], a[1]) }},
	"GetCycle":         {1, func(s Stub, a []string) ([]byte, error) { return getCycle(s, a[0]) }},
	"GetPayment":       {2, func(s Stub, a []string) ([]byte, error) { return getPayment(s, a[0], a[1]) }},
	"GetReversalChain": {2, func(s Stub, a []string) ([]byte, error) { return getReversalChain(s, a[0], a[1]) }},
	"GetHistory":       {1, func(s Stub, a []string) ([]byte, error) { return getHistory(s, a[0]) }},
	"GetBank":          {1, func(s Stub, a []string) ([]byte, error) { return getBank(s, a[0]) }},
	"GetCap":           {2, func(s Stub, a []string) ([]byte, error) { return getCap(s, a[0], a[1]) }},
	"GetCyclePayments": {3, func(s Stub, a []string) ([]byte, error) { return getCyclePayments(s, a[0], a[1], a[2]) }},
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
	if len(raw)-1 != h.nargs {
		return nil, refuse(CodeBadArgs, "%s takes %d arguments, got %d", name, h.nargs, len(raw)-1)
	}
	args := make([]string, h.nargs)
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

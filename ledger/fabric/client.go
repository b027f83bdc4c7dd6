// Package fabric is the settlement ledger's client: it implements jobs.Ledger
// on a Hyperledger Fabric channel through fabric-sdk-go, and is the only
// package of the module that imports the SDK.
//
// The client picks its endorsers itself instead of trusting discovery: it
// sends each proposal to as many banks' peers as a majority needs, a
// different set each time so that the endorsing work spreads over the
// banks, and asks the other peers only when those do not all endorse alike
// (one is down, refuses, or is behind); a peer that refused connections is
// left out for a while, so one bank's peer being down costs little, and
// fewer than a majority is reported before anything reaches the orderer. Writes are idempotent in the chaincode (a chunk or a settle
// has a deterministic identity); when the endorsers answer that the write
// is already on the ledger the client returns that first transaction and
// sends nothing to the orderer.
package fabric

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-protos-go/msp"
	pb "github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric-sdk-go/pkg/client/channel"
	"github.com/hyperledger/fabric-sdk-go/pkg/client/channel/invoke"
	"github.com/hyperledger/fabric-sdk-go/pkg/client/ledger"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/errors/status"
	sdkcontext "github.com/hyperledger/fabric-sdk-go/pkg/common/providers/context"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"
	"github.com/hyperledger/fabric-sdk-go/pkg/core/config"
	"github.com/hyperledger/fabric-sdk-go/pkg/fab/txn"
	"github.com/hyperledger/fabric-sdk-go/pkg/fabsdk"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"settle/jobs"
)

var (
	_ jobs.Ledger       = (*Client)(nil)
	_ jobs.ReadFloor    = (*Client)(nil)
	_ jobs.BankRegistry = (*Client)(nil)
)

// Limits and timing.
const (
	endorseTimeout   = 60 * time.Second // one proposal on one peer (a 5000-payment chunk takes a few s)
	commitTimeout    = 90 * time.Second // orderer + commit event after endorsement
	queryTimeout     = 30 * time.Second
	conflictRetryMax = 6                     // MVCC/phantom read conflicts, then give up
	lostRetryMax     = 3                     // commit outcome unknown: re-endorse at most this often
	disagreeRetryMax = 6                     // peers answer differently (one behind): ask again, then give the refusal
	notSentRetryMax  = 3                     // failed before the orderer had it (e.g. the commit-event stream): start again
	peerBackoff      = 10 * time.Second      // a peer that refused a connection is tried last for this long
	catchUpWait      = 5 * time.Second       // a query waits this long for its peer to hold the client's last write
	catchUpPoll      = 25 * time.Millisecond // how often it asks the peer its height
	pageSize         = 1000                  // GetCyclePayments page
)

// Config says which network and whose identity the client uses.
type Config struct {
	// Network is the path of the network.json ops/fabric/up.sh wrote.
	Network string
	// Org is the 1-based index of the bank organisation whose identity
	// signs the proposals.
	Org int
	// Operator, when set, is the 1-based index of the operator org whose
	// identity signs instead of a bank's (Org is then ignored): the governed
	// path's declare, settle, admit and cap calls are the operator's.
	Operator int
	// Admin uses the org's Admin identity instead of User1.
	Admin bool
	// Chaincode, when set, is the chaincode name to call instead of the
	// network's (ops/fabric's FABRIC_CHAINCODE_EXTRA deploys the same code under
	// more names, each with a ledger of its own).
	Chaincode string
	// Endorsers, when set, restricts endorsement to these banks' peers
	// (1-based) and sends to the orderer whatever they endorsed, even
	// fewer than a majority; the committing peers then judge. For tests
	// and diagnosis; empty means every bank's peer with a majority needed.
	Endorsers []int
	// EndorseAll sends every proposal to every bank's peer at once, as the
	// client did before it asked only a majority: every peer then does the
	// endorsing work of every transaction (issue 18 measured it at about
	// 0.56 CPU-ms per payment and endorsing peer), for a round trip saved
	// when a peer is down. For measurement.
	EndorseAll bool
	// Logger for retries and peer failures; slog.Default() if nil.
	Logger *slog.Logger
	// SDKLogLevel is fabric-sdk-go's own log level ("error" if empty).
	SDKLogLevel string
	// OnForeign, if set, is told by Listen of every transaction of the
	// chaincode in the blocks it reads that this client's identity did not
	// sign (another identity wrote to the ledger: a bank, an admin, an
	// attacker with a member's certificate). Blocks read again after a
	// restart from a checkpoint report their transactions again.
	OnForeign func(ForeignTx)
}

// Client is a jobs.Ledger on a Fabric channel. It is safe for concurrent use.
type Client struct {
	net       *Network
	org       *Bank
	majority  int
	strict    bool // Endorsers was set: send even a minority
	every     bool // EndorseAll: every proposal to every peer
	turn      atomic.Uint64
	sdk       *fabsdk.FabricSDK
	chp       sdkcontext.ChannelProvider
	ch        *channel.Client
	ledger    *ledger.Client
	peers     []*endorser // in bank order, own org first for queries
	orderers  []*node     // every orderer, in index order (ordering.go)
	signer    sdkcontext.Client
	log       *slog.Logger
	profile   string // temp file of the connection profile (removed by Close)
	mu        sync.Mutex
	downUntil map[string]time.Time
	// written is the highest block holding a transaction this client
	// committed (or found committed, or was told of: ReadAfter); heights
	// is each peer's height as last read. A query waits for its peer to
	// reach written+1, so the client reads its own writes even from a
	// peer a block behind.
	written uint64
	heights map[string]uint64
	// lastAccepted is how many orderers took the last transaction sent
	// (lastBroadcast: one was sent).
	lastAccepted  int
	lastBroadcast bool
	// Tests only: beforeSend sees each envelope's size (an error stops the
	// send), noSizeCheck leaves the size to the orderers.
	beforeSend  func(size int) error
	noSizeCheck bool
	closeOnce   sync.Once
	selfCert    []byte // DER of the signing certificate
	onForeign   func(ForeignTx)
	// indexing holds a lock a sender: one sender's IndexFile transactions
	// go one at a time, since they rewrite the same id pages (an MVCC
	// conflict otherwise); other senders' go on in parallel.
	indexing sync.Map // settlement.BIC -> *sync.Mutex
}

type endorser struct {
	bank *Bank
	peer fab.Peer
}

// New connects to the network described by cfg.Network as a member of
// bank cfg.Org. It loads the channel configuration from the peers, so it
// fails if none of them answers.
func New(ctx context.Context, cfg Config) (*Client, error) {
	n, err := LoadNetwork(cfg.Network)
	if err != nil {
		return nil, err
	}
	return NewFromNetwork(ctx, n, cfg)
}

// NewFromNetwork is New with the network description already read.
func NewFromNetwork(ctx context.Context, n *Network, cfg Config) (*Client, error) {
	var org *Bank
	switch {
	case cfg.Operator > 0:
		if cfg.Operator > len(n.Operators) {
			return nil, fmt.Errorf("operator %d: the network has %d operator orgs", cfg.Operator, len(n.Operators))
		}
		org = &n.Operators[cfg.Operator-1]
	case cfg.Org < 1 || cfg.Org > len(n.Banks):
		return nil, fmt.Errorf("org %d: the network has banks 1..%d", cfg.Org, len(n.Banks))
	default:
		org = &n.Banks[cfg.Org-1]
	}
	if cfg.Chaincode != "" {
		cp := *n
		cp.Chaincode = cfg.Chaincode
		n = &cp
		// org points into the original's slices, which the copy shares.
	}
	user, id := "User1", org.User
	if cfg.Admin {
		user, id = "Admin", org.Admin
	}
	if id.Cert == "" || id.Key == "" {
		return nil, fmt.Errorf("network description has no %s identity for %s", user, org.MSPID)
	}
	level := cfg.SDKLogLevel
	if level == "" {
		level = "error"
	}
	raw, err := n.profile(org, user, id, level)
	if err != nil {
		return nil, fmt.Errorf("connection profile: %w", err)
	}
	// A temp file rather than FromRaw: the SDK resolves relative settings
	// against a file, and an operator can read what the client used.
	f, err := os.CreateTemp("", "settle-fabric-profile-*.json")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	f.Close()
	c := &Client{
		net: n, org: org, majority: n.Majority(), strict: len(cfg.Endorsers) > 0, every: cfg.EndorseAll,
		log: cfg.Logger, profile: f.Name(), downUntil: map[string]time.Time{}, heights: map[string]uint64{},
		onForeign: cfg.OnForeign,
	}
	if pemBytes, err := os.ReadFile(id.Cert); err == nil {
		c.selfCert = certDER(pemBytes)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if err := c.connect(ctx, user, cfg.Endorsers); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) connect(ctx context.Context, user string, only []int) error {
	sdk, err := fabsdk.New(config.FromFile(c.profile))
	if err != nil {
		return fmt.Errorf("fabric sdk: %w", err)
	}
	c.sdk = sdk
	c.chp = sdk.ChannelContext(c.net.Channel, fabsdk.WithUser(user), fabsdk.WithOrg(c.org.Org))
	// The channel config comes from the peers; retry while they start.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if c.ch, lastErr = channel.New(c.chp); lastErr == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: connecting to channel %s: %v", jobs.ErrLedgerUnavailable, c.net.Channel, ctx.Err())
		case <-time.After(time.Duration(attempt+1) * time.Second):
		}
	}
	if lastErr != nil {
		return fmt.Errorf("%w: channel %s: %v", jobs.ErrLedgerUnavailable, c.net.Channel, lastErr)
	}
	if c.ledger, err = ledger.New(c.chp); err != nil {
		return fmt.Errorf("ledger client: %w", err)
	}
	chCtx, err := c.chp()
	if err != nil {
		return fmt.Errorf("channel context: %w", err)
	}
	want := map[int]bool{}
	for _, i := range only {
		if i < 1 || i > len(c.net.Banks) {
			return fmt.Errorf("endorser %d: the network has banks 1..%d", i, len(c.net.Banks))
		}
		want[i] = true
	}
	for i := range c.net.Banks {
		b := &c.net.Banks[i]
		if len(want) > 0 && !want[b.Index] {
			continue
		}
		pc, ok := chCtx.EndpointConfig().PeerConfig(b.peerName())
		if !ok {
			return fmt.Errorf("peer %s missing from the connection profile", b.peerName())
		}
		p, err := chCtx.InfraProvider().CreatePeerFromConfig(&fab.NetworkPeer{PeerConfig: *pc, MSPID: b.MSPID})
		if err != nil {
			return fmt.Errorf("peer %s: %w", b.peerName(), err)
		}
		c.peers = append(c.peers, &endorser{bank: b, peer: p})
	}
	if err := c.connectOrderers(chCtx); err != nil {
		return err
	}
	// Queries go to the client's own bank first.
	sort.SliceStable(c.peers, func(i, j int) bool { return c.peers[i].bank == c.org && c.peers[j].bank != c.org })
	return nil
}

// Close releases the SDK's connections and the profile file.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		if c.sdk != nil {
			c.sdk.Close()
		}
		os.Remove(c.profile)
	})
	return nil
}

// Network is the description the client was built from.
func (c *Client) Network() *Network { return c.net }

// MSPID is the MSP of the identity the client signs with.
func (c *Client) MSPID() string { return c.org.MSPID }

// RefusalError is the chaincode's "CODE: message" refusal. It wraps
// jobs.ErrLedgerRefused.
type RefusalError struct {
	Code string
	Msg  string
	Fn   string
}

func (e *RefusalError) Error() string {
	return fmt.Sprintf("%s: %v: %s: %s", e.Fn, jobs.ErrLedgerRefused, e.Code, e.Msg)
}

// Unwrap makes errors.Is(err, jobs.ErrLedgerRefused) true, and for a refusal
// of the caller's role errors.Is(err, jobs.ErrLedgerForbidden) as well.
func (e *RefusalError) Unwrap() []error {
	if e.Code == CodeNotAuthorized {
		return []error{jobs.ErrLedgerRefused, jobs.ErrLedgerForbidden}
	}
	return []error{jobs.ErrLedgerRefused}
}

// Refusal codes of the chaincode (ledger/chaincode/README.md, "Errors"): the
// legacy ones, then the governed path's. A RefusalError carries one in Code;
// errors.Is(err, jobs.ErrLedgerForbidden) is true for NOT_AUTHORIZED.
const (
	CodeNotFound         = "NOT_FOUND"
	CodeNotAuthorized    = "NOT_AUTHORIZED"
	CodeNotFounded       = "NOT_FOUNDED"
	CodeFounded          = "FOUNDED"
	CodeGovernance       = "GOVERNANCE"
	CodeKeyConflict      = "KEY_CONFLICT"
	CodeCycleDeclared    = "CYCLE_DECLARED"
	CodeNotDeclared      = "NOT_DECLARED"
	CodeDuplicateFile    = "DUPLICATE_FILE"
	CodePartOrder        = "PART_ORDER"
	CodePartBoundary     = "PART_BOUNDARY"
	CodeFileVerified     = "FILE_VERIFIED"
	CodeDigestMismatch   = "DIGEST_MISMATCH"
	CodeSignature        = "SIGNATURE"
	CodeFileRejected     = "FILE_REJECTED"
	CodeDeclaredMismatch = "DECLARED_MISMATCH"
	CodeCycleIncomplete  = "CYCLE_INCOMPLETE"
	CodeDeferralMismatch = "DEFERRAL_MISMATCH" // a proposed deferral list that is not the ledger's resolution
)

var refusalRe = regexp.MustCompile(`\b(BAD_ARGS|LIMIT|INVALID_FIELD|UNKNOWN_BANK|DUPLICATE_PAYMENT|REVERSAL_INVALID|CHUNK_CONFLICT|CYCLE_SETTLED|CYCLE_EMPTY|POSITIONS_MISMATCH|NOT_BALANCED|CAP_EXCEEDED|SETTLE_CONFLICT|BANK_CONFLICT|NOT_FOUND|INTERNAL|NOT_AUTHORIZED|NOT_FOUNDED|FOUNDED|GOVERNANCE|KEY_CONFLICT|CYCLE_DECLARED|NOT_DECLARED|DUPLICATE_FILE|PART_ORDER|PART_BOUNDARY|FILE_VERIFIED|DIGEST_MISMATCH|SIGNATURE|FILE_REJECTED|DECLARED_MISMATCH|CYCLE_INCOMPLETE|DEFERRAL_MISMATCH): (.*)$`)

// refusal extracts "CODE: message" from a chaincode error message.
func refusal(fn, msg string) *RefusalError {
	m := refusalRe.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	return &RefusalError{Code: m[1], Msg: m[2], Fn: fn}
}

// IsNotFound tells a NOT_FOUND refusal.
func IsNotFound(err error) bool {
	var r *RefusalError
	return errors.As(err, &r) && r.Code == CodeNotFound
}

// RefusalCode is the chaincode's refusal code in err ("" when err is not a
// refusal).
func RefusalCode(err error) string {
	var r *RefusalError
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}

// PolicyError is a transaction that did not gather the majority of
// endorsements the channel requires. It wraps jobs.ErrEndorsementPolicy.
type PolicyError struct {
	TxID      string
	Endorsers []string // MSP ids that endorsed
	Needed    int
	Detail    string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("%v: tx %s endorsed by %s (%d of the %d needed): %s", jobs.ErrEndorsementPolicy, e.TxID,
		orNone(e.Endorsers), len(e.Endorsers), e.Needed, e.Detail)
}

// Unwrap makes errors.Is(err, jobs.ErrEndorsementPolicy) true.
func (e *PolicyError) Unwrap() error { return jobs.ErrEndorsementPolicy }

func orNone(s []string) string {
	if len(s) == 0 {
		return "nobody"
	}
	return strings.Join(s, ", ")
}

// answer is one peer's endorsement of a proposal.
type answer struct {
	e    *endorser
	resp *fab.TransactionProposalResponse
	err  error
}

// endorse asks the peers a majority needs, a different set for each
// proposal (see pick), and returns their answers when they all endorsed
// alike. Otherwise (a peer unreachable, refusing, or endorsing another
// result because it is a block behind) it asks the other peers too and
// returns every answer, so the caller judges them as if all had been asked
// at once. A client with Endorsers or EndorseAll asks all its peers.
func (c *Client) endorse(ctx context.Context, tr fab.Transactor, prop *fab.TransactionProposal) []answer {
	if c.strict || c.every || c.majority >= len(c.peers) {
		return c.endorseAll(ctx, tr, prop)
	}
	first, rest := c.pick()
	out := c.endorseSome(ctx, tr, prop, first)
	if unanimous(out) || ctx.Err() != nil {
		return out
	}
	return append(out, c.endorseSome(ctx, tr, prop, rest)...)
}

// pick splits the peers into the majority asked first and the rest. The
// first set starts at the next bank in turn, so over many transactions
// every bank's peer endorses its share (majority of peers out of every
// peers' transactions); peers that refused connections recently go last.
func (c *Client) pick() (first, rest []*endorser) {
	n := len(c.peers)
	k := int(c.turn.Add(1) % uint64(n))
	c.mu.Lock()
	now := time.Now()
	var up, down []*endorser
	for i := range n {
		e := c.peers[(k+i)%n]
		if now.Before(c.downUntil[e.bank.MSPID]) {
			down = append(down, e)
		} else {
			up = append(up, e)
		}
	}
	c.mu.Unlock()
	all := append(up, down...)
	return all[:c.majority], all[c.majority:]
}

// unanimous is true when every answer is an endorsement (status 2xx or
// 3xx) of one same result.
func unanimous(as []answer) bool {
	for _, a := range as {
		if a.err != nil {
			return false
		}
		r := a.resp.ProposalResponse
		if st := r.GetResponse().GetStatus(); st < 200 || st >= 400 {
			return false
		}
		if string(r.GetPayload()) != string(as[0].resp.ProposalResponse.GetPayload()) {
			return false
		}
	}
	return len(as) > 0
}

// endorseAll sends the proposal to every configured peer at once and
// returns their answers (endorseSome on every peer).
func (c *Client) endorseAll(ctx context.Context, tr fab.Transactor, prop *fab.TransactionProposal) []answer {
	return c.endorseSome(ctx, tr, prop, c.peers)
}

// endorseSome sends the proposal to the peers given at once and returns
// their answers. A peer that refused connections recently is still asked
// (it may be back), but its failure is cheap: the connection timeout is
// short.
//
// It returns when every peer has answered or ctx ends, whichever comes
// first: a peer still silent then answers ctx's error (the SDK's
// SendTransactionProposal takes no context, so its call runs on, bounded
// by the SDK's own timeout, and its late answer is dropped).
func (c *Client) endorseSome(ctx context.Context, tr fab.Transactor, prop *fab.TransactionProposal, peers []*endorser) []answer {
	type indexed struct {
		i int
		a answer
	}
	ch := make(chan indexed, len(peers)) // buffered: a late answer never blocks
	for i, e := range peers {
		go func() {
			// A peer behind this client's last write would endorse on old
			// state (a settle that sees fewer chunks than were written). It
			// counts as unavailable, not as a refusal: a peer pulls its
			// blocks from one orderer, and a silent one holds it back until
			// the peer moves to another (ops/fabric: keepalive, ~10 s).
			if err := c.catchUp(ctx, e); err != nil {
				ch <- indexed{i, answer{e: e, err: err}}
				return
			}
			ch <- indexed{i, c.endorseOne(tr, prop, e)}
		}()
	}
	out := make([]answer, len(peers))
	got := make([]bool, len(peers))
	for n := 0; n < len(peers); n++ {
		select {
		case r := <-ch:
			out[r.i], got[r.i] = r.a, true
		case <-ctx.Done():
			for i, e := range peers {
				if !got[i] {
					out[i] = answer{e: e, err: ctx.Err()}
				}
			}
			return out
		}
	}
	return out
}

func (c *Client) endorseOne(tr fab.Transactor, prop *fab.TransactionProposal, e *endorser) answer {
	rs, err := tr.SendTransactionProposal(prop, []fab.ProposalProcessor{e.peer})
	a := answer{e: e, err: err}
	if len(rs) == 1 && rs[0].ProposalResponse != nil {
		a.resp = rs[0]
	}
	if err == nil && a.resp == nil {
		a.err = errors.New("no proposal response")
	}
	c.mu.Lock()
	if a.err != nil && unreachable(a.err) {
		c.downUntil[e.bank.MSPID] = time.Now().Add(peerBackoff)
	} else {
		delete(c.downUntil, e.bank.MSPID)
	}
	c.mu.Unlock()
	return a
}

// unreachable tells a peer that could not be reached from one that answered.
func unreachable(err error) bool {
	if s, ok := status.FromError(err); ok {
		if s.Group == status.ChaincodeStatus {
			return false
		}
		if s.Group == status.EndorserClientStatus && s.Code == status.ConnectionFailed.ToInt32() {
			return true
		}
		if s.Group == status.GRPCTransportStatus {
			return true
		}
	}
	return unreachableCause(err)
}

// unreachableCause tells, by the error's type and never its text, a peer
// that timed out or could not be connected to.
func unreachableCause(err error) bool {
	if s, ok := status.FromError(err); ok {
		switch {
		case s.Group == status.EndorserClientStatus && s.Code == status.ConnectionFailed.ToInt32(),
			s.Group == status.OrdererClientStatus && s.Code == status.ConnectionFailed.ToInt32(),
			s.Group == status.ClientStatus && s.Code == status.Timeout.ToInt32():
			return true
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var gs interface{ GRPCStatus() *grpcstatus.Status }
	if errors.As(err, &gs) {
		switch gs.GRPCStatus().Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	return false
}

// chaincodeMessage is the chaincode's error message, if err is one.
func chaincodeMessage(err error) (string, bool) {
	if s, ok := status.FromError(err); ok && s.Group == status.ChaincodeStatus {
		return s.Message, true
	}
	return "", false
}

// txOutcome is one submitted transaction's result.
type txOutcome struct {
	payload []byte
	tx      jobs.LedgerTx
}

// errUnknownOutcome: the transaction went to the orderer but its commit was
// not seen in time; whether it committed must be found out.
var errUnknownOutcome = errors.New("commit outcome unknown")

// handler adapts a function to the SDK's invoke.Handler.
type handler func(rc *invoke.RequestContext, cc *invoke.ClientContext)

func (h handler) Handle(rc *invoke.RequestContext, cc *invoke.ClientContext) { h(rc, cc) }

// withClient runs fn with the SDK's per-request transactor and event service.
func (c *Client) withClient(ctx context.Context, fnName string, timeout time.Duration,
	fn func(ctx context.Context, tr fab.Transactor, es fab.EventService) error) error {
	var inner error
	h := handler(func(rc *invoke.RequestContext, cc *invoke.ClientContext) {
		inner = fn(rc.Ctx, cc.Transactor, cc.EventService)
		rc.Error = inner
	})
	_, err := c.ch.InvokeHandler(h, channel.Request{ChaincodeID: c.net.Chaincode, Fcn: fnName},
		channel.WithParentContext(ctx), channel.WithTimeout(fab.Execute, timeout))
	if inner != nil {
		return inner
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %v", jobs.ErrLedgerUnavailable, err)
	}
	return nil
}

func argBytes(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// Submit runs fn as a majority-endorsed transaction and waits for its
// commit. done, if not nil, looks at the endorsed result: when it says the
// write is already on the ledger (and returns that transaction's id), no
// transaction is sent and Submit returns it with Existing set. MVCC read
// conflicts are retried with a bound and jittered backoff; a transaction
// whose commit was not seen is looked up by id, and the call re-endorsed
// (the chaincode answers "already ..." if it did commit) at most
// lostRetryMax times. When the peers' answers split (some endorse, some
// refuse, none a majority: a peer behind the others), it asks again at most
// disagreeRetryMax times before returning the refusal.
func (c *Client) Submit(ctx context.Context, done func(payload []byte) (string, bool), fn string, args ...string) ([]byte, jobs.LedgerTx, error) {
	out, err := retrySubmit(ctx, c.log, fn, func() (txOutcome, error) { return c.submitOnce(ctx, done, fn, args) }, sleepJitter)
	if err != nil {
		return nil, jobs.LedgerTx{}, err
	}
	if out.tx.Existing && (out.tx.Block == 0 || len(out.tx.Endorsers) == 0) {
		if t, terr := c.Tx(ctx, out.tx.ID); terr == nil {
			out.tx.Block, out.tx.Endorsers = t.Block, t.Endorsers
		} else {
			c.log.Warn("ledger: existing transaction not described", "tx", out.tx.ID, "err", terr)
		}
	}
	return out.payload, out.tx, nil
}

// retrySubmit runs once until it succeeds or fails for good: read
// conflicts, split answers and unknown outcomes are tried again, each
// kind a bounded number of times, pausing between tries.
func retrySubmit(ctx context.Context, log *slog.Logger, fn string, once func() (txOutcome, error), pause func(context.Context, int) error) (txOutcome, error) {
	conflicts, lost, disagreed, notSent := 0, 0, 0, 0
	for {
		out, err := once()
		var inv *invalidError
		var dis *disagreeError
		var attempt int
		switch {
		case err == nil:
			return out, nil
		case errors.As(err, &inv) && (inv.code == pb.TxValidationCode_MVCC_READ_CONFLICT || inv.code == pb.TxValidationCode_PHANTOM_READ_CONFLICT):
			conflicts++
			if conflicts > conflictRetryMax {
				return txOutcome{}, fmt.Errorf("%s: %d read conflicts in a row: %w", fn, conflicts, err)
			}
			log.Info("ledger: read conflict, retrying", "fn", fn, "tx", inv.txID, "attempt", conflicts)
			attempt = conflicts
		case errors.As(err, &dis):
			disagreed++
			if disagreed > disagreeRetryMax {
				return txOutcome{}, dis.err
			}
			log.Info("ledger: peers disagree, asking again", "fn", fn, "agreed", dis.agreed, "answered", dis.answered, "attempt", disagreed, "err", dis.err)
			attempt = disagreed
		case errors.As(err, new(*notSentError)):
			notSent++
			if notSent > notSentRetryMax {
				return txOutcome{}, err
			}
			log.Warn("ledger: transaction not sent, starting again", "fn", fn, "err", err, "attempt", notSent)
			attempt = notSent
		case errors.Is(err, errUnknownOutcome):
			lost++
			if lost > lostRetryMax {
				return txOutcome{}, fmt.Errorf("%s: %w: %v", fn, jobs.ErrLedgerUnavailable, err)
			}
			log.Warn("ledger: commit not seen, checking and re-endorsing", "fn", fn, "err", err, "attempt", lost)
			attempt = lost
		default:
			return txOutcome{}, err
		}
		if err := pause(ctx, attempt); err != nil {
			return txOutcome{}, err
		}
	}
}

func sleepJitter(ctx context.Context, attempt int) error { return sleep(ctx, jitter(attempt)) }

func jitter(attempt int) time.Duration {
	base := time.Duration(100<<min(attempt, 6)) * time.Millisecond
	return base/2 + time.Duration(rand.Int64N(int64(base)))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// disagreeError: the peers' answers split with no majority for any one of
// them, some endorsing and some refusing or endorsing something else. It
// is what a peer a few blocks behind the others looks like, so Submit asks
// again, and returns err only when the split lasts.
type disagreeError struct {
	err              error
	agreed, answered int
}

func (e *disagreeError) Error() string { return e.err.Error() }
func (e *disagreeError) Unwrap() error { return e.err }

// notSentError: the attempt failed before the transaction reached the
// orderer, so nothing can be on the ledger from it and Submit starts again
// (at most notSentRetryMax times). It wraps jobs.ErrLedgerUnavailable.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// invalidError is a committed transaction that the peers marked invalid.
type invalidError struct {
	txID  string
	code  pb.TxValidationCode
	block uint64
}

func (e *invalidError) Error() string {
	return fmt.Sprintf("tx %s committed in block %d as %s", e.txID, e.block, e.code)
}

// submitOnce endorses fn(args) once, and unless done finds the
// endorsed payload already on the ledger, sends it to the orderer and
// waits for its commit.
func (c *Client) submitOnce(ctx context.Context, done func([]byte) (string, bool), fn string, args []string) (txOutcome, error) {
	var out txOutcome
	err := c.withClient(ctx, fn, endorseTimeout+commitTimeout, func(rctx context.Context, tr fab.Transactor, es fab.EventService) error {
		txh, err := tr.CreateTransactionHeader()
		if err != nil {
			return fmt.Errorf("transaction header: %w", err)
		}
		prop, err := txn.CreateChaincodeInvokeProposal(txh, fab.ChaincodeInvokeRequest{
			ChaincodeID: c.net.Chaincode, Fcn: fn, Args: argBytes(args),
		})
		if err != nil {
			return fmt.Errorf("proposal: %w", err)
		}
		txID := string(prop.TxnID)
		best, endorsers, err := c.agreed(fn, txID, c.endorse(rctx, tr, prop))
		if err != nil {
			return err
		}
		payload := best[0].resp.ProposalResponse.GetResponse().GetPayload()
		out.payload = payload
		if done != nil {
			if orig, ok := done(payload); ok {
				out.tx = jobs.LedgerTx{ID: orig, Existing: true}
				return nil
			}
		}
		tx, err := c.commit(ctx, rctx, tr, es, fn, prop, best, endorsers)
		if err != nil {
			return err
		}
		out.tx = tx
		return nil
	})
	if err == nil && out.tx.ID == "" {
		return out, fmt.Errorf("%s: no transaction", fn)
	}
	return out, err
}

// tally is the peers' answers to one proposal, sorted out.
type tally struct {
	groups  map[string][]answer // the endorsements, by the payload endorsed
	failed  []string            // peers unreachable or failing, with why
	refused error               // the first chaincode refusal, if any
}

// tallyAnswers groups the successful answers by what they endorsed, and
// keeps the first refusal and every failure.
func tallyAnswers(fn string, answers []answer) tally {
	t := tally{groups: map[string][]answer{}}
	for _, a := range answers {
		if a.err != nil {
			if msg, ok := chaincodeMessage(a.err); ok {
				if t.refused == nil {
					if r := refusal(fn, msg); r != nil {
						t.refused = r
					} else {
						t.refused = fmt.Errorf("%s: chaincode error on %s: %s", fn, a.e.bank.MSPID, msg)
					}
				}
				continue
			}
			t.failed = append(t.failed, fmt.Sprintf("%s: %v", a.e.bank.MSPID, shortErr(a.err)))
			continue
		}
		r := a.resp.ProposalResponse
		if st := r.GetResponse().GetStatus(); st < 200 || st >= 400 {
			if t.refused == nil {
				if rf := refusal(fn, r.GetResponse().GetMessage()); rf != nil {
					t.refused = rf
				} else {
					t.refused = fmt.Errorf("%s: chaincode error on %s: status %d %s", fn, a.e.bank.MSPID, st, r.GetResponse().GetMessage())
				}
			}
			continue
		}
		k := string(r.GetPayload())
		t.groups[k] = append(t.groups[k], a)
	}
	return t
}

// agreed is the largest group of peers that endorsed alike, and their
// banks' MSP ids, when that is enough to send the transaction. A refusal
// is the answer unless a majority endorsed alike: a peer that has not yet
// committed the last blocks (it just restarted, or it is a few ms behind
// the one whose commit event we saw) may refuse what the others accept
// (CYCLE_EMPTY right after the chunks), or accept what they refuse; the
// majority's state is the ledger's.
func (c *Client) agreed(fn, txID string, answers []answer) (best []answer, endorsers []string, err error) {
	t := tallyAnswers(fn, answers)
	for _, g := range t.groups {
		if len(g) > len(best) {
			best = g
		}
	}
	if t.refused != nil && (len(best) < c.majority || c.strict) {
		if len(best) > 0 && !c.strict {
			// Some peers endorsed what others refused: the ones
			// refusing are most likely a block or two behind (a bank
			// registered a moment ago is UNKNOWN_BANK on a peer that
			// has not committed it yet). Ask again shortly.
			return nil, nil, &disagreeError{err: t.refused, agreed: len(best), answered: len(answers) - len(t.failed)}
		}
		return nil, nil, t.refused
	}
	endorsers = make([]string, len(best))
	for i, a := range best {
		endorsers[i] = a.e.bank.MSPID
	}
	if len(best) == 0 || (!c.strict && len(best) < c.majority) {
		return nil, nil, c.tooFew(fn, txID, t, len(best), endorsers, len(answers))
	}
	return best, endorsers, nil
}

// tooFew is the error when fewer than a majority of the banks' peers
// endorsed alike: a disagreement to ask again about, an endorsement
// policy failure, or the ledger unavailable when too few peers answered.
func (c *Client) tooFew(fn, txID string, t tally, agreed int, endorsers []string, answered int) error {
	detail := fmt.Sprintf("%d of %d banks' peers endorsed, %d needed", agreed, len(c.net.Banks), c.majority)
	if len(t.groups) > 1 {
		detail += fmt.Sprintf("; the peers' results differ (%d versions)", len(t.groups))
	}
	if len(t.failed) > 0 {
		detail += "; unreachable or failed: " + strings.Join(t.failed, "; ")
	}
	pe := &PolicyError{TxID: txID, Endorsers: endorsers, Needed: c.majority, Detail: detail}
	if len(t.groups) > 1 {
		// Peers that disagree (e.g. one still catching up): no
		// majority for one result yet.
		return &disagreeError{err: pe, agreed: agreed, answered: answered - len(t.failed)}
	}
	if len(t.failed) == 0 {
		return pe
	}
	// Too few peers answered: the ledger is unavailable, not the
	// content wrong. The job fails and succeeds when re-run.
	return fmt.Errorf("%s: %w: no majority of the banks' peers reachable: endorsed by %s, %d needed; unreachable or failed: %s",
		fn, jobs.ErrLedgerUnavailable, orNone(endorsers), c.majority, strings.Join(t.failed, "; "))
}

// commit sends the endorsed proposal to the orderer and waits for its
// commit event; when none comes in time it asks the ledger for the
// transaction by id before calling the outcome unknown. ctx is the
// caller's, rctx the attempt's.
func (c *Client) commit(ctx, rctx context.Context, tr fab.Transactor, es fab.EventService, fn string, prop *fab.TransactionProposal,
	best []answer, endorsers []string) (jobs.LedgerTx, error) {
	txID := string(prop.TxnID)
	resps := make([]*fab.TransactionProposalResponse, len(best))
	for i, a := range best {
		resps[i] = a.resp
	}
	sort.Strings(endorsers)
	reg, notify, err := es.RegisterTxStatusEvent(txID)
	if err != nil {
		// Nothing was sent: safe to start again (a peer slow to
		// accept the event stream's connection under load).
		return jobs.LedgerTx{}, &notSentError{err: fmt.Errorf("%w: commit events: %v", jobs.ErrLedgerUnavailable, err)}
	}
	defer es.Unregister(reg)
	tx, err := tr.CreateTransaction(fab.TransactionRequest{Proposal: prop, ProposalResponses: resps})
	if err != nil {
		return jobs.LedgerTx{}, fmt.Errorf("%s: transaction: %w", fn, err)
	}
	if err := c.send(rctx, txID, tx); err != nil {
		return jobs.LedgerTx{}, err
	}
	wait := time.NewTimer(commitTimeout)
	defer wait.Stop()
	select {
	case st := <-notify:
		if st.TxValidationCode == pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
			return jobs.LedgerTx{}, &PolicyError{TxID: txID, Endorsers: endorsers, Needed: c.majority,
				Detail: fmt.Sprintf("rejected by the committing peers in block %d", st.BlockNumber)}
		}
		if st.TxValidationCode != pb.TxValidationCode_VALID {
			return jobs.LedgerTx{}, &invalidError{txID: txID, code: st.TxValidationCode, block: st.BlockNumber}
		}
		c.noteWritten(st.BlockNumber)
		return jobs.LedgerTx{ID: txID, Block: st.BlockNumber, Endorsers: endorsers}, nil
	case <-wait.C:
	case <-rctx.Done():
	}
	// The commit event did not come: ask the ledger by tx id.
	if ctx.Err() != nil {
		return jobs.LedgerTx{}, ctx.Err()
	}
	if t, err := c.Tx(context.WithoutCancel(ctx), txID); err == nil {
		c.noteWritten(t.Block)
		return t, nil
	}
	return jobs.LedgerTx{}, fmt.Errorf("%w: tx %s sent, no commit seen within %s", errUnknownOutcome, txID, commitTimeout)
}

// shortErr keeps the first line of an SDK error (they nest deeply).
func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// Evaluate runs a query on one peer: the client's own bank's first, then
// the others while a peer cannot be reached or stays behind this client's
// last write (see catchUp). A chaincode refusal is
// returned as a *RefusalError at once.
func (c *Client) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	var out []byte
	err := c.withClient(ctx, fn, queryTimeout, func(rctx context.Context, tr fab.Transactor, _ fab.EventService) error {
		txh, err := tr.CreateTransactionHeader()
		if err != nil {
			return fmt.Errorf("transaction header: %w", err)
		}
		prop, err := txn.CreateChaincodeInvokeProposal(txh, fab.ChaincodeInvokeRequest{
			ChaincodeID: c.net.Chaincode, Fcn: fn, Args: argBytes(args),
		})
		if err != nil {
			return fmt.Errorf("proposal: %w", err)
		}
		var failed []string
		for _, e := range c.queryOrder() {
			if err := c.catchUp(rctx, e); err != nil {
				failed = append(failed, fmt.Sprintf("%s: %s", e.bank.MSPID, shortErr(err)))
				if rctx.Err() != nil {
					break
				}
				continue
			}
			a := c.endorseOne(tr, prop, e)
			if a.err != nil {
				if msg, ok := chaincodeMessage(a.err); ok {
					if r := refusal(fn, msg); r != nil {
						return r
					}
					return fmt.Errorf("%s: chaincode error on %s: %s", fn, e.bank.MSPID, msg)
				}
				failed = append(failed, fmt.Sprintf("%s: %s", e.bank.MSPID, shortErr(a.err)))
				if rctx.Err() != nil {
					break
				}
				continue
			}
			r := a.resp.ProposalResponse.GetResponse()
			if r.GetStatus() < 200 || r.GetStatus() >= 400 {
				if rf := refusal(fn, r.GetMessage()); rf != nil {
					return rf
				}
				return fmt.Errorf("%s: chaincode error on %s: %s", fn, e.bank.MSPID, r.GetMessage())
			}
			out = r.GetPayload()
			return nil
		}
		return fmt.Errorf("%s: %w: no peer answered: %s", fn, jobs.ErrLedgerUnavailable, strings.Join(failed, "; "))
	})
	return out, err
}

// ReadAfter makes this client's queries wait, as for its own writes, until
// their peer holds block: a process reading what another wrote (the block
// is in Postgres) reads it even from a peer a block behind. It implements
// jobs.ReadFloor.
func (c *Client) ReadAfter(block uint64) { c.noteWritten(block) }

// noteWritten records that block holds a transaction of this client's.
func (c *Client) noteWritten(block uint64) {
	c.mu.Lock()
	c.written = max(c.written, block)
	c.mu.Unlock()
}

// catchUp waits, at most catchUpWait, until e's peer has committed the
// last block this client wrote to, so a query after a write sees it. A
// peer that stays behind (or cannot say its height) is an error: the
// caller asks another peer.
func (c *Client) catchUp(ctx context.Context, e *endorser) error {
	c.mu.Lock()
	written, have := c.written, c.heights[e.bank.MSPID]
	c.mu.Unlock()
	if written == 0 || have > written {
		return nil
	}
	h, err := waitHeight(ctx, written+1, func(ctx context.Context) (uint64, error) { return c.height(ctx, e) }, catchUpWait, catchUpPoll)
	c.mu.Lock()
	c.heights[e.bank.MSPID] = max(c.heights[e.bank.MSPID], h)
	c.mu.Unlock()
	return err
}

// height is the number of blocks e's peer has committed.
func (c *Client) height(ctx context.Context, e *endorser) (uint64, error) {
	qctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	r, err := c.ledger.QueryInfo(ledger.WithTargets(e.peer), ledger.WithParentContext(qctx))
	if err != nil {
		return 0, fmt.Errorf("chain height: %w", err)
	}
	return r.BCI.GetHeight(), nil
}

// waitHeight polls height until it reaches need, for at most wait. It
// returns the last height read.
func waitHeight(ctx context.Context, need uint64, height func(context.Context) (uint64, error), wait, poll time.Duration) (uint64, error) {
	deadline := time.Now().Add(wait)
	for {
		h, err := height(ctx)
		if err != nil {
			return h, err
		}
		if h >= need {
			return h, nil
		}
		if !time.Now().Before(deadline) {
			return h, fmt.Errorf("peer behind: height %d after %s, %d needed to see this client's last write", h, wait, need)
		}
		if err := sleep(ctx, poll); err != nil {
			return h, err
		}
	}
}

// queryOrder is the peers in query order, those that recently refused
// connections last.
func (c *Client) queryOrder() []*endorser {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	out := make([]*endorser, 0, len(c.peers))
	var later []*endorser
	for _, e := range c.peers {
		if now.Before(c.downUntil[e.bank.MSPID]) {
			later = append(later, e)
		} else {
			out = append(out, e)
		}
	}
	return append(out, later...)
}

// mspOf reads the MSP id of a serialized identity.
func mspOf(serialized []byte) string {
	var id msp.SerializedIdentity
	if err := proto.Unmarshal(serialized, &id); err != nil {
		return ""
	}
	return id.Mspid
}

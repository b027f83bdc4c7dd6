package fabric

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-protos-go/common"
	sdkcontext "github.com/hyperledger/fabric-sdk-go/pkg/common/providers/context"
	"github.com/hyperledger/fabric-sdk-go/pkg/common/providers/fab"
	contextImpl "github.com/hyperledger/fabric-sdk-go/pkg/context"

	"settle/jobs"
)

// The ordering service is BFT (SmartBFT, ops/fabric): n orderers, one per
// member, of which f = (n-1)/3 may crash or lie. fabric-sdk-go hands a
// transaction to ONE orderer (the first of the profile's that accepts it),
// and a faulty one can then drop it unseen, or a SmartBFT follower hold it
// for its forward timeout. So the client sends the same signed envelope to
// every orderer at once and counts it sent once a quorum accepted it: then
// at least f+1 honest orderers hold it, and they order it whoever leads.
// (The peer Gateway of fabric-gateway does the same; staying on sdk-go keeps
// the client's own choice of endorsers.)

// RequestBytesMax is the largest transaction the orderers take: this Fabric's
// SmartBFT fixes RequestMaxBytes at 500 KiB and ignores the channel's setting.
// The client refuses a bigger one before sending it (ErrTooLarge).
const RequestBytesMax = 500 * 1024

// orderingProbeTimeout bounds one orderer's TLS handshake in Ordering.
const orderingProbeTimeout = 3 * time.Second

// ErrTooLarge: the transaction is larger than the orderers take. It is
// wrapped with jobs.ErrLedgerRefused: permanent for that content (a smaller
// chunk or part goes through), never an unknown outcome to retry.
var ErrTooLarge = errors.New("transaction larger than the ordering service takes")

// TooLargeError is a transaction the ordering service would refuse (or
// refused) for its size.
type TooLargeError struct {
	TxID  string
	Bytes int // 0 when only the orderer's answer is known
	Max   int
	Info  string // the orderer's words, when it answered
}

func (e *TooLargeError) Error() string {
	if e.Bytes > 0 {
		return fmt.Sprintf("%v: tx %s is %d bytes, the orderers take at most %d", ErrTooLarge, e.TxID, e.Bytes, e.Max)
	}
	return fmt.Sprintf("%v: tx %s: %s", ErrTooLarge, e.TxID, e.Info)
}

// Unwrap makes errors.Is(err, ErrTooLarge) and errors.Is(err,
// jobs.ErrLedgerRefused) true.
func (e *TooLargeError) Unwrap() []error { return []error{ErrTooLarge, jobs.ErrLedgerRefused} }

// Orderer is one ordering node of the network's description.
type Orderer struct {
	Index             int      `json:"index"` // 0 the operator's, i bank i's
	ID                int      `json:"id"`    // SmartBFT consenter id
	Org               string   `json:"org"`
	MSPID             string   `json:"mspId"`
	Address           string   `json:"address"`
	HostOverride      string   `json:"hostOverride"`
	TLSCACert         string   `json:"tlsCACert"`
	OrgMSPDir         string   `json:"orgMspDir"`
	AdminAddress      string   `json:"adminAddress"`
	OperationsAddress string   `json:"operationsAddress"`
	Admin             Identity `json:"admin"`
}

func (o *Orderer) name() string { return fmt.Sprintf("orderer%d", o.Index) }

// Faults is f, the number of orderers that may fail or lie: n = 3f+1 or more.
func (n *Network) Faults() int { return (len(n.orderers()) - 1) / 3 }

// Quorum is the number of orderers SmartBFT needs to order a block,
// ceil((n+f+1)/2): 3 of 4, 4 of 5 or 6.
func (n *Network) Quorum() int { return (len(n.orderers()) + n.Faults() + 2) / 2 }

// orderers is the ordering nodes: the description's list, or its one
// "orderer" for a description that names only one.
func (n *Network) orderers() []Orderer {
	if len(n.Orderers) > 0 {
		return n.Orderers
	}
	o := Orderer{Index: 0, ID: 1, MSPID: n.Orderer.MSPID, Address: n.Orderer.Address,
		HostOverride: n.Orderer.HostOverride, TLSCACert: n.Orderer.TLSCACert}
	return []Orderer{o}
}

// node is one orderer as the client talks to it.
type node struct {
	o   *Orderer
	sdk fab.Orderer
}

// connectOrderers builds one SDK orderer per node of the description.
func (c *Client) connectOrderers(chCtx sdkcontext.Channel) error {
	nodes := c.net.orderers()
	for i := range nodes {
		o := &nodes[i]
		oc, ok, _ := chCtx.EndpointConfig().OrdererConfig(o.name())
		if !ok {
			return fmt.Errorf("orderer %s missing from the connection profile", o.name())
		}
		so, err := chCtx.InfraProvider().CreateOrdererFromConfig(oc)
		if err != nil {
			return fmt.Errorf("orderer %s: %w", o.name(), err)
		}
		c.orderers = append(c.orderers, &node{o: o, sdk: so})
	}
	c.signer = chCtx
	return nil
}

// envelope is tx signed once by the client's identity, as the orderers take
// it: the same bytes go to every orderer.
func (c *Client) envelope(tx *fab.Transaction) (*fab.SignedEnvelope, int, error) {
	var hdr common.Header
	if err := proto.Unmarshal(tx.Proposal.Proposal.Header, &hdr); err != nil {
		return nil, 0, fmt.Errorf("proposal header: %w", err)
	}
	txBytes, err := proto.Marshal(tx.Transaction)
	if err != nil {
		return nil, 0, fmt.Errorf("transaction: %w", err)
	}
	payload, err := proto.Marshal(&common.Payload{Header: &hdr, Data: txBytes})
	if err != nil {
		return nil, 0, fmt.Errorf("payload: %w", err)
	}
	sig, err := c.signer.SigningManager().Sign(payload, c.signer.PrivateKey())
	if err != nil {
		return nil, 0, fmt.Errorf("signing the transaction: %w", err)
	}
	size := proto.Size(&common.Envelope{Payload: payload, Signature: sig})
	return &fab.SignedEnvelope{Payload: payload, Signature: sig}, size, nil
}

// broadcastResult is what the orderers answered one envelope.
type broadcastResult struct {
	accepted int
	refused  []string // "orderer2: ...", one per orderer that did not take it
	tooLarge string   // an orderer's "bigger than request max bytes" answer
	reached  bool     // some orderer answered at all (the tx may be held)
}

// broadcast sends env to every orderer at once and returns when a quorum
// accepted it, or when every orderer answered. The orderers not yet
// answered then go on in the background, each bounded by the profile's
// orderer timeout (a silent orderer costs nothing once a quorum took it).
func (c *Client) broadcast(rctx context.Context, env *fab.SignedEnvelope) broadcastResult {
	type answer struct {
		n   *node
		err error
	}
	ch := make(chan answer, len(c.orderers)) // buffered: late answers never block
	var client sdkcontext.Client = c.signer
	if rc, ok := contextImpl.RequestClientContext(rctx); ok {
		client = rc
	}
	for _, n := range c.orderers {
		go func() {
			// The parent is the request's context, so a cancelled Submit
			// stops the sends; the child carries the orderer timeout.
			octx, cancel := contextImpl.NewRequest(client, contextImpl.WithTimeoutType(fab.OrdererResponse), contextImpl.WithParent(rctx))
			defer cancel()
			_, err := n.sdk.SendBroadcast(octx, env)
			ch <- answer{n, err}
		}()
	}
	quorum := c.net.Quorum()
	var r broadcastResult
	for i := 0; i < len(c.orderers); i++ {
		a := <-ch
		if a.err == nil || heldAlready(a.err) {
			r.accepted++
			r.reached = true
			if r.accepted >= quorum {
				break
			}
			continue
		}
		msg := shortErr(a.err)
		if strings.Contains(a.err.Error(), "bigger than request max bytes") {
			// SmartBFT's size refusal (503 with this text; no typed error).
			r.tooLarge = msg
		}
		if !unreachable(a.err) {
			r.reached = true
		}
		r.refused = append(r.refused, fmt.Sprintf("%s (%s): %s", a.n.o.name(), a.n.o.MSPID, msg))
	}
	c.mu.Lock()
	c.lastAccepted, c.lastBroadcast = r.accepted, true
	c.mu.Unlock()
	return r
}

// heldAlready is true for an orderer's refusal that says it has the
// request already: SmartBFT's pool answers 503 "request already exists"
// when the request reached it first from another node, and "request already
// processed" when a block holding it was decided before this copy arrived
// (a 20-bank network's 21 orderers on 2 cores: the leader forwarded,
// ordered and delivered a founding approval before the client's own copy
// reached 14 of them). Either way that orderer holds the tx, which is what
// the quorum count is for. A faulty orderer can say so falsely, as it can
// falsely say it accepted: the count of f+1 honest holders is unchanged.
func heldAlready(err error) bool {
	m := err.Error()
	return strings.Contains(m, "request already processed") || strings.Contains(m, "request already exists")
}

// send hands the endorsed tx to the ordering service. It returns nil once a
// quorum of orderers accepted it; a *TooLargeError (final) for a tx the
// orderers cannot take; a notSentError when no orderer could be reached
// (nothing can be on the ledger from it); and errUnknownOutcome when some
// took it but fewer than a quorum (the ordering service is short of nodes:
// the tx may still be ordered once they are back, so the caller finds out).
func (c *Client) send(rctx context.Context, txID string, tx *fab.Transaction) error {
	env, size, err := c.envelope(tx)
	if err != nil {
		return err
	}
	if c.beforeSend != nil {
		if err := c.beforeSend(size); err != nil {
			return err
		}
	}
	if size > RequestBytesMax && !c.noSizeCheck {
		return &TooLargeError{TxID: txID, Bytes: size, Max: RequestBytesMax}
	}
	r := c.broadcast(rctx, env)
	switch {
	case r.accepted >= c.net.Quorum():
		return nil
	case r.tooLarge != "":
		return &TooLargeError{TxID: txID, Max: RequestBytesMax, Info: r.tooLarge}
	case !r.reached:
		return &notSentError{err: fmt.Errorf("%w: tx %s: no orderer reachable: %s", jobs.ErrLedgerUnavailable, txID, strings.Join(r.refused, "; "))}
	}
	return fmt.Errorf("%w: %w: tx %s taken by %d of %d orderers, %d needed: %s", errUnknownOutcome, jobs.ErrLedgerUnavailable,
		txID, r.accepted, len(c.orderers), c.net.Quorum(), strings.Join(r.refused, "; "))
}

// OrderingStatus is how many orderers answer, and whether that is enough.
type OrderingStatus struct {
	Orderers  int // in the network
	Reachable int // answered a TLS handshake as themselves
	Quorum    int // needed to order a block
	// LastAccepted is how many orderers took the client's last
	// transaction (-1 before the first).
	LastAccepted int
	Down         []string // the orderers that did not answer, with why
}

// Ordering checks every orderer at once (a TLS handshake with the
// orderer's own CA and name) and fails, wrapping jobs.ErrLedgerUnavailable,
// when fewer than a quorum answer: writes cannot be ordered then (and fail
// at once as unavailable: send). LastAccepted says how many took the last
// transaction, for the operator. An orderer that
// answers but stays silent (a hostile or stuck node) is counted as up: that
// is the one fault BFT is for, and a quorum of the others orders all the same.
func (c *Client) Ordering(ctx context.Context) (OrderingStatus, error) {
	st := OrderingStatus{Orderers: len(c.orderers), Quorum: c.net.Quorum(), LastAccepted: -1}
	type probe struct {
		o   *Orderer
		err error
	}
	ch := make(chan probe, len(c.orderers))
	var wg sync.WaitGroup
	for _, n := range c.orderers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch <- probe{n.o, probeOrderer(ctx, n.o)}
		}()
	}
	wg.Wait()
	close(ch)
	for p := range ch {
		if p.err != nil {
			st.Down = append(st.Down, fmt.Sprintf("%s (%s): %v", p.o.name(), p.o.MSPID, p.err))
			continue
		}
		st.Reachable++
	}
	c.mu.Lock()
	if c.lastBroadcast {
		st.LastAccepted = c.lastAccepted
	}
	c.mu.Unlock()
	if st.Reachable < st.Quorum {
		return st, fmt.Errorf("%w: ordering: %d of %d orderers reachable, %d needed: %s", jobs.ErrLedgerUnavailable,
			st.Reachable, st.Orderers, st.Quorum, strings.Join(st.Down, "; "))
	}
	return st, nil
}

// probeOrderer completes a TLS handshake with o, checking its certificate
// against its own TLS CA and name.
func probeOrderer(ctx context.Context, o *Orderer) error {
	pem, err := os.ReadFile(o.TLSCACert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s", o.TLSCACert)
	}
	host := o.HostOverride
	if host == "" {
		host, _, _ = net.SplitHostPort(o.Address)
	}
	pctx, cancel := context.WithTimeout(ctx, orderingProbeTimeout)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: host, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(pctx, "tcp", o.Address)
	if err != nil {
		return err
	}
	return conn.Close()
}

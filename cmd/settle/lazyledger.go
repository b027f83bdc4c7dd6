package main

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"settle/jobs"
	"settle/ledger/fabric"
	"settle/reconciliation"
	"settle/settlement"
)

// lazyRetry is how long a failed connection is reported as is before the
// next caller tries again.
const lazyRetry = 5 * time.Second

// lazyLedger is the ledger of `settle serve`: it connects to the Fabric
// network on first use, and again after a failed attempt, so that the
// service starts, and takes and acknowledges the banks' files, while the
// ledger is down. Until it is connected every call fails as
// jobs.ErrLedgerUnavailable, which the cycle steps retry.
type lazyLedger struct {
	open func(context.Context) (*fabric.Client, error)

	mu         sync.Mutex
	c          *fabric.Client
	connecting bool
	tried      time.Time
	err        error
	floor      uint64 // ReadAfter before the client existed
	onForeign  func(fabric.ForeignTx)
}

// OnForeign sets what is told of transactions of the chaincode that the
// service's identity did not sign (read by Listen from the blocks).
func (l *lazyLedger) OnForeign(fn func(fabric.ForeignTx)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onForeign = fn
}

func (l *lazyLedger) foreign(f fabric.ForeignTx) {
	l.mu.Lock()
	fn := l.onForeign
	l.mu.Unlock()
	if fn != nil {
		fn(f)
	}
}

// get returns the client, connecting if no attempt is under way and the
// last failed one is older than lazyRetry. Callers that arrive meanwhile
// get the last failure at once rather than waiting.
func (l *lazyLedger) get(ctx context.Context) (*fabric.Client, error) {
	l.mu.Lock()
	if l.c != nil {
		c := l.c
		l.mu.Unlock()
		return c, nil
	}
	if l.connecting || (!l.tried.IsZero() && time.Since(l.tried) < lazyRetry) {
		err := l.err
		l.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("%w: connecting to the Fabric network", jobs.ErrLedgerUnavailable)
		}
		return nil, err
	}
	l.connecting, l.tried = true, time.Now()
	l.mu.Unlock()

	// Not bound to this caller: a short request must not abort the
	// connection every later caller needs (openFabric bounds it). The
	// caller itself waits only as long as its context lasts, so that a
	// SIGTERM during a ledger call is not held up by a connection attempt
	// (issue 12, also-fix list).
	type result struct {
		c   *fabric.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := l.open(context.WithoutCancel(ctx))
		l.mu.Lock()
		defer l.mu.Unlock()
		l.connecting = false
		if err != nil {
			if !errors.Is(err, jobs.ErrLedgerUnavailable) {
				err = fmt.Errorf("%w: %v", jobs.ErrLedgerUnavailable, err)
			}
			l.err = err
			done <- result{nil, err}
			return
		}
		if l.floor > 0 {
			c.ReadAfter(l.floor)
		}
		l.c, l.err = c, nil
		done <- result{c, nil}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: still connecting to the Fabric network: %w", jobs.ErrLedgerUnavailable, ctx.Err())
	}
}

// Close closes the client if it was connected.
func (l *lazyLedger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		return l.c.Close()
	}
	return nil
}

// ReadAfter implements jobs.ReadFloor, remembered until connected.
func (l *lazyLedger) ReadAfter(block uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		l.c.ReadAfter(block)
		return
	}
	l.floor = max(l.floor, block)
}

// Listen follows the ledger's events (see fabric.Client.Listen).
func (l *lazyLedger) Listen(ctx context.Context, fromBlock uint64, fn func(fabric.Event) error) error {
	c, err := l.get(ctx)
	if err != nil {
		return err
	}
	return c.Listen(ctx, fromBlock, fn)
}

// with calls f with the client, or fails as unavailable.
func with[T any](ctx context.Context, l *lazyLedger, f func(*fabric.Client) (T, error)) (T, error) {
	c, err := l.get(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(c)
}

// TxContent implements jobs.TxReader.
func (l *lazyLedger) TxContent(ctx context.Context, txID string) (jobs.TxContent, error) {
	return with(ctx, l, func(c *fabric.Client) (jobs.TxContent, error) { return c.TxContent(ctx, txID) })
}

func (l *lazyLedger) RecordChunk(ctx context.Context, k jobs.Chunk) (jobs.LedgerTx, error) {
	return with(ctx, l, func(c *fabric.Client) (jobs.LedgerTx, error) { return c.RecordChunk(ctx, k) })
}

func (l *lazyLedger) SettleCycle(ctx context.Context, cycle string, ps []settlement.Position) (jobs.LedgerTx, error) {
	return with(ctx, l, func(c *fabric.Client) (jobs.LedgerTx, error) { return c.SettleCycle(ctx, cycle, ps) })
}

func (l *lazyLedger) Tx(ctx context.Context, txID string) (jobs.LedgerTx, error) {
	return with(ctx, l, func(c *fabric.Client) (jobs.LedgerTx, error) { return c.Tx(ctx, txID) })
}

func (l *lazyLedger) RegisterBank(ctx context.Context, bic settlement.BIC, mspID string) (jobs.LedgerTx, error) {
	return with(ctx, l, func(c *fabric.Client) (jobs.LedgerTx, error) { return c.RegisterBank(ctx, bic, mspID) })
}

func (l *lazyLedger) SetCap(ctx context.Context, cp settlement.Cap) (jobs.LedgerTx, error) {
	return with(ctx, l, func(c *fabric.Client) (jobs.LedgerTx, error) { return c.SetCap(ctx, cp) })
}

func (l *lazyLedger) ReversalChain(ctx context.Context, sender settlement.BIC, id string) ([]reconciliation.Record, error) {
	return with(ctx, l, func(c *fabric.Client) ([]reconciliation.Record, error) { return c.ReversalChain(ctx, sender, id) })
}

// Registered implements jobs.BankRegistry.
func (l *lazyLedger) Registered(ctx context.Context, bic settlement.BIC) (bool, error) {
	return with(ctx, l, func(c *fabric.Client) (bool, error) { return c.Registered(ctx, bic) })
}

func (l *lazyLedger) Cycle(ctx context.Context, cycle string) (jobs.LedgerCycle, bool, error) {
	c, err := l.get(ctx)
	if err != nil {
		return jobs.LedgerCycle{}, false, err
	}
	return c.Cycle(ctx, cycle)
}

func (l *lazyLedger) Payment(ctx context.Context, sender settlement.BIC, id string) (reconciliation.Record, bool, error) {
	c, err := l.get(ctx)
	if err != nil {
		return reconciliation.Record{}, false, err
	}
	return c.Payment(ctx, sender, id)
}

func (l *lazyLedger) CyclePayments(ctx context.Context, cycle string) iter.Seq2[reconciliation.Record, error] {
	return func(yield func(reconciliation.Record, error) bool) {
		c, err := l.get(ctx)
		if err != nil {
			yield(reconciliation.Record{}, err)
			return
		}
		for r, err := range c.CyclePayments(ctx, cycle) {
			if !yield(r, err) {
				return
			}
		}
	}
}

var (
	_ jobs.Ledger       = (*lazyLedger)(nil)
	_ jobs.ReadFloor    = (*lazyLedger)(nil)
	_ jobs.TxReader     = (*lazyLedger)(nil)
	_ jobs.BankRegistry = (*lazyLedger)(nil)
)

// orderingChecker is a ledger that can tell whether its ordering service can
// order writes (the Fabric client's BFT orderers).
type orderingChecker interface {
	Ordering(ctx context.Context) (fabric.OrderingStatus, error)
}

// Ordering checks the ordering service once connected; before, the ledger
// is unavailable as a whole.
func (l *lazyLedger) Ordering(ctx context.Context) (fabric.OrderingStatus, error) {
	c, err := l.get(ctx)
	if err != nil {
		return fabric.OrderingStatus{}, err
	}
	return c.Ordering(ctx)
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"settle/adapters/console"
	"settle/jobs"
	"settle/ledger/fabric"
)

// ledgerConnectTimeout bounds loading the channel configuration from the peers.
const ledgerConnectTimeout = time.Minute

// openFabric connects the Fabric client described by the network file.
func openFabric(ctx context.Context, cfg Config, log *slog.Logger) (*fabric.Client, error) {
	return openFabricWith(ctx, cfg, log, nil)
}

// openFabricWith is openFabric with a handler for the transactions of the
// chaincode that this identity did not sign (fabric.Config.OnForeign).
func openFabricWith(ctx context.Context, cfg Config, log *slog.Logger, onForeign func(fabric.ForeignTx)) (*fabric.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, ledgerConnectTimeout)
	defer cancel()
	fc := fabric.Config{Network: cfg.Ledger.Network, Org: cfg.Ledger.Org, Logger: log, Chaincode: cfg.Ledger.Chaincode, OnForeign: onForeign}
	if cfg.Ledger.Governed {
		fc.Operator = cfg.Ledger.Operator // the governed path's writes are the operator's
	}
	c, err := fabric.New(ctx, fc)
	if err != nil {
		return nil, fmt.Errorf("ledger (network %s, org %d, operator %d): %w", cfg.Ledger.Network, fc.Org, fc.Operator, err)
	}
	return c, nil
}

// governed is the pipeline's governed ledger path over the runtime's
// ledger client (nil unless ledger.governed is set, or without a ledger).
// serve times the ledger's calls; the governed ones go to the client.
func (r *runtime) governed() jobs.GovernedLedger {
	switch {
	case !r.cfg.Ledger.Governed:
		return nil
	case r.lazy != nil:
		return lazyGoverned{l: r.lazy, partBytes: r.cfg.Ledger.PartBytes}
	case r.fabric != nil:
		return fabric.GovernedPath{C: r.fabric, PartBytes: r.cfg.Ledger.PartBytes}
	}
	return nil
}

// lazyGoverned is the governed path over the lazily connected client.
type lazyGoverned struct {
	l         *lazyLedger
	partBytes int
}

func (g lazyGoverned) DeclareFiles(ctx context.Context, cycle string, files []jobs.LedgerFile) (jobs.LedgerTx, error) {
	return with(ctx, g.l, func(c *fabric.Client) (jobs.LedgerTx, error) {
		return fabric.GovernedPath{C: c, PartBytes: g.partBytes}.DeclareFiles(ctx, cycle, files)
	})
}

func (g lazyGoverned) PutFile(ctx context.Context, cycle string, f jobs.LedgerFile, body, sig []byte) (jobs.FileTxs, error) {
	return with(ctx, g.l, func(c *fabric.Client) (jobs.FileTxs, error) {
		return fabric.GovernedPath{C: c, PartBytes: g.partBytes}.PutFile(ctx, cycle, f, body, sig)
	})
}

func (g lazyGoverned) SettleDeclared(ctx context.Context, cycle string) (jobs.LedgerTx, error) {
	return with(ctx, g.l, func(c *fabric.Client) (jobs.LedgerTx, error) {
		return fabric.GovernedPath{C: c, PartBytes: g.partBytes}.SettleDeclared(ctx, cycle)
	})
}

func (g lazyGoverned) Gridlock(ctx context.Context) (string, error) {
	return with(ctx, g.l, func(c *fabric.Client) (string, error) { return c.Gridlock(ctx) })
}

func (g lazyGoverned) ResolveDeclared(ctx context.Context, cycle string) (jobs.LedgerTx, error) {
	return with(ctx, g.l, func(c *fabric.Client) (jobs.LedgerTx, error) { return c.ResolveDeclared(ctx, cycle) })
}

func (g lazyGoverned) Deferral(ctx context.Context, cycle string) (jobs.LedgerDeferral, bool, error) {
	type answer struct {
		d  jobs.LedgerDeferral
		ok bool
	}
	a, err := with(ctx, g.l, func(c *fabric.Client) (answer, error) {
		d, ok, err := c.Deferral(ctx, cycle)
		return answer{d, ok}, err
	})
	return a.d, a.ok, err
}

// gridlockDesk is the console's view of the ledger's gridlock resolution.
type gridlockDesk struct {
	get func(ctx context.Context) (*fabric.Client, error)
}

// gridlockDesk is nil off the governed path (the console shows no section).
func (r *runtime) gridlockDesk() console.GridlockDesk {
	switch {
	case !r.cfg.Ledger.Governed:
		return nil
	case r.lazy != nil:
		return gridlockDesk{get: r.lazy.get}
	case r.fabric != nil:
		c := r.fabric
		return gridlockDesk{get: func(context.Context) (*fabric.Client, error) { return c, nil }}
	}
	return nil
}

func (g gridlockDesk) Deferral(ctx context.Context, cycle string) (jobs.LedgerDeferral, bool, error) {
	c, err := g.get(ctx)
	if err != nil {
		return jobs.LedgerDeferral{}, false, err
	}
	return c.Deferral(ctx, cycle)
}

func (g gridlockDesk) DryRun(ctx context.Context, cycle string) (jobs.LedgerDeferral, bool, error) {
	c, err := g.get(ctx)
	if err != nil {
		return jobs.LedgerDeferral{}, false, err
	}
	return c.DryRun(ctx, cycle)
}

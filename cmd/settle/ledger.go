package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"settle/jobs"
	"settle/ledger/fabric"
)

// ledgerConnectTimeout bounds loading the channel configuration from the peers.
const ledgerConnectTimeout = time.Minute

// openLedger connects the Fabric client described by the network file.
func openLedger(ctx context.Context, cfg Config, log *slog.Logger) (ledgerClient, func() error, error) {
	c, err := openFabric(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return c, c.Close, nil
}

// openFabric is openLedger with the concrete client, for the ledger
// subcommands that need more than the port (Ping).
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

// governedOf is the pipeline's governed ledger path over the runtime's ledger
// (nil unless ledger.governed is set).
func governedOf(cfg Config, l jobs.Ledger) jobs.GovernedLedger {
	if !cfg.Ledger.Governed {
		return nil
	}
	if t, ok := l.(timedLedger); ok {
		l = t.ledgerClient // serve times the calls; the governed ones go to the client beneath
	}
	switch l := l.(type) {
	case *fabric.Client:
		return fabric.GovernedPath{C: l, PartBytes: cfg.Ledger.PartBytes}
	case *lazyLedger:
		return lazyGoverned{l: l, partBytes: cfg.Ledger.PartBytes}
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

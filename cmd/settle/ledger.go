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
func openLedger(ctx context.Context, cfg Config, log *slog.Logger) (jobs.Ledger, func() error, error) {
	c, err := openFabric(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return c, c.Close, nil
}

// openFabric is openLedger with the concrete client, for the ledger
// subcommands that need more than the port (Ping).
func openFabric(ctx context.Context, cfg Config, log *slog.Logger) (*fabric.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, ledgerConnectTimeout)
	defer cancel()
	c, err := fabric.New(ctx, fabric.Config{Network: cfg.Ledger.Network, Org: cfg.Ledger.Org, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("ledger (network %s, org %d): %w", cfg.Ledger.Network, cfg.Ledger.Org, err)
	}
	return c, nil
}

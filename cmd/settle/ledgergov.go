package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"settle/adapters/postgres"
	"settle/ledger/fabric"
	"settle/reconciliation"
	"settle/settlement"
)

// The governed path's set-up commands. `found` runs every party's step from
// one host: the operator's admin proposes, then each founding bank's admin
// approves and registers its keys, with the identities network.json names.
// That is the demo's and the tests' convenience (one machine holds every org's
// admin key); in a real scheme each bank runs its own steps with its own key,
// and the ledger accepts nothing less (ledger/chaincode/README.md).
func ledgerGovCmds() []*cobra.Command {
	var ffile string
	found := &cobra.Command{
		Use:   "found [--config F]",
		Short: "Found the ledger over the store's banks, register their keys from each bank's admin, set caps; idempotent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(ffile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
			defer cancel()
			return foundLedger(ctx, cmd.OutOrStdout(), cfg)
		},
	}
	configFlag(found, &ffile)
	var kfile string
	keys := &cobra.Command{
		Use:   "keys [--config F]",
		Short: "Compare the store's key ring with the ledger's; every disagreement is a KEY_MISMATCH break (exit 1)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(kfile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
			defer cancel()
			breaks, err := compareKeys(ctx, cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, b := range breaks {
				fmt.Fprintln(w, b)
			}
			if len(breaks) > 0 {
				return fmt.Errorf("%d key ring disagreement(s) between the store and the ledger", len(breaks))
			}
			fmt.Fprintln(w, "key rings agree")
			return nil
		},
	}
	configFlag(keys, &kfile)
	return []*cobra.Command{found, keys}
}

// openAs connects with one identity of the network.
func openAs(ctx context.Context, cfg Config, fc fabric.Config) (*fabric.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, ledgerConnectTimeout)
	defer cancel()
	fc.Network, fc.Logger, fc.Chaincode = cfg.Ledger.Network, newLogger(slog.LevelWarn), cfg.Ledger.Chaincode
	c, err := fabric.New(ctx, fc)
	if err != nil {
		return nil, fmt.Errorf("ledger as %+v: %w", fc, err)
	}
	return c, nil
}

// storeRing is the store's banks with a ledger MSP and all their keys.
type storeRing struct {
	banks []postgres.Bank
	keys  map[settlement.BIC][]postgres.BankKey
	caps  []settlement.Cap
}

func loadRing(ctx context.Context, cfg Config) (*storeRing, error) {
	s, err := openStore(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	bs, err := s.Banks(ctx)
	if err != nil {
		return nil, err
	}
	r := &storeRing{keys: map[settlement.BIC][]postgres.BankKey{}}
	for _, b := range bs {
		if b.LedgerMSP == "" || b.Status != "ACTIVE" {
			continue
		}
		r.banks = append(r.banks, b)
		if r.keys[b.BIC], err = s.AllKeys(ctx, b.BIC); err != nil {
			return nil, err
		}
	}
	sort.Slice(r.banks, func(i, j int) bool { return r.banks[i].BIC < r.banks[j].BIC })
	if r.caps, err = s.Caps(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func keyActive(k postgres.BankKey, now time.Time) bool {
	return k.RevokedAt == nil && (k.ValidTo == nil || k.ValidTo.After(now))
}

// bankIndex is the 1-based index of the bank org with mspID in network.json.
func bankIndex(n *fabric.Network, mspID string) (int, error) {
	for _, b := range n.Banks {
		if b.MSPID == mspID {
			return b.Index, nil
		}
	}
	return 0, fmt.Errorf("network.json has no bank org %s", mspID)
}

func foundLedger(ctx context.Context, w io.Writer, cfg Config) error {
	ring, err := loadRing(ctx, cfg)
	if err != nil {
		return err
	}
	if len(ring.banks) < 2 {
		return fmt.Errorf("founding needs at least 2 active banks with a ledger MSP in the store, found %d", len(ring.banks))
	}
	n, err := fabric.LoadNetwork(cfg.Ledger.Network)
	if err != nil {
		return err
	}
	op := max(cfg.Ledger.Operator, 1)
	if op > len(n.Operators) {
		return fmt.Errorf("network.json has %d operator orgs, ledger.operator is %d", len(n.Operators), op)
	}
	opAdmin, err := openAs(ctx, cfg, fabric.Config{Operator: op, Admin: true})
	if err != nil {
		return err
	}
	defer opAdmin.Close()
	admins := map[string]*fabric.Client{}
	defer func() {
		for _, c := range admins {
			c.Close()
		}
	}()
	adminOf := func(msp string) (*fabric.Client, error) {
		if c, ok := admins[msp]; ok {
			return c, nil
		}
		i, err := bankIndex(n, msp)
		if err != nil {
			return nil, err
		}
		c, err := openAs(ctx, cfg, fabric.Config{Org: i, Admin: true})
		if err != nil {
			return nil, err
		}
		admins[msp] = c
		return c, nil
	}
	_, err = opAdmin.Governance(ctx)
	switch {
	case fabric.RefusalCode(err) == fabric.CodeNotFounded:
		var founding []fabric.FoundingBank
		for _, b := range ring.banks {
			founding = append(founding, fabric.FoundingBank{BIC: b.BIC, MSPID: b.LedgerMSP})
		}
		id, tx, err := opAdmin.Found(ctx, n.Operators[op-1].MSPID, founding)
		if err != nil {
			return err
		}
		printTx(w, "founding "+id+" proposed by "+n.Operators[op-1].MSPID, tx)
		seen := map[string]bool{}
		for _, b := range ring.banks {
			if seen[b.LedgerMSP] {
				continue
			}
			seen[b.LedgerMSP] = true
			a, err := adminOf(b.LedgerMSP)
			if err != nil {
				return err
			}
			st, tx, err := a.ApproveFounding(ctx, id)
			if err != nil {
				return err
			}
			printTx(w, fmt.Sprintf("founding %s %s by %s's admin", id, st, b.LedgerMSP), tx)
		}
	case err != nil:
		return err
	default:
		fmt.Fprintln(w, "the ledger is founded already")
	}
	now := time.Now()
	for _, b := range ring.banks {
		a, err := adminOf(b.LedgerMSP)
		if err != nil {
			return err
		}
		for _, k := range ring.keys[b.BIC] {
			if !keyActive(k, now) {
				continue
			}
			tx, err := a.RegisterKey(ctx, b.BIC, k.Label, k.PEM)
			if err != nil {
				return err
			}
			printTx(w, fmt.Sprintf("key %s/%s by %s's admin", b.BIC, k.Label, b.LedgerMSP), tx)
		}
	}
	opc, err := openAs(ctx, cfg, fabric.Config{Operator: op})
	if err != nil {
		return err
	}
	defer opc.Close()
	onLedger := map[settlement.BIC]bool{}
	for _, b := range ring.banks {
		onLedger[b.BIC] = true
	}
	for _, cp := range ring.caps {
		if !onLedger[cp.Bank] {
			continue
		}
		tx, err := opc.SetCap(ctx, cp)
		if err != nil {
			return err
		}
		printTx(w, fmt.Sprintf("cap %s %s %s by the operator", cp.Bank, cp.Currency, settlement.FormatAmount(cp.Amount, cp.Currency)), tx)
	}
	return nil
}

// compareKeys is the key-ring reconciliation: every key the store knows of,
// against the ledger's value under the same bank and label. Keys only the
// ledger holds under labels the store never had are not listed: the
// chaincode has no query of a bank's labels yet.
func compareKeys(ctx context.Context, cfg Config) ([]reconciliation.Break, error) {
	ring, err := loadRing(ctx, cfg)
	if err != nil {
		return nil, err
	}
	l, err := openFabric(ctx, cfg, newLogger(slog.LevelWarn))
	if err != nil {
		return nil, err
	}
	defer l.Close()
	now := time.Now()
	var store, ledger []reconciliation.SigningKey
	for _, b := range ring.banks {
		for _, k := range ring.keys[b.BIC] {
			store = append(store, reconciliation.SigningKey{Bank: b.BIC, Label: k.Label, PEM: k.PEM, Active: keyActive(k, now)})
			pemText, active, ok, err := l.SigningKey(ctx, b.BIC, k.Label)
			if err != nil {
				return nil, err
			}
			if ok {
				ledger = append(ledger, reconciliation.SigningKey{Bank: b.BIC, Label: k.Label, PEM: pemText, Active: active})
			}
		}
	}
	return reconciliation.Keys(store, ledger), nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"settle/adapters/postgres"
	"settle/ledger/fabric"
	"settle/reconciliation"
	"settle/settlement"
)

// The governed path's set-up commands, one party each, as a consortium runs
// them (ledger/chaincode/README.md, "Who may do what"):
//
//	settle ledger found                          the operator's admin proposes the founding
//	settle ledger approve-founding ID --bank B   bank B's admin approves it (every founding bank)
//	settle ledger register-keys --bank B         bank B's admin registers B's file-signing keys
//	settle ledger register-banks --from-store    the operator admits banks and sets caps
//
// Each process signs with one identity only: the operator's, or one bank's
// admin (network.json names where each org's certificate and key are; on
// the local demo network they are all on one disk, so the demo runs the
// steps one after the other, each as one party). The ledger accepts nothing
// less: a founding takes effect only with every founding bank's approval,
// and a bank's keys only from its own admin.
func ledgerGovCmds() []*cobra.Command {
	return []*cobra.Command{newLedgerFoundCmd(), newLedgerApproveFoundingCmd(), newLedgerRegisterKeysCmd(), newLedgerKeysCmd()}
}

// newLedgerFoundCmd is `settle ledger found`: the operator proposes the
// founding.
func newLedgerFoundCmd() *cobra.Command {
	var ffile string
	var idOnly bool
	found := &cobra.Command{
		Use:   "found [--config F] [--id]",
		Short: "The operator's admin proposes the founding over the store's banks; prints the founding id each bank's admin approves; idempotent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(ffile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
			defer cancel()
			return proposeFounding(ctx, cmd.OutOrStdout(), cfg, idOnly)
		},
	}
	configFlag(found, &ffile)
	found.Flags().BoolVar(&idOnly, "id", false, "print only the founding id (nothing when the ledger is founded already), for scripts")
	return found
}

// newLedgerApproveFoundingCmd is `settle ledger approve-founding`: a
// founding bank's admin approves.
func newLedgerApproveFoundingCmd() *cobra.Command {
	var afile, abank string
	approve := &cobra.Command{
		Use:   "approve-founding ID --bank BIC [--config F]",
		Short: "A founding bank's admin approves the founding ID (signs as that bank's admin only); the last approval founds the ledger",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(afile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
			defer cancel()
			a, msp, err := bankAdmin(ctx, cfg, abank)
			if err != nil {
				return err
			}
			defer a.Close()
			st, tx, err := a.ApproveFounding(ctx, args[0])
			if err != nil {
				return err
			}
			what := fmt.Sprintf("founding %s %s by %s's admin", args[0], st, msp)
			if st == "founded" {
				what = fmt.Sprintf("founding %s approved by %s's admin: the ledger is founded by it", args[0], msp)
			}
			printTx(cmd.OutOrStdout(), what, tx)
			return nil
		},
	}
	configFlag(approve, &afile)
	approve.Flags().StringVar(&abank, "bank", "", "the approving bank's BIC (its ledger MSP is the store's)")
	return approve
}

// newLedgerRegisterKeysCmd is `settle ledger register-keys`: a bank's admin
// registers its file-signing keys.
func newLedgerRegisterKeysCmd() *cobra.Command {
	var kfile2, kbank, klabel, kpem string
	regKeys := &cobra.Command{
		Use:   "register-keys --bank BIC [--label L --pem FILE] [--config F]",
		Short: "A bank's admin registers its file-signing keys on the ledger (the store's active keys, or the one given); idempotent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(kfile2)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
			defer cancel()
			return registerKeys(ctx, cmd.OutOrStdout(), cfg, kbank, klabel, kpem)
		},
	}
	configFlag(regKeys, &kfile2)
	regKeys.Flags().StringVar(&kbank, "bank", "", "the bank's BIC; the command signs as its ledger MSP's admin")
	regKeys.Flags().StringVar(&klabel, "label", "", "with --pem: the key's label (a rotation uses a new one)")
	regKeys.Flags().StringVar(&kpem, "pem", "", "a public key file to register instead of the store's keys")
	return regKeys
}

// newLedgerKeysCmd is `settle ledger keys`: the store's key ring compared
// with the ledger's.
func newLedgerKeysCmd() *cobra.Command {
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
	return keys
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

// proposeFounding is the operator admin's step: the founding over the
// store's active banks with a ledger MSP.
func proposeFounding(ctx context.Context, w io.Writer, cfg Config, idOnly bool) error {
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
	g, err := opAdmin.Governance(ctx)
	switch {
	case fabric.RefusalCode(err) == fabric.CodeNotFounded:
	case err != nil:
		return err
	default:
		if !idOnly {
			fmt.Fprintf(w, "the ledger is founded already: operator %s, %d members\n", g.OperatorMSP, len(g.Members))
		}
		return nil
	}
	var founding []fabric.FoundingBank
	for _, b := range ring.banks {
		founding = append(founding, fabric.FoundingBank{BIC: b.BIC, MSPID: b.LedgerMSP})
	}
	id, tx, err := opAdmin.Found(ctx, n.Operators[op-1].MSPID, founding)
	if err != nil {
		return err
	}
	if idOnly {
		fmt.Fprintln(w, id)
		return nil
	}
	printTx(w, "founding "+id+" proposed by "+n.Operators[op-1].MSPID+"'s admin", tx)
	seen := map[string]bool{}
	for _, b := range ring.banks {
		if !seen[b.LedgerMSP] {
			seen[b.LedgerMSP] = true
			fmt.Fprintf(w, "  to be approved by %s's admin: settle ledger approve-founding %s --bank %s\n", b.LedgerMSP, id, b.BIC)
		}
	}
	return nil
}

// bankAdmin opens the ledger as the admin of bic's ledger MSP (the store's),
// and as nobody else.
func bankAdmin(ctx context.Context, cfg Config, bicArg string) (*fabric.Client, string, error) {
	bic, err := settlement.ParseBIC(bicArg)
	if err != nil {
		return nil, "", usageError("--bank: %v", err)
	}
	return bankAdminOf(ctx, cfg, bic)
}

func bankAdminOf(ctx context.Context, cfg Config, bic settlement.BIC) (*fabric.Client, string, error) {
	ring, err := loadRing(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	msp := ""
	for _, b := range ring.banks {
		if b.BIC == bic {
			msp = b.LedgerMSP
		}
	}
	if msp == "" {
		return nil, "", fmt.Errorf("bank %s is not an active bank with a ledger MSP in the store", bic)
	}
	n, err := fabric.LoadNetwork(cfg.Ledger.Network)
	if err != nil {
		return nil, "", err
	}
	i, err := bankIndex(n, msp)
	if err != nil {
		return nil, "", err
	}
	c, err := openAs(ctx, cfg, fabric.Config{Org: i, Admin: true})
	return c, msp, err
}

// registerKeys is a bank admin's step: its active keys from the store, or
// the one given, under the bank's own admin identity.
func registerKeys(ctx context.Context, w io.Writer, cfg Config, bicArg, label, pemFile string) error {
	if (label == "") != (pemFile == "") {
		return usageError("--label and --pem go together")
	}
	bic, err := settlement.ParseBIC(bicArg)
	if err != nil {
		return usageError("--bank: %v", err)
	}
	a, msp, err := bankAdminOf(ctx, cfg, bic)
	if err != nil {
		return err
	}
	defer a.Close()
	type key struct{ label, pem string }
	var list []key
	if pemFile != "" {
		b, err := os.ReadFile(pemFile)
		if err != nil {
			return err
		}
		list = append(list, key{label, string(b)})
	} else {
		ring, err := loadRing(ctx, cfg)
		if err != nil {
			return err
		}
		now := clock()
		for _, k := range ring.keys[bic] {
			if keyActive(k, now) {
				list = append(list, key{k.Label, k.PEM})
			}
		}
		if len(list) == 0 {
			return fmt.Errorf("bank %s has no active key in the store", bic)
		}
	}
	for _, k := range list {
		tx, err := a.RegisterKey(ctx, bic, k.label, k.pem)
		if err != nil {
			return err
		}
		printTx(w, fmt.Sprintf("key %s/%s by %s's admin", bic, k.label, msp), tx)
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
	now := clock()
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

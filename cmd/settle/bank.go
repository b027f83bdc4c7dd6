package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"settle/adapters/postgres"
	"settle/settlement"
)

// pemFileBytesMax bounds a key file read from the operator.
const pemFileBytesMax = 16 << 10

func newBankCmd() *cobra.Command {
	var dsn string
	c := &cobra.Command{
		Use:   "bank add|list|key|cap",
		Short: "Administer member banks: registration, signature keys, net debit caps",
	}
	addDatabaseFlag(c, &dsn)

	// run opens the store for one command with a bounded context.
	run := func(cmd *cobra.Command, fn func(ctx context.Context, s *postgres.Store) error) error {
		return withStore(cmd, dsn, fn)
	}
	c.AddCommand(newBankAddCmd(run), newBankListCmd(run), newBankKeyCmd(run), newBankCapCmd(run))
	return c
}

// storeRun runs a subcommand's work on the store, opened for it.
type storeRun func(cmd *cobra.Command, fn func(ctx context.Context, s *postgres.Store) error) error

func newBankAddCmd(run storeRun) *cobra.Command {
	var name, msp string
	add := &cobra.Command{
		Use:   "add BIC --name NAME [--msp MSPID]",
		Short: "Register a member bank",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bic, err := settlement.ParseBIC(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			if name == "" {
				return usageError("--name is required")
			}
			return run(cmd, func(ctx context.Context, s *postgres.Store) error {
				if err := s.AddBank(ctx, postgres.Bank{BIC: bic, Name: name, LedgerMSP: msp}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %s\n", bic)
				return nil
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "the bank's name")
	add.Flags().StringVar(&msp, "msp", "", "the bank's ledger organization (Fabric MSP id)")

	return add
}

func newBankListCmd(run storeRun) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List member banks with their keys and caps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, func(ctx context.Context, s *postgres.Store) error {
				banks, err := s.Banks(ctx)
				if err != nil {
					return err
				}
				caps, err := s.Caps(ctx)
				if err != nil {
					return err
				}
				return printBanks(ctx, cmd.OutOrStdout(), s, banks, caps)
			})
		},
	}

}

func newBankKeyCmd(run storeRun) *cobra.Command {
	key := &cobra.Command{Use: "key add|revoke", Short: "Register or revoke a bank's signature key"}
	key.AddCommand(newBankKeyAddCmd(run), newBankKeyRevokeCmd(run))
	return key
}

// newBankKeyAddCmd is `settle bank key add`: a public key registered.
func newBankKeyAddCmd(run storeRun) *cobra.Command {
	var label, pemFile, from, to string
	keyAdd := &cobra.Command{
		Use:   "add BIC --label L --pem FILE [--from T] [--to T]",
		Short: "Register a public key (PEM PUBLIC KEY, Ed25519 or ECDSA P-256)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bic, err := settlement.ParseBIC(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			if label == "" || pemFile == "" {
				return usageError("--label and --pem are required")
			}
			// Valid from now by the process's clock, the clock the intake
			// checks signatures at.
			k := postgres.BankKey{Bank: bic, Label: label, ValidFrom: clock()}
			if from != "" {
				if k.ValidFrom, err = settlement.ParseTimestamp(from); err != nil {
					return usageError("--from: %v", err)
				}
			}
			if to != "" {
				t, err := settlement.ParseTimestamp(to)
				if err != nil {
					return usageError("--to: %v", err)
				}
				k.ValidTo = &t
			}
			f, err := os.Open(pemFile)
			if err != nil {
				return usageError("--pem: %v", err)
			}
			b, err := io.ReadAll(io.LimitReader(f, pemFileBytesMax+1))
			f.Close()
			if err != nil {
				return err
			}
			if len(b) > pemFileBytesMax {
				return usageError("--pem: %s is larger than %d bytes", pemFile, pemFileBytesMax)
			}
			k.PEM = string(b)
			if _, err := postgres.KeyType(b); err != nil {
				return usageError("--pem %s: %v", pemFile, err)
			}
			return run(cmd, func(ctx context.Context, s *postgres.Store) error {
				if err := s.AddKey(ctx, k); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added key %s of %s\n", label, bic)
				return nil
			})
		},
	}
	keyAdd.Flags().StringVar(&label, "label", "", "the key's label, unique per bank")
	keyAdd.Flags().StringVar(&pemFile, "pem", "", "file holding the PEM PUBLIC KEY")
	keyAdd.Flags().StringVar(&from, "from", "", "valid from (RFC 3339; default now)")
	keyAdd.Flags().StringVar(&to, "to", "", "valid until (RFC 3339; default open-ended)")
	return keyAdd
}

// newBankKeyRevokeCmd is `settle bank key revoke`.
func newBankKeyRevokeCmd(run storeRun) *cobra.Command {
	keyRevoke := &cobra.Command{
		Use:   "revoke BIC LABEL",
		Short: "Revoke a key from now on",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bic, err := settlement.ParseBIC(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			return run(cmd, func(ctx context.Context, s *postgres.Store) error {
				if err := s.RevokeKey(ctx, bic, args[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked key %s of %s\n", args[1], bic)
				return nil
			})
		},
	}
	return keyRevoke
}

// capArgs reads BIC CUR AMOUNT, the arguments of bank cap set and raise;
// zero is a cap (no net debit at all) only where zeroOK, since ParseAmount
// refuses it.
func capArgs(args []string, zeroOK bool) (settlement.Cap, error) {
	bic, err := settlement.ParseBIC(args[0])
	if err != nil {
		return settlement.Cap{}, usageError("%v", err)
	}
	cur, err := settlement.ParseCurrency(args[1])
	if err != nil {
		return settlement.Cap{}, usageError("%v", err)
	}
	c := settlement.Cap{Bank: bic, Currency: cur}
	if zeroOK && args[2] == "0" {
		return c, nil
	}
	if c.Amount, err = settlement.ParseAmount([]byte(args[2]), cur); err != nil {
		return settlement.Cap{}, usageError("amount %s: %v", args[2], err)
	}
	return c, nil
}

func newBankCapCmd(run storeRun) *cobra.Command {
	capCmd := &cobra.Command{Use: "cap set", Short: "Set a bank's net debit cap"}
	var effective string
	capSet := &cobra.Command{
		Use:   "set BIC CUR AMOUNT [--from T]",
		Short: "Lower a net debit cap (or keep it); a raise needs a second operator: bank cap raise, then settle approve",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			amt, err := capArgs(args, true)
			if err != nil {
				return err
			}
			bic, cur := amt.Bank, amt.Currency
			var at time.Time
			if effective != "" {
				if at, err = settlement.ParseTimestamp(effective); err != nil {
					return usageError("--from: %v", err)
				}
			}
			return run(cmd, func(ctx context.Context, s *postgres.Store) error {
				if err := s.LowerCap(ctx, amt, at); err != nil {
					if errors.Is(err, postgres.ErrCapSet) {
						return &exitError{code: 1, err: err}
					}
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "cap of %s in %s: %s\n", bic, cur, settlement.FormatAmount(amt.Amount, cur))
				return nil
			})
		},
	}
	capSet.Flags().StringVar(&effective, "from", "", "effective from (RFC 3339; default now)")
	capCmd.AddCommand(capSet, newCapRaiseCmd())

	return capCmd
}

func printBanks(ctx context.Context, w io.Writer, s *postgres.Store, banks []postgres.Bank, caps []settlement.Cap) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BIC\tNAME\tSTATUS\tMSP\tKEYS\tCAPS")
	byBank := map[settlement.BIC][]string{}
	for _, c := range caps {
		byBank[c.Bank] = append(byBank[c.Bank], c.Currency.Code()+" "+settlement.FormatAmount(c.Amount, c.Currency))
	}
	now := clock()
	for _, b := range banks {
		keys, err := s.Keys(ctx, b.BIC, now)
		if err != nil {
			return err
		}
		var labels []string
		for _, k := range keys {
			labels = append(labels, k.Label+"("+k.Type+")")
		}
		msp := b.LedgerMSP
		if msp == "" {
			msp = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.BIC, b.Name, b.Status, msp, joinOr(labels, "-"), joinOr(byBank[b.BIC], "-"))
	}
	return tw.Flush()
}

func joinOr(xs []string, empty string) string {
	if len(xs) == 0 {
		return empty
	}
	out := xs[0]
	for _, x := range xs[1:] {
		out += ", " + x
	}
	return out
}

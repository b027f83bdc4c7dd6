package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"settle/jobs"
	"settle/ledger/fabric"
	"settle/settlement"
)

// printLedgerResolution writes the dry run as a table: per bank and
// currency what would be deferred, then every deferred payment.
func printLedgerResolution(w io.Writer, cycle string, raw []byte, format string) error {
	if format == "json" {
		_, err := fmt.Fprintf(w, "%s\n", raw)
		return err
	}
	d, err := fabric.ParseDryRun(cycle, raw)
	if err != nil {
		return fmt.Errorf("the ledger's resolution: %w", err)
	}
	if len(d.Deferred) == 0 {
		fmt.Fprintf(w, "cycle %s: every payment fits every cap; nothing would be deferred\n", cycle)
		if d.CarriedIn > 0 {
			fmt.Fprintf(w, "%d payments carried from %s settle first\n", d.CarriedIn, d.CarriedFrom)
		}
		return nil
	}
	fmt.Fprintf(w, "cycle %s: %d of %d entries would settle, %d deferred to the next cycle", cycle, d.Settled, d.Entries, len(d.Deferred))
	if d.CarriedIn > 0 {
		fmt.Fprintf(w, " (%d carried from %s, first in their queues)", d.CarriedIn, d.CarriedFrom)
	}
	fmt.Fprintln(w)
	return printDeferral(w, d, true)
}

// printDeferral writes what each bank defers, by currency, and with
// payments every deferred entry.
func printDeferral(w io.Writer, d jobs.LedgerDeferral, payments bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BANK\tCURRENCY\tCAP\tNET\tSETTLED NET\tDEFERRED\tCOUNT")
	for _, b := range d.Banks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", b.Bank, b.Currency, b.Cap, b.Net, b.Settled, b.Amount, b.Count)
	}
	if payments {
		fmt.Fprintln(tw, "\nPAYMENT\tKIND\tDEBTOR\tCREDITOR\tAMOUNT\tFIRST CYCLE\tTIMES")
		for _, p := range d.Deferred {
			kind := p.Kind.String()
			if p.Waiting {
				kind += " (waits with its original)"
			}
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s %s\t%s\t%d\n", p.Sender, p.ID, kind, p.Debtor, p.Creditor, p.Amount, p.Currency, p.FirstCycle, p.Times)
		}
	}
	return tw.Flush()
}

// newCycleResolveCmd is `settle cycle resolve`: the ledger's gridlock
// resolution of a cycle over its caps, shown (--dry-run, the ledger's
// answer for a declared cycle) or carried out by the operator in one step:
// the cycle runs to REPORTED as `cycle run` does, netted over its caps, its
// files declared and verified, settled by the ledger's ResolveCycle (what
// fits every cap; the rest deferred, payment by payment, to the next
// cycle), reconciled and reported, each bank told payment by payment. The
// ledger computes the split: the command only asks, and follows.
func newCycleResolveCmd() *cobra.Command {
	var file, date, format string
	var dry bool
	c := &cobra.Command{
		Use:   "resolve --date YYYY-MM-DD [--dry-run] [--format text|json]",
		Short: "Resolve a cycle held on its caps with the ledger's gridlock resolution: settle the greatest set that fits every cap, defer the rest to the next cycle, then reconcile and report (--dry-run: show it per bank and currency)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDateFlag(date)
			if err != nil {
				return err
			}
			if format != "text" && format != "json" {
				return fmt.Errorf("--format is text or json, not %q", format)
			}
			if dry {
				return resolveDryRun(cmd, file, d, format)
			}
			return runWith(cmd, file, runtimeOpts{lazyLedger: true}, func(r *runtime) error {
				return resolveCycle(cmd, r, d, format)
			})
		},
	}
	configFlag(c, &file)
	c.Flags().StringVar(&date, "date", "", "the cycle's business date")
	c.Flags().BoolVar(&dry, "dry-run", false, "show what would be deferred, per bank and currency, and write nothing (the cycle's files must be declared on the ledger)")
	c.Flags().StringVar(&format, "format", "text", "text or json")
	return c
}

// resolveDryRun asks the ledger what its resolution of a declared cycle
// would settle and defer.
func resolveDryRun(cmd *cobra.Command, file string, d settlement.Date, format string) error {
	cfg, err := loadConfig(file)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
	defer cancel()
	op, err := openAs(ctx, cfg, fabric.Config{Operator: max(cfg.Ledger.Operator, 1)})
	if err != nil {
		return err
	}
	defer op.Close()
	cycle := settlement.CycleID(d)
	raw, err := op.ResolveDryRun(ctx, cycle)
	if fabric.RefusalCode(err) == "NOT_DECLARED" {
		return fmt.Errorf("%w\nthe cycle is held before its files went to the ledger; `settle cycle resolve --date %s` declares them and settles with the ledger's resolution in one step", err, d)
	}
	if err != nil {
		return err
	}
	return printLedgerResolution(cmd.OutOrStdout(), cycle, raw, format)
}

// resolveCycle runs the cycle with the ledger's resolution and prints what
// the ledger deferred.
func resolveCycle(cmd *cobra.Command, r *runtime, d settlement.Date, format string) error {
	ctx := cmd.Context()
	if _, err := r.jobs.EnsureCycle(ctx, d); err != nil {
		return err
	}
	p := r.pipeline(nil)
	p.Lock = r.jobs.TryLock // a running service may be stepping the same cycle
	cy, err := p.Resolve(ctx, d)
	w := cmd.OutOrStdout()
	if format == "text" {
		printCycle(ctx, w, r, cy)
	}
	if err != nil {
		return fmt.Errorf("cycle %s stopped at %s: %w (fix the cause, then run this command again: it resumes)", settlement.CycleID(d), cy.Stage, err)
	}
	rec, ok, err := p.Governed.Deferral(ctx, settlement.CycleID(d))
	if err != nil {
		return err
	}
	if format == "json" {
		out := struct {
			Cycle    settlement.Cycle     `json:"cycle"`
			Deferral *jobs.LedgerDeferral `json:"deferral"` // null: nothing deferred, nothing carried in
		}{Cycle: cy}
		if ok {
			out.Deferral = &rec
		}
		return json.NewEncoder(w).Encode(out)
	}
	if !ok || len(rec.Deferred) == 0 {
		fmt.Fprintf(w, "cycle %s %s: the ledger deferred nothing\n", cy.ID, cy.Stage)
		return nil
	}
	fmt.Fprintf(w, "cycle %s %s: %d of %d entries settled, %d deferred to the next cycle by the ledger's resolution (tx %s)\n",
		cy.ID, cy.Stage, rec.Settled, rec.Entries, len(rec.Deferred), rec.TxID)
	return printDeferral(w, rec, false)
}

// newLedgerSettingCmd is `settle ledger setting`: the scheme setting
// gridlock (auto: a cycle over its caps resolves by itself; hold: it waits
// for the operator). A change is proposed and approved by the operator's
// admin and bank admins, and applies once the operator and a majority of
// the active banks approve: the ledger counts, the command only signs.
func newLedgerSettingCmd() *cobra.Command {
	c := &cobra.Command{Use: "setting", Short: "Show, propose and approve the ledger's scheme setting gridlock (auto | hold): the operator and a majority of banks change it"}
	var file, bank string
	// as signs as the operator's admin, or as --bank's admin.
	as := func(ctx context.Context) (*fabric.Client, error) {
		cfg, err := loadConfig(file)
		if err != nil {
			return nil, err
		}
		if bank == "" {
			return openAs(ctx, cfg, fabric.Config{Operator: max(cfg.Ledger.Operator, 1), Admin: true})
		}
		cl, _, err := bankAdmin(ctx, cfg, bank)
		return cl, err
	}
	show := &cobra.Command{
		Use: "show", Short: "The ledger's gridlock setting", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
			defer cancel()
			cl, err := as(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			raw, err := cl.Scheme(ctx)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", raw)
			return err
		},
	}
	propose := &cobra.Command{
		Use: "propose gridlock auto|hold [--bank BIC]", Short: "Propose the setting (as the operator's admin, or --bank's admin); prints the proposal id", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
			defer cancel()
			cl, err := as(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			raw, tx, err := cl.ProposeSetting(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			printTx(cmd.OutOrStdout(), "setting proposal: "+string(raw), tx)
			return nil
		},
	}
	approve := &cobra.Command{
		Use: "approve ID [--bank BIC]", Short: "Approve a setting proposal (as the operator's admin, or --bank's admin)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
			defer cancel()
			cl, err := as(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			raw, tx, err := cl.ApproveSetting(ctx, args[0])
			if err != nil {
				return err
			}
			printTx(cmd.OutOrStdout(), "setting approval: "+string(raw), tx)
			return nil
		},
	}
	for _, s := range []*cobra.Command{show, propose, approve} {
		configFlag(s, &file)
		s.Flags().StringVar(&bank, "bank", "", "sign as this bank's admin (default: the operator's admin)")
	}
	c.AddCommand(show, propose, approve)
	return c
}

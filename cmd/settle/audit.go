package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"settle/jobs"
	"settle/settlement"
)

func init() { commands = append(commands, newAuditCmd) }

func newAuditCmd() *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "Trace and re-verify payments from the bank's file to the ledger (read-only)",
		Long: `Audit commands read Postgres in read-only sessions (use the auditor role's URL in
--config) and check every step against the ledger and the archived files.
Exit status 0 when everything checks, 1 when something differs, 2 on bad usage.`}
	var file, format string
	trace := &cobra.Command{
		Use:   "trace BIC/PAYMENT-ID [--format text|json]",
		Short: "The whole lineage of a payment or reversal: file, signature, line, cycle, ledger transaction, endorsers, reversal chain",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bicPart, id, ok := strings.Cut(args[0], "/")
			bic, err := settlement.ParseBIC(bicPart)
			if !ok || err != nil || !settlement.ValidPaymentID([]byte(id)) {
				return usageError("want BIC/PAYMENT-ID, e.g. SHBKKRSE/SH-000001")
			}
			return runWith(cmd, file, runtimeOpts{ledger: true, readOnly: true}, func(r *runtime) error {
				a := &jobs.Auditor{Store: r.jobs, Ledger: r.ledger, Archive: r.archive}
				t, err := a.Trace(cmd.Context(), bic, id)
				if err != nil {
					return err
				}
				if err := printTrace(cmd.OutOrStdout(), t, format); err != nil {
					return err
				}
				if !t.OK {
					return &exitError{code: 1, err: errors.New("")}
				}
				return nil
			})
		},
	}
	configFlag(trace, &file)
	trace.Flags().StringVar(&format, "format", "text", "text or json")

	var vfile, vdate, vformat string
	verify := &cobra.Command{
		Use:   "verify --date YYYY-MM-DD [--format text|json]",
		Short: "Re-verify a cycle's archived files, re-net them, and compare with Postgres and the ledger",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDateFlag(vdate)
			if err != nil {
				return err
			}
			return runWith(cmd, vfile, runtimeOpts{ledger: true, readOnly: true}, func(r *runtime) error {
				a := &jobs.Auditor{Store: r.jobs, Ledger: r.ledger, Archive: r.archive}
				rep, err := a.Verify(cmd.Context(), d)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				switch vformat {
				case "json":
					if err := json.NewEncoder(w).Encode(rep); err != nil {
						return err
					}
				case "text":
					fmt.Fprintf(w, "cycle %s: %d files re-verified from the archive, %d entries re-netted\n", rep.Cycle, rep.Files, rep.Entries)
					for _, p := range rep.Problems {
						fmt.Fprintf(w, "  PROBLEM %s\n", p)
					}
					for _, b := range rep.Breaks {
						fmt.Fprintf(w, "  DIFFERENCE %s\n", b)
					}
					if rep.OK() {
						fmt.Fprintln(w, "  archive, Postgres and the ledger agree")
					}
				default:
					return usageError("--format must be text or json")
				}
				if !rep.OK() {
					return &exitError{code: 1, err: errors.New("")}
				}
				return nil
			})
		},
	}
	configFlag(verify, &vfile)
	verify.Flags().StringVar(&vdate, "date", "", "business date")
	verify.Flags().StringVar(&vformat, "format", "text", "text or json")
	verify.MarkFlagRequired("date")
	c.AddCommand(trace, verify)
	return c
}

func printTrace(w io.Writer, t jobs.Trace, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(t)
	case "text":
		printTraceText(w, t, "")
		return nil
	}
	return usageError("--format must be text or json")
}

func printTraceText(w io.Writer, t jobs.Trace, indent string) {
	verdict := "every step checks"
	if !t.OK {
		verdict = "SOMETHING DIFFERS"
	}
	fmt.Fprintf(w, "%s%s: %s\n", indent, t.Payment, verdict)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range t.Steps {
		keys := make([]string, 0, len(s.Facts))
		for k := range s.Facts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var facts []string
		for _, k := range keys {
			if s.Facts[k] != "" {
				facts = append(facts, k+"="+s.Facts[k])
			}
		}
		fmt.Fprintf(tw, "%s  %s\t[%s]\t%s\t%s\n", indent, s.Step, s.Source, s.Check, strings.Join(facts, " "))
	}
	tw.Flush()
	for _, r := range t.Related {
		printTraceText(w, r, indent+"    ")
	}
}

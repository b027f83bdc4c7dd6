package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"settle/adapters/postgres"
	"settle/jobs"
	"settle/ledger/fabric"
	"settle/settlement"
)

func init() { commands = append(commands, newAuditCmd) }

func newAuditCmd() *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "Trace and re-verify payments from the bank's file to the ledger (read-only)",
		Long: `Audit commands read Postgres in read-only sessions (use the auditor role's URL in
--config) and check every step against the ledger and the archived files.
Exit status 0 when everything checks, 1 when something differs, 2 on bad usage.`}
	c.AddCommand(newAuditTraceCmd(), newAuditVerifyCmd(), newAuditTxCmd(), newAuditFileCmd(), newAuditActionsCmd())
	return c
}

// newAuditTraceCmd is `settle audit trace`: a payment's lineage.
func newAuditTraceCmd() *cobra.Command {
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
				a := r.auditor()
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

	return trace
}

// newAuditVerifyCmd is `settle audit verify`: a cycle re-verified from the
// archive (or, --ledger-only, from the ledger alone).
func newAuditVerifyCmd() *cobra.Command {
	var vfile, vdate, vformat string
	var ledgerOnly bool
	verify := &cobra.Command{
		Use:   "verify --date YYYY-MM-DD [--format text|json]",
		Short: "Re-verify a cycle's archived files, re-net them, and compare with Postgres and the ledger",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDateFlag(vdate)
			if err != nil {
				return err
			}
			if ledgerOnly {
				return verifyLedgerOnly(cmd, vfile, vformat, d)
			}
			return runWith(cmd, vfile, runtimeOpts{ledger: true, readOnly: true}, func(r *runtime) error {
				a := r.auditor()
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
					fmt.Fprintf(w, "cycle %s: %d files re-verified from the archive, %d entries re-netted%s\n", rep.Cycle, rep.Files, rep.Entries, splitNote(rep))
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
	verify.Flags().BoolVar(&ledgerOnly, "ledger-only", false, "re-verify from the ledger alone (a governed cycle): the files' bytes and signatures from the blocks, the keys the banks registered there; needs neither Postgres nor the archive")
	verify.MarkFlagRequired("date")

	return verify
}

// newAuditTxCmd is `settle audit tx`: from a ledger transaction back to the
// banks' files.
func newAuditTxCmd() *cobra.Command {
	var tfile, tformat string
	txCmd := &cobra.Command{
		Use:   "tx TX-ID [--format text|json]",
		Short: "From a ledger transaction back to the banks' files: what it carried (read from its block), each payment's file, file id and line, checked against Postgres, the ledger and the archive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			txID := args[0]
			if !validTxID(txID) {
				return usageError("want a ledger transaction id (64 hex digits, as `settle cycle ledger` and `audit trace` show)")
			}
			if tformat != "text" && tformat != "json" {
				return usageError("--format must be text or json")
			}
			return runWith(cmd, tfile, runtimeOpts{ledger: true, readOnly: true}, func(r *runtime) error {
				a := r.auditor()
				a.Txs = r.ledger
				t, err := a.TraceTx(cmd.Context(), txID)
				if err != nil {
					return err
				}
				if err := printTxTrace(cmd.OutOrStdout(), t, tformat); err != nil {
					return err
				}
				if !t.OK {
					return &exitError{code: 1, err: errors.New("")}
				}
				return nil
			})
		},
	}
	configFlag(txCmd, &tfile)
	txCmd.Flags().StringVar(&tformat, "format", "text", "text or json")
	return txCmd
}

// newAuditFileCmd is `settle audit file`: from a bank's file forward to
// the ledger.
func newAuditFileCmd() *cobra.Command {
	var ffile, fformat string
	fileCmd := &cobra.Command{
		Use:   "file BIC/FILE-ID [--format text|json]",
		Short: "From a bank's file forward: the archived bytes re-checked, its cycle and deferrals, each payment on the ledger, the transactions that recorded them with their endorsers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bicPart, id, ok := strings.Cut(args[0], "/")
			bic, err := settlement.ParseBIC(bicPart)
			if !ok || err != nil || !settlement.ValidPaymentID([]byte(id)) {
				return usageError("want BIC/FILE-ID, e.g. SHBKKRSE/F20261124-0")
			}
			if fformat != "text" && fformat != "json" {
				return usageError("--format must be text or json")
			}
			return runWith(cmd, ffile, runtimeOpts{ledger: true, readOnly: true}, func(r *runtime) error {
				a := r.auditor()
				a.Files = r.jobs
				t, err := a.TraceFile(cmd.Context(), bic, id)
				if err != nil {
					return err
				}
				if err := printFileTrace(cmd.OutOrStdout(), t, fformat); err != nil {
					return err
				}
				if !t.OK {
					return &exitError{code: 1, err: errors.New("")}
				}
				return nil
			})
		},
	}
	configFlag(fileCmd, &ffile)
	fileCmd.Flags().StringVar(&fformat, "format", "text", "text or json")
	return fileCmd
}

// newAuditActionsCmd is `settle audit actions`: the console's action log
// exported.
func newAuditActionsCmd() *cobra.Command {
	var afile, aformat string
	actions := &cobra.Command{
		Use:   "actions [--format csv|json]",
		Short: "Export the console's action log (who, when, from where, what, the outcome; refusals included), newest first, every row",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if aformat != "csv" && aformat != "json" {
				return usageError("--format must be csv or json")
			}
			return runWith(cmd, afile, runtimeOpts{readOnly: true}, func(r *runtime) error {
				return exportActions(cmd.Context(), cmd.OutOrStdout(), r.store, aformat)
			})
		},
	}
	configFlag(actions, &afile)
	actions.Flags().StringVar(&aformat, "format", "csv", "csv or json (one object a line)")
	return actions
}

// actionsExportMax bounds one export of the console's action log.
const actionsExportMax = 10_000_000

// exportActions writes the whole action log, a page at a time.
func exportActions(ctx context.Context, w io.Writer, s interface {
	ConsoleActions(ctx context.Context, before int64, limit int) ([]postgres.ConsoleAction, error)
}, format string) error {
	cw := csv.NewWriter(w)
	enc := json.NewEncoder(w)
	if format == "csv" {
		cw.Write([]string{"id", "at", "actor", "role", "source", "action", "subject", "outcome", "detail"})
	}
	var before int64
	for n := 0; n < actionsExportMax; {
		page, err := s.ConsoleActions(ctx, before, 1000)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			if format == "csv" {
				cw.Write([]string{strconv.FormatInt(a.ID, 10), a.At.UTC().Format(time.RFC3339Nano), a.Actor, a.Role, a.Source, a.Action, a.Subject, a.Outcome, a.Detail})
			} else if err := enc.Encode(map[string]any{"id": a.ID, "at": a.At.UTC(), "actor": a.Actor, "role": a.Role, "source": a.Source,
				"action": a.Action, "subject": a.Subject, "outcome": a.Outcome, "detail": a.Detail}); err != nil {
				return err
			}
			before = a.ID
		}
		n += len(page)
	}
	cw.Flush()
	return cw.Error()
}

func printFileTrace(w io.Writer, t jobs.FileTrace, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(t)
	}
	verdict := "every step checks"
	if !t.OK {
		verdict = "SOMETHING DIFFERS"
	}
	fmt.Fprintf(w, "file %s: %s\n", t.File, verdict)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	printSteps(tw, t.Steps, "")
	tw.Flush()
	if len(t.Payments) > 0 {
		fmt.Fprintln(w, "payments:")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  line\tpayment\tkind\tamount\tcreditor\treverses\treversed by\tledger tx\tcheck")
		for _, p := range t.Payments {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s %s\t%s\t%s\t%s\t%s\t%s\n", p.Line, p.ID, p.Kind, p.Amount, p.Currency, p.Creditor,
				cmp.Or(p.Reverses, "-"), cmp.Or(p.ReversedBy, "-"), cmp.Or(p.TxID, "-"), p.Check)
		}
		tw.Flush()
		if t.More > 0 {
			fmt.Fprintf(w, "  (%d more payments not traced)\n", t.More)
		}
	}
	if len(t.Txs) > 0 {
		fmt.Fprintln(w, "ledger transactions:")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, x := range t.Txs {
			fmt.Fprintf(tw, "  %s\tblock %d\tsubmitted by %s\tendorsed by %s\n", x.ID, x.Block, x.Submitter, strings.Join(x.Endorsers, ", "))
		}
		tw.Flush()
	}
	return nil
}

// validTxID: Fabric transaction ids are the hex SHA-256 of nonce and creator.
func validTxID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func printTxTrace(w io.Writer, t jobs.TxTrace, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(t)
	}
	verdict := "every step checks"
	if !t.OK {
		verdict = "SOMETHING DIFFERS"
	}
	fmt.Fprintf(w, "transaction %s: %s\n", t.TxID, verdict)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	printSteps(tw, t.Steps, "")
	tw.Flush()
	if len(t.Payments) == 0 {
		return nil
	}
	fmt.Fprintln(w, "payments carried:")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  payment\tkind\tamount\tdebtor\tcreditor\treverses\tfile\tfile id\tline\tcheck")
	for _, p := range t.Payments {
		fmt.Fprintf(tw, "  %s\t%s\t%s %s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", p.Payment, p.Kind, p.Amount, p.Currency, p.Debtor, p.Creditor,
			cmp.Or(p.Reverses, "-"), p.File, p.FileID, p.Line, p.Check)
	}
	return tw.Flush()
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
	printSteps(tw, t.Steps, indent)
	tw.Flush()
	for _, r := range t.Related {
		printTraceText(w, r, indent+"    ")
	}
}

// printSteps writes one line per step: name, source, verdict, facts.
func printSteps(tw io.Writer, steps []jobs.Step, indent string) {
	for _, s := range steps {
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
}

// verifyLedgerOnly is `audit verify --ledger-only`: only the config's ledger
// section is used; no database connection, no archive.
func verifyLedgerOnly(cmd *cobra.Command, file, format string, d settlement.Date) error {
	cfg, err := loadConfig(file)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), ledgerCmdTimeout)
	defer cancel()
	l, err := openFabric(ctx, cfg, newLogger(slog.LevelWarn))
	if err != nil {
		return err
	}
	defer l.Close()
	rep, err := jobs.VerifyLedgerOnly(ctx, fabric.LedgerAudit{C: l}, d)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	switch format {
	case "json":
		if err := json.NewEncoder(w).Encode(rep); err != nil {
			return err
		}
	case "text":
		fmt.Fprintf(w, "cycle %s: %d files re-verified from the ledger's blocks, %d entries re-netted%s\n", rep.Cycle, rep.Files, rep.Entries, splitNote(rep))
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  PROBLEM %s\n", p)
		}
		for _, b := range rep.Breaks {
			fmt.Fprintf(w, "  DIFFERENCE %s\n", b)
		}
		if rep.OK() {
			fmt.Fprintln(w, "  the ledger's files, signatures and settlement agree")
		}
	default:
		return usageError("--format must be text or json")
	}
	if !rep.OK() {
		return &exitError{code: 1, err: errors.New("")}
	}
	return nil
}

// splitNote says what the ledger's gridlock resolution took out of and
// brought into a re-verified cycle ("" when nothing).
func splitNote(rep *jobs.VerifyReport) string {
	if rep.Deferred == 0 && rep.CarriedIn == 0 {
		return ""
	}
	return fmt.Sprintf("; the ledger's resolution: %d deferred to the next cycle, %d carried in", rep.Deferred, rep.CarriedIn)
}

// auditor reads Postgres, the archive and the ledger, and on the governed
// path the ledger's gridlock resolution records too.
func (r *runtime) auditor() *jobs.Auditor {
	a := &jobs.Auditor{Store: r.jobs, Ledger: r.ledger, Archive: r.archive}
	if g := r.governed(); g != nil {
		a.Deferrals = g
	}
	return a
}

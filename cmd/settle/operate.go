package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"settle/adapters/postgres"
	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

func init() {
	commands = append(commands, newCycleCmd, newIntakeCmd, newReconCmd, newBreaksCmd, newOpsCmd)
}

func parseDateFlag(s string) (settlement.Date, error) {
	d, err := settlement.ParseDate(s)
	if err != nil {
		return "", usageError("--date: %v", err)
	}
	return d, nil
}

func newCycleCmd() *cobra.Command {
	c := &cobra.Command{Use: "cycle", Short: "Run and watch the nightly settlement cycle"}
	c.AddCommand(newCycleRunCmd(), newCycleStatusCmd(), newCycleDaysCmd(), newCyclePositionsCmd(), newCycleLedgerCmd(), newCycleDeferCmd(), newCycleResolveCmd())
	return c
}

// newCycleRunCmd is `settle cycle run`: a cycle carried now as far as it
// goes.
func newCycleRunCmd() *cobra.Command {
	var file, date string
	run := &cobra.Command{
		Use:   "run --date YYYY-MM-DD",
		Short: "Run a cycle now: freeze, net, record on the ledger, settle, reconcile, report (idempotent; resumes an unfinished one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDateFlag(date)
			if err != nil {
				return err
			}
			return runWith(cmd, file, runtimeOpts{lazyLedger: true}, func(r *runtime) error { // freezes and nets even while the ledger is down
				if _, err := r.jobs.EnsureCycle(cmd.Context(), d); err != nil {
					return err
				}
				out := cmd.ErrOrStderr()
				last := time.Time{}
				p := r.pipeline(func(step string, done, _ int) {
					if time.Since(last) > time.Second {
						fmt.Fprintf(out, "  %s: %d chunks\n", step, done)
						last = time.Now()
					}
				})
				p.Lock = r.jobs.TryLock // a running service may be stepping the same cycle
				start := time.Now()
				cy, err := p.Run(cmd.Context(), d)
				printCycle(cmd.Context(), cmd.OutOrStdout(), r, cy)
				if err != nil {
					return fmt.Errorf("cycle %s stopped at %s: %w (fix the cause, then run this command again: it resumes)", settlement.CycleID(d), cy.Stage, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "cycle %s %s in %s\n", cy.ID, cy.Stage, time.Since(start).Round(time.Millisecond))
				return nil
			})
		},
	}
	configFlag(run, &file)
	run.Flags().StringVar(&date, "date", "", "business date")
	run.MarkFlagRequired("date")
	return run
}

// newCycleStatusCmd is `settle cycle status`: the latest cycles, or one
// cycle's stages.
func newCycleStatusCmd() *cobra.Command {
	var sfile, sdate string
	var asJSON bool
	status := &cobra.Command{
		Use:   "status [--date YYYY-MM-DD]",
		Short: "Show cycles, each stage with its time and who moved it, and the latest job runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWith(cmd, sfile, runtimeOpts{readOnly: true}, func(r *runtime) error {
				w := cmd.OutOrStdout()
				if sdate == "" {
					cs, err := r.jobs.Cycles(cmd.Context(), 30)
					if err != nil {
						return err
					}
					if asJSON {
						return json.NewEncoder(w).Encode(cs)
					}
					tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "CYCLE\tSTAGE\tSINCE\tFILES\tENTRIES")
					for _, c := range cs {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", c.ID, c.Stage, c.StageAt.Format(time.RFC3339), c.Files, c.Entries)
					}
					tw.Flush()
					runs, err := r.jobs.JobRuns(cmd.Context(), 10)
					if err != nil {
						return err
					}
					printRuns(w, runs)
					return nil
				}
				d, err := parseDateFlag(sdate)
				if err != nil {
					return err
				}
				cy, ok, err := r.jobs.Cycle(cmd.Context(), d)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("no cycle for %s", d)
				}
				if asJSON {
					stages, err := r.jobs.CycleStages(cmd.Context(), d)
					if err != nil {
						return err
					}
					errs, err := r.jobs.StepErrors(cmd.Context(), d, 20)
					if err != nil {
						return err
					}
					return json.NewEncoder(w).Encode(map[string]any{"cycle": cy, "stages": stages, "failed_attempts": errs})
				}
				printCycle(cmd.Context(), w, r, cy)
				return nil
			})
		},
	}
	configFlag(status, &sfile)
	status.Flags().StringVar(&sdate, "date", "", "business date (default: the latest cycles)")
	status.Flags().BoolVar(&asJSON, "json", false, "JSON for tools")
	return status
}

func newCycleDaysCmd() *cobra.Command {
	var file string
	var count int
	c := &cobra.Command{
		Use:   "days [--count N]",
		Short: "Print the next business days (today, if it is one), by the configured calendar and zone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(file)
			if err != nil {
				return usageError("config: %v", err)
			}
			cal, err := cfg.calendar()
			if err != nil {
				return usageError("config: %v", err)
			}
			if count < 1 || count > 366 {
				return usageError("--count must be 1..366")
			}
			d := cal.OnOrAfter(cal.Today(clock()))
			days := []string{string(d)}
			for len(days) < count {
				d = cal.Next(d)
				days = append(days, string(d))
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.Join(days, " "))
			return nil
		},
	}
	configFlag(c, &file)
	c.Flags().IntVar(&count, "count", 1, "how many business days")
	return c
}

func newCyclePositionsCmd() *cobra.Command {
	var file, date, format string
	c := &cobra.Command{
		Use:   "positions --date YYYY-MM-DD [--format text|json]",
		Short: "A cycle's net positions per bank and currency",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDateFlag(date)
			if err != nil {
				return err
			}
			return runWith(cmd, file, runtimeOpts{readOnly: true}, func(r *runtime) error {
				ps, err := r.jobs.Positions(cmd.Context(), d)
				if err != nil {
					return err
				}
				if format == "json" {
					if ps == nil {
						ps = []settlement.Position{}
					}
					return json.NewEncoder(cmd.OutOrStdout()).Encode(ps)
				}
				printPositions(cmd.OutOrStdout(), ps)
				return nil
			})
		},
	}
	configFlag(c, &file)
	c.Flags().StringVar(&date, "date", "", "business date")
	c.Flags().StringVar(&format, "format", "text", "text or json")
	c.MarkFlagRequired("date")
	return c
}

func newCycleLedgerCmd() *cobra.Command {
	var file, date string
	c := &cobra.Command{
		Use:   "ledger --date YYYY-MM-DD",
		Short: "The ledger transactions that recorded and settled a cycle",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDateFlag(date)
			if err != nil {
				return err
			}
			return runWith(cmd, file, runtimeOpts{readOnly: true}, func(r *runtime) error {
				txs, err := r.jobs.LedgerTxs(cmd.Context(), d)
				if err != nil {
					return err
				}
				ids := make([]string, 0, len(txs))
				for k := range txs {
					ids = append(ids, k)
				}
				sort.Strings(ids)
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "CHUNK\tBLOCK\tTX\tENDORSED BY\n")
				for _, k := range ids {
					tx := txs[k]
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", k, tx.Block, tx.ID, strings.Join(tx.Endorsers, ","))
				}
				return tw.Flush()
			})
		},
	}
	configFlag(c, &file)
	c.Flags().StringVar(&date, "date", "", "business date")
	c.MarkFlagRequired("date")
	return c
}

func printCycle(ctx context.Context, w io.Writer, r *runtime, cy settlement.Cycle) {
	if cy.ID == "" {
		return
	}
	fmt.Fprintf(w, "cycle %s  business date %s  stage %s  files %d  entries %d\n", cy.ID, cy.BusinessDate, cy.Stage, cy.Files, cy.Entries)
	stages, err := r.jobs.CycleStages(ctx, cy.BusinessDate)
	if err != nil {
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range stages {
		fmt.Fprintf(tw, "  %s\t-> %s\t%s\tby %s\tevent %s\n", s.From, s.To, s.At.Format(time.RFC3339), s.Actor, s.EventID)
	}
	tw.Flush()
	if c, ok, err := r.jobs.AgentConfirmation(ctx, cy.BusinessDate); err == nil && ok {
		fmt.Fprintf(w, "  settlement agent: %s\n", c)
	}
	errs, err := r.jobs.StepErrors(ctx, cy.BusinessDate, 5)
	if err != nil || len(errs) == 0 {
		return
	}
	fmt.Fprintln(w, "  failed attempts (latest last):")
	for _, e := range errs {
		fmt.Fprintf(w, "    %s  to %s  by %s: %s\n", e.At.Format(time.RFC3339), e.Stage, e.Actor, oneLine(e.Error))
	}
}

func printRuns(w io.Writer, runs []postgres.JobRun) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nLatest job runs")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, r := range runs {
		sched := "-"
		if r.ScheduledAt != nil {
			sched = r.ScheduledAt.Format(time.RFC3339)
		}
		took := "running"
		if r.FinishedAt != nil {
			took = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", r.Job, sched, r.Status, took, r.Owner, string(r.Detail))
	}
	tw.Flush()
}

func newIntakeCmd() *cobra.Command {
	c := &cobra.Command{Use: "intake", Short: "Take the complete files waiting in the banks' inboxes"}
	var file string
	run := &cobra.Command{
		Use:   "run",
		Short: "Archive, check, ingest and acknowledge every complete file now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWith(cmd, file, runtimeOpts{}, func(r *runtime) error {
				in, err := r.intake()
				if err != nil {
					return err
				}
				counts, err := in.Collect(cmd.Context())
				fmt.Fprintf(cmd.OutOrStdout(), "taken %d: accepted %d, rejected %d, duplicates %d, late %d\n",
					counts.Taken, counts.Accepted, counts.Rejected, counts.Duplicates, counts.Late)
				return err
			})
		},
	}
	configFlag(run, &file)
	c.AddCommand(run)
	return c
}

func newReconCmd() *cobra.Command {
	c := &cobra.Command{Use: "recon", Short: "Reconcile a cycle: Postgres, the ledger and the settlement agent"}
	var file, date string
	run := &cobra.Command{
		Use:   "run --date YYYY-MM-DD",
		Short: "Compare a settled cycle with the ledger and the agent's bookings again; new breaks open, vanished ones close",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDateFlag(date)
			if err != nil {
				return err
			}
			return runWith(cmd, file, runtimeOpts{ledger: true}, func(r *runtime) error {
				cy, ok, err := r.jobs.Cycle(cmd.Context(), d)
				if err != nil {
					return err
				}
				if !ok || cy.Stage.Before(settlement.StageSettled) {
					return fmt.Errorf("cycle of %s is not settled yet (stage %q): run `settle cycle run --date %s`", d, cy.Stage, d)
				}
				found, plan, sum, err := r.pipeline(nil).Reconcile(cmd.Context(), d)
				if err != nil {
					return err
				}
				if err := r.jobs.Reconciled(cmd.Context(), d, plan, sum); err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "cycle %s: %d in Postgres, %d on the ledger, %d matched, %d breaks (%d new, %d closed as gone)\n",
					settlement.CycleID(d), sum.StoreRecords, sum.LedgerRecords, sum.Matched, len(found), len(plan.Open), len(plan.Close))
				if a := sum.Agent; a != nil {
					fmt.Fprintf(w, "settlement agent: %s, %d of %d instructions booked as instructed, %d bookings\n", a.Status, a.Confirmed, a.Instructions, a.Bookings)
				}
				for _, b := range found {
					fmt.Fprintf(w, "  %s\n", b)
				}
				if len(found) > 0 {
					return &exitError{code: 1, err: errors.New("")}
				}
				return nil
			})
		},
	}
	configFlag(run, &file)
	run.Flags().StringVar(&date, "date", "", "business date")
	run.MarkFlagRequired("date")
	c.AddCommand(run)
	return c
}

func newBreaksCmd() *cobra.Command {
	c := &cobra.Command{Use: "breaks", Short: "See and resolve reconciliation breaks"}
	c.AddCommand(newBreaksListCmd(), newBreaksShowCmd(), newBreaksResolveCmd(), newBreaksAcknowledgeCmd())
	c.AddCommand(newBreakFourEyesCmds()...)
	return c
}

// newBreaksListCmd is `settle breaks list`.
func newBreaksListCmd() *cobra.Command {
	var file, date, state, format string
	list := &cobra.Command{
		Use:   "list [--date D] [--state " + strings.Join(reconciliation.States, "|") + "] [--format text|json|csv]",
		Short: "List breaks in their current state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var d settlement.Date
			if date != "" {
				var err error
				if d, err = parseDateFlag(date); err != nil {
					return err
				}
			}
			return runWith(cmd, file, runtimeOpts{readOnly: true}, func(r *runtime) error {
				bs, err := r.jobs.Breaks(cmd.Context(), d, state)
				if err != nil {
					return err
				}
				return printBreaks(cmd.OutOrStdout(), bs, format)
			})
		},
	}
	configFlag(list, &file)
	list.Flags().StringVar(&date, "date", "", "business date")
	list.Flags().StringVar(&state, "state", "", "only breaks in this state")
	list.Flags().StringVar(&format, "format", "text", "text, json or csv")
	return list
}

// newBreaksShowCmd is `settle breaks show`: a break's evidence and history.
func newBreaksShowCmd() *cobra.Command {
	var sfile string
	show := &cobra.Command{
		Use:   "show KEY",
		Short: "Show a break's evidence and its whole history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWith(cmd, sfile, runtimeOpts{readOnly: true}, func(r *runtime) error {
				h, err := r.jobs.BreakHistory(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if len(h) == 0 {
					return fmt.Errorf("no break %q", args[0])
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(h)
			})
		},
	}
	configFlag(show, &sfile)
	return show
}

// newBreaksResolveCmd is `settle breaks resolve`: an operator's decision.
func newBreaksResolveCmd() *cobra.Command {
	var rfile, note, by, to string
	resolve := &cobra.Command{
		Use:   "resolve KEY --note TEXT --by WHO [--state RESOLVED|INVESTIGATING|ACKNOWLEDGED]",
		Short: "Record an operator's decision on a break (appended; nothing is edited)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWith(cmd, rfile, runtimeOpts{}, func(r *runtime) error {
				return setBreakState(cmd, r, args[0], to, note, by)
			})
		},
	}
	configFlag(resolve, &rfile)
	resolve.Flags().StringVar(&note, "note", "", "what was found and done")
	resolve.Flags().StringVar(&by, "by", os.Getenv("USER"), "who decides")
	resolve.Flags().StringVar(&to, "state", "RESOLVED", "RESOLVED, INVESTIGATING or ACKNOWLEDGED (a write-off needs four eyes: settle breaks write-off, then settle breaks approve)")
	return resolve
}

// newBreaksAcknowledgeCmd is `settle breaks acknowledge`: OPEN -> ACKNOWLEDGED.
func newBreaksAcknowledgeCmd() *cobra.Command {
	var afile, anote, aby string
	acknowledge := &cobra.Command{
		Use:   "acknowledge KEY [--note TEXT] [--by WHO]",
		Short: "Acknowledge an open break: you have seen it and own it (OPEN -> ACKNOWLEDGED; appended, nothing is edited)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWith(cmd, afile, runtimeOpts{}, func(r *runtime) error {
				return setBreakState(cmd, r, args[0], reconciliation.StateAcknowledged, anote, aby)
			})
		},
	}
	configFlag(acknowledge, &afile)
	acknowledge.Flags().StringVar(&anote, "note", "", "optional")
	acknowledge.Flags().StringVar(&aby, "by", os.Getenv("USER"), "who owns it")
	return acknowledge
}

// setBreakState appends an operator's step to a break's life with the
// store function the console calls (JobStore.SetBreakState, which asks
// reconciliation.CheckMove); a refused move is a usage error.
func setBreakState(cmd *cobra.Command, r *runtime, key, to, note, by string) error {
	if err := r.jobs.SetBreakState(cmd.Context(), key, to, note, by); err != nil {
		if errors.Is(err, postgres.ErrNoteRequired) || errors.Is(err, postgres.ErrBreakState) || errors.Is(err, postgres.ErrFourEyes) {
			return usageError("%v", err)
		}
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s by %s\n", key, to, by)
	return nil
}

func printBreaks(w io.Writer, bs []postgres.BreakRow, format string) error {
	switch format {
	case "json":
		if bs == nil {
			bs = []postgres.BreakRow{}
		}
		return json.NewEncoder(w).Encode(bs)
	case "csv":
		cw := csvWriter(w)
		cw.Write([]string{"key", "business_date", "kind", "state", "bank", "subject", "field", "postgres", "ledger", "by", "at", "note", "agent"})
		for _, b := range bs {
			cw.Write([]string{b.Key, string(b.Cycle), b.Kind, b.State, b.Bank, b.Detail["subject"], b.Detail["field"],
				b.Detail["postgres"], b.Detail["ledger"], b.Actor, b.RecordedAt.Format(time.RFC3339), b.Note, b.Detail["agent"]})
		}
		cw.Flush()
		return cw.Error()
	case "text":
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STATE\tKIND\tSUBJECT\tFIELD\tPOSTGRES\tLEDGER\tKEY\tAGENT")
		for _, b := range bs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.State, b.Kind, b.Detail["subject"], b.Detail["field"], b.Detail["postgres"], b.Detail["ledger"], b.Key, b.Detail["agent"])
		}
		return tw.Flush()
	}
	return usageError("--format must be text, json or csv")
}

func newOpsCmd() *cobra.Command {
	c := &cobra.Command{Use: "ops", Short: "Operator tools: the poison queue of events that kept failing"}
	var file string
	list := &cobra.Command{
		Use:   "poison-list",
		Short: "List events whose handler kept failing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWith(cmd, file, runtimeOpts{}, func(r *runtime) error {
				ps, err := r.bus.ListPoisoned(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "UUID\tAT\tTOPIC\tCYCLE\tREASON")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.UUID, p.At.Format(time.RFC3339), p.Topic, p.Event.Cycle, oneLine(p.Reason))
				}
				return tw.Flush()
			})
		},
	}
	configFlag(list, &file)
	var rfile, rnote, rby string
	replay := &cobra.Command{
		Use:   "poison-replay UUID [--note WHY] [--by WHO]",
		Short: "Publish a poisoned event again on its topic (after fixing its cause), once; an event that nets, records or settles a cycle needs another operator's approval (settle approve)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rby == "" {
				rby = operatorName()
			}
			return runWith(cmd, rfile, runtimeOpts{}, func(r *runtime) error {
				res, err := r.approver().Replay(cmd.Context(), args[0], rnote, rby, clock())
				if err != nil {
					return fourEyesError(err)
				}
				if res.Request != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "request %d: replay %s for %s, by %s; it moves money and waits for another operator: settle approve %d\n",
						res.Request.ID, res.Event.Topic, res.Event.Cycle, rby, res.Request.ID)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "replayed %s for %s\n", res.Event.Topic, res.Event.Cycle)
				return nil
			})
		},
	}
	configFlag(replay, &rfile)
	replay.Flags().StringVar(&rnote, "note", "", "why (required when the replay needs a second operator)")
	replay.Flags().StringVar(&rby, "by", "", "who replays it (default: the OS user)")
	c.AddCommand(list, replay)
	return c
}

func newCycleDeferCmd() *cobra.Command {
	var file, date, to, ref, reason, by string
	c := &cobra.Command{
		Use:   "defer --date D --file BIC/FILE-ID --reason TEXT [--to D2] [--by NAME]",
		Short: "Request an accepted file's move to a later cycle (its sender is over its cap and cannot fund); another operator approves it (settle approve): recorded beside the file, never editing it; the bank gets a notice",
		Long: `Four eyes: this records a request; the deferral happens when another operator
approves it with settle approve ID (or on the console's Approvals page).

Defer an accepted file from the cycle of --date, which must not be netted yet (a cap
breach leaves it frozen), to the open cycle of --to (default: the next business day).
Nothing is edited: the deferral is recorded with its reason and who made it; the cycle
is netted again without the file when it is run next (settle cycle run), and the
file's payments settle in the later cycle. The bank finds <file>.deferred.json in its
outbox (<file>.<n>.deferred.json for the file's n-th move: no notice replaces another). A file with a payment already reversed cannot be deferred.

A deferral made by mistake is corrected the same way, back: --date is the cycle the file
is in now, --to an earlier cycle not netted yet and not before the one the file was
accepted into. The move back is recorded beside the first, and the bank's notice says
where the file settles now.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDateFlag(date)
			if err != nil {
				return err
			}
			bicPart, fileID, ok := strings.Cut(ref, "/")
			bic, err := settlement.ParseBIC(bicPart)
			if !ok || err != nil || !settlement.ValidPaymentID([]byte(fileID)) {
				return usageError("--file: want BIC/FILE-ID, e.g. SHBKKRSE/F20261124-001")
			}
			if strings.TrimSpace(reason) == "" {
				return usageError("--reason is required: why the file waits")
			}
			if by == "" {
				by = operatorName()
			}
			return runWith(cmd, file, runtimeOpts{}, func(r *runtime) error {
				target := r.cal.Next(d)
				if to != "" {
					if target, err = parseDateFlag(to); err != nil {
						return err
					}
					if !r.cal.IsBusinessDay(target) {
						why := "a weekend"
						if name, ok := r.cal.Holiday(target); ok {
							why = "a holiday: " + name
						}
						return usageError("--to %s is not a business day (%s): no cycle runs then; the next business day is %s", target, why, r.cal.OnOrAfter(target))
					}
				}
				// Four eyes: a request here, carried out (jobs.Pipeline.Defer,
				// the bank's notice) when another operator approves it.
				q, err := r.approver().RequestDeferral(cmd.Context(), jobs.Deferral{Sender: bic, FileID: fileID, From: d, To: target, Reason: reason}, by, clock())
				if err != nil {
					return fourEyesError(err)
				}
				moved := "defer"
				if target < d {
					moved = "move back"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "request %d: %s file %s of %s from %s to %s, by %s; waits for another operator: settle approve %d\n",
					q.ID, moved, fileID, bic, settlement.CycleID(d), settlement.CycleID(target), by, q.ID)
				fmt.Fprintf(cmd.OutOrStdout(), "once approved, the bank finds its notice in its outbox; then run: settle cycle run --date %s\n", min(d, target))
				return nil
			})
		},
	}
	configFlag(c, &file)
	c.Flags().StringVar(&date, "date", "", "business date of the cycle the file is in")
	c.Flags().StringVar(&to, "to", "", "business date of the cycle to move it to (default: the next business day; an earlier one corrects a deferral)")
	c.Flags().StringVar(&ref, "file", "", "the file: sender BIC / file id")
	c.Flags().StringVar(&reason, "reason", "", "why (kept with the deferral, sent to the bank)")
	c.Flags().StringVar(&by, "by", "", "who defers it (default: the OS user)")
	c.MarkFlagRequired("date")
	c.MarkFlagRequired("file")
	c.MarkFlagRequired("reason")
	return c
}

// operatorName is the OS user running the command, for the record.
func operatorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "operator"
}

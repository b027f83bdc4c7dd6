package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"settle/adapters/formats"
	"settle/adapters/httpapi"
	"settle/adapters/sftp"
	"settle/jobs"
	"settle/ledger/fabric"
	"settle/settlement"
)

func init() { commands = append(commands, newServeCmd) }

func newServeCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the service: SFTP server, intake, scheduled cycle, event handlers, health and metrics",
		Long: `Run the long-running service until SIGTERM: the built-in SFTP server banks upload
to; the intake, which takes complete files every few seconds and acknowledges them;
the scheduler, which freezes the day's cycle at cut-off on business days (one instance
runs each scheduled time; missed runs are caught up at start); and the event handlers
that carry a frozen cycle through netting, the ledger, reconciliation and reports.
Several instances may run against one database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), file) },
	}
	configFlag(c, &file)
	return c
}

// resumeCycles is how many of the latest cycles a resume pass looks at.
const resumeCycles = 30

func serve(ctx context.Context, file string) error {
	r, err := openRuntime(ctx, file, runtimeOpts{lazyLedger: true, service: true})
	if err != nil {
		return err
	}
	defer r.Close()
	log := r.log.With("instance", r.cfg.Instance)
	log.Info("settle serve starting", "config", r.cfg)
	if clockOffset != 0 {
		log.Warn("running on a rehearsal clock, not the machine's", "env", clockEnv, "now", clock().UTC(), "offset", clockOffset)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	m := httpapi.NewMetrics()
	m.Describe("settle_files_total", "counter", "Payment files taken from the inboxes, by outcome.")
	m.Describe("settle_intake_errors_total", "counter", "Intake passes that failed.")
	m.Describe("settle_cycle_steps_total", "counter", "Cycle steps run by this instance, by stage and outcome.")
	m.Describe("settle_job_runs_total", "counter", "Scheduled job runs by this instance, by job and outcome.")
	m.Describe("settle_cycle_held_total", "counter", "Cycles held for an operator (over a cap, a reversal waiting for its original, a bank the ledger does not know, refused by the ledger), by the stage they wait at: not retried; cycle run carries the cycle on.")
	m.Describe("settle_cycles_resumed_total", "counter", "Unfinished cycles this instance carried on to the end by itself, after a passing failure.")
	m.Describe("settle_remote_inbox_errors_total", "counter", "Collections from a bank's own SFTP server that failed, by bank.")
	if in, ok := r.banks.(*jobs.Inboxes); ok {
		in.OnRemoteError = func(bank settlement.BIC, _ error) { m.Add("settle_remote_inbox_errors_total", 1, "bank", string(bank)) }
	}

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	run := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}

	// SFTP.
	if r.cfg.SFTP.Banks != "" {
		users, err := readSftpdUsers(r.cfg.SFTP.Banks)
		if err != nil {
			return usageError("sftp.banks %s: %v", r.cfg.SFTP.Banks, err)
		}
		srv, err := sftp.NewServer(sftp.Config{Root: r.cfg.path("sftp"), Users: users, Logger: log.With("component", "sftp"),
			FileBytesMax: formats.DefaultLimits.FileBytesMax})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", r.cfg.SFTP.Listen)
		if err != nil {
			return err
		}
		log.Info("sftp listening", "addr", ln.Addr().String())
		run("sftp", func() error { return srv.Serve(ctx, ln) })
	} else {
		log.Warn("no sftp.banks configured: the built-in SFTP server is not started")
	}

	// Intake: one instance at a time takes files.
	in, err := r.intake()
	if err != nil {
		return err
	}
	run("intake", func() error {
		t := time.NewTicker(r.cfg.Intake.Poll)
		defer t.Stop()
		for {
			if unlock, ok, err := r.jobs.TryLock(ctx, "intake"); err != nil {
				log.Error("intake lock", "err", err)
			} else if ok {
				counts, err := in.Collect(ctx)
				unlock()
				for k, v := range map[string]int64{"accepted": counts.Accepted, "rejected": counts.Rejected, "duplicate": counts.Duplicates} {
					if v > 0 {
						m.Add("settle_files_total", float64(v), "outcome", k)
					}
				}
				if err != nil {
					m.Add("settle_intake_errors_total", 1)
					log.Error("intake pass", "err", err)
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})

	// Event handlers carry a frozen cycle through the stages.
	p := r.pipeline(nil)
	p.Lock = r.jobs.TryLock
	step := countSteps(p.Handle, m, log)
	// A cycle only an operator can unblock (jobs.NeedsOperator) waits for
	// one: retrying its event would only fill the poison queue, and the
	// resume pass leaves it alone until it has moved on. The hold is
	// recorded with the failed attempt, whoever made it (this instance,
	// another one, or an operator's cycle run), and announced on
	// TopicCycleHeld: that event is where it is logged and counted, once.
	steps := jobs.HoldForOperator(step, func(e jobs.Event, err error) {
		log.Info("cycle event left to the operator", "cycle", e.Cycle, "after", e.Topic, "err", err)
	})
	handle := func(ctx context.Context, e jobs.Event) error {
		if e.Topic != jobs.TopicCycleHeld {
			return steps(ctx, e)
		}
		m.Add("settle_cycle_held_total", 1, "stage", string(e.Stage.Prev()))
		log.Error("cycle held for the operator", "cycle", e.Cycle, "stage", e.Stage.Prev(), "to", e.Stage, "err", e.Note, "by", e.By,
			"then", "settle cycle run --date "+string(e.Date))
		return nil
	}
	run("events", func() error {
		if r.cfg.Broker.Kind == "nats" {
			return r.bus.RunNATS(ctx, r.cfg.Broker.NATS, handle)
		}
		return r.bus.Run(ctx, handle)
	})

	// Cycles a passing failure stopped (the ledger down for longer than
	// the event retries, a crash between steps) are carried on by
	// themselves once the cause is gone.
	resumer := &jobs.Resumer{P: p, Log: log.With("component", "resume"),
		Cycles: func(ctx context.Context) ([]settlement.Cycle, error) { return r.jobs.Cycles(ctx, resumeCycles) }}
	run("resume", func() error {
		t := time.NewTicker(r.cfg.Schedule.Resume)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			done, err := resumer.Pass(ctx)
			if err != nil && ctx.Err() == nil {
				log.Error("resume pass", "err", err)
			}
			for _, id := range done {
				m.Add("settle_cycles_resumed_total", 1)
				log.Info("cycle resumed to its end", "cycle", id)
			}
		}
	})

	// The ledger's own events (CycleSettled), followed from a checkpoint
	// kept in Postgres.
	m.Describe("settle_ledger_events_total", "counter", "Ledger events recorded, by name.")
	m.Describe("settle_ledger_foreign_tx_total", "counter", "Transactions of the settlement chaincode that this service did not sign, by submitting MSP, function and validity (a bank's own PutFilePart or an admin's key registration is expected; anything else is for an operator to look at).")
	if l, ok := r.ledger.(*lazyLedger); ok {
		l.OnForeign(func(f fabric.ForeignTx) {
			msp, _, _ := strings.Cut(f.Submitter, " ")
			m.Add("settle_ledger_foreign_tx_total", 1, "msp", msp, "function", f.Function, "valid", fmt.Sprint(f.Valid))
			log.Warn("ledger transaction not submitted by this service", "tx", f.TxID, "block", f.Block,
				"submitter", f.Submitter, "function", f.Function, "valid", f.Valid)
		})
	}
	if fc, ok := r.ledger.(interface {
		Listen(ctx context.Context, from uint64, fn func(fabric.Event) error) error
	}); ok {
		listen := func(ctx context.Context, from uint64, fn func(jobs.LedgerEvent) error) error {
			return fc.Listen(ctx, from, func(e fabric.Event) error {
				return fn(jobs.LedgerEvent{Block: e.Block, TxID: e.TxID, Name: e.Name, Cycle: e.Cycle, Payload: e.Payload})
			})
		}
		run("ledger-events", func() error {
			return jobs.FollowLedger(ctx, "cycle-settled", listen, r.jobs, log.With("component", "ledger-events"), func(e jobs.LedgerEvent) {
				m.Add("settle_ledger_events_total", 1, "name", e.Name)
				log.Info("ledger event", "name", e.Name, "cycle", e.Cycle, "block", e.Block, "tx", e.TxID)
			})
		})
	}

	// The schedule: freeze today's cycle at cut-off; the events do the rest.
	sched := jobs.NewScheduler(r.cal, r.jobs, r.cfg.Instance, log.With("component", "scheduler"))
	sched.SetClock(clock)
	err = sched.Add(jobs.Job{Name: "cycle", Spec: r.cfg.Schedule.Cycle, BusinessDaysOnly: true,
		Run: func(ctx context.Context, at time.Time) (map[string]int64, error) {
			d := r.cal.Today(at)
			c, err := r.jobs.EnsureCycle(ctx, d)
			if err != nil {
				return nil, err
			}
			err = p.Step(ctx, d, settlement.StageFrozen)
			outcome := "ok"
			if err != nil {
				outcome = "failed"
			}
			m.Add("settle_job_runs_total", 1, "job", "cycle", "outcome", outcome)
			return map[string]int64{"files": c.Files, "entries": c.Entries}, err
		}})
	if err != nil {
		return usageError("schedule.cycle: %v", err)
	}
	stopSched := sched.Start(ctx)
	defer stopSched()

	// HTTP.
	hl, err := net.Listen("tcp", r.cfg.HTTP.Listen)
	if err != nil {
		return err
	}
	log.Info("http listening", "addr", hl.Addr().String(), "endpoints", "/healthz /readyz /metrics")
	run("http", func() error {
		return httpapi.Serve(ctx, hl, m, map[string]httpapi.Check{
			"database": func(ctx context.Context) error { return r.store.DB().PingContext(ctx) },
			"ledger": func(ctx context.Context) error {
				_, _, err := r.ledger.Cycle(ctx, "C0001-01-01")
				return err
			},
		})
	})

	<-ctx.Done()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	log.Info("settle serve stopped")
	return nil
}

// countSteps wraps the pipeline's event handler: each step is counted by
// outcome, and a cycle busy elsewhere is left to whoever has it. That
// instance (or a cycle run) announces the next stage itself, and if it
// dies the resume pass carries the cycle on; retrying here would only
// wait, and log errors while it does.
func countSteps(h jobs.Handler, m *httpapi.Metrics, log *slog.Logger) jobs.Handler {
	return func(ctx context.Context, e jobs.Event) error {
		err := h(ctx, e)
		outcome := "ok"
		switch {
		case errors.Is(err, jobs.ErrBusy):
			outcome, err = "busy", nil
			log.Info("cycle busy elsewhere; event left to it", "cycle", e.Cycle, "after", e.Topic)
		case err != nil:
			outcome = "error"
		}
		m.Add("settle_cycle_steps_total", 1, "after", e.Topic, "outcome", outcome)
		return err
	}
}

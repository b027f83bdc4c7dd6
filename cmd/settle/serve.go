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

	"settle/adapters/httpapi"
	"settle/adapters/sftp"
	"settle/formats"
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

// shutdownStageTimeout bounds each stage of the shutdown: a component that
// does not stop within it is reported, and the process ends anyway.
const shutdownStageTimeout = 30 * time.Second

// stage is a set of goroutines of settle serve that stop together, at
// their turn of the shutdown: each has its own context, ended when its
// stage's turn comes or, for every stage, when one of them fails.
type stage struct {
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// services runs the goroutines of settle serve and stops them in order.
// Errors are collected without bound (the error channel of four could not
// hold six senders), and the first one starts the shutdown.
type services struct {
	log    *slog.Logger
	stages []*stage
	fail   context.CancelFunc // starts the shutdown

	mu   sync.Mutex
	errs []error
}

func newServices(parent context.Context, log *slog.Logger, names ...string) (*services, context.Context) {
	failed, fail := context.WithCancel(parent)
	sv := &services{log: log, fail: fail}
	for _, n := range names {
		// Not children of failed: a stage ends at its own turn, so that
		// the SFTP server is closed before the intake stops, and the
		// intake, the cycle steps and the scheduler before the HTTP
		// endpoints and the database.
		ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
		sv.stages = append(sv.stages, &stage{name: n, ctx: ctx, cancel: cancel})
	}
	return sv, failed
}

func (sv *services) stage(name string) *stage {
	for _, st := range sv.stages {
		if st.name == name {
			return st
		}
	}
	panic("serve: no stage " + name)
}

// run starts fn in stage name with that stage's context.
func (sv *services) run(name, stageName string, fn func(ctx context.Context) error) {
	st := sv.stage(stageName)
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		if err := fn(st.ctx); err != nil && st.ctx.Err() == nil {
			sv.mu.Lock()
			sv.errs = append(sv.errs, fmt.Errorf("%s: %w", name, err))
			sv.mu.Unlock()
			sv.log.Error("service failed: shutting down", "service", name, "err", err)
			sv.fail()
		}
	}()
}

// stop ends the stages in order, each within shutdownStageTimeout, and
// returns the errors the services failed with (and any stage that did not
// stop in time).
func (sv *services) stop() error {
	sv.fail()
	var late []error
	for _, st := range sv.stages {
		st.cancel()
		done := make(chan struct{})
		go func() { st.wg.Wait(); close(done) }()
		select {
		case <-done:
			sv.log.Info("shutdown: stage stopped", "stage", st.name)
		case <-time.After(shutdownStageTimeout):
			sv.log.Error("shutdown: stage did not stop in time", "stage", st.name, "timeout", shutdownStageTimeout)
			late = append(late, fmt.Errorf("shutdown: %s did not stop within %v", st.name, shutdownStageTimeout))
		}
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return errors.Join(append(sv.errs, late...)...)
}

// Shutdown stages, in order.
const (
	stageIngress = "sftp" // no more uploads
	stageWork    = "work" // intake, cycle steps, resume, scheduler, ledger events
	stageAPI     = "http" // health and metrics last: they answer while the rest drains
)

func serve(ctx context.Context, file string) (err error) {
	r, err := openRuntime(ctx, file, runtimeOpts{lazyLedger: true, service: true})
	if err != nil {
		return err
	}
	defer r.Close() // after every goroutine has stopped: see the deferred stop below
	log := r.log.With("instance", r.cfg.Instance)
	log.Info("settle serve starting", "config", r.cfg)
	if clockOffset != 0 {
		log.Warn("running on a rehearsal clock, not the machine's", "env", clockEnv, "now", clock().UTC(), "offset", clockOffset)
	}
	sv, failed := newServices(ctx, log, stageIngress, stageWork, stageAPI)
	var stopSched func()
	// Every return, early or not, stops what was started, in order, before
	// the database closes (deferred calls run last-in first-out).
	defer func() {
		if stopSched != nil {
			stopSched()
		}
		if serr := sv.stop(); serr != nil && err == nil {
			err = serr
		}
		if err == nil {
			log.Info("settle serve stopped")
		}
	}()

	m := httpapi.NewMetrics()
	m.Describe("settle_files_total", "counter", "Payment files taken from the inboxes, by outcome.")
	m.Describe("settle_intake_errors_total", "counter", "Intake passes that failed.")
	m.Describe("settle_cycle_steps_total", "counter", "Cycle steps run by this instance, by stage and outcome.")
	m.Describe("settle_job_runs_total", "counter", "Scheduled job runs by this instance, by job and outcome.")
	m.Describe("settle_cycle_held_total", "counter", "Cycles held for an operator (over a cap, a reversal waiting for its original, a bank the ledger does not know, refused by the ledger), by the stage they wait at: not retried; cycle run carries the cycle on.")
	m.Describe("settle_cycles_resumed_total", "counter", "Unfinished cycles this instance carried on to the end by itself, after a passing failure.")
	m.Describe("settle_remote_inbox_errors_total", "counter", "Collections from a bank's own SFTP server that failed, by bank.")
	m.Describe("settle_sftp_preauth_drops_total", "counter", "SFTP connections dropped before login, by reason (too many, per-source cap, backoff, handshake timeout or failure, failed login).")
	m.DescribeHistogram("settle_cycle_step_seconds", "Duration of one cycle step (event handled), by the event it followed and outcome.",
		[]float64{0.05, 0.25, 1, 5, 15, 60, 300, 1200})
	m.DescribeHistogram("settle_ledger_call_seconds", "Latency of one ledger call, by method and outcome.",
		[]float64{0.01, 0.05, 0.25, 1, 2.5, 5, 15, 60})
	m.DescribeHistogram("settle_intake_file_seconds", "Time to take one file (archive, check, ingest, acknowledge), by outcome.",
		[]float64{0.01, 0.05, 0.25, 1, 5, 15, 60})
	signed, _ := r.banks.(jobs.SignedInbox)
	if in, ok := signed.BankInbox.(*jobs.Inboxes); ok {
		in.OnRemoteError = func(bank settlement.BIC, _ error) { m.Add("settle_remote_inbox_errors_total", 1, "bank", string(bank)) }
	}
	rawLedger := r.ledger // the Fabric client's own methods (Listen) are found on it
	r.ledger = timedLedger{ledgerClient: r.ledger, m: m}

	// Every outbox holds the scheme's public keys (a member added since the
	// last start, or a rotation made while the service was down).
	if err := r.publishSchemeKeys(ctx); err != nil {
		log.Error("scheme keys not published", "err", err)
	}

	// SFTP.
	if r.cfg.SFTP.Banks != "" {
		users, err := readSftpdUsers(r.cfg.SFTP.Banks)
		if err != nil {
			return usageError("sftp.banks %s: %v", r.cfg.SFTP.Banks, err)
		}
		srv, err := sftp.NewServer(sftp.Config{Root: r.cfg.path("sftp"), Users: users, Logger: log.With("component", "sftp"),
			FileBytesMax:  formats.DefaultLimits.FileBytesMax,
			OnPreAuthDrop: func(reason string) { m.Add("settle_sftp_preauth_drops_total", 1, "reason", reason) }})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", r.cfg.SFTP.Listen)
		if err != nil {
			return err
		}
		log.Info("sftp listening", "addr", ln.Addr().String())
		sv.run("sftp", stageIngress, func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	} else {
		log.Warn("no sftp.banks configured: the built-in SFTP server is not started")
	}

	// Intake: one instance at a time takes files.
	in, err := r.intake()
	if err != nil {
		return err
	}
	in.OnTake = func(_ jobs.InboxFile, status string, d time.Duration) {
		m.Observe("settle_intake_file_seconds", d.Seconds(), "outcome", strings.ToLower(status))
	}
	sv.run("intake", stageWork, func(ctx context.Context) error {
		t := time.NewTicker(r.cfg.Intake.Poll)
		defer t.Stop()
		for {
			if unlock, ok, err := r.jobs.TryLock(ctx, "intake"); err != nil {
				if ctx.Err() == nil {
					log.Error("intake lock", "err", err)
				}
			} else if ok {
				counts, err := in.Collect(ctx)
				unlock()
				for k, v := range map[string]int64{"accepted": counts.Accepted, "rejected": counts.Rejected, "duplicate": counts.Duplicates, "ignored": counts.Ignored} {
					if v > 0 {
						m.Add("settle_files_total", float64(v), "outcome", k)
					}
				}
				if err != nil && ctx.Err() == nil {
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

	// The settlement agent's answers, and the cycles it has not funded.
	m.Describe("settle_cycle_unfunded", "gauge", "1 for a settled cycle the settlement agent has not confirmed agent.unfunded_after after it settled.")
	if ai, ok := r.agentIntake(p); ok {
		seen := map[string]bool{}
		sv.run("agent", stageWork, func(ctx context.Context) error {
			t := time.NewTicker(r.cfg.Intake.Poll)
			defer t.Stop()
			for {
				if unlock, ok, err := r.jobs.TryLock(ctx, "agent-intake"); err != nil {
					log.Error("agent intake lock", "err", err)
				} else if ok {
					if _, err := ai.Collect(ctx); err != nil && ctx.Err() == nil {
						log.Error("agent intake pass", "err", err)
					}
					if err := r.unfundedGauge(ctx, func(c string, v float64) { m.Set("settle_cycle_unfunded", v, "cycle", c) }, seen); err != nil && ctx.Err() == nil {
						log.Error("unfunded cycles", "err", err)
					}
					unlock()
				}
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
		})
	}
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
	sv.run("events", stageWork, func(ctx context.Context) error {
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
	sv.run("resume", stageWork, func(ctx context.Context) error {
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
	if l, ok := rawLedger.(*lazyLedger); ok {
		l.OnForeign(func(f fabric.ForeignTx) {
			msp, _, _ := strings.Cut(f.Submitter, " ")
			m.Add("settle_ledger_foreign_tx_total", 1, "msp", msp, "function", f.Function, "valid", fmt.Sprint(f.Valid))
			log.Warn("ledger transaction not submitted by this service", "tx", f.TxID, "block", f.Block,
				"submitter", f.Submitter, "function", f.Function, "valid", f.Valid)
		})
	}
	if fc, ok := rawLedger.(interface {
		Listen(ctx context.Context, from uint64, fn func(fabric.Event) error) error
	}); ok {
		listen := func(ctx context.Context, from uint64, fn func(jobs.LedgerEvent) error) error {
			return fc.Listen(ctx, from, func(e fabric.Event) error {
				return fn(jobs.LedgerEvent{Block: e.Block, TxID: e.TxID, Name: e.Name, Cycle: e.Cycle, Payload: e.Payload})
			})
		}
		sv.run("ledger-events", stageWork, func(ctx context.Context) error {
			return jobs.FollowLedger(ctx, "cycle-settled", listen, r.jobs, log.With("component", "ledger-events"), func(e jobs.LedgerEvent) {
				m.Add("settle_ledger_events_total", 1, "name", e.Name)
				log.Info("ledger event", "name", e.Name, "cycle", e.Cycle, "block", e.Block, "tx", e.TxID)
			})
		})
	}

	// The schedule: freeze today's cycle at cut-off; the events do the
	// rest. A running job gets the work stage's context: SIGTERM stops it.
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
	stopSched = sched.Start(sv.stage(stageWork).ctx)

	// HTTP.
	hl, err := net.Listen("tcp", r.cfg.HTTP.Listen)
	if err != nil {
		return err
	}
	log.Info("http listening", "addr", hl.Addr().String(), "endpoints", "/healthz /readyz /metrics")
	checks := map[string]httpapi.Check{
		"database": func(ctx context.Context) error { return r.store.DB().PingContext(ctx) },
		"ledger": func(ctx context.Context) error {
			_, _, err := r.ledger.Cycle(ctx, "C0001-01-01")
			return err
		},
	}
	// BFT ordering: reads go on with most orderers down, writes do not.
	// /readyz and the gauges say when too few orderers answer to order.
	if ord, ok := rawLedger.(orderingChecker); ok {
		m.Describe("settle_ledger_orderers_reachable", "gauge", "Orderers of the ledger's BFT ordering service that answer (a TLS handshake as themselves), checked every 15 s and on /readyz.")
		m.Describe("settle_ledger_ordering_up", "gauge", "1 when a quorum of the ledger's orderers answers; 0 when writes cannot be ordered (they fail as ledger unavailable and the cycle waits).")
		check := func(ctx context.Context) error {
			st, err := ord.Ordering(ctx)
			m.Set("settle_ledger_orderers_reachable", float64(st.Reachable))
			up := 1.0
			if err != nil {
				up = 0
			}
			m.Set("settle_ledger_ordering_up", up)
			return err
		}
		checks["ordering"] = check
		sv.run("ordering", stageWork, func(ctx context.Context) error {
			t := time.NewTicker(15 * time.Second)
			defer t.Stop()
			for {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				check(cctx)
				cancel()
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
		})
	}
	sv.run("http", stageAPI, func(ctx context.Context) error {
		return httpapi.Serve(ctx, hl, m, checks)
	})

	// The console, a listener of its own, with health and metrics.
	if r.cfg.Console.Listen != "" {
		sv.run("console", stageAPI, func(ctx context.Context) error { return serveConsole(ctx, r, nil) })
	}

	<-failed.Done() // SIGTERM, SIGINT, or a service that failed
	log.Info("settle serve stopping", "cause", context.Cause(failed))
	return nil
}

// countSteps wraps the pipeline's event handler: each step is counted by
// outcome, and a cycle busy elsewhere is left to whoever has it. That
// instance (or a cycle run) announces the next stage itself, and if it
// dies the resume pass carries the cycle on; retrying here would only
// wait, and log errors while it does.
func countSteps(h jobs.Handler, m *httpapi.Metrics, log *slog.Logger) jobs.Handler {
	return func(ctx context.Context, e jobs.Event) error {
		start := time.Now()
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
		m.Since("settle_cycle_step_seconds", start, "after", e.Topic, "outcome", outcome)
		return err
	}
}

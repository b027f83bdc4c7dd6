package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
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

func serve(ctx context.Context, file string) (err error) {
	r, err := openRuntime(ctx, file, runtimeOpts{lazyLedger: true, service: true})
	if err != nil {
		return err
	}
	defer r.Close() // after every component has stopped
	log := r.log.With("instance", r.cfg.Instance)
	log.Info("settle serve starting", "config", r.cfg)
	if clockOffset != 0 {
		log.Warn("running on a rehearsal clock, not the machine's", "env", clockEnv, "now", clock().UTC(), "offset", clockOffset)
	}
	if r.lazy == nil {
		return errors.New("settle serve: the ledger is not the lazily connected client")
	}
	sv, failed := newServices(ctx, log, stageIngress, stageWork, stageAPI)
	defer sv.fail()
	s := newServer(ctx, r, log, sv)
	stop, err := sv.start(s.components())
	if err != nil {
		return err
	}
	<-failed.Done() // SIGTERM, SIGINT, or a service that failed
	log.Info("settle serve stopping", "cause", context.Cause(failed))
	stop()
	if err := sv.err(); err != nil {
		return err
	}
	log.Info("settle serve stopped")
	return nil
}

// server is settle serve's wiring: the runtime, the metrics every
// component reports to, and what several components share (the pipeline,
// the health checks).
type server struct {
	r      *runtime
	log    *slog.Logger
	m      *httpapi.Metrics
	sv     *services
	p      *jobs.Pipeline
	checks map[string]httpapi.Check
}

// newServer prepares what the components share: the metrics, the remote
// inboxes' error counter, the timed ledger, the scheme's keys in every
// outbox, the pipeline and the health checks.
func newServer(ctx context.Context, r *runtime, log *slog.Logger, sv *services) *server {
	s := &server{r: r, log: log, m: serveMetrics(), sv: sv}
	if r.remotes != nil {
		r.remotes.OnRemoteError = func(bank settlement.BIC, _ error) {
			s.m.Add("settle_remote_inbox_errors_total", 1, "bank", string(bank))
		}
	}
	r.ledger = timedLedger{ledgerClient: r.ledger, m: s.m}

	// Every outbox holds the scheme's public keys (a member added since the
	// last start, or a rotation made while the service was down).
	if err := r.publishSchemeKeys(ctx); err != nil {
		log.Error("scheme keys not published", "err", err)
	}
	// Event handlers carry a frozen cycle through the stages.
	s.p = r.pipeline(nil)
	s.checks = map[string]httpapi.Check{
		"database": func(ctx context.Context) error { return r.store.DB().PingContext(ctx) },
		"ledger": func(ctx context.Context) error {
			_, _, err := r.ledger.Cycle(ctx, "C0001-01-01")
			return err
		},
		// BFT ordering: reads go on with most orderers down, writes do
		// not. /readyz and the gauges say when too few orderers answer to
		// order.
		"ordering": s.checkOrdering,
	}
	return s
}

// components are settle serve's parts in the order they start; they stop
// in reverse, a stage at a time: the SFTP server first (no more uploads),
// then the work (its goroutines together), and the health and metrics
// endpoints last, which answer while the rest drains.
func (s *server) components() []component {
	return []component{
		{name: "http", stage: stageAPI, start: s.startHTTP},
		{name: "console", stage: stageAPI, start: s.startConsole},
		{name: "intake", stage: stageWork, start: s.startIntake},
		{name: "agent", stage: stageWork, start: s.startAgent},
		{name: "events", stage: stageWork, start: s.startEvents},
		{name: "resume", stage: stageWork, start: s.startResume},
		{name: "ledger-events", stage: stageWork, start: s.startLedgerEvents},
		{name: "scheduler", stage: stageWork, start: s.startScheduler},
		{name: "ordering", stage: stageWork, start: s.startOrdering},
		{name: "sftp", stage: stageIngress, start: s.startSFTP},
	}
}

// serveMetrics declares every metric settle serve reports.
func serveMetrics() *httpapi.Metrics {
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
	m.Describe("settle_cycle_unfunded", "gauge", "1 for a settled cycle the settlement agent has not confirmed agent.unfunded_after after it settled.")
	m.Describe("settle_ledger_events_total", "counter", "Ledger events recorded, by name.")
	m.Describe("settle_ledger_foreign_tx_total", "counter", "Transactions of the settlement chaincode that this service did not sign, by submitting MSP, function and validity (a bank's own PutFilePart or an admin's key registration is expected; anything else is for an operator to look at).")
	m.Describe("settle_ledger_orderers_reachable", "gauge", "Orderers of the ledger's BFT ordering service that answer (a TLS handshake as themselves), checked every 15 s and on /readyz.")
	m.Describe("settle_ledger_ordering_up", "gauge", "1 when a quorum of the ledger's orderers answers; 0 when writes cannot be ordered (they fail as ledger unavailable and the cycle waits).")
	return m
}

// startSFTP starts the built-in SFTP server banks upload to, if sftp.banks
// names its users.
func (s *server) startSFTP() (func(), error) {
	r := s.r
	if r.cfg.SFTP.Banks == "" {
		s.log.Warn("no sftp.banks configured: the built-in SFTP server is not started")
		return nil, nil
	}
	users, err := readSftpdUsers(r.cfg.SFTP.Banks)
	if err != nil {
		return nil, usageError("sftp.banks %s: %v", r.cfg.SFTP.Banks, err)
	}
	srv, err := sftp.NewServer(sftp.Config{Root: r.cfg.path("sftp"), Users: users, Logger: s.log.With("component", "sftp"),
		FileBytesMax:  formats.DefaultLimits.FileBytesMax,
		OnPreAuthDrop: func(reason string) { s.m.Add("settle_sftp_preauth_drops_total", 1, "reason", reason) }})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", r.cfg.SFTP.Listen)
	if err != nil {
		return nil, err
	}
	s.log.Info("sftp listening", "addr", ln.Addr().String())
	s.sv.run("sftp", stageIngress, func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	return nil, nil
}

// startIntake takes files every intake.poll; one instance at a time takes
// them.
func (s *server) startIntake() (func(), error) {
	in, err := s.r.intake()
	if err != nil {
		return nil, err
	}
	in.OnTake = func(_ jobs.InboxFile, status string, d time.Duration) {
		s.m.Observe("settle_intake_file_seconds", d.Seconds(), "outcome", strings.ToLower(status))
	}
	s.sv.run("intake", stageWork, func(ctx context.Context) error {
		return s.every(ctx, s.r.cfg.Intake.Poll, false, func(ctx context.Context) { s.intakePass(ctx, in) })
	})
	return nil, nil
}

// intakePass is one collection under the intake lock, counted by outcome.
func (s *server) intakePass(ctx context.Context, in *jobs.Intake) {
	unlock, ok, err := s.r.jobs.TryLock(ctx, "intake")
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("intake lock", "err", err)
		}
		return
	}
	if !ok {
		return
	}
	counts, err := in.Collect(ctx)
	unlock()
	for k, v := range map[string]int64{"accepted": counts.Accepted, "rejected": counts.Rejected, "duplicate": counts.Duplicates, "ignored": counts.Ignored} {
		if v > 0 {
			s.m.Add("settle_files_total", float64(v), "outcome", k)
		}
	}
	if err != nil && ctx.Err() == nil {
		s.m.Add("settle_intake_errors_total", 1)
		s.log.Error("intake pass", "err", err)
	}
}

// every runs pass until ctx ends: at once and then each period, or, with
// waitFirst, after the first period.
func (s *server) every(ctx context.Context, period time.Duration, waitFirst bool, pass func(ctx context.Context)) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if !waitFirst {
			pass(ctx)
		}
		waitFirst = false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// startAgent takes the settlement agent's answers and gauges the cycles it
// has not funded, where there is an agent.
func (s *server) startAgent() (func(), error) {
	ai, ok := s.r.agentIntake(s.p)
	if !ok {
		return nil, nil
	}
	seen := map[string]bool{}
	s.sv.run("agent", stageWork, func(ctx context.Context) error {
		return s.every(ctx, s.r.cfg.Intake.Poll, false, func(ctx context.Context) {
			if unlock, ok, err := s.r.jobs.TryLock(ctx, "agent-intake"); err != nil {
				s.log.Error("agent intake lock", "err", err)
			} else if ok {
				if _, err := ai.Collect(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("agent intake pass", "err", err)
				}
				if err := s.r.unfundedGauge(ctx, func(c string, v float64) { s.m.Set("settle_cycle_unfunded", v, "cycle", c) }, seen); err != nil && ctx.Err() == nil {
					s.log.Error("unfunded cycles", "err", err)
				}
				unlock()
			}
		})
	})
	return nil, nil
}

// startEvents handles the cycle's events from the broker: each step of the
// pipeline, counted, and a held cycle left to the operator.
func (s *server) startEvents() (func(), error) {
	s.p.Lock = s.r.jobs.TryLock
	step := countSteps(s.p.Handle, s.m, s.log)
	// A cycle only an operator can unblock (jobs.NeedsOperator) waits for
	// one: retrying its event would only fill the poison queue, and the
	// resume pass leaves it alone until it has moved on. The hold is
	// recorded with the failed attempt, whoever made it (this instance,
	// another one, or an operator's cycle run), and announced on
	// TopicCycleHeld: that event is where it is logged and counted, once.
	steps := jobs.HoldForOperator(step, func(e jobs.Event, err error) {
		s.log.Info("cycle event left to the operator", "cycle", e.Cycle, "after", e.Topic, "err", err)
	})
	handle := func(ctx context.Context, e jobs.Event) error {
		if e.Topic != jobs.TopicCycleHeld {
			return steps(ctx, e)
		}
		s.m.Add("settle_cycle_held_total", 1, "stage", string(e.Stage.Prev()))
		s.log.Error("cycle held for the operator", "cycle", e.Cycle, "stage", e.Stage.Prev(), "to", e.Stage, "err", e.Note, "by", e.By,
			"then", "settle cycle run --date "+string(e.Date))
		return nil
	}
	r := s.r
	s.sv.run("events", stageWork, func(ctx context.Context) error {
		if r.cfg.Broker.Kind == "nats" {
			return r.bus.RunNATS(ctx, r.cfg.Broker.NATS, handle)
		}
		return r.bus.Run(ctx, handle)
	})
	return nil, nil
}

// startResume carries on, every schedule.resume, the cycles a passing
// failure stopped (the ledger down for longer than the event retries, a
// crash between steps) once the cause is gone.
func (s *server) startResume() (func(), error) {
	r := s.r
	resumer := &jobs.Resumer{P: s.p, Log: s.log.With("component", "resume"),
		Cycles: func(ctx context.Context) ([]settlement.Cycle, error) { return r.jobs.Cycles(ctx, resumeCycles) }}
	s.sv.run("resume", stageWork, func(ctx context.Context) error {
		return s.every(ctx, r.cfg.Schedule.Resume, true, func(ctx context.Context) {
			done, err := resumer.Pass(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Error("resume pass", "err", err)
			}
			for _, id := range done {
				s.m.Add("settle_cycles_resumed_total", 1)
				s.log.Info("cycle resumed to its end", "cycle", id)
			}
		})
	})
	return nil, nil
}

// startLedgerEvents follows the ledger's own events (CycleSettled) from a
// checkpoint kept in Postgres, and counts the chaincode's transactions this
// service did not sign.
func (s *server) startLedgerEvents() (func(), error) {
	l, m, log := s.r.lazy, s.m, s.log
	l.OnForeign(func(f fabric.ForeignTx) {
		msp, _, _ := strings.Cut(f.Submitter, " ")
		m.Add("settle_ledger_foreign_tx_total", 1, "msp", msp, "function", f.Function, "valid", fmt.Sprint(f.Valid))
		log.Warn("ledger transaction not submitted by this service", "tx", f.TxID, "block", f.Block,
			"submitter", f.Submitter, "function", f.Function, "valid", f.Valid)
	})
	listen := func(ctx context.Context, from uint64, fn func(jobs.LedgerEvent) error) error {
		return l.Listen(ctx, from, func(e fabric.Event) error {
			return fn(jobs.LedgerEvent{Block: e.Block, TxID: e.TxID, Name: e.Name, Cycle: e.Cycle, Payload: e.Payload})
		})
	}
	s.sv.run("ledger-events", stageWork, func(ctx context.Context) error {
		return jobs.FollowLedger(ctx, "cycle-settled", listen, s.r.jobs, log.With("component", "ledger-events"), func(e jobs.LedgerEvent) {
			m.Add("settle_ledger_events_total", 1, "name", e.Name)
			log.Info("ledger event", "name", e.Name, "cycle", e.Cycle, "block", e.Block, "tx", e.TxID)
		})
	})
	return nil, nil
}

// startScheduler freezes today's cycle at cut-off; the events do the rest.
// A running job gets the work stage's context: SIGTERM stops it. Its stop
// ends the schedule before the work stage's goroutines are stopped.
func (s *server) startScheduler() (func(), error) {
	r, p := s.r, s.p
	sched := jobs.NewScheduler(r.cal, r.jobs, r.cfg.Instance, s.log.With("component", "scheduler"))
	sched.SetClock(clock)
	err := sched.Add(jobs.Job{Name: "cycle", Spec: r.cfg.Schedule.Cycle, BusinessDaysOnly: true,
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
			s.m.Add("settle_job_runs_total", 1, "job", "cycle", "outcome", outcome)
			return map[string]int64{"files": c.Files, "entries": c.Entries}, err
		}})
	if err != nil {
		return nil, usageError("schedule.cycle: %v", err)
	}
	return sched.Start(s.sv.stage(stageWork).ctx), nil
}

// checkOrdering tells whether a quorum of the ledger's orderers answers,
// and sets the gauges that say so.
func (s *server) checkOrdering(ctx context.Context) error {
	st, err := s.r.lazy.Ordering(ctx)
	s.m.Set("settle_ledger_orderers_reachable", float64(st.Reachable))
	up := 1.0
	if err != nil {
		up = 0
	}
	s.m.Set("settle_ledger_ordering_up", up)
	return err
}

// startOrdering checks the ordering service every 15 s, so that the gauges
// are current between two /readyz.
func (s *server) startOrdering() (func(), error) {
	s.sv.run("ordering", stageWork, func(ctx context.Context) error {
		return s.every(ctx, 15*time.Second, false, func(ctx context.Context) {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			s.checkOrdering(cctx)
			cancel()
		})
	})
	return nil, nil
}

// startHTTP serves /healthz, /readyz and /metrics.
func (s *server) startHTTP() (func(), error) {
	hl, err := net.Listen("tcp", s.r.cfg.HTTP.Listen)
	if err != nil {
		return nil, err
	}
	s.log.Info("http listening", "addr", hl.Addr().String(), "endpoints", "/healthz /readyz /metrics")
	s.sv.run("http", stageAPI, func(ctx context.Context) error {
		return httpapi.Serve(ctx, hl, s.m, s.checks)
	})
	return nil, nil
}

// startConsole serves the operators' console, a listener of its own with
// health and metrics, if console.listen is set.
func (s *server) startConsole() (func(), error) {
	if s.r.cfg.Console.Listen != "" {
		s.sv.run("console", stageAPI, func(ctx context.Context) error { return serveConsole(ctx, s.r, nil) })
	}
	return nil, nil
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
